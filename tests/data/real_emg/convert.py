"""Make the real surface-EMG test recordings from biosignalsnotebooks' sample files.

    pip download --no-deps biosignalsnotebooks==0.6.14 && unzip biosignalsnotebooks-0.6.14-py3-none-any.whl
    python tests/data/real_emg/convert.py biosignalsnotebooks/notebook_files/osf_files/signal_samples

biosignalsnotebooks (MIT licence, PLUX Wireless Biosignals; LICENSE.txt beside this
file) ships OpenSignals HDF5 recordings; its own pins (numpy 1.22, scipy 1.8) keep it
out of an environment with current numpy, so the raw ADC codes are copied here,
unchanged, with the rate and resolution needed to convert them to volts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import h5py
import numpy as np

#: file in biosignalsnotebooks -> (name here, muscle, what the person did)
RECORDINGS = {
    "emg_bursts.h5": ("biceps_bursts", "biceps brachii", "cyclic voluntary contractions"),
    "emg_fatigue.h5": ("biceps_fatigue", "biceps brachii", "cyclic flexion-extension until fatigue"),
    "emg_1000_hz_16_bits_solo.h5": ("adductor_pollicis", "adductor pollicis", "repeated thumb adductions"),
}


def main(folder: str) -> None:
    here = Path(__file__).parent
    for src, (name, muscle, task) in RECORDINGS.items():
        with h5py.File(Path(folder) / src) as f:
            g = f[next(iter(f))]
            ch = next(k for k in g["raw"] if k.startswith("channel"))
            np.savez_compressed(
                here / f"{name}.npz",
                adc=g["raw"][ch][:, 0].astype(np.uint16),
                rate_hz=float(g.attrs["sampling rate"]),
                resolution_bits=int(g.attrs["resolution"][0]),
                muscle=muscle, task=task, device=str(g.attrs["device"]),
                source=f"biosignalsnotebooks 0.6.14: {src}",
            )


if __name__ == "__main__":
    main(sys.argv[1])

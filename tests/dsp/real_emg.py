"""Real surface-EMG recordings for the onset tests and benchmarks, and a threshold reference.

The recordings (tests/data/real_emg/, from biosignalsnotebooks' sample files, MIT
licence) are raw ADC codes of PLUX sensors at 1 kHz; :func:`load` converts them to
volts with the sensor's transfer function ``(adc / 2**bits - 1/2) * 3 V / 1000``.

:func:`threshold_reference` marks the contractions offline, the way an analyst would
(Hodges & Bui 1996): a zero-phase 20-450 Hz band-pass, a centred 50 ms moving RMS, a
threshold at ``k`` times the rest level (the median RMS of the quietest fifth of the
recording), gaps shorter than ``merge_s`` bridged; a contraction is a span above the
threshold that lasts ``min_s`` and reaches ``peak_k`` times the rest level, and its onset
is where the RMS crossed the threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.signal as sps
from scipy.ndimage import uniform_filter1d

from wearsense.stream import Chunk

FOLDER = Path(__file__).resolve().parents[1] / "data" / "real_emg"
NAMES = ("biceps_bursts", "biceps_fatigue", "adductor_pollicis")


def load(name: str) -> tuple[Chunk, float, str]:
    """(chunk of one channel in volts, rate in Hz, muscle) of a recording in :data:`NAMES`."""
    z = np.load(FOLDER / f"{name}.npz")
    rate = float(z["rate_hz"])
    volts = (z["adc"].astype(np.float64) / 2 ** int(z["resolution_bits"]) - 0.5) * 3.0 / 1000.0
    t = np.arange(volts.size) / rate
    return Chunk(volts[:, None].astype(np.float32), t, 0, clock="device:plux"), rate, str(z["muscle"])


def rms_envelope(chunk: Chunk, rate_hz: float, window_s: float = 0.05) -> np.ndarray:
    """Zero-phase 20-450 Hz band-pass, then a centred moving RMS (V), one per sample."""
    sos = sps.butter(4, [20.0, min(450.0, 0.45 * rate_hz)], "bandpass", fs=rate_hz, output="sos")
    y = sps.sosfiltfilt(sos, chunk.data[:, 0].astype(np.float64))
    return np.sqrt(uniform_filter1d(y * y, max(1, int(round(window_s * rate_hz)))))


def threshold_reference(chunk: Chunk, rate_hz: float, k: float = 4.0, peak_k: float = 15.0,
                        merge_s: float = 0.3, min_s: float = 0.1) -> list[tuple[float, float]]:
    """(onset, offset) in seconds of each contraction (see the module docstring)."""
    env = rms_envelope(chunk, rate_hz)
    rest = float(np.median(env[env <= np.percentile(env, 20)]))
    above = env > k * rest
    edges = np.flatnonzero(np.diff(np.r_[0, above.astype(np.int8), 0]))
    spans = [[a, b] for a, b in zip(edges[::2], edges[1::2])]
    merged: list[list[int]] = []
    for a, b in spans:
        if merged and a - merged[-1][1] < merge_s * rate_hz:
            merged[-1][1] = b
        else:
            merged.append([a, b])
    t = chunk.t
    return [(float(t[a]), float(t[b - 1])) for a, b in merged
            if b - a >= min_s * rate_hz and env[a:b].max() >= peak_k * rest]

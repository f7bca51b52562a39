"""Research: make a training set of EMG envelopes, IMU and pose on one 100 Hz grid, many movers.

    python examples/make_training_data.py [--seeds 8] [--minutes 1] [--out movers.npz]

Each seed is a different mover (movements, muscles, sensor placement, clocks);
seeds are generated in parallel processes. EMG goes through the causal EMG chain
(band-pass, rectification, 50 ms RMS envelope) exactly as it would live; every stream
is then put on the sim's reference clock with its known clock parameters (on real data
``wearsense.sync`` estimates them) and interpolated onto a common 100 Hz grid.
Hold out whole seeds for testing: they are different movers.
"""

import argparse

import numpy as np

from wearsense import sim
from wearsense.dsp import EmgChain, EmgChainSettings, EnvelopeSettings
from wearsense.dsp.resample import interpolate_to

GRID_HZ = 100.0


def features(rec: sim.SimRecording) -> dict[str, np.ndarray]:
    def true_t(name):
        clock = rec.truth.clocks[name]
        return clock.true_time(rec.streams[name][1].t) - clock.stamp_latency_s

    grid = np.arange(1.0, rec.duration_s - 0.5, 1 / GRID_HZ)
    info, emg = rec.streams["sim-emg"]
    env = EmgChain(
        info.rate_hz, EmgChainSettings(envelope=EnvelopeSettings(method="rms", window_s=0.05), notch=None)
    ).process(emg)
    out = {"t": grid, "emg_envelope": interpolate_to(true_t("sim-emg"), env.data, grid)}
    imus = [n for n in rec.streams if n.startswith("sim-imu")]
    out["imu"] = np.concatenate(
        [interpolate_to(true_t(n), rec.streams[n][1].data, grid) for n in imus], axis=1
    )
    out["pose"] = interpolate_to(true_t("sim-pose"), rec.streams["sim-pose"][1].data, grid)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--processes", type=int, default=None)
    parser.add_argument("--out", default="movers.npz")
    args = parser.parse_args()
    recs = sim.generate_many(list(range(args.seeds)), args.minutes * 60, processes=args.processes)
    arrays = {}
    for rec in recs:
        for key, value in features(rec).items():
            arrays[f"seed{rec.seed}_{key}"] = value.astype(np.float32) if key != "t" else value
    np.savez_compressed(args.out, **arrays)
    shapes = {k.split("_", 1)[1]: v.shape for k, v in arrays.items() if k.startswith("seed0_")}
    print(f"wrote {args.out}: {args.seeds} movers x {args.minutes:g} min; per mover {shapes}")


if __name__ == "__main__":
    main()

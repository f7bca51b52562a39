"""Effort factors against the sim's requested Effort: per-factor AUC on held-out seeds.

    python benchmarks/effort_auc.py [--seeds 100-105] [--duration 60] [--quick]

Each seed is a mover performing the full vocabulary (or the families given) with Effort
drawn per movement, or the eight basic actions with theirs. The estimator streams the
recording (chunks of 50 ms, all streams on the sim's true clock, EMG normalised by the
sim's MVC); a movement's score per factor is the mean value of the updates within it;
the AUC per factor compares the movements requested at its + pole with those at its −
pole (Mann–Whitney). Prints a Markdown table; ``--json`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wearsense import sim  # noqa: E402
from wearsense.effort import FACTORS, EffortEstimator, EffortSettings  # noqa: E402
from wearsense.stream import Modality, split_every  # noqa: E402

SENSORS = dict(emg=16, imu=9, pose=True, emg_rate_hz=1000.0)


def streams_on_true_clock(rec: sim.SimRecording, skip: tuple[str, ...] = ()) -> dict:
    """name -> (info, chunk) with every chunk's times on the sim's true clock."""
    out = {}
    for name, (info, chunk) in rec.streams.items():
        if info.modality in (Modality.EMG, Modality.IMU, Modality.POSE) and info.modality.name not in skip:
            out[name] = (info, chunk.with_time(rec.truth.clocks[name].true_time(chunk.t), "true"))
    return out


def mvc_envelope_v(rec: sim.SimRecording) -> dict[str, float]:
    """The sim's MVC as an envelope (mean rectified, V): RMS at maximal drive × √(2/π)."""
    return {m: float(v) * math.sqrt(2 / math.pi) for m, v in zip(rec.truth.muscles, rec.truth.mvc_v)}


def run(
    rec: sim.SimRecording,
    settings: EffortSettings = EffortSettings(),
    chunk_s: float = 0.05,
    skip: tuple[str, ...] = (),
    calibrated: bool = True,
) -> list:
    """Stream a recording through the estimator, interleaving streams by time."""
    st = streams_on_true_clock(rec, skip)
    est = EffortEstimator(
        [i for i, _ in st.values()], settings, calibration=mvc_envelope_v(rec) if calibrated else None
    )
    pieces = []
    for name, (info, chunk) in st.items():
        n = max(1, int(round(chunk_s * info.rate_hz)))
        pieces += [(float(c.t[-1]), name, c) for c in split_every(chunk, n)]
    pieces.sort(key=lambda p: p[0])
    for _, name, c in pieces:
        est.push(name, c)
        est.advance(est.ready_until())
    est.advance(max(p[0] for p in pieces))
    return est.pop_states()


def movement_scores(states: list, movements: list) -> list[tuple[object, np.ndarray, np.ndarray]]:
    """Per movement with Effort: (movement, requested (4,), mean value (4,) of the updates within it)."""
    t = np.array([s.t for s in states])
    v = np.array([s.values() for s in states])
    out = []
    for mv in movements:
        eff = np.asarray(mv.effort, float)
        if not np.isfinite(eff).any():
            continue
        k = (t >= mv.start) & (t <= mv.end)
        if k.sum() < 2:
            continue
        out.append((mv, eff, np.nanmean(v[k], axis=0)))
    return out


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(score of a + example > score of a − example), ties count half (Mann–Whitney)."""
    pos, neg = np.asarray(pos, float), np.asarray(neg, float)
    pos, neg = pos[np.isfinite(pos)], neg[np.isfinite(neg)]
    if not pos.size or not neg.size:
        return float("nan")
    d = pos[:, None] - neg[None, :]
    return float(((d > 0).sum() + 0.5 * (d == 0).sum()) / d.size)


def factor_aucs(scores) -> dict[str, tuple[float, int, int]]:
    """factor -> (AUC, n at + pole, n at − pole)."""
    out = {}
    for i, f in enumerate(FACTORS):
        req = np.array([e[i] for _, e, _ in scores])
        val = np.array([v[i] for _, _, v in scores])
        pos, neg = val[req == 1], val[req == -1]
        out[f] = (auc(pos, neg), int(pos.size), int(neg.size))
    return out


def recordings(seeds, duration_s: float, families=None):
    cfg = dict(SENSORS, vocabulary="full")
    if families:
        cfg["families"] = tuple(families)
    for seed in seeds:
        yield sim.generate(seed, duration_s, **cfg)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="100-105")
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--families", default="")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default="")
    a = p.parse_args()
    lo, _, hi = a.seeds.partition("-")
    seeds = range(int(lo), int(hi or lo) + 1)
    if a.quick:
        seeds, a.duration = list(seeds)[:2], 30.0
    scores = []
    for rec in recordings(seeds, a.duration, a.families.split(",") if a.families else None):
        scores += movement_scores(run(rec), rec.truth.movements)
    res = factor_aucs(scores)
    print("| factor | AUC | n + | n − |\n| --- | --- | --- | --- |")
    for f, (v, npos, nneg) in res.items():
        print(f"| {f} | {v:.3f} | {npos} | {nneg} |")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()

"""Effort factors against the sim's requested Effort: per-factor AUC on held-out seeds.

    python benchmarks/effort_auc.py [--seeds 100-103] [--duration 60] [--quick]

Three protocols (:func:`protocol_recordings`): the eight basic actions, one factor
requested at each pole over mixed movements, and Effort drawn per movement over the
full vocabulary. The estimator streams each recording (chunks of 50 ms, all streams on
the sim's true clock, EMG normalised by the sim's MVC; 16 EMG, 9 IMUs, pose at 60 Hz);
a movement's score per factor is the confidence-weighted mean value of the updates
within it; the AUC per factor compares the movements at its + pole with those at its −
pole (Mann–Whitney). Prints Markdown tables; ``--json`` writes the numbers.
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
    """Per movement with Effort: (movement, requested (4,), score (4,)): the confidence-
    weighted mean value of the updates within it, NaN for a factor whose confidence
    stayed 0 (nothing to go on: Space of a motionless press)."""
    t = np.array([s.t for s in states])
    v = np.array([s.values() for s in states])
    c = np.array([[getattr(s, f).confidence for f in FACTORS] for s in states])
    out = []
    for mv in movements:
        eff = np.asarray(mv.effort, float)
        if not np.isfinite(eff).any():
            continue
        k = (t >= mv.start) & (t <= mv.end)
        if k.sum() < 2:
            continue
        w = c[k]
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.nansum(w * np.nan_to_num(v[k]), axis=0) / w.sum(axis=0)
        out.append((mv, eff, np.where(w.sum(axis=0) > 0, score, np.nan)))
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


MIXED = ("everyday", "gesture", "dance", "martial", "free")


def protocol_recordings(protocol: str, seed: int, duration_s: float):
    """The recordings of one seed under a protocol:

    - ``actions``: the eight basic effort actions (family "effort"), Effort fixed per action;
    - ``requested``: everyday, gesture, dance, martial and free movements with one factor
      requested at +1 and then −1, the others neutral (``SimConfig(effort=...)``): 8 takes;
    - ``drawn``: the full vocabulary with Effort drawn per movement (all factors vary together).
    """
    if protocol == "actions":
        yield sim.generate(seed, duration_s, vocabulary="full", families=("effort",), **SENSORS)
    elif protocol == "requested":
        for i in range(4):
            for pole in (1.0, -1.0):
                eff = [0.0] * 4
                eff[i] = pole
                yield sim.generate(
                    seed * 10 + i,
                    duration_s / 2,
                    vocabulary="full",
                    families=MIXED,
                    effort=tuple(eff),
                    **SENSORS,
                )
    elif protocol == "drawn":
        yield sim.generate(seed, duration_s, vocabulary="full", **SENSORS)
    else:
        raise ValueError(f"protocol must be actions, requested or drawn, got {protocol!r}")


def evaluate(
    protocol: str,
    seeds,
    duration_s: float,
    settings: EffortSettings = EffortSettings(),
    skip: tuple[str, ...] = (),
) -> list:
    """Movement scores of every recording of ``protocol`` (rests left out: they carry no motion)."""
    scores = []
    for seed in seeds:
        for rec in protocol_recordings(protocol, seed, duration_s):
            states = run(rec, settings, skip=skip)
            scores += [x for x in movement_scores(states, rec.truth.movements) if x[0].kind != "rest"]
    return scores


def action_table(scores) -> dict[str, np.ndarray]:
    """Basic action -> mean score (4,) over its performances."""
    out = {}
    for name in sim.BASIC_ACTIONS:
        v = [sc for mv, _, sc in scores if mv.kind == name]
        if v:
            out[name] = np.nanmean(np.array(v), axis=0)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="100-103", help="held out: the scales were chosen on seeds 0-3")
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--protocols", default="actions,requested,drawn")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", default="")
    a = p.parse_args()
    lo, _, hi = a.seeds.partition("-")
    seeds = list(range(int(lo), int(hi or lo) + 1))
    if a.quick:
        seeds, a.duration = seeds[:1], 30.0
    result: dict = {}
    print("| protocol | " + " | ".join(f"{f} AUC (n+/n−)" for f in FACTORS) + " |")
    print("| --- " * (len(FACTORS) + 1) + "|")
    tables = {}
    for protocol in a.protocols.split(","):
        scores = evaluate(protocol, seeds, a.duration)
        res = factor_aucs(scores)
        result[protocol] = res
        print(f"| {protocol} | " + " | ".join(f"{v:.3f} ({n1}/{n2})" for v, n1, n2 in res.values()) + " |")
        if protocol == "actions":
            tables = action_table(scores)
    if tables:
        print("\n| action | Laban (W, T, S) | " + " | ".join(FACTORS) + " |")
        print("| --- " * (len(FACTORS) + 2) + "|")
        for name, v in tables.items():
            w, t, s = sim.BASIC_ACTIONS[name]
            print(f"| {name} | {w:+.0f} {t:+.0f} {s:+.0f} | " + " | ".join(f"{x:+.2f}" for x in v) + " |")
        result["actions_table"] = {k: v.tolist() for k, v in tables.items()}
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

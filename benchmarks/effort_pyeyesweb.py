"""wearsense's Effort factors beside PyEyesWeb's motion features, on the same sim data.

    python benchmarks/effort_pyeyesweb.py [--seeds 100-101] [--duration 60]

PyEyesWeb (the EyesWeb/Casa Paganini feature library) computes Effort-related features
from motion alone. Per movement of the eight basic actions (protocol ``actions`` of
benchmarks/effort_auc.py), on the same pose stream the estimator reads:

- PyEyesWeb ``KineticEnergy`` (½ Σ m|v|², the same keypoint masses) averaged over the
  movement, against our pose kinetic-energy cue and against our Weight;
- PyEyesWeb ``Smoothness`` (SPARC) of the moving hand's speed, against our
  :func:`wearsense.effort.measures.sparc` of the same profile;
- PyEyesWeb ``Suddenness`` (stable-distribution fit of the hand's speed; its alpha,
  lower is more impulsive) against our Time.

Prints Spearman correlations where the features overlap, and each feature's AUC for
the requested poles of the factor it stands for. These are agreements between two
computations on simulated movement, not with human annotators.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import effort_auc as E  # noqa: E402
from pyeyesweb.low_level.kinetic_energy import KineticEnergy  # noqa: E402
from pyeyesweb.low_level.smoothness import Smoothness  # noqa: E402
from pyeyesweb.mid_level.suddenness import Suddenness  # noqa: E402

from wearsense.effort.measures import KEYPOINT_MASS_FRACTION, sparc  # noqa: E402


def compare(seeds, duration_s: float) -> dict:
    rows = []
    for seed in seeds:
        for rec in E.protocol_recordings("actions", seed, duration_s):
            states = E.run(rec)
            scores = {id(mv): sc for mv, _, sc in E.movement_scores(states, rec.truth.movements)}
            info, chunk = E.streams_on_true_clock(rec)["sim-pose"]
            names = list(info.metadata["keypoints"])
            t = np.asarray(chunk.t)
            pos = np.asarray(chunk.data, float).reshape(len(t), len(names), 3)
            vel = np.gradient(pos, t, axis=0)
            mass = 70.0 * np.array([KEYPOINT_MASS_FRACTION[n] for n in names])
            mass /= mass.sum() / 70.0
            ke = KineticEnergy(weights=mass)
            st = np.array([s.t for s in states])
            cue_ke = np.array([s.cues.get("pose_kinetic_energy", np.nan) for s in states])
            hands = [names.index("hand_r"), names.index("hand_l")]
            for mv in rec.truth.movements:
                if id(mv) not in scores:
                    continue
                k = (t >= mv.start) & (t <= mv.end)
                if k.sum() < 12:
                    continue
                pew_ke = float(np.mean([ke.compute(v).total_energy for v in vel[k]]))
                h = hands[int(np.argmax([np.linalg.norm(vel[k][:, j], axis=1).mean() for j in hands]))]
                speed = np.linalg.norm(vel[k][:, h], axis=1)
                rate = info.rate_hz
                pew_sparc = Smoothness(rate_hz=rate, metrics=["sparc"]).compute(speed).sparc
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    sud = Suddenness().compute(pos[k][:, [h], :])
                ks = (st >= mv.start) & (st <= mv.end)
                rows.append(
                    dict(
                        eff=np.asarray(mv.effort, float),
                        ours=scores[id(mv)],
                        pew_ke=pew_ke,
                        our_ke=float(np.nanmean(cue_ke[ks])),
                        pew_sparc=pew_sparc,
                        our_sparc=sparc(speed, rate),
                        pew_alpha=sud.alpha if sud.is_valid else np.nan,
                        pew_sudden=float(sud.is_sudden) if sud.is_valid else np.nan,
                    )
                )
    return summarise(rows)


def _rho(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(stats.spearmanr(a[ok], b[ok]).statistic), int(ok.sum())


def _pole_auc(rows, factor, values, sign=1.0):
    i = E.FACTORS.index(factor)
    eff = np.array([r["eff"][i] for r in rows])
    v = sign * np.asarray(values, float)
    return E.auc(v[eff == 1], v[eff == -1])


def summarise(rows) -> dict:
    col = {k: [r[k] for r in rows] for k in rows[0] if k not in ("eff", "ours")}
    ours = np.array([r["ours"] for r in rows])
    return {
        "n_movements": len(rows),
        "rho_kinetic_energy_pew_vs_ours": _rho(col["pew_ke"], col["our_ke"]),
        "rho_sparc_pew_vs_ours": _rho(col["pew_sparc"], col["our_sparc"]),
        "rho_pew_ke_vs_our_weight": _rho(col["pew_ke"], ours[:, 0]),
        "rho_pew_alpha_vs_our_time": _rho(col["pew_alpha"], ours[:, 1]),
        "auc_weight_ours": _pole_auc(rows, "weight", ours[:, 0]),
        "auc_weight_pew_kinetic_energy": _pole_auc(rows, "weight", col["pew_ke"]),
        "auc_time_ours": _pole_auc(rows, "time", ours[:, 1]),
        "auc_time_pew_suddenness_alpha": _pole_auc(rows, "time", col["pew_alpha"], -1.0),
        "auc_time_pew_is_sudden": _pole_auc(rows, "time", col["pew_sudden"]),
        "auc_flow_ours": _pole_auc(rows, "flow", ours[:, 3]),
        "auc_flow_pew_sparc": _pole_auc(rows, "flow", col["pew_sparc"], -1.0),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="100-101")
    p.add_argument("--duration", type=float, default=60.0)
    a = p.parse_args()
    lo, _, hi = a.seeds.partition("-")
    res = compare(range(int(lo), int(hi or lo) + 1), a.duration)
    for k, v in res.items():
        print(f"{k}: {v if not isinstance(v, float) else round(v, 3)}")


if __name__ == "__main__":
    main()

"""The inside-out vs camera-only comparison: train (or load) per condition, score on held-out data.

:func:`run_evaluation` trains the same architecture under each condition of
:data:`~wearsense.fusion.frames.CONDITIONS` and several seeds (or scores one loaded
checkpoint under each condition), scores it and the baselines
(:mod:`wearsense.fusion.baselines`) on the test takes, and aggregates per mover with
paired-bootstrap intervals (:mod:`wearsense.fusion.metrics`). The rules it follows are
those of ``EVALUATION.md`` (docs/fusion.md says what each number means).

Test subsets ("splits" in the results), decided from the data before any training:

- ``held_out_movers`` — test movers (never in training) performing movement families
  that training saw;
- ``held_out_movers_and_families`` — test movers performing families that never occur
  in training (the zero-shot case; with sim datasets made with ``--hold-out-families``
  only test movers perform those families, so this is *both* held out);
- ``all_test`` — every test step; ``after_onset`` — test steps in the first 300 ms after
  a true movement onset (where pre-activation can matter).

When test movers also appear in training (a single-mover XDF set split by take), the
first two are named ``test_takes_seen_families`` / ``test_takes_unseen_families``.

Everything is a function of the takes, the preset and the seeds; nothing is tuned on
the test split (the ridge penalty is chosen on validation; thresholds are fixed by the
preset).
"""

from __future__ import annotations

import csv
import json
import logging
import math
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from wearsense.errors import ConfigError
from wearsense.fusion import metrics as M
from wearsense.fusion.baselines import RidgeBaseline, pose_is_angles, constant_velocity, zero_velocity
from wearsense.fusion.frames import CONDITIONS, HORIZONS_MS, FeatureSpec, Take
from wearsense.fusion.perturb import PERTURBATIONS, perturb

__all__ = [
    "EvalPreset",
    "PRESETS",
    "Predictor",
    "Trainer",
    "EvalResult",
    "run_evaluation",
    "load_data",
    "deep_trainer",
    "auto_tracking_threshold",
    "assign_splits",
    "slice_take",
    "take_minutes",
    "subset_minutes",
    "SUBSETS",
]

log = logging.getLogger("wearsense.fusion.evaluate")

#: subset names of the results (see the module docstring)
SUBSETS = ("held_out_movers", "held_out_movers_and_families", "all_test", "after_onset")
AFTER_ONSET_S = 0.3
_NEVER = 1e12  # stands for "camera-only never matches" inside the multiplier bootstrap
_NO_LEAD = -1e9  # stands for "the condition never reaches camera-only's error" inside the bootstrap


class Predictor(Protocol):
    """Anything with ``predict_take(take, condition)`` returning ``.angles`` (K, H, J) deg and ``.kp``."""

    def predict_take(self, take: Take, condition: str) -> Any: ...


#: ``trainer(conditions, seed, train_takes, val_takes) -> Predictor`` (conditions: a tuple,
#: one condition or all of them for a shared model)
Trainer = Callable[[str, int, list[Take], list[Take]], Predictor]


@dataclass(frozen=True)
class EvalPreset:
    """The settings of one evaluation run (what ``--preset`` names).

    ``train`` holds overrides of the fusion model's ``TrainConfig`` (epochs, sizes);
    ``efficiency_minutes`` the training sizes of the data-efficiency curves (minutes of
    training data, at least three decades apart end to end); thresholds are fixed here,
    before any test data is seen.
    """

    name: str
    seeds: tuple[int, ...] = (0, 1, 2)
    conditions: tuple[str, ...] = tuple(CONDITIONS)
    #: the fusion model's training config (a name of wearsense/fusion/configs or a TOML path)
    train_config: str = "eval"
    train: dict[str, Any] = field(default_factory=dict)
    #: "per_condition": one model per condition and seed, trained on that condition only;
    #: "shared": one model per seed trained with modality dropout over every condition,
    #: then run under each (the same weights with the other modalities dropped)
    train_mode: str = "per_condition"
    robustness: tuple[str, ...] = tuple(PERTURBATIONS)
    robustness_seeds: int = 1
    #: which model kinds and conditions the perturbations are scored on (model: seed 0)
    robustness_models: tuple[str, ...] = ("model", "ridge")
    robustness_conditions: tuple[str, ...] = tuple(CONDITIONS)
    #: score only the first this many minutes of each test take (None: all of it); the
    #: deep model's causal prediction costs seconds per minute of data on a CPU
    test_minutes_per_take: float | None = None
    #: training sizes (minutes); with ``efficiency_all`` all the training data is the last
    efficiency_minutes: tuple[float, ...] = (0.1, 1.0, 10.0, 100.0)
    efficiency_all: bool = True
    efficiency_conditions: tuple[str, str] = ("camera", "all")
    efficiency_seeds: tuple[int, ...] = (0,)
    efficiency_deep: bool = True
    #: overrides of ``train`` for the learning-curve runs (e.g. fewer steps)
    efficiency_train: dict[str, Any] = field(default_factory=dict)
    n_boot: int = 2000
    tracking_horizon_ms: int = 100
    #: None: the 90th percentile of zero-velocity's 250 ms block errors on the validation
    #: split (fixed before test data is seen; the value used is written into the results)
    tracking_threshold_deg: float | None = None
    tracking_window_s: float = 2.0
    onset_threshold_deg: float = 5.0
    ridge: bool = True
    #: FeatureSpec settings raw sources (sim shards, XDF sessions, emg2pose) are read with;
    #: a prepared take store keeps the spec it was made with, a checkpoint its own
    spec: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        bad = [c for c in self.conditions if c not in CONDITIONS]
        if bad:
            raise ConfigError(f"conditions {bad}: choose from {', '.join(CONDITIONS)}", "conditions")
        if "camera" not in self.conditions:
            raise ConfigError("conditions must include 'camera': every comparison is against it",
                              "conditions")
        if not self.seeds:
            raise ConfigError("seeds: give at least one training seed", "seeds")
        if self.train_mode not in ("per_condition", "shared"):
            raise ConfigError(f"train_mode={self.train_mode!r}: choose per_condition or shared", "train_mode")
        badp = [p for p in self.robustness if p not in PERTURBATIONS]
        if badp:
            raise ConfigError(f"robustness {badp}: choose from {', '.join(PERTURBATIONS)}", "robustness")


PRESETS: dict[str, EvalPreset] = {
    # a smoke run: small model, short training, one seed; for tests and first looks
    "quick": EvalPreset(
        name="quick",
        seeds=(0,),
        train_config="tiny",
        train_mode="shared",
        robustness=("emg_dropout", "camera_occlusion"),
        efficiency_minutes=(0.05, 0.5, 5.0),
        efficiency_deep=False,
        n_boot=500,
    ),
    # the settings of the numbers in docs/fusion.md
    "shipped": EvalPreset(
        name="shipped",
        seeds=(0, 1, 2),
        train_config="eval",
        train={},
        train_mode="shared",
        robustness_models=("model",),
        robustness_conditions=("camera", "all"),
        test_minutes_per_take=None,
        efficiency_minutes=(0.05, 0.5, 5.0),
        efficiency_seeds=(0,),
        n_boot=2000,
        # the IMUs in segment axes by each session's N-pose calibration, as a lab runs it
        spec={"imu_frame": "segment"},
    ),
}


# ----------------------------------------------------------------------------- takes


def slice_take(take: Take, k0: int, k1: int) -> Take:
    """Steps ``k0:k1`` of a take as a take of their own (all per-step arrays sliced)."""
    per_step = {
        f: getattr(take, f)[k0:k1]
        for f in ("t", "emg", "emg_ok", "imu", "imu_ok", "pose", "pose_age", "pose_ok", "events",
                  "events_ok", "y_angles", "y_ok")
    }
    y_kp = None if take.y_kp is None else take.y_kp[k0:k1]
    labels = {k: v[k0:k1] for k, v in take.labels.items()}
    return replace(take, name=f"{take.name}[{k0}:{k1}]", y_kp=y_kp, labels=labels, **per_step)


def take_minutes(takes: Iterable[Take]) -> float:
    """Total duration of the takes in minutes (steps / step rate)."""
    return sum(len(t) / t.spec.step_hz for t in takes) / 60.0


def subset_minutes(takes: Sequence[Take], minutes: float) -> list[Take]:
    """The first ``minutes`` of training data, spread over movers (round-robin, whole takes, the last cut).

    Nested: a smaller subset is the start of a larger one, so a learning curve adds data
    without changing what was there.
    """
    by_mover: dict[str, list[Take]] = defaultdict(list)
    for t in takes:
        by_mover[t.mover].append(t)
    order = []
    queues = [list(v) for _, v in sorted(by_mover.items())]
    while any(queues):
        for q in queues:
            if q:
                order.append(q.pop(0))
    # cut every take into pieces of at most one minute first, so small sizes still span movers
    pieces: list[Take] = []
    chunk_rows: dict[str, list[Take]] = defaultdict(list)
    for t in order:
        n = int(60 * t.spec.step_hz)
        chunk_rows[t.mover].extend(slice_take(t, i, min(i + n, len(t))) for i in range(0, len(t), n))
    queues = [v for _, v in sorted(chunk_rows.items())]
    while any(queues):
        for q in queues:
            if q:
                pieces.append(q.pop(0))
    out: list[Take] = []
    need = minutes * 60.0
    for p in pieces:
        dur = len(p) / p.spec.step_hz
        if need < 1.0:  # a remainder under a second adds nothing but a take without camera frames
            break
        if dur >= need:
            out.append(slice_take(p, 0, max(2, int(round(need * p.spec.step_hz)))))
            break
        out.append(p)
        need -= dur
    return out


def assign_splits(takes: Sequence[Take], val_fraction: float = 0.15, test_fraction: float = 0.25) -> dict:
    """Group takes into train / val / test.

    Takes that carry a split (``take.split`` in train/val/test, as sim shards and the
    emg2pose metadata do) keep it. Otherwise the split is by mover, decided by the sorted
    mover names: the last ``test_fraction`` of movers test, the ``val_fraction`` before
    them validation. With fewer than three movers, it is by take within each mover (the
    results then say that test movers were seen in training).
    """
    out: dict[str, list[Take]] = {"train": [], "val": [], "test": []}
    loose = []
    for t in takes:
        if t.split in out:
            out[t.split].append(t)
        else:
            loose.append(t)
    if not loose:
        return out
    movers = sorted({t.mover for t in loose})
    if len(movers) >= 3:
        n_test = max(1, int(round(test_fraction * len(movers))))
        n_val = max(1, int(round(val_fraction * len(movers))))
        n_train = len(movers) - n_test - n_val
        if n_train < 1:
            n_val, n_train = 0, len(movers) - n_test
        role = {m: "train" for m in movers[:n_train]}
        role.update({m: "val" for m in movers[n_train:n_train + n_val]})
        role.update({m: "test" for m in movers[n_train + n_val:]})
        for t in loose:
            out[role[t.mover]].append(t)
        return out
    by_mover: dict[str, list[Take]] = defaultdict(list)
    for t in loose:
        by_mover[t.mover].append(t)
    for _m, ts in sorted(by_mover.items()):
        ts = sorted(ts, key=lambda x: x.name)
        if len(ts) == 1:
            # one take: its first 70 % trains, the next 10 % validates, the last 20 % tests
            k = len(ts[0])
            a, b = int(0.7 * k), int(0.8 * k)
            out["train"].append(slice_take(ts[0], 0, a))
            out["val"].append(slice_take(ts[0], a, b))
            out["test"].append(slice_take(ts[0], b, k))
            continue
        n_test = max(1, int(round(test_fraction * len(ts))))
        out["test"].extend(ts[-n_test:])
        rest = ts[:-n_test]
        if len(rest) >= 2:
            out["val"].append(rest[-1])
            rest = rest[:-1]
        out["train"].extend(rest)
    return out


def load_data(paths: Sequence[str | Path], spec=None, mover_regex: str | None = None, *,
              read_spec=None) -> tuple[list[Take], str]:
    """Read every take of ``paths`` (see :mod:`wearsense.fusion.data`) into memory.

    Each path is a prepared take store (``card.json``), a sim dataset folder
    (``mover-*_take-*.h5`` shards of ``wearsense sim generate``), an ``.xdf`` session, or
    an emg2pose root. ``spec``: the FeatureSpec every path must be read with (a
    checkpoint's; a store made with another is an error). Without it, a store keeps its
    own, and raw sources are read with ``read_spec`` (default
    :class:`~wearsense.fusion.frames.FeatureSpec`'s defaults).
    XDF sessions are one mover per file (the file's stem) unless ``mover_regex`` says
    which part of the stem names the mover (its first group, e.g. ``^([^_]+)_``).
    Returns the takes and a one-line description of what was read.
    """
    takes: list[Take] = []
    kinds = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and (p / "card.json").is_file() and (p / "takes").is_dir():
            kind = "take store"
        elif p.is_dir() and any(p.glob("mover-*_take-*.h5")):
            kind = "sim shards"
        elif (p.is_file() and p.suffix.lower() in (".xdf", ".xdfz")) or (p.is_dir() and any(p.glob("*.xdf"))):
            kind = "XDF"
        elif p.is_dir() and (any(p.glob("**/*.hdf5")) or any(p.glob("*.csv"))):
            kind = "emg2pose"
        else:
            raise ConfigError(
                f"--data {p}: not a take store, sim dataset folder, .xdf file or emg2pose root; "
                "see docs/fusion.md for what each looks like")
        from wearsense.fusion import data

        sp = spec if spec is not None else read_spec if read_spec is not None else FeatureSpec()
        if kind == "take store":
            new = list(data.TakeStore(p, spec).takes())
        elif kind == "sim shards":
            new = list(data.read_sim(p, sp))
        elif kind == "emg2pose":
            new = list(data.read_emg2pose(p, sp))
        else:
            # recorded sessions carry no split: assign_splits decides it by mover
            new = []
            for take in data.read_xdf(p, sp, split=""):
                if mover_regex:
                    m = re.search(mover_regex, take.mover)
                    if m is None:
                        raise ConfigError(f"--mover-regex {mover_regex!r} does not match the file name "
                                          f"{take.mover!r}; give a pattern whose first group is the mover")
                    take = replace(take, mover=m.group(1) if m.groups() else m.group(0))
                new.append(take)
        takes.extend(new)
        kinds.append(f"{kind} {p}")
    if not takes:
        raise ConfigError(f"--data {' '.join(str(p) for p in paths)}: no takes found")
    return takes, "; ".join(kinds)


def _family_names(take: Take) -> np.ndarray:
    """Per-step family name ("" unknown)."""
    fam = take.labels.get("family")
    names = (take.names or {}).get("families") or []
    if fam is None or not names:
        return np.full(len(take), "", dtype=object)
    arr = np.asarray(names + [""], dtype=object)
    f = np.asarray(fam)
    return arr[np.where((f >= 0) & (f < len(names)), f, len(names))]


def seen_families(train: Iterable[Take]) -> set[str]:
    """Families that occur anywhere in the training takes."""
    seen: set[str] = set()
    for t in train:
        seen.update(str(x) for x in np.unique(_family_names(t)) if x)
    return seen


def subset_masks(take: Take, seen: set[str]) -> dict[str, np.ndarray]:
    """Per-step masks of the test subsets (keys of :data:`SUBSETS`)."""
    fam = _family_names(take)
    unseen = np.array([bool(f) and f not in seen for f in fam], dtype=bool)
    onset = np.asarray(take.labels.get("onset", np.zeros(len(take))))
    after = np.zeros(len(take), bool)
    n_after = int(round(AFTER_ONSET_S * take.spec.step_hz))
    for k in np.flatnonzero(onset > 0):
        after[k : k + n_after] = True
    return {
        "held_out_movers": ~unseen,
        "held_out_movers_and_families": unseen,
        "all_test": np.ones(len(take), bool),
        "after_onset": after,
    }


# ----------------------------------------------------------------------------- scoring


@dataclass
class _MoverAcc:
    """Running sums of one mover's scores in one subset."""

    ae_sum: np.ndarray
    ae_n: np.ndarray
    kp_sum: np.ndarray
    kp_n: np.ndarray
    jerk_ss: np.ndarray
    jerk_n: np.ndarray
    #: the same predictor's horizon-0 output held (its own zero-velocity), primary metric
    pers_sum: np.ndarray
    pers_n: np.ndarray
    #: per joint at the tracking horizon: sums and counts (J,), with the joints' names
    joint_sum: np.ndarray | None = None
    joint_n: np.ndarray | None = None
    joints: tuple = ()
    track_ok: int = 0
    track_n: int = 0
    latency: list = field(default_factory=list)
    latency_truth: list = field(default_factory=list)
    missed: int = 0


def _score_take(pred: Any, take: Take, masks: dict[str, np.ndarray], preset: EvalPreset, acc: dict) -> None:
    """Add one take's scores into ``acc[(subset, mover)]``."""
    horizons = list(take.spec.horizons_ms)
    h_idx = [horizons.index(h) for h in HORIZONS_MS]
    has_angles = take.y_angles.shape[2] > 0
    ae = None
    if has_angles:
        ae = M.angle_error(pred.angles[:, h_idx], take.y_angles[:, h_idx], take.y_ok[:, h_idx])
    kp = None
    if getattr(pred, "kp", None) is not None and take.y_kp is not None:
        kp = M.keypoint_error(pred.kp[:, h_idx], take.y_kp[:, h_idx], take.y_ok[:, h_idx])
    primary = ae if has_angles else kp
    if primary is None:
        raise ConfigError(f"take {take.name!r}: neither joint angles nor keypoints to score")
    h0 = [horizons.index(0)] * len(h_idx)
    if has_angles:
        pers = M.angle_error(pred.angles[:, h0], take.y_angles[:, h_idx], take.y_ok[:, h_idx])
    else:
        pers = M.keypoint_error(pred.kp[:, h0], take.y_kp[:, h_idx], take.y_ok[:, h_idx])
    dt = 1.0 / take.spec.step_hz
    ht = HORIZONS_MS.index(preset.tracking_horizon_ms) if preset.tracking_horizon_ms in HORIZONS_MS else 2
    onset = np.asarray(take.labels.get("onset", np.zeros(len(take))))
    truth0 = take.y_angles[:, horizons.index(0)]
    for subset, m in masks.items():
        if not m.any():
            continue
        a = acc.setdefault((subset, take.mover), _MoverAcc(
            *(np.zeros(len(HORIZONS_MS)) for _ in range(8))))
        if ae is not None:
            sel = np.where(m[:, None], ae, np.nan)
            a.ae_sum += np.nansum(sel, axis=0)
            a.ae_n += np.isfinite(sel).sum(axis=0)
        if kp is not None:
            selk = np.where(m[:, None], kp, np.nan)
            a.kp_sum += np.nansum(selk, axis=0)
            a.kp_n += np.isfinite(selk).sum(axis=0)
        if ae is not None:
            per_joint = M.angle_error(pred.angles[:, h_idx[ht]], take.y_angles[:, h_idx[ht]],
                                      take.y_ok[:, h_idx[ht]], per_joint=True)
            sj = np.where(m[:, None], per_joint, np.nan)
            if a.joint_sum is None:
                a.joint_sum, a.joint_n = np.zeros(sj.shape[1]), np.zeros(sj.shape[1])
                a.joints = tuple((take.names or {}).get("joints") or range(sj.shape[1]))
            a.joint_sum += np.nansum(sj, axis=0)
            a.joint_n += np.isfinite(sj).sum(axis=0)
        selp = np.where(m[:, None], pers, np.nan)
        a.pers_sum += np.nansum(selp, axis=0)
        a.pers_n += np.isfinite(selp).sum(axis=0)
        ok_win = M.tracking_success(take.t, np.where(m, primary[:, ht], np.nan),
                                    preset.tracking_threshold_deg, preset.tracking_window_s)
        a.track_ok += int(ok_win.sum())
        a.track_n += len(ok_win)
        if not has_angles:
            continue
        for i, hi in enumerate(h_idx):
            traj = np.where(m[:, None], pred.angles[:, hi].astype(np.float64), np.nan)
            j = np.diff(traj, n=3, axis=0) / dt**3
            j = j[np.all(np.isfinite(j), axis=1)]
            a.jerk_ss[i] += float(np.sum(j**2))
            a.jerk_n[i] += j.size
        lat_p, lat_t = M.onset_latency(
            take.t, pred.angles[:, horizons.index(0)], truth0, np.where(m, onset, 0),
            threshold_deg=preset.onset_threshold_deg,
        )
        a.latency.extend(lat_p[np.isfinite(lat_p)].tolist())
        a.latency_truth.extend(lat_t[np.isfinite(lat_t)].tolist())
        a.missed += int(np.sum(~np.isfinite(lat_p)))


def _finish(acc: dict, horizon: int = 100) -> dict:
    """``{(subset, metric, horizon_ms): {mover: value}}`` from the running sums (per-joint
    errors, ``angle_error_deg[<joint>]``, at ``horizon`` ms only)."""
    out: dict = defaultdict(dict)
    for (subset, mover), a in acc.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            ae = a.ae_sum / a.ae_n
            kp = a.kp_sum / a.kp_n
            jerk = np.sqrt(a.jerk_ss / a.jerk_n)
        for i, h in enumerate(HORIZONS_MS):
            if a.ae_n[i]:
                out[(subset, "angle_error_deg", h)][mover] = float(ae[i])
            if a.kp_n[i]:
                out[(subset, "mpjpe_mm", h)][mover] = float(kp[i])
            if a.jerk_n[i]:
                out[(subset, "jerk_deg_s3", h)][mover] = float(jerk[i])
            if a.pers_n[i]:
                out[(subset, "persistence_error", h)][mover] = float(a.pers_sum[i] / a.pers_n[i])
        if a.track_n:
            out[(subset, "tracking_success_pct", None)][mover] = 100.0 * a.track_ok / a.track_n
        if a.joint_sum is not None:
            for name, js, jn in zip(a.joints, a.joint_sum, a.joint_n):
                if jn:
                    out[(subset, f"angle_error_deg[{name}]", horizon)][mover] = float(js / jn)
        if a.latency:
            out[(subset, "onset_latency_ms", 0)][mover] = 1000.0 * float(np.mean(a.latency))
        if a.latency_truth:
            out[(subset, "onset_latency_truth_ms", 0)][mover] = 1000.0 * float(np.mean(a.latency_truth))
        if a.latency or a.missed:
            out[(subset, "onset_missed_pct", 0)][mover] = 100.0 * a.missed / (a.missed + len(a.latency))
    return dict(out)


def score(predictor: Any, condition: str, takes: Iterable[Take], seen: set[str], preset: EvalPreset,
          perturbation: str | None = None, perturb_seed: int = 0) -> dict:
    """Per-mover scores of one predictor under one condition on the test takes."""
    acc: dict = {}
    for i, take in enumerate(takes):
        masks = subset_masks(take, seen)
        if perturbation is not None:
            take = perturb(take, perturbation, seed=perturb_seed + i)
        if callable(predictor) and not hasattr(predictor, "predict_take"):
            pred = predictor(take)
        else:
            pred = predictor.predict_take(take, condition)
        _score_take(pred, take, masks, preset, acc)
    return _finish(acc, preset.tracking_horizon_ms if preset.tracking_horizon_ms in HORIZONS_MS else 100)


# ----------------------------------------------------------------------------- results


@dataclass
class EvalResult:
    """Everything one run measured.

    ``rows``: one dict per model × condition × split × perturbation × training size ×
    horizon × metric (the CSV); ``per_mover``: the per-mover values behind them;
    ``meta``: command, seeds, splits, preset, data, durations.
    """

    rows: list[dict] = field(default_factory=list)
    per_mover: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)

    COLUMNS = ("model", "condition", "split", "perturbation", "train_minutes", "horizon_ms", "metric",
               "value", "ci_low", "ci_high", "n_movers", "seeds", "reference")

    def select(self, **kw) -> list[dict]:
        """Rows whose columns equal the given values."""
        return [r for r in self.rows if all(r.get(k) == v for k, v in kw.items())]

    def value(self, **kw) -> dict | None:
        rows = self.select(**kw)
        return rows[0] if rows else None

    def write(self, out: Path) -> dict[str, Path]:
        """Write ``results.csv``, ``per_mover.csv``, ``results.md``, ``results.json`` and figures."""
        from wearsense.fusion import evalreport

        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = {"csv": out / "results.csv", "per_mover": out / "per_mover.csv", "md": out / "results.md",
                 "json": out / "results.json"}
        with open(paths["csv"], "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.COLUMNS)
            w.writeheader()
            for r in self.rows:
                w.writerow({k: _fmt(r.get(k)) for k in self.COLUMNS})
        cols = ("model", "condition", "seed", "split", "perturbation", "train_minutes", "horizon_ms",
                "metric", "mover", "value")
        with open(paths["per_mover"], "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            for r in self.per_mover:
                w.writerow({k: _fmt(r.get(k)) for k in cols})
        paths["md"].write_text(evalreport.markdown(self), encoding="utf-8")
        paths["json"].write_text(json.dumps(self.meta, indent=2, default=str), encoding="utf-8")
        for name, fig in evalreport.figures(self).items():
            p = out / f"{name}.png"
            fig.savefig(p, dpi=110, bbox_inches="tight")
            paths[name] = p
        return paths


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return "" if v is None else v


def _mover_means(per_seed: list[dict], key) -> dict[str, float]:
    """Average each mover's value over seeds (movers present in every seed)."""
    vals: dict[str, list[float]] = defaultdict(list)
    for s in per_seed:
        for m, v in s.get(key, {}).items():
            vals[m].append(v)
    n = len(per_seed)
    return {m: float(np.mean(v)) for m, v in vals.items() if len(v) == n}


class _Aggregator:
    """Turns per-seed, per-mover scores into result rows with bootstrap intervals."""

    def __init__(self, result: EvalResult, preset: EvalPreset, primary: str = "angle_error_deg",
                 boot_seed: int = 12345):
        self.result = result
        self.preset = preset
        self.primary = primary
        self.boot_seed = boot_seed

    def add(self, model: str, condition: str, seeds: Sequence, per_seed: list[dict],
            perturbation: str = "none", train_minutes: float | None = None) -> None:
        seeds_txt = " ".join(str(s) for s in seeds)
        keys = sorted({k for s in per_seed for k in s},
                      key=lambda k: (k[0], k[1], -1 if k[2] is None else k[2]))
        for key in keys:
            subset, metric, h = key
            movers = _mover_means(per_seed, key)
            if not movers:
                continue
            x = np.array(list(movers.values()))
            iv = M.bootstrap_mean(x, self.preset.n_boot, self.boot_seed)
            self.result.rows.append(dict(
                model=model, condition=condition, split=subset, perturbation=perturbation,
                train_minutes=train_minutes, horizon_ms=h, metric=metric, value=iv.value, ci_low=iv.low,
                ci_high=iv.high, n_movers=len(x), seeds=seeds_txt, reference=""))
            for seed, s in zip(seeds, per_seed):
                for mover, v in s.get(key, {}).items():
                    self.result.per_mover.append(dict(
                        model=model, condition=condition, seed=seed, split=subset, perturbation=perturbation,
                        train_minutes=train_minutes, horizon_ms=h, metric=metric, mover=mover, value=v))

    def paired(self, model: str, condition: str, seeds: Sequence, per_seed: list[dict], ref_name: str,
               ref_per_seed: list[dict], metric_out: str, perturbation: str = "none",
               metric_in: str | None = None) -> None:
        """Rows of ``100 (1 - err / err_ref)`` (%) with paired-bootstrap intervals over movers."""
        metric_in = metric_in or self.primary
        seeds_txt = " ".join(str(s) for s in seeds)
        for key in sorted({k for s in per_seed for k in s if k[1] == metric_in}, key=lambda k: (k[0], k[2])):
            a = _mover_means(per_seed, key)
            b = _mover_means(ref_per_seed, key)
            movers = sorted(set(a) & set(b))
            if not movers:
                continue
            iv = M.paired_bootstrap(np.array([a[m] for m in movers]), np.array([b[m] for m in movers]),
                                    self.preset.n_boot, self.boot_seed)
            self.result.rows.append(dict(
                model=model, condition=condition, split=key[0], perturbation=perturbation, train_minutes=None,
                horizon_ms=key[2], metric=metric_out, value=iv.value, ci_low=iv.low, ci_high=iv.high,
                n_movers=len(movers), seeds=seeds_txt, reference=ref_name))

    def own_skill(self, model: str, condition: str, seeds: Sequence, per_seed: list[dict],
                  perturbation: str = "none") -> None:
        """``own_skill_pct`` rows: the error against the predictor's own horizon-0 output held
        (its zero-velocity: what it would say if it predicted no motion), paired over movers."""
        ref = [{(k[0], self.primary, k[2]): v for k, v in s.items() if k[1] == "persistence_error"}
               for s in per_seed]
        self.paired(model, condition, seeds, per_seed, f"{model}/{condition}/persistence", ref,
                    "own_skill_pct", perturbation=perturbation)
        # the ceiling: a predictor that knew the true motion from its own "now" on would keep
        # only its present error (pred_0 + truth_h - truth_0 - truth_h = pred_0 - truth_0)
        ceiling = [{key: s[(key[0], self.primary, 0)] for key in r if (key[0], self.primary, 0) in s}
                   for s, r in zip(per_seed, ref)]
        self.paired(model, condition, seeds, ceiling, f"{model}/{condition}/persistence", ref,
                    "own_skill_ceiling_pct", perturbation=perturbation)

    def lead_time(self, model: str, condition: str, seeds: Sequence, per_seed: list[dict],
                  cam_per_seed: list[dict], ref_name: str) -> None:
        """Lead time gained over camera-only per camera horizon, paired bootstrap over movers."""
        seeds_txt = " ".join(str(s) for s in seeds)
        subsets = sorted({k[0] for s in per_seed for k in s})
        rng = np.random.default_rng(self.boot_seed)
        for subset in subsets:
            a = [_mover_means(per_seed, (subset, self.primary, h)) for h in HORIZONS_MS]
            b = [_mover_means(cam_per_seed, (subset, self.primary, h)) for h in HORIZONS_MS]
            movers = sorted(set.intersection(*(set(x) for x in a + b)))
            if not movers:
                continue
            A = np.array([[x[m] for x in a] for m in movers])  # movers x horizons
            B = np.array([[x[m] for x in b] for m in movers])
            point = M.lead_time_curve(HORIZONS_MS, A.mean(0), B.mean(0))
            idx = rng.integers(0, len(movers), size=(self.preset.n_boot, len(movers)))
            boots = np.array([M.lead_time_curve(HORIZONS_MS, A[i].mean(0), B[i].mean(0)) for i in idx])
            for j, h in enumerate(HORIZONS_MS):
                col = boots[:, j]
                # a resample where the condition never reaches camera's error counts as "no lead"
                col = np.where(np.isfinite(col), col, _NO_LEAD)
                lo, hi = np.percentile(col, 2.5), np.percentile(col, 97.5)
                self.result.rows.append(dict(
                    model=model, condition=condition, split=subset, perturbation="none", train_minutes=None,
                    horizon_ms=h, metric="lead_time_ms", value=float(point[j]),
                    ci_low=float(lo) if lo > _NO_LEAD else float("-inf"),
                    ci_high=float(hi) if hi > _NO_LEAD else float("-inf"),
                    n_movers=len(movers), seeds=seeds_txt, reference=ref_name))


# ----------------------------------------------------------------------------- the run


def deep_trainer(preset: EvalPreset, overrides: dict[str, Any] | None = None) -> Trainer:
    """Train the fusion model (:func:`wearsense.fusion.train.train`) on the given conditions and seed.

    The config is ``preset.train_config`` with ``preset.train`` (and ``overrides``) on
    top, the seed, the conditions trained (and validated) and the takes' FeatureSpec.
    """

    def trainer(conditions: tuple[str, ...], seed: int, train: list[Take], val: list[Take]) -> Predictor:
        from wearsense.fusion.train import load_config
        from wearsense.fusion.train import train as fit

        extra = {**preset.train, **(overrides or {})}
        cfg = load_config(preset.train_config, seed=int(seed), conditions=list(conditions),
                          val_conditions=list(conditions), spec=train[0].spec.to_dict(), **extra)
        return fit(cfg, train, val).model

    return trainer


def _fit_models(fit: Trainer, mode: str, conditions: Sequence[str], seeds: Sequence[int],
                train: list[Take], val: list[Take], say, label: str = "") -> dict:
    """``{(condition, seed): predictor}``: one per condition and seed, or one shared per seed."""
    models = {}
    for s in seeds:
        if mode == "shared":
            t0 = time.monotonic()
            m = fit(tuple(conditions), int(s), train, val)
            models.update({(c, s): m for c in conditions})
            say(f"model{label} (shared over {len(conditions)} conditions) seed {s} trained in "
                f"{time.monotonic() - t0:.0f} s")
            continue
        for c in conditions:
            t0 = time.monotonic()
            models[(c, s)] = fit((c,), int(s), train, val)
            say(f"model{label} {c} seed {s} trained in {time.monotonic() - t0:.0f} s")
    return models


def auto_tracking_threshold(takes: Sequence[Take], horizon_ms: int = 100) -> float:
    """90th percentile of zero-velocity's 250 ms block-mean errors at ``horizon_ms``, deg (mm without angles).

    Computed on validation takes, so the tracking threshold is fixed before the test
    split is scored; a window then "tracks" when no 250 ms block is worse than the
    worst tenth of the zero-velocity baseline's blocks.
    """
    blocks = []
    for take in takes:
        pred = zero_velocity(take)
        h = take.horizon_index(horizon_ms)
        if take.y_angles.shape[2]:
            err = M.angle_error(pred.angles[:, h], take.y_angles[:, h], take.y_ok[:, h])
        else:
            err = M.keypoint_error(pred.kp[:, h], take.y_kp[:, h], take.y_ok[:, h])
        n = max(1, int(round(0.25 * take.spec.step_hz)))
        for i in range(0, len(err) - n + 1, n):
            b = err[i:i + n]
            if np.isfinite(b).all():
                blocks.append(b.mean())
    if not blocks:
        raise ConfigError("cannot set the tracking threshold: no scored validation steps; pass "
                          "tracking_threshold_deg in the preset")
    return float(np.percentile(blocks, 90))


def run_evaluation(
    splits: dict[str, list[Take]],
    preset: EvalPreset,
    *,
    trainer: Trainer | None = None,
    checkpoint: Predictor | None = None,
    meta: dict | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalResult:
    """Train (or load), score and aggregate; see the module docstring.

    Parameters
    ----------
    splits : {"train", "val", "test"} -> takes (see :func:`assign_splits`)
    preset : what to run
    trainer : ``trainer(conditions, seed, train, val) -> predictor``; default:
        :func:`deep_trainer` (the fusion model's training with ``preset.train``)
    checkpoint : a loaded model to score under every condition instead of training
        (one "seed": the checkpoint)
    meta : recorded into the results (command, data description)
    progress : called with one line per finished piece (the CLI prints them)
    """
    say = progress or (lambda _msg: None)
    t_start = time.monotonic()
    train, val, test = splits.get("train", []), splits.get("val", []), splits.get("test", [])
    if not test:
        raise ConfigError("no test takes: the data must hold test movers (see assign_splits)")
    if preset.test_minutes_per_take:
        test = [slice_take(t, 0, min(len(t), int(round(preset.test_minutes_per_take * 60 * t.spec.step_hz))))
                for t in test]
    if checkpoint is None and not train:
        raise ConfigError("no training takes: give more movers or takes, or --checkpoint to score a "
                          "trained model")
    # the error every comparison is made on: joint angles, or keypoints where the data has
    # no joint angles (XDF sessions with keypoint pose streams)
    primary = "angle_error_deg" if test[0].y_angles.shape[2] else "mpjpe_mm"
    unit = "deg" if primary == "angle_error_deg" else "mm"
    if preset.tracking_threshold_deg is None:
        preset = replace(preset, tracking_threshold_deg=round(
            auto_tracking_threshold(val or train or test, preset.tracking_horizon_ms), 3))
        if not (val or train):
            log.warning("tracking threshold set on the test takes: no validation or training takes given")
    # without training takes (a checkpoint scored on test data only) the families it saw are
    # unknown: every test family counts as seen, and the results say so
    seen = seen_families(train) if train else seen_families(test)
    test_movers = sorted({t.mover for t in test})
    movers_held_out = not (set(test_movers) & {t.mover for t in train + val})
    result = EvalResult()
    result.meta = dict(meta or {})
    result.meta.update(
        preset=asdict(preset),
        splits={s: sorted({t.mover for t in splits.get(s, [])}) for s in ("train", "val", "test")},
        split_minutes={s: round(take_minutes(splits.get(s, [])), 2) for s in ("train", "val")}
        | {"test_scored": round(take_minutes(test), 2)},
        test_movers_held_out=movers_held_out,
        families_seen_in_training=sorted(seen),
        families_only_in_test=sorted(
            {str(f) for t in test for f in np.unique(_family_names(t)) if f and f not in seen}),
        horizons_ms=list(HORIZONS_MS),
        definitions=dict(
            angle_error_deg="mean absolute joint-angle error over joints and steps, deg (wrapped)",
            mpjpe_mm="mean Euclidean keypoint error (pelvis-relative), mm",
            skill_pct="100 (1 - error / zero-velocity error), paired bootstrap over movers; zero-velocity "
                      "repeats the newest camera frame (for joint angles from a keypoint camera: the "
                      "noise-free angles at that frame's capture time, an oracle no camera gives)",
            own_skill_pct="100 (1 - error / error of the same predictor's horizon-0 output held), paired "
                          "bootstrap over movers: how much better than predicting no motion from its own "
                          "estimate of now",
            own_skill_ceiling_pct="the own_skill_pct a predictor with the same estimate of now would "
                                  "reach if it knew the true motion from then on: 100 (1 - its 0 ms "
                                  "error / its persistence error); under a mean absolute error a "
                                  "predictor far off the present pose cannot show anticipation",
            vs_camera_pct="100 (1 - error / camera-only error of the same model kind), paired bootstrap",
            lead_time_ms="largest horizon at which the condition's error <= camera-only's error at "
                         "horizon_ms, minus horizon_ms (interpolated); at the last horizon a lower bound",
            tracking_success_pct=f"share of {preset.tracking_window_s:g} s windows whose 250 ms mean "
                                 f"{primary} at {preset.tracking_horizon_ms} ms stays below "
                                 f"{preset.tracking_threshold_deg:g} {unit}",
            onset_latency_ms=f"time from a true onset (from rest) until the 0 ms prediction has moved "
                             f"{preset.onset_threshold_deg:g} deg in any joint from its value 300 ms "
                             "before; negative = before the body",
            jerk_deg_s3="RMS third derivative of the predicted joint angles along issue time",
        ),
    )
    if not movers_held_out:
        result.meta["note"] = "test movers also appear in training (split by take): not held-out movers"
    if not train:
        result.meta["note"] = ("no training takes given: which movers and families the checkpoint saw is "
                               "unknown; every test family is counted as seen")
    result.meta["primary_metric"] = primary
    # the velocity baselines' joint angles are the truth at capture time where the camera
    # delivers keypoints (no inverse kinematics here): an oracle, said in the figures
    result.meta["velocity_baselines_oracle"] = (bool(test[0].y_angles.shape[2])
                                                and not pose_is_angles(test[0]))
    agg = _Aggregator(result, preset, primary)
    conditions = list(preset.conditions)

    # baselines: deterministic, one "seed"
    zv = score(zero_velocity, "camera", test, seen, preset)
    cv = score(constant_velocity, "camera", test, seen, preset)
    agg.add("zero_velocity", "camera", ["-"], [zv])
    agg.add("constant_velocity", "camera", ["-"], [cv])
    agg.paired("constant_velocity", "camera", ["-"], [cv], "zero_velocity/camera", [zv], "skill_pct")
    agg.own_skill("constant_velocity", "camera", ["-"], [cv])
    say(f"baselines scored ({time.monotonic() - t_start:.0f} s)")
    truth_jerk = _truth_jerk(test, seen)
    agg.add("truth", "-", ["-"], [truth_jerk])

    ridge: dict[str, RidgeBaseline] = {}
    ridge_scores: dict[str, dict] = {}
    if preset.ridge and train:
        ridge = RidgeBaseline.fit_many(conditions, train, val)
        for c in conditions:
            ridge_scores[c] = score(ridge[c], c, test, seen, preset)
            agg.add("ridge", c, ["-"], [ridge_scores[c]])
            agg.paired("ridge", c, ["-"], [ridge_scores[c]], "zero_velocity/camera", [zv], "skill_pct")
            agg.own_skill("ridge", c, ["-"], [ridge_scores[c]])
        for c in conditions:
            if c != "camera":
                agg.paired("ridge", c, ["-"], [ridge_scores[c]], "ridge/camera", [ridge_scores["camera"]],
                           "vs_camera_pct")
                agg.lead_time("ridge", c, ["-"], [ridge_scores[c]], [ridge_scores["camera"]], "ridge/camera")
        say(f"ridge baselines fitted and scored ({time.monotonic() - t_start:.0f} s)")

    # the deep model: per condition x seed, one shared per seed, or one checkpoint under every condition
    seeds: list = ["checkpoint"] if checkpoint is not None else list(preset.seeds)
    fit = trainer or deep_trainer(preset)
    if checkpoint is not None:
        models = {(c, "checkpoint"): checkpoint for c in conditions}
    else:
        models = _fit_models(fit, preset.train_mode, conditions, seeds, train, val, say)
    deep: dict[str, list[dict]] = {c: [score(models[(c, s)], c, test, seen, preset) for s in seeds]
                                   for c in conditions}
    say(f"models scored ({time.monotonic() - t_start:.0f} s)")
    for c in conditions:
        agg.add("model", c, seeds, deep[c])
        agg.paired("model", c, seeds, deep[c], "zero_velocity/camera", [zv], "skill_pct")
        agg.own_skill("model", c, seeds, deep[c])
        if c != "camera":
            agg.paired("model", c, seeds, deep[c], "model/camera", deep["camera"], "vs_camera_pct")
            agg.lead_time("model", c, seeds, deep[c], deep["camera"], "model/camera")
    _emg_share(agg, "model", seeds, deep)
    if ridge_scores:
        _emg_share(agg, "ridge", ["-"], {c: [v] for c, v in ridge_scores.items()})

    # robustness: each perturbation on the conditions that see the modality it touches
    if preset.robustness:
        base_models = {c: models.get((c, seeds[0])) for c in conditions}
        for name in preset.robustness:
            touched = PERTURBATIONS[name][1]
            for c in conditions:
                sees = CONDITIONS[c]
                if not any(m in sees for m in touched.split("+")) or c not in preset.robustness_conditions:
                    continue
                for kind, pred in (("model", base_models.get(c)), ("ridge", ridge.get(c))):
                    if pred is None or kind not in preset.robustness_models:
                        continue
                    per = [score(pred, c, test, seen, preset, perturbation=name, perturb_seed=1000 * r)
                           for r in range(preset.robustness_seeds)]
                    merged = _merge_repeats(per)
                    agg.add(kind, c, [seeds[0] if kind == "model" else "-"], [merged], perturbation=name)
                    clean = deep[c][0] if kind == "model" else ridge_scores[c]
                    agg.paired(kind, c, [seeds[0] if kind == "model" else "-"], [merged], f"{kind}/{c}/none",
                               [clean], "vs_unperturbed_pct", perturbation=name)
            say(f"robustness {name} scored ({time.monotonic() - t_start:.0f} s)")

    if preset.efficiency_minutes and train and checkpoint is None:
        _efficiency(result, agg, preset, train, val, test, seen, trainer, say, models, ridge, deep, seeds)

    result.meta["duration_s"] = round(time.monotonic() - t_start, 1)
    return result


#: EMG's own share: the condition with EMG against the same condition without it
EMG_PAIRS = (("all", "camera_imu"), ("inside_out", "imu"))


def _emg_share(agg, kind: str, seeds, per_condition: dict[str, list[dict]]) -> None:
    for with_emg, without in EMG_PAIRS:
        if with_emg in per_condition and without in per_condition:
            agg.paired(kind, with_emg, seeds, per_condition[with_emg], f"{kind}/{without}",
                       per_condition[without], "emg_share_pct")


def _merge_repeats(per: list[dict]) -> dict:
    """Average repeated perturbation draws per mover."""
    if len(per) == 1:
        return per[0]
    out: dict = {}
    for key in per[0]:
        out[key] = _mover_means(per, key)
    return out


def _truth_jerk(test: list[Take], seen: set[str]) -> dict:
    """RMS jerk of the true trajectory per horizon and mover (the reference beside the predictions)."""

    class _Truth:
        def predict_take(self, take, condition):
            return type("P", (), {"angles": take.y_angles, "kp": take.y_kp})()

    per = score(_Truth(), "-", test, seen, EvalPreset(name="truth", tracking_threshold_deg=1.0))
    return {k: v for k, v in per.items() if k[1] == "jerk_deg_s3"}


def _efficiency(result, agg, preset, train, val, test, seen, trainer, say, models, ridge, deep, main_seeds
                ) -> None:
    """Learning curves on the held-out families (or all test) at 100 ms, and the data multiplier."""
    available = take_minutes(train)
    sizes = [m for m in preset.efficiency_minutes if m < available * 0.9999]
    dropped = [m for m in preset.efficiency_minutes if m not in sizes]
    if dropped or preset.efficiency_all:
        sizes.append(round(available, 3))
    result.meta["efficiency_minutes"] = sizes
    if dropped:
        result.meta["efficiency_note"] = (f"training sizes {dropped} min exceed the {available:.1f} min of "
                                          f"training data; the largest size used is all of it")
    subset = "held_out_movers_and_families" if result.meta.get("families_only_in_test") else "all_test"
    result.meta["efficiency_split"] = subset
    cam, fused = preset.efficiency_conditions
    kinds = [("ridge", None)]
    if preset.efficiency_deep:
        kinds.append(("model", trainer or deep_trainer(preset, preset.efficiency_train)))
    h = 100
    for kind, fit in kinds:
        curves: dict[str, list[dict[str, float]]] = {cam: [], fused: []}
        for m in sizes:
            sub = subset_minutes(train, m)
            everything = m >= round(available, 3)
            reuse = False
            if kind == "ridge":
                seeds = ["-"]
                if everything and cam in ridge and fused in ridge:
                    fitted = {(c, "-"): ridge[c] for c in (cam, fused)}
                else:
                    fitted = {(c, "-"): r for c, r in RidgeBaseline.fit_many((cam, fused), sub, val).items()}
            else:
                seeds = list(preset.efficiency_seeds)
                reuse = (everything and not preset.efficiency_train
                         and all((c, s) in models for c in (cam, fused) for s in seeds))
                if reuse:
                    fitted = {(c, s): models[(c, s)] for c in (cam, fused) for s in seeds}
                else:
                    conds = list(preset.conditions) if preset.train_mode == "shared" else [cam, fused]
                    fitted = _fit_models(fit, preset.train_mode, conds, seeds, sub, val, say, f" [{m:g} min]")
            for c in (cam, fused):
                if kind == "model" and reuse:
                    per = [deep[c][list(main_seeds).index(s)] for s in seeds]
                else:
                    per = [score(fitted[(c, s)], c, test, seen, preset) for s in seeds]
                agg.add(kind, c, seeds, per, train_minutes=m)
                curves[c].append(_mover_means(per, (subset, agg.primary, h)))
            say(f"data efficiency {kind} {m:g} min done")
        _multiplier(result, preset, kind, sizes, curves[cam], curves[fused], subset, h)


def _camera_minutes_to_match(sizes, cam_err, target) -> tuple[float, str]:
    """Training minutes at which camera-only's error reaches ``target`` (log-linear interpolation).

    Returns (minutes, kind): "" interpolated; "lower_bound": camera-only never reaches it
    within the sizes (the largest size); "upper_bound": it is already there at the
    smallest size (the smallest size).
    """
    logs = np.log10(np.asarray(sizes, dtype=np.float64))
    e = np.asarray(cam_err, dtype=np.float64)
    for i in range(len(e)):
        if e[i] <= target:
            if i == 0:
                return float(sizes[0]), "upper_bound"
            frac = (e[i - 1] - target) / (e[i - 1] - e[i])
            return float(10 ** (logs[i - 1] + frac * (logs[i] - logs[i - 1]))), ""
    return float(sizes[-1]), "lower_bound"


def _multiplier(result, preset, kind, sizes, cam_curves, fused_curves, subset, h) -> None:
    """How many times more data camera-only needs to match the fused model, per fused size, with intervals."""
    movers = sorted(set.intersection(*(set(c) for c in cam_curves + fused_curves))) if cam_curves else []
    if not movers:
        return
    C = np.array([[c[m] for c in cam_curves] for m in movers])
    F = np.array([[c[m] for c in fused_curves] for m in movers])
    rng = np.random.default_rng(777)
    idx = rng.integers(0, len(movers), size=(preset.n_boot, len(movers)))
    for j, size in enumerate(sizes):
        need, bound = _camera_minutes_to_match(sizes, C.mean(0), F.mean(0)[j])
        boots = []
        for i in idx:
            n_i, b_i = _camera_minutes_to_match(sizes, C[i].mean(0), F[i].mean(0)[j])
            boots.append(_NEVER if b_i == "lower_bound" else n_i / size)
        boots = np.array(boots)
        lo, hi = (float(np.percentile(boots, q)) for q in (2.5, 97.5))
        lo, hi = (np.inf if x >= _NEVER else x for x in (lo, hi))
        result.rows.append(dict(
            model=kind, condition=preset.efficiency_conditions[1], split=subset, perturbation="none",
            train_minutes=size, horizon_ms=h,
            metric=f"data_multiplier_{bound}" if bound else "data_multiplier",
            value=need / size, ci_low=float(lo), ci_high=float(hi) if np.isfinite(hi) else float("inf"),
            n_movers=len(movers), seeds=" ".join(str(s) for s in preset.efficiency_seeds),
            reference=f"{kind}/{preset.efficiency_conditions[0]}"))

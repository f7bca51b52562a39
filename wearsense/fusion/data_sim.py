"""Sim shards (``wearsense sim generate``) read as :class:`~wearsense.fusion.frames.Take`.

One shard (one take of one mover, :mod:`wearsense.sim.datasets`) at a time, streamed
from the HDF5 file block by block through :class:`~wearsense.fusion.featurize.StepFeaturizer`,
so a dataset is never loaded whole.

Clock: a shard holds each stream's device timestamps and the true capture time of every
sample (``true_t``), but not the packets' host arrival times, which are what the sync
layer's clock models fit (:func:`wearsense.sync.sync_stored`). The sim's host clock
is true time plus a constant epoch with no drift (:mod:`wearsense.sim.clocks`), so
``true_t`` *is* the host clock (epoch 0): EMG and IMU samples are pushed at ``true_t``,
pose frames at ``true_t + pose_latency_ms``: the camera stamps a frame when it leaves
the pipeline, and that stamp, mapped to the host clock, is what a live session and a
recorded one put on the frame (the link's few ms more only delay when a live step is
*computed*: it waits until every stream has delivered up to it). What this leaves out
is the sync layer's own mapping error (sub-millisecond on the sim's links,
docs/sync.md), which recorded sessions (:func:`~wearsense.fusion.data_xdf.read_xdf`) do
go through.

Targets: ``y_angles`` are the truth joint angles (100 Hz) at ``t + h``, by
:func:`wearsense.dsp.resample.interpolate_to`; ``y_kp`` are the keypoints of those
angles by the sim's forward kinematics with the mover's own segment lengths, in the
body frame of :func:`~wearsense.fusion.featurize.body_frame` (pelvis at the origin,
facing +x). IMUs: each stream's metadata holds the N-pose calibration the take began
with (:func:`wearsense.calibrate.simsession.calibrate_session`); ``FeatureSpec.imu_frame="segment"``
turns the IMU into segment axes with it. Labels: ``family``/``kind`` of the movement under way at ``t`` (truth
labels), ``onset`` 1 at the first step at or after each movement's planned start.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from wearsense.dsp.resample import interpolate_to
from wearsense.errors import FormatError
from wearsense.fusion.featurize import StepFeaturizer, concat_steps
from wearsense.fusion.frames import FeatureSpec, Take
from wearsense.stream import Chunk, StreamInfo

__all__ = ["read_sim", "read_shard", "shard_paths", "sim_targets", "by_phrase", "phrase_split_of", "SPLITS"]

SPLITS = ("train", "val", "test")


def shard_paths(root: str | Path) -> list[Path]:
    """The shard files of a sim dataset folder, sorted (mover, then take)."""
    root = Path(root)
    if not root.is_dir():
        raise FormatError(f"{root}: no such sim dataset folder; make one with 'wearsense sim generate'",
                          str(root))
    paths = sorted(root.glob("mover-*_take-*.h5"))
    if not paths:
        raise FormatError(
            f"{root}: holds no shards (mover-*_take-*.h5); run 'wearsense sim generate {root}'", str(root)
        )
    return paths


def _attr_json(a, key: str, path: Path):
    try:
        return json.loads(a[key])
    except KeyError:
        raise FormatError(f"{path}: shard lacks attribute {key!r}; regenerate it", str(path)) from None


def _infos(f, path: Path) -> dict[str, StreamInfo]:
    infos = {}
    for name, g in f.items():
        if name in ("truth", "movements") or "data" not in g:
            continue
        a = g.attrs
        units = _attr_json(a, "units", path)
        infos[name] = StreamInfo(
            name, str(a["modality"]).removeprefix("Modality."), _attr_json(a, "channels", path),
            units, float(a["rate_hz"]), f"{name}", _attr_json(a, "metadata", path),
        )
    return infos


def sim_targets(spec: FeatureSpec, t: np.ndarray, truth_t: np.ndarray, angles: np.ndarray,
                segment_scale: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Targets at ``t + h`` for every horizon: joint angles (K, H, J) deg, keypoints in the body
    frame (K, H, Q, 3) m, and whether the time lies inside the truth (K, H)."""
    from wearsense.fusion.featurize import body_frame
    from wearsense.sim.body import KEYPOINTS, forward_kinematics, keypoints

    h = np.asarray(spec.horizons_ms, dtype=np.float64) * 1e-3
    tq = (t[:, None] + h[None, :]).ravel()
    y = interpolate_to(truth_t, angles, tq)
    ok = np.isfinite(y).all(axis=1)
    y[~ok] = 0.0
    n = tq.size
    rot, pos = forward_kinematics(y, np.zeros((n, 2)), np.zeros(n), segment_scale)
    kp = body_frame(keypoints(rot, pos, segment_scale), [k[0] for k in KEYPOINTS])
    kp[~ok] = 0.0
    k, hn = t.size, h.size
    return (y.reshape(k, hn, -1).astype(np.float32), kp.reshape(k, hn, -1, 3).astype(np.float32),
            ok.reshape(k, hn))


def read_shard(path: str | Path, spec: FeatureSpec = FeatureSpec(), block_s: float = 10.0) -> Take:
    """One sim shard as a :class:`Take` (streamed from the file in ``block_s`` blocks)."""
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise FormatError(f"{path}: not a readable HDF5 sim shard ({e}); regenerate it with "
                          "'wearsense sim generate' (it resumes, rewriting only incomplete shards)",
                          str(path)) from None
    with f:
        a = f.attrs
        if not bool(a.get("complete", False)):
            raise FormatError(
                f"{path}: shard is incomplete (written by an interrupted run); run 'wearsense sim generate' "
                "again with the same settings to finish it", str(path)
            )
        for need in ("truth", "movements"):
            if need not in f:
                raise FormatError(f"{path}: shard has no /{need}; regenerate it", str(path))
        cfg = _attr_json(a, "config", path)
        traits = _attr_json(a, "traits", path)
        infos = _infos(f, path)
        emg_imu = [n for n, i in infos.items() if i.modality.value in ("EMG", "IMU")]
        pose_names = [n for n, i in infos.items() if i.modality.value == "POSE"]
        pose_lat = float(cfg.get("pose_latency_ms", 0.0)) * 1e-3
        times = {n: np.asarray(f[n]["true_t"][:], dtype=np.float64) for n in infos}
        # a pose frame is there to use once through the camera pipeline (its timestamp)
        for n in pose_names:
            times[n] = times[n] + pose_lat
        present = [n for n in emg_imu if times[n].size]
        if not present:
            raise FormatError(f"{path}: shard holds no EMG or IMU samples; regenerate it", str(path))
        dt = spec.step_s
        first = max(times[n][0] for n in present)
        end = min(times[n][-1] for n in present)
        start = math.ceil((first + dt) / dt - 1e-9) * dt
        if spec.imu_frame == "segment":
            bare = [n for n, i in infos.items()
                    if i.modality.value == "IMU" and "calibration" not in i.metadata]
            if bare:
                raise FormatError(
                    f"{path}: IMU streams {', '.join(bare)} carry no sensor-to-segment calibration (the "
                    "shard was written before sim sessions began with one, or with --no-calibrate), and "
                    "FeatureSpec.imu_frame='segment' needs it; generate the dataset again into a new folder "
                    "(complete shards are kept, not rewritten), or read it with imu_frame='sensor'",
                    str(path))
        feat = StepFeaturizer(spec, infos, pose_latency_s=pose_lat, start_s=start)
        parts = []
        pos = {n: 0 for n in infos}
        edge = times[present[0]][0]
        while True:
            edge = min(edge + block_s, end + 1e-6)
            for n, info in infos.items():
                tt = times[n]
                j = int(np.searchsorted(tt, edge, side="left"))
                i = pos[n]
                if j > i:
                    g = f[n]
                    c = Chunk(g["data"][i:j], tt[i:j], g["seq"][i:j], "host")
                    feat.push(n, c)
                    pos[n] = j
            parts.append(feat.advance(min(np.nextafter(edge, -math.inf), end)))
            if edge >= end:
                break
        steps = concat_steps(parts)
        tr = f["truth"]
        truth_t = tr["t"][:]
        seg = traits.get("segment_scale")
        seg = np.asarray(seg, dtype=np.float64) if seg else None
        y_angles, y_kp, y_ok = sim_targets(spec, steps["t"], truth_t, tr["joint_angles"][:], seg)
        t = steps["t"]
        lab_i = np.clip(np.searchsorted(truth_t, t, side="right") - 1, 0, max(truth_t.size - 1, 0))
        family = tr["family"][:][lab_i].astype(np.int16)
        kind = tr["kind"][:][lab_i].astype(np.int16)
        phrase = tr["phrase"][:][lab_i].astype(np.int32)
        mv = f["movements"][:]
        onset = np.zeros(t.size, np.int8)
        if t.size and mv.size:
            k = np.searchsorted(t, mv["start"], side="left")
            onset[k[k < t.size]] = 1
        from wearsense.sim.body import KEYPOINTS

        names = {
            **feat.names,
            "joints": json.loads(tr.attrs["joints"]),
            "keypoints": [k[0] for k in KEYPOINTS],
            "families": json.loads(tr.attrs["family_names"]),
            "kinds": json.loads(tr.attrs["kind_names"]),
        }
        seed = int(a["seed"])
        meta = {
            "source": "sim",
            "shard": path.name,
            "seed": seed,
            "take": int(a["take"]),
            "session": int(a["session"]),
            "generator": str(a["generator"]),
            "families": json.loads(a["families"]),
            "duration_s": float(a["duration_s"]),
            "pose_latency_s": pose_lat,
            "pose_kind": feat.pose_kind,
            "imu_frame": spec.imu_frame,
            "calibration": json.loads(a["calibration"]) if "calibration" in a else {},
            "clock": "sim true time = host clock (epoch 0); see wearsense.fusion.data_sim",
            "rates_hz": {n: i.rate_hz for n, i in infos.items()},
        }
        return Take(
            name=path.stem, mover=f"mover-{seed:05d}", split=str(a["split"]), spec=spec,
            y_angles=y_angles, y_kp=y_kp, y_ok=y_ok,
            labels={"family": family, "kind": kind, "phrase": phrase, "onset": onset},
            names=names, meta=meta, **steps,
        )


def _shard_split(path: Path) -> tuple[str, int, list[str]]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return str(f.attrs["split"]), int(f.attrs["seed"]), json.loads(f.attrs["families"])
    except (OSError, KeyError) as e:
        raise FormatError(f"{path}: cannot read the shard's split ({e}); regenerate it", str(path)) from None


def phrase_split_of(seed: int, take: int, phrase: int, fractions: tuple[float, float]) -> str:
    """The split a phrase falls in under ``phrase_split=(val_fraction, test_fraction)``: drawn
    from (mover seed, take, phrase) alone, so it does not depend on what else is read."""
    u = np.random.default_rng([int(seed), int(take), int(phrase) + 1, 0x5EA]).random()
    val, test = fractions
    return "test" if u < test else "val" if u < test + val else "train"


def by_phrase(take: Take, fractions: tuple[float, float]) -> list[Take]:
    """Cut a sim take where each phrase begins; each piece gets the split of its phrase
    (:func:`phrase_split_of`). Rest before the first phrase goes with it; the rest after a
    phrase with that phrase."""
    ph = take.labels["phrase"]
    starts = [0]
    seen = set()
    for i, p in enumerate(ph):
        if p >= 0 and p not in seen:
            seen.add(int(p))
            if i > 0 and len(seen) > 1:
                starts.append(i)
    bounds = starts + [len(take)]
    out = []
    for a, z in zip(bounds[:-1], bounds[1:]):
        valid = ph[a:z][ph[a:z] >= 0]
        phrase = int(valid[0]) if valid.size else -1
        split = phrase_split_of(take.meta["seed"], take.meta["take"], phrase, fractions)
        piece = take.slice(a, z, name=f"{take.name}_phrase-{phrase:03d}", split=split)
        piece.meta["phrase"] = phrase
        out.append(piece)
    return out


def read_sim(
    root: str | Path,
    spec: FeatureSpec = FeatureSpec(),
    split: str | Iterable[str] | None = None,
    *,
    movers: Iterable[int] | None = None,
    families: Iterable[str] | None = None,
    phrase_split: tuple[float, float] | None = None,
    block_s: float = 10.0,
) -> Iterator[Take]:
    """The takes of a sim dataset folder, lazily, one shard at a time.

    Parameters
    ----------
    root : path
        Folder written by ``wearsense sim generate`` / :func:`wearsense.sim.datasets.generate_dataset`.
    split : "train", "val", "test", or several; None for all
        By mover, as the dataset assigned them (a test mover is a person never trained on).
    movers : iterable of int, optional
        Keep only these movers (their seeds).
    families : iterable of str, optional
        Keep only takes in which one of these movement families is performed (with
        ``hold_out_families`` at generation, the held-out families appear in test takes only).
    phrase_split : (val_fraction, test_fraction), optional
        Split by phrase instead of by mover: every take is cut where each phrase of its
        choreography begins, and each piece goes to train, val or test by a draw keyed on
        (mover, take, phrase) (:func:`by_phrase`): the same people, phrases never seen.
        ``split`` then selects pieces. (A piece's inputs carry the DSP state of the steps
        before it, as live; a train piece's last targets reach up to the longest horizon
        into the next phrase.)
    """
    splits = None if split is None else ({split} if isinstance(split, str) else set(split))
    if splits is not None and not splits <= set(SPLITS):
        raise FormatError(f"split {sorted(splits)}: splits are {', '.join(SPLITS)}")
    want_movers = None if movers is None else {int(m) for m in movers}
    want_families = None if families is None else set(families)
    for path in shard_paths(root):
        s, seed, fams = _shard_split(path)
        if splits is not None and s not in splits and phrase_split is None:
            continue
        if want_movers is not None and seed not in want_movers:
            continue
        if want_families is not None and not want_families.intersection(fams):
            continue
        if phrase_split is None:
            yield read_shard(path, spec, block_s)
            continue
        for piece in by_phrase(read_shard(path, spec, block_s), phrase_split):
            if splits is None or piece.split in splits:
                yield piece

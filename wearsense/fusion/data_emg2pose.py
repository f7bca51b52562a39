"""The emg2pose layout (Salter et al., NeurIPS 2024 Datasets and Benchmarks) read as
:class:`~wearsense.fusion.frames.Take`.

Layout, as the dataset documents it: one HDF5 file per session and stage
(``<filename>.hdf5``), holding group ``emg2pose`` with the compound dataset
``timeseries`` of fields ``emg`` (T×16 sEMG at 2 kHz, µV), ``joint_angles`` (T×20
hand joint angles, rad, from motion capture by inverse kinematics) and ``time`` (s);
and ``metadata.csv`` with one row per file: ``filename``, ``user``, ``session``,
``stage``, ``side``, ``moving_hand``, ``held_out_user``, ``held_out_stage``, ``split``
(train / val / test) and ``generalization`` (user, stage, user_stage). Rows where
every joint angle is 0 are inverse-kinematics failures (as the emg2pose tools mark
them): masked, never used as input or target.

How a session becomes a take:

- EMG goes through :class:`~wearsense.fusion.featurize.StepFeaturizer` at the file's
  ``time`` (host clock = ``time - time[0]``).
- There is no IMU: the takes have no IMU slot (``imu`` shape (K, 0, 10)).
- Pose input: the joint angles seen as a camera would deliver them,
  ``pose_rate_hz`` frames a second (default 60), each usable ``pose_latency_s`` after
  capture (default 0.05 s: the sim camera's latency, so a condition means the same on
  both; 0 would hand the model the mocap pose of *now*, making horizon 0 trivial).
  ``Take.pose`` holds them in degrees.
- Targets: the joint angles (deg) at ``t + h`` from the full 2 kHz mocap (``y_kp`` is
  None: the dataset's hand model is not part of wearsense).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from wearsense.dsp.resample import interpolate_to
from wearsense.errors import ConfigError, FormatError
from wearsense.fusion.featurize import StepFeaturizer
from wearsense.fusion.frames import FeatureSpec, Take
from wearsense.stream import Chunk, StreamInfo

__all__ = ["read_emg2pose", "read_emg2pose_session", "metadata_rows", "EMG2POSE_COLUMNS"]

#: Columns of ``metadata.csv`` the reader needs (the others are kept in ``Take.meta`` when present).
EMG2POSE_COLUMNS = ("filename", "user", "split")
_OPTIONAL = ("session", "stage", "side", "moving_hand", "held_out_user", "held_out_stage", "generalization",
             "start", "end")
EMG_RATE_HZ = 2000.0


def metadata_rows(root: str | Path) -> list[dict[str, str]]:
    """The rows of ``root/metadata.csv``; an error names a missing file or column."""
    path = Path(root) / "metadata.csv"
    if not path.exists():
        raise FormatError(
            f"{path}: no metadata.csv; an emg2pose folder holds the session .hdf5 files and the dataset's "
            "metadata.csv (columns filename, user, split, ...) side by side", str(path)
        )
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in EMG2POSE_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise FormatError(
                f"{path}: metadata.csv lacks column(s) {missing} (has {reader.fieldnames}); use the "
                "dataset's own metadata.csv", str(path)
            )
        return list(reader)


def _timeseries(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise FormatError(f"{path}: not a readable HDF5 file ({e})", str(path)) from None
    with f:
        if "emg2pose" not in f or "timeseries" not in f["emg2pose"]:
            raise FormatError(
                f"{path}: no dataset emg2pose/timeseries (top level: {list(f.keys())}); this is not an "
                "emg2pose session file", str(path)
            )
        ds = f["emg2pose"]["timeseries"]
        names = ds.dtype.names or ()
        missing = [n for n in ("emg", "joint_angles", "time") if n not in names]
        if missing:
            raise FormatError(
                f"{path}: emg2pose/timeseries lacks field(s) {missing} (fields: {list(names)}); expected a "
                "compound dataset with emg (T x 16), joint_angles (T x 20) and time", str(path)
            )
        data = ds[:]
    t = np.asarray(data["time"], dtype=np.float64).reshape(-1)
    emg = np.asarray(data["emg"], dtype=np.float32)
    ja = np.asarray(data["joint_angles"], dtype=np.float64)
    if emg.ndim != 2 or ja.ndim != 2 or len(emg) != len(t) or len(ja) != len(t):
        raise FormatError(f"{path}: emg {emg.shape}, joint_angles {ja.shape} and time {t.shape} do not "
                          "have one row per sample", str(path))
    if t.size < 2 or not np.isfinite(t).all() or (np.diff(t) <= 0).any():
        raise FormatError(f"{path}: time must be finite and increasing (s)", str(path))
    return t - t[0], emg, ja


def read_emg2pose_session(
    path: str | Path,
    spec: FeatureSpec = FeatureSpec(),
    row: dict[str, str] | None = None,
    *,
    pose_rate_hz: float = 60.0,
    pose_latency_s: float = 0.05,
) -> Take:
    """One emg2pose session file as a :class:`Take` (``row``: its metadata.csv row)."""
    if not isinstance(spec, FeatureSpec):
        raise ConfigError(f"read_emg2pose: spec must be a FeatureSpec, got {spec!r} (pass split=... by name)",
                          "spec")
    path = Path(path)
    row = row or {}
    t, emg, ja = _timeseries(path)
    failed = np.isclose(ja, 0.0).all(axis=1)  # inverse-kinematics failures
    angles = np.where(failed[:, None], np.nan, ja)
    c, j = emg.shape[1], ja.shape[1]
    emg_info = StreamInfo("emg2pose-emg", "EMG", [f"emg{i}" for i in range(c)], "uV", EMG_RATE_HZ,
                          f"emg2pose:{row.get('user', '')}")
    joints = [f"joint{i}" for i in range(j)]
    pose_info = StreamInfo("emg2pose-pose", "POSE", joints, "rad", pose_rate_hz, "emg2pose:mocap",
                           {"nan_allowed": True, "latency_s": pose_latency_s})
    frames = np.arange(0.0, t[-1], 1.0 / pose_rate_hz)
    pose = interpolate_to(t, angles, frames)
    dt = spec.step_s
    start = math.ceil((t[0] + dt) / dt - 1e-9) * dt
    feat = StepFeaturizer(spec, [emg_info, pose_info], pose_latency_s=pose_latency_s, start_s=start)
    feat.push(emg_info.name, Chunk(emg, t, 0, "host"))
    feat.push(pose_info.name, Chunk(pose, frames + pose_latency_s, 0, "host"))
    steps = feat.advance(t[-1])
    if steps["t"].size == 0:
        raise FormatError(f"{path}: shorter than one step", str(path))
    h = np.asarray(spec.horizons_ms, dtype=np.float64) * 1e-3
    k, hn = steps["t"].size, h.size
    tq = (steps["t"][:, None] + h[None, :]).ravel()
    y = interpolate_to(t, np.rad2deg(angles), tq, max_gap_s=2.5 / EMG_RATE_HZ)
    ok = np.isfinite(y).all(axis=1)
    y[~ok] = 0.0
    meta = {"source": "emg2pose", "file": path.name, "pose_latency_s": pose_latency_s,
            "pose_rate_hz": pose_rate_hz,
            "pose_kind": feat.pose_kind, "ik_failure_fraction": float(failed.mean()),
            "clock": "emg2pose time - time[0]",
            "rates_hz": {emg_info.name: EMG_RATE_HZ, pose_info.name: pose_rate_hz},
            **{key: row[key] for key in _OPTIONAL if key in row}}
    return Take(
        name=path.stem, mover=str(row.get("user", path.stem)), split=str(row.get("split", "train")),
        spec=spec,
        y_angles=y.reshape(k, hn, j).astype(np.float32), y_kp=None, y_ok=ok.reshape(k, hn),
        labels={"family": np.full(k, -1, np.int16), "kind": np.full(k, -1, np.int16),
                "onset": np.zeros(k, np.int8)},
        names={**feat.names, "joints": joints, "keypoints": [], "families": [], "kinds": []},
        meta=meta, **steps,
    )


def read_emg2pose(
    root: str | Path,
    spec: FeatureSpec = FeatureSpec(),
    split: str | Iterable[str] | None = None,
    *,
    generalization: str | Iterable[str] | None = None,
    users: Iterable[str] | None = None,
    skip_missing: bool = False,
    pose_rate_hz: float = 60.0,
    pose_latency_s: float = 0.05,
) -> Iterator[Take]:
    """Takes of an emg2pose folder (``*.hdf5`` + ``metadata.csv``), one per file, lazily.

    Parameters
    ----------
    split : "train", "val", "test", several, or None for all
        The ``split`` column: the dataset's own held-out users and stages.
    generalization : "user", "stage", "user_stage", several, or None
        Keep test rows of these kinds of generalisation only (the ``generalization`` column).
    users : iterable of str, optional
        Keep only these users.
    skip_missing : bool
        Skip rows whose file is not in the folder (a partial download); by default a
        missing file is an error naming it.
    """
    root = Path(root)
    rows = metadata_rows(root)
    want = None if split is None else ({split} if isinstance(split, str) else set(split))
    gen = None if generalization is None else ({generalization} if isinstance(generalization, str)
                                               else set(generalization))
    who = None if users is None else {str(u) for u in users}
    chosen = [r for r in rows
              if (want is None or r["split"] in want)
              and (gen is None or r.get("generalization") in gen)
              and (who is None or r["user"] in who)]
    missing = [r["filename"] for r in chosen if not (root / f"{r['filename']}.hdf5").exists()]
    if missing and not skip_missing:
        raise FormatError(
            f"{root}: {len(missing)} file(s) of metadata.csv are not in the folder (first: "
            f"{missing[0]}.hdf5); download them, or pass skip_missing=True", str(root)
        )
    for r in chosen:
        path = root / f"{r['filename']}.hdf5"
        if path.exists():
            yield read_emg2pose_session(path, spec, r, pose_rate_hz=pose_rate_hz,
                                        pose_latency_s=pose_latency_s)

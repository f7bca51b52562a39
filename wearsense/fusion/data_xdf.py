"""Recorded sessions (XDF: ours, LabRecorder's, any writer's) read as :class:`~wearsense.fusion.frames.Take`.

A session needs EMG, IMU and pose (``MoCap``/POSE) streams. Per file:

1. :func:`wearsense.io.xdf.load` reads it; the clocks go through the sync layer
   (:func:`wearsense.sync.sync_stored`, with the clock segments the recorder noted)
   when every stream carries host arrival times, as wearsense recordings do. Files of
   other writers (no arrival times) keep their stored timestamps, corrected by the
   XDF ClockOffset chunks where there are any (LabRecorder's: stream time + offset =
   recorder time).
2. The pose latency (capture -> timestamp: camera pipeline) is, in order: the
   ``pose_latency_s`` argument, the profile's ``sync.pose_lag_s``, the IMU⇄pose
   lag measured from the movement itself (:func:`wearsense.sync.align_imu_pose`,
   used when its confidence is at least ``min_align_confidence``), the pose stream's
   ``metadata["latency_s"]``, else 0. ``Take.meta["pose_latency_from"]`` says which.
3. :class:`~wearsense.fusion.featurize.StepFeaturizer` makes the steps (with the
   calibration profile when given: IMU corrections, MVC for ``emg_norm="mvc"``).
4. Targets come from the pose stream itself: the frames at *capture* time ``t + h``
   (interpolated, never across a gap longer than 2.5 frames: those are ``y_ok``
   False). Keypoint streams give ``y_kp`` in the body frame; a pose stream of joint
   angles (deg/rad) gives ``y_angles``. Keypoints alone give no joint angles
   (``y_angles`` has J = 0 and ``names["joints"]`` is empty): wearsense has no inverse
   kinematics of a lab's own marker set.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wearsense.dsp.resample import interpolate_to
from wearsense.errors import AlignmentError, FormatError
from wearsense.fusion.featurize import StepFeaturizer, body_frame, keypoint_names
from wearsense.fusion.frames import FeatureSpec, Take
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["read_xdf", "xdf_paths"]

_USED = (Modality.EMG, Modality.IMU, Modality.POSE)


def xdf_paths(path: str | Path) -> list[Path]:
    """An ``.xdf`` file, or the ``.xdf`` files of a folder (sorted)."""
    p = Path(path)
    if p.is_dir():
        files = sorted(p.glob("*.xdf"))
        if not files:
            raise FormatError(f"{p}: folder holds no .xdf files", str(p))
        return files
    if not p.exists():
        raise FormatError(f"{p}: no such file", str(p))
    return [p]


def _profiles(profile: Any, streams: Mapping[str, tuple[StreamInfo, Chunk]]) -> Any:
    if isinstance(profile, str):
        if profile != "recorded":
            raise FormatError(f"profile={profile!r}: pass a Profile, a mapping stream -> Profile, "
                              "'recorded' (the profiles the recording kept in its metadata) or None")
        from wearsense.calibrate.profile import profile_of

        found = {n: profile_of(info) for n, (info, _) in streams.items()}
        return {n: p for n, p in found.items() if p is not None}
    return profile


def _host_clock(f, names: list[str], segments) -> tuple[dict[str, tuple[StreamInfo, Chunk]], str]:
    from wearsense.sync.timeline import sync_stored

    stored = {n: f.streams[n] for n in names}
    if all(s.received_s.size and np.isfinite(s.received_s).all() for s in stored.values()):
        out, _ = sync_stored(stored, segments={n: r for n, r in segments.items() if n in stored})
        return out, "host clock by the sync layer's clock models (sync_stored)"
    out = {}
    for n, s in stored.items():
        t = s.chunk.t
        off = np.asarray(s.clock_offsets, dtype=np.float64).reshape(-1, 2)
        if off.size:
            t = t + (np.interp(t, off[:, 0], off[:, 1]) if len(off) > 1 else off[0, 1])
        out[n] = (s.info, Chunk(s.chunk.data, t, s.chunk.seq, "session"))
    return out, "stored timestamps (no arrival times in the file), with XDF clock offsets where given"


def read_xdf(
    path: str | Path,
    spec: FeatureSpec = FeatureSpec(),
    profile: Any = None,
    *,
    pose_latency_s: float | None = None,
    pose_stream: str | None = None,
    split: str = "train",
    mover: str | None = None,
    min_align_confidence: float = 0.8,
) -> Iterator[Take]:
    """Takes of recorded XDF sessions, one per file, lazily.

    Parameters
    ----------
    path : path
        An ``.xdf`` file or a folder of them.
    spec : FeatureSpec
    profile : Profile, mapping stream name -> Profile, "recorded", or None
        Calibration to apply; ``"recorded"``: the profiles the recording kept in each
        stream's metadata (``StreamInfo.metadata["calibration"]``).
    pose_latency_s : float, optional
        Capture -> timestamp latency of the pose stream (s); default: see the module docstring.
    pose_stream : str, optional
        Which pose stream (default: the only one; an error when there are several).
    split, mover : str
        What to put in ``Take.split`` / ``Take.mover`` (default mover: the file's stem).
    """
    from wearsense.io.xdf import load
    from wearsense.io.xdf.events import clock_segments

    for p in xdf_paths(path):
        f = load(p)
        by_mod: dict[Modality, list[str]] = {m: [] for m in _USED}
        for n, s in f.streams.items():
            if s.info.modality in by_mod and s.strings is None:
                by_mod[s.info.modality].append(n)
        if pose_stream is not None:
            if pose_stream not in by_mod[Modality.POSE]:
                raise FormatError(f"{p}: no pose stream {pose_stream!r}; pose streams: "
                                  f"{', '.join(by_mod[Modality.POSE]) or 'none'}", str(p))
            by_mod[Modality.POSE] = [pose_stream]
        missing = [m.value for m in _USED if not by_mod[m]]
        if missing:
            have = ", ".join(f"{n} ({s.info.modality.value})" for n, s in f.streams.items()) or "none"
            raise FormatError(
                f"{p}: the fusion reader needs EMG, IMU and pose streams; missing {', '.join(missing)} "
                f"(streams: {have}). Record them together (e.g. 'wearsense record sim://mover "
                "lsl://type=MoCap'), "
                "or mark a stream's type (XDF <type>: EMG, IMU, MoCap)", str(p)
            )
        if len(by_mod[Modality.POSE]) > 1:
            raise FormatError(f"{p}: several pose streams {by_mod[Modality.POSE]}; choose one with "
                              "pose_stream=", str(p))
        names = [n for m in _USED for n in by_mod[m]]
        streams, clock = _host_clock(f, names, clock_segments(f.events))
        prof = _profiles(profile, streams)
        pname = by_mod[Modality.POSE][0]
        pinfo, pchunk = streams[pname]
        latency, source = _pose_latency(pose_latency_s, prof, streams, by_mod, pname, min_align_confidence)
        sensors = [streams[n][1] for n in names if n != pname and streams[n][1].n]
        if not sensors:
            raise FormatError(f"{p}: the EMG and IMU streams hold no samples", str(p))
        first = max(c.t[0] for c in sensors)
        end = min(c.t[-1] for c in sensors)
        dt = spec.step_s
        start = math.ceil((first + dt) / dt - 1e-9) * dt
        feat = StepFeaturizer(spec, {n: streams[n][0] for n in names}, prof, pose_latency_s=latency,
                              start_s=start)
        for n in names:
            feat.push(n, streams[n][1])
        steps = feat.advance(end)
        if steps["t"].size == 0:
            raise FormatError(f"{p}: the EMG and IMU streams do not overlap in time; nothing to read", str(p))
        y_angles, y_kp, y_ok, joints = _pose_targets(spec, steps["t"], pinfo, pchunk, latency, feat)
        k = steps["t"].size
        names_out = {**feat.names, "joints": joints,
                     "keypoints": list(feat._kp_names or []), "families": [], "kinds": []}
        meta = {
            "source": "xdf", "file": p.name, "clock": clock, "pose_latency_s": latency,
            "pose_latency_from": source, "pose_kind": feat.pose_kind,
            "rates_hz": {n: streams[n][0].rate_hz for n in names},
            "writer": f.writer, "closed_cleanly": f.closed_cleanly,
        }
        yield Take(
            name=p.stem, mover=mover or p.stem, split=split, spec=spec,
            y_angles=y_angles, y_kp=y_kp, y_ok=y_ok,
            labels={"family": np.full(k, -1, np.int16), "kind": np.full(k, -1, np.int16),
                    "onset": np.zeros(k, np.int8)},
            names=names_out, meta=meta, **steps,
        )


def _pose_latency(given, prof, streams, by_mod, pname, min_conf) -> tuple[float, str]:
    if given is not None:
        return float(given), "argument"
    pinfo = streams[pname][0]
    p = StepFeaturizer._profile_for(prof, pinfo)
    if p is not None and p.sections.get("sync", {}).get("pose_lag_s") is not None:
        return float(p.sections["sync"]["pose_lag_s"]), "profile"
    if keypoint_names(pinfo) is not None:
        from wearsense.sync.align import align_imu_pose

        try:
            a = align_imu_pose([streams[n] for n in by_mod[Modality.IMU]], streams[pname])
            if a.confidence >= min_conf and a.lag_s >= 0:
                return float(a.lag_s), f"align_imu_pose (confidence {a.confidence:.2f})"
        except AlignmentError:
            pass
    lat = pinfo.metadata.get("latency_s")
    if lat is not None:
        return float(lat), "metadata"
    return 0.0, "none known (0)"


def _pose_targets(spec: FeatureSpec, t: np.ndarray, info: StreamInfo, chunk: Chunk, latency: float,
                  feat: StepFeaturizer):
    """Future pose at capture time t + h from the pose stream: (y_angles, y_kp, y_ok, joint names)."""
    h = np.asarray(spec.horizons_ms, dtype=np.float64) * 1e-3
    tq = (t[:, None] + h[None, :]).ravel()
    capture = chunk.t - latency
    gap = 2.5 / info.rate_hz if info.rate_hz > 0 else 0.25
    k, hn = t.size, h.size
    x = chunk.data.astype(np.float64)
    if feat.pose_kind == "keypoints":
        kp = body_frame(x.reshape(chunk.n, -1, 3) * feat._pose_scale, feat._kp_names).reshape(chunk.n, -1)
        y = interpolate_to(capture, kp, tq, max_gap_s=gap)
        ok = np.isfinite(y).all(axis=1)
        y[~ok] = 0.0
        y_kp = y.reshape(k, hn, -1, 3).astype(np.float32)
        return np.zeros((k, hn, 0), np.float32), y_kp, ok.reshape(k, hn), []
    y = interpolate_to(capture, x * feat._pose_scale, tq, max_gap_s=gap)
    ok = np.isfinite(y).all(axis=1)
    y[~ok] = 0.0
    return y.reshape(k, hn, -1).astype(np.float32), None, ok.reshape(k, hn), list(info.channels)

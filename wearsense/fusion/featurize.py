"""The one place where streams become step frames: :class:`StepFeaturizer`.

Live prediction and every offline reader (sim shards, XDF sessions, the emg2pose
layout) push chunks in the host clock and take steps out, so a model sees in training
exactly what it will see live. Everything here is causal and chunk-invariant: a step
``t`` is made only from samples stamped at or before ``t`` (pose: frames that have
*arrived* by ``t``), and splitting the input into chunks of any size gives the same
steps bit for bit (tested, as is the perturbation test of strict causality).

Per step (see :mod:`wearsense.fusion.frames` for shapes):

- **EMG**: the causal envelope of :class:`~wearsense.dsp.EmgChain` (DC removal,
  band-pass, mains notches, rectification, low-pass) sampled, newest sample at or
  before each instant, at ``emg_patch`` instants over the step, as
  ``log1p(envelope / 10 µV)`` (or as a fraction of MVC with a calibration profile,
  ``FeatureSpec.emg_norm="mvc"``). ``emg_ok``: the channel delivered a sample within
  the step and the newest verdict of :class:`~wearsense.dsp.QualityMonitor` (every
  0.25 s over the last second) finds no electrode off, flat line or clipping on it
  (then its values are zeros: there is no muscle signal in them to give).
- **IMU**: per IMU stream, the newest sample at or before ``t``: orientation from
  :class:`~wearsense.dsp.Ahrs` (causal), gyro in rad/s, accelerometer in g, after the
  profile's IMU corrections when one is given. With ``FeatureSpec.imu_frame="segment"``
  all three are turned into the axes of the segment the sensor sits on, by the
  ``segment`` section (sensor-to-segment rotation ``M``) of the profile given for the
  stream or, without one, of the profile the stream carries in its metadata (a
  device's when opened, a recording's): orientation ``q ⊗ m*``, vectors ``M v``.
  ``imu_ok``: a sample within the last ``max(1 step, 3 samples)``.
- **Pose**: the newest frame whose arrival (its host-clock timestamp) is at or before
  ``t``; its capture time is the timestamp minus the pose latency (camera pipeline,
  capture -> timestamp), and ``pose_age = t - capture``. Keypoint streams (channels
  ``<name>_x/_y/_z`` in m) become the body frame of :func:`body_frame`; other pose
  streams (joint angles) pass through in degrees. A frame with any NaN (occluded
  keypoint) is masked as a whole: zeros and ``pose_ok`` False, never filled in.
- **Events**: onsets of the causal detector of :mod:`wearsense.dsp.onset` on the raw
  EMG, once decided (``decided_t <= t``) and for ``event_window_s`` after their
  estimated onset: (channel index, age s), newest first.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wearsense.dsp.ahrs import GRAVITY, Ahrs, quat_conjugate, quat_multiply, quat_rotate
from wearsense.dsp.emg import EmgChain
from wearsense.dsp.quality import QualityMonitor
from wearsense.dsp.resample import interpolate_to
from wearsense.errors import ConfigError, StreamError
from wearsense.fusion.frames import IMU_FEATURES, FeatureSpec
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["StepFeaturizer", "body_frame", "keypoint_names", "concat_steps", "turn_mounts", "STEP_FIELDS"]

#: The arrays :meth:`StepFeaturizer.advance` returns (the Take fields except targets).
STEP_FIELDS = ("t", "emg", "emg_ok", "imu", "imu_ok", "pose", "pose_age", "pose_ok", "events", "events_ok")

_EMG_SCALE = {"v": 1.0, "mv": 1e-3, "uv": 1e-6, "µv": 1e-6, "μv": 1e-6}
_GYRO_SCALE = {"deg/s": math.pi / 180, "dps": math.pi / 180, "°/s": math.pi / 180, "rad/s": 1.0}
_ACC_SCALE = {"m/s^2": 1 / GRAVITY, "m/s2": 1 / GRAVITY, "m/s²": 1 / GRAVITY, "g": 1.0}
_LEN_SCALE = {"m": 1.0, "mm": 1e-3, "cm": 1e-2}


def keypoint_names(info: StreamInfo) -> list[str] | None:
    """Keypoint names of a pose stream whose channels are ``<name>_x, <name>_y, <name>_z``
    in length units (m, cm, mm), in order; None when the stream is not laid out so."""
    ch = info.channels
    if len(ch) % 3 or any(u.lower() not in _LEN_SCALE for u in info.units):
        return None
    names = []
    for i in range(0, len(ch), 3):
        base = [c[:-2] for c in ch[i:i + 3]]
        if [c[-2:] for c in ch[i:i + 3]] != ["_x", "_y", "_z"] or len(set(base)) != 1:
            return None
        names.append(base[0])
    return names


def body_frame(kp: np.ndarray, names: list[str]) -> np.ndarray:
    """Keypoints (n, Q, 3) in the body frame: the root at the origin, turned about z so the
    body faces +x (its left, ``hip_l - hip_r``, along +y).

    The root is the ``pelvis`` keypoint, else the hips' midpoint, else the centroid; the
    heading comes from the hip line (the sim's pelvis turns about z only, so this is its
    exact heading). Without both hips only the root is taken out. NaN stays NaN.
    """
    kp = np.asarray(kp, dtype=np.float64)
    idx = {n: i for i, n in enumerate(names)}
    if "pelvis" in idx:
        root = kp[:, idx["pelvis"]]
    elif "hip_r" in idx and "hip_l" in idx:
        root = 0.5 * (kp[:, idx["hip_r"]] + kp[:, idx["hip_l"]])
    else:
        root = kp.mean(axis=1)
    out = kp - root[:, None, :]
    if "hip_r" in idx and "hip_l" in idx:
        d = kp[:, idx["hip_l"]] - kp[:, idx["hip_r"]]
        heading = np.arctan2(-d[:, 0], d[:, 1])  # facing direction = hip line turned by -90°
        c, s = np.cos(heading)[:, None], np.sin(heading)[:, None]
        x, y = out[..., 0].copy(), out[..., 1].copy()
        out[..., 0] = c * x + s * y
        out[..., 1] = -s * x + c * y
    return out


def _unit_scale(table: dict[str, float], unit: str, what: str, info: StreamInfo) -> float:
    try:
        return table[unit.strip().lower()] if unit.strip().lower() in table else table[unit.strip()]
    except KeyError:
        raise StreamError(
            f"stream {info.name!r}: {what} in unit {unit!r} is not understood; use one of "
            f"{', '.join(table)} (set StreamInfo.units)"
        ) from None


@dataclass
class _Buffer:
    """Samples of one stream not yet consumed by the steps (times in the host clock)."""

    t: np.ndarray
    x: np.ndarray

    def append(self, t: np.ndarray, x: np.ndarray) -> None:
        if t.size:
            self.t = np.concatenate([self.t, t])
            self.x = np.concatenate([self.x, x])

    def keep_from(self, t_done: float) -> None:
        """Drop samples the next steps cannot need: all but the newest at or before ``t_done``."""
        i = max(int(np.searchsorted(self.t, t_done, side="right")) - 1, 0)
        if i:
            self.t, self.x = self.t[i:], self.x[i:]


#: Quality flags that make an EMG channel unusable (no muscle signal in it at all).
UNUSABLE = frozenset({"electrode_off", "flat", "saturation"})


@dataclass
class _EmgStream:
    info: StreamInfo
    chain: EmgChain
    detector: Any
    quality: QualityMonitor
    offset: int  # first channel index in the step's EMG channels
    scale_v: float  # input unit -> V
    unit: np.ndarray  # per channel: envelope unit of the log1p transform (chain output units)
    buf: _Buffer = field(default_factory=lambda: _Buffer(np.zeros(0), np.zeros((0, 0), np.float32)))
    #: quality verdicts: time of the sample they were made at, usable per channel
    verdicts: _Buffer = field(default_factory=lambda: _Buffer(np.zeros(0), np.zeros((0, 0), bool)))

    def judge(self, chunk: Chunk) -> None:
        """Feed the quality monitor, keeping each verdict with the time it was made (it
        evaluates at fixed sample counts, so the verdicts do not depend on chunking)."""
        q = self.quality
        step = max(1, int(round(q.settings.step_s * q.rate_hz)))
        data = chunk.data if self.scale_v == 1.0 else chunk.data * np.float32(self.scale_v)
        i = 0
        while i < chunk.n:
            j = min(chunk.n, i + step - q.n_samples % step)
            before = q.n_samples // step
            q.update(Chunk(data[i:j], chunk.t[i:j], 0, chunk.clock))
            if q.n_samples // step > before and q.status()[0].reason != "waiting for signal":
                ok = np.array([not (s.flags & UNUSABLE) for s in q.status()])
                self.verdicts.append(chunk.t[j - 1:j], ok[None, :])
            i = j


@dataclass
class _ImuStream:
    info: StreamInfo
    correction: Any
    ahrs: Ahrs
    gyro: list[int]
    acc: list[int]
    gyro_scale: float
    acc_scale: float
    stale_s: float
    #: FeatureSpec.imu_frame "segment": the turn into segment axes (a quaternion for
    #: :func:`turn_mounts`: the conjugate of the sensor-to-segment rotation)
    to_segment: np.ndarray | None = None
    buf: _Buffer = field(default_factory=lambda: _Buffer(np.zeros(0), np.zeros((0, len(IMU_FEATURES)))))


def turn_mounts(imu: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """IMU features (..., S, F) as sensors turned on their segments by ``rot`` (..., S, 4)
    (quaternions, new sensor axes -> old) would give them: orientation ``q ⊗ r`` (sensor ->
    world), gyro and accelerometer in the new axes ``r* v r``. Missing samples (a zero
    quaternion) stay zero. The featurizer turns sensors into their segments' axes with it
    (``r = m*``, ``m`` the sensor-to-segment rotation); training turns them by a random
    mounting error (``mount_jitter_deg``)."""
    out = imu.copy()
    q = imu[..., 0:4].astype(np.float64)
    present = np.linalg.norm(q, axis=-1, keepdims=True) > 0
    out[..., 0:4] = np.where(present, quat_multiply(q, rot), 0.0)
    back = quat_conjugate(rot)
    for name in ("gyro_x", "acc_x"):
        i = IMU_FEATURES.index(name)
        out[..., i:i + 3] = quat_rotate(back, imu[..., i:i + 3].astype(np.float64))
    return out.astype(imu.dtype)



class StepFeaturizer:
    """Chunks of EMG, IMU and pose streams in, step frames out (streaming, causal).

    Parameters
    ----------
    spec : FeatureSpec
    infos : mapping name -> StreamInfo, or iterable of StreamInfo
        The streams that will be pushed. EMG, IMU and POSE streams are used (EMG
        streams' channels concatenated, one IMU slot per IMU stream, at most one pose
        stream); other modalities are ignored.
    profile : Profile, or mapping stream name -> Profile, optional
        Calibration (:mod:`wearsense.calibrate.profile`): IMU corrections
        (:class:`~wearsense.calibrate.ImuCorrection`) for IMU streams whose device it
        belongs to (a single Profile: matched by serial; a mapping: by stream name), MVC
        for ``spec.emg_norm="mvc"``, and the pose lag of its ``sync`` section.
    pose_latency_s : float, optional
        Capture -> timestamp latency of the pose stream (s). Default: the profile's
        ``sync.pose_lag_s``, else ``metadata["latency_s"]`` of the pose stream, else 0.
    start_s : float, optional
        Time of the first step (host clock, s). Default: one step after the earliest
        sample among the chunks pushed before the first :meth:`advance`.

    Use ``push(name, chunk)`` as chunks arrive (host clock; a stream's chunks in time
    order), then ``advance(now)``: the steps with ``t <= now`` not yet emitted. Call
    ``advance`` only up to a time every stream has been pushed to (live: now minus the
    links' latency), or a later chunk would carry samples the emitted steps should
    have seen.
    """

    def __init__(
        self,
        spec: FeatureSpec,
        infos: Mapping[str, StreamInfo] | Iterable[StreamInfo],
        profile: Any = None,
        *,
        pose_latency_s: float | None = None,
        start_s: float | None = None,
    ) -> None:
        if not isinstance(spec, FeatureSpec):
            raise ConfigError(f"StepFeaturizer needs a FeatureSpec, got {type(spec).__name__} {spec!r}",
                              "spec")
        self.spec = spec
        if isinstance(infos, Mapping):
            infos = list(infos.values())
        self.infos = {i.name: i for i in infos}
        self._emg: dict[str, _EmgStream] = {}
        self._imu: dict[str, _ImuStream] = {}
        emg_names: list[str] = []
        for info in self.infos.values():
            prof = self._profile_for(profile, info)
            if info.modality is Modality.EMG:
                self._emg[info.name] = self._emg_stream(info, prof, len(emg_names))
                emg_names += list(info.channels)
            elif info.modality is Modality.IMU:
                self._imu[info.name] = self._imu_stream(info, prof)
        poses = [i for i in self.infos.values() if i.modality is Modality.POSE]
        if len(poses) > 1:
            raise ConfigError(
                f"StepFeaturizer takes one pose stream, got {[p.name for p in poses]}; pass only the "
                "infos of the streams to use"
            )
        self.pose_info = poses[0] if poses else None
        self.pose_kind = "none"
        self._kp_names: list[str] | None = None
        pose_names: list[str] = []
        self._pose_scale = 1.0
        if self.pose_info is not None:
            pi = self.pose_info
            self._kp_names = keypoint_names(pi)
            if self._kp_names is not None:
                self.pose_kind = "keypoints"
                self._pose_scale = _unit_scale(_LEN_SCALE, pi.units[0], "pose", pi)
                pose_names = [f"{k}_{a}" for k in self._kp_names for a in "xyz"]
            else:
                self.pose_kind = "angles"
                units = {u.lower() for u in pi.units}
                if not units <= {"deg", "rad"} or len(units) != 1:
                    raise StreamError(
                        f"pose stream {pi.name!r}: channels are neither keypoints '<name>_x/_y/_z' in m "
                        f"nor joint angles in one unit 'deg' or 'rad' (units {sorted(units)}); relabel "
                        "the channels or set their units"
                    )
                self._pose_scale = 180 / math.pi if units == {"rad"} else 1.0
                pose_names = list(pi.channels)
            prof = self._profile_for(profile, pi)
            if pose_latency_s is None:
                lag = prof.sections.get("sync", {}).get("pose_lag_s") if prof is not None else None
                pose_latency_s = lag if lag is not None else pi.metadata.get("latency_s", 0.0)
        self.pose_latency_s = float(pose_latency_s or 0.0)
        if not math.isfinite(self.pose_latency_s) or self.pose_latency_s < 0:
            raise ConfigError(f"pose_latency_s must be finite and >= 0 s, got {pose_latency_s!r}",
                              "pose_latency_s")
        self.names: dict[str, list[str]] = {
            "emg": emg_names,
            "imu": list(self._imu),
            "imu_features": list(IMU_FEATURES),
            "pose": pose_names,
        }
        self._start_s = start_s
        self.reset()

    # -- setup --------------------------------------------------------------------------
    @staticmethod
    def _profile_for(profile: Any, info: StreamInfo):
        if profile is None:
            return None
        if isinstance(profile, Mapping):
            return profile.get(info.name)
        from wearsense.calibrate.profile import device_serial

        try:
            return profile if device_serial(info) == profile.serial else None
        except Exception:  # a stream without serial cannot match a device's profile
            return None

    def _emg_stream(self, info: StreamInfo, prof, offset: int) -> _EmgStream:
        scales = {_unit_scale(_EMG_SCALE, u, "EMG", info) for u in info.units}
        if len(scales) != 1:
            raise StreamError(f"EMG stream {info.name!r} mixes units {sorted(set(info.units))}; use one")
        scale_v = scales.pop()
        mvc = None
        if self.spec.emg_norm == "mvc":
            from wearsense.calibrate.profile import emg_mvc_v
            from wearsense.errors import CalibrationError

            if prof is None:
                raise CalibrationError(
                    f"FeatureSpec.emg_norm='mvc' needs a calibration profile with MVC for EMG stream "
                    f"{info.name!r}; pass profile=..., or use emg_norm='fixed'"
                )
            mvc = tuple(v / scale_v for v in emg_mvc_v(info, prof))  # the chain sees input units
        chain = EmgChain(info.rate_hz, self.spec.emg_chain_settings(mvc))
        unit = np.full(info.n_channels, self.spec.emg_mvc_unit if mvc else self.spec.emg_unit_v / scale_v)
        quality = QualityMonitor(info.with_(units="V"))
        return _EmgStream(info, chain, self.spec.onset_detector(info.rate_hz), quality, offset, scale_v, unit)

    def _imu_stream(self, info: StreamInfo, prof) -> _ImuStream:
        def cols(word: str) -> list[int]:
            out = []
            for ax in "xyz":
                label = f"{word}_{ax}"
                hits = [i for i, c in enumerate(info.channels) if c == label or c.endswith("_" + label)]
                if len(hits) != 1:
                    raise StreamError(
                        f"IMU stream {info.name!r} needs one channel '{word}_{ax}' (or ending in "
                        f"'_{word}_{ax}'); channels: {', '.join(info.channels)}"
                    )
                out.append(hits[0])
            return out

        gyro, acc = cols("gyro"), cols("acc")
        correction = None
        if prof is not None and any(k in prof.sections for k in ("gyro", "accel", "mag")):
            from wearsense.calibrate.profile import ImuCorrection

            correction = ImuCorrection(info, prof)
        ahrs = Ahrs(info, self.spec.ahrs_settings(), use_magnetometer=self.spec.use_magnetometer)
        stale = max(self.spec.step_s, 3.0 / info.rate_hz) if info.rate_hz > 0 else self.spec.step_s
        turn = None
        if self.spec.imu_frame == "segment":
            from scipy.spatial.transform import Rotation

            m = self._sensor_to_segment(info, prof)
            turn = quat_conjugate(Rotation.from_matrix(m).as_quat(scalar_first=True))
        return _ImuStream(
            info, correction, ahrs, gyro, acc,
            _unit_scale(_GYRO_SCALE, info.units[gyro[0]], "gyro", info),
            _unit_scale(_ACC_SCALE, info.units[acc[0]], "accelerometer", info),
            stale, turn,
        )

    @staticmethod
    def _sensor_to_segment(info: StreamInfo, prof) -> np.ndarray:
        """The ``segment`` section of the profile given for ``info``, else of the one the
        stream carries (a device's on open, a recording's); an error naming the fix."""
        from wearsense.calibrate.profile import profile_of
        from wearsense.calibrate.segment import SegmentCalibration
        from wearsense.errors import CalibrationError

        for p in (prof, profile_of(info)):
            if p is not None and "segment" in p.sections:
                return SegmentCalibration.from_section(p.sections["segment"]).matrix
        raise CalibrationError(
            f"IMU stream {info.name!r}: FeatureSpec.imu_frame='segment' needs its sensor-to-segment "
            "calibration (a profile with a 'segment' section) and it has none; run 'wearsense calibrate "
            "npose <uri>' with the sensors on the body (sim shards: 'wearsense sim generate' calibrates "
            "each session), or read the data with imu_frame='sensor'"
        )

    def reset(self) -> None:
        """Forget everything pushed and emitted (filters, detectors, buffers)."""
        for s in self._emg.values():
            s.chain.reset()
            s.detector.reset()
            s.quality.reset()
            s.buf = _Buffer(np.zeros(0), np.zeros((0, s.info.n_channels), np.float32))
            s.verdicts = _Buffer(np.zeros(0), np.zeros((0, s.info.n_channels), bool))
        for s in self._imu.values():
            s.ahrs.reset()
            s.buf = _Buffer(np.zeros(0), np.zeros((0, len(IMU_FEATURES))))
        d = len(self.names["pose"])
        self._pose = _Buffer(np.zeros(0), np.zeros((0, d)))
        self._pose_okbuf = _Buffer(np.zeros(0), np.zeros((0, 1), bool))
        self._events: list[tuple[float, float, int]] = []  # (decided_t, onset t, channel)
        self._t0: float | None = self._start_s
        self._earliest = math.inf
        self._k = 0  # next step index
        self.pushed_until: dict[str, float] = {}

    # -- streaming ----------------------------------------------------------------------
    def push(self, name: str, chunk: Chunk) -> None:
        """Feed one chunk of stream ``name`` (timestamps in the host clock)."""
        if name not in self.infos:
            raise StreamError(f"StepFeaturizer: unknown stream {name!r}; streams: {', '.join(self.infos)}")
        if chunk.n == 0:
            return
        self._earliest = min(self._earliest, float(chunk.t[0]))
        self.pushed_until[name] = float(chunk.t[-1])
        if name in self._emg:
            s = self._emg[name]
            env = s.chain.process(chunk)
            s.detector.process(chunk)
            for e in s.detector.pop_events():
                if e.kind == "onset":
                    self._events.append((e.decided_t, e.t, s.offset + e.channel))
            s.buf.append(chunk.t, env.data)
            s.judge(chunk)
        elif name in self._imu:
            s = self._imu[name]
            raw = chunk if s.correction is None else s.correction.process(chunk)
            q = s.ahrs.process(raw).data.astype(np.float64)
            feats = np.hstack([q, raw.data[:, s.gyro] * s.gyro_scale, raw.data[:, s.acc] * s.acc_scale])
            if s.to_segment is not None:  # segment -> world = sensor -> world ⊗ m*; vectors M v
                feats = turn_mounts(feats, s.to_segment)
            s.buf.append(chunk.t, feats)
        elif self.pose_info is not None and name == self.pose_info.name:
            x = chunk.data.astype(np.float64) * self._pose_scale
            ok = np.isfinite(x).all(axis=1)
            if self.pose_kind == "keypoints":
                x = body_frame(x.reshape(len(x), -1, 3), self._kp_names).reshape(len(x), -1)
            x[~ok] = 0.0
            self._pose.append(chunk.t, x)
            self._pose_okbuf.append(chunk.t, ok[:, None])

    def step_times(self, now: float) -> np.ndarray:
        """Times of the steps ``advance(now)`` would emit."""
        if self._t0 is None:
            if not math.isfinite(self._earliest):
                return np.zeros(0)
            self._t0 = self._earliest + self.spec.step_s
        dt = self.spec.step_s
        k1 = int(math.floor((now - self._t0) / dt + 1e-9)) + 1
        return self._t0 + np.arange(self._k, max(k1, self._k)) * dt

    def advance(self, now: float) -> dict[str, np.ndarray]:
        """Emit the steps with ``t <= now`` not yet emitted: a dict of :data:`STEP_FIELDS` arrays."""
        t = self.step_times(now)
        out = self._frames(t)
        if t.size:
            self._k += t.size
            done = float(t[-1])
            for s in self._emg.values():
                s.buf.keep_from(done)
                s.verdicts.keep_from(done)
            for s in self._imu.values():
                s.buf.keep_from(done)
            self._pose.keep_from(done)
            self._pose_okbuf.keep_from(done)
            horizon = done - self.spec.event_window_s
            self._events = [e for e in self._events if e[1] >= horizon or e[0] > done]
        return out

    # -- step frames --------------------------------------------------------------------
    def _frames(self, t: np.ndarray) -> dict[str, np.ndarray]:
        sp = self.spec
        k = t.size
        dt = sp.step_s
        p = sp.emg_patch
        c = len(self.names["emg"])
        emg = np.zeros((k, c, p), np.float32)
        emg_ok = np.zeros((k, c), bool)
        instants = (t[:, None] - dt + dt * (np.arange(p) + 1) / p).ravel()
        for s in self._emg.values():
            b = s.buf
            cs = slice(s.offset, s.offset + s.info.n_channels)
            if b.t.size and k:
                v = interpolate_to(b.t, b.x, instants, method="previous").reshape(k, p, -1)
                got = np.searchsorted(b.t, t, side="right") > np.searchsorted(b.t, t - dt, side="right")
                ok = np.repeat(got[:, None], s.info.n_channels, axis=1)
                if s.verdicts.t.size:  # the newest quality verdict made by t (usable until the first)
                    i = np.searchsorted(s.verdicts.t, t, side="right") - 1
                    ok &= np.where(i[:, None] >= 0, s.verdicts.x[np.maximum(i, 0)], True)
                v = np.log1p(np.maximum(np.nan_to_num(v, nan=0.0), 0.0) / s.unit).transpose(0, 2, 1)
                v[~ok] = 0.0
                emg[:, cs] = v
                emg_ok[:, cs] = ok
        nf = len(IMU_FEATURES)
        imu = np.zeros((k, len(self._imu), nf), np.float32)
        imu_ok = np.zeros((k, len(self._imu)), bool)
        for j, s in enumerate(self._imu.values()):
            b = s.buf
            if b.t.size and k:
                v = interpolate_to(b.t, b.x, t, method="previous", max_gap_s=s.stale_s)
                ok = np.isfinite(v).all(axis=1)
                imu[ok, j] = v[ok]
                imu_ok[:, j] = ok
        d = len(self.names["pose"])
        pose = np.zeros((k, d), np.float32)
        pose_age = np.zeros(k, np.float32)
        pose_ok = np.zeros(k, bool)
        if self._pose.t.size and k:
            i = np.searchsorted(self._pose.t, t, side="right") - 1
            has = i >= 0
            ii = np.maximum(i, 0)
            ok = has & self._pose_okbuf.x[ii, 0]
            pose[ok] = self._pose.x[ii[ok]]
            pose_age[has] = t[has] - (self._pose.t[ii[has]] - self.pose_latency_s)
            pose_ok[:] = ok
        e_n = sp.event_slots
        events = np.zeros((k, e_n, 2), np.float32)
        events_ok = np.zeros((k, e_n), bool)
        if self._events and e_n:
            ev = np.array(self._events, dtype=np.float64)
            ev = ev[np.argsort(-ev[:, 1], kind="stable")]  # newest onset first
            for row in range(k):
                tk = t[row]
                sel = ev[(ev[:, 0] <= tk) & (tk - ev[:, 1] <= sp.event_window_s)][:e_n]
                n = len(sel)
                events[row, :n, 0] = sel[:, 2]
                events[row, :n, 1] = tk - sel[:, 1]
                events_ok[row, :n] = True
        return {
            "t": t.astype(np.float64), "emg": emg, "emg_ok": emg_ok, "imu": imu, "imu_ok": imu_ok,
            "pose": pose, "pose_age": pose_age, "pose_ok": pose_ok, "events": events, "events_ok": events_ok,
        }


def concat_steps(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Join the dicts of several :meth:`StepFeaturizer.advance` calls."""
    if not parts:
        raise StreamError("concat_steps needs at least one part")
    return {f: np.concatenate([p[f] for p in parts]) for f in STEP_FIELDS}

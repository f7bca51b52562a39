"""Streaming Laban Effort: Weight, Time, Space and Flow from EMG, IMU and pose.

Laban Movement Analysis codes the *quality* of a movement in four Effort factors, each
between two poles (Laban & Lawrence 1947): Weight strong/light, Time sudden/sustained,
Space direct/indirect, Flow bound/free. The published computational proxies use motion
capture only (Camurri et al. 2003/2016; PyEyesWeb), and so score a strong press (much
force, little motion) as light and a fast relaxed flick as strong. Here muscle comes
first wherever muscle can say.

Every factor is a :class:`Factor`: ``value`` in −1..1 (+1 strong / sudden / direct /
bound, the sign convention of :data:`wearsense.sim.EFFORT_FACTORS`), its ``pole``, the
``raw`` measure with its ``unit``, a ``confidence`` 0..1, the ``sensors`` it used, and
``available=False`` (value NaN) when the streams given cannot say — never a guess.
A raw measure x maps to a value by ``clip(ln(x / centre) / ln(ratio), −1, 1)``
(:class:`Scale`): ``centre`` is neutral, ``centre × ratio`` the + pole.

Streaming: :class:`EffortEstimator` takes every stream's chunks on one clock (``push``)
and emits one :class:`EffortState` per ``step_s`` (10 Hz by default) for the grid
times up to ``now`` (``advance``); each update uses only samples at or before its time,
so any chunking gives the same states. Latency per factor (:data:`LATENCY_S`,
measured on steps): Weight 0.2 s, Time 0.1 s, Space 0.2 s, Flow 0.1 s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy import signal

from wearsense.calibrate.emg import EmgCalibration
from wearsense.calibrate.profile import Profile, profile_of
from wearsense.dsp.emg import EmgChain, EmgChainSettings
from wearsense.effort.measures import (
    KEYPOINT_MASS_FRACTION,
    cocontraction,
    axis_linearity,
    kinetic_energy,
    stroke_straightness,
    sparc,
)
from wearsense.errors import StreamError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = [
    "ANTAGONIST_PAIRS",
    "FACTORS",
    "POLES",
    "Scale",
    "EffortSettings",
    "Factor",
    "EffortState",
    "EffortEstimator",
    "LATENCY_S",
]

FACTORS = ("weight", "time", "space", "flow")
#: factor -> (pole at +1, pole at −1)
POLES = {
    "weight": ("strong", "light"),
    "time": ("sudden", "sustained"),
    "space": ("direct", "indirect"),
    "flow": ("bound", "free"),
}
#: Antagonist pairs by muscle-name prefix (the side suffix _r/_l is matched): the
#: flexor/extensor pairs of elbow, shoulder, knee, ankle and trunk, wrist.
ANTAGONIST_PAIRS: tuple[tuple[str, str], ...] = (
    ("biceps_brachii", "triceps_brachii"),
    ("deltoid_anterior", "deltoid_posterior"),
    ("biceps_femoris", "vastus_lateralis"),
    ("tibialis_anterior", "gastrocnemius_medialis"),
    ("rectus_abdominis", "erector_spinae"),
    ("flexor_carpi", "extensor_carpi"),
)


@dataclass(frozen=True)
class Scale:
    """Maps a raw measure x > 0 to −1..1: ``clip(ln(x / centre) / ln(ratio), −1, 1)``."""

    centre: float
    ratio: float

    def __post_init__(self) -> None:
        if not (self.centre > 0 and self.ratio > 1):
            raise StreamError(f"Scale needs centre > 0 and ratio > 1, got {self.centre!r}, {self.ratio!r}")

    def __call__(self, x: float) -> float:
        if not x > 0:
            return -1.0 if x == 0 else float("nan")
        return float(np.clip(math.log(x / self.centre) / math.log(self.ratio), -1.0, 1.0))


@dataclass(frozen=True)
class EffortSettings:
    """Settings of :class:`EffortEstimator` (times in s, rates in Hz).

    Parameters
    ----------
    step_s : float
        Update period (0.1 s: 10 Hz).
    window_s : float
        Window of the EMG means (Weight, Flow) and of the peaks (Time).
    space_window_s, space_max_window_s : float
        Shortest and longest window of Space: between them, the span holding the hand's
        last ``space_path_m`` of travel (pose) or the segments' last ``space_turn_rad``
        of rotation (IMU), so a slow movement is seen over a longer time.
    space_lowpass_hz, space_lag_s : float
        Low-pass of the hand positions for Space, and the lag of the displacements
        whose principal-axis share it takes.
    space_strokes : bool
        Also cut the hand path into strokes where it turns back and take their path
        length over chord (reads a planar zigzag as indirect; off by default: on the
        sim's 1 cm camera noise it lowered the AUC).
    imu_space_weight : float
        Weight of the IMU rotation axis beside the hand path when both are present
        (8: on the sim, the camera's 1 cm keypoint noise makes the hand path of slow
        movements the weaker witness; tuned on seeds 0-3, docs/effort.md).
    imu_space_power : float
        The IMU's Space confidence grows as (rate / ``min_rotation_rate``) to this
        power below ``min_rotation_rate`` (the hand path's as the square of its speed).
    min_hand_speed, min_rotation_rate : float
        Hand speed (m/s) and rotation rate (rad/s) at which Space's confidence reaches
        1 (it grows as their square below); ``min_space_confidence`` drops a source
        below it.
    imu_lowpass_hz, pose_lowpass_hz : float
        Causal 2nd-order Butterworth low-pass before differentiating (same cut-off at
        every input rate, so 100 and 200 Hz inputs agree).
    emg : EmgChainSettings
        The EMG envelope chain (its ``mvc_v`` is ignored: normalisation comes from the
        calibration).
    pairs : tuple of (str, str)
        Antagonist pairs by muscle-name prefix.
    emg_floor : float
        Noise floor of a normalised envelope (fraction of MVC): a pair whose both
        muscles stay below it has no valid co-contraction.
    min_path_m : float
        Shortest chord (m) of a path that has a straightness (the ``pose_path_over_chord`` cue).
    body_mass_kg : float
        Mass for the kinetic-energy proxy.
    weight_level : float
        Weight of the envelope level beside the co-contraction in Weight.
    smoothness_weight : float
        Weight of SPARC beside the co-contraction indices in Flow (0: off).
    flow_burst_rise, flow_burst_power, flow_steady_rise : float
        Flow's confidence is ``min(1, ((1 + steady/r0) / (1 + rise/r0))^power)`` with
        r0 = ``flow_burst_rise`` and rise the steepest 50 ms rise of an envelope in the
        window (fraction of MVC per s): the co-contraction indices are read mostly
        outside agonist bursts and strong contractions (see ``_flow``). Rises up to
        ``flow_steady_rise`` are the envelope's own fluctuation in a steady contraction
        (full confidence). 0 r0: off.
    flow_fw_weight : float
        Weight of the Falconer–Winter index beside Rudolph's in Flow (0: in ``cues``
        only; on the sim it added the agonist's own activity share and lowered the AUC).
    weight, weight_kinetic, time_jerk, time_accel, time_rise : Scale
    space, space_imu, flow, flow_fw, flow_sparc : Scale
        Raw measure -> value maps (``centre`` neutral; chosen on sim seeds 0-3, the
        AUCs in docs/effort.md are on seeds 100-103).
    deadband : float
        |value| below this is pole "neutral".
    """

    step_s: float = 0.1
    window_s: float = 0.5
    space_window_s: float = 0.5
    imu_lowpass_hz: float = 10.0
    pose_lowpass_hz: float = 6.0
    emg: EmgChainSettings = EmgChainSettings()
    pairs: tuple[tuple[str, str], ...] = ANTAGONIST_PAIRS
    emg_floor: float = 0.02
    min_path_m: float = 0.05
    body_mass_kg: float = 70.0
    min_hand_speed: float = 0.3
    min_rotation_rate: float = 1.0
    smoothness_weight: float = 0.0
    space_lowpass_hz: float = 3.0
    space_lag_s: float = 0.1
    space_strokes: bool = False
    space_path_m: float = 0.4
    space_turn_rad: float = 1.5
    space_max_window_s: float = 1.5
    min_space_confidence: float = 0.05
    weight_level: float = 1.0
    imu_space_weight: float = 8.0
    imu_space_power: float = 1.0
    flow_burst_rise: float = 0.5
    flow_burst_power: float = 3.0
    flow_steady_rise: float = 0.75
    flow_fw_weight: float = 0.0
    weight: Scale = Scale(0.2, 3.5)
    weight_kinetic: Scale = Scale(3.3, 3.0)
    time_jerk: Scale = Scale(400.0, 7.0)
    time_accel: Scale = Scale(15.0, 5.0)
    time_rise: Scale = Scale(4.2, 2.1)
    space: Scale = Scale(0.1, 4.0)
    space_imu: Scale = Scale(0.028, 4.7)
    flow: Scale = Scale(0.084, 3.3)
    flow_fw: Scale = Scale(0.6, 1.4)
    flow_sparc: Scale = Scale(2.5, 1.5)
    deadband: float = 0.2

    def __post_init__(self) -> None:
        if not 0.01 <= self.step_s <= 0.1:
            raise StreamError(
                f"EffortSettings.step_s={self.step_s!r}: updates must come at 10 Hz or faster (0.01..0.1 s)"
            )
        for name in ("window_s", "space_window_s"):
            if not self.step_s <= getattr(self, name) <= 5.0:
                raise StreamError(
                    f"EffortSettings.{name}={getattr(self, name)!r}: must be within step_s..5 s"
                )


#: Algorithmic latency (s) of each factor with the default settings: the delay from a
#: step in the movement's quality to the factor crossing halfway between its levels,
#: on the 0.1 s update grid (measured by tests/effort/test_latency.py: an EMG step from
#: 5 % to 40 % MVC, a slow rotation turning sudden, a straight hand path starting to wind).
LATENCY_S = {"weight": 0.2, "time": 0.1, "space": 0.2, "flow": 0.1}


@dataclass(frozen=True)
class Factor:
    """One Effort factor at one update.

    Attributes
    ----------
    name : str
        ``weight``, ``time``, ``space`` or ``flow``.
    value : float
        −1..1, + toward strong / sudden / direct / bound; NaN when not available.
    pole : str
        The pole named by ``value`` ("strong", "light", ...), "neutral" within the
        dead band, "" when not available.
    raw : float
        The measure behind ``value``, in ``unit``.
    unit : str
    confidence : float
        0..1: 0 when the sensors can say but had nothing to go on (no motion for Space).
    sensors : tuple of str
        The streams (and EMG pairs) it used.
    available : bool
        False when the streams given cannot measure this factor.
    note : str
        How it was measured, or why it is not available.
    """

    name: str
    value: float
    pole: str
    raw: float
    unit: str
    confidence: float
    sensors: tuple[str, ...]
    available: bool
    note: str = ""

    @classmethod
    def unavailable(cls, name: str, why: str) -> "Factor":
        return cls(name, float("nan"), "", float("nan"), "", 0.0, (), False, why)


@dataclass(frozen=True)
class EffortState:
    """The four factors at time ``t`` (s, the estimator's input clock), with the cues
    (named raw measures) they were made from."""

    t: float
    weight: Factor
    time: Factor
    space: Factor
    flow: Factor
    cues: Mapping[str, float] = field(default_factory=dict)

    @property
    def factors(self) -> dict[str, Factor]:
        return {f: getattr(self, f) for f in FACTORS}

    def values(self) -> np.ndarray:
        """(4,) values in :data:`FACTORS` order (NaN where unavailable)."""
        return np.array([getattr(self, f).value for f in FACTORS])


class _Ring:
    """Timestamped rows kept for ``keep_s`` seconds."""

    def __init__(self, keep_s: float) -> None:
        self.keep_s = keep_s
        self.t = np.zeros(0)
        self.x = np.zeros((0, 0))

    def append(self, t: np.ndarray, x: np.ndarray) -> None:
        if self.x.shape[1] != x.shape[1]:
            self.x = np.zeros((0, x.shape[1]))
        self.t = np.concatenate([self.t, t])
        self.x = np.concatenate([self.x, x])

    def window(self, t0: float, t1: float) -> tuple[np.ndarray, np.ndarray]:
        a, b = np.searchsorted(self.t, [t0, t1], side="right")
        return self.t[a:b], self.x[a:b]

    def trim(self, now: float) -> None:
        k = int(np.searchsorted(self.t, now - self.keep_s, side="left"))
        if k > 256:
            self.t, self.x = self.t[k:], self.x[k:]

    @property
    def last_t(self) -> float:
        return float(self.t[-1]) if self.t.size else -math.inf


def _lowpass(cutoff_hz: float, rate_hz: float) -> np.ndarray:
    return signal.butter(2, min(cutoff_hz, 0.45 * rate_hz), fs=rate_hz, output="sos")


class _Filter:
    """Causal SOS filter over columns, state kept across chunks; NaN rows hold the last value."""

    def __init__(self, sos: np.ndarray) -> None:
        self.sos = sos
        self.zi: np.ndarray | None = None
        self.last: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.array(x, float)
        bad = ~np.isfinite(x)
        if bad.any():
            for i in range(x.shape[0]):
                row_bad = bad[i]
                if row_bad.any():
                    x[i, row_bad] = np.nan if self.last is None else self.last[row_bad]
                if np.isfinite(x[i]).all():
                    self.last = x[i].copy()
            if self.last is None or not np.isfinite(x).all():
                x = np.where(np.isfinite(x), x, 0.0 if self.last is None else self.last)
        if x.shape[0]:
            self.last = x[-1].copy()
        if self.zi is None:
            self.zi = signal.sosfilt_zi(self.sos)[:, :, None] * x[:1]
        y, self.zi = signal.sosfilt(self.sos, x, axis=0, zi=self.zi)
        return y


class _Diff:
    """Time derivative of rows by finite difference, continuous across chunks."""

    def __init__(self) -> None:
        self.prev: tuple[float, np.ndarray] | None = None

    def __call__(self, t: np.ndarray, x: np.ndarray) -> np.ndarray:
        if self.prev is None:
            tt = np.r_[t[0] - 1.0, t]
            xx = np.vstack([x[:1], x])
        else:
            tt = np.r_[self.prev[0], t]
            xx = np.vstack([self.prev[1][None], x])
        self.prev = (float(t[-1]), x[-1].copy())
        dt = np.diff(tt)
        dt[dt <= 0] = np.nan
        return np.diff(xx, axis=0) / dt[:, None]


def _emg_calibration(info: StreamInfo, calibration) -> tuple[np.ndarray | None, str]:
    """Per-channel MVC envelope (V) of ``info`` from ``calibration`` or its attached profile."""
    cal = calibration
    if isinstance(cal, Mapping) and info.name in cal and not isinstance(cal.get(info.name), float):
        cal = cal[info.name]
    if cal is None:
        cal = profile_of(info)
    if isinstance(cal, Profile):
        sec = cal.sections.get("emg")
        cal = EmgCalibration.from_section(sec) if sec else None
    if isinstance(cal, EmgCalibration):
        table = dict(zip(cal.channels, cal.mvc_v.tolist()))
    elif isinstance(cal, Mapping):
        table = {k: float(v) for k, v in cal.items()}
    elif cal is None:
        return None, "running reference"
    else:
        raise StreamError(
            f"calibration for {info.name!r} must be an EmgCalibration, a Profile or a mapping channel -> "
            f"MVC envelope (V), got {type(cal).__name__}"
        )
    mvc = np.array([table.get(c, np.nan) for c in info.channels], float)
    if not np.isfinite(mvc).any():
        return None, "running reference"
    return mvc, "MVC"


class _EmgStream:
    def __init__(self, info: StreamInfo, s: EffortSettings, calibration, keep_s: float) -> None:
        self.info = info
        self.mvc, self.reference = _emg_calibration(info, calibration)
        self.chain = EmgChain(info.rate_hz, replace(s.emg, mvc_v=None))
        self.ring = _Ring(keep_s)
        self.run_max = np.zeros(info.n_channels)  # running reference (V) where no MVC
        # antagonist pairs present in this stream, as column pairs
        self.pairs: list[tuple[int, int, str]] = []
        ch = list(info.channels)
        for a, b in s.pairs:
            for i, name in enumerate(ch):
                if not name.startswith(a):
                    continue
                side = name[-2:] if name[-2:] in ("_r", "_l") else ""
                for j, other in enumerate(ch):
                    if other.startswith(b) and (other[-2:] == side or not side):
                        self.pairs.append((i, j, f"{name}/{other}"))
        # running reference: a 0.25 s moving average of the envelope, its running maximum
        self.ema_a = 1.0 - math.exp(-1.0 / (0.25 * info.rate_hz))
        self.ema_zi: np.ndarray | None = None
        self.run_max = np.zeros(info.n_channels)

    def process(self, chunk: Chunk) -> None:
        env = np.asarray(self.chain.process(chunk).data, float)
        if self.mvc is not None:
            norm = env / self.mvc  # NaN for a channel without MVC
        else:
            if self.ema_zi is None:
                self.ema_zi = np.zeros((1, env.shape[1]))
            ema, self.ema_zi = signal.lfilter(
                [self.ema_a], [1.0, self.ema_a - 1.0], env, axis=0, zi=self.ema_zi
            )
            running = np.maximum.accumulate(np.vstack([self.run_max[None], ema]), axis=0)[1:]
            self.run_max = running[-1]
            norm = np.divide(env, running, out=np.zeros_like(env), where=running > 0)
        self.ring.append(np.asarray(chunk.t, float), norm)


class _ImuStream:
    def __init__(self, info: StreamInfo, s: EffortSettings, keep_s: float) -> None:
        self.info = info
        self.acc = info.select("acc")
        self.gyro = info.select("gyro")
        if len(self.acc) != 3 or len(self.gyro) != 3:
            raise StreamError(
                f"IMU stream {info.name!r} needs acc_x/y/z and gyro_x/y/z channels for Effort; has "
                f"{', '.join(info.channels)}"
            )
        unit = str(info.units[self.gyro[0]]) if info.units else "deg/s"
        self.gyro_k = 1.0 if unit.startswith("rad") else math.pi / 180.0
        sos = _lowpass(s.imu_lowpass_hz, info.rate_hz)
        self.filt = _Filter(sos)
        self.diff = _Diff()
        self.ring = _Ring(keep_s)

    def process(self, chunk: Chunk) -> None:
        x = np.asarray(chunk.data, float)
        raw = np.hstack([x[:, self.acc], x[:, self.gyro] * self.gyro_k])
        y = self.filt(raw)
        d = self.diff(np.asarray(chunk.t, float), y)
        out = np.column_stack(
            [
                np.linalg.norm(y[:, 3:], axis=1),  # |omega| rad/s
                np.linalg.norm(d[:, :3], axis=1),  # |jerk| m/s^3
                y[:, 3:],  # omega (sensor axes) rad/s
                np.linalg.norm(d[:, 3:], axis=1),  # |angular acceleration| rad/s^2
            ]
        )
        self.ring.append(np.asarray(chunk.t, float), out)


def _keypoint_columns(info: StreamInfo) -> tuple[list[str], np.ndarray]:
    names = info.metadata.get("keypoints")
    if names is None:
        names = []
        for c in info.channels:
            if c.endswith("_x"):
                names.append(c[:-2])
    cols = []
    for k in names:
        try:
            cols.append([info.index(f"{k}_x"), info.index(f"{k}_y"), info.index(f"{k}_z")])
        except StreamError:
            raise StreamError(
                f"pose stream {info.name!r}: keypoint {k!r} needs channels {k}_x, {k}_y, {k}_z (metres)"
            ) from None
    return list(names), np.array(cols, int).reshape(-1, 3)


class _PoseStream:
    def __init__(self, info: StreamInfo, s: EffortSettings, keep_s: float) -> None:
        self.info = info
        self.names, self.cols = _keypoint_columns(info)
        if not self.names:
            raise StreamError(
                f"pose stream {info.name!r} names no keypoints (channels like hand_r_x in metres)"
            )
        self.hands = [i for i, n in enumerate(self.names) if n in ("hand_r", "hand_l")] or [
            i for i, n in enumerate(self.names) if n in ("wrist_r", "wrist_l")
        ]
        m = np.array([KEYPOINT_MASS_FRACTION.get(n, 0.0) for n in self.names])
        self.mass = (
            s.body_mass_kg * m / m.sum()
            if m.sum() > 0
            else np.full(len(self.names), s.body_mass_kg / len(self.names))
        )
        self.rate_hz = rate = info.rate_hz if info.rate_hz > 0 else 60.0
        self.filt = _Filter(_lowpass(s.pose_lowpass_hz, rate))
        self.vel = _Diff()
        self.acc = _Diff()
        self.ring = _Ring(keep_s)
        self.space_filt = _Filter(_lowpass(s.space_lowpass_hz, rate))
        self.space_ring = _Ring(keep_s)

    def process(self, chunk: Chunk) -> None:
        t = np.asarray(chunk.t, float)
        x = np.asarray(chunk.data, float)[:, self.cols.ravel()]
        p = self.filt(x)
        v = self.vel(t, p)
        a = self.acc(t, v)
        k = len(self.names)
        ke = kinetic_energy(v.reshape(-1, k, 3), self.mass)
        hand_p = p.reshape(-1, k, 3)[:, self.hands].reshape(len(t), -1)
        hand_a = np.linalg.norm(a.reshape(-1, k, 3)[:, self.hands], axis=2)
        hand_v = np.linalg.norm(v.reshape(-1, k, 3)[:, self.hands], axis=2)
        self.ring.append(t, np.column_stack([ke, hand_a, hand_p, hand_v]))
        ph = self.space_filt(x.reshape(-1, k, 3)[:, self.hands].reshape(len(t), -1))
        self.space_ring.append(t, ph)


class EffortEstimator:
    """Streaming Laban Effort factors (see the module doc).

    Parameters
    ----------
    infos : sequence of StreamInfo
        The streams that will be pushed: EMG (channels named by muscle, volts), IMU
        (``acc_*`` m/s², ``gyro_*`` deg/s or rad/s), POSE (``<keypoint>_x/y/z`` metres).
        Others are ignored. Every chunk must be on one common clock (sync first).
    settings : EffortSettings
    calibration : optional
        EMG normalisation: an :class:`~wearsense.calibrate.emg.EmgCalibration`, a
        :class:`~wearsense.calibrate.profile.Profile`, a mapping channel -> MVC
        envelope (V), or a mapping stream name -> one of those. Without it, a profile
        attached to the stream's metadata is used; without that, a running reference
        (each channel over the highest 0.5 s mean envelope it has shown so far, so
        Weight is relative to the session's strongest effort; confidence halved).

    Use ``push(name, chunk)`` for every chunk and ``advance(now)`` for the states of
    the update times up to ``now`` (or ``process(name, chunk)``: push, then advance to
    the time every stream has reached).
    """

    def __init__(
        self, infos: Sequence[StreamInfo], settings: EffortSettings = EffortSettings(), calibration=None
    ) -> None:
        self.settings = s = settings
        self.infos = {i.name: i for i in infos}
        self._calibration = calibration
        keep = max(s.window_s, s.space_window_s, s.space_max_window_s) + 2 * s.step_s
        self._keep = keep
        self.reset()

    def reset(self) -> None:
        s = self.settings
        self.emg: dict[str, _EmgStream] = {}
        self.imu: dict[str, _ImuStream] = {}
        self.pose: dict[str, _PoseStream] = {}
        for name, info in self.infos.items():
            if info.modality in (Modality.EMG, Modality.IMU) and not info.rate_hz > 0:
                raise StreamError(
                    f"stream {name!r}: Effort needs the nominal rate of an {info.modality.name} stream "
                    f"(rate_hz={info.rate_hz!r}); resample it to a regular rate first "
                    "(wearsense.dsp.PolyphaseResampler)"
                )
            if info.modality is Modality.EMG:
                self.emg[name] = _EmgStream(info, s, self._calibration, self._keep)
            elif info.modality is Modality.IMU:
                self.imu[name] = _ImuStream(info, s, self._keep)
            elif info.modality is Modality.POSE:
                self.pose[name] = _PoseStream(info, s, self._keep)
        self.next_k: int | None = None
        self.states: list[EffortState] = []

    @property
    def state(self) -> dict:
        """Inspectable state: per stream the last sample time (s) and, for EMG, its
        normalisation ("MVC" or "running reference") and running maxima (V); the next
        update time (s)."""
        out: dict = {"next_update_t": None if self.next_k is None else self.next_k * self.settings.step_s}
        for name, st in self.streams.items():
            d = {"last_t": st.ring.last_t}
            if name in self.emg:
                d["reference"] = st.reference
                if st.mvc is None:
                    d["running_max_v"] = st.run_max.tolist()
            out[name] = d
        return out

    @property
    def streams(self) -> dict:
        return {**self.emg, **self.imu, **self.pose}

    def push(self, name: str, chunk: Chunk) -> None:
        """Feed one chunk of stream ``name`` (times on the common clock)."""
        if name not in self.infos:
            raise StreamError(
                f"no stream {name!r} was given to the estimator; streams: {', '.join(self.infos)}"
            )
        st = self.streams.get(name)
        if st is None or not chunk.n:
            return
        if chunk.t[0] < st.ring.last_t:
            raise StreamError(
                f"stream {name!r}: chunk starts at {chunk.t[0]:.3f} s, before the last sample pushed "
                f"({st.ring.last_t:.3f} s); push each stream's chunks in time order"
            )
        st.process(chunk)
        if self.next_k is None:
            self.next_k = int(math.ceil(float(chunk.t[0]) / self.settings.step_s - 1e-9))

    def ready_until(self) -> float:
        """The latest time every stream with data has reached (s)."""
        t = [st.ring.last_t for st in self.streams.values() if st.ring.t.size]
        return min(t) if t else -math.inf

    def advance(self, now: float) -> list[EffortState]:
        """States for the update times not yet emitted, up to ``now`` (s)."""
        out: list[EffortState] = []
        if self.next_k is None:
            return out
        step = self.settings.step_s
        while (self.next_k * step) <= now + 1e-9:
            out.append(self._update(self.next_k * step))
            self.next_k += 1
        for st in self.streams.values():
            st.ring.trim(now)
        self.states.extend(out)
        return out

    def process(self, name: str, chunk: Chunk) -> list[EffortState]:
        """``push``, then ``advance`` to the time every stream has reached."""
        self.push(name, chunk)
        return self.advance(self.ready_until())

    def pop_states(self) -> list[EffortState]:
        """The states emitted so far, removing them from ``states``."""
        out, self.states = self.states, []
        return out

    # ------------------------------------------------------------------ factors
    def _update(self, t: float) -> EffortState:
        cues: dict[str, float] = {}
        emg = self._emg_cues(t, cues)
        kin = self._kinematic_cues(t, cues)
        return EffortState(
            t,
            self._weight(emg, kin),
            self._time(emg, kin),
            self._space(kin),
            self._flow(emg, kin),
            cues,
        )

    def _emg_cues(self, t: float, cues: dict) -> dict:
        s = self.settings
        level, cc_r, cc_fw, rise = [], [], [], []
        used, pairs, refs = [], [], []
        for name, st in self.emg.items():
            tw, x = st.ring.window(t - s.window_s, t)
            if tw.size < 2:
                continue
            used.append(name)
            refs.append(st.reference)
            level.append(np.nanmean(x, axis=0))
            for i, j, label in st.pairs:
                c = cocontraction(x[:, i], x[:, j], s.emg_floor)
                if c.valid:
                    cc_r.append(c.rudolph)
                    cc_fw.append(c.falconer_winter)
                    pairs.append(f"{name}:{label}")
            # envelope rise steepness: the steepest 50 ms rise in the window (fraction of MVC per s)
            n = max(1, int(round(0.05 * st.info.rate_hz)))
            if x.shape[0] > n:
                slope = (x[n:] - x[:-n]) / (tw[n:] - tw[:-n])[:, None]
                if np.isfinite(slope).any():
                    rise.append(float(np.nanmax(slope)))
        out: dict = {"used": used, "pairs": pairs, "reference": refs}
        if level:
            allm = np.concatenate(level)
            allm = allm[np.isfinite(allm)]
            top = np.sort(allm)[::-1][: max(1, min(4, allm.size))]
            cues["emg_level"] = out["level"] = float(np.mean(top)) if top.size else 0.0
            cues["emg_cc_rudolph"] = out["cc_r"] = float(np.max(cc_r)) if cc_r else 0.0
            cues["emg_cc_falconer_winter"] = out["cc_fw"] = float(np.max(cc_fw)) if cc_fw else float("nan")
            if rise:
                cues["emg_rise_per_s"] = out["rise"] = float(max(rise))
        return out

    def _kinematic_cues(self, t: float, cues: dict) -> dict:
        s = self.settings
        out: dict = {"imu": [], "pose": []}
        jerk, rot_e, axes = [], [], []
        for name, st in self.imu.items():
            tw, x = st.ring.window(t - s.window_s, t)
            if tw.size < 2:
                continue
            out["imu"].append(name)
            jerk.append(float(np.max(x[:, 1])))
            rot_e.append(float(np.mean(0.5 * x[:, 0] ** 2)))
            tl, xl = st.ring.window(t - s.space_max_window_s, t)
            if s.space_turn_rad > 0 and xl.shape[0] >= 3:
                # the span holding the last space_turn_rad of rotation (at least space_window_s)
                turned = np.cumsum((xl[:, 0] * np.gradient(tl))[::-1])[::-1]
                far = np.flatnonzero(turned >= s.space_turn_rad)
                start = min(t - s.space_window_s, float(tl[far[-1]]) if far.size else float(tl[0]))
                xl = xl[tl >= start - 1e-9]
            else:
                tl, xl = st.ring.window(t - s.space_window_s, t)
            if xl.shape[0] >= 3:
                axes.append(axis_linearity(xl[:, 2:5]))
        if jerk:
            cues["imu_jerk_peak"] = out["jerk"] = max(jerk)
            cues["imu_rotation_energy"] = out["rot_e"] = float(np.sum(rot_e))
        if axes:
            a = np.array(axes)
            moving = a[:, 0].sum()
            if moving > 0 and np.isfinite(a[:, 1]).any():
                ok = np.isfinite(a[:, 1])
                lin = float((a[ok, 0] * a[ok, 1]).sum() / max(a[ok, 0].sum(), 1e-12))
                cues["imu_axis_linearity"] = out["imu_lin"] = lin
                cues["imu_rotation_rate"] = out["imu_rate"] = float(a[:, 0].max())
        for name, st in self.pose.items():
            tw, x = st.ring.window(t - s.window_s, t)
            if tw.size < 2:
                continue
            out["pose"].append(name)
            nh = len(st.hands)
            cues["pose_kinetic_energy"] = out["ke"] = float(np.mean(x[:, 0]))
            if not nh:
                continue
            cues["pose_hand_accel_peak"] = out["acc"] = float(np.max(x[:, 1 : 1 + nh]))
            # Space: the moving hand's 100 ms displacements (3 Hz low-pass) over the window
            rate = st.rate_hz
            lag = max(1, int(round(s.space_lag_s * rate)))
            tl, xl = st.space_ring.window(t - s.space_max_window_s, t)
            if s.space_path_m > 0 and xl.shape[0] > 2:
                # the span holding the hands' last space_path_m of travel (at least space_window_s)
                step = np.r_[
                    0.0, np.linalg.norm(np.diff(xl.reshape(len(tl), -1, 3), axis=0), axis=2).max(axis=1)
                ]
                travelled = np.cumsum(step[::-1])[::-1]
                far = np.flatnonzero(travelled >= s.space_path_m)
                start = min(t - s.space_window_s, float(tl[far[-1]]) if far.size else float(tl[0]))
                xl = xl[tl >= start - 1e-9]
            else:
                tl, xl = st.space_ring.window(t - s.space_window_s, t)
            best = None
            for h in range(nh):
                p = xl[:, 3 * h : 3 * h + 3]
                if p.shape[0] > lag + 2:
                    d = p[lag:] - p[:-lag]
                    travel = float(np.linalg.norm(d, axis=1).mean()) / (lag / rate)
                    _, lin = axis_linearity(d)
                    if np.isfinite(lin) and (best is None or travel > best[0]):
                        best = (travel, lin, stroke_straightness(p, lag, s.min_path_m), h)
            if best:
                cues["pose_hand_speed"] = out["hand_speed"] = best[0]
                cues["pose_path_linearity"] = out["pose_lin"] = best[1]
                cues["pose_path_over_chord"] = out["pose_strokes"] = best[2]
                tl, xl = st.ring.window(t - 1.0, t)
                if xl.shape[0] > 8:
                    cues["pose_sparc"] = out["sparc"] = sparc(xl[:, 1 + 4 * nh + best[3]], rate)
        return out

    def _factor(
        self, name: str, value: float, raw: float, unit: str, conf: float, sensors, note: str
    ) -> Factor:
        if not np.isfinite(value):
            return Factor(name, 0.0, "neutral", float(raw), unit, 0.0, tuple(sensors), True, note)
        plus, minus = POLES[name]
        d = self.settings.deadband
        pole = plus if value > d else minus if value < -d else "neutral"
        conf = float(np.clip(conf, 0.0, 1.0))
        return Factor(name, float(value), pole, float(raw), unit, conf, tuple(sensors), True, note)

    def _weight(self, emg: dict, kin: dict) -> Factor:
        """Weight (strong/light).

        With EMG: W = L + C, where L is the mean over the window of the four most
        active muscles' envelopes and C the highest Rudolph co-contraction index of the
        antagonist pairs, both fractions of MVC (Rudolph, Axe & Snyder-Mackler 2000);
        value = ``weight`` scale of W. The muscles' force, not the limb's speed: a
        motionless press is strong, a fast relaxed flick light.

        Without EMG, a kinetic-energy proxy (weaker, confidence 0.3): ½ Σ m_i |v_i|²
        of the pose keypoints with segment masses (Winter 2009), or of the IMUs
        ½ Σ |ω|² × 0.05 body-mass·m² — the motion-capture Weight of Camurri et al.
        (2016) and PyEyesWeb, which measures speed, not force.
        """
        s = self.settings
        if "level" in emg:
            raw = s.weight_level * emg["level"] + emg["cc_r"]
            calibrated = all(r == "MVC" for r in emg["reference"])
            unit = "MVC" if calibrated else "running max"
            note = "4 most active envelopes + highest co-contraction (Rudolph), " + (
                "fraction of MVC" if calibrated else "over a running reference (no MVC calibration)"
            )
            return self._factor(
                "weight", s.weight(raw), raw, unit, 1.0 if calibrated else 0.5, emg["used"], note
            )
        if "ke" in kin or "rot_e" in kin:
            if "ke" in kin:
                raw, unit, used = kin["ke"], "J", kin["pose"]
            else:
                raw, unit, used = kin["rot_e"] * s.body_mass_kg * 0.05, "J (IMU proxy)", kin["imu"]
            return self._factor(
                "weight",
                s.weight_kinetic(raw),
                raw,
                unit,
                0.3,
                used,
                "kinetic-energy proxy (no EMG): measures speed, not force",
            )
        return Factor.unavailable("weight", "needs EMG (or, weaker, pose or IMU)")

    def _time(self, emg: dict, kin: dict) -> Factor:
        """Time (sudden/sustained).

        Mean of the mapped cues present: the peak jerk |d a/dt| of the IMUs in the
        window (m/s³; the 10 Hz low-pass makes it rate-independent), else the peak
        hand acceleration from pose (m/s²); and, weighted half, the steepest 50 ms rise
        of an MVC-normalised EMG envelope (MVC/s). Suddenness as acceleration/jerk
        peaks follows Camurri et al. (2016) and Mazzarino & Mancini (2009); a faster
        playing of the same trajectory raises every cue.
        """
        s = self.settings
        vals, weights, used, parts = [], [], [], []
        raw, unit = float("nan"), ""
        if "jerk" in kin:
            vals.append(s.time_jerk(kin["jerk"]))
            weights.append(1.0)
            used += kin["imu"]
            parts.append("IMU jerk peak")
            raw, unit = kin["jerk"], "m/s^3"
        elif "acc" in kin:
            vals.append(s.time_accel(kin["acc"]))
            weights.append(1.0)
            used += kin["pose"]
            parts.append("hand acceleration peak")
            raw, unit = kin["acc"], "m/s^2"
        if "rise" in emg:
            vals.append(s.time_rise(emg["rise"]))
            weights.append(0.5)
            used += emg["used"]
            parts.append("EMG envelope rise")
            if not unit:
                raw, unit = emg["rise"], "MVC/s"
        if not vals:
            return Factor.unavailable("time", "needs IMU, pose or EMG")
        v = float(np.average(vals, weights=weights))
        conf = 1.0 if len(vals) > 1 else 0.7
        return self._factor("time", v, raw, unit, conf, used, " + ".join(parts))

    def _space(self, kin: dict) -> Factor:
        """Space (direct/indirect).

        From pose: how much the moving hand's path keeps to one line over the window:
        λ = σ₁² / Σσ² of its 100 ms displacements (3 Hz low-pass; principal-axis share),
        raw = 1/λ ("spread": 1 on a straight path, reversals included; up to 3 for a
        path that wanders in 3-D), value = −``space`` scale of (1/λ − 1). The classic
        straightness index (path length / chord, Benhamou 2004; the directness of
        Camurri et al. 2003) is in ``cues`` but not used, as a window holding a
        reversal or a hold has no chord. From IMUs (weaker: a rotation, not a path;
        confidence halved): the same share of the angular velocity's principal axis,
        weighted by each IMU's rotation rate — one axis is a direct, planar gesture.
        With both, the confidence-weighted mean, the IMU weighted ``imu_space_weight``
        (8) with a confidence growing linearly with rotation rate: a camera's 1 cm
        keypoint noise is a large part of a slow hand's 100 ms displacement, while a
        gyroscope's axis is clean at any speed; on sim seeds 0-3 this raised Space's
        AUC from 0.88/0.74/0.68 to 0.96/0.75/0.76 (actions/requested/drawn). Alone,
        the IMU's confidence is halved (a rotation, not a path). No pose and no IMU:
        unavailable.
        Confidence falls to 0 as the hand (or the segments) stop moving.
        """
        s = self.settings
        if not self.pose and not self.imu:
            return Factor.unavailable("space", "needs pose (or, weaker, an IMU): EMG alone has no direction")
        sources = []  # (what, value, weight, sensors, spread)
        if "pose_lin" in kin:
            spread = 1.0 / kin["pose_lin"]
            if s.space_strokes and np.isfinite(kin["pose_strokes"]):
                spread = max(spread, kin["pose_strokes"])
            c = min(1.0, kin["hand_speed"] / s.min_hand_speed) ** 2
            sources.append(("hand path", -s.space(max(spread - 1.0, 1e-6)), c, kin["pose"], spread))
        if "imu_lin" in kin:
            spread = 1.0 / kin["imu_lin"]
            c = min(1.0, kin["imu_rate"] / s.min_rotation_rate) ** s.imu_space_power
            sources.append(
                (
                    "IMU rotation axis (weaker)",
                    -s.space_imu(max(spread - 1.0, 1e-6)),
                    s.imu_space_weight * c,
                    kin["imu"],
                    spread,
                )
            )
        sources = [x for x in sources if x[2] >= s.min_space_confidence]
        if not sources:
            return self._factor(
                "space",
                float("nan"),
                float("nan"),
                "spread",
                0.0,
                kin["pose"] + kin["imu"],
                "no motion: no path",
            )
        v = float(np.average([x[1] for x in sources], weights=[x[2] for x in sources]))
        if sources[0][0] == "hand path":
            conf = min(1.0, sources[0][2])
        else:  # an IMU alone is the weaker witness: a rotation, not a path
            conf = 0.5 * min(1.0, sources[0][2] / s.imu_space_weight)
        used = [n for x in sources for n in x[3]]
        return self._factor(
            "space", v, sources[0][4], "spread", conf, used, " + ".join(x[0] for x in sources)
        )

    def _flow(self, emg: dict, kin: dict) -> Factor:
        """Flow (bound/free).

        The highest Rudolph co-contraction index of the antagonist pairs (Rudolph et
        al. 2000: mean of (lower/higher)·(lower + higher), fraction of MVC, scale
        ``flow``) — bound flow holds the joint with both muscles — weighted
        ``flow_fw_weight`` (default 0), the highest Falconer–Winter index (2·common /
        total area, Falconer & Winter 1985; scale ``flow_fw``; a pure ratio, it rates
        a faint pair as high as a strongly co-contracted one and lowered the tuning
        seeds' AUC: 0.97/0.97/0.88 without it against 0.96/0.98/0.82 with it), and,
        weighted ``smoothness_weight``, the hand speed's smoothness (SPARC,
        Balasubramanian et al. 2012, 2015; free flow is fluent). Pairs below the
        noise floor are invalid; with no valid pair the flow is free. Unavailable
        without an antagonist pair.

        Confidence: × ``min(1, ((1 + 0.75/r0) / (1 + rise/r0))³)``, r0 =
        ``flow_burst_rise`` (0.5 MVC/s), rise the steepest 50 ms envelope rise in the
        window (MVC/s; up to 0.75 MVC/s is a light steady contraction's own
        fluctuation). The rise is high in an agonist burst and in any strong
        contraction (an envelope's fluctuation grows with its level): there the
        co-contraction of strong Weight masks Flow's, and the index reads the burst's
        reciprocal onset as much as the mover's control. Bound flow is a *sustained*
        co-activation, free flow its absence, and both show best in the low-force
        phases (preparation, light holds, release, follow-through), so a movement's
        Flow (the confidence-weighted mean of its updates) leans on those. The cost:
        a strong isometric bound hold (the sim's press) is read from its onset and
        release and reads free-ish (docs/effort.md). On sim seeds 0-3 this (as
        1/(1 + rise/r0)) raised the AUC from 0.91/0.96/0.80 to 0.96/0.98/0.82
        (actions/requested/drawn); cubed, with the steady allowance and Rudolph's
        index alone, to 0.97/0.97/0.88.
        """
        s = self.settings
        if "level" not in emg or not any(st.pairs for st in self.emg.values()):
            return Factor.unavailable("flow", "needs EMG of an antagonist pair (e.g. biceps and triceps)")
        vals, weights = [], []
        if emg["pairs"]:
            vals.append(s.flow(emg["cc_r"]))
            weights.append(1.0)
            note = "co-contraction (Rudolph)"
            if s.flow_fw_weight > 0:
                vals.append(s.flow_fw(emg["cc_fw"]))
                weights.append(s.flow_fw_weight)
                note = "co-contraction (Rudolph, Falconer-Winter)"
        else:
            vals.append(-1.0)
            weights.append(1.0)
            note = "antagonist pairs below the noise floor"
        used = list(emg["pairs"] or emg["used"])
        if "sparc" in kin and np.isfinite(kin["sparc"]) and s.smoothness_weight > 0:
            vals.append(-s.flow_sparc(-kin["sparc"]))
            weights.append(s.smoothness_weight)
            used += kin["pose"]
            note += " + smoothness (SPARC)"
        v = float(np.average(vals, weights=weights))
        conf = 1.0 if emg["pairs"] else 0.5
        if s.flow_burst_rise > 0 and np.isfinite(emg.get("rise", np.nan)):
            r0 = s.flow_burst_rise
            burst = (1.0 + s.flow_steady_rise / r0) / (1.0 + max(emg["rise"], 0.0) / r0)
            conf *= min(1.0, burst**s.flow_burst_power)
        return self._factor("flow", v, emg["cc_r"], "MVC", conf, used, note)

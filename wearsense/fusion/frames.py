"""Step frames: the one representation every fusion dataset is turned into.

A *take* (one continuous recording of one mover) becomes a sequence of **steps** on a
regular grid of ``step_hz`` ("now" advances one step at a time, as it does live). For
each step, the arrays hold what a live system would know at that instant and nothing
later — the outputs of the causal DSP chain up to ``t[k]``, the newest pose frame that
has *arrived* by ``t[k]`` (with its age: the camera's latency is part of the problem),
and the pre-activation events detected so far — plus the *targets*: the true pose at
``t[k] + h`` for every prediction horizon ``h``.

Sim shards, recorded XDF sessions and the emg2pose layout are all read into
:class:`Take` (``wearsense.fusion.data``); tokenisation, training, evaluation and live
prediction read only :class:`Take` (or one step of it, live). This module imports
numpy only, so readers and baselines run without torch.

Shapes (K steps, C EMG channels, P envelope sub-samples per step, S IMUs, F IMU
features, D pose-input values, E event slots, H horizons, J joint angles, Q keypoints):

========== ================ ========= ==========================================================
field      shape            dtype     meaning
========== ================ ========= ==========================================================
t          (K,)             float64   step time ("now"), s, in the session's host clock
emg        (K, C, P)        float32   causal EMG envelope at P instants spread evenly over
                                      (t[k] - 1/step_hz, t[k]], as ``log1p(envelope / 10 µV)``
                                      (a fixed transform: no statistic of the recording)
emg_ok     (K, C)           bool      channel delivered samples within the step and is usable
imu        (K, S, F)        float32   newest IMU sample at or before t[k]: orientation
                                      quaternion w,x,y,z (causal AHRS), gyro rad/s, accel g
imu_ok     (K, S)           bool
pose       (K, D)           float32   newest pose frame *arrived* by t[k] (sim and XDF: keypoints
                                      relative to the pelvis, m, flattened x,y,z; emg2pose:
                                      joint angles, deg)
pose_age   (K,)             float32   t[k] minus that frame's capture time, s (≥ the latency)
pose_ok    (K,)             bool      a frame has arrived and it was not occluded
events     (K, E, 2)        float32   pre-activation events (causal onset detector) whose onset
                                      falls within the last ``event_window_s``: (channel index,
                                      age s), newest first
events_ok  (K, E)           bool
y_angles   (K, H, J)        float32   true joint angles at t[k] + horizons_ms[h], deg
y_kp       (K, H, Q, 3)     float32   true keypoints relative to the pelvis at t[k] + h, m; or None
y_ok       (K, H)           bool      the target time lies inside the recording
========== ================ ========= ==========================================================

``labels`` holds per-step integer arrays for evaluation only (never model input):
``family`` and ``kind`` (codes into ``names["families"]``/``names["kinds"]``, -1 unknown)
and ``onset`` (1 at the step where a true movement starts, else 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wearsense.errors import ConfigError

__all__ = ["FeatureSpec", "Take", "CONDITIONS", "HORIZONS_MS", "IMU_FEATURES"]

#: The horizons every evaluation reports (ms); the model predicts these and more.
HORIZONS_MS: tuple[int, ...] = (0, 50, 100, 200, 400)

#: Which input modalities each evaluation condition may see. Conditions without
#: "pose" still receive the pose frames of the first ``pose_start_s`` of a take (the
#: posture to start from), then none.
CONDITIONS: dict[str, frozenset[str]] = {
    "camera": frozenset({"pose"}),
    "imu": frozenset({"imu"}),
    "emg": frozenset({"emg", "events"}),
    "inside_out": frozenset({"emg", "events", "imu"}),
    "camera_imu": frozenset({"pose", "imu"}),
    "all": frozenset({"pose", "emg", "events", "imu"}),
}


#: Features of one IMU slot, in order: orientation (causal AHRS, scalar-first, sensor to
#: world ENU), gyro (rad/s), accelerometer (specific force, g).
IMU_FEATURES: tuple[str, ...] = (
    "qw", "qx", "qy", "qz", "gyro_x", "gyro_y", "gyro_z", "acc_x", "acc_y", "acc_z",
)

ONSET_METHODS = ("double_threshold", "tkeo", "cusum")
EMG_NORMS = ("fixed", "mvc")
IMU_FRAMES = ("sensor", "segment")


@dataclass(frozen=True)
class FeatureSpec:
    """The DSP and tokenisation settings that turn streams into steps.

    Travels inside every checkpoint: a model only ever sees inputs made with the
    settings it was trained on. The DSP fields are plain values (JSON-able); the
    methods below turn them into the settings objects of :mod:`wearsense.dsp`.

    Parameters
    ----------
    step_hz : float
        Rate of the step grid ("now" advances by ``1/step_hz``), Hz.
    emg_patch : int
        Envelope instants per step (P), spread evenly over ``(t - 1/step_hz, t]``.
    horizons_ms : tuple of int
        Prediction horizons of the targets (ms); must include :data:`HORIZONS_MS`.
    event_slots, event_window_s
        Pre-activation events kept per step (E) and how long one stays (s).
    pose_start_s : float
        Conditions without pose still see the pose frames of the first this many seconds.
    emg_band_hz : (low, high)
        Band-pass of the causal EMG chain (Hz; adapts below Nyquist, see
        :class:`~wearsense.dsp.BandPassSettings`).
    envelope_hz : float
        Low-pass cut-off of the envelope (Hz).
    onset_method : {"double_threshold", "tkeo", "cusum"}
        Causal onset detector of :mod:`wearsense.dsp.onset` that makes the events.
    emg_norm : {"fixed", "mvc"}
        ``"fixed"``: ``log1p(envelope / emg_unit_v)``, no statistic of the recording;
        ``"mvc"``: ``log1p(envelope / (emg_mvc_unit * MVC))`` with each channel's MVC from
        a calibration profile (an error when there is none).
    emg_unit_v : float
        Envelope unit of the fixed transform (V; 10 µV, about the noise floor).
    emg_mvc_unit : float
        Envelope unit of the MVC transform (fraction of MVC; 0.01 = 1 %).
    ahrs_method, ahrs_gain, use_magnetometer
        Orientation filter (:class:`~wearsense.dsp.AhrsSettings`).
    imu_frame : {"sensor", "segment"}
        The axes of each IMU slot's orientation, gyro and accelerometer. ``"sensor"``:
        as the device reads them (a few degrees of mounting differ from mover to mover
        and session to session). ``"segment"``: turned into the axes of the body segment
        the sensor sits on, by the ``segment`` section of the device's calibration
        profile (``wearsense calibrate npose <uri>``, :mod:`wearsense.calibrate.segment`;
        a stream without one is an error).
    mains_hz : float or None
        Mains notch family (50/60), or None to detect it from the first second.
    """

    step_hz: float = 60.0
    emg_patch: int = 8
    horizons_ms: tuple[int, ...] = (0, 50, 100, 200, 300, 400, 500)
    event_slots: int = 4
    event_window_s: float = 0.3
    pose_start_s: float = 0.5
    #: causal EMG chain settings as plain values (band-pass Hz, envelope low-pass Hz)
    emg_band_hz: tuple[float, float] = (20.0, 450.0)
    envelope_hz: float = 6.0
    onset_method: str = "double_threshold"
    emg_norm: str = "fixed"
    emg_unit_v: float = 10e-6
    emg_mvc_unit: float = 0.01
    ahrs_method: str = "complementary"
    ahrs_gain: float = 0.5
    use_magnetometer: bool = True
    mains_hz: float | None = None
    imu_frame: str = "sensor"

    def __post_init__(self) -> None:
        if not 5.0 <= self.step_hz <= 500.0:
            raise ConfigError(f"FeatureSpec.step_hz={self.step_hz}: must be within 5..500 Hz", "step_hz")
        if self.emg_patch < 1 or self.event_slots < 0:
            raise ConfigError("FeatureSpec.emg_patch must be >= 1 and event_slots >= 0", "emg_patch")
        if not self.horizons_ms or any(h < 0 for h in self.horizons_ms):
            raise ConfigError(f"FeatureSpec.horizons_ms={self.horizons_ms}: need one or more horizons >= 0",
                              "horizons_ms")
        missing = [h for h in HORIZONS_MS if h not in self.horizons_ms]
        if missing:
            raise ConfigError(f"FeatureSpec.horizons_ms lacks the reported horizons {missing} ms; add them",
                              "horizons_ms")
        if self.onset_method not in ONSET_METHODS:
            raise ConfigError(f"FeatureSpec.onset_method={self.onset_method!r}: one of {ONSET_METHODS}",
                              "onset_method")
        if self.emg_norm not in EMG_NORMS:
            raise ConfigError(f"FeatureSpec.emg_norm={self.emg_norm!r}: one of {EMG_NORMS}", "emg_norm")
        if not (self.emg_unit_v > 0 and self.emg_mvc_unit > 0 and self.event_window_s > 0):
            raise ConfigError("FeatureSpec.emg_unit_v, emg_mvc_unit and event_window_s must be > 0")
        if len(self.emg_band_hz) != 2 or not 0 < self.emg_band_hz[0] < self.emg_band_hz[1]:
            raise ConfigError(f"FeatureSpec.emg_band_hz={self.emg_band_hz}: need 0 < low < high (Hz)",
                              "emg_band_hz")
        if self.ahrs_method not in ("complementary", "mahony"):
            raise ConfigError(f"FeatureSpec.ahrs_method={self.ahrs_method!r}: 'complementary' or 'mahony'",
                              "ahrs_method")
        if self.imu_frame not in IMU_FRAMES:
            raise ConfigError(f"FeatureSpec.imu_frame={self.imu_frame!r}: one of {IMU_FRAMES}", "imu_frame")
        if self.mains_hz not in (None, 50, 60, 50.0, 60.0):
            raise ConfigError(f"FeatureSpec.mains_hz={self.mains_hz!r}: 50, 60 or None (detect)", "mains_hz")

    @property
    def step_s(self) -> float:
        """Length of one step (s)."""
        return 1.0 / self.step_hz

    def emg_chain_settings(self, mvc_v: tuple[float, ...] | None = None):
        """The :class:`~wearsense.dsp.EmgChainSettings` of the envelope (MVC gain when given)."""
        from wearsense.dsp.emg import BandPassSettings, EmgChainSettings, EnvelopeSettings, NotchSettings

        return EmgChainSettings(
            bandpass=BandPassSettings(low_hz=float(self.emg_band_hz[0]), high_hz=float(self.emg_band_hz[1])),
            notch=NotchSettings(mains_hz=self.mains_hz),
            envelope=EnvelopeSettings(cutoff_hz=float(self.envelope_hz)),
            mvc_v=mvc_v,
        )

    def onset_detector(self, rate_hz: float):
        """A fresh causal onset detector (:mod:`wearsense.dsp.onset`) for raw EMG at ``rate_hz``."""
        from wearsense.dsp import onset

        cls = {"double_threshold": onset.DoubleThreshold, "tkeo": onset.TkeoThreshold,
               "cusum": onset.CusumChangePoint}[self.onset_method]
        return cls(rate_hz)

    def ahrs_settings(self):
        """The :class:`~wearsense.dsp.AhrsSettings` of the orientation filter."""
        from wearsense.dsp.ahrs import AhrsSettings

        return AhrsSettings(method=self.ahrs_method, gain=float(self.ahrs_gain))

    def to_dict(self) -> dict[str, Any]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "FeatureSpec":
        """Inverse of :meth:`to_dict`; a key this version does not know is an error naming it."""
        unknown = sorted(set(d) - set(cls.__dataclass_fields__))
        if unknown:
            raise ConfigError(f"FeatureSpec: unknown setting(s) {unknown}; known: "
                              f"{', '.join(cls.__dataclass_fields__)} (made by a newer wearsense?)")
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


@dataclass
class Take:
    """One continuous recording of one mover as step frames (see the module docstring)."""

    name: str
    mover: str
    split: str
    spec: FeatureSpec
    t: np.ndarray
    emg: np.ndarray
    emg_ok: np.ndarray
    imu: np.ndarray
    imu_ok: np.ndarray
    pose: np.ndarray
    pose_age: np.ndarray
    pose_ok: np.ndarray
    events: np.ndarray
    events_ok: np.ndarray
    y_angles: np.ndarray
    y_kp: np.ndarray | None
    y_ok: np.ndarray
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    #: channel names: "emg", "imu", "imu_features", "pose", "joints", "keypoints",
    #: "families", "kinds"
    names: dict[str, list[str]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.t)
        h = len(self.spec.horizons_ms)
        checks = {
            "emg": (self.emg, 3), "emg_ok": (self.emg_ok, 2), "imu": (self.imu, 3),
            "imu_ok": (self.imu_ok, 2), "pose": (self.pose, 2), "pose_age": (self.pose_age, 1),
            "pose_ok": (self.pose_ok, 1), "events": (self.events, 3), "events_ok": (self.events_ok, 2),
            "y_angles": (self.y_angles, 3), "y_ok": (self.y_ok, 2),
        }
        for name, (a, nd) in checks.items():
            if a.ndim != nd or a.shape[0] != k:
                raise ConfigError(f"Take {self.name!r}: {name} has shape {a.shape}; expected {nd} dims "
                                  f"with {k} steps first")
        if self.y_angles.shape[1] != h or self.y_ok.shape[1] != h:
            raise ConfigError(f"Take {self.name!r}: targets have {self.y_angles.shape[1]} horizons, "
                              f"the spec {h}")
        if self.y_kp is not None and (self.y_kp.shape[:2] != (k, h) or self.y_kp.shape[-1] != 3):
            raise ConfigError(f"Take {self.name!r}: y_kp has shape {self.y_kp.shape}; "
                              f"expected ({k}, {h}, Q, 3)")

    def __len__(self) -> int:
        return len(self.t)

    def slice(self, start: int, stop: int, name: str | None = None, split: str | None = None) -> "Take":
        """Steps ``start:stop`` as a Take of their own (arrays are views; labels sliced too).

        The inputs stay what they were in the whole take (the causal DSP ran over all of
        it), so a slice sees exactly what a live system would have seen at those steps.
        """
        sl = slice(start, stop)
        arrays = {f: getattr(self, f)[sl] for f in (
            "t", "emg", "emg_ok", "imu", "imu_ok", "pose", "pose_age", "pose_ok", "events", "events_ok",
            "y_angles", "y_ok")}
        return Take(
            name=name or f"{self.name}[{start}:{stop}]", mover=self.mover, split=split or self.split,
            spec=self.spec, y_kp=None if self.y_kp is None else self.y_kp[sl],
            labels={k: v[sl] for k, v in self.labels.items()}, names=self.names,
            meta={**self.meta, "slice_of": self.name, "slice": [int(start), int(stop)]}, **arrays,
        )

    def horizon_index(self, h_ms: int) -> int:
        """Index of horizon ``h_ms`` in the targets."""
        try:
            return self.spec.horizons_ms.index(h_ms)
        except ValueError:
            raise ConfigError(f"horizon {h_ms} ms is not among {self.spec.horizons_ms}") from None

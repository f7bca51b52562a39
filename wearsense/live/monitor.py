"""What the live views show, computed once: :class:`LiveMonitor`.

The terminal view (``wearsense live``) and the web dashboard (``wearsense dashboard``)
show the same things, so they read them from one object that consumes the device's
``(StreamInfo, Chunk)`` pairs as they arrive:

- per stream: rate, loss, the age of the last chunk (stream health), from
  :class:`~wearsense.live.terminal.LiveStats`;
- per EMG channel: a 100 ms RMS envelope (volts) and the signal-quality verdict of
  :class:`~wearsense.dsp.quality.QualityMonitor`;
- per IMU: its orientation from :class:`~wearsense.dsp.ahrs.Ahrs` (tilt of the sensor
  z axis from world up and heading of its x axis, degrees) and the filter's flags;
- the newest pose frame (keypoints, metres) and when it arrived;
- the effort factors and pre-activation events of :mod:`wearsense.effort`, when the
  streams it needs are there;
- a model's predicted pose and surprise, when a predictor is attached
  (:meth:`LiveMonitor.set_prediction`).

Times: ``received_s`` of the chunks is the host clock (``time.monotonic()`` seconds for
live devices); every "age" here is host time now minus that.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wearsense.dsp.ahrs import Ahrs, AhrsSettings, heading_deg, tilt_deg
from wearsense.live.terminal import LiveStats
from wearsense.stream import Chunk, Modality, StreamInfo

log = logging.getLogger("wearsense")

__all__ = ["Orientation", "PoseFrame", "Prediction", "LiveMonitor", "SKELETON", "stream_health"]

#: Bones of the stick figure, as pairs of keypoint names (those a stream lacks are left out).
SKELETON = (
    ("pelvis", "thorax"), ("thorax", "neck"), ("neck", "head"),
    ("thorax", "shoulder_r"), ("shoulder_r", "elbow_r"), ("elbow_r", "wrist_r"), ("wrist_r", "hand_r"),
    ("thorax", "shoulder_l"), ("shoulder_l", "elbow_l"), ("elbow_l", "wrist_l"), ("wrist_l", "hand_l"),
    ("pelvis", "hip_r"), ("hip_r", "knee_r"), ("knee_r", "ankle_r"), ("ankle_r", "toe_r"),
    ("pelvis", "hip_l"), ("hip_l", "knee_l"), ("knee_l", "ankle_l"), ("ankle_l", "toe_l"),
)


@dataclass(frozen=True)
class Orientation:
    """One IMU's latest orientation.

    Attributes
    ----------
    quaternion : ndarray (4,)
        Scalar-first, sensor to world (ENU, z up).
    flags : tuple of str
        What the filter ignores now (``accelerometer ignored``, ``magnetometer ignored``)
        and ``at rest``.
    """

    quaternion: np.ndarray
    flags: tuple[str, ...] = ()

    @property
    def tilt_deg(self) -> float:
        """Angle between the sensor's z axis and world up (deg)."""
        return float(tilt_deg(self.quaternion))

    @property
    def heading_deg(self) -> float:
        """Heading of the sensor's x axis (deg; 0 = east, 90 = north)."""
        return float(heading_deg(self.quaternion))


@dataclass(frozen=True)
class PoseFrame:
    """The newest pose frame: keypoint name -> (x, y, z) metres (NaN where occluded)."""

    stream: str
    keypoints: dict[str, tuple[float, float, float]]
    t: float  # stream-clock time of the frame (s)
    received_s: float  # host arrival (s)


@dataclass(frozen=True)
class Prediction:
    """A model's output at one step (from :mod:`wearsense.fusion.predict`).

    ``keypoints``: predicted keypoints (metres) at ``horizon_ms`` ahead, or None when the
    model predicts joint angles only; ``angles``: joint name -> degrees; ``surprise``:
    the model's forward-model error (dimensionless, higher = more unexpected).
    """

    horizon_ms: float
    keypoints: dict[str, tuple[float, float, float]] | None
    angles: dict[str, float]
    surprise: float
    host_s: float


def _keypoints(info: StreamInfo, row: np.ndarray) -> dict[str, tuple[float, float, float]]:
    names = info.metadata.get("keypoints") or sorted({c[:-2] for c in info.channels if c.endswith("_x")})
    out = {}
    for name in names:
        try:
            ix, iy, iz = (info.index(f"{name}_{a}") for a in "xyz")
        except Exception:  # noqa: BLE001 - a keypoint without all three axes is not drawn
            continue
        out[name] = (float(row[ix]), float(row[iy]), float(row[iz]))
    return out


def stream_health(stats: LiveStats, now_s: float, stale_after_s: float = 1.0) -> list[dict[str, Any]]:
    """One row per stream: ``name, modality, rate_hz, nominal_hz, lost_pct, age_s, state``.

    ``state`` is ``ok``, ``waiting`` (no chunk yet), ``stale`` (no chunk for
    ``stale_after_s`` of host time), ``slow`` (below 90 % of the nominal rate after
    2 s) or ``lossy`` (over 1 % lost).
    """
    rows = []
    for name, st in sorted(stats.streams.items()):
        age = now_s - st.last_host_s if math.isfinite(st.last_host_s) else math.inf
        rate = st.rate_hz
        nominal = st.info.rate_hz
        if st.chunks == 0:
            state = "waiting"
        elif age > stale_after_s and nominal > 0:
            state = "stale"
        elif nominal > 0 and math.isfinite(rate) and now_s - st.first_host_s > 2 and rate < 0.9 * nominal:
            state = "slow"
        elif st.loss_fraction > 0.01:
            state = "lossy"
        else:
            state = "ok"
        rows.append({
            "name": name, "modality": st.info.modality.value,
            "rate_hz": rate if math.isfinite(rate) else None,
            "nominal_hz": nominal, "lost_pct": 100 * st.loss_fraction,
            "age_s": age if math.isfinite(age) else None, "state": state, "samples": st.samples,
        })
    return rows


class LiveMonitor:
    """Everything the live views show, updated chunk by chunk (see the module docstring).

    Parameters
    ----------
    effort : bool
        Estimate effort factors and pre-activation events (:mod:`wearsense.effort`)
        when the streams it needs are present.
    on_event : callable, optional
        Called with each new pre-activation event
        (:class:`~wearsense.effort.PreactivationEvent`; a publisher sends it on).
    on_effort : callable, optional
        Called with each new :class:`~wearsense.effort.EffortState` (10 per second).
    predictor : callable, optional
        ``predictor(streams)`` makes a model runner for the streams given to :meth:`start`:
        a :class:`wearsense.fusion.predict.LivePredictor` (``feed(info, chunk)`` returns
        the steps it completed; ``log`` names joints, keypoints and horizons). Its newest
        step becomes :attr:`prediction`.
    clock : callable
        The host clock (s) that chunk arrival times are in; ``time.monotonic`` for live
        devices.
    events_kept : int
        Pre-activation events kept for display (newest last).
    background : bool
        Run effort, pre-activation and the model in a worker thread, so that a view's
        event loop is not held up by their 10 Hz updates (tens of ms each); their results
        then appear as the worker gets to them. Call :meth:`close` when done.
    """

    def __init__(
        self,
        *,
        effort: bool = True,
        on_event: Callable[[Any], None] | None = None,
        on_effort: Callable[[Any], None] | None = None,
        predictor: Callable[[Sequence[StreamInfo]], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        events_kept: int = 20,
        background: bool = False,
    ) -> None:
        self.stats = LiveStats()
        self.clock = clock
        self.orientation: dict[str, Orientation] = {}
        self.pose: PoseFrame | None = None
        self.prediction: Prediction | None = None
        self.events: deque = deque(maxlen=events_kept)
        self.effort_note = "" if effort else "effort off"
        self._ahrs: dict[str, Ahrs | None] = {}
        self._want_effort = effort
        self._effort = None  # wearsense.effort's estimator and detector, made by start()
        self._preact = None
        self._timeline = None
        self._infos: dict[str, StreamInfo] = {}
        self._on_event = on_event
        self._on_effort = on_effort
        self._make_predictor = predictor
        self._predictor = None
        self.predict_horizon_ms = 100.0  # the horizon shown (the nearest the model has)
        self.effort_state = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._worker_error: Exception | None = None
        self._worker = threading.Thread(target=self._work, name="wearsense-live-effort", daemon=True) \
            if background else None
        if self._worker is not None:
            self._worker.start()
        self.effort_readings: dict[str, Any] = {}
        self.events_total = 0  # pre-activation events seen since the start
        self.chunks_seen = 0

    # -- input --------------------------------------------------------------------------
    def start(self, infos: Sequence[StreamInfo]) -> None:
        """Declare the streams that will come (``Recording.streams`` once the devices are
        open): effort factors and pre-activation events need all of them up front.

        Their chunks are put on one clock first, as :mod:`wearsense.effort` needs: the
        sync layer's :class:`~wearsense.sync.Timeline` maps each device's clock to host
        monotonic time from the arrival times.
        """
        infos = list(infos)
        for i in infos:
            self._infos.setdefault(i.name, i)
        if self._make_predictor is not None:
            self._predictor = self._make_predictor(infos)
        if not self._want_effort:
            return
        try:
            from wearsense.effort import EffortEstimator, PreactivationDetector
        except ImportError as e:  # a build without the effort layer
            self.effort_note = f"effort not available: {e}"
            return
        from wearsense.sync import Timeline

        from wearsense.errors import WearsenseError

        self._timeline = Timeline()
        try:
            self._effort = EffortEstimator(infos)
        except WearsenseError as e:
            self.effort_note = f"effort not estimated: {e}"
        try:
            self._preact = PreactivationDetector(infos)
        except WearsenseError as e:
            log.info("live: no pre-activation events: %s", e)
        if self._effort is not None:
            self.effort_note = "waiting for the first effort update (10 per second)"

    def update(self, info: StreamInfo, chunk: Chunk) -> None:
        """Take one chunk of one stream (host-clock ``received_s``)."""
        self.chunks_seen += 1
        self._infos.setdefault(info.name, info)
        self.stats.update(info, chunk)
        if chunk.n == 0:
            return
        if info.modality is Modality.IMU:
            self._orient(info, chunk)
        elif info.modality is Modality.POSE:
            finite = np.flatnonzero(np.isfinite(chunk.data).any(axis=1))
            if finite.size:
                k = int(finite[-1])
                self.pose = PoseFrame(info.name, _keypoints(info, chunk.data[k]), float(chunk.t[k]),
                                      chunk.received_s)
        if self._want_effort or self._predictor is not None:
            if self._worker is not None:
                if self._worker_error is not None:
                    raise self._worker_error
                self._queue.put((info, chunk))
            else:
                self._slow(info, chunk)

    def _slow(self, info: StreamInfo, chunk: Chunk) -> None:
        """The costly part: effort, pre-activation, the model (10 Hz updates of tens of ms)."""
        if self._want_effort:
            self._update_effort(info, chunk)
        if self._predictor is not None:
            records = self._predictor.feed(info, chunk)
            if records:
                self._set_prediction(records[-1])

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            try:
                self._slow(*item)
            except Exception as e:  # noqa: BLE001 - raised again in the caller's thread by update()
                self._worker_error = e
                return

    def close(self) -> None:
        """Stop the background worker (``background=True``) after what it was given; idempotent."""
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None

    def _set_prediction(self, rec: Any) -> None:
        """The model's newest step as a :class:`Prediction`: the horizon nearest
        :attr:`predict_horizon_ms`; its pelvis-relative keypoints put at the newest
        camera frame's pelvis (so the two figures stand side by side)."""
        log_ = self._predictor.log
        horizons = list(log_.horizons_ms) or [0]
        h = int(np.argmin([abs(x - self.predict_horizon_ms) for x in horizons]))
        keypoints = None
        if rec.kp is not None and len(log_.keypoints):
            base = np.zeros(3)
            if self.pose is not None and "pelvis" in self.pose.keypoints:
                base = np.nan_to_num(np.array(self.pose.keypoints["pelvis"], dtype=float))
            kp = np.asarray(rec.kp)[h] + base
            keypoints = {name: tuple(float(v) for v in kp[q]) for q, name in enumerate(log_.keypoints)}
        angles = np.asarray(rec.angles)[h]
        self.prediction = Prediction(float(horizons[h]), keypoints,
                                     {j: float(a) for j, a in zip(log_.joints, angles)}, float(rec.surprise),
                                     float(rec.t))

    def _orient(self, info: StreamInfo, chunk: Chunk) -> None:
        if info.name not in self._ahrs:
            try:
                self._ahrs[info.name] = Ahrs(info, AhrsSettings())
            except Exception as e:  # noqa: BLE001 - an IMU without acc/gyro labels has no orientation
                log.info("live: no orientation for %s: %s", info.name, e)
                self._ahrs[info.name] = None
        ahrs = self._ahrs[info.name]
        if ahrs is None:
            return
        q = ahrs.process(chunk).data[-1].astype(float)
        st = ahrs.state
        flags = tuple(f for f, on in (("accelerometer ignored", st.accelerometer_ignored),
                                      ("magnetometer ignored", st.magnetometer_ignored),
                                      ("at rest", st.at_rest)) if on)
        self.orientation[info.name] = Orientation(q, flags)

    def _update_effort(self, info: StreamInfo, chunk: Chunk) -> None:
        """Feed :mod:`wearsense.effort`, on the host clock (the streams given to :meth:`start`)."""
        if self._timeline is None:
            if not self.effort_note:
                self.effort_note = "effort needs the streams up front: call LiveMonitor.start(streams)"
            return
        from wearsense.errors import WearsenseError

        try:
            mapped = self._timeline.process(info, chunk)
            if self._effort is not None and info.name in self._effort.infos:
                states = self._effort.process(info.name, mapped)
                self._effort.states.clear()  # the monitor keeps the newest only
                if states:
                    self._set_effort(states[-1])
            if self._preact is not None and info.name in self._preact.infos:
                for ev in self._preact.process(info.name, mapped):
                    self.add_event(ev)
        except WearsenseError as e:  # one bad chunk (a clock that jumped) must not stop the view
            log.info("live: effort skipped a chunk of %s: %s", info.name, e)

    def _set_effort(self, state: Any) -> None:
        from wearsense.effort import POLES

        self.effort_state = state
        self.effort_note = ""
        rows = {}
        for name, f in state.factors.items():
            rows[name] = {
                "factor": name, "value": float(f.value) if math.isfinite(f.value) else None,
                "pole": f.pole, "poles": list(POLES.get(name, ("", ""))),
                "confidence": float(f.confidence), "sensors": list(f.sensors), "available": bool(f.available),
                "note": f.note,
            }
        self.effort_readings = rows
        if self._on_effort is not None:
            self._on_effort(state)

    def add_event(self, event: Any) -> None:
        """Keep one pre-activation event for display and pass it to ``on_event``."""
        self.events.append(event)
        self.events_total += 1
        if self._on_event is not None:
            self._on_event(event)

    def set_prediction(self, prediction: Prediction | None) -> None:
        """The model's newest output (None: no model)."""
        self.prediction = prediction

    # -- output -------------------------------------------------------------------------
    @property
    def infos(self) -> dict[str, StreamInfo]:
        return dict(self._infos)

    def emg_streams(self) -> Sequence[str]:
        return [n for n, st in sorted(self.stats.streams.items()) if st.envelope is not None]

    def now(self) -> float:
        """Host time now, in the clock of the chunks' arrival times. Devices that deliver
        faster than real time (``sim://...&realtime=0``, replays) stamp arrivals in their
        own simulated host clock: when the newest arrival is over a minute away from
        ``clock()``, the newest arrival stands for now."""
        now = self.clock()
        newest = max((st.last_host_s for st in self.stats.streams.values() if math.isfinite(st.last_host_s)),
                     default=now)
        return newest if abs(now - newest) > 60 else now

    def health(self) -> list[dict[str, Any]]:
        """:func:`stream_health` now."""
        return stream_health(self.stats, self.now())

    def effort_rows(self) -> list[dict[str, Any]]:
        """The effort factors now, one dict each: ``factor, value, pole, confidence, sensors,
        available, note`` (empty when effort is not estimated)."""
        return [dict(r) for r in self.effort_readings.values()]

    @staticmethod
    def describe_event(event: Any) -> dict[str, Any]:
        """A pre-activation event as the views show it: ``text`` (the sentence) plus its fields."""
        if isinstance(event, dict):
            return dict(event)
        if hasattr(event, "describe"):
            lead = getattr(event, "lead_ms", math.nan)
            return {"text": event.describe(), "muscle": event.muscle, "segment": event.segment,
                    "kind": event.kind, "lead_ms": lead if math.isfinite(lead) else None, "t": event.t}
        return {"text": str(event)}

    def emg_levels(self) -> dict[str, list[dict[str, Any]]]:
        """Per EMG stream, per channel: ``label, level_v, flags`` (``[]`` = quality ok)."""
        out = {}
        for name in self.emg_streams():
            st = self.stats.streams[name]
            verdicts = {q.label: q for q in st.quality.status()}
            rows = []
            level = st.level if st.level.size else np.full(st.info.n_channels, np.nan)
            for ch, v in zip(st.info.channels, level):
                q = verdicts.get(ch)
                rows.append({"label": ch, "level_v": float(v) if np.isfinite(v) else None,
                             "flags": sorted(q.flags) if q is not None else []})
            out[name] = rows
        return out

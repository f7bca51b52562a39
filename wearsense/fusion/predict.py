"""Live prediction: any device -> host clock -> step frames -> the motion model -> OSC/LSL.

``wearsense predict <uri>`` is a thin shell over this module. The path of one chunk:

1. the device delivers it with its own timestamps (:mod:`wearsense.devices`);
2. :class:`wearsense.sync.Timeline` maps them to the session clock (the LSL clock when
   publishing to LSL: ``pylsl.local_clock()``, on Linux ``time.monotonic()``);
3. :class:`~wearsense.fusion.data.StepFeaturizer` turns it into causal EMG envelopes,
   AHRS orientation, the newest arrived pose frame and onset events, and emits a step
   frame for every step time ``t`` that every live stream has delivered data up to
   (a stream silent for ``max_wait_s`` stops holding the steps back);
4. ``model.stream(condition).step(frame)`` predicts the pose at every horizon and the
   surprise (:mod:`wearsense.fusion.model`);
5. :class:`~wearsense.live.publish.Publisher` sends it over OSC (one bundle per step)
   and LSL (``docs/osc.md``).

Three latencies are kept per step (:class:`PredictionLog`): ``step_latency_s``, the
model's own step; ``added_latency_s``, from the moment the chunk that completed the
step was handed to :meth:`LivePredictor.feed` to the moment its prediction had been
published (steps 2–5: the processing wearsense adds); and, for devices that deliver in
real time, ``arrival_latency_s``, from the chunk's host arrival time (``received_s``,
stamped by the driver) to publication, which also counts any time the chunk waited in
the process behind earlier ones (a backlog at start-up, a stall of the machine).

"Predicted against actual": the pose frames that arrive later are the truth of the
predictions made earlier. :meth:`PredictionLog.errors_mm` compares the keypoints
predicted at step ``t`` for ``t + h`` with the camera frame captured at ``t + h``
(linear interpolation between frames), per horizon.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wearsense.errors import ConfigError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = [
    "PredictSettings",
    "StepRecord",
    "PredictionLog",
    "LivePredictor",
    "load_model",
    "check_channels",
    "fast_uri",
    "run_prediction",
    "render_prediction",
    "plot_prediction",
    "PredictionView",
]

log = logging.getLogger("wearsense")

#: Modalities the featurizer reads; other streams (markers, force) are not pushed.
_USED = (Modality.EMG, Modality.IMU, Modality.POSE)


@dataclass(frozen=True)
class PredictSettings:
    """Settings of the live prediction loop.

    Parameters
    ----------
    condition : str
        Which inputs the model sees (:data:`wearsense.fusion.frames.CONDITIONS`).
    max_wait_s : float
        A stream that has delivered nothing for this long (session clock, s) no longer
        holds the steps back; its steps go out without it (the model sees it missing).
    announce_s : float
        Repeat the channel names over OSC this often (s), for receivers started late.
    duration_s : float or None
        Stop after this much session time from the first step (s); None: until the
        device ends or ``stop`` is set.
    keep_s : float
        How much of the newest prediction history the log keeps for the view and the
        final figure (s); latencies are kept for every step.
    """

    condition: str = "all"
    max_wait_s: float = 0.25
    announce_s: float = 1.0
    duration_s: float | None = None
    keep_s: float = 120.0

    def __post_init__(self) -> None:
        from wearsense.fusion.frames import CONDITIONS

        if self.condition not in CONDITIONS:
            raise ConfigError(
                f"condition {self.condition!r} is unknown; choose one of {', '.join(CONDITIONS)}",
                parameter="condition",
            )
        if not self.max_wait_s > 0:
            raise ConfigError(f"max_wait_s must be > 0 s, got {self.max_wait_s!r}", parameter="max_wait_s")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ConfigError(
                f"duration_s must be > 0 s (or None: until the device ends), got {self.duration_s!r}",
                parameter="duration_s",
            )


@dataclass
class StepRecord:
    """What one step produced.

    Attributes
    ----------
    t : float
        Step time, session clock (s).
    angles : ndarray (H, J), deg
    kp : ndarray (H, Q, 3), m, or None
    surprise : float
    actual_kp : ndarray (Q, 3), m, or None
        The newest arrived pose frame (pelvis-relative), None when there is none.
    actual_age_s : float
        Its age at ``t`` (s).
    onsets : list of str
        Muscles whose EMG onset was first seen at this step.
    step_latency_s, added_latency_s : float
        The model's step; chunk handed in -> prediction published (s).
    arrival_latency_s : float
        The chunk's host arrival (``received_s``) -> prediction published (s); NaN for
        devices that do not deliver in real time (``realtime=0``, replays).
    published_s : float
        When the prediction had been published, session clock (s): ``published_s - t``
        is the prediction's age when it went out (the sensors' own latency and the wait
        for the slowest stream, plus the added latency). Meaningful for devices that
        deliver in real time only.
    """

    t: float
    angles: np.ndarray
    kp: np.ndarray | None
    surprise: float
    actual_kp: np.ndarray | None
    actual_age_s: float
    onsets: list[str]
    step_latency_s: float
    added_latency_s: float
    published_s: float = math.nan
    arrival_latency_s: float = math.nan


@dataclass
class PredictionLog:
    """The run so far: the latest steps (for the view and the final figure; the last
    ``keep`` of them) and every step's latencies (for the report)."""

    horizons_ms: tuple[int, ...]
    joints: list[str]
    keypoints: list[str]
    condition: str
    keep: int = 7200
    steps: deque = field(default_factory=deque)
    #: the model's step rate (Hz)
    step_hz: float = 60.0
    #: every step's model latency and added latency (s), not only the kept ones
    step_latency_s: list[float] = field(default_factory=list)
    added_latency_s: list[float] = field(default_factory=list)
    arrival_latency_s: list[float] = field(default_factory=list)
    chunks: int = 0
    #: wall-clock time the loop ran (s)
    elapsed_s: float = 0.0

    def __post_init__(self) -> None:
        self.steps = deque(self.steps, maxlen=self.keep)

    def append(self, record: StepRecord) -> None:
        self.steps.append(record)
        self.step_latency_s.append(record.step_latency_s)
        self.added_latency_s.append(record.added_latency_s)
        self.arrival_latency_s.append(record.arrival_latency_s)

    @property
    def n_steps(self) -> int:
        """Steps predicted in the whole run (the log keeps the last ``keep``)."""
        return len(self.step_latency_s)

    def __len__(self) -> int:
        return len(self.steps)

    def window(self, last: int | None = None) -> "PredictionLog":
        """A log of the newest ``last`` kept steps only (same names)."""
        steps = list(self.steps)[-last:] if last else list(self.steps)
        return PredictionLog(
            self.horizons_ms, self.joints, self.keypoints, self.condition, max(len(steps), 1), deque(steps)
        )

    @property
    def t(self) -> np.ndarray:
        """Step times (K,), session clock, s."""
        return np.array([s.t for s in self.steps], dtype=np.float64)

    @property
    def angles(self) -> np.ndarray:
        """Predicted joint angles (K, H, J), deg."""
        return np.array([s.angles for s in self.steps], dtype=np.float32)

    @property
    def kp(self) -> np.ndarray | None:
        """Predicted keypoints (K, H, Q, 3), m; None when the model predicts none."""
        if not self.steps or self.steps[0].kp is None:
            return None
        return np.array([s.kp for s in self.steps], dtype=np.float32)

    @property
    def surprise(self) -> np.ndarray:
        """(K,); NaN where the model had nothing to compare."""
        return np.array([s.surprise for s in self.steps], dtype=np.float64)

    def actual(self) -> tuple[np.ndarray, np.ndarray]:
        """The distinct pose frames seen: capture times (n,) s and keypoints (n, Q, 3) m."""
        seen: dict[float, np.ndarray] = {}
        for s in self.steps:
            if s.actual_kp is not None:
                seen.setdefault(round(s.t - s.actual_age_s, 6), s.actual_kp)
        if not seen:
            return np.zeros(0), np.zeros((0, max(len(self.keypoints), 1), 3), np.float32)
        tc = np.array(sorted(seen))
        return tc, np.stack([seen[k] for k in tc])

    def errors_mm(self, baseline: bool = False) -> dict[int, float]:
        """Mean keypoint error (MPJPE, mm) per horizon over the kept steps: the prediction
        made at ``t`` for ``t + h`` against the camera frame captured at ``t + h``
        (interpolated between frames; predictions whose target lies outside the frames
        seen are left out). NaN where there is nothing to compare.

        ``baseline=True``: the same for "hold the newest camera frame" (zero velocity: the
        frame known at ``t`` as the prediction for every ``t + h``), the error to beat.
        Steps that had no camera frame yet are left out of both.
        """
        kp = self.kp
        tc, actual = self.actual()
        out = {h: math.nan for h in self.horizons_ms}
        if kp is None or tc.size < 2 or actual.shape[1] != kp.shape[2]:
            return out
        t = self.t
        seen = np.array([s.actual_kp is not None for s in self.steps])
        if baseline:
            held = np.zeros(kp.shape[:1] + kp.shape[2:], np.float32)
            held[seen] = np.stack([s.actual_kp for s in self.steps if s.actual_kp is not None])
        flat = actual.reshape(tc.size, -1)
        for i, h in enumerate(self.horizons_ms):
            target = t + h / 1000.0
            ok = (target >= tc[0]) & (target <= tc[-1]) & seen
            n = int(ok.sum())
            if not n:
                continue
            truth = np.stack([np.interp(target[ok], tc, flat[:, c]) for c in range(flat.shape[1])], axis=1)
            guess = held[ok] if baseline else kp[ok, i]
            diff = guess.reshape(n, -1, 3) - truth.reshape(n, -1, 3)
            out[h] = float(np.linalg.norm(diff, axis=-1).mean() * 1000.0)
        return out

    def age_ms(self) -> dict[str, float]:
        """p50/p99 (ms) of the predictions' age when published (``published_s - t``), over
        the kept steps; for devices that deliver in real time."""
        age = np.array([s.published_s - s.t for s in self.steps]) * 1e3
        age = age[np.isfinite(age)]
        if not age.size:
            return {"age_p50_ms": math.nan, "age_p99_ms": math.nan}
        return {"age_p50_ms": float(np.percentile(age, 50)), "age_p99_ms": float(np.percentile(age, 99))}

    def latency(self, skip_s: float = 0.0) -> dict[str, float]:
        """p50/p99 (ms) over every step of the run (``skip_s``: leaving out the steps of the
        first this many seconds of data, e.g. a start-up backlog): the model's step
        (``step_``), chunk handed in -> published (``added_``) and chunk arrival ->
        published (``arrival_``, NaN unless the device delivers in real time)."""
        out: dict[str, float] = {"steps": 0}
        skip = int(round(skip_s * self.step_hz)) if skip_s > 0 else 0
        for key, values in (("step", self.step_latency_s), ("added", self.added_latency_s),
                            ("arrival", self.arrival_latency_s)):  # fmt: skip
            x = np.asarray(values[skip:], dtype=np.float64) * 1e3
            x = x[np.isfinite(x)]
            out["steps"] = max(out["steps"], len(values[skip:]))
            out[f"{key}_p50_ms"] = float(np.percentile(x, 50)) if x.size else math.nan
            out[f"{key}_p99_ms"] = float(np.percentile(x, 99)) if x.size else math.nan
        return out


def load_model(checkpoint: str | Path | None = None, threads: int | None = None) -> Any:
    """The model of a checkpoint file; ``None``: the shipped sim model.

    ``threads``: torch's intra-op threads for stepping it (one step is small: 1 is
    fastest on a busy machine). A missing file is an error that says how to get one.
    """
    import torch

    from wearsense.fusion.checkpoint import default_checkpoint, load_checkpoint

    if threads is not None:
        torch.set_num_threads(threads)

    if checkpoint is None:
        shipped = default_checkpoint()
        return load_checkpoint(shipped) if isinstance(shipped, (str, Path)) else shipped
    path = Path(checkpoint)
    if not path.is_file():
        raise ConfigError(
            f"checkpoint {str(path)!r} does not exist; give the path of a file written by "
            "'wearsense train' (or 'wearsense finetune'), or leave --checkpoint out to use the "
            "shipped sim model",
            parameter="checkpoint",
        )
    return load_checkpoint(path)


def _featurizer_infos(infos: Iterable[StreamInfo], model: Any) -> list[StreamInfo]:
    """The streams the featurizer reads, in the model's order: IMU streams as in its
    ``names["imu"]``, EMG streams so that their channels join up as in ``names["emg"]``
    (a recording may list its streams in another order than the live device did)."""
    names = getattr(model, "names", {}) or {}
    imu = {n: i for i, n in enumerate(names.get("imu", []))}
    emg = {n: i for i, n in enumerate(names.get("emg", []))}

    def place(info: StreamInfo) -> float:
        if info.modality is Modality.IMU:
            return imu.get(info.name, math.inf)
        if info.modality is Modality.EMG and info.channels:
            return emg.get(info.channels[0], math.inf)
        return math.inf

    return sorted((i for i in infos if i.modality in _USED), key=place)


def check_channels(model: Any, featurizer: Any, source: str = "the device") -> None:
    """That the device's streams give the inputs the model was trained on; else an error
    that lists what differs and names the fix."""
    want = getattr(model, "names", {}) or {}
    have = featurizer.names
    dims = getattr(model, "dims", {}) or {}
    problems = []
    sizes = {"emg": ("C", len(have["emg"])), "imu": ("S", len(have["imu"])), "pose": ("D", len(have["pose"]))}
    for key, (dim, n) in sizes.items():
        names = want.get(key)
        if names is not None and list(names) != list(have[key]):
            missing = [x for x in names if x not in have[key]]
            extra = [x for x in have[key] if x not in names]
            what = {"emg": "EMG channels", "imu": "IMU streams", "pose": "pose channels"}[key]
            detail = []
            if missing:
                detail.append(f"missing {_short(missing)}")
            if extra:
                detail.append(f"not in the model {_short(extra)}")
            if not detail:
                detail.append("same channels in another order")
            problems.append(
                f"{what}: the model has {len(names)}, {source} {len(have[key])} ({'; '.join(detail)})"
            )
        elif names is None and dim in dims and dims[dim] != n:
            problems.append(f"{key}: the model takes {dims[dim]} values, {source} gives {n}")
    if problems:
        raise ConfigError(
            "the checkpoint's channels do not match " + source + ": " + "; ".join(problems) + ". Use a "
            "device with the channels the model was trained on (the shipped model: sim://mover with its "
            "defaults), or fine-tune a checkpoint on recordings of this device ('wearsense finetune') and "
            "pass it with --checkpoint",
            parameter="checkpoint",
        )


def _short(names: Sequence[str], n: int = 4) -> str:
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


class LivePredictor:
    """Chunks in (as devices deliver them), published predictions out.

    Parameters
    ----------
    model : FusionModel
        With ``spec``, ``names`` and ``stream(condition)``
        (:func:`wearsense.fusion.checkpoint.load_checkpoint`).
    infos : the device's streams
    publisher : Publisher or None
        Where predictions go (:mod:`wearsense.live.publish`); None: kept only in :attr:`log`.
    host_clock : Timeline, optional
        Maps device times to the session clock; default a new
        :class:`wearsense.sync.Timeline` on the LSL clock (host monotonic + the LSL
        offset) when pylsl is there, else on the host monotonic clock.
    settings : PredictSettings
    profile : calibration profile, optional (passed to the featurizer)
    source : str
        How errors name the device (its URI).
    featurizer : StepFeaturizer, optional
        Made from the model's FeatureSpec and ``infos`` when not given.
    pose_latency_s : float, optional
        Capture -> timestamp latency of the pose stream (s), for the pose frames' age;
        default: what the featurizer finds (calibration profile, stream metadata).
    """

    def __init__(
        self,
        model: Any,
        infos: Iterable[StreamInfo],
        *,
        publisher: Any = None,
        host_clock: Any = None,
        settings: PredictSettings | None = None,
        profile: Any = None,
        source: str = "the device",
        featurizer: Any = None,
        pose_latency_s: float | None = None,
    ) -> None:
        self.settings = settings or PredictSettings()
        self.model = model
        used = _featurizer_infos(infos, model)
        if featurizer is None:
            from wearsense.fusion.data import StepFeaturizer

            featurizer = StepFeaturizer(model.spec, used, profile, pose_latency_s=pose_latency_s)
        self.featurizer = featurizer
        check_channels(model, featurizer, source)
        self.stream = model.stream(self.settings.condition)
        self.publisher = publisher
        self.host_clock = host_clock if host_clock is not None else session_timeline()
        self._offset = float(getattr(getattr(self.host_clock, "settings", None), "reference_offset_s", 0.0))
        names = getattr(model, "names", {}) or {}
        horizons = tuple(int(h) for h in model.spec.horizons_ms)
        self.log = PredictionLog(
            horizons_ms=horizons,
            joints=list(names.get("joints", [])),
            keypoints=list(names.get("keypoints", [])),
            condition=self.settings.condition,
            keep=max(1, int(round(self.settings.keep_s * model.spec.step_hz))),
            step_hz=float(model.spec.step_hz),
        )
        self.muscles = list(featurizer.names["emg"])
        self._streams = {i.name for i in used if i.name in featurizer.infos}
        self._arrival: dict[str, float] = {}
        self._first_arrival = math.nan
        self._newest_arrival = -math.inf
        self._seen_onsets: set[tuple[int, float]] = set()
        self._announced = -math.inf
        self._t_first: float | None = None
        self._live: bool | None = None
        self._arrival_host = math.nan
        self.done = False
        if publisher is not None:
            self._announce(-math.inf)
            dims = getattr(model, "dims", {}) or {}
            pose_kp = getattr(featurizer, "pose_kind", "none") == "keypoints"
            publisher.open_outlets(
                predicted_angles=bool(self.log.joints),
                predicted_kp=bool(self.log.keypoints) and dims.get("Q", 1) > 0,
                actual_kp=pose_kp and len(featurizer.names["pose"]) == 3 * len(self.log.keypoints),
            )

    # ------------------------------------------------------------------ feeding
    def _now(self) -> float | None:
        """The step time every live stream has delivered data up to (None: wait)."""
        wait = self.settings.max_wait_s
        newest = self._newest_arrival
        pushed = self.featurizer.pushed_until
        live = [n for n in self._streams if self._arrival.get(n, -math.inf) >= newest - wait]
        if len(live) < len(self._streams) and newest - self._first_arrival < wait:
            return None  # the first chunks of every stream are still on their way
        ends = [pushed[n] for n in live if n in pushed]
        if not ends:
            return None
        return min(min(ends), newest)

    def feed(self, info: StreamInfo, chunk: Chunk, arrived: float | None = None) -> list[StepRecord]:
        """One chunk as delivered (device clock); returns the steps it completed, published.

        ``arrived``: ``time.perf_counter()`` when the chunk was handed over (default: now);
        the added latency is measured from it.
        """
        arrived = time.perf_counter() if arrived is None else arrived
        self.log.chunks += 1
        if info.name not in self._streams or chunk.n == 0:
            return []
        mapped = self.host_clock.process(info, chunk)
        if mapped.n == 0:
            return []
        self.featurizer.push(info.name, mapped)
        host = chunk.received_s
        if self._live is None:  # a driver stamping the host's clock now, not a replay or realtime=0
            self._live = math.isfinite(host) and abs(time.monotonic() - host) < 2.0
        self._arrival_host = host if self._live else math.nan
        at = host + self._offset if math.isfinite(host) else float(mapped.t[-1])
        self._arrival[info.name] = at
        self._newest_arrival = max(self._newest_arrival, at)
        if not math.isfinite(self._first_arrival):
            self._first_arrival = at
        now = self._now()
        if now is None or not self.featurizer.step_times(now).size:
            return []  # no step due: most chunks (EMG and IMU packets come faster than steps)
        frames = self.featurizer.advance(now)
        return self._steps(frames, arrived)

    def _steps(self, frames: Mapping[str, np.ndarray], arrived: float) -> list[StepRecord]:
        out = []
        pose_kp = getattr(self.featurizer, "pose_kind", "keypoints") == "keypoints"
        for k in range(len(frames["t"])):
            frame = {name: value[k] for name, value in frames.items()}
            t = float(frame["t"])
            if self._t_first is None:
                self._t_first = t
            elif self.settings.duration_s is not None and t - self._t_first >= self.settings.duration_s:
                self.done = True
                break
            pred = self.stream.step(frame)
            actual = None
            if bool(frame["pose_ok"]) and pose_kp:
                actual = np.asarray(frame["pose"], dtype=np.float32).reshape(-1, 3)
            onsets = self._new_onsets(frame, t)
            self._publish(t, self.log.n_steps, pred, actual, float(frame["pose_age"]), onsets)
            rec = StepRecord(
                t=t,
                angles=np.asarray(pred.angles),
                kp=None if pred.kp is None else np.asarray(pred.kp),
                surprise=float(pred.surprise),
                actual_kp=actual,
                actual_age_s=float(frame["pose_age"]),
                onsets=onsets,
                step_latency_s=float(pred.latency),
                added_latency_s=time.perf_counter() - arrived,
                published_s=time.monotonic() + self._offset,
                arrival_latency_s=time.monotonic() - self._arrival_host,
            )
            self.log.append(rec)
            out.append(rec)
        return out

    def _new_onsets(self, frame: Mapping[str, np.ndarray], t: float) -> list[str]:
        found = []
        for (ch, age), ok in zip(np.asarray(frame["events"]), np.asarray(frame["events_ok"])):
            if not ok:
                continue
            key = (int(ch), round(t - float(age), 3))
            if key in self._seen_onsets:
                continue
            self._seen_onsets.add(key)
            found.append(self.muscles[int(ch)] if 0 <= int(ch) < len(self.muscles) else f"emg{int(ch)}")
        if len(self._seen_onsets) > 4096:  # old onsets have left every step's event window
            horizon = t - 10.0
            self._seen_onsets = {k for k in self._seen_onsets if k[1] >= horizon}
        return found

    def _announce(self, t: float) -> None:
        self._announced = t
        self.publisher.describe(
            joints=self.log.joints,
            keypoints=self.log.keypoints,
            horizons_ms=self.log.horizons_ms,
            muscles=self.muscles,
            step_hz=self.model.spec.step_hz,
        )

    def _publish(self, t, step, pred, actual, age_s, onsets) -> None:
        pub = self.publisher
        if pub is None:
            return
        if t - self._announced >= self.settings.announce_s:
            self._announce(t)
        with pub.instant(t=t, step=step):
            pub.predicted(pred.angles, pred.kp, t=t)
            if actual is not None:
                pub.actual(kp=actual, age_s=age_s, t=t)
            pub.surprise(pred.surprise, t=t)
        for muscle in onsets:
            pub.onset(muscle, t=t)


def session_timeline() -> Any:
    """A :class:`wearsense.sync.Timeline` on the LSL clock (pylsl there) or the host monotonic clock."""
    from wearsense.sync import Timeline, TimelineSettings

    try:
        import pylsl
    except ImportError:
        return Timeline(TimelineSettings(clock_name="host"))
    return Timeline(
        TimelineSettings(reference_offset_s=pylsl.local_clock() - time.monotonic(), clock_name="lsl")
    )


def fast_uri(uri: str) -> str:
    """The URI delivering as fast as possible: ``realtime=0`` for ``sim://``, ``speed=0`` for
    ``replay://`` (unless the URI sets them); other devices are live and unchanged."""
    scheme = uri.split("://", 1)[0].lower()
    key = {"sim": "realtime", "replay": "speed"}.get(scheme)
    if key is None or f"{key}=" in uri:
        return uri
    return uri + ("&" if "?" in uri else "?") + f"{key}=0"


def run_prediction(
    uri: str,
    model: Any,
    *,
    settings: PredictSettings | None = None,
    publisher: Any = None,
    profile: Any = None,
    stop: threading.Event | None = None,
    on_step: Callable[[LivePredictor, list[StepRecord]], None] | None = None,
    pose_latency_s: float | None = None,
    host_clock: Any = None,
) -> PredictionLog:
    """Open ``uri``, predict live until it ends, ``settings.duration_s`` passes, or ``stop`` is set.

    ``on_step(predictor, records)`` is called after each chunk that completed steps (a
    terminal view redraws there). ``pose_latency_s``, ``host_clock``: see :class:`LivePredictor`.
    Returns the run's :class:`PredictionLog`.
    """
    from wearsense.devices.blocking import BlockingDevice

    settings = settings or PredictSettings()
    stop = stop or threading.Event()
    start = time.monotonic()
    with BlockingDevice(uri) as dev:
        predictor = LivePredictor(
            model,
            dev.streams,
            publisher=publisher,
            settings=settings,
            profile=profile,
            source=uri,
            pose_latency_s=pose_latency_s,
            host_clock=host_clock,
        )
        for info, chunk in dev:
            arrived = time.perf_counter()
            records = predictor.feed(info, chunk, arrived)
            if records and on_step is not None:
                on_step(predictor, records)
            if predictor.done or stop.is_set():
                break
    predictor.log.elapsed_s = time.monotonic() - start
    return predictor.log


# ---------------------------------------------------------------------------------------
# views
# ---------------------------------------------------------------------------------------
def _bar(fraction: float, width: int = 20) -> str:
    n = int(round(np.clip(fraction, 0, 1) * width)) if math.isfinite(fraction) else 0
    return "#" * n + "." * (width - n)


def _fmt(x: float, width: int = 7, digits: int = 1) -> str:
    return f"{x:>{width}.{digits}f}" if math.isfinite(x) else f"{'--':>{width}}"


#: joints the view shows first, where the model has them (the big movers of a whole body)
_VIEW_JOINTS = ("trunk_flex", "shoulder_flex_r", "elbow_flex_r", "hip_flex_r", "knee_flex_r", "ankle_dorsi_r")


def render_prediction(
    predictor: LivePredictor, title: str, joints: int = 6, horizons: Sequence[int] = (0, 100, 200, 400)
) -> list[str]:
    """Text lines of the live prediction view (no terminal control codes): the predicted
    joint angles at a few horizons, the keypoint error of the last 5 s of predictions
    against the camera frames that arrived since, surprise, latency, recent onsets."""
    lg = predictor.log
    lines = [f"{title}   condition {lg.condition}   steps {lg.n_steps}   chunks {lg.chunks}", ""]
    if not lg.steps:
        return lines + ["waiting for every stream's first data ..."]
    last = lg.steps[-1]
    shown = [h for h in horizons if h in lg.horizons_ms]
    idx = [lg.horizons_ms.index(h) for h in shown]
    head = "".join(f"{'+' + str(h) + ' ms':>9}" for h in shown)
    lines.append(f"{'predicted joint angle (deg)':<30}{head}")
    names = lg.joints or [f"joint{j}" for j in range(last.angles.shape[1])]
    preferred = [n for n in _VIEW_JOINTS if n in names]
    order = preferred + [n for n in names if n not in preferred]
    for name in order[:joints]:
        j = names.index(name)
        lines.append(f"  {name:<28}" + "".join(_fmt(float(last.angles[i, j]), 9) for i in idx))
    if last.kp is not None:
        lines += [
            "",
            f"{'keypoint height (m)':<20}{'camera':>10}"
            + "".join(f"{'+' + str(h) + ' ms':>9}" for h in shown),
        ]
        for name in [k for k in ("head", "wrist_r", "ankle_r") if k in lg.keypoints]:
            q = lg.keypoints.index(name)
            seen = (
                _fmt(float(last.actual_kp[q, 2]), 10, 3)
                if last.actual_kp is not None and q < len(last.actual_kp)
                else f"{'--':>10}"
            )
            lines.append(f"  {name:<18}{seen}" + "".join(_fmt(float(last.kp[i, q, 2]), 9, 3) for i in idx))
    recent = lg.window(int(5 * predictor.model.spec.step_hz))
    errors, hold = recent.errors_mm(), recent.errors_mm(baseline=True)
    lines += [
        "",
        f"{'keypoint error, last 5 s (mm)':<30}" + "".join(_fmt(errors.get(h, math.nan), 9) for h in shown),
        f"{'  holding the newest frame':<30}" + "".join(_fmt(hold.get(h, math.nan), 9) for h in shown),
    ]
    if last.actual_kp is not None:
        lines.append(f"  newest camera frame {last.actual_age_s * 1e3:4.0f} ms old")
    surprise = recent.surprise
    finite = surprise[np.isfinite(surprise)]
    scale = float(np.percentile(finite, 95)) if finite.size else math.nan
    lines += ["", f"surprise {_fmt(last.surprise, 7, 3)}  {_bar(last.surprise / scale if scale > 0 else 0)}"]
    lat = lg.latency()
    lines.append(
        f"latency  step p50 {_fmt(lat['step_p50_ms'], 5, 2)} ms  p99 {_fmt(lat['step_p99_ms'], 5, 2)} ms   "
        f"added p50 {_fmt(lat['added_p50_ms'], 5, 2)} ms  p99 {_fmt(lat['added_p99_ms'], 5, 2)} ms"
    )
    onsets = [(s.t, m) for s in recent.steps for m in s.onsets][-4:]
    if onsets:
        lines.append(
            "onsets   " + "   ".join(f"{m} {1e3 * (last.t - t):.0f} ms ago" for t, m in reversed(onsets))
        )
    return lines


class PredictionView:
    """Draws :func:`render_prediction`: in place on a TTY, one summary line per interval elsewhere
    (the manner of :class:`wearsense.live.terminal.TerminalView`)."""

    def __init__(self, title: str, out: Any = None, interval_s: float | None = None) -> None:
        import sys

        self.title = title
        self.out = out or sys.stdout
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.2 if self.tty else 1.0)
        self._last = -math.inf
        self._lines_drawn = 0

    def draw(self, predictor: LivePredictor, records: Sequence[StepRecord] = (), force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        if self.tty:
            lines = render_prediction(predictor, self.title)
            if self._lines_drawn:
                self.out.write(f"\x1b[{self._lines_drawn}F")
            self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self._lines_drawn = len(lines)
        else:
            lg = predictor.log
            if not lg.steps:
                return
            lat = lg.latency()
            self.out.write(
                f"[{lg.steps[-1].t - lg.steps[0].t:6.1f} s] steps {len(lg)}  surprise "
                f"{lg.steps[-1].surprise:.3f}  added latency p99 {lat['added_p99_ms']:.2f} ms\n"
            )
        self.out.flush()


# ---------------------------------------------------------------------------------------
# the figure at the end
# ---------------------------------------------------------------------------------------
def plot_prediction(
    log: PredictionLog,
    keypoints: Sequence[str] | None = None,
    joints: Sequence[str] | None = None,
    horizon_ms: int = 100,
) -> Any:
    """Predicted against actual, and surprise: a matplotlib Figure (not shown, not saved).

    Rows: the position of a few keypoints as the camera saw them (capture time) against
    the model's prediction made ``horizon_ms`` earlier (drawn at its target time), each
    along its most-moving axis; the predicted joint angles of a few joints now and
    ``horizon_ms`` ahead; the surprise. ``keypoints`` / ``joints``: which to draw
    (default: the three that moved most); names the model does not have are skipped.
    """
    from matplotlib.figure import Figure

    if not log.steps:
        raise ConfigError("no steps to plot: the run produced no prediction (did the device deliver data?)")
    if horizon_ms not in log.horizons_ms:
        raise ConfigError(
            f"horizon {horizon_ms} ms is not among the model's {list(log.horizons_ms)}",
            parameter="horizon_ms",
        )
    t = log.t
    t0 = t[0]
    hi = log.horizons_ms.index(horizon_ms)
    h0 = log.horizons_ms.index(min(log.horizons_ms))
    fig = Figure(figsize=(10, 8), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    ax = axes[0]
    kp = log.kp
    tc, actual = log.actual()
    colors = ["C0", "C1", "C2", "C3", "C4"]
    comparable = kp is not None and tc.size > 1 and actual.shape[1] == kp.shape[2]
    if comparable:
        spread = actual.std(axis=0)  # (Q, 3): how much each keypoint moved along each axis
        if keypoints:
            pick = [log.keypoints.index(k) for k in keypoints if k in log.keypoints]
        else:
            pick = [int(q) for q in np.argsort(-spread.max(axis=1))[:3]]
        for c, q in zip(colors, pick):
            axis = int(np.argmax(spread[q]))
            name = f"{log.keypoints[q] if q < len(log.keypoints) else f'kp{q}'} {'xyz'[axis]}"
            ax.plot(tc - t0, actual[:, q, axis], color=c, lw=1.5, label=f"{name} camera")
            ax.plot(t + horizon_ms / 1000 - t0, kp[:, hi, q, axis], color=c, lw=1, ls="--",
                    label=f"{name} predicted {horizon_ms} ms ahead")  # fmt: skip
        err = log.errors_mm().get(horizon_ms, math.nan)
        ax.set_title(
            f"keypoints, camera vs prediction (mean keypoint error at +{horizon_ms} ms: {err:.0f} mm)"
        )
        ax.set_ylabel("pelvis-relative (m)")
        ax.legend(fontsize=7, ncol=2, loc="upper right")
    else:
        why = "the model predicts no keypoints" if kp is None else "no camera keypoints to compare with"
        ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes)
    ax = axes[1]
    angles = log.angles
    pick = [log.joints.index(j) for j in (joints or []) if j in log.joints]
    if not pick:
        spread = angles[:, h0].std(axis=0) if len(angles) > 1 else np.zeros(angles.shape[2])
        pick = list(np.argsort(-spread)[:3])
    for c, j in zip(colors, pick):
        name = log.joints[j] if j < len(log.joints) else f"joint{j}"
        ax.plot(t - t0, angles[:, h0, j], color=c, lw=1.5, label=f"{name} now")
        ax.plot(
            t + horizon_ms / 1000 - t0,
            angles[:, hi, j],
            color=c,
            lw=1,
            ls="--",
            label=f"{name} predicted {horizon_ms} ms ahead",
        )
    ax.set_title("predicted joint angles (the most moving joints)")
    ax.set_ylabel("deg")
    ax.legend(fontsize=7, ncol=2, loc="upper right")
    ax = axes[2]
    ax.plot(t - t0, log.surprise, color="C3", lw=1)
    ax.set_title(f"surprise (condition {log.condition})")
    ax.set_ylabel("surprise")
    ax.set_xlabel("time since the first step (s)")
    return fig

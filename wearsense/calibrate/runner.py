"""The guided run of a calibration protocol: steps, countdown, checks, retries, profile.

:func:`run_protocol` walks through a :class:`~wearsense.calibrate.protocol.Protocol`:
for each step it reports the instruction, counts down, captures the step's data from
a :class:`Source`, computes the step's metrics, applies its acceptance checks and,
when one fails, reports the check's message and tries again (up to the protocol's
``retries``). Then it runs the protocol's solver, applies the protocol-level checks
and writes one profile per device serial (:mod:`wearsense.calibrate.profile`).

The library never prints: everything the person should see goes through the
``report`` callback as :class:`Event` objects (the CLI prints them). Time goes through
``sleep`` (tests pass a no-op; nothing is timed).

Sources: :class:`DeviceSource` reads a real device by URI for each step;
:class:`SimSource` has the sim's :class:`~wearsense.sim.protocols.CalibrationSubject`
perform each step, optionally badly on given attempts.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol as TypingProtocol

import numpy as np

from wearsense.calibrate import emg as emg_cal
from wearsense.calibrate import imu as imu_cal
from wearsense.calibrate import mag as mag_cal
from wearsense.calibrate import segment as seg_cal
from wearsense.calibrate.profile import (
    PROFILES_ENV,
    ImuCorrection,
    Profile,
    device_serial,
    load_profile,
    now_iso,
    profiles_dir,
    update_profile,
)
from wearsense.calibrate.protocol import Check, Protocol, Step
from wearsense.errors import CalibrationError, WearsenseError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = [
    "Event",
    "StepResult",
    "RunResult",
    "Source",
    "DeviceSource",
    "SimSource",
    "run_protocol",
    "step_metrics",
    "solve",
    "worst_by_check",
]

Streams = dict[str, tuple[StreamInfo, Chunk]]


@dataclass(frozen=True)
class Event:
    """Something the person should see.

    ``kind``: ``"protocol"`` (title), ``"step"`` (instruction, attempt), ``"countdown"``
    (``seconds`` left), ``"recording"`` (capture started, ``seconds`` long), ``"live"``
    (about once a second while recording: ``seconds`` so far, ``data[metric]`` = worst
    ``value`` so far, ``where``, ``ok``, ``min``, ``max`` per check),
    ``"rest"`` (between the repetitions of a step, ``seconds`` long),
    ``"accepted"``, ``"failed"`` (``messages``), ``"fit"`` (solver results),
    ``"saved"`` (profile ``path``), ``"warning"``.
    """

    kind: str
    message: str = ""
    step: str = ""
    attempt: int = 0
    seconds: float = 0.0
    messages: tuple[str, ...] = ()
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepResult:
    step: str
    attempt: int
    metrics: dict[str, dict[str, float]]
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


@dataclass
class RunResult:
    """What a run produced: accepted captures, every attempt, sections and saved profiles per serial.

    ``captures[step]`` is a step's (first) recording; ``repetitions[step]`` holds every
    repetition's recording of a step with ``repetitions > 1``."""

    protocol: Protocol
    attempts: list[StepResult] = field(default_factory=list)
    captures: dict[str, Streams] = field(default_factory=dict)
    repetitions: dict[str, list[Streams]] = field(default_factory=dict)
    sections: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    profiles: dict[str, tuple[Profile, Path]] = field(default_factory=dict)


Progress = Callable[[Streams, float], None]


class Source(TypingProtocol):
    """Where a step's data come from. ``progress(streams so far, seconds so far)`` is
    called about once a second while capturing (the live check). A step with
    ``repetitions > 1`` is captured once per repetition, with ``repetition=k`` (1-based)."""

    def capture(
        self, step: Step, attempt: int, progress: Progress | None = None, repetition: int = 1
    ) -> Streams: ...


class DeviceSource:
    """Reads the device ``uri`` for each step (opened per step) until every stream the step
    uses holds ``duration_s`` of samples (by count at its nominal rate).

    Parameters
    ----------
    uri : str
    timeout_s : float
        Give up when the data have not arrived ``timeout_s`` after the step's duration
        (host monotonic time).
    """

    def __init__(self, uri: str, timeout_s: float = 10.0) -> None:
        self.uri = uri
        self.timeout_s = timeout_s

    def capture(
        self, step: Step, attempt: int, progress: Progress | None = None, repetition: int = 1
    ) -> Streams:
        from wearsense.devices import BlockingDevice
        from wearsense.stream import concat

        wanted = {Modality.parse(s) for s in step.streams}
        parts: dict[str, list[Chunk]] = {}
        infos: dict[str, StreamInfo] = {}
        counts: dict[str, int] = {}
        with BlockingDevice(self.uri) as dev:
            need = {
                i.name: int(round(i.rate_hz * step.duration_s))
                for i in dev.streams
                if i.modality in wanted and i.rate_hz > 0
            }
            if not need:
                raise CalibrationError(
                    f"{self.uri}: no stream with a nominal rate of the kind step {step.id!r} "
                    f"needs ({', '.join(step.streams)})",
                    step.id,
                )
            start = time.monotonic()
            next_report = 1.0

            def done_s() -> float:
                return min(counts.get(n, 0) / (k / step.duration_s) for n, k in need.items())

            for info, chunk in dev:
                if info.name in need:
                    infos[info.name] = info
                    parts.setdefault(info.name, []).append(chunk)
                    counts[info.name] = counts.get(info.name, 0) + chunk.n
                got = done_s()
                if got >= step.duration_s:
                    break
                if progress is not None and got >= next_report and len(infos) == len(need):
                    progress({n: (infos[n], concat(parts[n])) for n in infos}, got)
                    next_report = float(np.floor(got)) + 1.0
                if time.monotonic() - start > step.duration_s + self.timeout_s:
                    break
        missing = [n for n, k in need.items() if counts.get(n, 0) < k]
        if missing:
            raise CalibrationError(
                f"{self.uri}: step {step.id!r} needs {step.duration_s:g} s of {', '.join(missing)}, "
                "the device "
                f"delivered {done_s():.1f} s (it ended, or stalled for {self.timeout_s:g} s); check the "
                "connection and retry",
                step.id,
            )
        return {n: (infos[n], concat(parts[n])[: need[n]]) for n in need}


class SimSource:
    """The sim's person performs each step.

    Parameters
    ----------
    subject : CalibrationSubject
    mistakes : mapping step id -> {attempt: mistake}
        Perform those attempts badly, e.g. ``{"still": {1: "move"}}``: the first attempt
        of ``still`` is moved, the retry is done properly. ``"uneven"`` (an ``mvc`` step
        with repetitions): the second repetition is submaximal (80 %).
    """

    def __init__(self, subject: Any, mistakes: Mapping[str, Mapping[int, str]] | None = None) -> None:
        self.subject = subject
        self.mistakes = {k: dict(v) for k, v in (mistakes or {}).items()}

    def capture(
        self, step: Step, attempt: int, progress: Progress | None = None, repetition: int = 1
    ) -> Streams:
        mistake = self.mistakes.get(step.id, {}).get(attempt)
        if mistake == "uneven":
            mistake = "submax" if repetition == 2 else None
        streams = self.subject.perform(step.action, step.duration_s, step.options, mistake=mistake)
        wanted = {Modality.parse(s) for s in step.streams}
        streams = {k: v for k, v in streams.items() if v[0].modality in wanted}
        if progress is not None:  # the sim has it all at once: replay it second by second (fast clock)
            for sec in range(1, int(np.ceil(step.duration_s))):
                part = {}
                for k, (info, chunk) in streams.items():
                    n = int(np.searchsorted(chunk.t, chunk.t[0] + sec)) if chunk.n else 0
                    if n > 1:
                        part[k] = (info, chunk[:n])
                progress(part, float(sec))
        return streams


# --------------------------------------------------------------------------- helpers
def _by(streams: Streams, modality: Modality) -> Streams:
    return {k: v for k, v in streams.items() if v[0].modality is modality}


def _imu_arrays(
    info: StreamInfo, chunk: Chunk, profile: Profile | None = None, sections: tuple[str, ...] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """acc, gyro, mag (samples x 3, float64) of an IMU chunk, corrected by the named profile sections."""
    data = chunk.data.astype(np.float64)
    if profile is not None and sections:
        keep = {k: v for k, v in profile.sections.items() if k in sections}
        if keep:
            data = ImuCorrection(info, Profile(profile.serial, keep)).apply(data)

    def cols(word: str) -> list[int] | None:
        out = []
        for ax in "xyz":
            hits = [
                i for i, c in enumerate(info.channels) if c == f"{word}_{ax}" or c.endswith(f"_{word}_{ax}")
            ]
            if len(hits) != 1:
                return None
            out.append(hits[0])
        return out

    a, g, m = cols("acc"), cols("gyro"), cols("mag")
    if a is None or g is None:
        raise CalibrationError(
            f"stream {info.name!r}: an IMU stream needs acc_x..z and gyro_x..z channels; "
            f"it has {', '.join(info.channels)}"
        )
    return data[:, a], data[:, g], (data[:, m] if m is not None else None)


def _rest_envelope(context: Mapping[str, Any], name: str) -> np.ndarray | None:
    return context.get("rest_envelope", {}).get(name)


def step_metrics(
    step: Step,
    streams: Streams,
    context: Mapping[str, Any] | None = None,
    repetitions: Sequence[Streams] | None = None,
) -> dict[str, dict[str, float]]:
    """The metrics a step's checks are judged by: ``{where: {metric: value}}`` (where = a
    stream, or ``"stream channel"`` for per-channel EMG metrics).

    ``repetitions``: every repetition's recording of an ``mvc`` step (``streams`` is
    then ignored); ``mvc_over_rest`` is the weakest repetition's, and
    ``repetition_spread_pct`` how far a repetition's peak lies from their mean."""
    context = context or {}
    out: dict[str, dict[str, float]] = {}
    a = step.action
    if a in ("still", "face", "npose", "figure8", "functional"):
        imus = _by(streams, Modality.IMU)
        if not imus:
            raise CalibrationError(f"step {step.id!r}: the device delivered no IMU stream")
        for name, (info, chunk) in imus.items():
            acc, gyro, mag = _imu_arrays(info, chunk)
            if a == "face":
                out[name] = imu_cal.face_metrics(acc, gyro, step.options["face"])
            elif a in ("still", "npose"):
                out[name] = imu_cal.still_metrics(acc, gyro)
            elif a == "figure8":
                out[name] = {
                    "coverage_pct": mag_cal.direction_coverage_pct(mag) if mag is not None else 0.0,
                    "gyro_peak_dps": float(np.linalg.norm(gyro, axis=1).max()),
                }
            elif info.metadata.get("segment") in step.options["segments"]:
                fa = seg_cal.functional_axis(acc, gyro, info.rate_hz)
                out[name] = {"rotation_deg": fa.rotation_deg, "axis_dominance": fa.dominance}
    elif a in ("rest", "mvc"):
        emgs = _by(streams, Modality.EMG)
        if not emgs:
            raise CalibrationError(f"step {step.id!r}: the device delivered no EMG stream")
        for name, (info, chunk) in emgs.items():
            if a == "rest":
                rms, _ = emg_cal.rest_level(info, chunk)
                for c, label in enumerate(info.channels):
                    out[f"{name} {label}"] = {"rest_rms_uv": float(rms[c] * 1e6)}
            else:
                cols = emg_cal.channels_matching(info.channels, step.options["muscles"])
                if not cols:
                    continue
                reps = [r[name][1] for r in repetitions if name in r] if repetitions else [chunk]
                peaks = emg_cal.mvc_repetitions(info, reps)
                mvc = peaks.min(axis=0)
                spread = emg_cal.repetition_spread_pct(peaks)
                rest = _rest_envelope(context, name)
                if rest is None:  # no rest step yet: the quietest 10 % of this trial
                    env = emg_cal.EmgChain(info.rate_hz).process(chunk).data
                    rest = np.percentile(env[int(0.5 * info.rate_hz) :], 10, axis=0)
                for c in cols:
                    m = {"mvc_over_rest": float(mvc[c] / max(rest[c], 1e-12))}
                    if len(reps) > 1:
                        m["repetition_spread_pct"] = float(spread[c])
                    out[f"{name} {info.channels[c]}"] = m
    elif a == "gesture":
        from wearsense.sync.align import find_claps

        poses = _by(streams, Modality.POSE)
        for name, (info, chunk) in poses.items():
            out[name] = {"gestures_found": float(len(find_claps(info, chunk)))}
        for name, (info, chunk) in _by(streams, Modality.IMU).items():
            _, gyro, _ = _imu_arrays(info, chunk)
            out[name] = {"imu_peak_dps": float(np.linalg.norm(gyro, axis=1).max())}
    return out


def _evaluate(
    checks: tuple[Check, ...], metrics: Mapping[str, Mapping[str, float]]
) -> tuple[tuple[str, str], ...]:
    """``(metric, message)`` of every check that fails somewhere."""
    failures = []
    for check in checks:
        for where, m in metrics.items():
            if check.metric in m:
                msg = check.failure(m[check.metric], where)
                if msg:
                    failures.append((check.metric, msg))
    return tuple(failures)


def _meta(protocol: Protocol, quality: Mapping[str, float]) -> dict[str, Any]:
    return {
        "protocol": protocol.name,
        "protocol_version": protocol.version,
        "date": now_iso(),
        "quality": {k: float(v) for k, v in quality.items()},
    }


# --------------------------------------------------------------------------- solvers
def solve(
    protocol: Protocol,
    captures: Mapping[str, Streams],
    existing: Mapping[str, Profile] | None = None,
    repetitions: Mapping[str, Sequence[Streams]] | None = None,
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[str, dict[str, float]]]:
    """Run the protocol's solver over the accepted captures (step id -> streams;
    ``repetitions``: step id -> every repetition's streams, where a step has several).

    Returns ``(sections, quality)``: ``sections[serial][section] = dict`` for the
    profiles, ``quality[where] = {metric: value}`` for the protocol-level checks.
    ``existing`` profiles (by serial) supply corrections fitted earlier (gyro bias and
    accelerometer before the sensor-to-segment fit).
    """
    existing = existing or {}
    sections: dict[str, dict[str, dict[str, Any]]] = {}
    quality: dict[str, dict[str, float]] = {}
    solver = protocol.solver

    def imu_streams(step_id: str) -> Streams:
        return _by(captures[step_id], Modality.IMU)

    if solver == "imu_still":
        sid = next(s.id for s in protocol.steps if s.action == "still")
        for name, (info, chunk) in imu_streams(sid).items():
            acc, gyro, _ = _imu_arrays(info, chunk)
            cal = imu_cal.fit_gyro_bias(gyro)
            q = {
                "gyro_bias_change_dps": cal.bias_change_dps,
                "gyro_noise_dps": float(cal.noise_dps.max()),
                "accel_noise_ms2": float(acc.std(axis=0).max()),
            }
            sections.setdefault(device_serial(info), {})["gyro"] = {
                **cal.to_section(),
                "accel_noise_ms2": acc.std(axis=0, ddof=1).tolist(),
                **_meta(protocol, q),
            }
            quality[name] = q
    elif solver == "accel_six_face":
        face_steps = [s for s in protocol.steps if s.action == "face"]
        names = set.intersection(*(set(imu_streams(s.id)) for s in face_steps))
        for name in sorted(names):
            info = imu_streams(face_steps[0].id)[name][0]
            means = [_imu_arrays(*imu_streams(s.id)[name])[0].mean(axis=0) for s in face_steps]
            cal = imu_cal.fit_accel_six_face([s.options["face"] for s in face_steps], np.array(means))
            q = {"residual_ms2": cal.residual_ms2, "scale_error_pct": cal.scale_error_pct}
            sections.setdefault(device_serial(info), {})["accel"] = {**cal.to_section(), **_meta(protocol, q)}
            quality[name] = q
    elif solver == "mag_ellipsoid":
        sid = next(s.id for s in protocol.steps if s.action == "figure8")
        for name, (info, chunk) in imu_streams(sid).items():
            _, _, mag = _imu_arrays(info, chunk)
            if mag is None:
                raise CalibrationError(
                    f"stream {name!r} has no magnetometer (mag_x..z); skip mag_figure8 for it"
                )
            cal = mag_cal.fit_ellipsoid(mag)
            q = {"residual_pct": cal.residual_pct, "coverage_pct": cal.coverage_pct}
            sections.setdefault(device_serial(info), {})["mag"] = {**cal.to_section(), **_meta(protocol, q)}
            quality[name] = q
    elif solver == "emg_rest_mvc":
        rest_id = next(s.id for s in protocol.steps if s.action == "rest")
        for name, (info, rest) in _by(captures[rest_id], Modality.EMG).items():
            reps = repetitions or {}
            trials = [
                (s.id, [r[name][1] for r in reps.get(s.id, [captures[s.id]]) if name in r])
                for s in protocol.steps
                if s.action == "mvc" and name in _by(captures[s.id], Modality.EMG)
            ]
            cal = emg_cal.fit_emg(info, rest, trials)
            ratio = cal.mvc_over_rest
            named = [
                i
                for i, c in enumerate(info.channels)
                if any(c.startswith(tuple(s.options["muscles"])) for s in protocol.steps if s.action == "mvc")
            ]
            r = ratio[named] if named else np.array([np.nan])
            worst = int(named[int(np.nanargmin(r))]) if named and np.isfinite(r).any() else -1
            q = {"min_mvc_over_rest": float(np.nanmin(r)) if np.isfinite(r).any() else 0.0}
            where = f"{name} {info.channels[worst]}" if worst >= 0 else name
            sections.setdefault(device_serial(info), {})["emg"] = {**cal.to_section(), **_meta(protocol, q)}
            quality[where] = q
    elif solver == "sensor_to_segment":
        static = next(s for s in protocol.steps if s.action == "npose")
        up_axis = str(static.options.get("segment_up", "+z"))
        for name, (info, chunk) in imu_streams(static.id).items():
            serial = device_serial(info)
            prof = existing.get(serial)
            seg = info.metadata.get("segment")
            func = [s for s in protocol.steps if s.action == "functional" and seg in s.options["segments"]]
            if not seg:
                continue
            acc, _, _ = _imu_arrays(info, chunk, prof, ("accel",))
            if not func:  # the N-pose alone: the tilt, not the turn about the segment's up axis
                cal = seg_cal.fit_tilt_only(seg, seg_cal.static_up(acc), up_axis)
                q = {"axis_angle_deg": 0.0, "tilt_only": 1.0}
                sections.setdefault(serial, {})["segment"] = {**cal.to_section(), **_meta(protocol, q)}
                quality[name] = q
                continue
            fstep = func[0]
            facc, fgyro, _ = _imu_arrays(*imu_streams(fstep.id)[name], prof, ("gyro", "accel"))
            fa = seg_cal.functional_axis(facc, fgyro, info.rate_hz)
            cal = seg_cal.fit_sensor_to_segment(
                seg, seg_cal.static_up(acc), up_axis, fa, fstep.options["axis"]
            )
            q = {"axis_angle_deg": cal.axis_angle_deg, "handedness": cal.handedness}
            sections.setdefault(serial, {})["segment"] = {
                **cal.to_section(),
                "functional_step": fstep.id,
                **_meta(protocol, q),
            }
            quality[name] = q
    elif solver == "sync_gesture":
        from wearsense.sync.align import align_imu_pose

        sid = next(s.id for s in protocol.steps if s.action == "gesture")
        poses = _by(captures[sid], Modality.POSE)
        imus = list(imu_streams(sid).values())
        for name, pose in poses.items():
            try:
                a = align_imu_pose(imus, pose, method="gesture")
            except WearsenseError as e:
                raise CalibrationError(f"sync gesture: {e}", sid) from None
            q = {"confidence": a.confidence, "lag_ci_ms": 1e3 * (a.ci95_s[1] - a.ci95_s[0])}
            sections.setdefault(device_serial(pose[0]), {})["sync"] = {
                "pose_lag_s": a.lag_s,
                "ci95_s": list(a.ci95_s),
                "gestures": int(np.size(a.events_s)),
                "imu_streams": [i.name for i, _ in imus],
                **_meta(protocol, q),
            }
            quality[name] = q
    else:  # pragma: no cover - the validator only lets known solvers through
        raise CalibrationError(f"unknown solver {solver!r}")
    if not sections:
        raise CalibrationError(
            f"protocol {protocol.name!r}: no stream could be calibrated "
            f"(solver {solver!r} found nothing it uses in the captured data)"
        )
    return sections, quality


# --------------------------------------------------------------------------- the run
def _uncalibrated(
    protocol: Protocol, captures: Mapping[str, Streams], quality: Mapping[str, Any]
) -> list[tuple[str, StreamInfo]]:
    """IMU streams a sensor-to-segment run captured but could not align (no functional step)."""
    if protocol.solver != "sensor_to_segment":
        return []
    static = next(s for s in protocol.steps if s.action == "npose")
    return [
        (n, info)
        for n, (info, _) in _by(captures.get(static.id, {}), Modality.IMU).items()
        if n not in quality or quality[n].get("tilt_only")
    ]


def worst_by_check(
    checks: tuple[Check, ...], metrics: Mapping[str, Mapping[str, float]]
) -> list[tuple[Check, float, str, bool]]:
    """Per check: the worst value over streams/channels, where it was, and whether it passes."""
    rows = []
    for check in checks:
        values = [(m[check.metric], where) for where, m in metrics.items() if check.metric in m]
        if not values:
            continue
        value, where = (max if check.max is not None else min)(values, key=lambda v: v[0])
        rows.append((check, float(value), where, check.failure(value, where) is None))
    return rows


def _live(step: Step, attempt: int, emit: Callable[[Event], None], context: Mapping[str, Any]) -> Progress:
    def progress(partial: Streams, seconds: float) -> None:
        try:
            metrics = step_metrics(step, partial, context)
        except CalibrationError:
            return  # too little data yet for this metric
        rows = worst_by_check(step.checks, metrics)
        emit(
            Event(
                "live",
                "",
                step.id,
                attempt,
                seconds,
                data={
                    c.metric: {"value": v, "where": w, "ok": ok, "min": c.min, "max": c.max}
                    for c, v, w, ok in rows
                },
            )
        )

    return progress


def run_protocol(
    protocol: Protocol,
    source: Source,
    report: Callable[[Event], None] | None = None,
    profiles_folder: str | Path | None = None,
    countdown_s: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    save: bool = True,
) -> RunResult:
    """Guide one protocol run and write the profiles (see the module docstring).

    Raises :class:`~wearsense.errors.CalibrationError` when a step still fails after the
    protocol's retries, or the fit fails a protocol-level check (nothing is saved then).
    """
    emit = report or (lambda e: None)
    if save:  # before the person starts: a profile that cannot be written wastes the whole run
        folder = Path(profiles_folder) if profiles_folder is not None else profiles_dir()
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise CalibrationError(
                f"cannot use {folder} as the profiles folder ({e.strerror or e}); choose "
                f"another with --profiles-dir or ${PROFILES_ENV}"
            ) from None
    result = RunResult(protocol)
    context: dict[str, Any] = {"rest_envelope": {}}
    emit(
        Event(
            "protocol", protocol.title, data={"steps": len(protocol.steps), "duration_s": protocol.duration_s}
        )
    )
    for step in protocol.steps:
        last: tuple[str, ...] = ()
        for attempt in range(1, protocol.retries + 2):
            emit(Event("step", step.instruction, step.id, attempt, step.duration_s))
            for k in range(countdown_s, 0, -1):
                emit(Event("countdown", "", step.id, attempt, float(k)))
                sleep(1.0)
            reps: list[Streams] = []
            for k in range(1, step.repetitions + 1):
                if k > 1:
                    emit(Event("rest", f"relax for {step.rest_s:g} s", step.id, attempt, step.rest_s))
                    sleep(step.rest_s)
                live = _live(step, attempt, emit, context)
                if step.repetitions > 1:
                    emit(Event("recording", f"{k} of {step.repetitions}", step.id, attempt, step.duration_s))
                    reps.append(source.capture(step, attempt, live, repetition=k))
                else:
                    emit(Event("recording", "", step.id, attempt, step.duration_s))
                    reps.append(source.capture(step, attempt, live))
            streams = reps[0]
            wanted = {Modality.parse(s) for s in step.streams}
            if not any(info.modality in wanted for info, _ in streams.values()):
                raise CalibrationError(
                    f"step {step.id!r} needs {', '.join(step.streams)} data; the device "
                    f"delivered {', '.join(sorted(streams)) or 'nothing'}",
                    step.id,
                )
            metrics = step_metrics(step, streams, context, reps if len(reps) > 1 else None)
            failures = tuple(msg for _, msg in _evaluate(step.checks, metrics))
            result.attempts.append(StepResult(step.id, attempt, metrics, failures))
            if not failures:
                emit(Event("accepted", "", step.id, attempt, data=metrics))
                result.captures[step.id] = streams
                if len(reps) > 1:
                    result.repetitions[step.id] = reps
                if step.action == "rest":
                    for name, (info, chunk) in _by(streams, Modality.EMG).items():
                        context["rest_envelope"][name] = emg_cal.rest_level(info, chunk)[1]
                break
            emit(Event("failed", failures[0], step.id, attempt, messages=failures))
            last = failures
        else:
            raise CalibrationError(
                f"step {step.id!r} failed {protocol.retries + 1} times; last: {last[0]}", step.id
            )
    serials = {device_serial(info) for streams in result.captures.values() for info, _ in streams.values()}
    existing = {s: p for s in serials if (p := load_profile(s, profiles_folder)) is not None}
    sections, quality = solve(protocol, result.captures, existing, result.repetitions)
    emit(Event("fit", protocol.solver, data=quality))
    for name, info in _uncalibrated(protocol, result.captures, quality):
        seg = info.metadata.get("segment")
        emit(
            Event(
                "warning",
                f"{name} ({seg}): no functional step of this protocol moves its segment; aligned by "
                "the N-pose alone (its tilt; its turn about the segment's up axis is not calibrated)"
                if seg else
                f"{name} (no segment in its metadata): not calibrated; say which segment it is on "
                "in the device's stream metadata ('segment')",
            )
        )
    fit_failures = _evaluate(protocol.checks, quality)
    if fit_failures:
        metric, msg = fit_failures[0]
        raise CalibrationError(f"protocol {protocol.name!r}: {msg}", "", metric)
    result.sections = sections
    if save:
        for serial, secs in sections.items():
            profile, path = update_profile(serial, secs, profiles_folder)
            result.profiles[serial] = (profile, path)
            emit(Event("saved", str(path), data={"serial": serial, "sections": sorted(secs)}))
    return result

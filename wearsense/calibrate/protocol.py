"""Calibration protocols: load and validate the declarative ``calibration/*.toml`` files.

A protocol file says what the person does, for how long, which streams are used,
what each step must satisfy before it is accepted, and what the protocol yields::

    [protocol]
    name = "imu_still"                 # must match the file name
    version = 1
    title = "IMU still: gyroscope bias and noise"
    solver = "imu_still"               # the fit that turns the steps into parameters
    streams = ["IMU"]                  # modalities the device must provide
    produces = ["gyro_bias_dps", "gyro_noise_dps"]
    retries = 2                        # attempts after the first, per step

    [[step]]
    id = "still"
    action = "still"                   # what the person (or the sim) performs
    instruction = "Rest the sensor on a table; do not touch it."
    duration_s = 10.0
    streams = ["IMU"]
    produces = ["gyro_bias_dps"]

    [[step.checks]]
    metric = "gyro_std_dps"            # one of the metrics of this action (METRICS)
    max = 0.5
    message = "{where} moved (gyro std {value:.2f} dps > {limit} dps); rest it on a table and retry"

    [[checks]]                         # checks of the fit over the whole protocol
    metric = "residual_pct"
    max = 3.0
    message = "..."

Every error raised by :func:`load_protocol` is a :class:`~wearsense.errors.ProtocolError`
naming the file, the step and the field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wearsense.errors import ProtocolError

__all__ = [
    "ACTIONS",
    "SOLVERS",
    "SEGMENT_AXES",
    "Check",
    "Step",
    "Protocol",
    "load_protocol",
    "parse_protocol",
    "protocol_dir",
    "list_protocols",
    "find_protocol",
]

#: Modalities a protocol may name (``StreamInfo.modality`` values).
STREAM_KINDS = ("IMU", "EMG", "POSE")

#: Axis names for sensor/segment axes: sign and letter.
SEGMENT_AXES = ("+x", "-x", "+y", "-y", "+z", "-z")

#: action -> (metrics its checks may use, option name -> (type, required, allowed values or None))
ACTIONS: dict[str, tuple[tuple[str, ...], dict[str, tuple[type, bool, tuple | None]]]] = {
    "still": (("gyro_std_dps", "acc_std_ms2", "acc_norm_error_ms2"), {}),
    "face": (("gyro_std_dps", "acc_std_ms2", "face_angle_deg"), {"face": (str, True, SEGMENT_AXES)}),
    "figure8": (("coverage_pct", "gyro_peak_dps"), {}),
    "rest": (("rest_rms_uv",), {}),
    "mvc": (
        ("mvc_over_rest", "plateau_s", "repetition_spread_pct"),
        {
            "muscles": (list, True, None),
            "position": (str, True, None),
            "repetitions": (int, False, None),
            "rest_s": (float, False, None),
        },
    ),
    "npose": (("gyro_std_dps", "acc_norm_error_ms2"), {"segment_up": (str, False, SEGMENT_AXES)}),
    "functional": (
        ("rotation_deg", "axis_dominance"),
        {
            "segments": (list, True, None),
            "axis": (str, True, SEGMENT_AXES),
            "joint": (str, True, None),
            "amplitude_deg": (float, False, None),
        },
    ),
    "gesture": (
        ("gestures_found", "imu_peak_dps"),
        {"gesture": (str, True, ("clap", "stomp")), "count": (int, False, None)},
    ),
}

#: solver -> (metrics its protocol-level checks may use, the actions it needs)
SOLVERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "imu_still": (("gyro_bias_change_dps",), ("still",)),
    "accel_six_face": (("residual_ms2", "scale_error_pct"), ("face",)),
    "mag_ellipsoid": (("residual_pct", "coverage_pct"), ("figure8",)),
    "emg_rest_mvc": (("min_mvc_over_rest",), ("rest", "mvc")),
    "sensor_to_segment": (("axis_angle_deg",), ("npose", "functional")),
    "sync_gesture": (("confidence", "lag_ci_ms"), ("gesture",)),
}

_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Check:
    """An acceptance check: ``metric`` must lie within ``[min, max]``; else ``message``.

    ``message`` may use ``{value}``, ``{limit}``, ``{metric}`` and ``{where}`` (the stream
    or channel that failed).
    """

    metric: str
    min: float | None
    max: float | None
    message: str

    def failure(self, value: float, where: str = "") -> str | None:
        """The message to show when ``value`` fails this check, or ``None`` when it passes."""
        low = self.min is not None and not value >= self.min
        high = self.max is not None and not value <= self.max
        if not (low or high):
            return None
        limit = self.min if low else self.max
        try:
            return self.message.format(value=value, limit=limit, metric=self.metric, where=where)
        except (KeyError, IndexError, ValueError):
            return self.message


@dataclass(frozen=True)
class Step:
    """One step of a protocol (see the module docstring for the fields)."""

    id: str
    action: str
    instruction: str
    duration_s: float
    streams: tuple[str, ...]
    produces: tuple[str, ...]
    checks: tuple[Check, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def repetitions(self) -> int:
        """How many times the step is performed (``options.repetitions`` of an ``mvc``
        step; 1 otherwise). Each repetition is its own recording of ``duration_s``."""
        return int(self.options.get("repetitions", 1))

    @property
    def rest_s(self) -> float:
        """Rest between repetitions (s; ``options.rest_s``, 0 without repetitions)."""
        return float(self.options.get("rest_s", 0.0)) if self.repetitions > 1 else 0.0


@dataclass(frozen=True)
class Protocol:
    """A validated protocol file."""

    name: str
    version: int
    title: str
    description: str
    solver: str
    streams: tuple[str, ...]
    produces: tuple[str, ...]
    retries: int
    steps: tuple[Step, ...]
    checks: tuple[Check, ...]
    path: str = ""

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise ProtocolError(
            f"{self.path or self.name}: no step {step_id!r}; steps: {', '.join(s.id for s in self.steps)}",
            self.path,
            step_id,
        )

    @property
    def duration_s(self) -> float:
        """Total recording time of all steps and their repetitions (s), without retries
        and without the rests between repetitions."""
        return sum(s.duration_s * s.repetitions for s in self.steps)


class _Where:
    def __init__(self, path: str, step: str = "") -> None:
        self.path = path
        self.step = step

    def error(self, fld: str, why: str) -> ProtocolError:
        where = f"step {self.step!r}" if self.step else "[protocol]"
        return ProtocolError(f"{self.path}: {where}: field {fld!r}: {why}", self.path, self.step, fld)


def _get(
    table: Mapping,
    key: str,
    kind: type | tuple,
    where: _Where,
    required: bool = True,
    default: Any = None,
    prefix: str = "",
) -> Any:
    name = prefix + key
    if key not in table:
        if required:
            raise where.error(name, "missing (required)")
        return default
    value = table[key]
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        names = {
            "str": "a string",
            "int": "an integer",
            "float": "a number",
            "list": "a list",
            "bool": "true or false",
        }
        kinds = (kind,) if isinstance(kind, type) else kind
        want = " or ".join(names.get(k.__name__, k.__name__) for k in kinds)
        raise where.error(name, f"must be {want}, got {value!r}")
    return value


def _str_list(
    table: Mapping, key: str, where: _Where, allowed: tuple[str, ...] | None = None, required: bool = True
) -> tuple[str, ...]:
    value = _get(table, key, list, where, required, [])
    for v in value:
        if not isinstance(v, str):
            raise where.error(key, f"must be a list of strings, found {v!r}")
        if allowed is not None and v not in allowed:
            raise where.error(key, f"{v!r} is not one of {', '.join(allowed)}")
    return tuple(value)


def _checks(raw: Any, metrics: tuple[str, ...], where: _Where, owner: str) -> tuple[Check, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise where.error("checks", "must be an array of tables ([[...checks]])")
    out = []
    for i, c in enumerate(raw):
        p = f"checks[{i}]."
        if not isinstance(c, dict):
            raise where.error(f"checks[{i}]", "must be a table with metric, min/max and message")
        unknown = sorted(set(c) - {"metric", "min", "max", "message"})
        if unknown:
            raise where.error(p + unknown[0], "unknown field; a check has metric, min, max, message")
        metric = _get(c, "metric", str, where, prefix=p)
        if metric not in metrics:
            raise where.error(
                p + "metric", f"{metric!r} is not a metric of {owner}; valid: {', '.join(metrics)}"
            )
        lo = _get(c, "min", float, where, False, prefix=p)
        hi = _get(c, "max", float, where, False, prefix=p)
        if lo is None and hi is None:
            raise where.error(p + "max", "a check needs a limit: give min, max or both")
        if lo is not None and hi is not None and lo > hi:
            raise where.error(p + "min", f"min {lo} is above max {hi}")
        message = _get(c, "message", str, where, prefix=p)
        if not message.strip():
            raise where.error(p + "message", "must say what went wrong and what to do")
        out.append(Check(metric, lo, hi, message))
    return tuple(out)


def _options(raw: Any, action: str, where: _Where) -> dict[str, Any]:
    spec = ACTIONS[action][1]
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise where.error("options", "must be a table")
    unknown = sorted(set(raw) - set(spec))
    if unknown:
        valid = ", ".join(spec) or "none"
        raise where.error(f"options.{unknown[0]}", f"unknown option for action {action!r}; valid: {valid}")
    out: dict[str, Any] = {}
    for key, (kind, required, allowed) in spec.items():
        value = _get(raw, key, kind, where, required, prefix="options.")
        if value is None:
            continue
        if allowed is not None and value not in allowed:
            raise where.error(f"options.{key}", f"{value!r} is not one of {', '.join(map(str, allowed))}")
        if kind is list:
            if not value or not all(isinstance(v, str) for v in value):
                raise where.error(f"options.{key}", "must be a non-empty list of strings")
            value = tuple(value)
        if key == "repetitions" and not 1 <= value <= 10:
            raise where.error(f"options.{key}", f"must be within 1..10, got {value!r}")
        if kind is float and not value > 0:
            raise where.error(f"options.{key}", f"must be > 0, got {value!r}")
        out[key] = value
    return out


def parse_protocol(data: Mapping[str, Any], path: str = "<protocol>") -> Protocol:
    """Validate a parsed TOML document; raises :class:`ProtocolError` naming file, step, field."""
    top = _Where(path)
    unknown = sorted(set(data) - {"protocol", "step", "checks"})
    if unknown:
        raise top.error(
            unknown[0], "unknown top-level key; a protocol has [protocol], [[step]] and [[checks]]"
        )
    head = data.get("protocol")
    if not isinstance(head, dict):
        raise top.error(
            "protocol", "missing [protocol] table (name, version, title, solver, streams, produces)"
        )
    name = _get(head, "name", str, top)
    stem = Path(path).stem
    if path.endswith(".toml") and name != stem:
        raise top.error("name", f"{name!r} must match the file name {stem!r}")
    version = _get(head, "version", int, top)
    if version < 1:
        raise top.error("version", f"must be >= 1, got {version}")
    title = _get(head, "title", str, top)
    description = _get(head, "description", str, top, False, "")
    solver = _get(head, "solver", str, top)
    if solver not in SOLVERS:
        raise top.error("solver", f"{solver!r} is not a known solver; valid: {', '.join(SOLVERS)}")
    streams = _str_list(head, "streams", top, STREAM_KINDS)
    if not streams:
        raise top.error("streams", f"name at least one of {', '.join(STREAM_KINDS)}")
    produces = _str_list(head, "produces", top)
    retries = _get(head, "retries", int, top, False, 2)
    if not 0 <= retries <= 10:
        raise top.error("retries", f"must be within 0..10, got {retries}")
    extra = sorted(
        set(head) - {"name", "version", "title", "description", "solver", "streams", "produces", "retries"}
    )
    if extra:
        raise top.error(extra[0], "unknown field in [protocol]")
    raw_steps = data.get("step")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise top.error("step", "a protocol needs at least one [[step]]")
    steps: list[Step] = []
    seen: set[str] = set()
    for i, s in enumerate(raw_steps):
        sid = s.get("id") if isinstance(s, dict) else None
        w = _Where(path, sid if isinstance(sid, str) else f"#{i + 1}")
        if not isinstance(s, dict):
            raise w.error("step", "must be a table")
        sid = _get(s, "id", str, w)
        if not _ID.match(sid):
            raise w.error("id", f"{sid!r} must be lower case letters, digits and '_', starting with a letter")
        if sid in seen:
            raise w.error("id", f"duplicate step id {sid!r}")
        seen.add(sid)
        extra = sorted(
            set(s) - {"id", "action", "instruction", "duration_s", "streams", "produces", "checks", "options"}
        )
        if extra:
            raise w.error(extra[0], "unknown field in a step")
        action = _get(s, "action", str, w)
        if action not in ACTIONS:
            raise w.error("action", f"{action!r} is not a known action; valid: {', '.join(ACTIONS)}")
        instruction = _get(s, "instruction", str, w)
        if not instruction.strip():
            raise w.error("instruction", "must tell the person what to do")
        duration = _get(s, "duration_s", float, w)
        if not 0 < duration <= 600:
            raise w.error("duration_s", f"must be within (0, 600] seconds, got {duration!r}")
        st = _str_list(s, "streams", w, STREAM_KINDS)
        missing = [k for k in st if k not in streams]
        if not st or missing:
            raise w.error("streams", f"must be a non-empty subset of the protocol's streams {list(streams)}")
        prod = _str_list(s, "produces", w, required=False)
        checks = _checks(s.get("checks"), ACTIONS[action][0], w, f"action {action!r}")
        options = _options(s.get("options"), action, w)
        steps.append(Step(sid, action, instruction, duration, st, prod, checks, options))
    needs = SOLVERS[solver][1]
    for a in needs:
        if not any(s.action == a for s in steps):
            raise top.error("solver", f"solver {solver!r} needs a step with action {a!r}")
    for s in steps:
        if s.action not in needs:
            raise _Where(path, s.id).error(
                "action", f"action {s.action!r} is not used by solver {solver!r} (it uses {', '.join(needs)})"
            )
    checks = _checks(data.get("checks"), SOLVERS[solver][0], top, f"solver {solver!r}")
    return Protocol(
        name, version, title, description, solver, streams, produces, retries, tuple(steps), checks, path
    )


def load_protocol(path: str | Path) -> Protocol:
    """Read and validate one protocol file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ProtocolError(f"{p}: cannot read the protocol file ({e.strerror})", str(p)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ProtocolError(f"{p}: not valid TOML: {e}", str(p)) from None
    return parse_protocol(data, str(p))


def protocol_dir() -> Path:
    """The ``calibration/`` folder shipped with wearsense (next to the package)."""
    return Path(__file__).resolve().parents[2] / "calibration"


def list_protocols(folder: str | Path | None = None) -> list[Path]:
    """The protocol files in ``folder`` (default: :func:`protocol_dir`), sorted by name."""
    return sorted(Path(folder or protocol_dir()).glob("*.toml"))


def find_protocol(name_or_path: str | Path) -> Protocol:
    """Load a protocol by file path, or by name from the shipped ``calibration/`` folder."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return load_protocol(p)
    candidate = protocol_dir() / f"{name_or_path}.toml"
    if candidate.exists():
        return load_protocol(candidate)
    known = ", ".join(q.stem for q in list_protocols())
    raise ProtocolError(
        f"no calibration protocol {str(name_or_path)!r}; shipped protocols: {known} "
        "(or give the path of a .toml file)",
        str(name_or_path),
    )

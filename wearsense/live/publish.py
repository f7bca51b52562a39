"""The one live address space: predicted pose, actual pose, surprise, events and effort over OSC and LSL.

Co-creative tools (TouchDesigner, Max/MSP, Isadora, a web page) answer a mover live
when they hear what the sensors say. :class:`Publisher` sends it two ways at once:

- **OSC** (Open Sound Control over UDP, python-osc): every address starts with
  ``/<name>`` (default ``/wearsense``); values that belong to one instant travel in
  one bundle (timetag "immediately": a receiver acts on arrival);
- **LSL** (Lab Streaming Layer, pylsl): float32 outlets with channel labels, units
  and types in ``<desc><channels>``, and a string marker outlet for events, so
  LabRecorder records them beside the raw streams.

``wearsense predict`` (the model's output), ``wearsense live`` and ``wearsense
dashboard`` (effort and pre-activation) all publish through this class, so a patch
written once hears all of them. The address space, units and rates are documented in
``docs/osc.md``; the summary:

====================================== ================ =============================================
OSC address                            arguments        meaning
====================================== ================ =============================================
``/wearsense/step``                    i, f             step number, time s since the first instant
``/wearsense/pred/<h>/angles``         f × J            joint angles predicted for now + h ms, deg
``/wearsense/pred/<h>/kp``             f × 3Q           keypoints (x,y,z, pelvis-relative) at now + h, m
``/wearsense/actual/angles``           f × J            measured joint angles, deg
``/wearsense/actual/kp``               f × 3Q           newest arrived keypoints (x,y,z), m
``/wearsense/actual/age``              f                age of that pose frame, s
``/wearsense/surprise``                f                the model's surprise (its forward-model error)
``/wearsense/onset``                   s                EMG onset on a muscle (the model's event input)
``/wearsense/preactivation``           s, s, f, s       muscle, segment, lead ms, kind
``/wearsense/effort/<factor>``         f, s, f          value, pole, confidence (factor: weight,
                                                        time, space, flow)
``/wearsense/names/joints`` etc.       s × n            channel names (joints, keypoints, horizons_ms,
                                                        muscles), sent by :meth:`Publisher.describe`
====================================== ================ =============================================

All times passed in (``t``) are seconds in the LSL clock (``pylsl.local_clock()``,
on Linux the same clock as ``time.monotonic()``); omitted, "now" is used.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import struct
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wearsense.errors import ConfigError, MissingDependencyError

__all__ = [
    "Publisher",
    "PublishCounts",
    "EFFORT_FACTORS",
    "EFFORT_POLES",
    "parse_osc_target",
    "osc_message",
    "osc_floats",
    "osc_bundle",
]

log = logging.getLogger("wearsense")

#: Laban Effort factors, in the order of the LSL effort stream.
EFFORT_FACTORS: tuple[str, ...] = ("weight", "time", "space", "flow")
#: The poles of each factor: (first, second). On LSL a pole is +1 (first), -1 (second)
#: or 0 (neither: neutral, or the factor is unavailable).
EFFORT_POLES: dict[str, tuple[str, str]] = {
    "weight": ("strong", "light"),
    "time": ("sudden", "sustained"),
    "space": ("direct", "indirect"),
    "flow": ("bound", "free"),
}


def parse_osc_target(target: str | tuple[str, int]) -> tuple[str, int]:
    """``"host:port"`` (or a ``(host, port)`` pair) as ``(host, port)``; a clear error otherwise."""
    if isinstance(target, tuple):
        host, port = target
    else:
        host, sep, port_text = str(target).rpartition(":")
        if not sep or not host:
            raise ConfigError(
                f"OSC target {target!r} is not host:port; give e.g. 127.0.0.1:9000", parameter="osc"
            )
        try:
            port = int(port_text)
        except ValueError:
            raise ConfigError(
                f"OSC target {target!r}: port {port_text!r} is not a number; give e.g. 127.0.0.1:9000",
                parameter="osc",
            ) from None
    if not 0 < int(port) < 65536:
        raise ConfigError(f"OSC target {target!r}: port must be within 1..65535", parameter="osc")
    return str(host).strip("[]"), int(port)


@dataclass
class PublishCounts:
    """What a :class:`Publisher` has sent: OSC packets (a bundle counts once) and LSL samples per outlet."""

    osc_packets: int = 0
    osc_messages: int = 0
    lsl_samples: dict[str, int] = field(default_factory=dict)


def _floats(values: Any) -> list[float]:
    return np.asarray(values, dtype=np.float64).ravel().tolist()


def _pole_sign(factor: str, pole: str) -> float:
    first, second = EFFORT_POLES[factor]
    return 1.0 if pole == first else -1.0 if pole == second else 0.0


def _effort_reading(factor: str, reading: Any) -> tuple[float, str, float]:
    """``(value, pole, confidence)`` from a tuple or from an object with those attributes."""
    if isinstance(reading, Sequence) and not isinstance(reading, str):
        if len(reading) != 3:
            raise ConfigError(f"effort {factor!r}: expected (value, pole, confidence), got {reading!r}")
        value, pole, confidence = reading
    else:
        try:
            value, pole, confidence = reading.value, reading.pole, reading.confidence
        except AttributeError:
            raise ConfigError(
                f"effort {factor!r}: {reading!r} has no value/pole/confidence; pass an effort reading "
                "or a (value, pole, confidence) tuple"
            ) from None
    value = math.nan if value is None else float(value)
    return value, str(pole or ""), float(confidence)


class _Datagram:
    """What python-osc's client sends: an object with the packet bytes in ``dgram``."""

    __slots__ = ("dgram",)

    def __init__(self, dgram: bytes) -> None:
        self.dgram = dgram


def _osc_string(text: str) -> bytes:
    b = text.encode("utf-8") + b"\0"
    return b + b"\0" * (-len(b) % 4)


def osc_message(address: str, args: Sequence[tuple[Any, str]]) -> bytes:
    """One OSC 1.0 message: ``args`` are ``(value, type)`` with type ``"f"`` (float32),
    ``"i"`` (int32) or ``"s"`` (string).

    Encoded here rather than with python-osc's builder, which parses every message it
    builds again (about 9 ms per prediction bundle, half the latency budget); the tests
    parse what this writes with python-osc's own server.
    """
    tags = ","
    parts = []
    for value, kind in args:
        if kind == "f":
            parts.append(struct.pack(">f", float(value)))
        elif kind == "i":
            parts.append(struct.pack(">i", int(value)))
        elif kind == "s":
            parts.append(_osc_string(str(value)))
        else:
            raise ConfigError(f"OSC argument type {kind!r} is not one of f, i, s")
        tags += kind
    return _osc_string(address) + _osc_string(tags) + b"".join(parts)


def osc_floats(address: str, values: Any) -> bytes:
    """One OSC message of float32 arguments (all values of an array, flattened)."""
    x = np.asarray(values, dtype=">f4").ravel()
    return _osc_string(address) + _osc_string("," + "f" * x.size) + x.tobytes()


def osc_bundle(messages: Sequence[bytes]) -> bytes:
    """An OSC bundle with the timetag "immediately" (1) holding ``messages``."""
    return b"#bundle\0" + (1).to_bytes(8, "big") + b"".join(len(m).to_bytes(4, "big") + m for m in messages)


class _Lsl:
    """The LSL side: outlets made on first use (their channel layout comes from the data)."""

    def __init__(self, name: str, source_id: str) -> None:
        try:
            import pylsl
        except ImportError as e:  # pragma: no cover - pylsl is a dependency of the live extra
            raise MissingDependencyError(
                f"LSL publishing needs pylsl ({e}); install it with: pip install pylsl, or pass lsl=False"
            ) from e
        self.pylsl = pylsl
        self.name = name
        self.source_id = source_id
        self.outlets: dict[str, Any] = {}
        self.widths: dict[str, int] = {}

    def outlet(
        self,
        kind: str,
        lsl_type: str,
        channels: Sequence[tuple[str, str, str]],
        rate_hz: float,
        fmt: str = "float32",
    ) -> Any:
        """The outlet ``<name>-<kind>``, made now if new; ``channels``: (label, unit, type) each."""
        out = self.outlets.get(kind)
        if out is not None:
            return out
        pl = self.pylsl
        info = pl.StreamInfo(
            f"{self.name}-{kind}",
            lsl_type,
            len(channels),
            rate_hz,
            pl.cf_string if fmt == "string" else pl.cf_float32,
            f"{self.source_id}-{kind}",
        )
        desc = info.desc()
        chans = desc.append_child("channels")
        for label, unit, ctype in channels:
            ch = chans.append_child("channel")
            ch.append_child_value("label", label)
            ch.append_child_value("unit", unit)
            ch.append_child_value("type", ctype)
        acq = desc.append_child("acquisition")
        acq.append_child_value("manufacturer", "wearsense")
        acq.append_child_value("address_space", "docs/osc.md")
        out = self.outlets[kind] = pl.StreamOutlet(info, 0, 360)
        self.widths[kind] = len(channels)
        return out

    def push(self, kind: str, sample: list, t: float) -> None:
        self.outlets[kind].push_sample(sample, t)


_SURPRISE = [("surprise", "a.u.", "surprise")]
_EVENTS = [("event", "json", "marker")]


def _effort_channels() -> list[tuple[str, str, str]]:
    channels = []
    for f in EFFORT_FACTORS:
        first, second = EFFORT_POLES[f]
        channels += [
            (f, "a.u.", "effort"),
            (f"{f}_pole", f"+1 {first}, -1 {second}", "pole"),
            (f"{f}_confidence", "0..1", "confidence"),
        ]
    return channels


class Publisher:
    """Publish predicted and actual pose, surprise, events and effort over OSC and LSL.

    Parameters
    ----------
    osc : str or (host, port) or None
        Where OSC goes (UDP), e.g. ``"127.0.0.1:9000"``; ``None``: no OSC.
    lsl : bool
        Make LSL outlets (``<name>-predicted``, ``-actual``, ``-surprise``, ``-effort``,
        ``-events``); each is created when its first value is published.
    name : str
        OSC address prefix (``/<name>/...``) and LSL stream-name prefix.
    source_id : str, optional
        LSL source id prefix (default: ``name``); an LSL consumer that reconnects finds
        the outlet again by it.

    Use as a context manager, or call :meth:`close`. Thread-safe: the dashboard's
    server and a prediction loop may share one publisher.

    >>> pub = Publisher(osc="127.0.0.1:9000", lsl=False)                 # doctest: +SKIP
    >>> pub.describe(joints=["knee_r"], horizons_ms=[0, 100])            # doctest: +SKIP
    >>> with pub.instant(step=12):                                       # doctest: +SKIP
    ...     pub.predicted(angles=np.array([[10.0], [14.0]]))             # one OSC bundle
    ...     pub.surprise(0.3)
    """

    def __init__(
        self,
        osc: str | tuple[str, int] | None = "127.0.0.1:9000",
        lsl: bool = True,
        name: str = "wearsense",
        source_id: str | None = None,
    ) -> None:
        if not name or any(c in name for c in " #*,/?[]{}"):
            raise ConfigError(
                f"Publisher name {name!r} must be non-empty, without spaces or any of #*,/?[]{{}} "
                "(it becomes an OSC address part); e.g. 'wearsense'",
                parameter="name",
            )
        self.name = name
        self.prefix = f"/{name}"
        self.counts = PublishCounts()
        self.joints: list[str] = []
        self.keypoints: list[str] = []
        self.horizons_ms: list[int] = []
        self.muscles: list[str] = []
        self.step_hz = 0.0
        self._lock = threading.RLock()
        self._local = threading.local()
        self._t0: float | None = None
        self.osc_target: tuple[str, int] | None = None
        self._osc = None
        if osc is not None:
            self.osc_target = parse_osc_target(osc)
            try:
                from pythonosc.udp_client import SimpleUDPClient
            except ImportError as e:  # pragma: no cover - python-osc is in the live extra
                raise MissingDependencyError(
                    f"OSC publishing needs python-osc ({e}); install it with: pip install python-osc, "
                    "or publish without OSC"
                ) from e
            self._osc = SimpleUDPClient(*self.osc_target)
        self._lsl = _Lsl(name, source_id or name) if lsl else None

    # ------------------------------------------------------------------ plumbing
    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the OSC socket and the LSL outlets (consumers see the streams end)."""
        with self._lock:
            if self._osc is not None:
                self._osc._sock.close()
                self._osc = None
            if self._lsl is not None:
                self._lsl.outlets.clear()

    @property
    def lsl_streams(self) -> list[str]:
        """Names of the LSL outlets made so far."""
        return [] if self._lsl is None else [f"{self.name}-{k}" for k in self._lsl.outlets]

    def _now(self, t: float | None) -> float:
        if t is not None:
            return float(t)
        bundle = getattr(self._local, "bundle", None)
        if bundle is not None and bundle["t"] is not None:
            return bundle["t"]
        if self._lsl is not None:
            return float(self._lsl.pylsl.local_clock())
        import time

        return time.monotonic()

    def _message(self, address: str, args: Sequence[tuple[Any, str]]) -> bytes:
        return osc_message(self.prefix + address, args)

    def _floats_message(self, address: str, values: Any) -> bytes:
        return osc_floats(self.prefix + address, values)

    def _send(self, messages: list[bytes]) -> None:
        """Send OSC messages: into the open :meth:`instant`'s bundle, else now (several: one bundle)."""
        if self._osc is None or not messages:
            return
        bundle = getattr(self._local, "bundle", None)
        if bundle is not None:
            bundle["messages"].extend(messages)
            return
        self._transmit(messages)

    def _transmit(self, messages: list[bytes]) -> None:
        packet = messages[0] if len(messages) == 1 else osc_bundle(messages)
        with self._lock:
            if self._osc is None:
                return
            try:
                self._osc.send(_Datagram(packet))
            except OSError as e:  # e.g. no route, or the datagram is too large: never stop the loop
                log.warning("OSC send to %s:%d failed: %s", *self.osc_target, e)
                return
            self.counts.osc_packets += 1
            self.counts.osc_messages += len(messages)

    def _lsl_push(
        self, kind: str, lsl_type: str, channels: list, rate_hz: float, sample: list, t: float
    ) -> None:
        if self._lsl is None:
            return
        with self._lock:
            if self._lsl.outlets.get(kind) is None:
                self._lsl.outlet(
                    kind, lsl_type, channels, rate_hz, "string" if lsl_type == "Markers" else "float32"
                )
            if len(sample) != self._lsl.widths[kind]:
                raise ConfigError(
                    f"LSL stream {self.name}-{kind} has {self._lsl.widths[kind]} channels, this sample "
                    f"{len(sample)}; call describe() with the layout before the first sample, and keep it"
                )
            self._lsl.push(kind, sample, t)
            n = self.counts.lsl_samples
            n[f"{self.name}-{kind}"] = n.get(f"{self.name}-{kind}", 0) + 1

    def _relative(self, t: float) -> float:
        if self._t0 is None:
            self._t0 = t
        return t - self._t0

    # ------------------------------------------------------------------ public API
    def describe(
        self,
        *,
        joints: Sequence[str] = (),
        keypoints: Sequence[str] = (),
        horizons_ms: Sequence[int] = (),
        muscles: Sequence[str] = (),
        step_hz: float = 0.0,
    ) -> None:
        """Name the channels (and announce them over OSC as ``/<name>/names/...``).

        Sets the channel labels of the LSL pose outlets made after it. Call it again
        every few seconds so that an OSC receiver started late learns the names (the
        prediction loop does, once a second).

        Parameters
        ----------
        joints : joint-angle names (J), in the order of the angle arrays
        keypoints : keypoint names (Q), in the order of the keypoint arrays
        horizons_ms : prediction horizons (H), ms, in the order of the predicted arrays
        muscles : EMG channel names (the index space of onset events)
        step_hz : rate of the pose and surprise streams (Hz); 0 irregular
        """
        with self._lock:
            if joints:
                self.joints = [str(j) for j in joints]
            if keypoints:
                self.keypoints = [str(q) for q in keypoints]
            if horizons_ms:
                self.horizons_ms = [int(h) for h in horizons_ms]
            if muscles:
                self.muscles = [str(m) for m in muscles]
            if step_hz:
                self.step_hz = float(step_hz)
        msgs = []
        for what, names, kind in (
            ("joints", self.joints, "s"),
            ("keypoints", self.keypoints, "s"),
            ("horizons_ms", self.horizons_ms, "i"),
            ("muscles", self.muscles, "s"),
        ):
            if names:
                msgs.append(self._message(f"/names/{what}", [(v, kind) for v in names]))
        self._send(msgs)

    @contextlib.contextmanager
    def instant(self, t: float | None = None, step: int | None = None) -> Iterator["Publisher"]:
        """Everything published inside goes out over OSC as one bundle, with ``/<name>/step``
        first (``step`` number and the time in s since this publisher's first instant),
        and over LSL with the time ``t`` (LSL clock, s; default now)."""
        if getattr(self._local, "bundle", None) is not None:
            raise ConfigError("Publisher.instant() blocks do not nest; close the open one first")
        t = self._now(t)
        self._local.bundle = {"t": t, "messages": []}
        try:
            yield self
        finally:
            bundle, self._local.bundle = self._local.bundle, None
        if self._osc is not None:
            head = self._message(
                "/step", [(-1 if step is None else int(step), "i"), (self._relative(t), "f")]
            )
            self._transmit([head, *bundle["messages"]])

    def predicted(
        self, angles: np.ndarray | None = None, kp: np.ndarray | None = None, t: float | None = None
    ) -> None:
        """The model's prediction made now: per horizon, joint angles and keypoints.

        Parameters
        ----------
        angles : ndarray, shape (H, J), deg, or None
            Joint angles predicted for now + ``horizons_ms[h]``.
        kp : ndarray, shape (H, Q, 3), m, or None
            Keypoints (pelvis-relative x, y, z) predicted for now + ``horizons_ms[h]``.
        t : float, optional
            LSL-clock time of "now" (s).

        OSC: ``/<name>/pred/<h>/angles`` and ``/<name>/pred/<h>/kp`` per horizon, one bundle.
        LSL: ``<name>-predicted``, every horizon's angles then every horizon's keypoints,
        labelled ``<joint>@<h>ms`` and ``<keypoint>_<axis>@<h>ms``.
        """
        if angles is None and kp is None:
            return
        t = self._now(t)
        a = None if angles is None else np.asarray(angles, dtype=np.float64)
        k = None if kp is None else np.asarray(kp, dtype=np.float64)
        if a is not None and a.ndim != 2:
            raise ConfigError(f"predicted angles must be (horizons, joints); got shape {a.shape}")
        if k is not None and (k.ndim != 3 or k.shape[-1] != 3):
            raise ConfigError(f"predicted keypoints must be (horizons, keypoints, 3); got shape {k.shape}")
        n_h = (a if a is not None else k).shape[0]
        horizons = self.horizons_ms if len(self.horizons_ms) == n_h else list(range(n_h))
        if len(self.horizons_ms) != n_h:
            log.debug(
                "predicted: %d horizons but describe() named %d; addresses use indices",
                n_h,
                len(self.horizons_ms),
            )
        msgs = []
        for i, h in enumerate(horizons):
            if a is not None:
                msgs.append(self._floats_message(f"/pred/{h}/angles", a[i]))
            if k is not None:
                msgs.append(self._floats_message(f"/pred/{h}/kp", k[i]))
        self._send(msgs)
        if self._lsl is not None:
            channels = self._predicted_channels(
                horizons, None if a is None else a.shape[1], None if k is None else k.shape[1]
            )
            sample = (_floats(a) if a is not None else []) + (_floats(k) if k is not None else [])
            self._lsl_push("predicted", "MoCap", channels, self.step_hz, sample, t)

    def actual(
        self,
        angles: np.ndarray | None = None,
        kp: np.ndarray | None = None,
        age_s: float | None = None,
        t: float | None = None,
    ) -> None:
        """The measured pose known now: joint angles (J,) deg and/or keypoints (Q, 3) m, and
        how old the frame is (s; camera latency). OSC ``/<name>/actual/...``; LSL
        ``<name>-actual`` (angles, keypoints, age)."""
        if angles is None and kp is None:
            return
        t = self._now(t)
        a = None if angles is None else np.asarray(angles, dtype=np.float64).ravel()
        k = None if kp is None else np.asarray(kp, dtype=np.float64).reshape(-1, 3)
        msgs = []
        if a is not None:
            msgs.append(self._floats_message("/actual/angles", a))
        if k is not None:
            msgs.append(self._floats_message("/actual/kp", k))
        if age_s is not None:
            msgs.append(self._message("/actual/age", [(float(age_s), "f")]))
        self._send(msgs)
        if self._lsl is not None:
            channels = self._actual_channels(None if a is None else a.size, None if k is None else len(k))
            sample = (_floats(a) if a is not None else []) + (_floats(k) if k is not None else [])
            sample.append(math.nan if age_s is None else float(age_s))
            self._lsl_push("actual", "MoCap", channels, self.step_hz, sample, t)

    def surprise(self, value: float, t: float | None = None) -> None:
        """The model's surprise now (its forward-model error; dimensionless, 0 = as expected).
        OSC ``/<name>/surprise f``; LSL ``<name>-surprise`` (1 channel)."""
        t = self._now(t)
        self._send([self._message("/surprise", [(float(value), "f")])])
        self._lsl_push("surprise", "Surprise", _SURPRISE, self.step_hz, [float(value)], t)

    def onset(self, muscle: str, t: float | None = None) -> None:
        """An EMG onset detected on ``muscle`` (the pre-activation event the model sees).
        OSC ``/<name>/onset s``; LSL marker ``{"event": "onset", "muscle": ...}``."""
        t = self._now(t)
        self._send([self._message("/onset", [(str(muscle), "s")])])
        self._marker({"event": "onset", "muscle": str(muscle), "text": f"{muscle} engaged"}, t)

    def preactivation(
        self,
        muscle: str,
        segment: str | None,
        lead_ms: float,
        kind: str = "led",
        text: str | None = None,
        t: float | None = None,
    ) -> None:
        """A resolved pre-activation: "muscle X engaged N ms before segment Y moved".

        Parameters
        ----------
        muscle : EMG channel label
        segment : the segment that moved, or (other kinds) the joint's segments; None: ""
        lead_ms : motion onset minus EMG onset (ms) for ``kind="led"``; NaN otherwise
        kind : ``"led"``, ``"anticipatory"`` (muscle engaged, its joint did not move) or
            ``"already_moving"`` (as :class:`wearsense.effort.PreactivationEvent` has them)
        text : the sentence for a person (default made from the fields)

        OSC ``/<name>/preactivation s s f s`` (muscle, segment, lead ms, kind); LSL
        marker (JSON) with the same fields and the sentence. To publish an effort
        event ``ev``: ``preactivation(ev.muscle, ev.segment, ev.lead_ms, ev.kind, ev.describe())``.
        """
        t = self._now(t)
        seg = "" if segment is None else str(segment)
        lead = math.nan if lead_ms is None else float(lead_ms)
        args = [(str(muscle), "s"), (seg, "s"), (lead, "f"), (str(kind), "s")]
        self._send([self._message("/preactivation", args)])
        if text is None:
            if kind == "led":
                text = f"{muscle} engaged {lead:.0f} ms before {seg} moved"
            elif kind == "anticipatory":
                text = f"{muscle} engaged with no motion of its joint" + (f" ({seg})" if seg else "")
            else:
                text = (
                    f"{muscle} engaged while its joint" + (f" ({seg})" if seg else "") + " was already moving"
                )
        fields = {"event": "preactivation", "muscle": str(muscle), "segment": seg, "lead_ms": lead}
        fields.update(kind=str(kind), text=text)
        self._marker(fields, t)

    def effort(self, factors: Mapping[str, Any], t: float | None = None) -> None:
        """Laban Effort factors now, one OSC bundle.

        Parameters
        ----------
        factors : mapping factor -> reading
            Factors among :data:`EFFORT_FACTORS` (others are an error); a reading is an
            object with ``value``, ``pole`` and ``confidence`` attributes (as
            :mod:`wearsense.effort` reports them) or a ``(value, pole, confidence)``
            tuple. ``value``: the effort module's score; ``pole``: one of
            :data:`EFFORT_POLES` for the factor, or anything else (e.g.
            ``"unavailable"``: the sensors cannot say; then value may be None/NaN);
            ``confidence``: 0..1.

        OSC ``/<name>/effort/<factor> f s f``; LSL ``<name>-effort``, 12 channels:
        ``<factor>``, ``<factor>_pole`` (+1 first pole, -1 second, 0 neither),
        ``<factor>_confidence`` for each factor in :data:`EFFORT_FACTORS` (NaN where
        not given).
        """
        unknown = sorted(set(factors) - set(EFFORT_FACTORS))
        if unknown:
            raise ConfigError(
                f"effort factors {unknown} unknown; the factors are {', '.join(EFFORT_FACTORS)}"
            )
        t = self._now(t)
        readings = {f: _effort_reading(f, r) for f, r in factors.items()}
        self._send(
            [
                self._message(f"/effort/{f}", [(v, "f"), (p, "s"), (c, "f")])
                for f, (v, p, c) in readings.items()
            ]
        )
        if self._lsl is not None:
            sample = []
            for f in EFFORT_FACTORS:
                v, p, c = readings.get(f, (math.nan, "", math.nan))
                sample += [v, _pole_sign(f, p), c]
            self._lsl_push("effort", "Effort", _effort_channels(), 0.0, sample, t)

    # ------------------------------------------------------------------ helpers
    def _marker(self, fields: dict, t: float) -> None:
        clean = {k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in fields.items()}
        self._lsl_push("events", "Markers", _EVENTS, 0.0, [json.dumps(clean)], t)

    def _predicted_channels(self, horizons: Sequence[int], n_joints: int | None, n_kp: int | None) -> list:
        channels = []
        if n_joints is not None:
            joints = self._names(self.joints, n_joints, "joint")
            channels += [(f"{j}@{h}ms", "deg", "angle") for h in horizons for j in joints]
        if n_kp is not None:
            kps = self._names(self.keypoints, n_kp, "kp")
            channels += [(f"{q}_{ax}@{h}ms", "m", "position") for h in horizons for q in kps for ax in "xyz"]
        return channels

    def _actual_channels(self, n_joints: int | None, n_kp: int | None) -> list:
        channels = []
        if n_joints is not None:
            channels += [(j, "deg", "angle") for j in self._names(self.joints, n_joints, "joint")]
        if n_kp is not None:
            channels += [
                (f"{q}_{ax}", "m", "position")
                for q in self._names(self.keypoints, n_kp, "kp")
                for ax in "xyz"
            ]
        return channels + [("age", "s", "latency")]

    def open_outlets(
        self,
        *,
        predicted_angles: bool = True,
        predicted_kp: bool = True,
        actual_angles: bool = False,
        actual_kp: bool = True,
        effort: bool = False,
    ) -> list[str]:
        """Make the LSL outlets now, from the names given to :meth:`describe`, rather than at
        their first sample (making an outlet takes milliseconds: not inside the first step),
        so that consumers can connect before anything is published. Returns the names made."""
        if self._lsl is None:
            return []
        if (
            not self.horizons_ms
            or (predicted_angles and not self.joints)
            or (predicted_kp and not self.keypoints)
        ):
            raise ConfigError(
                "open_outlets() needs describe(joints=..., keypoints=..., horizons_ms=...) first"
            )
        h, j, q = self.horizons_ms, len(self.joints), len(self.keypoints)
        made = {
            "predicted": (
                "MoCap",
                self._predicted_channels(h, j if predicted_angles else None, q if predicted_kp else None),
                self.step_hz,
            ),
            "surprise": ("Surprise", _SURPRISE, self.step_hz),
            "events": ("Markers", _EVENTS, 0.0),
        }
        if actual_angles or actual_kp:
            channels = self._actual_channels(j if actual_angles else None, q if actual_kp else None)
            made["actual"] = ("MoCap", channels, self.step_hz)
        if effort:
            made["effort"] = ("Effort", _effort_channels(), 0.0)
        with self._lock:
            for kind, (lsl_type, channels, rate) in made.items():
                self._lsl.outlet(
                    kind, lsl_type, channels, rate, "string" if lsl_type == "Markers" else "float32"
                )
        return [f"{self.name}-{k}" for k in made]

    @staticmethod
    def _names(names: list[str], n: int, stem: str) -> list[str]:
        return names if len(names) == n else [f"{stem}{i}" for i in range(n)]

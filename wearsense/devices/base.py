"""The one device interface every driver implements, and URI/parameter parsing.

A device is opened from a URI (``scheme://target?key=value&...``). A driver is a
subclass of :class:`Device` that declares its scheme and its query parameters as
:class:`Param` objects; parsing, type conversion and error messages are shared here so
every driver reports a bad URI the same way (naming the parameter, what is allowed and
what was given).

Use::

    async with open_device("sim://mover?seed=3") as dev:
        async for info, chunk in dev:
            ...

Drivers decode; they do not filter. Chunks carry device timestamps (clock
``"device:<source>"``) and sequence numbers untouched, plus the host arrival time in
``Chunk.received_s``.

What the data alone does not say (the device's clock jumped and a new clock segment
starts, the link dropped and came back, the device rebooted) a driver reports as a
:class:`DeviceEvent`; :meth:`Device.take_events` hands them over (the recording
session writes them into the file, docs/recording.md "Faults during a session").
"""

from __future__ import annotations

import abc
import collections
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from wearsense.errors import DeviceError, DeviceURIError
from wearsense.stream import Chunk, StreamInfo

log = logging.getLogger("wearsense")

#: Functions applied to every StreamInfo a device declares when it opens, in order
#: (``info -> info``; e.g. attaching the device's calibration profile to its metadata).
#: Named as ``"module:function"`` and imported on the first open, like the registry's
#: drivers, so this layer imports none of them; :func:`add_stream_hook` adds more.
STREAM_HOOKS: list[str | Callable[[StreamInfo], StreamInfo]] = ["wearsense.calibrate.profile:attach_profile"]


def add_stream_hook(hook: Callable[[StreamInfo], StreamInfo]) -> None:
    """Apply ``hook`` to the streams of every device opened from now on."""
    STREAM_HOOKS.append(hook)


def _apply_stream_hooks(infos: tuple[StreamInfo, ...], uri: str) -> tuple[StreamInfo, ...]:
    import importlib

    for i, hook in enumerate(STREAM_HOOKS):
        if isinstance(hook, str):
            module, _, name = hook.partition(":")
            hook = STREAM_HOOKS[i] = getattr(importlib.import_module(module), name)
        try:
            infos = tuple(hook(s) for s in infos)
        except Exception as e:  # a hook never stops a device from opening
            log.warning("%s: stream hook %s failed: %s", uri, getattr(hook, "__name__", hook), e)
    return infos

__all__ = ["Device", "DeviceEvent", "DeviceURI", "Param", "parse_uri"]


@dataclass(frozen=True)
class DeviceURI:
    """A parsed device URI.

    Attributes
    ----------
    raw : str
        The URI as given.
    scheme : str
        Lower-case scheme, e.g. ``"sim"``.
    target : str
        Everything between ``scheme://`` and ``?``: a board name, a port path
        (``/dev/ttyUSB0``), ``myo/AA:BB:...``, ``type=MoCap``.
    query : dict
        Raw query values as strings.
    """

    raw: str
    scheme: str
    target: str
    query: Mapping[str, str]


def parse_uri(uri: str) -> DeviceURI:
    """Split ``scheme://target?k=v&...`` into its parts; errors say what a URI looks like."""
    if not isinstance(uri, str) or "://" not in uri:
        raise DeviceURIError(
            f"device URI {uri!r} has no scheme; write it as scheme://target?key=value, "
            "e.g. sim://mover?seed=3 or serial:///dev/ttyUSB0?baud=921600",
            uri=str(uri),
        )
    scheme, rest = uri.split("://", 1)
    if not scheme or not scheme.replace("+", "").replace("-", "").isalnum():
        raise DeviceURIError(f"device URI {uri!r}: invalid scheme {scheme!r}", uri=uri)
    target, _, qs = rest.partition("?")
    query = _parse_pairs(qs, uri, "query")
    # urlsplit is only used to reject characters that make the URI ambiguous.
    urlsplit(uri)
    return DeviceURI(uri, scheme.lower(), target, query)


def _parse_pairs(text: str, uri: str, what: str) -> dict[str, str]:
    """``k=v&k=v`` -> dict; malformed text or a key given twice is an error."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        raise DeviceURIError(
            f"device URI {uri!r}: cannot parse {what} {text!r}; use key=value pairs joined by &",
            uri=uri,
        ) from None
    out: dict[str, str] = {}
    for k, v in pairs:
        if k in out:
            raise DeviceURIError(f"device URI {uri!r}: parameter {k!r} given twice", uri=uri, parameter=k)
        out[k] = v
    return out


@dataclass(frozen=True)
class DeviceEvent:
    """Something a device did that its samples alone do not tell.

    Attributes
    ----------
    kind : str
        ``"clock_segment"`` (the device clock jumped or restarted; the samples from
        ``t`` on are a new clock segment), ``"reset"`` (the device rebooted),
        ``"disconnect"`` / ``"reconnect"`` (the link was lost / is back).
    message : str
        One line for people: what happened and what the driver did about it.
    stream : str
        The device's own name of the stream concerned; ``""`` for the whole device.
    t : float
        Time (s, in the stream's clock, as the chunks carry it) of the first sample
        concerned; NaN when the event is not tied to a sample.
    host_s : float
        Host ``time.monotonic()`` (s) when the driver noticed.
    detail : dict
        JSON-able numbers and strings, e.g. for ``clock_segment``: ``offset_s`` (chunk
        time − device clock reading, s, from ``t`` on), ``step_s`` (how far the device
        clock jumped, s), ``seq`` (first sequence number of the segment), ``reason``.
    """

    kind: str
    message: str
    stream: str = ""
    t: float = math.nan
    host_s: float = field(default_factory=time.monotonic)
    detail: Mapping[str, Any] = field(default_factory=dict)


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True)
class Param:
    """One query parameter a driver accepts.

    Parameters
    ----------
    name : str
        Key in the query string.
    type : type
        ``int``, ``float``, ``bool`` or ``str``.
    default : Any
        Value when the key is absent.
    help : str
        One line, with units: shown in error messages and ``wearsense devices``.
    choices : sequence, optional
        Allowed values.
    min, max : float, optional
        Inclusive bounds for numbers.
    """

    name: str
    type: type
    default: Any
    help: str
    choices: Sequence[Any] | None = None
    min: float | None = None
    max: float | None = None

    def describe(self) -> str:
        allowed = ""
        if self.choices is not None:
            allowed = " one of " + "|".join(map(str, self.choices))
        elif self.min is not None or self.max is not None:
            lo = "-inf" if self.min is None else f"{self.min:g}"
            hi = "inf" if self.max is None else f"{self.max:g}"
            allowed = f" in [{lo}, {hi}]"
        return f"{self.name} ({self.type.__name__}{allowed}, default {self.default!r}): {self.help}"

    def convert(self, raw: str, uri: str) -> Any:
        def bad(why: str) -> DeviceURIError:
            return DeviceURIError(
                f"device URI {uri!r}: parameter {self.name}={raw!r} {why}; "
                f"expected {self.describe()}",
                uri=uri,
                parameter=self.name,
            )

        if self.type is bool:
            low = raw.strip().lower()
            if low in _TRUE:
                value: Any = True
            elif low in _FALSE:
                value = False
            else:
                raise bad("is not a boolean")
        elif self.type in (int, float):
            try:
                value = self.type(raw)
            except ValueError:
                raise bad(f"is not a{'n' if self.type is int else ''} {self.type.__name__}") from None
            if isinstance(value, float) and not math.isfinite(value):
                raise bad("is not finite")
            if self.min is not None and value < self.min:
                raise bad("is below the minimum")
            if self.max is not None and value > self.max:
                raise bad("is above the maximum")
        else:
            value = raw
        if self.choices is not None and value not in self.choices:
            raise bad("is not allowed")
        return value


class Device(abc.ABC):
    """Base class of every driver: an async context manager and async iterator.

    Subclasses set ``scheme``, ``params`` (the query parameters they accept) and
    ``summary``; implement :meth:`_open`, :meth:`_close` and :meth:`_chunks`; and fill
    ``self.streams`` in :meth:`_open`.

    After opening, ``streams`` lists the :class:`StreamInfo` the device produces;
    iterating yields ``(StreamInfo, Chunk)`` pairs as data arrives until the device
    ends (a finite recording or ``duration_s``) or is closed.
    """

    scheme: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]] = ()
    #: The target is itself ``key=value`` pairs (``lsl://type=MoCap&timeout_s=2``):
    #: they are parsed exactly like the query, against the same :attr:`params`.
    target_is_query: ClassVar[bool] = False

    def __init__(self, uri: DeviceURI | str) -> None:
        self.uri = uri if isinstance(uri, DeviceURI) else parse_uri(uri)
        self.options: dict[str, Any] = self.parse_params(self.uri)
        self.streams: tuple[StreamInfo, ...] = ()
        self._opened = False
        self._events: collections.deque[DeviceEvent] = collections.deque()

    @classmethod
    def parse_params(cls, uri: DeviceURI) -> dict[str, Any]:
        """Typed values for every declared parameter, parsed the same way for every scheme.

        Unknown keys are an error listing the valid ones. With :attr:`target_is_query`
        the target's ``key=value`` pairs count as parameters too; otherwise a declared
        parameter written into the target (``serial:///dev/ttyUSB0&baud=9600``, no
        ``?``) is an error that shows where it goes.
        """
        known = {p.name: p for p in cls.params}
        given = dict(uri.query)
        target = uri.target.strip("/")
        if cls.target_is_query:
            for k, v in _parse_pairs(target, uri.raw, "target").items():
                if given.get(k, v) != v:
                    raise DeviceURIError(
                        f"device URI {uri.raw!r}: {k} given twice with different values",
                        uri=uri.raw,
                        parameter=k,
                    )
                given[k] = v
        else:
            head, *tail = target.split("&")
            misplaced = [part for part in tail if part.partition("=")[0] in known]
            if misplaced and "?" not in uri.raw:
                fixed = f"{cls.scheme}://{uri.raw.split('://', 1)[1].split('&', 1)[0]}?{'&'.join(tail)}"
                raise DeviceURIError(
                    f"device URI {uri.raw!r}: parameters go after '?', not '&': write {fixed!r}",
                    uri=uri.raw,
                    parameter=misplaced[0].partition("=")[0],
                )
        unknown = [k for k in given if k not in known]
        if unknown:
            listing = "\n  ".join(p.describe() for p in cls.params) or "(none)"
            raise DeviceURIError(
                f"device URI {uri.raw!r}: unknown parameter(s) {', '.join(map(repr, unknown))} "
                f"for {cls.scheme}://; valid parameters:\n  {listing}",
                uri=uri.raw,
                parameter=unknown[0],
            )
        return {
            name: (p.convert(given[name], uri.raw) if name in given else p.default)
            for name, p in known.items()
        }

    # -- lifecycle --------------------------------------------------------------------
    async def __aenter__(self) -> "Device":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        if self._opened:
            return
        await self._open()
        if not self.streams:
            raise DeviceError(f"{self.uri.raw}: driver opened but declared no streams", self.uri.raw)
        hooked = _apply_stream_hooks(self.streams, self.uri.raw)
        # chunks then carry the hooked infos too (drivers yield their own objects)
        self._hooked = {h.name: h for s, h in zip(self.streams, hooked) if s is not h}
        self.streams = hooked
        self._opened = True
        log.info("opened %s: %s", self.uri.raw, ", ".join(s.name for s in self.streams))

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self._close()
            log.info("closed %s", self.uri.raw)

    def __aiter__(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        if not self._opened:
            raise DeviceError(
                f"{self.uri.raw}: iterate inside 'async with open_device(...)', the device is not open",
                self.uri.raw,
            )
        hooked = getattr(self, "_hooked", None)
        return self._with_hooked(hooked) if hooked else self._chunks()

    async def _with_hooked(self, hooked: dict[str, StreamInfo]) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        inner = self._chunks()
        try:
            async for info, chunk in inner:
                yield hooked.get(info.name, info), chunk
        finally:
            aclose = getattr(inner, "aclose", None)
            if aclose is not None:
                await aclose()

    def stream(self, name: str) -> StreamInfo:
        """The open stream called ``name``; the error lists those that exist."""
        for s in self.streams:
            if s.name == name:
                return s
        raise DeviceError(
            f"{self.uri.raw}: no stream {name!r}; streams: {', '.join(s.name for s in self.streams)}",
            self.uri.raw,
        )

    def take_events(self) -> list[DeviceEvent]:
        """The :class:`DeviceEvent` reported since the last call (oldest first)."""
        out = []
        while self._events:
            out.append(self._events.popleft())
        return out

    # -- for subclasses -------------------------------------------------------------
    def _report(self, event: DeviceEvent) -> None:
        """Queue an event for :meth:`take_events` (safe from a reader thread) and log it."""
        self._events.append(event)
        log.warning("%s: %s", self.uri.raw, event.message)

    @abc.abstractmethod
    async def _open(self) -> None:
        """Connect, read the device's self-description, set ``self.streams``."""

    @abc.abstractmethod
    async def _close(self) -> None:
        """Release the device. Must be safe to call after a failed read."""

    @abc.abstractmethod
    def _chunks(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        """Yield ``(StreamInfo, Chunk)`` as data arrives."""


#: Signature of a factory a lab's package may register under the ``wearsense.devices``
#: entry-point group: called with the parsed URI, returns a :class:`Device`.
DeviceFactory = Callable[[DeviceURI], Device]

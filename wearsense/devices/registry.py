"""Scheme → driver registry, :func:`open_device`, and a synchronous wrapper for scripts.

Built-in drivers are named here as ``"module:Class"`` strings and imported only when
their scheme is used, so a missing optional package (bleak, pylsl) matters only then.
A lab's own package can add schemes through the ``wearsense.devices`` entry-point
group (``myboard = "mylab.wearsense_driver:MyBoard"``) or at run time with
:func:`register`.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points

from wearsense.devices.base import Device, DeviceURI, parse_uri
from wearsense.errors import DeviceError, DeviceURIError, MissingDependencyError
from wearsense.stream import Chunk, StreamInfo, concat

__all__ = ["open_device", "register", "schemes", "driver_class", "SyncDevice", "acquire"]


@dataclass(frozen=True)
class _Entry:
    target: str  # "module:Class"
    requires: str = ""  # pip requirement that provides the import, for the error message


_BUILTIN: dict[str, _Entry] = {
    "sim": _Entry("wearsense.devices.sim:SimDevice"),
    "serial": _Entry("wearsense.devices.serial:SerialDevice", "pyserial"),
    "replay": _Entry("wearsense.devices.replay:ReplayDevice", "pyxdf"),
    "ble": _Entry("wearsense.devices.ble_common:BleDevice", "bleak"),
    "brainflow": _Entry("wearsense.devices.brainflow:BrainFlowDevice", "brainflow"),
    "lsl": _Entry("wearsense.devices.lsl:LslDevice", "pylsl"),
}
_RUNTIME: dict[str, _Entry | type[Device]] = {}


def register(scheme: str, driver: type[Device] | str, requires: str = "") -> None:
    """Add (or replace) the driver for ``scheme``: a :class:`Device` subclass or ``"module:Class"``."""
    _RUNTIME[scheme.lower()] = driver if not isinstance(driver, str) else _Entry(driver, requires)


@functools.lru_cache(maxsize=1)
def _plugin_entries() -> dict[str, _Entry]:
    """Schemes that installed packages declare (read once per process)."""
    return {ep.name.lower(): _Entry(ep.value) for ep in entry_points(group="wearsense.devices")}


def schemes() -> list[str]:
    """Every scheme that can be opened: built-in, plug-in and registered at run time."""
    return sorted({*_BUILTIN, *_plugin_entries(), *_RUNTIME})


def driver_class(scheme: str, uri: str = "") -> type[Device]:
    """The driver class for ``scheme``, importing its module on first use."""
    scheme = scheme.lower()
    entry = _RUNTIME.get(scheme) or _plugin_entries().get(scheme) or _BUILTIN.get(scheme)
    if entry is None:
        raise DeviceURIError(
            f"unknown device scheme {scheme!r} in {uri!r}; known schemes: "
            + ", ".join(f"{s}://" for s in schemes()),
            uri=uri,
        )
    if isinstance(entry, type):
        return entry
    module_name, _, cls_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        hint = entry.requires or (e.name or module_name).split(".")[0]
        raise MissingDependencyError(
            f"{scheme}:// needs the package {hint!r}, which is not installed ({e}); "
            f"install it with: pip install {hint}",
            uri=uri,
        ) from e
    return getattr(module, cls_name)


def open_device(uri: str) -> Device:
    """Create the driver for ``uri``; use it as ``async with open_device(uri) as dev``.

    Raises
    ------
    DeviceURIError
        Malformed URI, unknown scheme (the message lists the known ones) or a bad
        query parameter (the message lists the valid ones with their ranges).
    MissingDependencyError
        The driver needs an optional package; the message says what to pip install.
    """
    parsed: DeviceURI = parse_uri(uri)
    return driver_class(parsed.scheme, uri)(parsed)


class SyncDevice:
    """A blocking wrapper over an async device, for scripts and notebooks.

    >>> with SyncDevice("sim://mover?realtime=0&duration_s=2") as dev:   # doctest: +SKIP
    ...     for info, chunk in dev:
    ...         print(info.name, chunk)

    Runs its own event loop in the calling thread; do not use it from inside a
    running event loop (use ``async with open_device(...)`` there).
    """

    def __init__(self, uri: str) -> None:
        self.device = open_device(uri)
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def streams(self) -> tuple[StreamInfo, ...]:
        return self.device.streams

    def __enter__(self) -> "SyncDevice":
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise DeviceError(
                "SyncDevice cannot run inside an event loop; use 'async with open_device(uri)'",
                self.device.uri.raw,
            )
        self._loop = asyncio.new_event_loop()
        try:
            self._loop.run_until_complete(self.device.open())
        except BaseException:
            self._loop.close()
            self._loop = None
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            try:
                self._loop.run_until_complete(self.device.close())
            finally:
                self._loop.close()
                self._loop = None

    def __iter__(self) -> Iterator[tuple[StreamInfo, Chunk]]:
        if self._loop is None:
            raise DeviceError("use SyncDevice inside a 'with' block", self.device.uri.raw)
        it = self.device.__aiter__()
        try:
            while True:
                try:
                    yield self._loop.run_until_complete(it.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None and self._loop is not None:
                self._loop.run_until_complete(aclose())


def acquire(uri: str, duration_s: float | None = None) -> dict[str, tuple[StreamInfo, Chunk]]:
    """Read a device into memory: ``{stream name: (info, one chunk of everything)}``.

    Stops after ``duration_s`` seconds of host time, or when the device ends (a
    finite sim or a recording). Streams that delivered nothing are left out.
    """
    parts: dict[str, list[Chunk]] = {}
    infos: dict[str, StreamInfo] = {}
    deadline = None if duration_s is None else time.monotonic() + duration_s
    with SyncDevice(uri) as dev:
        for info, chunk in dev:
            infos[info.name] = info
            parts.setdefault(info.name, []).append(chunk)
            if deadline is not None and time.monotonic() >= deadline:
                break
    return {name: (infos[name], concat(chunks)) for name, chunks in parts.items()}

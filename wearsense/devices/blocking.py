"""Devices for scripts and notebooks: :class:`BlockingDevice` (a blocking wrapper over any
driver) and :func:`acquire` (read a device into memory).

Drivers are async (``async with open_device(uri)``); these run an event loop of their
own in the calling thread, so a script needs no ``asyncio``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

from wearsense.devices.registry import open_device
from wearsense.errors import DeviceError
from wearsense.stream import Chunk, StreamInfo, concat

__all__ = ["BlockingDevice", "acquire"]


class BlockingDevice:
    """A blocking wrapper over an async device, for scripts and notebooks.

    >>> with BlockingDevice("sim://mover?realtime=0&duration_s=2") as dev:   # doctest: +SKIP
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

    def __enter__(self) -> "BlockingDevice":
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise DeviceError(
                "BlockingDevice cannot run inside an event loop; use 'async with open_device(uri)'",
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
            raise DeviceError("use BlockingDevice inside a 'with' block", self.device.uri.raw)
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

    Stops after ``duration_s`` seconds of host time counted from when the device is
    open (connecting, e.g. to a BLE device or a BrainFlow board, can take seconds and
    is not part of it), or when the device ends (a finite sim or a recording).
    Streams that delivered nothing are left out.
    """
    parts: dict[str, list[Chunk]] = {}
    infos: dict[str, StreamInfo] = {}
    with BlockingDevice(uri) as dev:
        deadline = None if duration_s is None else time.monotonic() + duration_s
        for info, chunk in dev:
            infos[info.name] = info
            parts.setdefault(info.name, []).append(chunk)
            if deadline is not None and time.monotonic() >= deadline:
                break
    return {name: (infos[name], concat(chunks)) for name, chunks in parts.items()}

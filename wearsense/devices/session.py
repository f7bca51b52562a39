"""Several devices at once: one session that yields every device's chunks as they arrive.

>>> async with Session(["sim://mover", "brainflow://synthetic", "lsl://type=MoCap"]) as s:   # doctest: +SKIP
...     for info in s.streams: print(info.name)
...     async for info, chunk in s:
...         recorder.write(info, chunk)

Devices open concurrently; a device that fails to open, or fails while streaming, is
reported (:attr:`Session.failures`, a warning on the ``wearsense`` logger, and the
``on_failure`` callback) and the others go on. Only when every device failed to open
does opening the session fail. Stream names are made unique across devices (a second
``sim-emg`` becomes ``sim-emg@2``); :attr:`Session.streams` lists the final names and
:attr:`Session.origin` says which device each came from.

Iteration ends when every device has ended (or failed), or when the session is closed.
Chunks are passed on untouched: device timestamps, sequence numbers and arrival times
as each driver produced them.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from wearsense.devices.base import Device
from wearsense.devices.registry import open_device
from wearsense.errors import DeviceError, WearsenseError
from wearsense.stream import Chunk, StreamInfo

log = logging.getLogger("wearsense")

__all__ = ["Session", "DeviceStatus", "DeviceFailure"]


class DeviceStatus(str, enum.Enum):
    """Where one device of a session stands."""

    PENDING = "pending"
    OPEN = "open"
    ENDED = "ended"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True)
class DeviceFailure:
    """A device that failed: its URI, when (``"open"`` or ``"stream"``) and the error."""

    uri: str
    stage: str
    error: BaseException

    def __str__(self) -> str:
        return f"{self.uri} failed to {self.stage}: {self.error}"


_END = object()


class Session:
    """Open several devices and merge their chunks (see the module docstring).

    Parameters
    ----------
    devices : sequence of str or Device
        URIs or unopened devices.
    on_failure : callable, optional
        Called with a :class:`DeviceFailure` whenever a device fails.
    queue_size : int
        Chunks buffered between the devices and the consumer; a full queue makes the
        fastest device wait (back-pressure), it never drops data.
    """

    def __init__(
        self,
        devices: Sequence[str | Device],
        *,
        on_failure: Callable[[DeviceFailure], None] | None = None,
        queue_size: int = 4096,
    ) -> None:
        if not devices:
            raise DeviceError("Session: give at least one device URI, e.g. sim://mover")
        self.devices: list[Device | None] = []
        self.uris: list[str] = []
        self.failures: list[DeviceFailure] = []
        self._pending_failures: list[DeviceFailure] = []
        for d in devices:
            uri = d if isinstance(d, str) else d.uri.raw
            self.uris.append(uri)
            if isinstance(d, str):
                try:
                    d = open_device(d)
                except WearsenseError as e:  # a bad URI fails that device only
                    self._pending_failures.append(DeviceFailure(uri, "open", e))
                    d = None
            self.devices.append(d)
        self.status: list[DeviceStatus] = [DeviceStatus.PENDING] * len(self.devices)
        self.streams: tuple[StreamInfo, ...] = ()
        #: final stream name -> (device index, the device's own stream name)
        self.origin: dict[str, tuple[int, str]] = {}
        self._rename: dict[tuple[int, str], StreamInfo] = {}
        self._on_failure = on_failure
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=queue_size)
        self._tasks: list[asyncio.Task] = []
        self._open = False

    def _fail(self, i: int, stage: str, error: BaseException) -> None:
        f = DeviceFailure(self.uris[i], stage, error)
        self.failures.append(f)
        self.status[i] = DeviceStatus.FAILED
        log.warning("session: %s", f)
        if self._on_failure is not None:
            self._on_failure(f)

    async def open(self) -> None:
        """Open every device concurrently; raise only if none could be opened."""
        if self._open:
            return
        for f in self._pending_failures:
            self._fail(self.uris.index(f.uri), f.stage, f.error)
        self._pending_failures = []
        live = [i for i, d in enumerate(self.devices) if d is not None]
        results = await asyncio.gather(*(self.devices[i].open() for i in live), return_exceptions=True)
        for i, r in zip(live, results):
            if isinstance(r, BaseException):
                if not isinstance(r, Exception):
                    raise r
                self._fail(i, "open", r)
                self.devices[i] = None
            else:
                self.status[i] = DeviceStatus.OPEN
        if not any(s is DeviceStatus.OPEN for s in self.status):
            raise DeviceError("Session: no device could be opened:\n  " + "\n  ".join(map(str, self.failures)))
        taken: set[str] = set()
        infos = []
        for i, d in enumerate(self.devices):
            if d is None or self.status[i] is not DeviceStatus.OPEN:
                continue
            for s in d.streams:
                name, k = s.name, 2
                while name in taken:
                    name, k = f"{s.name}@{k}", k + 1
                taken.add(name)
                info = s if name == s.name else s.with_(name=name)
                self._rename[(i, s.name)] = info
                self.origin[name] = (i, s.name)
                infos.append(info)
        self.streams = tuple(infos)
        self._open = True
        self._tasks = [asyncio.create_task(self._pump(i)) for i, s in enumerate(self.status) if s is DeviceStatus.OPEN]

    async def _pump(self, i: int) -> None:
        dev = self.devices[i]
        assert dev is not None
        try:
            async for info, chunk in dev:
                await self._queue.put((self._rename.get((i, info.name), info), chunk))
        except Exception as e:  # reported, and the other devices go on
            self._fail(i, "stream", e)
        else:
            if self.status[i] is DeviceStatus.OPEN:
                self.status[i] = DeviceStatus.ENDED
        await self._queue.put((_END, i))

    async def close(self) -> None:
        """Stop the pumps and close every open device (errors on close are logged)."""
        if not self._open:
            return
        self._open = False
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for i, d in enumerate(self.devices):
            if d is None:
                continue
            try:
                await d.close()
            except WearsenseError as e:
                log.warning("session: closing %s failed: %s", self.uris[i], e)
            if self.status[i] in (DeviceStatus.OPEN, DeviceStatus.ENDED):
                self.status[i] = DeviceStatus.CLOSED

    async def __aenter__(self) -> "Session":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        if not self._open:
            raise DeviceError("Session: iterate inside 'async with Session([...])'")
        return self._merged()

    async def _merged(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        active = len(self._tasks)
        while active and self._open:
            info, item = await self._queue.get()
            if info is _END:
                active -= 1
                continue
            yield info, item

"""Several devices at once, merged as they arrive and (with a path) recorded into one XDF file.

The one way to record a session, from a script and from ``wearsense record``:

>>> result = record(["sim://mover", "lsl://type=MoCap"], "session.xdf", duration_s=60)   # doctest: +SKIP
>>> result.complete, result.recorded_s, result.failures                                  # doctest: +SKIP

or, inside an event loop, where each chunk also passes through the caller's hands:

>>> async with Recording(["sim://mover", "brainflow://synthetic"], "s.xdf") as rec:     # doctest: +SKIP
...     async for info, chunk in rec:        # every chunk yielded is already in the file
...         view.update(info, chunk)

Without a path a :class:`Recording` only merges the devices (a live view, a stream to
LSL). It sits above :mod:`wearsense.devices` (drivers) and :mod:`wearsense.io.xdf`
(the crash-safe :class:`~wearsense.io.xdf.Recorder`) and uses both.

What it guarantees
------------------
- The destination is checked (folder, free space, existing file) before any device
  is opened; devices open concurrently.
- Stream names are made unique across devices (a second ``sim-emg`` becomes
  ``sim-emg@2``); :attr:`Recording.streams` lists the final names and
  :attr:`Recording.origin` says which device each came from.
- A device that fails to open or fails while streaming never stops the others. Each
  failure becomes a :class:`DeviceFailure` (device URI, host time, reason) in
  :attr:`Recording.failures`, a warning on the ``wearsense`` logger and a call of
  ``on_failure``; the result says the take is incomplete. Only when no device opens
  does opening fail.
- The file says what happened (the ``wearsense-events`` stream,
  :mod:`wearsense.io.xdf.events`): every failure (``device_failed``: device, stage,
  reason), every event a driver reports (a clock segment, a reset, a lost and
  reopened link), and a device that delivers nothing for ``silent_after_s``
  (``device_silent``; ``device_resumed`` when data comes again). A device still silent
  when the recording ends makes the take incomplete too.
- Chunks pass untouched (device timestamps, sequence numbers, arrival times). A full
  queue makes the fastest device wait (back-pressure); nothing is dropped. Chunks
  still queued when the recording stops are written before the file is closed.
- The recording ends when ``duration_s`` of host time has passed, when ``stop`` is
  set (the CLI sets it on Ctrl-C), or when every device has ended or failed. Closing
  writes every stream's footer.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import signal
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from wearsense.devices import Device, DeviceEvent, open_device
from wearsense.errors import ConfigError, DeviceError, StreamError, WearsenseError
from wearsense.io.xdf import Recorder, RecorderSettings, RecorderState, check_destination
from wearsense.stream import Chunk, StreamInfo

log = logging.getLogger("wearsense")

__all__ = ["DeviceFailure", "DeviceStatus", "Recording", "RecordingResult", "record"]


class DeviceStatus(str, enum.Enum):
    """Where one device of a recording stands."""

    PENDING = "pending"
    OPEN = "open"
    ENDED = "ended"
    FAILED = "failed"
    CLOSED = "closed"


@dataclass(frozen=True)
class DeviceFailure:
    """A device that failed.

    Attributes
    ----------
    uri : str
        The device URI.
    stage : str
        ``"open"`` (it never delivered) or ``"stream"`` (it stopped mid-recording).
    error : BaseException
        What the driver raised.
    time_s : float
        When (host wall clock, ``time.time()``, s since the Unix epoch).
    """

    uri: str
    stage: str
    error: BaseException
    time_s: float

    @property
    def reason(self) -> str:
        """The error message, one line."""
        return str(self.error).splitlines()[0] if str(self.error) else type(self.error).__name__

    def __str__(self) -> str:
        return f"{self.uri} failed to {self.stage}: {self.error}"


@dataclass(frozen=True)
class RecordingResult:
    """How a recording ended.

    Attributes
    ----------
    path : str
        The file written ("" when nothing was recorded).
    state : RecorderState or None
        The recorder's final counters (None without a path).
    failures : tuple of DeviceFailure
        Devices that failed to open or failed while streaming.
    wall_s : float
        Host time the recording ran (s).
    silent : tuple of str
        URIs of devices that had delivered nothing for ``silent_after_s`` when the
        recording ended (an LSL sender that vanished, a link that hangs).
    """

    path: str
    state: RecorderState | None
    failures: tuple[DeviceFailure, ...]
    wall_s: float
    silent: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """No device failed, and none was silent at the end."""
        return not self.failures and not self.silent

    @property
    def recorded_s(self) -> float:
        """Span of signal in the file (s, longest stream, in its own clock); differs from
        :attr:`wall_s` for devices faster or slower than real time."""
        return self.state.recorded_s if self.state is not None else 0.0


_END = object()
_EVENT = object()


class Recording:
    """Open several devices, merge their chunks and record them (see the module docstring).

    Parameters
    ----------
    devices : sequence of str or Device
        URIs or unopened devices.
    path : str or Path, optional
        The ``.xdf`` file to record into; None: merge only.
    duration_s : float, optional
        :meth:`run` stops after this many seconds of host (monotonic) time.
    overwrite : bool
        Replace an existing file.
    settings : RecorderSettings, optional
        How the file is written (``overwrite`` and ``duration_s`` are filled in).
    on_failure : callable, optional
        Called with a :class:`DeviceFailure` whenever a device fails.
    queue_size : int
        Chunks buffered between the devices and the consumer.
    silent_after_s : float or None
        A device that delivers no chunk for this long (s, host time) is reported as
        silent (a ``device_silent`` event in the file); None: never. Devices whose
        streams are all irregular (markers) are not watched.
    """

    def __init__(
        self,
        devices: Sequence[str | Device],
        path: str | Path | None = None,
        *,
        duration_s: float | None = None,
        overwrite: bool = False,
        settings: RecorderSettings | None = None,
        on_failure: Callable[[DeviceFailure], None] | None = None,
        queue_size: int = 4096,
        silent_after_s: float | None = 2.0,
    ) -> None:
        if isinstance(devices, (str, Device)) or not devices:
            raise ConfigError("give a list of device URIs, e.g. ['sim://mover']", "devices")
        if duration_s is not None and not duration_s > 0:
            raise ConfigError(
                f"duration_s must be > 0 s (or None: until stopped), got {duration_s!r}", "duration_s"
            )
        self.path = path
        self.duration_s = duration_s
        base = settings or RecorderSettings()
        expected_s = duration_s or base.expected_duration_s
        self.settings = replace(base, overwrite=overwrite or base.overwrite, expected_duration_s=expected_s)
        self.uris = [d if isinstance(d, str) else d.uri.raw for d in devices]
        self._given = list(devices)
        self.devices: list[Device | None] = [None] * len(devices)
        self.status: list[DeviceStatus] = [DeviceStatus.PENDING] * len(devices)
        self.failures: list[DeviceFailure] = []
        self.streams: tuple[StreamInfo, ...] = ()
        #: final stream name -> (device index, the device's own stream name)
        self.origin: dict[str, tuple[int, str]] = {}
        self.recorder: Recorder | None = None
        self._rename: dict[tuple[int, str], StreamInfo] = {}
        self._on_failure = on_failure
        self._queue_size = queue_size
        self._queue: asyncio.Queue | None = None  # made in open(), inside the event loop that runs it
        self._tasks: dict[int, asyncio.Task] = {}
        self._done: set[int] = set()  # devices whose chunks are over (ended, failed)
        self._open = False
        self._t0 = math.nan
        if silent_after_s is not None and not silent_after_s > 0:
            raise ConfigError(f"silent_after_s must be > 0 s (or None: never), got {silent_after_s!r}",
                              "silent_after_s")
        self.silent_after_s = silent_after_s
        self._last_chunk_s: dict[int, float] = {}  # device index -> host time of its last chunk
        self._silent_since: dict[int, float] = {}  # devices reported silent -> since when

    # -- failures -----------------------------------------------------------------------
    def _fail(self, i: int, stage: str, error: BaseException) -> None:
        f = DeviceFailure(self.uris[i], stage, error, time.time())
        self.failures.append(f)
        self.status[i] = DeviceStatus.FAILED
        log.warning("recording: %s", f)
        if self.recorder is not None:
            self._write_failure(f)
        if self._on_failure is not None:
            self._on_failure(f)

    def _write_failure(self, f: DeviceFailure) -> None:
        assert self.recorder is not None
        self.recorder.write_event(
            "device_failed", f"{f.uri} failed to {f.stage}: {f.reason}", device=f.uri, stage=f.stage,
            error=type(f.error).__name__, reason=str(f.error), wall_time_s=f.time_s,
            host_s=time.monotonic() - (time.time() - f.time_s),
        )

    # -- opening and closing ------------------------------------------------------------
    async def open(self) -> None:
        """Check the destination, open every device concurrently, create the file.

        Raises DeviceError only if no device could be opened (listing every failure),
        RecordingError if the file cannot be written.
        """
        if self._open:
            return
        if self.path is not None:
            check_destination(self.path, self.settings.reserve_bytes, self.settings.overwrite)
        self._t0 = time.monotonic()
        for i, d in enumerate(self._given):
            try:
                self.devices[i] = open_device(d) if isinstance(d, str) else d
            except WearsenseError as e:  # a bad URI fails that device only
                self._fail(i, "open", e)
        live = [i for i, d in enumerate(self.devices) if d is not None]
        results = await asyncio.gather(*(self.devices[i].open() for i in live), return_exceptions=True)
        interrupted = next(
            (r for r in results if isinstance(r, BaseException) and not isinstance(r, Exception)), None
        )
        for i, r in zip(live, results):
            if isinstance(r, BaseException):
                if interrupted is None:
                    self._fail(i, "open", r)
                self.devices[i] = None
            else:
                self.status[i] = DeviceStatus.OPEN
        if interrupted is not None:  # Ctrl-C while opening: close what did open
            await self._close_devices()
            raise interrupted
        opened = [i for i, s in enumerate(self.status) if s is DeviceStatus.OPEN]
        if not opened:
            if len(self.failures) == 1:  # one device: its own error, first line first
                raise DeviceError(str(self.failures[0]))
            raise DeviceError("no device could be opened:\n  " + "\n  ".join(map(str, self.failures)))
        self.streams = self._unique_names(opened)
        if self.path is not None:
            try:
                self.recorder = Recorder(self.path, self.streams, self.settings)
            except BaseException:
                await self._close_devices()
                raise
            for f in self.failures:  # those that failed to open, before the file existed
                self._write_failure(f)
        now = time.monotonic()
        watched = [i for i in opened if any(s.rate_hz > 0 for s in self.devices[i].streams)]
        self._last_chunk_s = {i: now for i in watched}
        self._open = True
        self._queue = asyncio.Queue(maxsize=self._queue_size)
        self._tasks = {i: asyncio.create_task(self._pump(i)) for i in opened}

    def _unique_names(self, opened: list[int]) -> tuple[StreamInfo, ...]:
        taken: set[str] = set()
        infos = []
        for i in opened:
            for s in self.devices[i].streams:
                name, k = s.name, 2
                while name in taken:
                    name, k = f"{s.name}@{k}", k + 1
                taken.add(name)
                info = s if name == s.name else s.with_(name=name)
                self._rename[(i, s.name)] = info
                self.origin[name] = (i, s.name)
                infos.append(info)
        return tuple(infos)

    async def close(self) -> None:
        """Stop the devices, write what is still queued, close the devices and the file."""
        if not self._open:
            return
        self._open = False
        for t in self._tasks.values():
            t.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        try:
            while self.recorder is not None and not self._queue.empty():
                i, info, item = self._queue.get_nowait()
                if info is _EVENT:
                    self._write_device_event(i, item)
                elif info is not _END:
                    self._write(i, info, item)
        finally:
            await self._close_devices()
            if self.recorder is not None:
                for i, d in enumerate(self.devices):  # what the drivers reported last
                    for ev in d.take_events() if d is not None else ():
                        self._write_device_event(i, ev)
                self.recorder.close()

    async def _close_devices(self) -> None:
        for i, d in enumerate(self.devices):
            if d is None:
                continue
            try:
                await d.close()
            except WearsenseError as e:
                log.warning("recording: closing %s failed: %s", self.uris[i], e)
            if self.status[i] in (DeviceStatus.OPEN, DeviceStatus.ENDED):
                self.status[i] = DeviceStatus.CLOSED

    async def __aenter__(self) -> Recording:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- chunks -------------------------------------------------------------------------
    async def _pump(self, i: int) -> None:
        dev = self.devices[i]
        try:
            async for info, chunk in dev:
                for ev in dev.take_events():
                    await self._queue.put((i, _EVENT, ev))
                await self._queue.put((i, self._rename.get((i, info.name), info), chunk))
        except Exception as e:  # noqa: BLE001 - reported, and the other devices go on
            for ev in dev.take_events():
                await self._queue.put((i, _EVENT, ev))
            self._fail(i, "stream", e)
        else:
            if self.status[i] is DeviceStatus.OPEN:
                self.status[i] = DeviceStatus.ENDED
        self._last_chunk_s.pop(i, None)
        self._silent_since.pop(i, None)
        await self._queue.put((i, _END, None))

    @property
    def _active(self) -> int:
        return len(self._tasks) - len(self._done)

    def _write(self, i: int, info: StreamInfo, chunk: Chunk) -> bool:
        """Write one chunk of device ``i``; a chunk the file cannot take (its stream changed
        shape or clock name) fails that device only. False when device ``i`` has failed."""
        if i in self._done and self.status[i] is DeviceStatus.FAILED:
            return False
        if self.recorder is None:
            return True
        try:
            self.recorder.write(info, chunk)
        except StreamError as e:
            self._fail(i, "stream", e)
            self._done.add(i)
            self._tasks[i].cancel()
            self._last_chunk_s.pop(i, None)
            return False
        return True

    def _write_device_event(self, i: int, ev: DeviceEvent) -> None:
        if self.recorder is None:
            return
        stream = self._rename[(i, ev.stream)].name if (i, ev.stream) in self._rename else ev.stream
        self.recorder.write_event(ev.kind, ev.message, device=self.uris[i], stream=stream, t=ev.t,
                                  host_s=ev.host_s, **dict(ev.detail))

    def _watch(self, now: float) -> None:
        """Report devices that went silent, and those that came back."""
        if self.silent_after_s is None:
            return
        for i, last in self._last_chunk_s.items():
            if i not in self._silent_since and now - last > self.silent_after_s:
                self._silent_since[i] = last
                msg = f"{self.uris[i]} delivered nothing for {now - last:.1f} s (since host {last:.3f} s)"
                log.warning("recording: %s", msg)
                if self.recorder is not None:
                    self.recorder.write_event("device_silent", msg, device=self.uris[i], host_s=last,
                                              silent_after_s=self.silent_after_s)

    def _heard(self, i: int, now: float) -> None:
        if i in self._last_chunk_s:
            self._last_chunk_s[i] = now
        since = self._silent_since.pop(i, None)
        if since is not None and self.recorder is not None:
            msg = f"{self.uris[i]} delivers again after {now - since:.1f} s"
            self.recorder.write_event("device_resumed", msg, device=self.uris[i], silent_s=now - since)

    async def _next(self, timeout_s: float | None = None) -> tuple[StreamInfo, Chunk] | None:
        """The next chunk (already written to the file), or None on timeout or when every device has ended."""
        while self._active and self._open:
            self._watch(time.monotonic())
            try:
                # a queued item is taken at once (wait_for(get(), 0) would never get it)
                if not self._queue.empty() or (timeout_s is not None and timeout_s <= 0):
                    i, info, item = self._queue.get_nowait()
                else:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a
                    # cancellation that lands as the item arrives (fixed in 3.12), which
                    # hung Ctrl-C about one time in three in the dashboard
                    async with asyncio.timeout(timeout_s):
                        i, info, item = await self._queue.get()
            except (TimeoutError, asyncio.QueueEmpty):
                return None
            if info is _END:
                self._done.add(i)
                continue
            if info is _EVENT:
                self._write_device_event(i, item)
                continue
            self._heard(i, time.monotonic())
            if self._write(i, info, item):
                return info, item
        return None

    def __aiter__(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        if not self._open:
            raise DeviceError("iterate inside 'async with Recording([...])'")
        return self._merged()

    async def _merged(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        while self._active and self._open:
            item = await self._next(0.25)  # (a timeout now and then lets the silence watch run)
            if item is not None:
                yield item

    # -- running ------------------------------------------------------------------------
    @property
    def state(self) -> RecorderState | None:
        """The recorder's counters now (None without a path)."""
        return self.recorder.state if self.recorder is not None else None

    async def run(
        self,
        *,
        stop: asyncio.Event | None = None,
        on_status: Callable[[RecorderState], None] | None = None,
        status_interval_s: float = 0.5,
    ) -> RecordingResult:
        """Record until ``duration_s`` has passed, ``stop`` is set or every device has ended.

        Opens and closes the recording if it is not open yet. ``on_status`` is called
        with the recorder's counters every ``status_interval_s`` seconds and at the end.
        """
        async with contextlib.AsyncExitStack() as stack:
            if not self._open:
                await stack.enter_async_context(self)
            loop = asyncio.get_running_loop()
            deadline = math.inf if self.duration_s is None else loop.time() + self.duration_s
            next_status = loop.time() + status_interval_s
            while self._active and not (stop is not None and stop.is_set()):
                now = loop.time()
                if now >= deadline:
                    break
                if on_status is not None and self.recorder is not None and now >= next_status:
                    on_status(self.recorder.state)
                    next_status = now + status_interval_s
                wake = min(deadline, now + 0.1, next_status if on_status is not None else math.inf)
                await self._next(max(0.0, wake - now))
            self._watch(time.monotonic())
            silent = tuple(self.uris[i] for i in self._silent_since)
        result = RecordingResult(
            str(self.recorder.path) if self.recorder is not None else "", self.state, tuple(self.failures),
            time.monotonic() - self._t0, silent,
        )
        if on_status is not None and result.state is not None:
            on_status(result.state)
        return result


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGINT and SIGTERM set ``stop`` (a clean end) while recording from the main thread."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def record(
    devices: Sequence[str | Device],
    path: str | Path,
    *,
    duration_s: float | None = None,
    overwrite: bool = False,
    on_status: Callable[[RecorderState], None] | None = None,
    on_failure: Callable[[DeviceFailure], None] | None = None,
) -> RecordingResult:
    """Record devices into one crash-safe XDF file and wait until it is done (blocking).

    Parameters
    ----------
    devices : sequence of str or Device
        Device URIs (``sim://mover``, ``serial:///dev/ttyUSB0``, ``lsl://type=MoCap``, ...).
    path : str or Path
        The ``.xdf`` file to create (checked before any device is opened).
    duration_s : float, optional
        Seconds of host time to record; default: until Ctrl-C or every device has ended.
    overwrite : bool
        Replace an existing file.
    on_status, on_failure : callable, optional
        See :meth:`Recording.run` and :class:`Recording`.

    Ctrl-C (SIGINT) or SIGTERM ends the recording cleanly: everything received is
    written and every stream gets its footer. Use :class:`Recording` inside an event loop.
    """
    recording = Recording(devices, path, duration_s=duration_s, overwrite=overwrite, on_failure=on_failure)

    async def main() -> RecordingResult:
        stop = asyncio.Event()
        with _stop_on_signals(stop):
            return await recording.run(stop=stop, on_status=on_status)

    return asyncio.run(main())

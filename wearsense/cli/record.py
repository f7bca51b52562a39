"""``wearsense record``: record one or more devices into one crash-safe XDF file.

    wearsense record sim://mover?seed=3 lsl://type=MoCap -o session.xdf --duration 60

:func:`record_uris` is the library entry point (a script can call it too): it opens
every device concurrently, merges their chunks with a small asyncio queue and hands
them to :class:`wearsense.io.xdf.Recorder`. It is deliberately simple; a proper
multi-device session (clock models, alignment) belongs in the devices/sync layers and
can replace it.

Ctrl-C (SIGINT) or SIGTERM stops the recording cleanly: the buffer is flushed and
every stream gets its footer.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from wearsense.devices import open_device
from wearsense.errors import DeviceError, RecordingError
from wearsense.io.xdf import Recorder, RecorderSettings, RecorderState, check_destination
from wearsense.stream import Chunk, StreamInfo

NAME = "record"
HELP = "record devices (URIs) into one crash-safe XDF file, e.g. record sim://mover -o session.xdf --duration 60"

__all__ = ["record_uris", "format_status"]

_END = object()


def add_arguments(parser) -> None:
    parser.add_argument("uris", nargs="+", metavar="URI", help="device URIs (sim://mover, serial:///dev/ttyUSB0, replay://a.xdf, ...)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="the .xdf file to write")
    parser.add_argument("--duration", type=float, default=None, help="seconds to record (default: until Ctrl-C or the devices end)")
    parser.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    parser.add_argument("--quiet", action="store_true", help="no status line")


def format_status(state: RecorderState) -> str:
    """One line: elapsed time, per-stream effective rate and loss, file size."""
    parts = [f"{state.elapsed_s:6.1f} s"]
    for s in state.streams:
        span = s.last_t - s.first_t
        rate = (s.samples - 1) / span if s.samples > 1 and span > 0 else 0.0
        parts.append(f"{s.name} {rate:.0f} Hz {100 * s.loss_fraction:.1f}% lost")
    size = state.bytes_written + state.bytes_buffered
    parts.append(f"{size / 1e6:.2f} MB")
    return " | ".join(parts)


async def record_uris(
    uris: Sequence[str],
    path: str | Path,
    *,
    duration_s: float | None = None,
    overwrite: bool = False,
    stop: asyncio.Event | None = None,
    on_status: Callable[[RecorderState], None] | None = None,
    status_interval_s: float = 0.5,
) -> RecorderState:
    """Record every stream of the devices ``uris`` into the XDF file ``path``.

    Parameters
    ----------
    uris : sequence of str
        Device URIs, opened concurrently.
    path : str or Path
        ``.xdf`` file to create (checked before any device is opened).
    duration_s : float, optional
        Stop after this many seconds (host monotonic clock); default: when ``stop`` is
        set or every device has ended.
    overwrite : bool
        Replace an existing file.
    stop : asyncio.Event, optional
        Set it to finish cleanly (the CLI sets it on Ctrl-C).
    on_status : callable, optional
        Called with a :class:`RecorderState` every ``status_interval_s`` seconds.

    Returns
    -------
    RecorderState
        The counters at the end.
    """
    if not uris:
        raise DeviceError("record: give at least one device URI, e.g. sim://mover")
    if duration_s is not None and not duration_s > 0:
        raise RecordingError(f"record: duration must be > 0 s, got {duration_s!r}", str(path))
    check_destination(path, 16 * 2**20, overwrite)
    devices = [open_device(u) for u in uris]
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        await asyncio.gather(*(stack.enter_async_context(d) for d in devices))
        rename: dict[tuple[int, str], StreamInfo] = {}
        taken: set[str] = set()
        for i, d in enumerate(devices):
            for s in d.streams:
                name = s.name
                k = 2
                while name in taken:
                    name, k = f"{s.name}@{k}", k + 1
                taken.add(name)
                rename[(i, s.name)] = s if name == s.name else s.with_(name=name)
        rec = Recorder(path, list(rename.values()), RecorderSettings(overwrite=overwrite, expected_duration_s=duration_s))
        queue: asyncio.Queue = asyncio.Queue(maxsize=4096)

        async def pump(i: int) -> None:
            try:
                async for info, chunk in devices[i]:
                    await queue.put((rename.get((i, info.name), info), chunk))
            except Exception as e:  # handed to the consumer, which stops and re-raises
                await queue.put((_END, e))
                return
            await queue.put((_END, None))

        tasks = [asyncio.create_task(pump(i)) for i in range(len(devices))]
        deadline = math.inf if duration_s is None else loop.time() + duration_s
        next_status = loop.time() + status_interval_s
        active = len(devices)
        failure: BaseException | None = None
        try:
            while active and not stop.is_set():
                now = loop.time()
                if now >= deadline:
                    break
                if on_status is not None and now >= next_status:
                    on_status(rec.state)
                    next_status = now + status_interval_s
                timeout = max(0.0, min(deadline, next_status) - now)
                try:
                    info, item = await asyncio.wait_for(queue.get(), min(timeout, 0.1))
                except asyncio.TimeoutError:
                    continue
                if info is _END:
                    active -= 1
                    if item is not None:
                        failure = item
                        break
                    continue
                rec.write(info, item)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            while not queue.empty():
                info, item = queue.get_nowait()
                if info is not _END and isinstance(item, Chunk):
                    rec.write(info, item)
            rec.close()
        if failure is not None:
            raise failure
        state = rec.state
        if on_status is not None:
            on_status(state)
        return state


def run(args) -> int:
    stop_holder: list[asyncio.Event] = []
    tty = sys.stderr.isatty()
    last_line = [0.0]

    def show(state: RecorderState) -> None:
        if args.quiet:
            return
        line = format_status(state)
        if tty:
            print("\r" + line.ljust(100), end="", file=sys.stderr, flush=True)
        elif state.elapsed_s - last_line[0] >= 5.0:
            last_line[0] = state.elapsed_s
            print(line, file=sys.stderr, flush=True)

    async def main() -> RecorderState:
        stop = asyncio.Event()
        stop_holder.append(stop)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await record_uris(
            args.uris, args.output, duration_s=args.duration, overwrite=args.overwrite, stop=stop, on_status=show
        )

    state = asyncio.run(main())
    if tty and not args.quiet:
        print(file=sys.stderr)
    print(f"recorded {state.path}: {state.bytes_written / 1e6:.2f} MB, {state.elapsed_s:.1f} s")
    for s in state.streams:
        print(f"  {s.name}: {s.samples} samples in {s.chunks} chunks, {s.lost} lost ({100 * s.loss_fraction:.2f}%)")
    return 0

"""``wearsense live <uri>``: the devices live in the terminal.

    wearsense live sim://mover
    wearsense live serial:///dev/ttyUSB0 --record session.xdf

EMG level bars per muscle with their quality flags, IMU orientation, effort factors,
pre-activation events, stream health (and a model's predicted pose and surprise when
one runs). On a terminal the view redraws in place; piped into a file it writes one
summary line per second and the whole view at the end.
"""

from __future__ import annotations

import asyncio
import sys
import time

from wearsense.cli.dashboard import add_view_arguments

NAME = "live"
HELP = "devices live in the terminal: EMG bars with quality, IMU orientation, effort, pre-activation, health"


def add_arguments(parser) -> None:
    add_view_arguments(parser)
    parser.add_argument("--full-scale-uv", type=float, default=500.0,
                        help="EMG level of a full bar, microvolts (default 500)")


async def watch(uris, monitor, view, *, record=None, overwrite=False, duration_s=None, stop=None):
    """Feed the monitor from the devices (recording them with ``record``) and draw the view
    until ``duration_s`` passes, ``stop`` is set or every device has ended. Returns the
    recording's failures."""
    from wearsense.recording import Recording

    stop = stop or asyncio.Event()
    deadline = None if duration_s is None else time.monotonic() + duration_s
    async with Recording(list(uris), record, overwrite=overwrite) as rec:
        monitor.start(rec.streams)
        async for info, chunk in rec:
            monitor.update(info, chunk)
            view.draw(monitor)
            if stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
                break
    return tuple(rec.failures)


def run(args) -> int:
    import signal

    from wearsense.cli.dashboard import make_monitor
    from wearsense.live.terminal import TerminalView, render_live

    if not args.full_scale_uv > 0:
        from wearsense.errors import ConfigError

        raise ConfigError(f"--full-scale-uv must be > 0 microvolts, got {args.full_scale_uv}",
                          "full_scale_uv")
    scale_v = args.full_scale_uv * 1e-6

    def renderer(monitor, title, elapsed):
        return render_live(monitor, title, elapsed, scale_v)

    title = "wearsense live  " + " ".join(args.uris)
    view = TerminalView(title, sys.stdout, renderer=renderer)

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await watch(args.uris, monitor, view, record=args.record, overwrite=args.overwrite,
                           duration_s=args.duration, stop=stop)

    t0 = time.monotonic()
    monitor, publisher = make_monitor(args)
    try:
        failures = asyncio.run(main())
    finally:
        monitor.close()  # the effort worker finishes what it was given: the final view has it all
        if publisher is not None:
            publisher.close()
    if view.tty:
        view.draw(monitor, force=True)
    else:  # a log gets the whole view once, at the end
        print("\n".join(renderer(monitor, title, time.monotonic() - t0)))
    if args.record is not None:
        print(f"recorded to {args.record}")
    if publisher is not None:
        c = publisher.counts
        print(f"published {c.osc_packets} OSC packets, LSL samples {dict(c.lsl_samples)}")
    for f in failures:
        print(f"  {f}", file=sys.stderr)
    return 1 if failures else 0

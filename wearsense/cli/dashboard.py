"""``wearsense dashboard <uri>``: a live web page of the devices (EMG, pose, effort, health).

    wearsense dashboard sim://mover?emg=16
    wearsense dashboard sim://mover --record session.xdf          # buttons mark annotations
    wearsense dashboard ble://myo/D2:3A:... --host 0.0.0.0          # others may look (with the token)

Serves a local page (no internet needed) at the printed URL until Ctrl-C, ``--duration``
or the devices end; ``--record`` records the devices meanwhile (annotations from the
page's buttons go into the file's ``wearsense-events`` marker stream).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from wearsense.cli import seconds_arg

NAME = "dashboard"
HELP = "live web page of devices: EMG traces, pose, effort, pre-activation, health; annotations if recording"


def add_view_arguments(parser) -> None:
    """Options ``wearsense live`` and ``wearsense dashboard`` share."""
    parser.add_argument("uris", nargs="+", metavar="URI", help="device URIs, e.g. sim://mover?emg=16")
    parser.add_argument("--duration", type=seconds_arg, default=None,
                        help="seconds to run (default: until Ctrl-C or the devices end)")
    parser.add_argument("--record", type=Path, default=None, metavar="FILE.xdf",
                        help="also record the devices into this XDF file")
    parser.add_argument("--overwrite", action="store_true", help="replace the --record file if it exists")
    parser.add_argument("--no-effort", action="store_true", help="do not estimate effort factors")
    parser.add_argument("--osc", default=None, metavar="HOST:PORT",
                        help="also send effort factors and pre-activation events over OSC (UDP), e.g. "
                        "127.0.0.1:9000 (the address space of docs/osc.md)")
    parser.add_argument("--lsl", action="store_true",
                        help="also publish effort factors and pre-activation events as LSL outlets")
    parser.add_argument("--checkpoint", default=None, metavar="FILE.pt",
                        help="run this fusion model (from 'wearsense train'; 'shipped': the sim model) and "
                        "show its predicted pose and surprise (needs torch)")


def make_monitor(args):
    """The :class:`LiveMonitor` of a live view (effort and the model in its background
    worker) and, with ``--osc``/``--lsl``, the :class:`~wearsense.live.publish.Publisher`
    its effort factors and events go out through (None without). Close both when done."""
    from wearsense.live.monitor import LiveMonitor

    predictor = _predictor(args)
    if args.osc is None and not args.lsl:
        return LiveMonitor(effort=not args.no_effort, predictor=predictor, background=True), None
    from wearsense.live.publish import Publisher

    pub = Publisher(osc=args.osc, lsl=args.lsl)

    def on_event(ev) -> None:
        pub.preactivation(ev.muscle, ev.segment, ev.lead_ms, ev.kind, ev.describe(), t=ev.t)

    def on_effort(state) -> None:
        pub.effort(state.factors, t=state.t)

    return LiveMonitor(effort=not args.no_effort, on_event=on_event, on_effort=on_effort,
                       predictor=predictor, background=True), pub


def _predictor(args):
    """``--checkpoint``: the model loaded now (a bad file fails before any device opens) and
    a factory of its :class:`~wearsense.fusion.predict.LivePredictor` for the device's streams."""
    if getattr(args, "checkpoint", None) is None:
        return None
    try:
        from wearsense.fusion.predict import LivePredictor, load_model
    except ImportError as e:
        from wearsense.errors import ConfigError

        raise ConfigError(f"--checkpoint needs the fusion extra ({e}); install it with: "
                          "pip install 'wearsense[fusion]'", "checkpoint") from None
    model = load_model(None if args.checkpoint == "shipped" else args.checkpoint)
    source = " ".join(args.uris)
    return lambda infos: LivePredictor(model, infos, source=source)


def add_arguments(parser) -> None:
    add_view_arguments(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to serve on (default 127.0.0.1: this machine only; any other address "
                        "requires the access token, which is printed in the URL)")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (default 8765; 0: any free port)")
    parser.add_argument("--token", default=None,
                        help="access token (default: generated when --host is not a loopback address)")
    parser.add_argument("--frame-hz", type=float, default=60.0,
                        help="frames sent per second (10-120, default 60)")
    parser.add_argument("--labels", default=",".join(("mark", "start", "end")),
                        help="comma-separated annotation buttons (default mark,start,end)")


def run(args) -> int:
    from wearsense.live.dashboard import DashboardSettings, run_dashboard

    settings = DashboardSettings(
        host=args.host, port=args.port, token=args.token, frame_hz=args.frame_hz,
        labels=tuple(s.strip() for s in args.labels.split(",") if s.strip()),
    )

    def ready(url: str) -> None:
        print(f"dashboard: {url}", flush=True)
        if args.record is not None:
            print(f"recording to {args.record}", flush=True)
        print("Ctrl-C stops", file=sys.stderr, flush=True)

    async def main():
        import signal

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        return await run_dashboard(args.uris, settings=settings, record=args.record, overwrite=args.overwrite,
                                   duration_s=args.duration, stop=stop, on_ready=ready, monitor=monitor)

    monitor, publisher = make_monitor(args)
    try:
        result = asyncio.run(main())
    finally:
        monitor.close()
        if publisher is not None:
            publisher.close()
    s = result.stats
    print(f"served {s['frames']} frames ({s['bytes_sent'] / 1e6:.1f} MB) in {s['wall_s']:.1f} s; "
          f"server CPU {100 * s['cpu_fraction']:.0f}% of one core; {s['annotations']} annotation(s)")
    if publisher is not None:
        c = publisher.counts
        print(f"published {c.osc_packets} OSC packets, LSL samples {dict(c.lsl_samples)}")
    for f in result.failures:
        print(f"  {f}", file=sys.stderr)
    return 1 if result.failures else 0

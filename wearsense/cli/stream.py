"""``wearsense stream <uri>``: republish a device as Lab Streaming Layer outlets (for LabRecorder).

    wearsense stream sim://mover?seed=3 --duration 60
    wearsense stream ble://myo/D2:3A:... --prefix lab1-

Every stream of the device becomes one LSL outlet (channel labels, units and types in
``<desc>``). Timestamps are mapped to the local LSL clock by default
(``--timestamps host``); ``--timestamps device`` sends the device's own. Ctrl-C stops.
"""

from __future__ import annotations

import asyncio
import signal
import sys

NAME = "stream"
HELP = "republish a device (URI) as LSL outlets for LabRecorder and other LSL tools"


def add_arguments(parser) -> None:
    parser.add_argument(
        "uri",
        metavar="URI",
        help="device URI, e.g. sim://mover or brainflow://cyton?serial_port=/dev/ttyUSB0",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds to stream (default: until Ctrl-C or the device ends)",
    )
    parser.add_argument(
        "--timestamps",
        choices=("host", "device"),
        default="host",
        help="host: device time mapped to the local LSL clock (default); device: untouched",
    )
    parser.add_argument("--prefix", default="", help="text put before every outlet name")


def lsl_timeline():
    """The sync layer's clock model, mapping device times onto the local LSL clock."""
    import time

    import pylsl

    from wearsense.sync import Timeline, TimelineSettings

    return Timeline(
        TimelineSettings(reference_offset_s=pylsl.local_clock() - time.monotonic(), clock_name="lsl")
    )


def run(args) -> int:
    from wearsense.devices.lsl import publish  # pylsl only when this command runs

    async def main():
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready(names: list[str]) -> None:
            print("LSL outlets: " + ", ".join(names), file=sys.stderr, flush=True)

        return await publish(
            args.uri,
            duration_s=args.duration,
            stop=stop,
            timestamps=args.timestamps,
            prefix=args.prefix,
            on_ready=ready,
            host_clock=lsl_timeline(),
        )

    state = asyncio.run(main())
    for name, n in state.outlets.items():
        print(f"{name}: {n} samples in {state.elapsed_s:.1f} s")
    return 0

"""``wearsense record``: record one or more devices into one crash-safe XDF file.

    wearsense record sim://mover?seed=3 lsl://type=MoCap -o session.xdf --duration 60

Parses, calls :func:`wearsense.recording.record` and prints; all behaviour lives there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from wearsense.cli import seconds_arg
from wearsense.io.xdf import RecorderState
from wearsense.io.xdf.events import decode_event
from wearsense.recording import record

NAME = "record"
HELP = (
    "record devices (URIs) into one crash-safe XDF file, e.g. record sim://mover -o session.xdf --duration 60"
)
_DESCRIPTION = (
    "Record every stream of the given devices into one XDF file that a crash cannot corrupt. "
    "A device that cannot be opened, or fails while recording, does not stop the others: the failure "
    "is reported, written into the file (the wearsense-events stream, shown by 'wearsense info') and "
    "the exit status is 1 (an incomplete take); so is a device that delivers nothing for 2 s at the end. "
    "A device clock that jumps or restarts never ends the take: the samples after it are a new clock "
    "segment, noted in the file. Nothing is recorded, exit status 2, when no device can be opened or "
    "the file cannot be written. Ctrl-C ends the recording cleanly (exit status 0 when complete)."
)

__all__ = ["format_status"]


def add_arguments(parser) -> None:
    parser.description = _DESCRIPTION
    parser.add_argument(
        "uris",
        nargs="+",
        metavar="URI",
        help="device URIs (sim://mover, serial:///dev/ttyUSB0, replay://a.xdf, ...)",
    )
    parser.add_argument("-o", "--output", required=True, type=Path, help="the .xdf file to write")
    parser.add_argument(
        "--duration",
        type=seconds_arg,
        default=None,
        help="seconds to record (default: until Ctrl-C or the devices end)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")
    parser.add_argument("--quiet", action="store_true", help="no status line")


def format_status(state: RecorderState) -> str:
    """One line: elapsed time, per-stream effective rate and loss, file size."""
    parts = [f"{state.elapsed_s:6.1f} s"]
    for s in state.streams:
        rate = (s.samples - 1) / s.span_s if s.span_s > 0 else 0.0
        parts.append(f"{s.name} {rate:.0f} Hz {100 * s.loss_fraction:.1f}% lost")
    size = state.bytes_written + state.bytes_buffered
    parts.append(f"{size / 1e6:.2f} MB")
    return " | ".join(parts)


def run(args) -> int:
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

    result = record(
        args.uris, args.output, duration_s=args.duration, overwrite=args.overwrite, on_status=show
    )
    if tty and not args.quiet:
        print(file=sys.stderr)
    state = result.state
    print(f"recorded {result.path}: {state.bytes_written / 1e6:.2f} MB, {result.recorded_s:.1f} s of signal "
          f"(in {result.wall_s:.1f} s)")
    for s in state.streams:
        lost = f"{s.lost} lost ({100 * s.loss_fraction:.2f}%)"
        print(f"  {s.name}: {s.samples} samples in {s.chunks} chunks, {lost}")
    for f in result.failures:
        print(f"incomplete: {f.uri} failed to {f.stage}: {f.reason}", file=sys.stderr)
    for uri in result.silent:
        print(f"incomplete: {uri} delivered nothing at the end of the take", file=sys.stderr)
    for row in state.events:
        event = decode_event(row)
        if event["kind"] != "device_failed":  # (printed above)
            print(f"event: {event['kind']}: {event['message']}", file=sys.stderr)
    return 0 if result.complete else 1

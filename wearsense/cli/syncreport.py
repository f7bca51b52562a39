"""``wearsense sync-report session.xdf``: how well the streams of a recording are synchronised.

Fits every device's clock from the stored arrival times, aligns IMUs with pose when
both are present, prints the table of :func:`wearsense.sync.report.summarize` and,
with ``--png``, draws the figure.
"""

from __future__ import annotations

from pathlib import Path

from wearsense.errors import ConfigError
from wearsense.io.xdf import load
from wearsense.io.xdf.events import clock_segments
from wearsense.sync.clock import ClockSettings
from wearsense.sync.report import plot, report_from_recording, summarize
from wearsense.sync.timeline import TimelineSettings, StreamSyncSettings

NAME = "sync-report"
HELP = "sync quality of a recording: clock offset/drift/jitter, loss, IMU-pose lag (text, PNG)"


def add_arguments(parser) -> None:
    parser.add_argument("path", type=Path, help="the .xdf file")
    parser.add_argument("--png", type=Path, default=None, help="also draw the figure to this PNG")
    parser.add_argument(
        "--min-latency-ms",
        type=float,
        default=0.0,
        help="known minimum one-way link latency, subtracted from the offsets (ms)",
    )


def run(args) -> int:
    if args.png is not None:
        # check before the work, so a bad path costs one line, not a traceback after the report
        if args.png.suffix.lower() != ".png":
            raise ConfigError(f"--png {args.png}: the figure is written as PNG; give a path ending in .png")
        if not args.png.parent.is_dir():
            raise ConfigError(
                f"--png {args.png}: folder {args.png.parent} does not exist; create it or choose another"
            )
    f = load(args.path, recover=True)
    settings = TimelineSettings(
        default=StreamSyncSettings(clock=ClockSettings(min_latency_s=args.min_latency_ms * 1e-3))
    )
    report, skipped, failed = report_from_recording(dict(f.streams), settings, clock_segments(f.events))
    print(f"{f.path}: sync quality")
    print(summarize(report))
    if failed:
        print(f"  IMU<->pose: not aligned ({failed})")
    if skipped:
        print("  no arrival times (cannot check sync): " + ", ".join(skipped))
    if args.png:
        import matplotlib

        matplotlib.use("Agg")  # the command only writes a file: no display needed
        fig = plot(report, title=f"sync quality: {Path(f.path).name}")
        fig.savefig(args.png, dpi=110)
        print(f"  figure: {args.png}")
    return 0

"""``wearsense report session.xdf``: one self-contained HTML page about a recording.

    wearsense report session.xdf                 # writes session.report.html beside it
    wearsense report session.xdf -o take3.html

Signal quality per EMG channel, sync quality, EMG envelopes with onsets, the effort
timeline, the pre-activation summary and the calibration profile used; figures are
inlined, so the one file can be mailed or archived (:mod:`wearsense.report`).
"""

from __future__ import annotations

import time
from pathlib import Path

NAME = "report"
HELP = "a self-contained HTML report of a recording: quality, sync, envelopes+onsets, effort, pre-activation"


def add_arguments(parser) -> None:
    parser.add_argument("path", type=Path, help="the .xdf recording")
    parser.add_argument("-o", "--output", type=Path, default=None,
                        help="the HTML file to write (default: <recording>.report.html beside it)")
    parser.add_argument("--overwrite", action="store_true", help="replace the output file if it exists")


def run(args) -> int:
    import matplotlib

    matplotlib.use("Agg")  # the command only writes a file: no display needed

    from wearsense.report import write_report

    t0 = time.monotonic()
    out = write_report(args.path, args.output, overwrite=args.overwrite)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.monotonic() - t0:.1f} s")
    return 0

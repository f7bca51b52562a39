"""``wearsense repair session.xdf``: make a crashed or damaged recording readable everywhere.

Trims a cut-off last chunk, skips corrupted chunks to the next Boundary chunk and adds
the stream footers a killed recorder never wrote (see :func:`wearsense.io.xdf.repair`).
The original is kept as ``session.xdf.bak`` unless ``--no-backup`` or ``-o`` is given.
"""

from __future__ import annotations

from pathlib import Path

from wearsense.io.xdf import repair

NAME = "repair"
HELP = "repair a truncated/crashed XDF recording so every XDF reader opens it"


def add_arguments(parser) -> None:
    parser.add_argument("path", type=Path, help="the damaged .xdf file")
    parser.add_argument(
        "-o", "--output", type=Path, default=None, help="write the repaired file here instead of in place"
    )
    parser.add_argument(
        "--no-backup", action="store_true", help="do not keep <file>.bak when repairing in place"
    )


def run(args) -> int:
    r = repair(args.path, args.output, backup=not args.no_backup)
    if not r.changed:
        print(f"{r.path}: intact, nothing to repair")
        return 0
    dropped = sum(b - a for a, b in r.dropped)
    print(
        f"{r.path}: dropped {dropped} bytes in {len(r.dropped)} region(s), "
        f"added footers for {len(r.footers_added)} stream(s)"
        + (f"; original kept as {r.backup}" if r.backup else "")
    )
    for name, n in r.samples.items():
        print(f"  {name}: {n} samples")
    return 0

"""``wearsense export session.xdf --format csv|hdf5 -o dir``: a recording in other formats.

Reads any file :func:`wearsense.io.read` knows (XDF, C3D, BVH, CSV, HDF5) and writes
CSV (one file per stream, header convention in :mod:`wearsense.io.csv`) or HDF5 (one
group per stream, see :mod:`wearsense.io.hdf5`). Files already in the output folder are
never replaced without ``--overwrite``.
"""

from __future__ import annotations

from pathlib import Path

from wearsense.io import EXPORT_FORMATS, export, read

NAME = "export"
HELP = "export a recording to CSV (one file per stream) or HDF5 (one group per stream)"


def add_arguments(parser) -> None:
    parser.add_argument("path", type=Path, help="recording (.xdf, .c3d, .bvh, .csv, .h5)")
    parser.add_argument("--format", choices=EXPORT_FORMATS, required=True, help="output format")
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace files of the same name already in the output folder"
    )
    parser.add_argument(
        "--recover", action="store_true", help="XDF only: export what a damaged file still holds"
    )


def run(args) -> int:
    options = {"recover": True} if args.recover else {}
    streams = read(args.path, **options)
    for p in export(streams, args.output, args.format, stem=args.path.stem, overwrite=args.overwrite):
        print(p)
    return 0

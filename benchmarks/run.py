"""Run every benchmark: ``python benchmarks/run.py [--quick] [names...]`` (same as ``wearsense bench``)."""

import sys

from wearsense.cli import main

sys.exit(main(["bench", *sys.argv[1:]]))

"""``wearsense demo``: the virtual mover, live, then a figure of EMG leading motion."""

from __future__ import annotations

import time
from pathlib import Path

NAME = "demo"
HELP = "stream the built-in virtual mover (sim://) live, then write a figure of EMG leading motion"


def add_arguments(parser) -> None:
    parser.add_argument("--seed", type=int, default=0, help="virtual mover seed (default 0)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds to stream (default 10)")
    parser.add_argument("-o", "--out", type=Path, default=Path("wearsense-demo.png"),
                        help="figure path (PNG, default wearsense-demo.png)")
    parser.add_argument("--fast", action="store_true", help="as fast as possible instead of real time")


def run(args) -> int:
    from wearsense.demo import run_demo, summary

    t0 = time.monotonic()
    result = run_demo(seed=args.seed, duration_s=args.duration, out=args.out, realtime=not args.fast)
    print(summary(result, time.monotonic() - t0))
    return 0

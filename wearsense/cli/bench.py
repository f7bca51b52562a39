"""``wearsense bench``: run the benchmarks in ``benchmarks/bench_*.py`` and report ratios.

Each benchmark module defines ``run(quick: bool) -> list[dict]``; each dict is one
measurement with keys ``name``, ``value``, ``unit``, and where there is a reference
measured in the same run ``reference`` (its name), ``reference_value``, ``ratio``
(ours / reference, > 1 is better for throughputs) and ``target`` (a text such as
``">= 200x real time"``) with ``met`` (bool). Results are printed as a Markdown
table and written to ``benchmarks/results/<module>.json``.
"""

from __future__ import annotations

import json
import platform
import runpy
import time
from pathlib import Path

from wearsense.errors import WearsenseError

NAME = "bench"
HELP = "run benchmarks (benchmarks/bench_*.py) and report throughput ratios against references"


def add_arguments(parser) -> None:
    parser.add_argument("names", nargs="*", help="benchmark names (e.g. sim, dsp); default all")
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--dir", type=Path, default=None, help="benchmarks folder (default: ./benchmarks)")
    parser.add_argument("--no-save", action="store_true", help="do not write results/*.json")


def find_dir(given: Path | None) -> Path:
    candidates = (
        [given] if given else [Path.cwd() / "benchmarks", Path(__file__).resolve().parents[2] / "benchmarks"]
    )
    for c in candidates:
        if c is not None and c.is_dir():
            return c
    raise WearsenseError(
        "no benchmarks folder found (looked in ./benchmarks and beside the package); "
        "run from a clone of wearsense or pass --dir"
    )


def format_rows(rows: list[dict]) -> str:
    lines = ["| benchmark | value | reference | ratio | target | met |", "|---|---|---|---|---|---|"]
    for r in rows:
        ref = f"{r['reference']}: {r['reference_value']:.4g} {r['unit']}" if r.get("reference") else ""
        ratio = f"{r['ratio']:.1f}x" if r.get("ratio") is not None else ""
        met = {True: "yes", False: "NO", None: ""}[r.get("met")]
        lines.append(
            f"| {r['name']} | {r['value']:.4g} {r['unit']} | {ref} | {ratio} | "
            f"{r.get('target', '')} | {met} |"
        )
    return "\n".join(lines)


def run(args) -> int:
    folder = find_dir(args.dir)
    modules = sorted(folder.glob("bench_*.py"))
    if args.names:
        modules = [m for m in modules if m.stem.removeprefix("bench_") in args.names]
        if not modules:
            known = ", ".join(m.stem.removeprefix("bench_") for m in sorted(folder.glob("bench_*.py")))
            raise WearsenseError(f"no benchmark named {args.names}; known: {known}")
    failed = 0
    for path in modules:
        t0 = time.perf_counter()
        rows = runpy.run_path(str(path))["run"](quick=args.quick)
        took = time.perf_counter() - t0
        print(f"\n## {path.stem} ({took:.1f} s, {platform.processor() or platform.machine()})\n")
        print(format_rows(rows))
        failed += sum(1 for r in rows if r.get("met") is False)
        if not args.no_save:
            out = folder / "results"
            out.mkdir(exist_ok=True)
            (out / f"{path.stem}.json").write_text(
                json.dumps({"quick": args.quick, "python": platform.python_version(), "rows": rows}, indent=2)
            )
    return 1 if failed else 0

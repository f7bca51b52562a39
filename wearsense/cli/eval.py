"""``wearsense eval``: inside-out vs camera-only on held-out data (sim, your XDF sessions, emg2pose).

    wearsense sim generate data/sim --movers 16 --hours 0.1 --hold-out-families martial,dance
    wearsense eval --data data/sim --preset shipped --out results/
    wearsense eval --data s1.xdf s2.xdf s3.xdf --preset quick --out results/      # your sessions
    wearsense eval --data data/sim --checkpoint shipped --out results/           # score, no training

Writes ``results.csv`` (one row per model × condition × split × horizon × metric),
``results.md``, ``per_mover.csv``, ``results.json`` (command, seeds, splits) and figures.
What each number means: docs/fusion.md.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import replace
from pathlib import Path

from wearsense.errors import ConfigError

NAME = "eval"
HELP = "inside-out vs camera-only: train and score per condition on held-out movers and families"


def _ints(text: str) -> tuple[int, ...]:
    try:
        out = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: expected comma-separated integers, e.g. 0,1,2") from None
    if not out:
        raise ConfigError("--seeds is empty: give at least one seed, e.g. 0")
    return out


def add_arguments(parser) -> None:
    parser.add_argument(
        "--data", nargs="+", type=Path, required=True, metavar="PATH",
        help="a sim dataset folder (wearsense sim generate), a prepared take store, .xdf files, "
             "or an emg2pose root",
    )
    parser.add_argument("--mover-regex", default=None,
                        help="XDF files: the part of the file name that names the mover (first group), "
                             "e.g. '^([^_]+)_' for alice_take1.xdf; default: one mover per file")
    parser.add_argument("--out", type=Path, required=True, help="results folder (created)")
    parser.add_argument("--preset", choices=("quick", "shipped"), default="quick",
                        help="quick: a smoke run in minutes; shipped: the settings of docs/fusion.md")
    parser.add_argument("--conditions", default=None,
                        help="comma-separated conditions (camera, imu, emg, inside_out, camera_imu, all); "
                             "default: all of them")
    parser.add_argument("--seeds", default=None, help="comma-separated training seeds, default: the preset's")
    parser.add_argument("--checkpoint", default=None,
                        help="score this checkpoint (a .pt file, or 'shipped') under every condition "
                             "instead of training")
    parser.add_argument("--train-mode", choices=("per_condition", "shared"), default=None,
                        help="one model per condition and seed, or one per seed shared by all conditions "
                             "(modality dropout); default: the preset's")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps per model (default: the preset's)")
    parser.add_argument("--imu-frame", choices=("sensor", "segment"), default=None,
                        help="read the IMUs of raw sources in the sensor's axes or, by each stream's "
                             "N-pose calibration, in segment axes (default: the preset's; shipped: "
                             "segment). A prepared store keeps its own")
    parser.add_argument("--no-robustness", action="store_true", help="skip the perturbation runs")
    parser.add_argument("--no-efficiency", action="store_true", help="skip the data-efficiency curves")
    parser.add_argument("--overwrite", action="store_true",
                        help="write into a results folder that has results")


def _check_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: a file is in the way; give a folder")
    if out.is_dir() and (out / "results.csv").exists() and not overwrite:
        raise ConfigError(f"--out {out}: holds results already; choose another folder or pass --overwrite")
    if not out.parent.is_dir():
        raise ConfigError(f"--out {out}: folder {out.parent} does not exist; create it or choose another")


def run(args) -> int:
    from wearsense.fusion.evaluate import PRESETS, assign_splits, load_data, run_evaluation

    _check_out(args.out, args.overwrite)
    for p in args.data:
        if not p.exists():
            raise ConfigError(f"--data {p}: no such file or folder")
    preset = PRESETS[args.preset]
    changes = {}
    if args.conditions:
        changes["conditions"] = tuple(c.strip() for c in args.conditions.split(",") if c.strip())
    if args.seeds:
        changes["seeds"] = _ints(args.seeds)
    if args.train_mode:
        changes["train_mode"] = args.train_mode
    if args.steps is not None:
        if args.steps < 1:
            raise ConfigError(f"--steps {args.steps}: must be >= 1")
        changes["train"] = {**preset.train, "steps": args.steps}
    if args.imu_frame:
        changes["spec"] = {**preset.spec, "imu_frame": args.imu_frame}
    if args.no_robustness:
        changes["robustness"] = ()
    if args.no_efficiency:
        changes["efficiency_minutes"] = ()
    preset = replace(preset, **changes)

    checkpoint = None
    spec = None
    if args.checkpoint:
        from wearsense.fusion.checkpoint import default_checkpoint, load_checkpoint

        shipped = args.checkpoint == "shipped"
        checkpoint = default_checkpoint() if shipped else load_checkpoint(args.checkpoint)
        spec = checkpoint.spec

    def say(msg: str) -> None:
        print(f"eval: {msg}", file=sys.stderr, flush=True)

    from wearsense.fusion.frames import FeatureSpec

    takes, description = load_data(args.data, spec, args.mover_regex,
                                   read_spec=FeatureSpec(**preset.spec) if preset.spec else None)
    frames = sorted({t.spec.imu_frame for t in takes})
    splits = assign_splits(takes)
    if checkpoint is not None and not splits["train"]:
        splits["test"] = takes if not splits["test"] else splits["test"]
    say(f"data: {description}; takes train {len(splits['train'])}, val {len(splits['val'])}, "
        f"test {len(splits['test'])}; IMU axes: {', '.join(frames)}")
    command = _command(args)
    result = run_evaluation(
        splits, preset, checkpoint=checkpoint, progress=say,
        meta={"command": command, "data": description,
              "checkpoint": args.checkpoint or None, "imu_frame": ", ".join(frames)},
    )
    paths = result.write(args.out)
    print(_summary(result))
    print(f"results: {paths['md']} (table), {paths['csv']} (CSV), figures in {args.out}")
    return 0


def _command(args) -> str:
    """The command line that reproduces this run (from the parsed options)."""
    parts = ["wearsense", "eval", "--data", *[str(p) for p in args.data], "--preset", args.preset]
    for opt in ("conditions", "seeds", "checkpoint", "train_mode", "steps", "mover_regex", "imu_frame"):
        v = getattr(args, opt)
        if v is not None:
            parts += [f"--{opt.replace('_', '-')}", str(v)]
    for flag in ("no_robustness", "no_efficiency"):
        if getattr(args, flag):
            parts.append(f"--{flag.replace('_', '-')}")
    parts += ["--out", str(args.out)]
    return shlex.join(parts)


def _summary(result) -> str:
    """The headline numbers: joint-angle error at 100 ms per condition, on each held-out split."""
    lines = []
    for split in ("held_out_movers", "held_out_movers_and_families"):
        rows = result.select(model="model", split=split, metric="angle_error_deg", horizon_ms=100,
                             perturbation="none", train_minutes=None)
        if not rows:
            continue
        lines.append(f"{split}: joint-angle error at 100 ms (deg, mean [95 % CI])")
        for r in rows:
            vs = result.value(model="model", condition=r["condition"], split=split, metric="vs_camera_pct",
                              horizon_ms=100)
            extra = f"   {vs['value']:.1f} % lower than camera-only" if vs else ""
            ci = f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
            lines.append(f"  {r['condition']:<11} {r['value']:.2f} {ci}{extra}")
    return "\n".join(lines)

"""``wearsense finetune``: personalise a trained fusion model on a few minutes of one mover.

The mover's takes (from a prepared TakeStore or a sim dataset folder) are split in
time: the first ``--minutes`` tune the model, the rest measure it. The command prints
the joint-angle error on those held-out minutes before and after, and writes the
fine-tuned checkpoint.
"""

from __future__ import annotations

from pathlib import Path

NAME = "finetune"
HELP = "fine-tune a fusion checkpoint on a few minutes of one mover and report the gain"


def add_arguments(parser) -> None:
    parser.add_argument("checkpoint", 
                        help="a checkpoint written by 'wearsense train', or 'default' (the shipped one)")
    parser.add_argument("--data", type=Path, required=True,
                        help="a prepared TakeStore or a sim dataset folder")
    parser.add_argument("--mover", required=True, help="the mover to fine-tune on (as in the dataset card)")
    parser.add_argument("--minutes", type=float, default=3.0,
                        help="minutes of the mover to tune on (default 3)")
    parser.add_argument("--config", default="finetune", help="TOML config or preset (default: finetune)")
    parser.add_argument("--condition", default="all",
                        help="condition(s) the gain is reported for, comma-separated (default all)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="the fine-tuned checkpoint (.pt)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from wearsense.errors import ConfigError
    from wearsense.fusion.checkpoint import default_checkpoint, load_checkpoint, save_checkpoint
    from wearsense.fusion.tokens import check_condition
    from wearsense.fusion.train import angle_errors, finetune, load_config, split_minutes

    if args.out.suffix != ".pt":
        raise ConfigError(f"-o {args.out}: a checkpoint file ends in .pt")
    if args.out.exists() and not args.overwrite:
        raise ConfigError(f"-o {args.out}: exists; pass --overwrite to replace it or choose another name")
    if not args.out.parent.is_dir():
        raise ConfigError(f"-o {args.out}: the folder {args.out.parent} does not exist; create it first")
    if not args.minutes > 0:
        raise ConfigError(f"--minutes {args.minutes}: must be > 0")
    conditions = [c.strip() for c in args.condition.split(",") if c.strip()]
    for c in conditions:
        check_condition(c)
    cfg = load_config(args.config)
    model = default_checkpoint() if args.checkpoint == "default" else load_checkpoint(args.checkpoint)
    from wearsense.fusion import data as fdata

    if (args.data / "card.json").is_file():
        takes = list(fdata.TakeStore(args.data, spec=model.spec).takes(movers=[args.mover]))
    else:
        takes = [t for t in fdata.read_sim(args.data, model.spec) if t.mover == args.mover]
    if not takes:
        raise ConfigError(f"--mover {args.mover!r}: no takes of that mover in {args.data}; "
                          "see the movers in its card.json")
    tune, held_out = split_minutes(sorted(takes, key=lambda t: t.name), args.minutes)
    before = {c: angle_errors(model, held_out, c) for c in conditions} if held_out else None
    result = finetune(model, tune, cfg, progress=not args.no_progress)
    save_checkpoint(result.model, args.out, train=cfg.to_dict())
    tuned_s = sum(len(t) for t in tune) / model.spec.step_hz
    print(f"fine-tuned on {tuned_s / 60:.1f} min of {args.mover} in {result.seconds:.0f} s -> {args.out}")
    if before is None:
        print("no minutes of this mover left to measure the gain on; give more data or fewer --minutes")
        return 0
    held_s = sum(len(t) for t in held_out) / model.spec.step_hz
    for c in conditions:
        after = angle_errors(result.model, held_out, c)
        print(f"joint-angle MAE (deg) on the mover's other {held_s / 60:.1f} min, condition {c}:")
        for h, b, a in zip(model.spec.horizons_ms, before[c], after):
            print(f"  {h:4d} ms  {b:6.2f} -> {a:6.2f}  ({100 * (b - a) / b:+.0f} %)")
    return 0

"""``wearsense train``: train the fusion motion model from a TOML config (or a preset).

The config's ``[data]`` table says where the takes come from (a sim dataset made on
the spot, sim shards, or a prepared TakeStore); the run writes ``model.pt`` (weights,
config, FeatureSpec, normalisation, channel names, training curve) and ``last.pt``
(to ``--resume``) into ``-o``. Under ``torchrun --nproc_per_node N -m wearsense train``
the processes share each batch (DDP).
"""

from __future__ import annotations

import json
from pathlib import Path

NAME = "train"
HELP = "train the fusion motion model from a TOML config or preset (tiny, eval, ship)"


def add_arguments(parser) -> None:
    parser.add_argument("config", help="a TOML file, or a preset: tiny, eval, ship")
    parser.add_argument("-o", "--out", type=Path, default=Path("fusion-run"),
                        help="folder for model.pt and last.pt (default: ./fusion-run)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--overwrite", action="store_true", help="replace a finished run in OUT")
    parser.add_argument("--steps", type=int, default=None, help="override the config's number of steps")
    parser.add_argument("--seed", type=int, default=None, help="override the config's seed")
    parser.add_argument("--data", default=None,
                        help="override [data] path (a sim dataset folder or a prepared TakeStore)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def load_takes(data, spec):
    """(train takes, val takes) for a :class:`~wearsense.fusion.train.DataConfig`."""
    from wearsense.errors import ConfigError
    from wearsense.fusion import data as fdata

    if data.source == "make_sim":
        store = fdata.make_sim_dataset(data.path, movers=data.movers, minutes_per_mover=data.minutes,
                                       seed=data.seed, spec=spec)
    elif data.source == "store":
        store = fdata.TakeStore(data.path, spec=spec)
    elif data.source == "sim":
        return (list(fdata.read_sim(data.path, spec, split=data.train_split)),
                list(fdata.read_sim(data.path, spec, split=data.val_split)))
    else:
        raise ConfigError(f"[data] source={data.source!r}: choose 'make_sim', 'sim' or 'store'")
    return list(store.takes(split=data.train_split)), list(store.takes(split=data.val_split))


def run(args) -> int:
    from dataclasses import replace

    from wearsense.errors import ConfigError
    from wearsense.fusion.train import barrier, finish_distributed, init_distributed, load_config, train

    overrides = {k: v for k, v in (("steps", args.steps), ("seed", args.seed)) if v is not None}
    cfg = load_config(args.config, **overrides)
    if args.data is not None:
        cfg = replace(cfg, data=replace(cfg.data, path=args.data,
                                        source="store" if (Path(args.data) / "card.json").is_file()
                                        else ("sim" if cfg.data.source == "store" else cfg.data.source)))
    out = args.out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"-o {out}: is a file; give a folder for the run")
    if (out / "model.pt").exists() and not (args.resume or args.overwrite):
        raise ConfigError(f"-o {out}: holds a finished run (model.pt); pass --resume to continue it, "
                          "--overwrite to replace it, or choose another folder")
    rank, world = init_distributed()
    if world > 1:  # under torchrun: rank 0 makes the dataset, the others then read it
        if rank == 0:
            train_takes, val_takes = load_takes(cfg.data, cfg.spec)
        barrier()
        if rank != 0:
            train_takes, val_takes = load_takes(cfg.data, cfg.spec)
    else:
        train_takes, val_takes = load_takes(cfg.data, cfg.spec)
    result = train(cfg, train_takes, val_takes, out, resume=args.resume, progress=not args.no_progress)
    last = result.history[-1] if result.history else {}
    summary = {"checkpoint": str(result.checkpoint) if result.checkpoint else None,
               "steps": cfg.steps, "seconds": round(result.seconds, 1),
               "train_loss": last.get("train_loss"), "val_loss": last.get("val_loss"),
               "params": result.model.n_params()}
    if world > 1:
        finish_distributed()
    if result.checkpoint is not None:
        print(json.dumps(summary))
        if "val" in last:
            horizons = result.model.spec.horizons_ms
            for cond, v in last["val"].items():
                errs = ", ".join(f"{h} ms {e:.1f}" for h, e in zip(horizons, v["angle_mae_deg"]))
                print(f"val {cond}: joint-angle MAE (deg) {errs}")
    return 0

"""``wearsense sim generate``: sharded sim datasets (HDF5, one file per mover and take).

    wearsense sim generate out/ --movers 100 --hours 2 --processes 8
    wearsense sim generate out/ --movers 100 --hours 2 --shard 3/16     # on machine 3 of 16

Resumable: complete shards are skipped, so rerun the same command after an interruption.
"""

from __future__ import annotations

from pathlib import Path

from wearsense.errors import WearsenseError

NAME = "sim"
HELP = "virtual mover datasets: `wearsense sim generate OUT --movers N --hours H` (sharded HDF5)"


def _shard(text: str) -> tuple[int, int]:
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise WearsenseError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
    return i, n


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="sim_command", metavar="ACTION", required=True)
    g = sub.add_parser("generate", help="write a sharded dataset of simulated movers")
    g.add_argument("out", type=Path, help="dataset folder (created; complete shards in it are kept)")
    g.add_argument("--movers", type=int, default=10, help="number of movers (people), default 10")
    g.add_argument("--hours", type=float, default=1.0, help="hours per mover, default 1")
    g.add_argument(
        "--take-minutes", type=float, default=5.0, help="minutes per take (one shard file), default 5"
    )
    g.add_argument("--seed0", type=int, default=0, help="seed of the first mover")
    g.add_argument("--shard", type=_shard, default=(0, 1), help="i/n: write only every n-th unit from i")
    g.add_argument("--processes", type=int, default=1, help="parallel worker processes on this machine")
    g.add_argument(
        "--hold-out-families", default="", help="comma-separated families only test movers perform"
    )
    g.add_argument("--val", type=float, default=0.1, help="fraction of movers for validation")
    g.add_argument("--test", type=float, default=0.1, help="fraction of movers for test")
    g.add_argument("--person", choices=("drawn", "reference"), default="drawn")
    g.add_argument("--vocabulary", choices=("full", "classic"), default="full")
    g.add_argument("--emg-model", choices=("realistic", "simple"), default="realistic")
    g.add_argument("--emg", type=int, default=8, help="EMG channels")
    g.add_argument("--imu", type=int, default=4, help="IMUs")
    g.add_argument("--no-calibrate", action="store_true",
                   help="skip the N-pose calibration each take begins with (its fit is kept in the "
                        "IMU streams' metadata, for FeatureSpec.imu_frame='segment')")


def run(args) -> int:
    from wearsense.sim.datasets import DatasetSpec, generate_dataset

    spec = DatasetSpec(
        movers=args.movers,
        hours=args.hours,
        take_s=args.take_minutes * 60.0,
        seed0=args.seed0,
        val_fraction=args.val,
        test_fraction=args.test,
        hold_out_families=tuple(f.strip() for f in args.hold_out_families.split(",") if f.strip()),
        overrides={
            "person": args.person,
            "vocabulary": args.vocabulary,
            "emg_model": args.emg_model,
            "emg": args.emg,
            "imu": args.imu,
        },
        calibrate=not args.no_calibrate,
    )

    def progress(r: dict) -> None:
        print(f"wrote {r['path']} ({r['seconds']:.0f} s simulated in {r['wall_s']:.1f} s)", flush=True)

    s = generate_dataset(args.out, spec, args.shard, args.processes, progress)
    speed = f"{s['hours_per_core_minute']:.3g} h of data per core-minute" if s["written"] else "nothing to do"
    print(
        f"shard {args.shard[0]}/{args.shard[1]}: {s['written']} shards written, "
        f"{s['skipped']} already complete; "
        f"{s['simulated_s'] / 3600:.3g} h simulated, {speed}; "
        f"card: {args.out / 'card.json'}"
    )
    return 0

"""Lab session: record devices to one crash-safe XDF file, then read it back and replay it.

    python examples/lab_session.py [--out session.xdf] [--seconds 10]

Records the virtual mover (swap in ``serial:///dev/ttyUSB0``, ``ble://polar/<address>``,
``lsl://type=MoCap``, ...), then opens the file the way an analysis script would and
plays it back through the device interface as if it were live.
"""

import argparse
from pathlib import Path

import wearsense
from wearsense.devices import acquire
from wearsense.stream import count_lost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("session.xdf"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--uri", default="sim://mover?seed=3&loss=0.01&realtime=0")
    args = parser.parse_args()

    sim = args.uri.startswith("sim://")  # the sim ends on its own after duration_s of its clock
    uri = f"{args.uri}&duration_s={args.seconds}" if sim else args.uri
    result = wearsense.record([uri], args.out, duration_s=None if sim else args.seconds)
    print(f"recorded {args.out} ({args.out.stat().st_size / 1e6:.1f} MB, {result.recorded_s:.1f} s)"
          + ("" if result.complete else f"; incomplete: {'; '.join(map(str, result.failures))}"))

    for name, (info, chunk) in wearsense.read(args.out).items():
        lost = count_lost(chunk.seq)
        print(f"  {name:<10} {info.modality.value:<5} {info.n_channels:>3} ch  {chunk.n:>7} samples  "
              f"{chunk.duration_s:6.2f} s  lost {lost}")

    replayed = acquire(f"replay://{args.out.resolve()}?speed=0")
    print(f"replayed {len(replayed)} streams through replay://")


if __name__ == "__main__":
    main()

"""``wearsense calibrate <protocol> <uri>``: a guided calibration run in the terminal.

Walks the person through the protocol's steps (what to do now, a countdown, the live
check, a retry with the check's message when it fails) and writes the profile of each
device serial (``wearsense profiles`` lists them). With a ``sim://`` URI the sim's
person performs the steps; ``--mistake still:1:move`` makes it do one attempt badly,
to see a step rejected and retried. ``--yes`` skips the "press Enter" before each step
and ``--fast`` the countdown and the rests between repetitions of a step (scripts,
tests, the sim; a person needs the rests).
"""

from __future__ import annotations

import time

from wearsense.calibrate.protocol import find_protocol, list_protocols
from wearsense.errors import WearsenseError

NAME = "calibrate"
HELP = "run a calibration protocol (calibration/*.toml) on a device and save its profile"


def add_arguments(parser) -> None:
    names = ", ".join(p.stem for p in list_protocols())
    parser.add_argument("protocol", help=f"protocol name ({names}) or path of a .toml file")
    parser.add_argument("uri", help="device URI, e.g. sim://mover?seed=3 or serial:///dev/ttyUSB0")
    parser.add_argument("--yes", action="store_true", help="do not wait for Enter before each step")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="no countdown and no rests between repetitions (non-interactive runs)",
    )
    parser.add_argument(
        "--profiles-dir",
        help="where to write profiles (default: the user config folder, or $WEARSENSE_PROFILES_DIR)",
    )
    parser.add_argument(
        "--mistake",
        action="append",
        default=[],
        metavar="STEP:ATTEMPT:KIND",
        help="sim only: do attempt ATTEMPT of STEP badly (e.g. still:1:move)",
    )
    parser.add_argument(
        "--check", action="store_true", help="only validate the protocol file and list its steps"
    )


def _source(uri: str, mistakes: list[str]):
    from wearsense.calibrate.runner import DeviceSource, SimSource
    from wearsense.devices import open_device

    device = open_device(uri)  # parses and checks the URI; nothing is connected yet
    if device.uri.scheme != "sim":
        if mistakes:
            raise WearsenseError("--mistake only works with a sim:// device")
        return DeviceSource(uri)
    from wearsense.sim.protocols import CalibrationSubject

    plan: dict[str, dict[int, str]] = {}
    for m in mistakes:
        try:
            step, attempt, kind = m.split(":")
            plan.setdefault(step, {})[int(attempt)] = kind
        except ValueError:
            raise WearsenseError(f"--mistake {m!r}: expected STEP:ATTEMPT:KIND, e.g. still:1:move") from None
    return SimSource(CalibrationSubject(device.options["seed"], device.config), plan)


def _printer(interactive: bool):
    def show(e) -> None:  # a wearsense.calibrate.runner.Event
        if e.kind == "protocol":
            print(f"== {e.message} ({e.data['steps']} steps, {e.data['duration_s']:.0f} s of recording)")
        elif e.kind == "step":
            again = f" (attempt {e.attempt})" if e.attempt > 1 else ""
            print(f"\n-- step {e.step}{again}: {e.message}")
            if interactive:
                input("   press Enter when ready ")
        elif e.kind == "countdown":
            print(f"   {e.seconds:.0f} ...", flush=True)
        elif e.kind == "recording":
            rep = f" (contraction {e.message})" if e.message else ""
            print(f"   recording {e.seconds:.0f} s{rep} ...", flush=True)
        elif e.kind == "rest":
            print(f"   {e.message}", flush=True)
        elif e.kind == "live":
            parts = []
            for metric, r in e.data.items():
                limit = f"<= {r['max']:g}" if r["max"] is not None else f">= {r['min']:g}"
                state = "ok" if r["ok"] else ("TOO HIGH" if r["max"] is not None else "not yet")
                parts.append(f"{metric} {r['value']:.3g} ({limit}) {state}")
            if parts:
                print(f"   {e.seconds:4.0f} s  " + "; ".join(parts), flush=True)
        elif e.kind == "accepted":
            print("   ok")
        elif e.kind == "failed":
            for m in e.messages:
                print(f"   FAILED: {m}")
        elif e.kind == "fit":
            for where, q in e.data.items():
                print(f"   {where}: " + ", ".join(f"{k} {v:.3g}" for k, v in q.items()))
        elif e.kind == "saved":
            print(f"   profile of {e.data['serial']} ({', '.join(e.data['sections'])}) -> {e.message}")
        elif e.kind == "warning":
            print(f"   warning: {e.message}")

    return show


def run(args) -> int:
    protocol = find_protocol(args.protocol)
    if args.check:
        print(f"{protocol.path}: valid; {protocol.title}; solver {protocol.solver}")
        for s in protocol.steps:
            reps = f" x{s.repetitions}, {s.rest_s:g} s rest" if s.repetitions > 1 else ""
            print(f"  {s.id:<24} {s.action:<11} {s.duration_s:>5.1f} s{reps}  {len(s.checks)} check(s)")
        return 0
    from wearsense.calibrate.runner import run_protocol

    source = _source(args.uri, args.mistake)
    result = run_protocol(
        protocol,
        source,
        _printer(not args.yes),
        args.profiles_dir,
        countdown_s=0 if args.fast else 3,
        sleep=(lambda _s: None) if args.fast else time.sleep,
    )
    print(f"\ndone: {len(result.profiles)} profile(s) written")
    return 0

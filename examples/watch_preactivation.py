"""Somatic practice: watch muscles switch on before the body moves, live.

    python examples/watch_preactivation.py [--seconds 30] [--fast]

Streams the virtual mover (or any device with EMG and IMUs that name their segment in
``metadata["segment"]``) into :class:`wearsense.effort.PreactivationDetector`, which
detects EMG onsets causally (Bonato double threshold, :mod:`wearsense.dsp.onset`) and
the moment a segment starts to turn from stillness (IMU angular speed), and prints
each pre-activation with its lead, as it resolves. Each muscle is watched on both
segments of the joint it turns (vastus lateralis turns the knee, so the shank, or the
thigh over a planted foot in a squat). An onset while that joint is already turning
cannot lead its movement and is said so; one with no movement within 300 ms is a
postural adjustment or a co-contraction. The sim's electromechanical delay is 50 ms;
the detectors decide tens of ms after the fact, so leads are printed once both have
been seen.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from wearsense.devices import BlockingDevice
from wearsense.effort import PreactivationDetector

#: the example's words for the detector's kinds of event
OUTCOME = {"led": "led", "already_moving": "already moving", "anticipatory": "no motion"}


def watch(uri: str, say: Callable[[str], None] = print) -> list[tuple[str, str, float]]:
    """Stream ``uri``; say each pre-activation as it is resolved; return them as
    (muscle, outcome, lead in s or NaN) with outcome "led", "already moving" or "no motion"."""
    out: list[tuple[str, str, float]] = []
    with BlockingDevice(uri) as dev:
        clocks = dev.device.clocks  # the sim knows its clocks; real sessions use wearsense.sync
        detector = PreactivationDetector(dev.streams)
        for info, chunk in dev:
            if not chunk.n:
                continue
            # every stream on one clock (the sim's true time)
            chunk = chunk.with_time(clocks[info.name].true_time(chunk.t), "true")
            for ev in detector.process(info.name, chunk):
                say(f"{ev.t:7.2f} s  {ev.muscle} switched on")
                if ev.kind == "led":
                    say(
                        f"{ev.t + ev.lead_ms / 1e3:7.2f} s  ... and the {ev.segment} moved: "
                        f"{ev.muscle} led by {ev.lead_ms:.0f} ms"
                    )
                elif ev.kind == "already_moving":
                    say(f"{ev.t:7.2f} s  ... {ev.muscle} while its joint ({ev.segment}) was already turning")
                else:
                    say(
                        f"{ev.t:7.2f} s  ... {ev.muscle} fired with no motion of its joint ({ev.segment}): "
                        "a postural adjustment or co-contraction"
                    )
                out.append((ev.muscle, OUTCOME[ev.kind], ev.lead_ms / 1e3))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fast", action="store_true", help="as fast as possible instead of real time")
    args = parser.parse_args()
    # six IMUs: forearm, upper arm, shank, trunk, thigh and foot (right side): every watched joint
    watch(
        f"sim://mover?seed=1&moves=reach,squat,brace&imu=6&duration_s={args.seconds}"
        f"&realtime={int(not args.fast)}"
    )


if __name__ == "__main__":
    main()

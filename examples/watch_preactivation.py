"""Somatic practice: watch muscles switch on before the body moves, live.

    python examples/watch_preactivation.py [--seconds 30] [--fast]

Streams the virtual mover (or any device with EMG and IMUs that name their segment in
``metadata["segment"]``), detects EMG onsets causally (Bonato double threshold,
:mod:`wearsense.dsp.onset`) and the moment a segment starts to turn from stillness
(IMU angular speed), and prints each pre-activation with its lead, as it happens.
Each muscle is watched on both segments of the joint it turns
(:func:`wearsense.sync.emd.segment_of` gives the distal one: vastus lateralis turns the
knee, so the shank, or the thigh over a planted foot in a squat). A segment that turns
together with the joint's other segment (a forearm carried by the upper arm) does not
turn the joint. An onset while that joint is already turning cannot lead its movement
and is said so; one with no movement within 300 ms is a postural adjustment or a
co-contraction. The sim's
electromechanical delay is 50 ms; the detectors decide tens of ms after the fact, so
leads are printed once both have been seen.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from wearsense.devices import BlockingDevice
from wearsense.dsp.onset import DoubleThreshold
from wearsense.stream import Modality
from wearsense.sync.emd import segment_of

#: a movement must start within this long after the EMG onset to be its consequence (s)
PAIR_S = 0.3
#: the segment on the other side of the joint that a muscle of a segment turns: with the
#: distal segment held (a foot on the floor in a squat) it is this one that turns
PROXIMAL = {"forearm": "upper_arm", "upper_arm": "trunk", "hand": "forearm",
            "shank": "thigh", "foot": "shank", "thigh": "pelvis"}


def joint_segments(muscle: str) -> tuple[str, ...]:
    """The two segments of the joint a muscle turns (distal first), with their side."""
    distal = segment_of(muscle)
    if distal is None:
        return ()
    base, _, side = distal.partition("_")
    prox = PROXIMAL.get(base)
    if prox is None:
        return (distal,)
    return (distal, prox if prox in ("trunk", "pelvis") or not side else f"{prox}_{side}")


@dataclass
class SegmentMotion:
    """Causal motion onsets of one segment from its IMU's angular speed (deg/s).

    The segment is still while its speed stays within ``still_dps`` of its resting
    speed; it starts to move when the speed exceeds rest + ``move_dps`` after at least
    ``quiet_s`` of stillness, and the onset is dated at the last still sample.
    """

    still_dps: float = 4.0
    move_dps: float = 15.0
    quiet_s: float = 0.3
    rest: float | None = None
    still_from: float | None = None
    last_still: float | None = None
    quiet_for: float = 0.0  # length (s) of the last still run
    moving: bool = False
    onsets: list[float] = field(default_factory=list)
    spans: list[list[float]] = field(default_factory=list)  # [start, end] of each movement

    def update(self, t: np.ndarray, speed: np.ndarray) -> None:
        for ti, v in zip(t.tolist(), speed.tolist()):
            if self.rest is None:
                self.rest = v
            if v < self.rest + self.still_dps:
                if self.still_from is None:
                    self.still_from = ti
                self.last_still = ti
                self.rest = 0.98 * self.rest + 0.02 * v
                if self.moving and ti - self.spans[-1][0] > 0.1:
                    self.moving = False
                    self.spans[-1][1] = ti
                continue
            if self.still_from is not None:
                self.quiet_for = self.last_still - self.still_from
                self.still_from = None
            if v > self.rest + self.move_dps and not self.moving:
                if self.quiet_for >= self.quiet_s and ti - self.last_still < self.quiet_s:
                    self.onsets.append(self.last_still)
                self.moving = True
                self.spans.append([self.last_still if self.last_still is not None else ti, np.inf])

    def moving_at(self, t: float) -> bool:
        """Whether the segment was already turning at ``t`` (s)."""
        return any(a < t <= b for a, b in self.spans)


def _joint_turns(motion: dict[str, SegmentMotion], segs: tuple[str, ...], seg: str, t: float) -> bool:
    """Whether a motion onset of ``seg`` at ``t`` turns the joint: the joint's other segment
    is neither already turning (carrying ``seg``) nor starts within 30 ms (carried by it)."""
    return not any(motion[o].moving_at(t) or any(0 <= x - t <= 0.03 for x in motion[o].onsets)
                   for o in segs if o != seg)


def watch(uri: str, say: Callable[[str], None] = print) -> list[tuple[str, str, float]]:
    """Stream ``uri``; say each pre-activation as it is resolved; return them as
    (muscle, outcome, lead in s or NaN) with outcome "led", "already moving" or "no motion"."""
    detector = None
    imu_segment: dict[str, str] = {}
    motion: dict[str, SegmentMotion] = {}
    pending: list[tuple[str, str, float]] = []  # (muscle, segment, onset on the sim's reference clock)
    seen_t: dict[str, float] = {}
    out: list[tuple[str, str, float]] = []
    with BlockingDevice(uri) as dev:
        clocks = dev.device.clocks  # the sim knows its clocks; real sessions use wearsense.sync
        for info, chunk in dev:
            if not chunk.n:
                continue
            t = clocks[info.name].true_time(chunk.t)
            if info.modality is Modality.EMG:
                if detector is None:
                    detector = DoubleThreshold(info.rate_hz)
                detector.process(chunk)
                for ev in detector.pop_events():
                    muscle = info.channels[ev.channel]
                    segs = tuple(x for x in joint_segments(muscle) if x in imu_segment.values())
                    if ev.kind == "onset" and segs:
                        t_on = float(clocks[info.name].true_time(ev.t))
                        pending.append((muscle, segs, t_on))
                        say(f"{t_on:7.2f} s  {muscle} switched on "
                            f"(decided {ev.latency_s * 1e3:.0f} ms later)")
            elif info.modality is Modality.IMU and "segment" in info.metadata:
                seg = imu_segment.setdefault(info.name, info.metadata["segment"])
                speed = np.linalg.norm(chunk.data[:, info.select("gyro_", "deg/s")], axis=1)
                motion.setdefault(seg, SegmentMotion()).update(t, speed)
                seen_t[seg] = float(t[-1])
            for item in list(pending):
                muscle, segs, t_on = item
                if any(seen_t.get(x, -np.inf) < t_on + PAIR_S for x in segs):
                    continue  # an IMU of the joint has not caught up yet
                pending.remove(item)
                later = sorted((x, seg) for seg in segs for x in motion[seg].onsets
                               if 0 < x - t_on < PAIR_S and _joint_turns(motion, segs, seg, x))
                joint = " / ".join(segs)
                if any(motion[seg].moving_at(t_on) for seg in segs):
                    say(f"{t_on:7.2f} s  ... {muscle} while its joint ({joint}) was already turning")
                    out.append((muscle, "already moving", float("nan")))
                elif later:
                    t_m, seg = later[0]
                    say(f"{t_m:7.2f} s  ... and the {seg} moved: {muscle} led by {(t_m - t_on) * 1e3:.0f} ms")
                    out.append((muscle, "led", t_m - t_on))
                else:
                    say(f"{t_on:7.2f} s  ... {muscle} fired with no motion of its joint ({joint}): "
                        "a postural adjustment or co-contraction")
                    out.append((muscle, "no motion", float("nan")))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fast", action="store_true", help="as fast as possible instead of real time")
    args = parser.parse_args()
    # six IMUs: forearm, upper arm, shank, trunk, thigh and foot (right side): every watched joint
    watch(f"sim://mover?seed=1&moves=reach,squat,brace&imu=6&duration_s={args.seconds}"
          f"&realtime={int(not args.fast)}")


if __name__ == "__main__":
    main()

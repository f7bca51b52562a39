"""Somatic practice: watch muscles switch on before the body moves, live.

    python examples/watch_preactivation.py [--seconds 30] [--fast]

Streams the virtual mover (or any device with EMG and an IMU on the moving segment),
detects EMG onsets causally (CUSUM change point) and the moment the segment starts to
turn (IMU angular speed), and prints each pre-activation with its lead, as it happens.
The sim's electromechanical delay is 50 ms; the detectors decide tens of ms after the
fact, so leads are printed once both have been seen.
"""

import argparse

import numpy as np

from wearsense.devices import BlockingDevice
from wearsense.dsp.onset import CusumChangePoint
from wearsense.stream import Modality

#: muscle -> IMU stream on the segment it turns (the sim's default placement)
WATCH = {"deltoid_anterior_r": "sim-imu1", "tibialis_anterior_r": "sim-imu2", "vastus_lateralis_r": "sim-imu2"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fast", action="store_true", help="as fast as possible instead of real time")
    args = parser.parse_args()
    uri = f"sim://mover?seed=1&moves=reach,squat,brace&duration_s={args.seconds}&realtime={int(not args.fast)}"

    detector = None
    pending: list[tuple[str, float]] = []  # EMG onsets (device time of the EMG clock) awaiting motion
    motion_t: dict[str, list[float]] = {}
    resting: dict[str, float] = {}
    with BlockingDevice(uri) as dev:
        clocks = dev.device.clocks  # the sim knows its clocks; real sessions use wearsense.sync
        for info, chunk in dev:
            if info.modality is Modality.EMG:
                if detector is None:
                    detector = CusumChangePoint(info.rate_hz)
                detector.process(chunk)
                for ev in detector.pop_events():
                    muscle = info.channels[ev.channel]
                    if ev.kind == "onset" and muscle in WATCH:
                        t = float(clocks[info.name].true_time(ev.t))
                        pending.append((muscle, t))
                        print(f"{t:7.2f} s  {muscle} switched on (decided {ev.latency_s * 1e3:.0f} ms later)")
            elif info.name in WATCH.values():
                speed = np.linalg.norm(chunk.data[:, info.select("gyro_", "deg/s")], axis=1)
                base = resting.setdefault(info.name, float(speed[0]))
                t = clocks[info.name].true_time(chunk.t)
                moving = speed > base + 15.0
                if not moving.any():
                    resting[info.name] = 0.95 * base + 0.05 * float(speed.mean())
                else:
                    motion_t.setdefault(info.name, []).append(float(t[np.argmax(moving)]))
            now = float(clocks[info.name].true_time(chunk.t[-1])) if chunk.n else 0.0
            for muscle, t_on in list(pending):
                later = [m for m in motion_t.get(WATCH[muscle], []) if 0 < m - t_on < 0.3]
                if later:
                    print(f"{later[0]:7.2f} s  ... and the segment moved: {muscle} led by {(later[0] - t_on) * 1e3:.0f} ms")
                    pending.remove((muscle, t_on))
                elif now - t_on > 0.5:
                    print(f"{t_on:7.2f} s  ... {muscle} fired with no motion of its segment: "
                          "a postural adjustment or co-contraction")
                    pending.remove((muscle, t_on))

if __name__ == "__main__":
    main()

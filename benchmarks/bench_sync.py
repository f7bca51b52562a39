"""Sync benchmarks: clock-model update throughput against a plain np.polyfit refit, clock
accuracy of both on the same BLE-like packets, the same on a BLE link with connection events
(two-sided event bounds against the arrival envelope), and IMU⇄pose alignment time.

Run: ``wearsense bench sync`` (``--quick`` for a smoke test).
"""

from __future__ import annotations

import time

import numpy as np

from wearsense import sim
from wearsense.stream import Chunk
from wearsense.sync.align import align_imu_pose
from wearsense.sync.clock import ClockModel, ClockSettings


def _packets(rec, name):
    _, whole = rec.streams[name]
    pk = rec.truth.packets[name]
    dev = whole.t[np.searchsorted(whole.seq, pk[:, 1].astype(np.int64))]
    return dev, pk[:, 2]


def run(quick: bool = False) -> list[dict]:
    duration = 20.0 if quick else 60.0
    rec = sim.generate(1, duration + 2, offset_s=5.0, drift_ppm=100.0, jitter_ms=15.0, packet_ms=7.5, loss=0.02,
                       keep_truth=False)
    name = "sim-pose"  # one packet per frame: the most packets per second
    truth = rec.truth.clocks[name]
    dev, host = _packets(rec, name)
    n = dev.size
    rows = []

    model = ClockModel(ClockSettings(min_latency_s=truth.latency_s))
    t0 = time.perf_counter()
    for d, h in zip(dev.tolist(), host.tolist()):
        model.add_packet(d, h)
        model.to_host(d)
    ours_s = time.perf_counter() - t0

    # reference: refit a least-squares line on every packet (the obvious online method)
    n_ref = min(n, 1000 if quick else 3000)
    t0 = time.perf_counter()
    for k in range(2, n_ref + 1):
        s, c = np.polyfit(dev[:k], host[:k], 1)
        c + s * dev[k - 1]
    ref_s = time.perf_counter() - t0
    ours_pps, ref_pps = n / ours_s, (n_ref - 1) / ref_s
    rows.append(dict(name=f"clock update ({n} packets, {duration:.0f} s)", value=ours_pps, unit="packets/s",
                     reference=f"np.polyfit refit per packet ({n_ref} packets)", reference_value=ref_pps,
                     ratio=ours_pps / ref_pps, target=">= 10x polyfit", met=ours_pps / ref_pps >= 10))

    s, c = np.polyfit(dev, host - truth.latency_s, 1)
    true_host = truth.true_time(dev[-50:])
    env_err = np.median(np.abs(model.to_host(dev[-50:]) - true_host)) * 1e3
    ls_err = np.median(np.abs(c + s * dev[-50:] - true_host)) * 1e3
    rows.append(dict(name="offset error at the end (lower envelope)", value=env_err, unit="ms",
                     reference="np.polyfit on the same packets", reference_value=ls_err, ratio=ls_err / env_err,
                     target="<= 0.5 ms", met=env_err <= 0.5))
    ls_drift = (1 / s - 1) * 1e6 - truth.drift_ppm
    rows.append(dict(name="drift error (lower envelope)", value=abs(model.state.drift_ppm - truth.drift_ppm),
                     unit="ppm", reference="np.polyfit", reference_value=abs(ls_drift),
                     ratio=abs(ls_drift) / max(abs(model.state.drift_ppm - truth.drift_ppm), 1e-9),
                     target="<= 2 ppm", met=abs(model.state.drift_ppm - truth.drift_ppm) <= 2))

    # a BLE link: 7.5 ms connection events, 1 ms host jitter; the 60 Hz pose frames sweep the events
    ble = sim.generate(2, duration + 2, offset_s=5.0, drift_ppm=100.0, ble_interval_ms=7.5, jitter_ms=1.0,
                       packet_ms=7.5, loss=0.02, keep_truth=False)
    truth = ble.truth.clocks[name]
    dev, host = _packets(ble, name)
    n = dev.size
    event_model = ClockModel(ClockSettings(min_latency_s=truth.latency_s, event_interval_s=truth.interval_s,
                                           event_capacity=ble.config.ble_per_event))
    t0 = time.perf_counter()
    for d, h in zip(dev.tolist(), host.tolist()):
        event_model.add_packet(d, h)
        event_model.to_host(d)
    event_s = time.perf_counter() - t0
    envelope = ClockModel(ClockSettings(min_latency_s=truth.latency_s))
    t0 = time.perf_counter()
    for d, h in zip(dev.tolist(), host.tolist()):
        envelope.add_packet(d, h)
        envelope.to_host(d)
    env_s = time.perf_counter() - t0
    rows.append(dict(name=f"clock update, BLE link with event bounds ({n} packets)", value=n / event_s,
                     unit="packets/s", reference="lower envelope of arrivals, same packets", reference_value=n / env_s,
                     ratio=env_s / event_s, target=">= 1000 packets/s (a 1 kHz notification stream)",
                     met=n / event_s >= 1000))
    true_host = truth.true_time(dev[-50:])
    ev_err = np.median(np.abs(event_model.to_host(dev[-50:]) - true_host)) * 1e3
    env_err = np.median(np.abs(envelope.to_host(dev[-50:]) - true_host)) * 1e3
    rows.append(dict(name="BLE link: offset error at the end (event bounds)", value=ev_err, unit="ms",
                     reference="lower envelope of arrivals", reference_value=env_err, ratio=env_err / max(ev_err, 1e-9),
                     target="<= 0.5 ms", met=ev_err <= 0.5))
    ev_drift = abs(event_model.state.drift_ppm - truth.drift_ppm)
    env_drift = abs(envelope.state.drift_ppm - truth.drift_ppm)
    rows.append(dict(name="BLE link: drift error (event bounds)", value=ev_drift, unit="ppm",
                     reference="lower envelope of arrivals", reference_value=env_drift,
                     ratio=env_drift / max(ev_drift, 1e-9), target="<= 2 ppm", met=ev_drift <= 2))

    def on_true_time(nm, shift=0.0):
        info, c = rec.streams[nm]
        return info, Chunk(c.data, rec.truth.sample_t[nm] + shift, c.seq, "session")

    imus = [on_true_time(f"sim-imu{i}") for i in range(4)]
    pose = on_true_time("sim-pose", 0.1)
    align_imu_pose(imus, pose)  # warm-up
    t0 = time.perf_counter()
    a = align_imu_pose(imus, pose)
    took = time.perf_counter() - t0
    rows.append(dict(name=f"IMU-pose alignment, 4 IMUs, {duration:.0f} s", value=took, unit="s",
                     reference="recording duration", reference_value=duration, ratio=duration / took,
                     target=">= 20x real time", met=duration / took >= 20))
    err = abs(a.lag_s - 0.1)  # true capture times, 100 ms injected
    rows.append(dict(name="IMU-pose alignment error (100 ms injected)", value=err * 1e3, unit="ms",
                     target="< 16.7 ms (1 frame at 60 Hz)", met=err < 1 / 60))
    for r in rows:  # plain Python numbers for the JSON results
        r.update({k: float(v) for k, v in r.items() if isinstance(v, (np.floating, float, int)) and not isinstance(v, bool)})
        r["met"] = bool(r["met"])
    return rows

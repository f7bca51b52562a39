"""Sync benchmarks: clock-model update throughput against a plain np.polyfit refit, clock
accuracy of both on the same BLE-like packets, the same on a BLE link with connection events
(two-sided event bounds against the arrival envelope), IMU⇄pose alignment time, and
``wearsense info`` on an hour-long take (time and peak memory).

Run: ``wearsense bench sync`` (``--quick`` for a smoke test: a 2-minute take instead of
an hour). The long take is built once and kept in the temporary folder
(``$TMPDIR/wearsense-bench``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from wearsense import sim
from wearsense.io.xdf import Recorder
from wearsense.stream import Chunk
from wearsense.sync.align import align_imu_pose
from wearsense.sync.clock import ClockModel, ClockSettings


def _packets(rec, name):
    _, whole = rec.streams[name]
    pk = rec.truth.packets[name]
    dev = whole.t[np.searchsorted(whole.seq, pk[:, 1].astype(np.int64))]
    return dev, pk[:, 2]


def long_take(minutes: float, folder: Path | None = None) -> Path:
    """A sim take of ``minutes`` as the recorder writes a live one (a chunk per packet, in
    arrival order): 16 EMG channels at 2 kHz, 4 IMUs at 200 Hz, pose at 60 Hz, 10 ms packets,
    1 % loss. One minute of the sim is written again and again with time, sequence numbers
    and arrivals continued (the sim at realtime=0 takes about real time on a loaded machine).
    Built once per size, kept in ``folder`` (default: ``$TMPDIR/wearsense-bench``)."""
    folder = Path(folder or Path(tempfile.gettempdir()) / "wearsense-bench")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"sim-{minutes:g}min-emg16-imu4-pose.xdf"
    if path.exists():
        return path
    period = 60.0
    rec = sim.generate(
        11, period + 1.0, emg=16, imu=4, drift_ppm=0.0, loss=0.01, packet_ms=10.0, keep_truth=False
    )
    packets = []  # (arrival, stream, first sample index, last sample index)
    for k, (name, (info, whole)) in enumerate(rec.streams.items()):
        pk = rec.truth.packets[name]
        first = np.searchsorted(whole.seq, pk[:, 0].astype(np.int64))
        last = np.searchsorted(whole.seq, pk[:, 1].astype(np.int64))
        keep = pk[:, 2] < period  # whole periods only: the copies follow on without overlap
        packets += [(a, k, int(f), int(z)) for a, f, z in zip(pk[keep, 2], first[keep], last[keep])]
    packets.sort()
    streams = list(rec.streams.values())
    partial = path.with_suffix(".partial.xdf")
    with Recorder(partial, [info for info, _ in streams]) as r:
        for rep in range(int(np.ceil(minutes * 60.0 / period))):
            for arrival, k, a, z in packets:
                info, whole = streams[k]
                c = whole[a : z + 1]
                shift_seq = int(round(rep * period * info.rate_hz))
                r.write(
                    info,
                    Chunk(c.data, c.t + rep * period, c.seq + shift_seq, c.clock, arrival + rep * period),
                )
    os.replace(partial, path)
    return path


_PEAK = (
    "import resource, sys\nfrom wearsense.cli import main\nrc = main(sys.argv[1:])\n"
    "sys.stderr.write('PEAK_KB %d\\n' % resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\nsys.exit(rc)"
)


def _timed(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of ``wearsense <args>`` in a fresh process."""
    t0 = time.perf_counter()
    p = subprocess.run(
        [sys.executable, "-c", _PEAK, *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    took = time.perf_counter() - t0
    peak_kb = int(next(line for line in p.stderr.splitlines() if line.startswith("PEAK_KB")).split()[1])
    return took, peak_kb / 1024.0


def info_rows(minutes: float) -> list[dict]:
    """``wearsense info`` on a take of ``minutes``: time and peak memory, against ``--no-sync``."""
    path = long_take(minutes)
    size_mb = path.stat().st_size / 1e6
    plain_s, plain_mb = _timed(["info", str(path), "--no-sync"])
    took, peak = _timed(["info", str(path)])
    return [
        dict(
            name=f"wearsense info, {minutes:g} min take ({size_mb:.0f} MB, 16 EMG + 4 IMU + pose)",
            value=took,
            unit="s",
            reference="same without the sync section (--no-sync)",
            reference_value=plain_s,
            ratio=took / plain_s,
            target="< 60 s for an hour",
            met=took < 60.0,
        ),
        dict(
            name=f"wearsense info peak memory, {minutes:g} min take ({size_mb:.0f} MB file)",
            value=peak,
            unit="MB",
            reference="same without the sync section (--no-sync)",
            reference_value=plain_mb,
            ratio=(peak - plain_mb) / size_mb,
            target="sync section adds < 0.5 x the file (ratio: added MB per file MB)",
            met=peak - plain_mb < 0.5 * size_mb,
        ),
    ]


def run(quick: bool = False) -> list[dict]:
    duration = 20.0 if quick else 60.0
    rec = sim.generate(
        1,
        duration + 2,
        offset_s=5.0,
        drift_ppm=100.0,
        jitter_ms=15.0,
        packet_ms=7.5,
        loss=0.02,
        keep_truth=False,
    )
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
    rows.append(
        dict(
            name=f"clock update ({n} packets, {duration:.0f} s)",
            value=ours_pps,
            unit="packets/s",
            reference=f"np.polyfit refit per packet ({n_ref} packets)",
            reference_value=ref_pps,
            ratio=ours_pps / ref_pps,
            target=">= 10x polyfit",
            met=ours_pps / ref_pps >= 10,
        )
    )

    s, c = np.polyfit(dev, host - truth.latency_s, 1)
    true_host = truth.true_time(dev[-50:])
    env_err = np.median(np.abs(model.to_host(dev[-50:]) - true_host)) * 1e3
    ls_err = np.median(np.abs(c + s * dev[-50:] - true_host)) * 1e3
    rows.append(
        dict(
            name="offset error at the end (lower envelope)",
            value=env_err,
            unit="ms",
            reference="np.polyfit on the same packets",
            reference_value=ls_err,
            ratio=ls_err / env_err,
            target="<= 0.5 ms",
            met=env_err <= 0.5,
        )
    )
    ls_drift = (1 / s - 1) * 1e6 - truth.drift_ppm
    rows.append(
        dict(
            name="drift error (lower envelope)",
            value=abs(model.state.drift_ppm - truth.drift_ppm),
            unit="ppm",
            reference="np.polyfit",
            reference_value=abs(ls_drift),
            ratio=abs(ls_drift) / max(abs(model.state.drift_ppm - truth.drift_ppm), 1e-9),
            target="<= 2 ppm",
            met=abs(model.state.drift_ppm - truth.drift_ppm) <= 2,
        )
    )

    # a BLE link: 7.5 ms connection events, 1 ms host jitter; the 60 Hz pose frames sweep the events
    ble = sim.generate(
        2,
        duration + 2,
        offset_s=5.0,
        drift_ppm=100.0,
        ble_interval_ms=7.5,
        jitter_ms=1.0,
        packet_ms=7.5,
        loss=0.02,
        keep_truth=False,
    )
    truth = ble.truth.clocks[name]
    dev, host = _packets(ble, name)
    n = dev.size
    event_model = ClockModel(
        ClockSettings(
            min_latency_s=truth.latency_s,
            event_interval_s=truth.interval_s,
            event_capacity=ble.config.ble_per_event,
        )
    )
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
    rows.append(
        dict(
            name=f"clock update, BLE link with event bounds ({n} packets)",
            value=n / event_s,
            unit="packets/s",
            reference="lower envelope of arrivals, same packets",
            reference_value=n / env_s,
            ratio=env_s / event_s,
            target=">= 1000 packets/s (a 1 kHz notification stream)",
            met=n / event_s >= 1000,
        )
    )
    true_host = truth.true_time(dev[-50:])
    ev_err = np.median(np.abs(event_model.to_host(dev[-50:]) - true_host)) * 1e3
    env_err = np.median(np.abs(envelope.to_host(dev[-50:]) - true_host)) * 1e3
    rows.append(
        dict(
            name="BLE link: offset error at the end (event bounds)",
            value=ev_err,
            unit="ms",
            reference="lower envelope of arrivals",
            reference_value=env_err,
            ratio=env_err / max(ev_err, 1e-9),
            target="<= 0.5 ms",
            met=ev_err <= 0.5,
        )
    )
    ev_drift = abs(event_model.state.drift_ppm - truth.drift_ppm)
    env_drift = abs(envelope.state.drift_ppm - truth.drift_ppm)
    rows.append(
        dict(
            name="BLE link: drift error (event bounds)",
            value=ev_drift,
            unit="ppm",
            reference="lower envelope of arrivals",
            reference_value=env_drift,
            ratio=env_drift / max(ev_drift, 1e-9),
            target="<= 2 ppm",
            met=ev_drift <= 2,
        )
    )

    def on_true_time(nm, shift=0.0):
        info, c = rec.streams[nm]
        return info, Chunk(c.data, rec.truth.sample_t[nm] + shift, c.seq, "session")

    imus = [on_true_time(f"sim-imu{i}") for i in range(4)]
    pose = on_true_time("sim-pose", 0.1)
    align_imu_pose(imus, pose)  # warm-up
    t0 = time.perf_counter()
    a = align_imu_pose(imus, pose)
    took = time.perf_counter() - t0
    rows.append(
        dict(
            name=f"IMU-pose alignment, 4 IMUs, {duration:.0f} s",
            value=took,
            unit="s",
            reference="recording duration",
            reference_value=duration,
            ratio=duration / took,
            target=">= 20x real time",
            met=duration / took >= 20,
        )
    )
    err = abs(a.lag_s - 0.1)  # true capture times, 100 ms injected
    rows.append(
        dict(
            name="IMU-pose alignment error (100 ms injected)",
            value=err * 1e3,
            unit="ms",
            target="< 16.7 ms (1 frame at 60 Hz)",
            met=err < 1 / 60,
        )
    )
    rows += info_rows(2.0 if quick else 60.0)
    for r in rows:  # plain Python numbers for the JSON results
        r.update(
            {
                k: float(v)
                for k, v in r.items()
                if isinstance(v, (np.floating, float, int)) and not isinstance(v, bool)
            }
        )
        r["met"] = bool(r["met"])
    return rows

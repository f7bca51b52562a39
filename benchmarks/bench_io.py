"""XDF recording and reading: writer CPU and bytes/s, our reader versus pyxdf.

A session of 16-channel EMG at 2 kHz (20-sample chunks, as a 100 Hz USB/serial
device sends them), four 9-channel IMUs at 200 Hz (2-sample chunks) and 51-channel
pose at 60 Hz (one frame per chunk), 10 minutes of it (1 minute with ``quick``), is
written through :class:`wearsense.io.xdf.Recorder` as fast as possible with the
default settings (flush + fsync every 0.5 s). Writer CPU is process time per second of
recording; the file is then read by :func:`wearsense.io.xdf.load` and by
``pyxdf.load_xdf`` (no clock sync, no dejitter: both just decode).
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from wearsense.io import xdf
from wearsense.stream import Chunk, StreamInfo


def _streams():
    emg = StreamInfo("emg", "EMG", [f"m{i}" for i in range(16)], "V", 2000.0)
    imus = [
        StreamInfo(f"imu{k}", "IMU", [f"{a}_{x}" for a in ("acc", "gyro", "mag") for x in "xyz"], "", 200.0)
        for k in range(4)
    ]
    pose = StreamInfo("pose", "POSE", [f"j{j}_{x}" for j in range(17) for x in "xyz"], "m", 60.0)
    return emg, imus, pose


def _record(path: Path, seconds: float) -> tuple[float, int]:
    rng = np.random.default_rng(0)
    emg, imus, pose = _streams()
    emg_block = (rng.standard_normal((20, 16)) * 1e-4).astype(np.float32)
    imu_block = rng.standard_normal((2, 9)).astype(np.float32)
    pose_frame = rng.standard_normal((1, 51)).astype(np.float32)
    blocks = int(seconds * 100)
    cpu0 = time.process_time()
    with xdf.Recorder(path, [emg, *imus, pose], xdf.RecorderSettings(expected_duration_s=seconds)) as rec:
        pose_next = 0.0
        for k in range(blocks):
            t0 = k * 0.01
            host = 50.0 + t0 + 0.003
            rec.write(emg, Chunk(emg_block, t0 + np.arange(20) / 2000.0, 20 * k, "device:emg", host))
            for m, imu in enumerate(imus):
                rec.write(imu, Chunk(imu_block, t0 + np.arange(2) / 200.0, 2 * k, f"device:imu{m}", host))
            while pose_next < t0 + 0.01:
                rec.write(
                    pose, Chunk(pose_frame, [pose_next], int(round(pose_next * 60)), "device:cam", host)
                )
                pose_next += 1 / 60
    return time.process_time() - cpu0, path.stat().st_size


def run(quick: bool) -> list[dict]:
    logging.getLogger("pyxdf").setLevel(logging.ERROR)
    import pyxdf

    seconds = 60.0 if quick else 600.0
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "bench.xdf"
        cpu, size = _record(path, seconds)
        xdf.load(path)  # numba compile / cache load outside the timing
        t = time.perf_counter()
        ours = xdf.load(path)
        ours_s = time.perf_counter() - t
        t = time.perf_counter()
        ref, _ = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)
        pyxdf_s = time.perf_counter() - t
        n_ours = sum(s.chunk.n for s in ours.streams.values())
        n_ref = sum(len(s["time_stamps"]) for s in ref if s["info"]["name"][0] != xdf.SEQ_STREAM)
        assert n_ours == n_ref, (n_ours, n_ref)
    mb = size / 1e6
    return [
        dict(
            name=f"writer CPU per second recorded ({seconds:.0f} s session)",
            value=100 * cpu / seconds,
            unit="% of one core",
            target="<= 5 % of one core",
            met=100 * cpu / seconds <= 5.0,
        ),
        dict(name="file growth", value=size / seconds / 1e3, unit="kB/s", target="informative"),
        dict(
            name="writer speed",
            value=seconds / cpu,
            unit="x real time",
            target=">= 20x real time",
            met=seconds / cpu >= 20,
        ),
        dict(
            name=f"read {mb:.0f} MB, wearsense.io.xdf.load",
            value=mb / ours_s,
            unit="MB/s",
            reference="pyxdf.load_xdf",
            reference_value=mb / pyxdf_s,
            ratio=pyxdf_s / ours_s,
            target=">= 5x pyxdf",
            met=pyxdf_s / ours_s >= 5,
        ),
    ]

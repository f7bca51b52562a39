"""Shared streams for the io tests: seeded synthetic chunks (no sim needed) and a writer helper."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.io.xdf import Recorder, RecorderSettings
from wearsense.stream import Chunk, StreamInfo

EMG = StreamInfo(
    "emg", "EMG", [f"muscle{i}" for i in range(8)], "V", 2000.0, "dev:emg",
    {"placement": [f"SENIAM site {i}" for i in range(8)], "firmware": "1.2"},
)
IMU = StreamInfo("imu0", "IMU", ["acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z"],
                 ["m/s^2"] * 3 + ["deg/s"] * 3, 200.0, "dev:imu")
POSE = StreamInfo("pose", "POSE", ["wrist_x", "wrist_y", "wrist_z"], "m", 60.0, "cam")


def synthetic_session(seed: int, n_blocks: int = 60, drop_every: int = 17) -> list[tuple[StreamInfo, Chunk]]:
    """Interleaved (info, chunk) pairs as devices would deliver them: 10 ms blocks, some seq gaps.

    EMG: 20 samples per block at 2 kHz (device clock offset 1000 s); IMU: 2 samples per
    block; pose: one frame every ~17 ms with NaN occlusions. Every ``drop_every``-th
    EMG block is lost (its seq numbers skipped). received_s is a host time with jitter.
    """
    rng = np.random.default_rng(seed)
    out = []
    emg_seq = imu_seq = pose_seq = 0
    pose_t = 5.0
    for k in range(n_blocks):
        host = 100.0 + 0.01 * k + rng.uniform(0.001, 0.004)
        t = 1000.0 + (np.arange(20) + 20 * k) / 2000.0
        if k % drop_every == drop_every - 1:
            emg_seq += 20
        else:
            out.append(
                (
                    EMG,
                    Chunk(
                        rng.standard_normal((20, 8)).astype(np.float32) * 1e-4, t, emg_seq, "device:emg", host
                    ),
                )
            )
            emg_seq += 20
        ti = 50.0 + (np.arange(2) + 2 * k) / 200.0
        out.append((IMU, Chunk(rng.standard_normal((2, 6)), ti, imu_seq, "device:imu", host + 0.001)))
        imu_seq += 2
        if k % 2 == 0:
            frame = rng.standard_normal((1, 3))
            if k % 10 == 4:
                frame[:] = np.nan
            out.append((POSE, Chunk(frame, [pose_t], pose_seq, "device:cam", float("nan"))))
            pose_t += 1 / 60
            pose_seq += 1
    return out


def write_session(path, pairs, flush_every: int = 0, **settings) -> None:
    """Record ``pairs``; with ``flush_every`` > 0, flush (Boundary chunk) after every that many chunks."""
    with Recorder(path, [EMG, IMU, POSE], RecorderSettings(**settings)) as rec:
        for k, (info, chunk) in enumerate(pairs, 1):
            rec.write(info, chunk)
            if flush_every and k % flush_every == 0:
                rec.flush()


@pytest.fixture
def session_file(tmp_path):
    """(path, pairs) of a cleanly closed recording of :func:`synthetic_session`."""
    pairs = synthetic_session(0)
    path = tmp_path / "session.xdf"
    write_session(path, pairs)
    return path, pairs


class Sessions:
    """What the io tests share, handed out by the ``io_kit`` fixture (no cross-test imports)."""

    EMG = EMG
    IMU = IMU
    POSE = POSE
    synthetic_session = staticmethod(synthetic_session)
    write_session = staticmethod(write_session)


@pytest.fixture
def io_kit() -> type[Sessions]:
    return Sessions

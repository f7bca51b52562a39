"""Synthetic streams with known geometry for the Effort invariants."""

from __future__ import annotations

import numpy as np

from wearsense.stream import Chunk, StreamInfo

G = 9.80665


def min_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk position 0..1 for normalised time s in 0..1 (Flash & Hogan 1985)."""
    s = np.clip(s, 0.0, 1.0)
    return 10 * s**3 - 15 * s**4 + 6 * s**5


def pose_stream(path_fn, duration_s: float, rate_hz: float = 60.0, t0: float = 0.0):
    """A pose stream with one keypoint ``hand_r`` following ``path_fn(t) -> (n, 3)`` m."""
    t = t0 + np.arange(int(duration_s * rate_hz)) / rate_hz
    info = StreamInfo(
        "pose", "POSE", ("hand_r_x", "hand_r_y", "hand_r_z"), "m", rate_hz, metadata={"keypoints": ["hand_r"]}
    )
    return info, Chunk(path_fn(t), t)


def imu_stream(
    theta_fn,
    duration_s: float,
    rate_hz: float = 200.0,
    radius_m: float = 0.3,
    name: str = "imu",
    rotation: np.ndarray | None = None,
    t0: float = 0.0,
):
    """An IMU at ``radius_m`` on a segment turning about the sensor's z axis by
    ``theta_fn(t)`` rad, gravity along the segment: acc (m/s², specific force) and gyro
    (deg/s) in the sensor frame, optionally rotated by a fixed mount ``rotation``."""
    t = t0 + np.arange(int(duration_s * rate_hz)) / rate_hz
    th = theta_fn(t)
    w = np.gradient(th, t)
    a = np.gradient(w, t)
    acc = np.column_stack(
        [-radius_m * w**2 + G * np.cos(th), radius_m * a - G * np.sin(th), np.zeros_like(t)]
    )
    gyro = np.column_stack([np.zeros_like(t), np.zeros_like(t), np.degrees(w)])
    if rotation is not None:
        acc, gyro = acc @ rotation.T, gyro @ rotation.T
    chans = ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    info = StreamInfo(name, "IMU", chans, ("m/s^2",) * 3 + ("deg/s",) * 3, rate_hz)
    return info, Chunk(np.hstack([acc, gyro]), t)


def emg_stream(
    amplitude_fn,
    duration_s: float,
    channels=("biceps_brachii_r", "triceps_brachii_r"),
    rate_hz: float = 2000.0,
    noise_v: float = 3e-6,
    seed: int = 0,
):
    """Gaussian EMG whose RMS per channel is ``amplitude_fn(t) -> (n, n_channels)`` V,
    plus white noise of ``noise_v`` RMS."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * rate_hz)) / rate_hz
    amp = amplitude_fn(t)
    x = rng.standard_normal(amp.shape) * amp + rng.standard_normal(amp.shape) * noise_v
    info = StreamInfo("emg", "EMG", tuple(channels), "V", rate_hz)
    return info, Chunk(x, t)


def run(streams, settings=None, calibration=None, until: float | None = None):
    """Push whole streams, return every state up to ``until`` (default: the shortest stream's end)."""
    from wearsense.effort import EffortEstimator, EffortSettings

    est = EffortEstimator([i for i, _ in streams], settings or EffortSettings(), calibration)
    for info, chunk in streams:
        est.push(info.name, chunk)
    return est.advance(until if until is not None else min(float(c.t[-1]) for _, c in streams))

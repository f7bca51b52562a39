"""Small synthetic takes with a known lead: muscles drive motion, the camera follows late.

A latent drive ``u(t)`` (a few smooth bumps per joint) is what the "muscles" do; the
joints follow it ``LAG_S`` later through a first-order response, so the EMG envelope
(a function of ``u`` now) leads the joint angles, the IMU (angular rate of the joints
now) feels motion as it happens, and the camera delivers keypoints (a fixed linear map
of the angles) at 30 Hz, ``CAMERA_LATENCY_S`` late. A model that reads EMG can
therefore predict the angles ``LAG_S`` ahead better than one that reads pose alone —
which is what the learning tests check. Everything is seeded; no file is read.
"""

from __future__ import annotations

import numpy as np

from wearsense.fusion.frames import FeatureSpec, Take

LAG_S = 0.10
CAMERA_LATENCY_S = 0.05
CAMERA_HZ = 30.0
J, Q, C, P, S, F, E = 4, 5, 4, 4, 2, 10, 2


def _drive(rng: np.random.Generator, t: np.ndarray) -> np.ndarray:
    """Smooth bumps (raised cosines, 0.3–0.8 s long) per joint: the muscles' plan, 0..1."""
    u = np.zeros((len(t), J))
    for j in range(J):
        start = t[0] + rng.uniform(0.0, 0.6)
        while start < t[-1]:
            dur = rng.uniform(0.3, 0.8)
            amp = rng.uniform(0.4, 1.0)
            inside = (t >= start) & (t < start + dur)
            u[inside, j] += amp * 0.5 * (1 - np.cos(2 * np.pi * (t[inside] - start) / dur))
            start += dur + rng.uniform(0.1, 0.9)
    return u


def _respond(u: np.ndarray, dt: float, tau: float = 0.05) -> np.ndarray:
    a = np.zeros_like(u)
    for k in range(1, len(u)):
        a[k] = a[k - 1] + dt / tau * (u[k - 1] - a[k - 1])
    return a


def make_take(seed: int, seconds: float = 8.0, spec: FeatureSpec | None = None, mover: str | None = None,
              split: str = "train", gain: float = 1.0) -> Take:
    """One synthetic take. ``gain`` scales the EMG amplitude (a mover's own EMG character)."""
    spec = spec or FeatureSpec()
    rng = np.random.default_rng(seed)
    hz = 600.0  # the fine grid everything is made on
    dt = 1.0 / hz
    n = int((seconds + 1.0) * hz)
    tf = 100.0 + np.arange(n) * dt  # a host clock that does not start at zero
    u = _drive(rng, tf)
    lag = int(LAG_S * hz)
    angles_rad = _respond(np.vstack([np.zeros((lag, J)), u[:-lag]]), dt)
    angles = np.degrees(angles_rad * 1.2).astype(np.float64)
    mix = np.random.default_rng(1234).normal(0, 0.01, (J, Q * 3))  # fixed body: angles -> keypoints
    kp = (angles @ mix).reshape(n, Q, 3)
    muscle = np.abs(np.random.default_rng(99).normal(0.5, 0.3, (J, C)))
    envelope = np.log1p(gain * 20.0 * (u @ muscle))
    gyro = np.gradient(angles_rad, dt, axis=0)

    step = 1.0 / spec.step_hz
    t = np.arange(tf[0] + 0.5, tf[-1] - 0.6, step)
    k = len(t)
    idx = np.searchsorted(tf, t, side="right") - 1

    emg = np.empty((k, C, P), np.float32)
    for p in range(P):
        back = int(round((P - 1 - p) / P * step * hz))
        emg[:, :, p] = envelope[idx - back]
    emg += rng.normal(0, 0.02, emg.shape).astype(np.float32)
    imu = np.zeros((k, S, F), np.float32)
    imu[:, :, 0] = 1.0
    for s in range(S):
        imu[:, s, 4:6] = gyro[idx][:, 2 * s:2 * s + 2]
        imu[:, s, 7:10] = rng.normal(0, 0.01, (k, 3))
    frame_t = np.arange(tf[0], tf[-1], 1.0 / CAMERA_HZ)  # capture times
    arrived = frame_t + CAMERA_LATENCY_S
    last = np.searchsorted(arrived, t, side="right") - 1
    cap = frame_t[np.maximum(last, 0)]
    pose = kp[np.searchsorted(tf, cap) - 0].reshape(k, Q * 3).astype(np.float32)
    pose += rng.normal(0, 0.002, pose.shape).astype(np.float32)
    pose_ok = last >= 0
    pose_age = (t - cap).astype(np.float32)

    events = np.zeros((k, E, 2), np.float32)
    events_ok = np.zeros((k, E), bool)
    onset_idx = [np.flatnonzero((u[1:, j] > 0.05) & (u[:-1, j] <= 0.05)) + 1 for j in range(J)]
    onsets = sorted((tf[i], j) for j in range(J) for i in onset_idx[j])
    for i, now in enumerate(t):
        recent = [(ot, j) for ot, j in onsets if now - spec.event_window_s < ot <= now][::-1][:E]
        for e, (ot, j) in enumerate(recent):
            events[i, e] = (j % C, now - ot)
            events_ok[i, e] = True

    h_steps = np.array(spec.horizons_ms) / 1000.0
    tt = t[:, None] + h_steps[None, :]
    ti = np.clip(np.searchsorted(tf, tt), 0, n - 1)
    y_angles = angles[ti].astype(np.float32)
    y_kp = kp[ti].astype(np.float32)
    y_ok = tt <= tf[-1]
    return Take(
        name=f"synthetic-{seed}", mover=mover or f"m{seed}", split=split, spec=spec, t=t,
        emg=emg, emg_ok=np.ones((k, C), bool), imu=imu, imu_ok=np.ones((k, S), bool),
        pose=pose, pose_age=pose_age, pose_ok=pose_ok, events=events, events_ok=events_ok,
        y_angles=y_angles, y_kp=y_kp, y_ok=y_ok,
        labels={"onset": np.zeros(k, np.int8)},
        names={"emg": [f"emg{c}" for c in range(C)], "imu": [f"imu{s}" for s in range(S)],
               "imu_features": ["qw", "qx", "qy", "qz", "gx", "gy", "gz", "ax", "ay", "az"],
               "pose": [f"kp{q}_{a}" for q in range(Q) for a in "xyz"],
               "joints": [f"joint{j}" for j in range(J)], "keypoints": [f"kp{q}" for q in range(Q)]},
    )


def make_takes(n: int, seed: int = 0, seconds: float = 8.0, **kw) -> list[Take]:
    return [make_take(seed * 1000 + i, seconds=seconds, **kw) for i in range(n)]

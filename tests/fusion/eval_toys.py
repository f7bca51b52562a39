"""Toy takes with known structure for the evaluation tests (numpy only).

A mover with ``n_joints`` joints, each driven by bursts of muscle activation: the EMG
envelope follows the activation at once, the joint angle follows it ``emd_s`` later
(electromechanical delay, then a low-pass), the IMU reports the joint's angular velocity
at once, and a 30 Hz camera delivers noisy keypoints ``camera_latency_s`` after capture.
So EMG leads motion, the IMU sees motion as it happens and the camera sees it late:
the ordering the evaluation must be able to measure.
"""

from __future__ import annotations

import numpy as np

from wearsense.fusion.frames import FeatureSpec, Take

SPEC = FeatureSpec(step_hz=60.0, emg_patch=4, event_slots=2)


def _angles(t, u, emd_s, tau_s):
    """Angle (deg) = 40 x first-order low-pass of the activation delayed by emd_s."""
    dt = t[1] - t[0]
    shift = int(round(emd_s / dt))
    d = np.zeros_like(u)
    d[shift:] = u[: len(u) - shift]
    a = np.zeros_like(u)
    alpha = dt / tau_s
    for k in range(1, len(u)):
        a[k] = a[k - 1] + alpha * (d[k] - a[k - 1])
    return 40.0 * a


def toy_take(
    seed: int,
    mover: str = "m0",
    split: str = "test",
    family: str = "a",
    duration_s: float = 40.0,
    n_joints: int = 3,
    emd_s: float = 0.08,
    camera_latency_s: float = 0.066,
    spec: FeatureSpec = SPEC,
    families: tuple[str, ...] = ("a", "b"),
) -> Take:
    rng = np.random.default_rng(seed)
    fine_hz = 600.0
    pad = 1.0  # s of future beyond the last step, for targets
    tf = np.arange(0.0, duration_s + pad, 1.0 / fine_hz)
    u = np.zeros((len(tf), n_joints))
    onsets = []
    tt = 1.0
    burst = 0.5 if family == "a" else 1.2
    while tt < duration_s - 2.0:
        j = rng.integers(n_joints)
        dur = burst * rng.uniform(0.7, 1.3)
        u[(tf >= tt) & (tf < tt + dur), j] = rng.uniform(0.5, 1.0)
        onsets.append(tt + emd_s)
        tt += dur + rng.uniform(0.6, 1.2)
    ang_f = np.stack([_angles(tf, u[:, j], emd_s, 0.08) for j in range(n_joints)], axis=1)
    rad = np.deg2rad(ang_f)
    kp_f = np.stack([np.cos(rad), np.sin(rad), 0.1 * np.ones_like(ang_f)], -1) * 0.3

    step = 1.0 / spec.step_hz
    t = np.arange(0.5, duration_s, step)
    k = len(t)

    def at(x, when):
        idx = np.clip(np.round(when * fine_hz).astype(int), 0, len(tf) - 1)
        return x[idx]

    p = spec.emg_patch
    sub = t[:, None] - step + step * (np.arange(1, p + 1) / p)[None, :]
    emg = np.log1p(at(u, sub) * 20.0 + 0.05 * rng.random((k, p, n_joints))).transpose(0, 2, 1)
    emg = emg.astype(np.float32)
    vel = np.gradient(ang_f, 1.0 / fine_hz, axis=0)
    imu = np.zeros((k, n_joints, 10), np.float32)
    imu[:, :, 0] = 1.0
    imu[:, :, 4] = np.deg2rad(at(vel, t)) + 0.02 * rng.standard_normal((k, n_joints))
    # camera: frames captured every 1/30 s, arriving camera_latency_s later
    cap_times = np.arange(0.0, duration_s, 1.0 / 30.0)
    arrive = cap_times + camera_latency_s
    idx = np.searchsorted(arrive, t, side="right") - 1
    ok = idx >= 0
    cap = cap_times[np.maximum(idx, 0)]
    kp_cam = at(kp_f, cap) + 0.005 * rng.standard_normal((k, n_joints, 3))
    pose = kp_cam.reshape(k, -1).astype(np.float32)
    horizons = np.asarray(spec.horizons_ms) / 1000.0
    tgt = t[:, None] + horizons[None, :]
    y_angles = at(ang_f, tgt).astype(np.float32)
    y_kp = at(kp_f, tgt).astype(np.float32)
    y_ok = tgt <= duration_s
    onset = np.zeros(k, np.int64)
    for o in onsets:
        i = np.searchsorted(t, o)
        if i < k:
            onset[i] = 1
    events = np.zeros((k, spec.event_slots, 2), np.float32)
    events_ok = np.zeros((k, spec.event_slots), bool)
    fam = families.index(family)
    return Take(
        name=f"{mover}-{seed}", mover=mover, split=split, spec=spec, t=t,
        emg=emg, emg_ok=np.ones((k, n_joints), bool), imu=imu, imu_ok=np.ones((k, n_joints), bool),
        pose=pose, pose_age=(t - cap).astype(np.float32), pose_ok=ok,
        events=events, events_ok=events_ok, y_angles=y_angles, y_kp=y_kp, y_ok=y_ok,
        labels={"family": np.full(k, fam), "kind": np.zeros(k, np.int64), "onset": onset},
        names={"families": list(families), "joints": [f"j{i}" for i in range(n_joints)]},
    )


def toy_dataset(n_train=4, n_val=1, n_test=3, duration_s=40.0, hold_out="b"):
    """train/val/test takes: train and val movers perform family 'a' only; test movers both."""
    out = {"train": [], "val": [], "test": []}
    seed = 0
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        for m in range(n):
            fams = ("a",) if split != "test" else ("a", hold_out)
            for fam in fams:
                out[split].append(toy_take(seed, mover=f"{split}{m}", split=split, family=fam,
                                           duration_s=duration_s))
                seed += 1
    return out

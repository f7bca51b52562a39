"""Perturbations of a :class:`~wearsense.fusion.frames.Take` for robustness tests (numpy only).

Each returns a new take with the same targets and the inputs changed the way a real
session goes wrong: electrodes placed a little off (:func:`electrode_shift`), channels
lost (:func:`emg_dropout`), fewer IMUs worn (:func:`imu_subset`), the camera losing the
mover (:func:`camera_occlusion`), and a clock error left after synchronisation
(:func:`clock_offset`). Seeded; the original take is not modified.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from wearsense.errors import ConfigError
from wearsense.fusion.frames import Take

__all__ = [
    "electrode_shift",
    "emg_dropout",
    "imu_subset",
    "camera_occlusion",
    "clock_offset",
    "PERTURBATIONS",
    "perturb",
]

_ENV_UV = 10.0  # the envelope's fixed scale in frames.py: emg = log1p(envelope / 10 uV)


def electrode_shift(take: Take, mix: float = 0.3) -> Take:
    """Each channel picks up ``mix`` of its neighbour's signal (electrodes shifted along the array).

    Mixed in the linear envelope domain (µV), then back to ``log1p(envelope / 10 µV)``;
    channel c takes ``(1 - mix)`` of itself and ``mix`` of channel c+1 (the last of c-1).
    """
    if not 0.0 <= mix <= 1.0:
        raise ConfigError(f"electrode_shift mix={mix}: must be within 0..1")
    lin = np.expm1(take.emg.astype(np.float64)) * _ENV_UV
    c = lin.shape[1]
    if c < 2:
        return replace(take)
    nb = np.r_[np.arange(1, c), c - 2]
    mixed = (1.0 - mix) * lin + mix * lin[:, nb]
    return replace(take, emg=np.log1p(mixed / _ENV_UV).astype(np.float32))


def emg_dropout(take: Take, fraction: float = 0.25, seed: int = 0) -> Take:
    """Lose ``fraction`` of the EMG channels (at least one): zero, ``emg_ok`` false, no events from them."""
    c = take.emg.shape[1]
    n = min(c, max(1, int(round(fraction * c))))
    lost = np.random.default_rng(seed).choice(c, size=n, replace=False)
    emg = take.emg.copy()
    ok = take.emg_ok.copy()
    emg[:, lost] = 0.0
    ok[:, lost] = False
    ev_ok = take.events_ok & ~np.isin(take.events[:, :, 0].astype(int), lost)
    return replace(take, emg=emg, emg_ok=ok, events_ok=ev_ok)


def imu_subset(take: Take, keep: int = 1) -> Take:
    """Wear only the first ``keep`` IMUs: the others read zero with ``imu_ok`` false."""
    s = take.imu.shape[1]
    if not 0 <= keep <= s:
        raise ConfigError(f"imu_subset keep={keep}: the take has {s} IMUs")
    imu = take.imu.copy()
    ok = take.imu_ok.copy()
    imu[:, keep:] = 0.0
    ok[:, keep:] = False
    return replace(take, imu=imu, imu_ok=ok)


def camera_occlusion(take: Take, fraction: float = 0.2, run_s: float = 0.5, seed: int = 0) -> Take:
    """Hide the mover from the camera for runs of ``run_s`` covering about ``fraction`` of the take.

    During a run no new frame arrives: ``pose_ok`` is false, the pose holds the last
    frame before the run and ``pose_age`` keeps growing, as a live system would see it.
    """
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"camera_occlusion fraction={fraction}: must be within 0..1 (exclusive)")
    k = len(take)
    dt = 1.0 / take.spec.step_hz
    n_run = max(1, int(round(run_s / dt)))
    rng = np.random.default_rng(seed)
    hidden = np.zeros(k, bool)
    starts = rng.random(k) < fraction / n_run
    for s in np.flatnonzero(starts):
        hidden[s : s + n_run] = True
    pose = take.pose.copy()
    age = take.pose_age.copy()
    ok = take.pose_ok & ~hidden
    for s in np.flatnonzero(hidden & ~np.r_[False, hidden[:-1]]):
        e = s
        while e < k and hidden[e]:
            e += 1
        if s > 0:
            pose[s:e] = take.pose[s - 1]
            age[s:e] = take.pose_age[s - 1] + (take.t[s:e] - take.t[s - 1])
    return replace(take, pose=pose, pose_age=age.astype(np.float32), pose_ok=ok)


def clock_offset(take: Take, offset_s: float = 0.033) -> Take:
    """Shift EMG, events and IMU by ``offset_s`` (rounded to whole steps; > 0: they arrive late).

    A residual clock error after synchronisation: the wearables' samples are placed
    ``offset_s`` later (or earlier, if negative) than they happened.
    """
    n = int(round(offset_s * take.spec.step_hz))
    if n == 0:
        return replace(take)

    def shift(a: np.ndarray, fill) -> np.ndarray:
        out = np.empty_like(a)
        if n > 0:
            out[n:] = a[:-n]
            out[:n] = fill
        else:
            out[:n] = a[-n:]
            out[n:] = fill
        return out

    return replace(
        take,
        emg=shift(take.emg, 0.0),
        emg_ok=shift(take.emg_ok, False),
        imu=shift(take.imu, 0.0),
        imu_ok=shift(take.imu_ok, False),
        events=shift(take.events, 0.0),
        events_ok=shift(take.events_ok, False),
    )


#: name -> (function, the modality it perturbs, what it does in words)
PERTURBATIONS = {
    "electrode_shift": (lambda t, s: electrode_shift(t, 0.3), "emg", "30 % of the neighbouring channel"),
    "emg_dropout": (lambda t, s: emg_dropout(t, 0.25, seed=s), "emg", "25 % of EMG channels lost"),
    "imu_subset": (lambda t, s: imu_subset(t, 1), "imu", "only the first IMU worn"),
    "camera_occlusion": (
        lambda t, s: camera_occlusion(t, 0.2, 0.5, seed=s), "pose", "0.5 s occlusions, ~20 % of the time",
    ),
    "clock_offset": (lambda t, s: clock_offset(t, 0.033), "emg+imu", "EMG and IMU 33 ms late (whole steps)"),
}


def perturb(take: Take, name: str, seed: int = 0) -> Take:
    """Apply the perturbation ``name`` of :data:`PERTURBATIONS` (seeded)."""
    if name not in PERTURBATIONS:
        raise ConfigError(f"perturbation {name!r}: choose from {', '.join(PERTURBATIONS)}")
    return PERTURBATIONS[name][0](take, seed)

"""Scores for motion predictions: errors per horizon, onset latency, lead time, tracking, jerk.

numpy only. Every function takes plain arrays (step times in s, angles in deg,
keypoints in m) so the same scores apply to the deep model, the baselines and any
prediction a lab brings. Definitions (also in docs/fusion.md):

- **joint-angle error**: mean absolute error over joints, deg, with differences wrapped
  to (-180, 180] (:func:`angle_error`);
- **MPJPE**: mean per-joint (keypoint) position error, the Euclidean distance averaged
  over keypoints, mm (:func:`keypoint_error`);
- **motion-onset latency**: time from a true movement onset until the prediction has
  moved more than ``threshold_deg`` in any joint from where it was ``pre_s`` before the
  onset, in the time the prediction was *issued* (negative = it moved before the body
  did) (:func:`onset_latency`);
- **lead time gained**: for each camera-only horizon h, the largest horizon at which a
  condition's error is still <= camera-only's error at h, minus h, by linear
  interpolation between horizons (:func:`lead_time_curve`);
- **tracking success**: the share of ``window_s`` windows whose mean error stays under a
  threshold (:func:`tracking_success`);
- **jerk**: RMS third time-derivative of a trajectory, deg/s^3 (:func:`rms_jerk`);
- **paired bootstrap** over movers (:func:`paired_bootstrap`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wearsense.errors import ConfigError

__all__ = [
    "angle_error",
    "keypoint_error",
    "onset_latency",
    "lead_time",
    "lead_time_curve",
    "tracking_success",
    "rms_jerk",
    "Interval",
    "bootstrap_mean",
    "paired_bootstrap",
]


def _wrap_deg(d: np.ndarray) -> np.ndarray:
    return (d + 180.0) % 360.0 - 180.0


def angle_error(pred: np.ndarray, truth: np.ndarray, ok: np.ndarray | None = None,
                per_joint: bool = False) -> np.ndarray:
    """Mean absolute joint-angle error per step and horizon, deg.

    Parameters
    ----------
    pred, truth : array (K, H, J), deg (or (K, J) with ``ok`` (K,))
    ok : array (K, H) of bool, optional
        Where the target exists; elsewhere the result is NaN.
    per_joint : keep the joints apart instead of averaging them

    Returns
    -------
    array (K, H) float64: mean over joints of ``|wrap(pred - truth)|`` ((K, H, J) with
    ``per_joint``).
    """
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape:
        raise ConfigError(f"angle_error: prediction shape {pred.shape} differs from truth {truth.shape}")
    err = np.abs(_wrap_deg(pred - truth))
    if not per_joint:
        err = err.mean(axis=-1)
    if ok is not None:
        err = np.where(ok[..., None] if per_joint else ok, err, np.nan)
    return err


def keypoint_error(pred: np.ndarray, truth: np.ndarray, ok: np.ndarray | None = None) -> np.ndarray:
    """MPJPE per step and horizon, mm: mean Euclidean keypoint distance.

    Parameters
    ----------
    pred, truth : array (K, H, Q, 3), m (pelvis-relative)
    ok : array (K, H) of bool, optional
    """
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if pred.shape != truth.shape:
        raise ConfigError(f"keypoint_error: prediction shape {pred.shape} differs from truth {truth.shape}")
    err = 1000.0 * np.linalg.norm(pred - truth, axis=-1).mean(axis=-1)
    if ok is not None:
        err = np.where(ok, err, np.nan)
    return err


def onset_latency(
    t: np.ndarray,
    pred: np.ndarray,
    truth: np.ndarray,
    onset: np.ndarray,
    threshold_deg: float = 5.0,
    pre_s: float = 0.3,
    max_s: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Latency from each true movement onset until the prediction starts to move, s.

    Only onsets from rest count: the true pose must stay within ``threshold_deg / 2`` of
    its value ``pre_s`` before the onset up to the onset. For each, the reference is the
    prediction issued ``pre_s`` before the onset; the latency is the first issue time in
    ``[onset - pre_s, onset + max_s]`` at which any joint of the prediction differs from
    that reference by more than ``threshold_deg``, minus the onset time (negative: the
    prediction moved before the body). NaN when it never moves within ``max_s``.

    Parameters
    ----------
    t : array (K,), s — the step (issue) times
    pred : array (K, J), deg — predictions issued at ``t`` (one horizon)
    truth : array (K, J), deg — the true pose at ``t``
    onset : array (K,) — 1 at steps where a true movement starts

    Returns
    -------
    (latency_pred, latency_truth): arrays (n_onsets,), s. ``latency_truth`` is the same
    measure on the true pose, the physical floor a perfect "now" estimate reaches.
    """
    t = np.asarray(t, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    truth = np.asarray(truth, dtype=np.float64)
    if len(t) < 2:
        return np.zeros(0), np.zeros(0)
    dt = float(np.median(np.diff(t)))
    n_pre = int(round(pre_s / dt))
    n_max = int(round(max_s / dt))
    out_p, out_t = [], []
    for k in np.flatnonzero(np.asarray(onset) > 0):
        k0 = k - n_pre
        if k0 < 0 or k + n_max >= len(t):
            continue
        if np.abs(_wrap_deg(truth[k0 : k + 1] - truth[k0])).max() > threshold_deg / 2:
            continue
        lat = []
        for traj in (pred, truth):
            moved = np.abs(_wrap_deg(traj[k0 : k + n_max + 1] - traj[k0])).max(axis=1) > threshold_deg
            i = np.flatnonzero(moved)
            lat.append(t[k0 + i[0]] - t[k] if len(i) else np.nan)
        out_p.append(lat[0])
        out_t.append(lat[1])
    return np.asarray(out_p), np.asarray(out_t)


def lead_time(horizons_ms, err_cond, target: float) -> float:
    """Largest horizon (ms) at which ``err_cond`` (one value per horizon) is still <= ``target``.

    Linear interpolation between horizons; ``nan`` if the condition's error exceeds the
    target already at the first horizon; the last horizon (a lower bound) if it never does.
    """
    h = np.asarray(horizons_ms, dtype=np.float64)
    e = np.asarray(err_cond, dtype=np.float64)
    if not np.isfinite(target) or not np.all(np.isfinite(e)):
        return float("nan")
    if e[0] > target:
        return float("nan")
    for i in range(len(h) - 1, -1, -1):
        if e[i] <= target:
            if i == len(h) - 1:
                return float(h[i])
            # error crosses the target between h[i] (below) and h[i+1] (above)
            frac = (target - e[i]) / (e[i + 1] - e[i])
            return float(h[i] + frac * (h[i + 1] - h[i]))
    return float("nan")


def lead_time_curve(horizons_ms, err_cond, err_camera) -> np.ndarray:
    """Lead time gained (ms) over camera-only, one value per camera-only horizon.

    For each camera-only horizon h: :func:`lead_time` of the condition at the camera's
    error at h, minus h. Positive: the condition predicts that much further ahead at the
    same error. The value at the last horizon is a lower bound when the condition's error
    never reaches the camera's within the horizons predicted.
    """
    h = np.asarray(horizons_ms, dtype=np.float64)
    cam = np.asarray(err_camera, dtype=np.float64)
    return np.array([lead_time(h, err_cond, cam[i]) - h[i] for i in range(len(h))])


def tracking_success(
    t: np.ndarray, err: np.ndarray, threshold: float, window_s: float = 2.0
) -> np.ndarray:
    """Per window of ``window_s`` (consecutive, whole 250 ms blocks): did the error stay under ``threshold``?

    A window succeeds when the mean error over each of its 250 ms blocks stays below the
    threshold (brief spikes of one step do not fail a window; a drift that lasts does).
    Windows with fewer than half their steps scored are left out.

    Parameters
    ----------
    t : array (K,), s;  err : array (K,) (NaN where not scored)

    Returns
    -------
    array (n_windows,) of bool
    """
    t = np.asarray(t, dtype=np.float64)
    err = np.asarray(err, dtype=np.float64)
    if len(t) < 2:
        return np.zeros(0, dtype=bool)
    dt = float(np.median(np.diff(t)))
    n_blk = max(1, int(round(0.25 / dt)))
    n_win = max(n_blk, int(round(window_s / dt / n_blk)) * n_blk)
    n = (len(t) // n_win) * n_win
    if n == 0:
        return np.zeros(0, dtype=bool)
    w = err[:n].reshape(-1, n_win // n_blk, n_blk)  # windows x blocks x steps
    scored = np.isfinite(w)
    counts = scored.sum(axis=2)
    with np.errstate(invalid="ignore"):
        means = np.where(scored, w, 0.0).sum(axis=2) / np.where(counts, counts, 1)
    worst = np.where(counts > 0, means, -np.inf).max(axis=1)
    keep = scored.reshape(len(w), -1).sum(axis=1) >= n_win / 2
    return (worst < threshold)[keep]


def rms_jerk(traj: np.ndarray, dt: float) -> float:
    """RMS jerk (third time-derivative) of a trajectory, units/s^3, over all joints.

    Parameters
    ----------
    traj : array (K, J) sampled every ``dt`` s (NaN rows are skipped with their neighbours)
    """
    traj = np.asarray(traj, dtype=np.float64)
    if len(traj) < 4:
        return float("nan")
    j = np.diff(traj, n=3, axis=0) / dt**3
    j = j[np.all(np.isfinite(j), axis=1)]
    return float(np.sqrt(np.mean(j**2))) if j.size else float("nan")


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap 95 % interval."""

    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


def _resamples(n: int, n_boot: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(n_boot, n))


def bootstrap_mean(x: np.ndarray, n_boot: int = 2000, seed: int = 0) -> Interval:
    """Mean of per-mover values with a percentile bootstrap 95 % interval (resampling movers)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    idx = _resamples(len(x), n_boot, seed)
    means = x[idx].mean(axis=1)
    return Interval(float(x.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5)))


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0) -> Interval:
    """Relative improvement of ``a`` over ``b``, ``1 - mean(a)/mean(b)`` in %, paired over movers.

    ``a[i]`` and ``b[i]`` are the same mover's errors under two conditions; each bootstrap
    resample draws movers with replacement and keeps the pairs together, so the interval
    reflects the between-mover spread of the *difference*, not of each error alone.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ConfigError(f"paired_bootstrap: {a.shape} and {b.shape} are not paired per mover")
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) == 0 or b.mean() == 0:
        return Interval(float("nan"), float("nan"), float("nan"))
    idx = _resamples(len(a), n_boot, seed)
    rel = 100.0 * (1.0 - a[idx].mean(axis=1) / b[idx].mean(axis=1))
    return Interval(
        float(100.0 * (1.0 - a.mean() / b.mean())),
        float(np.percentile(rel, 2.5)),
        float(np.percentile(rel, 97.5)),
    )

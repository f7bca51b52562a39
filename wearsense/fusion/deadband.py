"""Motion deadband: hold the estimate of now unless the predicted motion clears a threshold.

A predictor's horizon-``h`` output is its estimate of now (horizon 0) plus a predicted
motion. Fitted by least squares (the ridge; the model's Huber loss is squared for small
errors), that motion is about the conditional *mean*; scored by a mean
absolute error, the best answer is the conditional *median*, and where the motion is
uncertain (a body nearly still, seen through noisy keypoints 50 ms late) the median is
"no motion". A least-squares predictor then extrapolates noise while the body holds
still: in the evaluation camera-only did worse at 50–200 ms than holding its own
estimate of now (docs/fusion.md).

The deadband soft-thresholds the predicted motion per horizon and per joint,
``m' = sign(m) max(|m| - tau, 0)`` (per keypoint, the length of its 3-D motion vector:
``m' = m max(1 - tau/|m|, 0)``), the shrinkage that minimises an absolute error under a
Laplace prior. ``tau`` is chosen on the validation takes, per horizon and joint, as the
candidate with the lowest mean absolute error (Euclidean error for keypoints); the
candidates are 0 (no deadband) and quantiles of the validation motions, so the choice
does not depend on units. Horizon 0 is never changed, and a predictor whose motions are
worth keeping gets ``tau = 0``.

Numpy only: the ridge baseline uses it directly, the fusion model through buffers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from wearsense.fusion.metrics import _wrap_deg

__all__ = ["apply_deadband", "fit_deadband", "fit_deadbands", "QUANTILES"]

#: candidate thresholds: these quantiles of the validation motions' sizes (and 0)
QUANTILES = np.concatenate([[0.02], np.arange(0.05, 0.951, 0.05)])


def _motion(pred: np.ndarray, angles: bool) -> np.ndarray:
    """Each horizon's output minus the horizon-0 output (angles wrapped to ±180)."""
    d = pred - pred[..., :1, :] if angles else pred - pred[..., :1, :, :]
    return _wrap_deg(d) if angles else d


def _shrunk(m: np.ndarray, tau: np.ndarray, angles: bool) -> np.ndarray:
    """Motions ``m`` soft-thresholded by ``tau`` (broadcast over joints, or keypoints:
    each keypoint's 3-D motion vector shortened by ``tau``, to zero at most)."""
    if angles:
        return np.sign(m) * np.maximum(np.abs(m) - tau, 0.0)
    size = np.linalg.norm(m, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        keep = np.where(size > 0, np.maximum(1.0 - np.asarray(tau)[..., None] / size, 0.0), 0.0)
    return m * keep


def apply_deadband(pred: np.ndarray, tau: np.ndarray | None, *, angles: bool) -> np.ndarray:
    """``pred`` with each horizon's motion from horizon 0 soft-thresholded by ``tau``.

    ``pred``: angles (..., H, J) deg, or keypoints (..., H, Q, 3); ``tau``: (H, J) or
    (H, Q) in the same units (None or all zeros: ``pred`` unchanged). Returns a new array
    of ``pred``'s dtype: what the threshold removes is subtracted from ``pred``, so
    horizon 0, and every output whose threshold is 0, keep their values exactly (an
    angle keeps its branch).
    """
    if tau is None or not np.any(tau > 0):
        return pred
    p = np.asarray(pred, dtype=np.float64)
    tau = np.asarray(tau, dtype=np.float64)
    m = _motion(p, angles)
    out = p - (m - _shrunk(m, tau, angles))
    return out.astype(np.asarray(pred).dtype, copy=False)


def fit_deadband(pred: np.ndarray, truth: np.ndarray, ok: np.ndarray, *, angles: bool) -> np.ndarray:
    """Per horizon and joint (keypoint), the threshold with the lowest validation error.

    ``pred``, ``truth``: (N, H, J) deg or (N, H, Q, 3), over the validation steps;
    ``ok`` (N, H): where the target exists. Returns ``tau`` (H, J) or (H, Q) (0 at
    horizon 0, and wherever no threshold beats none).
    """
    p = np.asarray(pred, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    ok = np.asarray(ok, dtype=bool)
    n_h = p.shape[1]
    tau = np.zeros((n_h, p.shape[2]))
    m = _motion(p, angles)
    for h in range(1, n_h):
        rows = ok[:, h] & ok[:, 0]
        if rows.sum() < 10:
            continue
        base, mh, yh = p[rows, 0], m[rows, h], y[rows, h]
        size = np.abs(mh) if angles else np.linalg.norm(mh, axis=-1)  # (n, J|Q)
        cands = np.vstack([np.zeros(size.shape[1]), np.quantile(size, QUANTILES, axis=0)])
        best_err = np.full(size.shape[1], np.inf)
        for c in cands:  # (J|Q,) per candidate; the first (0) wins ties
            d = base + _shrunk(mh, c, angles) - yh
            e = np.abs(_wrap_deg(d)).mean(axis=0) if angles else np.linalg.norm(d, axis=-1).mean(axis=0)
            better = e < best_err
            tau[h, better] = c[better]
            best_err = np.where(better, e, best_err)
    return tau


def fit_deadbands(preds: Sequence[Any], takes: Sequence[Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Both thresholds from a predictor's outputs on the validation takes.

    ``preds``: one prediction per take (``angles`` (K, H, J), ``kp`` (K, H, Q, 3) or
    None, as ``RidgeBaseline.predict_take`` and ``FusionModel.predict_take`` give them);
    ``takes``: the takes (``y_angles``, ``y_kp``, ``y_ok``). Returns ``tau`` for the
    angles and for the keypoints, None where there are none.
    """
    ok = np.concatenate([t.y_ok for t in takes])
    tau_angles = tau_kp = None
    if takes[0].y_angles.shape[2]:
        tau_angles = fit_deadband(np.concatenate([p.angles for p in preds]),
                                  np.concatenate([t.y_angles for t in takes]), ok, angles=True)
    if preds[0].kp is not None and takes[0].y_kp is not None:
        tau_kp = fit_deadband(np.concatenate([p.kp for p in preds]),
                              np.concatenate([t.y_kp for t in takes]), ok, angles=False)
    return tau_angles, tau_kp

"""Magnetometer calibration: hard- and soft-iron correction from an ellipsoid fit.

Model: ``raw = W @ true + h``, with ``h`` the hard-iron offset (µT, magnetised parts
moving with the sensor) and ``W`` symmetric, near identity (soft iron: induced fields
and unequal axis gains). Turning the sensor through many orientations makes ``raw``
trace the ellipsoid ``(raw - h)^T M (raw - h) = 1``. Fitted as a general quadric by
algebraic least squares (the smallest singular vector of the design matrix; Li &
Griffiths, "Least squares ellipsoid specific fitting", 2004, without their shape
constraint, which is checked afterwards instead), then

    true = soft_iron @ (raw - hard_iron),  soft_iron = sqrtm(M) * field,

with ``field = det(M)^(-1/6)`` (the geometric mean radius) so that corrected norms keep
the field's size in µT. A rotation of the soft iron cannot be seen from the field's
shape and is not estimated (the symmetric solution is the usual convention).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from wearsense.errors import CalibrationError

__all__ = ["MagCalibration", "fit_ellipsoid", "direction_coverage_pct"]

# 26 directions: cube faces, edges and corners; coverage counts how many see samples
_BINS = np.array(
    [(x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1) if (x, y, z) != (0, 0, 0)],
    dtype=np.float64,
)
_BINS /= np.linalg.norm(_BINS, axis=1, keepdims=True)


def direction_coverage_pct(vectors: np.ndarray, min_share: float = 0.002) -> float:
    """Percent of 26 evenly spread directions (cube faces, edges, corners) that the
    vectors' directions visit (nearest direction; a bin counts with >= ``min_share`` of
    the samples, at least 2)."""
    v = np.asarray(vectors, dtype=np.float64)
    v = v - v.mean(axis=0) if v.shape[0] > 3 else v
    n = np.linalg.norm(v, axis=1, keepdims=True)
    u = v[n[:, 0] > 1e-12] / n[n[:, 0] > 1e-12]
    if u.shape[0] == 0:
        return 0.0
    counts = np.bincount(np.argmax(u @ _BINS.T, axis=1), minlength=len(_BINS))
    return float(100.0 * np.mean(counts >= max(2, min_share * u.shape[0])))


@dataclass(frozen=True)
class MagCalibration:
    """Magnetometer correction ``true = soft_iron @ (raw - hard_iron)``.

    Attributes
    ----------
    hard_iron_ut : ndarray (3,)
    soft_iron : ndarray (3, 3)
        Symmetric positive definite.
    field_ut : float
        Field magnitude after correction (µT).
    residual_pct : float
        RMS departure of corrected norms from ``field_ut``, percent.
    coverage_pct : float
        :func:`direction_coverage_pct` of the samples fitted.
    """

    hard_iron_ut: np.ndarray
    soft_iron: np.ndarray
    field_ut: float
    residual_pct: float = 0.0
    coverage_pct: float = 0.0

    def apply(self, mag: np.ndarray) -> np.ndarray:
        """Corrected field (µT), samples x 3."""
        return (np.asarray(mag, dtype=np.float64) - self.hard_iron_ut) @ self.soft_iron.T

    def to_section(self) -> dict[str, Any]:
        return {
            "hard_iron_ut": self.hard_iron_ut.tolist(),
            "soft_iron": self.soft_iron.tolist(),
            "field_ut": float(self.field_ut),
            "residual_pct": float(self.residual_pct),
            "coverage_pct": float(self.coverage_pct),
        }

    @classmethod
    def from_section(cls, s: Mapping[str, Any]) -> "MagCalibration":
        return cls(
            np.asarray(s["hard_iron_ut"], float),
            np.asarray(s["soft_iron"], float).reshape(3, 3),
            float(s.get("field_ut", np.nan)),
            float(s.get("residual_pct", 0.0)),
            float(s.get("coverage_pct", 0.0)),
        )


def fit_ellipsoid(mag: np.ndarray, min_coverage_pct: float = 30.0) -> MagCalibration:
    """Hard/soft-iron calibration from raw magnetometer samples (n x 3, any unit; µT usual).

    Raises :class:`CalibrationError` when the samples cover too few directions (below
    ``min_coverage_pct``) or do not outline an ellipsoid.
    """
    m = np.asarray(mag, dtype=np.float64)
    if m.ndim != 2 or m.shape[1] != 3 or m.shape[0] < 10 or not np.isfinite(m).all():
        raise CalibrationError(f"ellipsoid fit: need at least 10 finite samples x 3, got shape {m.shape}")
    coverage = direction_coverage_pct(m)
    if coverage < min_coverage_pct:
        raise CalibrationError(
            f"ellipsoid fit: the samples cover {coverage:.0f} % of directions (< {min_coverage_pct:.0f} %); "
            "turn the sensor over so that each face points up, down and sideways"
        )
    centre0 = m.mean(axis=0)
    scale0 = float(np.sqrt(np.mean(np.sum((m - centre0) ** 2, axis=1))))
    x, y, z = ((m - centre0) / scale0).T  # conditioned
    d = np.column_stack(
        [x * x, y * y, z * z, 2 * x * y, 2 * x * z, 2 * y * z, 2 * x, 2 * y, 2 * z, np.ones_like(x)]
    )
    v = np.linalg.svd(d, full_matrices=False)[2][-1]
    a = np.array([[v[0], v[3], v[4]], [v[3], v[1], v[5]], [v[4], v[5], v[2]]])
    u = v[6:9]
    if np.linalg.det(a) < 0:
        a, u, w = -a, -u, -v[9]
    else:
        w = v[9]
    try:
        c = -np.linalg.solve(a, u)
    except np.linalg.LinAlgError:
        raise CalibrationError(
            "ellipsoid fit: the samples do not outline an ellipsoid; turn the sensor "
            "through more orientations"
        ) from None
    r = float(c @ a @ c - w)
    ev = np.linalg.eigvalsh(a / r) if r != 0 else np.array([-1.0])
    if not (ev > 0).all():
        raise CalibrationError(
            "ellipsoid fit: the samples do not outline an ellipsoid (is there metal nearby, "
            "or did the field change?); move away from metal and turn the sensor through "
            "more orientations"
        )
    mm = a / r / scale0**2  # quadric matrix in raw units
    hard = centre0 + c * scale0
    evals, evecs = np.linalg.eigh(mm)
    sqrt_m = evecs @ np.diag(np.sqrt(evals)) @ evecs.T
    field = float(np.prod(evals) ** (-1.0 / 6.0))
    soft = sqrt_m * field
    norms = np.linalg.norm((m - hard) @ soft.T, axis=1)
    resid = float(np.sqrt(np.mean((norms - field) ** 2)) / field * 100)
    return MagCalibration(hard, soft, field, resid, coverage)

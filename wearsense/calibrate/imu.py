"""IMU calibration fits: gyroscope bias and noise (still period), accelerometer six-face.

Conventions (those of :mod:`wearsense.dsp.ahrs`): accelerometer in m/s^2 reading
specific force (``+g`` on the axis pointing up at rest), gyroscope in deg/s, arrays
samples x 3 in sensor axes.

Models
------
- Gyroscope: ``raw = true + bias + noise``; ``bias`` is the mean over a still period,
  ``noise`` its standard deviation (deg/s per sample).
- Accelerometer: ``raw = A @ true + bias`` with ``A`` = scale (diagonal) and
  misalignment (off-diagonal); applied as ``true = inv(A) @ (raw - bias)``
  (:attr:`AccelCalibration.matrix` holds ``inv(A)``). Fitted by linear least squares
  over the static faces, where ``true = g * (axis pointing up)``: the six-position
  static test (IEEE Std 1293-2018, annex on multi-position tests); 18 equations for
  12 unknowns with six faces.

Each fit is a pure function: fit -> parameters -> ``apply``; each result converts to
and from a profile section (``to_section`` / ``from_section``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wearsense.errors import CalibrationError

__all__ = [
    "GRAVITY",
    "FACE_AXES",
    "GyroCalibration",
    "AccelCalibration",
    "still_metrics",
    "face_metrics",
    "fit_gyro_bias",
    "fit_accel_six_face",
]

GRAVITY = 9.80665

#: Face name -> unit vector of the sensor axis pointing up when the sensor rests on that face.
FACE_AXES: dict[str, np.ndarray] = {
    "+x": np.array([1.0, 0, 0]),
    "-x": np.array([-1.0, 0, 0]),
    "+y": np.array([0, 1.0, 0]),
    "-y": np.array([0, -1.0, 0]),
    "+z": np.array([0, 0, 1.0]),
    "-z": np.array([0, 0, -1.0]),
}


def _xyz(a: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] != 3 or a.shape[0] < 2:
        raise CalibrationError(f"{what}: expected samples x 3 with at least 2 samples, got shape {a.shape}")
    if not np.isfinite(a).all():
        raise CalibrationError(f"{what}: holds NaN/inf samples; repair or drop them first")
    return a


def still_metrics(acc_ms2: np.ndarray, gyro_dps: np.ndarray) -> dict[str, float]:
    """What a still period is judged by.

    Returns ``gyro_std_dps`` (largest per-axis standard deviation of the gyro, deg/s),
    ``acc_std_ms2`` (same for the accelerometer, m/s^2) and ``acc_norm_error_ms2``
    (``| |mean acc| - g |``; uncalibrated, so allow for bias and scale).
    """
    acc, gyro = _xyz(acc_ms2, "accelerometer"), _xyz(gyro_dps, "gyroscope")
    return {
        "gyro_std_dps": float(gyro.std(axis=0).max()),
        "acc_std_ms2": float(acc.std(axis=0).max()),
        "acc_norm_error_ms2": float(abs(np.linalg.norm(acc.mean(axis=0)) - GRAVITY)),
    }


def face_metrics(acc_ms2: np.ndarray, gyro_dps: np.ndarray, face: str) -> dict[str, float]:
    """:func:`still_metrics` plus ``face_angle_deg``: the angle (deg) between the mean
    specific force and the sensor axis that should point up on ``face``."""
    if face not in FACE_AXES:
        raise CalibrationError(f"face must be one of {', '.join(FACE_AXES)}, got {face!r}")
    m = still_metrics(acc_ms2, gyro_dps)
    mean = np.asarray(acc_ms2, dtype=np.float64).mean(axis=0)
    cos = float(mean @ FACE_AXES[face] / max(np.linalg.norm(mean), 1e-12))
    m["face_angle_deg"] = float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))
    return m


@dataclass(frozen=True)
class GyroCalibration:
    """Gyroscope bias and noise.

    Attributes
    ----------
    bias_dps : ndarray (3,)
        Mean of the still period (deg/s); subtract it.
    noise_dps : ndarray (3,)
        Standard deviation per sample (deg/s).
    bias_change_dps : float
        Largest change of the mean between the two halves of the period (deg/s): a
        drifting (warming) sensor shows here.
    """

    bias_dps: np.ndarray
    noise_dps: np.ndarray
    bias_change_dps: float = 0.0

    def apply(self, gyro_dps: np.ndarray) -> np.ndarray:
        """Bias-corrected gyro (deg/s)."""
        return np.asarray(gyro_dps, dtype=np.float64) - self.bias_dps

    def to_section(self) -> dict[str, Any]:
        return {
            "bias_dps": self.bias_dps.tolist(),
            "noise_dps": self.noise_dps.tolist(),
            "bias_change_dps": float(self.bias_change_dps),
        }

    @classmethod
    def from_section(cls, s: Mapping[str, Any]) -> "GyroCalibration":
        return cls(
            np.asarray(s["bias_dps"], float),
            np.asarray(s.get("noise_dps", [np.nan] * 3), float),
            float(s.get("bias_change_dps", 0.0)),
        )


def fit_gyro_bias(gyro_dps: np.ndarray) -> GyroCalibration:
    """Gyro bias and noise from a still period (samples x 3, deg/s)."""
    gyro = _xyz(gyro_dps, "gyroscope")
    half = gyro.shape[0] // 2
    change = float(np.abs(gyro[:half].mean(axis=0) - gyro[half:].mean(axis=0)).max())
    return GyroCalibration(gyro.mean(axis=0), gyro.std(axis=0, ddof=1), change)


@dataclass(frozen=True)
class AccelCalibration:
    """Accelerometer correction ``true = matrix @ (raw - bias)``.

    Attributes
    ----------
    matrix : ndarray (3, 3)
        Inverse of scale x misalignment.
    bias_ms2 : ndarray (3,)
        Offset (m/s^2).
    residual_ms2 : float
        RMS misfit of the faces (m/s^2).
    """

    matrix: np.ndarray
    bias_ms2: np.ndarray
    residual_ms2: float = 0.0

    @property
    def scale(self) -> np.ndarray:
        """Scale factor of each axis (raw per true), the diagonal of ``inv(matrix)``."""
        return np.diag(np.linalg.inv(self.matrix)).copy()

    @property
    def scale_error_pct(self) -> float:
        """Largest departure of an axis's scale from 1, in percent."""
        return float(np.abs(self.scale - 1.0).max() * 100)

    def apply(self, acc_ms2: np.ndarray) -> np.ndarray:
        """Corrected specific force (m/s^2), samples x 3."""
        return (np.asarray(acc_ms2, dtype=np.float64) - self.bias_ms2) @ self.matrix.T

    def to_section(self) -> dict[str, Any]:
        return {
            "matrix": self.matrix.tolist(),
            "bias_ms2": self.bias_ms2.tolist(),
            "scale": self.scale.tolist(),
            "residual_ms2": float(self.residual_ms2),
        }

    @classmethod
    def from_section(cls, s: Mapping[str, Any]) -> "AccelCalibration":
        return cls(
            np.asarray(s["matrix"], float).reshape(3, 3),
            np.asarray(s["bias_ms2"], float),
            float(s.get("residual_ms2", 0.0)),
        )


def fit_accel_six_face(
    faces: Sequence[str], mean_acc_ms2: np.ndarray, gravity: float = GRAVITY
) -> AccelCalibration:
    """Least-squares six-face fit of ``raw = A @ (g * up_axis) + bias``.

    Parameters
    ----------
    faces : sequence of str
        Face of each static period (``"+x"``, ``"-z"``, ...), at least four of them
        spanning three axes (six faces: each axis up and down).
    mean_acc_ms2 : ndarray (n_faces, 3)
        Mean raw accelerometer of each period (m/s^2).
    gravity : float
        Local gravity (m/s^2).
    """
    means = np.asarray(mean_acc_ms2, dtype=np.float64).reshape(-1, 3)
    if len(faces) != means.shape[0]:
        raise CalibrationError(f"six-face fit: {len(faces)} faces but {means.shape[0]} mean readings")
    bad = [f for f in faces if f not in FACE_AXES]
    if bad:
        raise CalibrationError(f"six-face fit: unknown face {bad[0]!r}; faces are {', '.join(FACE_AXES)}")
    up = np.array([FACE_AXES[f] for f in faces]) * gravity
    x = np.hstack([up, np.ones((len(faces), 1))])
    if len(faces) < 4 or np.linalg.matrix_rank(x) < 4:
        raise CalibrationError(
            f"six-face fit: faces {list(faces)} do not determine scale and bias on every axis; "
            "rest the sensor on all six faces (each axis up and down)"
        )
    p, *_ = np.linalg.lstsq(x, means, rcond=None)
    a, bias = p[:3].T, p[3]
    if abs(np.linalg.det(a)) < 1e-6:
        raise CalibrationError("six-face fit: the accelerometer axes are degenerate (an axis reads nothing?)")
    resid = means - x @ p
    dof = max(1, resid.size - 12)
    rms = float(np.sqrt(np.sum(resid**2) / dof)) if len(faces) > 4 else 0.0
    return AccelCalibration(np.linalg.inv(a), bias, rms)

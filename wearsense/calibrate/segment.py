"""Sensor-to-segment alignment from a static pose plus a functional movement.

Frame convention
----------------
Segment frames are right-handed and, in the N-pose (standing upright, arms at the
sides), aligned with the world (ENU): **x anterior, y to the person's left, z up**
(distal -> proximal along long bones): the ISB-style convention of Wu et al. (2005),
the same as :mod:`wearsense.sim.body`. The result ``M`` maps sensor axes to segment
axes, ``v_segment = M @ v_sensor``, as :func:`wearsense.dsp.ahrs.segment_orientation`
takes it (segment -> world = sensor -> world times ``M^T``).

Method
------
1. Static pose: the mean specific force is "up" in sensor axes; the protocol names the
   segment axis that points up in that pose (``+z`` in the N-pose).
2. Functional movement about one joint: the gyro's principal axis (largest eigenvector
   of ``sum(w w^T)``) is the segment axis the protocol names (e.g. ``-y`` for elbow
   flexion); its sign is chosen so that the movement's integrated angle is positive at
   its extreme (flexion first, then back).
3. TRIAD with gravity first (Shuster & Oh 1981): the most accurate direction is kept
   exactly, the functional axis fixes rotation about it.

A segment no functional step moves (the pelvis in ``npose.toml``) gets the N-pose alone
(:func:`fit_tilt_only`, ``method = "npose"``): the smallest rotation taking the measured
up onto the segment's up axis. Its tilt is calibrated; its turn about that axis (a few
degrees of heading on the segment) is left as mounted.

Checked: the sensor's axes must be right-handed. A world-fixed direction (gravity)
seen from a turning sensor turns the other way, ``du/dt = -w x u``; if the measured
``du/dt`` correlates positively with ``+w x u``, the device's axes are mirrored (a
flipped axis in its driver or wiring) and any rotation computed from them would flip
handedness: the result is rejected with :class:`~wearsense.errors.CalibrationError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from wearsense.errors import CalibrationError

__all__ = [
    "SegmentCalibration",
    "FunctionalAxis",
    "functional_axis",
    "static_up",
    "handedness",
    "fit_sensor_to_segment",
    "fit_tilt_only",
    "axis_vector",
    "rotation_angle_deg",
]


def axis_vector(name: str) -> np.ndarray:
    """``"+x"`` ... ``"-z"`` as a unit vector."""
    if len(name) != 2 or name[0] not in "+-" or name[1] not in "xyz":
        raise CalibrationError(f"axis must be one of +x, -x, +y, -y, +z, -z; got {name!r}")
    v = np.zeros(3)
    v["xyz".index(name[1])] = 1.0 if name[0] == "+" else -1.0
    return v


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (deg) of the rotation between two rotation matrices."""
    r = np.asarray(a) @ np.asarray(b).T
    return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))))


def static_up(acc_ms2: np.ndarray) -> np.ndarray:
    """Unit "up" direction in sensor axes from a static period (mean specific force)."""
    m = np.asarray(acc_ms2, dtype=np.float64).mean(axis=0)
    n = np.linalg.norm(m)
    if not n > 1.0:
        raise CalibrationError(
            f"static pose: the accelerometer reads {n:.2f} m/s^2, not gravity; is it connected?"
        )
    return m / n


@dataclass(frozen=True)
class FunctionalAxis:
    """Principal rotation axis of a functional movement, in sensor axes.

    Attributes
    ----------
    axis : ndarray (3,)
        Unit vector; sign such that the movement's first excursion is positive.
    dominance : float
        Share of the angular-rate energy about that axis (1 = one plane exactly).
    rotation_deg : float
        Range of the integrated angle about it (deg).
    handedness : float
        :func:`handedness` of the movement (+1 right-handed axes, -1 mirrored).
    """

    axis: np.ndarray
    dominance: float
    rotation_deg: float
    handedness: float


def handedness(acc_ms2: np.ndarray, gyro_dps: np.ndarray, rate_hz: float) -> float:
    """Correlation (-1..1) between the measured turn of gravity in sensor axes and
    ``-w x u`` predicted from the gyro: ~ +1 for right-handed axes, ~ -1 for mirrored ones."""
    from scipy import signal

    acc = np.asarray(acc_ms2, dtype=np.float64)
    w = np.deg2rad(np.asarray(gyro_dps, dtype=np.float64))
    sos = signal.butter(2, min(3.0, 0.4 * rate_hz), fs=rate_hz, output="sos")
    u = signal.sosfiltfilt(sos, acc, axis=0)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    du = np.gradient(u, 1.0 / rate_hz, axis=0)
    pred = -np.cross(signal.sosfiltfilt(sos, w, axis=0), u)
    den = np.sqrt(np.sum(du**2) * np.sum(pred**2))
    return float(np.sum(du * pred) / den) if den > 0 else 0.0


def functional_axis(acc_ms2: np.ndarray, gyro_dps: np.ndarray, rate_hz: float) -> FunctionalAxis:
    """The principal axis of a functional movement (see the module docstring)."""
    g = np.asarray(gyro_dps, dtype=np.float64)
    if g.ndim != 2 or g.shape[1] != 3 or g.shape[0] < 10:
        raise CalibrationError(f"functional movement: expected samples x 3 gyro, got shape {g.shape}")
    evals, evecs = np.linalg.eigh(g.T @ g)
    axis = evecs[:, -1]
    dominance = float(evals[-1] / max(evals.sum(), 1e-12))
    theta = np.cumsum(g @ axis) / rate_hz
    k = int(np.argmax(np.abs(theta)))
    if theta[k] < 0:
        axis, theta = -axis, -theta
    return FunctionalAxis(axis, dominance, float(theta.max() - theta.min()), handedness(acc_ms2, g, rate_hz))


@dataclass(frozen=True)
class SegmentCalibration:
    """Sensor-to-segment rotation ``v_segment = matrix @ v_sensor``.

    Attributes
    ----------
    segment : str
    matrix : ndarray (3, 3)
        Proper rotation (det +1).
    axis_angle_deg : float
        How far the functional axis was from perpendicular to the static up direction,
        against what the segment axes say (0 = consistent).
    handedness : float
        Of the functional movement (see :func:`handedness`).
    method : {"npose+functional", "npose"}
        TRIAD of the static pose and a functional movement, or the static pose alone
        (:func:`fit_tilt_only`: the turn about the up axis is not calibrated).
    """

    segment: str
    matrix: np.ndarray
    axis_angle_deg: float
    handedness: float
    method: str = "npose+functional"

    def to_section(self) -> dict[str, Any]:
        return {
            "segment": self.segment,
            "sensor_to_segment": self.matrix.tolist(),
            "axis_angle_deg": float(self.axis_angle_deg),
            "handedness": float(self.handedness),
            "method": self.method,
            "frame": "segment: x anterior, y left, z up in the N-pose; v_segment = M v_sensor",
        }

    @classmethod
    def from_section(cls, s: Mapping[str, Any]) -> "SegmentCalibration":
        try:
            m = np.asarray(s["sensor_to_segment"], float).reshape(3, 3)
        except (KeyError, TypeError, ValueError) as e:
            raise CalibrationError(
                f"segment section: 'sensor_to_segment' must be a 3x3 rotation ({e!r}); run "
                "'wearsense calibrate npose <uri>' again"
            ) from None
        if not (np.isfinite(m).all() and np.allclose(m @ m.T, np.eye(3), atol=1e-4)
                and np.linalg.det(m) > 0):
            raise CalibrationError(
                "segment section: 'sensor_to_segment' is not a proper rotation (M M^T != I or det <= 0); "
                "the profile was edited or damaged: run 'wearsense calibrate npose <uri>' again"
            )
        return cls(
            str(s.get("segment", "")),
            m,
            float(s.get("axis_angle_deg", 0.0)),
            float(s.get("handedness", 1.0)),
            str(s.get("method", "npose+functional")),
        )


def fit_tilt_only(segment: str, up_sensor: np.ndarray, up_segment: str = "+z") -> SegmentCalibration:
    """The static pose alone: the smallest rotation taking ``up_sensor`` onto the segment
    axis ``up_segment``. The tilt of the sensor on its segment is removed; its turn
    about that axis is not known and stays as mounted (``method = "npose"``)."""
    a = np.asarray(up_sensor, dtype=np.float64)
    a = a / np.linalg.norm(a)
    b = axis_vector(up_segment)
    v = np.cross(a, b)
    s, c = float(np.linalg.norm(v)), float(a @ b)
    if s < 1e-12:
        if c > 0:
            m = np.eye(3)
        else:  # upside down: half a turn about any axis perpendicular to up
            p = np.array([1.0, 0, 0]) if abs(b[0]) < 0.9 else np.array([0, 1.0, 0])
            k = np.cross(b, p)
            k /= np.linalg.norm(k)
            m = 2 * np.outer(k, k) - np.eye(3)
    else:
        k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
        m = np.eye(3) + k + k @ k * ((1 - c) / s**2)
    return SegmentCalibration(segment, m, 0.0, 0.0, "npose")  # handedness 0: not measured


def fit_sensor_to_segment(
    segment: str,
    up_sensor: np.ndarray,
    up_segment: str,
    functional: FunctionalAxis,
    functional_segment: str,
    min_handedness: float = 0.3,
) -> SegmentCalibration:
    """TRIAD from the static up direction (primary) and the functional axis (secondary).

    Parameters
    ----------
    segment : str
    up_sensor : ndarray (3,)
        :func:`static_up` of the static pose.
    up_segment : str
        The segment axis pointing up in that pose (``"+z"`` for the N-pose).
    functional : FunctionalAxis
        :func:`functional_axis` of the movement.
    functional_segment : str
        The segment axis of that movement (e.g. ``"-y"``: elbow flexion).
    min_handedness : float
        Reject when :attr:`FunctionalAxis.handedness` is below this (mirrored axes).
    """
    g1, gf = axis_vector(up_segment), axis_vector(functional_segment)
    if abs(g1 @ gf) > 0.5:
        raise CalibrationError(
            f"segment {segment!r}: the static axis {up_segment} and the functional axis "
            f"{functional_segment} must be perpendicular segment axes; fix the protocol"
        )
    if functional.handedness < min_handedness:
        raise CalibrationError(
            f"segment {segment!r}: the sensor's axes look left-handed (gravity turned with the gyro's "
            f"rotation, not against it: handedness {functional.handedness:+.2f} < {min_handedness}); a "
            "rotation from them would flip handedness. Check the device's axis mapping (a mirrored axis "
            "in its driver or wiring) "
            "and calibrate again"
        )
    s1 = np.asarray(up_sensor, dtype=np.float64)
    s1 = s1 / np.linalg.norm(s1)
    sf = functional.axis / np.linalg.norm(functional.axis)
    cross_s = np.cross(s1, sf)
    if np.linalg.norm(cross_s) < 0.2:
        raise CalibrationError(
            f"segment {segment!r}: the functional axis is within 12 deg of vertical; "
            "in the static pose the moving joint's axis must be horizontal"
        )
    s2 = cross_s / np.linalg.norm(cross_s)
    s3 = np.cross(s1, s2)
    g2 = np.cross(g1, gf)
    g2 /= np.linalg.norm(g2)
    g3 = np.cross(g1, g2)
    m = np.column_stack([g1, g2, g3]) @ np.column_stack([s1, s2, s3]).T
    if np.linalg.det(m) < 0:  # cannot happen by construction; kept as the stated check
        raise CalibrationError(f"segment {segment!r}: the result would flip handedness (det < 0)")
    expected = np.degrees(np.arccos(np.clip(g1 @ gf, -1, 1)))
    measured = np.degrees(np.arccos(np.clip(s1 @ sf, -1, 1)))
    return SegmentCalibration(segment, m, float(abs(measured - expected)), functional.handedness)

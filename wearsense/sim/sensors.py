"""Sensors of the virtual mover: surface EMG, IMUs, and a camera-like pose stream.

All three observe the same simulated body (:mod:`wearsense.sim.muscles`), each on its
own device clock (:mod:`wearsense.sim.clocks`).

- **EMG**: band-limited Gaussian noise (4th-order Butterworth band-pass 20–450 Hz,
  shaped by a 2nd-order low-pass at 150 Hz so that, as in real surface EMG, most power
  lies at 50–150 Hz: median frequency ≈ 94 Hz) whose amplitude follows the neural drive,
  ``emg = A_mvc · u(t) · carrier + amplifier noise`` (the amplitude-modulated noise model
  of surface EMG, Hogan & Mann 1980); optional mains interference.
- **IMU**: accelerometer (specific force, m/s², +9.81 on z when flat at rest),
  gyroscope (deg/s) and magnetometer (µT) in the sensor frame, derived from the
  segment kinematics by finite differences at 500 Hz, with white noise, turn-on bias,
  bias random walk and magnetometer hard-iron offset (typical MEMS values).
- **Pose**: 3-D keypoints (m) with Gaussian noise, stamped after the camera
  pipeline's latency, and optional occlusion gaps (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from wearsense.sim.body import KEYPOINTS, SEGMENT_INDEX, forward_kinematics, keypoints

__all__ = [
    "IMU_SITES",
    "EARTH_FIELD_UT",
    "GRAVITY",
    "EMGCarrier",
    "imu_kinematics",
    "quat_from_matrix",
    "SensorErrors",
    "apply_sensor_errors",
    "imu_from_trajectory",
]

GRAVITY = 9.80665
#: Earth's field in the ENU world frame (µT): 48 µT, 60° inclination (mid-latitude).
EARTH_FIELD_UT = np.array([0.0, 24.0, -41.57])

#: IMU sites in the order ``imu=N`` takes them: (segment, position in the segment frame, m).
IMU_SITES: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("forearm_r", (0.0, -0.03, -0.15)),
    ("upper_arm_r", (0.0, -0.05, -0.12)),
    ("shank_r", (0.05, 0.0, -0.18)),
    ("trunk", (-0.10, 0.0, 0.30)),
    ("thigh_r", (0.07, 0.0, -0.20)),
    ("foot_r", (0.08, 0.0, -0.05)),
    ("pelvis", (-0.10, 0.0, 0.0)),
    ("forearm_l", (0.0, 0.03, -0.15)),
    ("upper_arm_l", (0.0, 0.05, -0.12)),
    ("shank_l", (0.05, 0.0, -0.18)),
    ("thigh_l", (0.07, 0.0, -0.20)),
    ("foot_l", (0.08, 0.0, -0.05)),
    ("head", (0.0, 0.0, 0.12)),
    ("hand_r", (0.0, 0.0, -0.04)),
    ("hand_l", (0.0, 0.0, -0.04)),
)


class EMGCarrier:
    """Unit-variance band-limited noise, continuous across blocks (stateful SOS filter)."""

    def __init__(
        self,
        rate_hz: float,
        n_channels: int,
        band_hz: tuple[float, float] = (20.0, 450.0),
        shape_hz: float = 150.0,
    ) -> None:
        hi = min(band_hz[1], 0.45 * rate_hz)
        self.sos = np.vstack(
            [
                signal.butter(4, [band_hz[0], hi], btype="bandpass", fs=rate_hz, output="sos"),
                signal.butter(2, min(shape_hz, 0.45 * rate_hz), fs=rate_hz, output="sos"),
            ]
        )
        # scale so that filtered unit white noise has unit variance
        impulse = signal.sosfilt(self.sos, np.r_[1.0, np.zeros(int(rate_hz) * 2)])
        self.scale = 1.0 / np.sqrt(np.sum(impulse**2))
        self.zi = np.zeros((self.sos.shape[0], 2, n_channels))

    def next(self, white: np.ndarray) -> np.ndarray:
        out, self.zi = signal.sosfilt(self.sos, white, axis=0, zi=self.zi)
        return out * self.scale


def quat_from_matrix(r: np.ndarray) -> np.ndarray:
    """Unit quaternions (w, x, y, z), scalar first, w ≥ 0, from rotation matrices (n, 3, 3)."""
    m = r
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    q = np.empty((m.shape[0], 4))
    # Shepperd's method, vectorised by choosing the largest diagonal term per row.
    cand = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], axis=1)
    which = np.argmax(cand, axis=1)
    for case in range(4):
        sel = which == case
        if not sel.any():
            continue
        a = m[sel]
        if case == 0:
            s = np.sqrt(1.0 + tr[sel]) * 2
            q[sel] = np.stack(
                [
                    0.25 * s,
                    (a[:, 2, 1] - a[:, 1, 2]) / s,
                    (a[:, 0, 2] - a[:, 2, 0]) / s,
                    (a[:, 1, 0] - a[:, 0, 1]) / s,
                ],
                1,
            )
        elif case == 1:
            s = np.sqrt(1.0 + a[:, 0, 0] - a[:, 1, 1] - a[:, 2, 2]) * 2
            q[sel] = np.stack(
                [
                    (a[:, 2, 1] - a[:, 1, 2]) / s,
                    0.25 * s,
                    (a[:, 0, 1] + a[:, 1, 0]) / s,
                    (a[:, 0, 2] + a[:, 2, 0]) / s,
                ],
                1,
            )
        elif case == 2:
            s = np.sqrt(1.0 + a[:, 1, 1] - a[:, 0, 0] - a[:, 2, 2]) * 2
            q[sel] = np.stack(
                [
                    (a[:, 0, 2] - a[:, 2, 0]) / s,
                    (a[:, 0, 1] + a[:, 1, 0]) / s,
                    0.25 * s,
                    (a[:, 1, 2] + a[:, 2, 1]) / s,
                ],
                1,
            )
        else:
            s = np.sqrt(1.0 + a[:, 2, 2] - a[:, 0, 0] - a[:, 1, 1]) * 2
            q[sel] = np.stack(
                [
                    (a[:, 1, 0] - a[:, 0, 1]) / s,
                    (a[:, 0, 2] + a[:, 2, 0]) / s,
                    (a[:, 1, 2] + a[:, 2, 1]) / s,
                    0.25 * s,
                ],
                1,
            )
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    return q


@dataclass(frozen=True)
class IMUKinematics:
    """Noise-free IMU quantities on a kinematic grid, sensor frame."""

    t: np.ndarray  # (n,) true time
    specific_force: np.ndarray  # (n_imu, n, 3) m/s^2
    gyro_dps: np.ndarray  # (n_imu, n, 3)
    mag_ut: np.ndarray  # (n_imu, n, 3)
    quat: np.ndarray  # (n_imu, n, 4) sensor -> world, scalar first


def imu_kinematics(
    t: np.ndarray,
    angles_deg: np.ndarray,
    root: np.ndarray,
    sites: list[int],
    mounts: np.ndarray,
    with_quat: bool = True,
    segment_scale: np.ndarray | None = None,
) -> IMUKinematics:
    """IMU signals on a uniform grid ``t`` from joint angles and root motion.

    Derivatives are central differences (``np.gradient``), second-order accurate; the
    first and last grid points are one-sided, so callers keep a margin. The true
    orientation (``quat``) is only for ground truth; ``with_quat=False`` leaves it NaN.
    ``segment_scale``: the mover's segment lengths relative to the reference.
    """
    rot, pos = forward_kinematics(angles_deg, root[:, :2], root[:, 2], segment_scale)
    h = t[1] - t[0]
    n = t.shape[0]
    f = np.empty((len(sites), n, 3))
    g = np.empty((len(sites), n, 3))
    m = np.empty((len(sites), n, 3))
    q = np.empty((len(sites), n, 4))
    gvec = np.array([0.0, 0.0, -GRAVITY])
    for i, (site, mount) in enumerate(zip(sites, mounts)):
        seg, offset = IMU_SITES[site]
        s = SEGMENT_INDEX[seg]
        r = rot[:, s] @ mount  # sensor -> world
        off = np.asarray(offset) * (1.0 if segment_scale is None else segment_scale[s])
        p = pos[:, s] + rot[:, s] @ off
        acc = np.gradient(np.gradient(p, h, axis=0), h, axis=0)
        rt = np.swapaxes(r, 1, 2)
        f[i] = np.einsum("nij,nj->ni", rt, acc - gvec)
        rdot = np.gradient(r, h, axis=0)
        w = rt @ rdot  # skew-symmetric: body angular velocity
        g[i] = np.rad2deg(
            0.5 * np.stack([w[:, 2, 1] - w[:, 1, 2], w[:, 0, 2] - w[:, 2, 0], w[:, 1, 0] - w[:, 0, 1]], 1)
        )
        m[i] = rt @ EARTH_FIELD_UT
        q[i] = quat_from_matrix(r) if with_quat else np.nan
    return IMUKinematics(t, f, g, m, q)


def pose_keypoints(
    angles_deg: np.ndarray, root: np.ndarray, segment_scale: np.ndarray | None = None
) -> np.ndarray:
    """True keypoints (n, n_keypoints, 3) in metres."""
    rot, pos = forward_kinematics(angles_deg, root[:, :2], root[:, 2], segment_scale)
    return keypoints(rot, pos, segment_scale)


POSE_CHANNELS = tuple(f"{name}_{ax}" for name, _, _ in KEYPOINTS for ax in "xyz")
SEGMENT_NAMES = tuple(SEGMENT_INDEX)


@dataclass(frozen=True)
class SensorErrors:
    """Known errors of one simulated IMU (what calibration must recover).

    Raw readings are ``gyro = true + gyro_bias_dps + noise``,
    ``acc = accel_matrix @ true + accel_bias_ms2 + noise`` (scale on the diagonal,
    misalignment off it), ``mag = soft_iron @ true + hard_iron_ut + noise`` (soft iron
    symmetric). Noise densities as in :class:`~wearsense.sim.SimConfig`. ``axes`` maps
    the physical axes onto the device's labelled ones for all three sensors (identity;
    ``diag(1, -1, 1)`` is a device whose axes are left-handed, a wiring mistake).
    """

    gyro_bias_dps: np.ndarray = field(default_factory=lambda: np.zeros(3))
    accel_bias_ms2: np.ndarray = field(default_factory=lambda: np.zeros(3))
    accel_matrix: np.ndarray = field(default_factory=lambda: np.eye(3))
    hard_iron_ut: np.ndarray = field(default_factory=lambda: np.zeros(3))
    soft_iron: np.ndarray = field(default_factory=lambda: np.eye(3))
    gyro_noise_dps_rthz: float = 0.007
    accel_noise_ug_rthz: float = 150.0
    mag_noise_ut: float = 0.3
    axes: np.ndarray = field(default_factory=lambda: np.eye(3))

    @staticmethod
    def scale_misalignment(scale: np.ndarray, misalign_rad: np.ndarray) -> np.ndarray:
        """``accel_matrix`` from per-axis scale factors (3,) and small misalignments
        (3,: yz, xz, xy pairs, radians; upper-triangular, the usual convention)."""
        s = np.asarray(scale, dtype=np.float64)
        a, b, c = np.asarray(misalign_rad, dtype=np.float64)
        return np.array([[1.0, -c, b], [0.0, 1.0, -a], [0.0, 0.0, 1.0]]) * s[:, None]


def apply_sensor_errors(
    acc: np.ndarray,
    gyro: np.ndarray,
    mag: np.ndarray,
    errors: SensorErrors,
    rate_hz: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Raw IMU samples (n, 9: acc m/s^2, gyro deg/s, mag µT) from true ones, with ``errors``."""
    n = acc.shape[0]
    white = np.sqrt(rate_hz / 2)
    g = gyro + errors.gyro_bias_dps + rng.standard_normal((n, 3)) * errors.gyro_noise_dps_rthz * white
    a = acc @ np.asarray(errors.accel_matrix).T + errors.accel_bias_ms2
    a += rng.standard_normal((n, 3)) * errors.accel_noise_ug_rthz * 1e-6 * GRAVITY * white
    m = mag @ np.asarray(errors.soft_iron).T + errors.hard_iron_ut
    m += rng.standard_normal((n, 3)) * errors.mag_noise_ut
    p = np.asarray(errors.axes, dtype=np.float64)
    return np.hstack([a @ p.T, g @ p.T, m @ p.T])


def imu_from_trajectory(
    t: np.ndarray, rot: np.ndarray, pos: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True specific force (m/s^2), angular rate (deg/s) and field (µT) in sensor axes from a
    sensor trajectory on a uniform grid: ``rot`` (n, 3, 3) sensor -> world, ``pos`` (n, 3) m.
    Central differences, as :func:`imu_kinematics`."""
    h = t[1] - t[0]
    acc = np.gradient(np.gradient(pos, h, axis=0), h, axis=0)
    rt = np.swapaxes(rot, 1, 2)
    f = np.einsum("nij,nj->ni", rt, acc - np.array([0.0, 0.0, -GRAVITY]))
    w = rt @ np.gradient(rot, h, axis=0)  # skew-symmetric: body angular velocity
    g = np.rad2deg(
        0.5 * np.stack([w[:, 2, 1] - w[:, 1, 2], w[:, 0, 2] - w[:, 2, 0], w[:, 1, 0] - w[:, 0, 1]], 1)
    )
    return f, g, rt @ EARTH_FIELD_UT

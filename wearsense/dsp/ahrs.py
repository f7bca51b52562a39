"""IMU orientation (AHRS) as a streaming stage, and helpers for segment angles.

Frame convention
----------------
- Quaternions are **scalar-first** ``(w, x, y, z)``, unit norm, and rotate **sensor
  to world**: a vector ``v_s`` in sensor axes is ``q ⊗ v_s ⊗ q*`` in world axes.
- The world frame is **ENU, z up**: x east, y (magnetic) north, z up. The
  accelerometer reads specific force, so a sensor lying flat at rest reads
  ``+9.81 m/s^2`` on z, and the identity quaternion means sensor axes = world axes.
- Inputs: accelerometer in m/s^2, gyroscope in deg/s, magnetometer in any unit (µT
  from the drivers; only its direction is used, its norm for rejection).

Filters (``AhrsSettings.method``)
---------------------------------
- ``"complementary"``: gyro integration with proportional feedback towards gravity
  (accelerometer) and magnetic north, in the form of x-io Fusion / Madgwick's revised
  AHRS (Madgwick, Harrison & Vaidyanathan 2011): the feedback is the cross product
  between measured and predicted directions; magnetic feedback only turns heading.
- ``"mahony"``: the same with an integral term on the feedback (Mahony, Hamel &
  Pflimlin 2008), which also tracks slow gyro bias.

Both add what high dynamics need: **gyro bias estimation at rest** (a low-pass of the
gyro while still for ``rest_s``), **accelerometer rejection** when the specific
force's norm departs from g or its direction from the predicted gravity (moving:
``"accelerometer ignored"``), **magnetic rejection** when the field's norm or dip
departs from the reference learnt at start (disturbed field), both with a recovery
timeout, and initial alignment from the first sample (no start-up ramp). The whole
update runs in one numba kernel per chunk.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numba
import numpy as np

from wearsense.errors import StreamError
from wearsense.stream import Chunk, StreamInfo

__all__ = [
    "GRAVITY",
    "AhrsSettings",
    "AhrsState",
    "Ahrs",
    "quat_multiply",
    "quat_conjugate",
    "quat_rotate",
    "angle_between_deg",
    "relative_quat",
    "segment_orientation",
    "tilt_deg",
    "heading_deg",
    "joint_angles_deg",
]

GRAVITY = 9.80665
_METHODS = {"complementary": 0, "mahony": 1}
# state vector layout
_Q = slice(0, 4)
_S_BIAS = 4  # 3 values, deg/s
_S_INT = 7  # 3 values, integral feedback (rad/s)
_S_REST = 10  # seconds still
_S_ACC_REJ = 11  # seconds accelerometer rejected
_S_MAG_REJ = 12  # seconds magnetometer rejected
_S_INIT = 13  # 1 once aligned
_S_MAG_NORM = 14  # reference field norm
_S_MAG_DIP = 15  # reference dip (sin of angle between field and up)
_S_REST_UP = 16  # 3 values: the accelerometer's direction when the still period began
_N_STATE = 19


@numba.njit(cache=True, inline="always")
def _cross(a0, a1, a2, b0, b1, b2):  # pragma: no cover - compiled
    return a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0


@numba.njit(cache=True, nogil=True)
def _ahrs_run(data, cols, dt, prm, st, out, flags):  # pragma: no cover - compiled
    """Run the filter over a block of raw IMU rows (columns ``cols``: acc xyz, gyro xyz,
    mag xyz or -1). ``prm``: see :meth:`Ahrs._params`; ``st``: state (updated).
    Returns -1, or the row of the first non-finite value (nothing processed then)."""
    n = data.shape[0]
    has_mag = cols[6] >= 0
    for i in range(n):
        for j in range(9 if has_mag else 6):
            if not math.isfinite(data[i, cols[j]]):
                return i
    d2r = math.pi / 180.0
    method = prm[0]
    kp = prm[1]
    ki = prm[2]
    acc_norm_tol = prm[3]
    acc_cos = prm[4]
    mag_norm_tol = prm[5]
    mag_dip_tol = prm[6]
    timeout = prm[7]
    rest_dps = prm[8]
    rest_s = prm[9]
    bias_tau = prm[10]
    rest_acc_tol = prm[11]
    rest_cos = prm[12]
    w, x, y, z = st[0], st[1], st[2], st[3]
    for i in range(n):
        ax, ay, az = data[i, cols[0]], data[i, cols[1]], data[i, cols[2]]
        an = math.sqrt(ax * ax + ay * ay + az * az)
        mx = my = mz = 0.0
        mn = 0.0
        if has_mag:
            mx, my, mz = data[i, cols[6]], data[i, cols[7]], data[i, cols[8]]
            mn = math.sqrt(mx * mx + my * my + mz * mz)
        if st[_S_INIT] == 0.0:
            if an < 1e-6:
                out[i, 0], out[i, 1], out[i, 2], out[i, 3] = w, x, y, z
                continue
            # TRIAD alignment: up = acc, east = mag x up, north = up x east (sensor-frame rows of R)
            ux, uy, uz = ax / an, ay / an, az / an
            if has_mag and mn > 1e-9:
                ex, ey, ez = _cross(mx, my, mz, ux, uy, uz)
                en = math.sqrt(ex * ex + ey * ey + ez * ez)
            else:
                en = 0.0
            if en < 1e-9:
                # no heading: east along the sensor x axis projected on the horizontal
                ex, ey, ez = 1.0 - ux * ux, -ux * uy, -ux * uz
                en = math.sqrt(ex * ex + ey * ey + ez * ez)
                if en < 1e-9:
                    ex, ey, ez = -uy * ux, 1.0 - uy * uy, -uy * uz
                    en = math.sqrt(ex * ex + ey * ey + ez * ez)
            ex, ey, ez = ex / en, ey / en, ez / en
            nx, ny, nz = _cross(ux, uy, uz, ex, ey, ez)
            # R rows: east, north, up (world axes in sensor coordinates)
            r00, r01, r02 = ex, ey, ez
            r10, r11, r12 = nx, ny, nz
            r20, r21, r22 = ux, uy, uz
            tr = r00 + r11 + r22
            if tr > 0:
                s = math.sqrt(tr + 1.0) * 2
                w, x, y, z = 0.25 * s, (r21 - r12) / s, (r02 - r20) / s, (r10 - r01) / s
            elif r00 > r11 and r00 > r22:
                s = math.sqrt(1.0 + r00 - r11 - r22) * 2
                w, x, y, z = (r21 - r12) / s, 0.25 * s, (r01 + r10) / s, (r02 + r20) / s
            elif r11 > r22:
                s = math.sqrt(1.0 + r11 - r00 - r22) * 2
                w, x, y, z = (r02 - r20) / s, (r01 + r10) / s, 0.25 * s, (r12 + r21) / s
            else:
                s = math.sqrt(1.0 + r22 - r00 - r11) * 2
                w, x, y, z = (r10 - r01) / s, (r02 + r20) / s, (r12 + r21) / s, 0.25 * s
            if has_mag and mn > 1e-9:
                st[_S_MAG_NORM] = mn
                st[_S_MAG_DIP] = (mx * ux + my * uy + mz * uz) / mn
            st[_S_INIT] = 1.0
            out[i, 0], out[i, 1], out[i, 2], out[i, 3] = w, x, y, z
            continue
        # gyro bias at rest --------------------------------------------------------
        gx = data[i, cols[3]] - st[_S_BIAS]
        gy = data[i, cols[4]] - st[_S_BIAS + 1]
        gz = data[i, cols[5]] - st[_S_BIAS + 2]
        still = (abs(gx) < rest_dps and abs(gy) < rest_dps and abs(gz) < rest_dps
                 and abs(an - 9.80665) < rest_acc_tol)
        if still:
            # a slow turn reads as "still" to the gyro test once the bias has followed it;
            # gravity's direction does not lie: it must stay where the still period began
            ux, uy, uz = ax / an, ay / an, az / an
            if st[_S_REST] == 0.0:
                st[_S_REST_UP], st[_S_REST_UP + 1], st[_S_REST_UP + 2] = ux, uy, uz
            elif ux * st[_S_REST_UP] + uy * st[_S_REST_UP + 1] + uz * st[_S_REST_UP + 2] < rest_cos:
                still = False
        if still:
            st[_S_REST] += dt
            if st[_S_REST] >= rest_s:
                k = dt / bias_tau
                st[_S_BIAS] += k * gx
                st[_S_BIAS + 1] += k * gy
                st[_S_BIAS + 2] += k * gz
        else:
            st[_S_REST] = 0.0
        gx *= d2r
        gy *= d2r
        gz *= d2r
        # feedback ---------------------------------------------------------------
        fx = fy = fz = 0.0
        acc_used = 0
        mag_used = 0
        if an > 1e-6:
            # predicted up (world z) in sensor axes: third row of R(q)
            vx = 2.0 * (x * z - w * y)
            vy = 2.0 * (y * z + w * x)
            vz = w * w - x * x - y * y + z * z
            ux, uy, uz = ax / an, ay / an, az / an
            cosang = ux * vx + uy * vy + uz * vz
            ok = abs(an - 9.80665) <= acc_norm_tol and cosang >= acc_cos
            if ok or st[_S_ACC_REJ] > timeout:
                # after the timeout the accelerometer is used on every sample until the
                # estimate agrees with it again (recovery: one sample per timeout would let
                # a gyro-bias drift carry the tilt away for good)
                fx, fy, fz = _cross(ux, uy, uz, vx, vy, vz)  # the first feedback term
                acc_used = 1
                if ok:
                    st[_S_ACC_REJ] = 0.0
            else:
                st[_S_ACC_REJ] += dt
            if has_mag and mn > 1e-9:
                dip = (mx * vx + my * vy + mz * vz) / mn
                ok_m = (abs(mn - st[_S_MAG_NORM]) <= mag_norm_tol * st[_S_MAG_NORM]
                        and abs(dip - st[_S_MAG_DIP]) <= mag_dip_tol)
                if ok_m or st[_S_MAG_REJ] > timeout:
                    # measured east = mag x up(predicted); predicted east = first row of R(q)
                    cx, cy, cz = _cross(mx, my, mz, vx, vy, vz)
                    cn = math.sqrt(cx * cx + cy * cy + cz * cz)
                    if cn > 1e-9:
                        cx, cy, cz = cx / cn, cy / cn, cz / cn
                        px = w * w + x * x - y * y - z * z
                        py = 2.0 * (x * y - w * z)
                        pz = 2.0 * (x * z + w * y)
                        ex, ey, ez = _cross(cx, cy, cz, px, py, pz)
                        fx += ex
                        fy += ey
                        fz += ez
                        mag_used = 1
                    st[_S_MAG_REJ] = 0.0
                else:
                    st[_S_MAG_REJ] += dt
        if method == 1:
            st[_S_INT] += ki * fx * dt
            st[_S_INT + 1] += ki * fy * dt
            st[_S_INT + 2] += ki * fz * dt
        gx += kp * fx + st[_S_INT]
        gy += kp * fy + st[_S_INT + 1]
        gz += kp * fz + st[_S_INT + 2]
        # integrate q' = 0.5 q (x) (0, g) ---------------------------------------------
        hx, hy, hz = 0.5 * dt * gx, 0.5 * dt * gy, 0.5 * dt * gz
        nw = w - x * hx - y * hy - z * hz
        nx = x + w * hx + y * hz - z * hy
        ny = y + w * hy - x * hz + z * hx
        nz = z + w * hz + x * hy - y * hx
        norm = 1.0 / math.sqrt(nw * nw + nx * nx + ny * ny + nz * nz)
        w, x, y, z = nw * norm, nx * norm, ny * norm, nz * norm
        out[i, 0], out[i, 1], out[i, 2], out[i, 3] = w, x, y, z
        flags[i, 0] = 1 - acc_used
        flags[i, 1] = (1 - mag_used) if has_mag else 1
        flags[i, 2] = 1 if still else 0
    st[0], st[1], st[2], st[3] = w, x, y, z
    return -1


@dataclass(frozen=True)
class AhrsSettings:
    """Settings of :class:`Ahrs`.

    Parameters
    ----------
    method : {"complementary", "mahony"}
    gain : float
        Proportional feedback gain (rad/s per unit error); 0.5 like x-io Fusion.
    integral_gain : float
        Integral gain (``"mahony"`` only).
    acc_norm_tol : float
        Reject the accelerometer when ``| |a| - g |`` exceeds this (m/s^2).
    acc_rejection_deg : float
        ... or when it points more than this away from the predicted gravity.
    mag_norm_tol : float
        Reject the magnetometer when its norm departs from the reference by more than
        this fraction ...
    mag_dip_tol : float
        ... or its dip (cosine of the angle to up) by more than this.
    rejection_timeout_s : float
        After this long rejected, the accelerometer is used on every sample until the
        estimate agrees with it again (recovery); the magnetometer for one sample.
    rest_dps : float
        Still when every gyro axis (bias removed) stays below this (deg/s) ...
    rest_acc_tol : float
        ... and ``| |a| - g |`` below this (m/s^2) ...
    rest_tilt_deg : float
        ... and the accelerometer's direction stays within this of where it was when the
        still period began (deg; a slow turn below ``rest_dps`` is not rest: without this
        the bias would follow the turn and keep the error once it ends) ...
    rest_s : float
        ... for this long; then the bias follows the gyro with time constant
        ``bias_tau_s``.
    use_timestamps : bool
        Integrate over the chunk's timestamp differences instead of ``1/rate_hz``.
    """

    method: str = "complementary"
    gain: float = 0.5
    integral_gain: float = 0.05
    acc_norm_tol: float = 0.8
    acc_rejection_deg: float = 10.0
    mag_norm_tol: float = 0.1
    mag_dip_tol: float = 0.1
    rejection_timeout_s: float = 5.0
    rest_dps: float = 3.0
    rest_acc_tol: float = 0.3
    rest_s: float = 1.0
    bias_tau_s: float = 1.0
    rest_tilt_deg: float = 1.0
    use_timestamps: bool = False


@dataclass
class AhrsState:
    """Inspectable state of :class:`Ahrs`.

    Attributes
    ----------
    quaternion : ndarray (4,)
        Latest orientation, scalar-first, sensor to world (ENU).
    gyro_bias_dps : ndarray (3,)
        Estimated gyro bias (deg/s).
    accelerometer_ignored, magnetometer_ignored, at_rest : bool
        Flags after the latest sample (for a live view: "accelerometer ignored: moving").
    last_flags : ndarray (n, 3) of int8
        The same flags for every sample of the latest chunk.
    """

    vector: np.ndarray = field(default_factory=lambda: _initial_state())
    last_flags: np.ndarray = field(default_factory=lambda: np.zeros((0, 3), np.int8))
    n_samples: int = 0

    @property
    def quaternion(self) -> np.ndarray:
        return self.vector[_Q].copy()

    @property
    def gyro_bias_dps(self) -> np.ndarray:
        return self.vector[_S_BIAS:_S_BIAS + 3].copy()

    @property
    def accelerometer_ignored(self) -> bool:
        return bool(self.last_flags[-1, 0]) if len(self.last_flags) else False

    @property
    def magnetometer_ignored(self) -> bool:
        return bool(self.last_flags[-1, 1]) if len(self.last_flags) else False

    @property
    def at_rest(self) -> bool:
        return bool(self.last_flags[-1, 2]) if len(self.last_flags) else False


def _initial_state() -> np.ndarray:
    v = np.zeros(_N_STATE)
    v[0] = 1.0
    return v


def _find(info: StreamInfo, names: tuple[str, ...], required: bool) -> list[int] | None:
    cols = []
    for name in names:
        hits = [i for i, c in enumerate(info.channels) if c == name or c.endswith("_" + name)]
        if len(hits) != 1:
            if not required:
                return None
            raise StreamError(
                f"Ahrs: stream {info.name!r} needs one channel named {name!r} (or ending in '_{name}'), "
                f"found {len(hits)}; channels: {', '.join(info.channels)}"
            )
        cols.append(hits[0])
    return cols


class Ahrs:
    """Streaming orientation filter: IMU chunks in, quaternions ``(w, x, y, z)`` out.

    Parameters
    ----------
    info : StreamInfo
        The IMU stream; channels found by label (``acc_x..z``, ``gyro_x..z``,
        optional ``mag_x..z``, possibly prefixed, e.g. ``imu0_acc_x``).
    settings : AhrsSettings
    use_magnetometer : bool
        Use the magnetometer when the stream has one.

    ``process`` returns a chunk with channels ``qw, qx, qy, qz`` (scalar-first, sensor
    to world ENU) at the input timestamps.
    """

    channels = ("qw", "qx", "qy", "qz")

    def __init__(self, info: StreamInfo, settings: AhrsSettings = AhrsSettings(),
                 use_magnetometer: bool = True) -> None:
        if settings.method not in _METHODS:
            raise StreamError(f"AHRS method must be one of {sorted(_METHODS)}, got {settings.method!r}")
        if info.rate_hz <= 0 and not settings.use_timestamps:
            raise StreamError(f"Ahrs: stream {info.name!r} has no nominal rate; set use_timestamps=True")
        if settings.gain < 0 or settings.integral_gain < 0:
            raise StreamError("Ahrs gains must be >= 0")
        self.info = info
        self.settings = settings
        self._acc = _find(info, ("acc_x", "acc_y", "acc_z"), True)
        self._gyr = _find(info, ("gyro_x", "gyro_y", "gyro_z"), True)
        self._mag = _find(info, ("mag_x", "mag_y", "mag_z"), False) if use_magnetometer else None
        self.rate_hz = info.rate_hz
        self._n_ch = info.n_channels
        self._cols = np.array(self._acc + self._gyr + (self._mag or [-1, -1, -1]), np.int64)
        self._prm = self._params()
        self._dt = 1.0 / self.rate_hz if self.rate_hz > 0 else 0.0
        self.reset()

    def reset(self) -> None:
        """Forget orientation, bias and timers (the next sample re-aligns)."""
        self.state = AhrsState()
        self._last_t: float | None = None

    def _params(self) -> np.ndarray:
        s = self.settings
        return np.array([
            _METHODS[s.method], s.gain, s.integral_gain, s.acc_norm_tol,
            math.cos(math.radians(s.acc_rejection_deg)), s.mag_norm_tol, s.mag_dip_tol,
            s.rejection_timeout_s, s.rest_dps, s.rest_s, s.bias_tau_s, s.rest_acc_tol,
            math.cos(math.radians(s.rest_tilt_deg)),
        ])

    def process(self, chunk: Chunk) -> Chunk:
        """Update with one IMU chunk; returns orientation quaternions at its timestamps."""
        d = chunk.data
        if d.shape[1] != self._n_ch:
            self.info.check(chunk)
        q = np.empty((chunk.n, 4))
        flags = np.zeros((chunk.n, 3), np.int8)
        st = self.state
        if self.settings.use_timestamps:
            # runs of equal time step share one kernel call
            t = chunk.t
            first = t[0] - 1 / self.rate_hz if self.rate_hz else t[0]
            prev = self._last_t if self._last_t is not None else first
            dts = np.diff(np.r_[prev, t])
            edges = np.r_[0, np.flatnonzero(np.diff(dts)) + 1, chunk.n]
            for a, z in zip(edges[:-1], edges[1:]):
                if z > a:
                    bad = _ahrs_run(d[a:z], self._cols, float(dts[a]), self._prm, st.vector, q[a:z],
                                    flags[a:z])
                    if bad >= 0:
                        self._raise_bad(chunk, a + bad)
            if chunk.n:
                self._last_t = float(t[-1])
        else:
            bad = _ahrs_run(d, self._cols, self._dt, self._prm, st.vector, q, flags)
            if bad >= 0:
                self._raise_bad(chunk, bad)
        st.last_flags = flags
        st.n_samples += chunk.n
        return chunk.with_data(q)

    def _raise_bad(self, chunk: Chunk, row: int) -> None:
        raise StreamError(
            f"Ahrs: non-finite IMU sample at t={chunk.t[row]:.6f} s in stream {self.info.name!r}; "
            "drop or repair it before the orientation filter (the state was left as before that sample)"
        )

    def output_info(self) -> StreamInfo:
        """StreamInfo of the quaternion output."""
        return StreamInfo(f"{self.info.name}-orientation", "OTHER", self.channels, "1", self.info.rate_hz,
                          self.info.source_id, {"frame": "sensor->world ENU, z up, scalar-first"})


# --------------------------------------------------------------------------- helpers
def quat_multiply(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hamilton product ``p ⊗ q`` of scalar-first quaternions, shape (..., 4)."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    pw, px, py, pz = np.moveaxis(p, -1, 0)
    qw, qx, qy, qz = np.moveaxis(q, -1, 0)
    return np.stack([
        pw * qw - px * qx - py * qy - pz * qz,
        pw * qx + px * qw + py * qz - pz * qy,
        pw * qy - px * qz + py * qw + pz * qx,
        pw * qz + px * qy - py * qx + pz * qw,
    ], axis=-1)


def quat_conjugate(q: np.ndarray) -> np.ndarray:
    """Inverse of a unit quaternion (scalar-first)."""
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def quat_rotate(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (..., 3) by ``q`` (sensor axes -> world axes)."""
    v = np.asarray(v, dtype=np.float64)
    vq = np.concatenate([np.zeros(v.shape[:-1] + (1,)), v], axis=-1)
    return quat_multiply(quat_multiply(q, vq), quat_conjugate(q))[..., 1:]


def angle_between_deg(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """Geodesic angle (deg) between orientations (sign of q ignored)."""
    d = np.abs(np.sum(np.asarray(q1, dtype=np.float64) * np.asarray(q2, dtype=np.float64), axis=-1))
    return np.degrees(2 * np.arccos(np.clip(d, 0.0, 1.0)))


def relative_quat(q_parent: np.ndarray, q_child: np.ndarray) -> np.ndarray:
    """Orientation of the child in the parent's frame: ``q_parent* ⊗ q_child``."""
    return quat_multiply(quat_conjugate(q_parent), q_child)


def segment_orientation(q_sensor: np.ndarray, sensor_to_segment: np.ndarray) -> np.ndarray:
    """Segment-to-world orientation from the sensor's, given the sensor-to-segment rotation (3x3).

    With ``v_segment = M v_sensor``, ``R_segment->world = R_sensor->world M^T``.
    """
    from scipy.spatial.transform import Rotation

    m = Rotation.from_matrix(np.asarray(sensor_to_segment, dtype=np.float64)).as_quat(scalar_first=True)
    return quat_multiply(q_sensor, quat_conjugate(m))


def tilt_deg(q: np.ndarray, axis: int = 2) -> np.ndarray:
    """Angle (deg) between a sensor axis (0=x, 1=y, 2=z) and world up."""
    e = np.zeros(3)
    e[axis] = 1.0
    up = quat_rotate(q, np.broadcast_to(e, np.shape(q)[:-1] + (3,)))[..., 2]
    return np.degrees(np.arccos(np.clip(up, -1.0, 1.0)))


def heading_deg(q: np.ndarray) -> np.ndarray:
    """Heading (deg) of the sensor x axis: 0 = east, 90 = north (counter-clockwise from above, ENU)."""
    fwd = quat_rotate(q, np.broadcast_to(np.array([1.0, 0, 0]), np.shape(q)[:-1] + (3,)))
    return np.degrees(np.arctan2(fwd[..., 1], fwd[..., 0]))


def joint_angles_deg(q_parent: np.ndarray, q_child: np.ndarray, seq: str = "ZXY") -> np.ndarray:
    """Joint angles (deg) as intrinsic Euler angles ``seq`` of the child relative to the parent.

    ``"ZXY"`` gives flexion/extension about the segment z axis first, then
    ab/adduction and axial rotation (ISB-style ordering; Wu et al. 2005), when the
    segment frames follow that convention.
    """
    from scipy.spatial.transform import Rotation

    rel = relative_quat(q_parent, q_child)
    return Rotation.from_quat(rel.reshape(-1, 4), scalar_first=True).as_euler(seq, degrees=True).reshape(
        np.shape(rel)[:-1] + (3,)
    )

"""Ground contact of the virtual mover: a ground reaction force at each foot in stance.

A reduced model in the spirit of :mod:`wearsense.sim.muscles` (no rigid-body engine).
Per physics row, from the *planned* joint angles and root motion:

1. **centre of mass** (sagittal, in the body's heading frame): the pelvis, raised and
   lowered by the legs exactly as :func:`~wearsense.sim.body.forward_kinematics` keeps
   the lower ankle on the floor, plus the head–arms–trunk mass (62 % of the body, its
   centre 0.30 m up the trunk) carried forward by trunk flexion; quiet standing puts it
   4 cm in front of the ankles (Winter 1995);
2. **total ground reaction force** ``F = m (g + a_z, a_x)`` from the centre of mass's
   vertical and forward accelerations (second differences, root motion of steps
   included);
3. **weight shift**: each foot's share ``w = smoothstep(1 − lift / 3 cm)``, normalised
   over both feet, ``lift`` its ankle's height above the lower one: a lifted foot carries
   nothing, two planted feet share the load equally;
4. **centre of pressure**: under the centre of mass, shifted by the horizontal force
   (``x_cop = x_com − h_com a_x / (g + a_z)``), clipped to the foot (heel −5 cm to toe
   +20 cm of the ankle);
5. **joint torques**: the foot's share of the force about its ankle, knee and hip in the
   leg's sagittal plane — ``τ = Jᵀ F``, the transpose of the Jacobian from the joint
   angles to the contact point — signed like the gravity load (positive where it pushes
   the joint into its positive direction: a loaded knee flexes) and divided by the
   torque one unit of activation balances (:data:`MAX_TORQUE_NM`) to give activation
   units, so it joins the gravity load of the joint equation. Near full extension a knee
   extending moment is left to the locked knee (no hamstring drive in quiet standing).

Leg segments' own masses, the frontal plane (hip abduction under single-leg stance) and
friction limits are left out; feet never slip or leave the floor by dynamics.
"""

from __future__ import annotations

import numba
import numpy as np

from wearsense.sim.body import JOINT_INDEX, JOINTS

__all__ = ["GRAVITY", "MAX_TORQUE_NM", "ground_reaction"]

GRAVITY = 9.81
#: Torque (N·m) that one unit of activation balances in the joint equation of the reference mover
#: (× strength). Hip and ankle: about their maximal voluntary torques (hip extension ≈ 200,
#: plantar flexion ≈ 150 N·m; Anderson et al. 2007). Knee: set so that the reference mover's
#: two-legged deep squat loads the knee as the fixed weight-bearing gravity term did before
#: (0.75 activation at 95°): this model's joints hold a posture against a passive spring towards
#: rest (a stand-in for postural control) that a real knee does not have, and the knee's ground
#: moment arm in a squat (~0.15 m) is small beside the thigh length that term assumed.
MAX_TORQUE_NM = {"hip_flex": 200.0, "knee_flex": 56.0, "ankle_dorsi": 150.0}
#: Below this knee flexion (deg) an extending ground moment is taken up by the locked knee's
#: ligaments, not by the knee flexors (quiet standing with the load line in front of the knee).
_KNEE_LOCK_DEG = 15.0
_HAT_FRACTION = 0.52  # head, neck and trunk
_HAT_COM_M = 0.30
_ARM_FRACTION = 0.05  # each arm, its centre 0.3 m from the shoulder
_ARM_COM_M = 0.30
_SHOULDER_M = 0.55
_THIGH_FRACTION = 0.10
_SHANK_FRACTION = 0.06  # shank and foot
_STANDING_COM_FORWARD_M = 0.04  # quiet standing: 4 cm in front of the ankles
_LIFT_M = 0.03
_HEEL_M, _TOE_M = -0.05, 0.20
_HIP_DOWN_M = 0.05
_LEG_M = 0.42
_ANKLE_M = 0.08


def ground_reaction(
    angles_deg: np.ndarray,
    root: np.ndarray,
    dt: float,
    mass_kg: float = 75.0,
    height_m: float = 1.75,
    strength: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Ground reaction force per foot and its load on the leg joints.

    Parameters
    ----------
    angles_deg : ndarray (n, len(JOINTS))
        Planned joint angles (deg) on a uniform grid of step ``dt`` (s).
    root : ndarray (n, 3)
        Planned root x, y (m) and heading (rad) on the same grid.
    mass_kg, height_m, strength : float
        The mover's body (segment lengths scale with height) and strength.

    Returns
    -------
    grf : ndarray (n, 2, 2)
        Ground reaction force (N) on the right (0) and left (1) foot: forward (along the
        heading) and vertical components. The first and last rows repeat their
        neighbours' accelerations.
    load : ndarray (n, len(JOINTS))
        Torque of the ground reaction on every joint in activation units (zero outside
        the hips, knees and ankles), to add to the gravity load.
    """
    n = angles_deg.shape[0]
    grf = np.empty((n, 2, 2))
    load = np.zeros((n, len(JOINTS)))
    if n == 0:
        return grf, load
    _ground_kernel(
        np.ascontiguousarray(angles_deg, dtype=np.float64),
        np.ascontiguousarray(root, dtype=np.float64),
        float(dt),
        float(mass_kg),
        height_m / 1.75,
        float(strength),
        _COLUMNS,
        _SIGNS,
        _TORQUES,
        grf,
        load,
    )
    return grf, load


#: joint columns: trunk, then per side (r, l) hip, knee, ankle, shoulder
_COLUMNS = np.array(
    [JOINT_INDEX["trunk_flex"]]
    + [
        JOINT_INDEX[f"{j}_{s}"]
        for s in "rl"
        for j in ("hip_flex", "knee_flex", "ankle_dorsi", "shoulder_flex")
    ],
    dtype=np.int64,
)
_SIGNS = np.array([JOINTS[JOINT_INDEX[f"{j}_r"]].sign for j in ("hip_flex", "knee_flex", "ankle_dorsi")])
_TORQUES = np.array([MAX_TORQUE_NM[j] for j in ("hip_flex", "knee_flex", "ankle_dorsi")])


@numba.njit(cache=True, nogil=True)
def _ground_kernel(
    deg, root, dt, mass, h, strength, col, sign, torque, grf, load
):  # pragma: no cover - compiled
    n = deg.shape[0]
    r = np.pi / 180.0
    leg, ankle_h, hat = _LEG_M * h, _ANKLE_M * h, _HAT_FRACTION * _HAT_COM_M * h
    share = np.empty((n, 2))
    wx = np.empty(n)
    wy = np.empty(n)
    wz = np.empty(n)
    for k in range(n):
        # weight shift: from the ankles' heights in the sim's (pelvis-anchored) kinematics
        z0 = 0.0
        z1 = 0.0
        for i in range(2):
            hip = deg[k, col[1 + 4 * i]] * r
            shank = hip - deg[k, col[2 + 4 * i]] * r
            z = -_HIP_DOWN_M * h - leg * np.cos(hip) - leg * np.cos(shank)
            if i == 0:
                z0 = z
            else:
                z1 = z
        low = min(z0, z1)
        w0 = min(max(1.0 - (z0 - low) / _LIFT_M, 0.0), 1.0)
        w1 = min(max(1.0 - (z1 - low) / _LIFT_M, 0.0), 1.0)
        w0 = w0 * w0 * (3.0 - 2.0 * w0)
        w1 = w1 * w1 * (3.0 - 2.0 * w1)
        share[k, 0] = w0 / (w0 + w1)
        share[k, 1] = w1 / (w0 + w1)
        # the centre of mass as it moves: pelvis raised by the legs, trunk lean, root motion
        trunk = deg[k, col[0]] * r
        wx[k] = root[k, 0] + np.cos(root[k, 2]) * hat * np.sin(trunk)
        wy[k] = root[k, 1] + np.sin(root[k, 2]) * hat * np.sin(trunk)
        wz[k] = -low + hat * np.cos(trunk)
    for k in range(n):
        if n < 3:
            ax = 0.0
            az = 0.0
        else:
            m = min(max(k, 1), n - 2)
            c, sn = np.cos(root[k, 2]), np.sin(root[k, 2])
            ax = (c * (wx[m + 1] - 2.0 * wx[m] + wx[m - 1]) + sn * (wy[m + 1] - 2.0 * wy[m] + wy[m - 1])) / (
                dt * dt
            )
            az = (wz[m + 1] - 2.0 * wz[m] + wz[m - 1]) / (dt * dt)
        fz = mass * max(GRAVITY + az, 0.0)
        fx = mass * ax
        trunk = deg[k, col[0]] * r
        for i in range(2):
            # the stance leg as a chain from its flat foot: ankle at (0, ankle height)
            tilt = deg[k, col[3 + 4 * i]] * r
            thigh = tilt - deg[k, col[2 + 4 * i]] * r
            lean = thigh + deg[k, col[1 + 4 * i]] * r + trunk
            kx, kz = leg * np.sin(tilt), ankle_h + leg * np.cos(tilt)
            hx, hz = kx + leg * np.sin(thigh), kz + leg * np.cos(thigh)
            sl, cl = np.sin(lean), np.cos(lean)
            tx, tz = hx + _HIP_DOWN_M * h * sl, hz + _HIP_DOWN_M * h * cl
            com_x = _HAT_FRACTION * (tx + _HAT_COM_M * h * sl)
            com_z = _HAT_FRACTION * (tz + _HAT_COM_M * h * cl)
            shx, shz = tx + _SHOULDER_M * h * sl, tz + _SHOULDER_M * h * cl
            for q in range(2):
                arm = deg[k, col[4 + 4 * q]] * r - lean
                com_x += _ARM_FRACTION * (shx + _ARM_COM_M * h * np.sin(arm))
                com_z += _ARM_FRACTION * (shz - _ARM_COM_M * h * np.cos(arm))
            # both legs counted as this one (the other leg's posture differs only in a step)
            com_x += 2 * (_THIGH_FRACTION * (hx + 0.43 * (kx - hx)) + _SHANK_FRACTION * 0.6 * kx)
            com_z += 2 * (
                _THIGH_FRACTION * (hz + 0.43 * (kz - hz)) + _SHANK_FRACTION * (ankle_h + 0.6 * (kz - ankle_h))
            )
            com_x += _STANDING_COM_FORWARD_M
            f_x, f_z = share[k, i] * fx, share[k, i] * fz
            grf[k, i, 0] = f_x
            grf[k, i, 1] = f_z
            cop = com_x - com_z * ax / max(GRAVITY + az, 1.0)
            cop = min(max(cop, _HEEL_M * h), _TOE_M * h)
            for q in range(3):
                if q == 0:
                    px, pz = hx, hz
                elif q == 1:
                    px, pz = kx, kz
                else:
                    px, pz = 0.0, ankle_h
                # moment about +y of the force at the centre of pressure, then the joint's sign
                m_y = -pz * f_x - (cop - px) * f_z
                v = sign[q] * m_y / (torque[q] * strength)
                if q == 1 and v < 0.0:  # a nearly straight knee's ligaments take an extending moment
                    v *= min(max(deg[k, col[2 + 4 * i]] / _KNEE_LOCK_DEG, 0.0), 1.0)
                load[k, col[1 + q + 4 * i]] = v

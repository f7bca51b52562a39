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
    rad = np.deg2rad(angles_deg)
    h = height_m / 1.75
    leg, ankle_h = _LEG_M * h, _ANKLE_M * h
    # weight shift: from the ankles' heights in the sim's (pelvis-anchored) kinematics
    ankle_z = []
    for s in "rl":
        hip = rad[:, JOINT_INDEX[f"hip_flex_{s}"]]
        shank = hip - rad[:, JOINT_INDEX[f"knee_flex_{s}"]]
        ankle_z.append(-_HIP_DOWN_M * h - leg * np.cos(hip) - leg * np.cos(shank))
    az_ = np.stack(ankle_z, 1)
    low = az_.min(axis=1)
    w = np.clip(1.0 - (az_ - low[:, None]) / _LIFT_M, 0.0, 1.0)
    w = w * w * (3.0 - 2.0 * w)
    share = w / w.sum(axis=1, keepdims=True)
    # accelerations of the centre of mass (pelvis, raised by the legs, plus the trunk's lean)
    trunk = rad[:, JOINT_INDEX["trunk_flex"]]
    hat = _HAT_FRACTION * _HAT_COM_M * h
    c, sn = np.cos(root[:, 2]), np.sin(root[:, 2])
    wx = root[:, 0] + c * hat * np.sin(trunk)
    wy = root[:, 1] + sn * hat * np.sin(trunk)
    acc_x = c * _second_difference(wx, dt) + sn * _second_difference(wy, dt)
    acc_z = _second_difference(-low + hat * np.cos(trunk), dt)
    fz = mass_kg * np.maximum(GRAVITY + acc_z, 0.0)
    fx = mass_kg * acc_x
    grf = np.empty((n, 2, 2))
    load = np.zeros((n, len(JOINTS)))
    for i, s in enumerate("rl"):
        # the stance leg as a chain from its flat foot: ankle at (0, ankle height)
        tilt = rad[:, JOINT_INDEX[f"ankle_dorsi_{s}"]]  # shank forward from vertical
        thigh = tilt - rad[:, JOINT_INDEX[f"knee_flex_{s}"]]  # knee-to-hip, forward from vertical
        lean = thigh + rad[:, JOINT_INDEX[f"hip_flex_{s}"]] + trunk  # trunk, forward from vertical
        kx, kz = leg * np.sin(tilt), ankle_h + leg * np.cos(tilt)
        hx, hz = kx + leg * np.sin(thigh), kz + leg * np.cos(thigh)
        tx, tz = hx + _HIP_DOWN_M * h * np.sin(lean), hz + _HIP_DOWN_M * h * np.cos(lean)
        com_x = _HAT_FRACTION * (tx + _HAT_COM_M * h * np.sin(lean))
        com_z = _HAT_FRACTION * (tz + _HAT_COM_M * h * np.cos(lean))
        for side in "rl":
            arm = rad[:, JOINT_INDEX[f"shoulder_flex_{side}"]] - lean
            shx, shz = tx + _SHOULDER_M * h * np.sin(lean), tz + _SHOULDER_M * h * np.cos(lean)
            com_x = com_x + _ARM_FRACTION * (shx + _ARM_COM_M * h * np.sin(arm))
            com_z = com_z + _ARM_FRACTION * (shz - _ARM_COM_M * h * np.cos(arm))
        # both legs counted as this one (the other leg's posture differs only in a step)
        com_x = com_x + 2 * (_THIGH_FRACTION * (hx + 0.43 * (kx - hx)) + _SHANK_FRACTION * 0.6 * kx)
        com_z = com_z + 2 * (
            _THIGH_FRACTION * (hz + 0.43 * (kz - hz)) + _SHANK_FRACTION * (ankle_h + 0.6 * (kz - ankle_h))
        )
        com_x = com_x + _STANDING_COM_FORWARD_M
        f_x, f_z = share[:, i] * fx, share[:, i] * fz
        grf[:, i, 0], grf[:, i, 1] = f_x, f_z
        cop = com_x - com_z * acc_x / np.maximum(GRAVITY + acc_z, 1.0)
        cop = np.clip(cop, _HEEL_M * h, _TOE_M * h)
        for joint, (px, pz) in {
            "hip_flex": (hx, hz),
            "knee_flex": (kx, kz),
            "ankle_dorsi": (0.0, ankle_h),
        }.items():
            j = JOINT_INDEX[f"{joint}_{s}"]
            # moment about +y of the force at the centre of pressure, then the joint's sign
            m_y = -pz * f_x - (cop - px) * f_z
            load[:, j] = JOINTS[j].sign * m_y / (MAX_TORQUE_NM[joint] * strength)
            if joint == "knee_flex":
                locked = np.clip(angles_deg[:, j] / _KNEE_LOCK_DEG, 0.0, 1.0)
                load[:, j] = np.where(load[:, j] < 0.0, load[:, j] * locked, load[:, j])
    return grf, load


def _second_difference(x: np.ndarray, dt: float) -> np.ndarray:
    a = np.empty_like(x)
    if x.shape[0] < 3:
        a[:] = 0.0
        return a
    a[1:-1] = (x[2:] - 2.0 * x[1:-1] + x[:-2]) / (dt * dt)
    a[0], a[-1] = a[1], a[-2]
    return a

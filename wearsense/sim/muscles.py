"""Muscles of the virtual mover: neural drive → activation → force → joint motion.

Every joint is moved by an agonist/antagonist pair of actuators. The chain, per
actuator, on the physics grid (``PHYSICS_RATE_HZ``):

1. **neural drive** ``u`` (0..1, fraction of maximal voluntary drive): what surface
   EMG measures; computed by inverting the chain below from the planned motion so the
   mover moves as planned, then clipped to 0..1;
2. **activation** ``a``: first-order dynamics with a faster rise than decay,
   ``da/dt = (u − a) / τ``, ``τ = τ_act`` when ``u > a`` else ``τ_deact``
   (Zajac 1989; τ_act ≈ 10–20 ms, τ_deact ≈ 40–80 ms);
3. **force** ``F(t) = a(t − EMD)``: the electromechanical delay (Cavanagh & Komi 1979);
4. **joint**: ``θ̈/ω² + 2ζθ̇/ω + (θ − θ_rest) = G (F_agonist − F_antagonist + L sin θ_plan)``,
   a second-order limb response per joint with a gravity load ``L`` (parameters in
   :class:`~wearsense.sim.body.Joint`): holding a squat takes the knee extensors,
   holding an arm up the shoulder flexors. The load is evaluated on the *planned*
   posture (an external torque that varies in time), which keeps the linear joint model
   stable where gravity would otherwise overpower its passive stiffness; legs are
   treated as weight-bearing throughout.

Because force is delayed by the EMD and built up by activation dynamics, drive (and
EMG) rises before the joint moves. Co-contraction adds equal activation to both
actuators of a joint: EMG rises, net torque and motion do not.

Both directions use the same backward-difference discretisation, so with no clipping
the forward simulation reproduces the plan exactly; with clipping (the plan asks for
more than maximal drive, or for faster relaxation than τ_deact allows) the motion lags
the plan as a real limb would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from wearsense.sim.body import JOINT_INDEX, JOINTS

__all__ = ["Muscle", "MUSCLES", "PHYSICS_RATE_HZ", "plan_drive", "simulate", "rest_activation", "MuscleState"]

PHYSICS_RATE_HZ = 1000.0


@dataclass(frozen=True)
class Muscle:
    """A recorded muscle: which actuator it observes and where the electrodes sit.

    ``direction`` is +1 for the actuator that increases the joint angle (agonist of
    flexion/abduction/dorsiflexion), −1 for its antagonist. ``placement`` follows the
    SENIAM recommendations (Hermens et al. 2000) where SENIAM covers the muscle.
    """

    name: str
    joint: str
    direction: int
    placement: str

    @property
    def actuator(self) -> int:
        """Column in the actuator arrays: 2·joint for +, 2·joint+1 for −."""
        return 2 * JOINT_INDEX[self.joint] + (0 if self.direction > 0 else 1)


def _limb(side: str) -> list[Muscle]:
    s = {"r": "right", "l": "left"}[side]
    return [
        Muscle(f"biceps_brachii_{side}", f"elbow_flex_{side}", +1,
               f"SENIAM biceps brachii ({s}): on the line from the medial acromion to the fossa cubit, 1/3 from the fossa cubit"),
        Muscle(f"triceps_brachii_{side}", f"elbow_flex_{side}", -1,
               f"SENIAM triceps brachii long head ({s}): 50% on the line from the posterior crista of the acromion to the olecranon, 2 finger widths medial"),
        Muscle(f"deltoid_anterior_{side}", f"shoulder_flex_{side}", +1,
               f"SENIAM deltoideus anterior ({s}): 1 finger width distal and anterior to the acromion"),
        Muscle(f"deltoid_posterior_{side}", f"shoulder_flex_{side}", -1,
               f"SENIAM deltoideus posterior ({s}): 2 finger widths behind the angle of the acromion"),
        Muscle(f"vastus_lateralis_{side}", f"knee_flex_{side}", -1,
               f"SENIAM vastus lateralis ({s}): 2/3 on the line from the anterior spina iliaca superior to the lateral patella"),
        Muscle(f"biceps_femoris_{side}", f"knee_flex_{side}", +1,
               f"SENIAM biceps femoris ({s}): 50% on the line from the ischial tuberosity to the lateral epicondyle of the tibia"),
        Muscle(f"tibialis_anterior_{side}", f"ankle_dorsi_{side}", +1,
               f"SENIAM tibialis anterior ({s}): 1/3 on the line from the tip of the fibula to the tip of the medial malleolus"),
        Muscle(f"gastrocnemius_medialis_{side}", f"ankle_dorsi_{side}", -1,
               f"SENIAM gastrocnemius medialis ({s}): on the most prominent bulge of the muscle"),
    ]


#: Recordable muscles, in the order ``emg=N`` takes them (the first 8 are the default).
MUSCLES: tuple[Muscle, ...] = tuple(
    _limb("r")
    + _limb("l")
    + [
        Muscle("erector_spinae_r", "trunk_flex", -1,
               "SENIAM longissimus (right): 2 finger widths lateral to the spinous process of L1"),
        Muscle("erector_spinae_l", "trunk_flex", -1,
               "SENIAM longissimus (left): 2 finger widths lateral to the spinous process of L1"),
        Muscle("rectus_abdominis_r", "trunk_flex", +1,
               "rectus abdominis (right; not in SENIAM): 3 cm lateral to the umbilicus"),
        Muscle("gluteus_medius_r", "hip_abd_r", +1,
               "SENIAM gluteus medius (right): 50% on the line from the crista iliaca to the trochanter"),
        Muscle("gluteus_medius_l", "hip_abd_l", +1,
               "SENIAM gluteus medius (left): 50% on the line from the crista iliaca to the trochanter"),
    ]
)


def _joint_coefficients(dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Backward-difference coefficients of the joint ODE, per joint (see module doc)."""
    w = 2 * np.pi * np.array([j.omega_hz for j in JOINTS])
    z = np.array([j.zeta for j in JOINTS])
    c2 = 1.0 / (w * w * dt * dt)
    c1 = 2.0 * z / (w * dt)
    gain = np.array([j.gain_deg for j in JOINTS])
    rest = np.array([j.rest_deg for j in JOINTS])
    load = np.array([j.load for j in JOINTS])
    return c2, c1, gain, rest, load, c2 + c1 + 1.0


def plan_drive(
    angles: np.ndarray,
    cocontraction: np.ndarray,
    prev_angles: np.ndarray,
    prev_target: np.ndarray,
    tone: float,
    tau_act_s: float,
    tau_deact_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Neural drive that makes the joints follow planned angles.

    Parameters
    ----------
    angles : ndarray (n, n_joints)
        Planned joint angles (deg) at *force* time: the grid is already shifted by the
        EMD, so row k is what the force must achieve EMD seconds after drive sample k.
    cocontraction : ndarray (n, n_joints)
        Co-contraction level per joint at force time.
    prev_angles : ndarray (2, n_joints)
        The two planned rows before this block (continuity of the differences).
    prev_target : ndarray (n_actuators,)
        Target activation of the last row of the previous block.
    tone : float
        Resting activation of every actuator (muscle tone).
    tau_act_s, tau_deact_s : float
        Activation and deactivation time constants (s).

    Returns
    -------
    drive : ndarray (n, 2 * n_joints)
        Neural drive per actuator, clipped to 0..1.
    target : ndarray (n, 2 * n_joints)
        Activation the plan asks for (for continuity into the next block).
    gravity : ndarray (n, n_joints)
        Gravity load (activation units) on the planned posture, at force time.
    """
    dt = 1.0 / PHYSICS_RATE_HZ
    c2, c1, gain, rest, load, _ = _joint_coefficients(dt)
    n, nj = angles.shape
    drive = np.empty((n, 2 * nj))
    target = np.empty((n, 2 * nj))
    gravity = np.empty((n, nj))
    _plan_kernel(np.ascontiguousarray(angles), np.ascontiguousarray(cocontraction), prev_angles, prev_target,
                 c2, c1, gain, rest, load, tone, tau_act_s / dt, tau_deact_s / dt, drive, target, gravity)
    return drive, target, gravity


@numba.njit(cache=True, nogil=True)
def _plan_kernel(angles, cocon, prev_angles, prev_target, c2, c1, gain, rest, load, tone, r_act, r_deact, drive, target, gravity):  # pragma: no cover - compiled
    n, nj = angles.shape
    for j in range(nj):
        t2 = prev_angles[0, j]
        t1 = prev_angles[1, j]
        ap = prev_target[2 * j]
        an = prev_target[2 * j + 1]
        for k in range(n):
            th = angles[k, j]
            g = load[j] * np.sin(t1 * (np.pi / 180.0))
            net = (c2[j] * (th - 2.0 * t1 + t2) + c1[j] * (th - t1) + (th - rest[j])) / gain[j] - g
            gravity[k, j] = g
            c = cocon[k, j] + tone
            tp = (net if net > 0.0 else 0.0) + c
            tn = (-net if net < 0.0 else 0.0) + c
            target[k, 2 * j] = tp
            target[k, 2 * j + 1] = tn
            up = ap + (tp - ap) * (r_act if tp > ap else r_deact)
            un = an + (tn - an) * (r_act if tn > an else r_deact)
            drive[k, 2 * j] = min(max(up, 0.0), 1.0)
            drive[k, 2 * j + 1] = min(max(un, 0.0), 1.0)
            ap, an = tp, tn
            t2, t1 = t1, th


@numba.njit(cache=True, nogil=True)
def _simulate_kernel(drive, gravity, act, delay_buf, delay_pos, theta, c2, c1, gain, rest, c0, k_act, k_deact, out_act, out_force, out_theta):  # pragma: no cover - compiled
    n, na = drive.shape
    nj = theta.shape[1]
    d = delay_buf.shape[0]
    for k in range(n):
        for m in range(na):
            u = drive[k, m]
            a = act[m]
            a += (u - a) * (k_act if u > a else k_deact)
            act[m] = a
            out_act[k, m] = a
            if d > 0:
                f = delay_buf[delay_pos, m]
                delay_buf[delay_pos, m] = a
            else:
                f = a
            out_force[k, m] = f
        if d > 0:
            delay_pos = (delay_pos + 1) % d
        for j in range(nj):
            x = gain[j] * (out_force[k, 2 * j] - out_force[k, 2 * j + 1] + gravity[k, j]) + rest[j]
            th = (x + c2[j] * (2.0 * theta[1, j] - theta[0, j]) + c1[j] * theta[1, j]) / c0[j]
            theta[0, j] = theta[1, j]
            theta[1, j] = th
            out_theta[k, j] = th
    return delay_pos


@dataclass
class MuscleState:
    """State of the forward simulation carried from block to block."""

    activation: np.ndarray  # (n_actuators,)
    delay_buf: np.ndarray  # (emd_samples, n_actuators): activations still in the EMD pipe
    delay_pos: int
    theta: np.ndarray  # (2, n_joints): last two joint angles (deg)
    gravity: np.ndarray  # (emd_samples, n_joints): planned gravity load still in the EMD pipe

    @classmethod
    def at_rest(cls, activation: np.ndarray, emd_samples: int) -> "MuscleState":
        """Standing still at the rest posture, holding it against gravity with ``activation``."""
        rest = np.array([j.rest_deg for j in JOINTS])
        load = np.array([j.load for j in JOINTS]) * np.sin(np.deg2rad(rest))
        return cls(activation.copy(), np.tile(activation, (emd_samples, 1)), 0, np.tile(rest, (2, 1)),
                   np.tile(load, (emd_samples, 1)))


def rest_activation(tone: float) -> np.ndarray:
    """Activation of every actuator that holds the rest posture still (tone + gravity)."""
    rest = np.array([j.rest_deg for j in JOINTS])
    hold = np.tile(rest, (3, 1))
    _, target, _ = plan_drive(hold[2:], np.zeros((1, len(JOINTS))), hold[:2], np.zeros(2 * len(JOINTS)), tone, 1.0, 1.0)
    return target[0]


def simulate(
    drive: np.ndarray, gravity: np.ndarray, state: MuscleState, tau_act_s: float, tau_deact_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward chain from drive: activation, force (EMD-delayed), joint angles (deg).

    ``gravity`` is :func:`plan_drive`'s load at force time; it reaches the joints
    after the EMD like the force it is balanced against. Updates ``state`` in place so
    consecutive blocks join seamlessly.
    """
    dt = 1.0 / PHYSICS_RATE_HZ
    c2, c1, gain, rest, _, c0 = _joint_coefficients(dt)
    n, na = drive.shape
    d = state.gravity.shape[0]
    pipe = np.concatenate([state.gravity, gravity])
    state.gravity = pipe[pipe.shape[0] - d :].copy()
    act = np.empty((n, na))
    force = np.empty((n, na))
    theta = np.empty((n, len(JOINTS)))
    state.delay_pos = _simulate_kernel(
        np.ascontiguousarray(drive), np.ascontiguousarray(pipe[:n]), state.activation, state.delay_buf, state.delay_pos, state.theta,
        c2, c1, gain, rest, c0, dt / tau_act_s, dt / tau_deact_s, act, force, theta,
    )
    return act, force, theta

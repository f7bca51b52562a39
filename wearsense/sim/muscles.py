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

__all__ = [
    "Muscle",
    "MUSCLES",
    "PHYSICS_RATE_HZ",
    "JointParams",
    "plan_drive",
    "simulate",
    "rest_activation",
    "MuscleState",
]

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
        Muscle(
            f"biceps_brachii_{side}",
            f"elbow_flex_{side}",
            +1,
            f"SENIAM biceps brachii ({s}): on the line from the medial acromion to the fossa "
            "cubit, 1/3 from the fossa cubit",
        ),
        Muscle(
            f"triceps_brachii_{side}",
            f"elbow_flex_{side}",
            -1,
            f"SENIAM triceps brachii long head ({s}): 50% on the line from the posterior crista "
            "of the acromion to the olecranon, 2 finger widths medial",
        ),
        Muscle(
            f"deltoid_anterior_{side}",
            f"shoulder_flex_{side}",
            +1,
            f"SENIAM deltoideus anterior ({s}): 1 finger width distal and anterior to the acromion",
        ),
        Muscle(
            f"deltoid_posterior_{side}",
            f"shoulder_flex_{side}",
            -1,
            f"SENIAM deltoideus posterior ({s}): 2 finger widths behind the angle of the acromion",
        ),
        Muscle(
            f"vastus_lateralis_{side}",
            f"knee_flex_{side}",
            -1,
            f"SENIAM vastus lateralis ({s}): 2/3 on the line from the anterior spina iliaca "
            "superior to the lateral patella",
        ),
        Muscle(
            f"biceps_femoris_{side}",
            f"knee_flex_{side}",
            +1,
            f"SENIAM biceps femoris ({s}): 50% on the line from the ischial tuberosity to the "
            "lateral epicondyle of the tibia",
        ),
        Muscle(
            f"tibialis_anterior_{side}",
            f"ankle_dorsi_{side}",
            +1,
            f"SENIAM tibialis anterior ({s}): 1/3 on the line from the tip of the fibula to the "
            "tip of the medial malleolus",
        ),
        Muscle(
            f"gastrocnemius_medialis_{side}",
            f"ankle_dorsi_{side}",
            -1,
            f"SENIAM gastrocnemius medialis ({s}): on the most prominent bulge of the muscle",
        ),
    ]


#: Recordable muscles, in the order ``emg=N`` takes them (the first 8 are the default).
MUSCLES: tuple[Muscle, ...] = tuple(
    _limb("r")
    + _limb("l")
    + [
        Muscle(
            "erector_spinae_r",
            "trunk_flex",
            -1,
            "SENIAM longissimus (right): 2 finger widths lateral to the spinous process of L1",
        ),
        Muscle(
            "erector_spinae_l",
            "trunk_flex",
            -1,
            "SENIAM longissimus (left): 2 finger widths lateral to the spinous process of L1",
        ),
        Muscle(
            "rectus_abdominis_r",
            "trunk_flex",
            +1,
            "rectus abdominis (right; not in SENIAM): 3 cm lateral to the umbilicus",
        ),
        Muscle(
            "gluteus_medius_r",
            "hip_abd_r",
            +1,
            "SENIAM gluteus medius (right): 50% on the line from the crista iliaca to the trochanter",
        ),
        Muscle(
            "gluteus_medius_l",
            "hip_abd_l",
            +1,
            "SENIAM gluteus medius (left): 50% on the line from the crista iliaca to the trochanter",
        ),
    ]
)


@dataclass(frozen=True)
class JointParams:
    """Per-joint coefficients of the joint ODE for one mover (see the module doc).

    ``c2 = 1/(ω dt)²`` and ``c1 = 2ζ/(ω dt)`` are the backward-difference weights,
    ``c0 = c2 + c1 + 1``; ``gain`` (deg per unit net activation), ``rest`` (deg) and
    ``load`` (gravity, activation units at sin(angle) = 1) as in
    :class:`~wearsense.sim.body.Joint`, scaled to the mover's body and strength.
    """

    c2: np.ndarray
    c1: np.ndarray
    gain: np.ndarray
    rest: np.ndarray
    load: np.ndarray
    c0: np.ndarray
    #: inertial coupling: joint d's equation gains ``coupling[d, p] · θ̈_p / ω_d²`` (interaction torques)
    coupling: np.ndarray = None  # type: ignore[assignment]
    #: joint whose angle adds to this joint's for gravity (the segment's absolute angle), −1 none
    gravity_parent: np.ndarray = None  # type: ignore[assignment]
    #: two-joint muscles: (source actuator, joint, ratio): the actuator's force also acts on the joint
    two_joint: np.ndarray = None  # type: ignore[assignment]
    #: short-range stiffness per unit co-contraction, relative to the passive stiffness
    cocontraction_stiffness: float = 0.0

    @classmethod
    def of(
        cls,
        height_m: float = 1.75,
        mass_kg: float = 75.0,
        strength: float = 1.0,
        dt: float = 1.0 / PHYSICS_RATE_HZ,
        coupled: bool = True,
        ground: bool = False,
    ) -> "JointParams":
        """Coefficients for a body of ``height_m`` and ``mass_kg`` with ``strength`` × the
        reference's maximal torques (reference: 1.75 m, 75 kg, 1.0).

        A longer limb swings slower (ω ∝ 1/√length, as a pendulum); a heavier, longer
        body needs more activation for the same acceleration (gain ∝ strength / (m l²))
        and to hold the same posture (load ∝ m l / strength).

        With ``ground=True`` the hips', knees' and ankles' loads are those of a swing leg
        (its own segments' weight, :data:`SWING_LOAD`): the body's weight reaches them only
        through the ground reaction force of :mod:`wearsense.sim.ground`.
        """
        h = height_m / 1.75
        m = mass_kg / 75.0
        w = 2 * np.pi * np.array([j.omega_hz for j in JOINTS]) / np.sqrt(h)
        z = np.array([j.zeta for j in JOINTS])
        c2 = 1.0 / (w * w * dt * dt)
        c1 = 2.0 * z / (w * dt)
        gain = np.array([j.gain_deg for j in JOINTS]) * strength / (m * h * h)
        rest = np.array([j.rest_deg for j in JOINTS])
        base = {j.name: j.load for j in JOINTS}
        if ground:
            for s in "rl":
                for name, value in SWING_LOAD.items():
                    base[f"{name}_{s}"] = value
        load = np.array([base[j.name] for j in JOINTS]) * m * h / strength
        nj = len(JOINTS)
        coupling = np.zeros((nj, nj))
        parent = np.full(nj, -1, np.int64)
        two = np.zeros((0, 3))
        kcc = 0.0
        if coupled:
            two_rows = []
            for s in "rl":
                names = ("shoulder_flex", "elbow_flex", "hip_flex", "knee_flex", "ankle_dorsi")
                sh, el, hip, kn, an = (JOINT_INDEX[f"{n}_{s}"] for n in names)
                for d, p, k in COUPLING:
                    coupling[JOINT_INDEX[f"{d}_{s}"], JOINT_INDEX[f"{p}_{s}"]] = k
                parent[el] = sh
                # biceps brachii (elbow +) also flexes the shoulder, triceps long head extends it;
                # hamstrings (knee +) extend the hip; gastrocnemius (ankle −) flexes the knee
                two_rows += [(2 * el, sh, 0.2), (2 * el + 1, sh, -0.2)]
                two_rows += [(2 * kn, hip, -0.5), (2 * an + 1, kn, 0.3)]
            two = np.array(two_rows, dtype=np.float64)
            kcc = COCONTRACTION_STIFFNESS
        return cls(c2, c1, gain, rest, load, c2 + c1 + 1.0, coupling, parent, two, kcc)


#: (distal or proximal joint, the joint whose acceleration drives it, coefficient): a reduced
#: two-link interaction torque. A fast shoulder flexion swings the forearm back (the elbow
#: extends) and the upper arm reacts to a fast elbow flexion; a fast hip flexion flexes the
#: knee (the shank lags, as in the swing phase of gait) and the thigh reacts to the knee.
#: Magnitudes from the inertia ratio (I₂ + m₂ l₁ c₂)/I₂ ≈ 1.5–2 of a two-link arm (Hollerbach
#: & Flash 1982) divided by this model's stiffer-than-real passive joints.
COUPLING: tuple[tuple[str, str, float], ...] = (
    ("elbow_flex", "shoulder_flex", -0.8),
    ("shoulder_flex", "elbow_flex", -0.25),
    ("knee_flex", "hip_flex", 0.6),
    ("hip_flex", "knee_flex", 0.2),
)
#: Added stiffness (× the passive stiffness) per unit of co-contraction (min of agonist and
#: antagonist force): co-contraction at 30 % of maximum makes a joint ~4 × stiffer, as
#: joint stiffness grows roughly linearly with co-activation (Hogan 1984; Gomi & Osu 1998).
COCONTRACTION_STIFFNESS = 10.0
#: Gravity load of a leg's own segments (activation units at sin(angle) = 1) when ground contact
#: carries the body's weight: a flexed swing thigh (12 kg, centre 0.2 m from the hip, ≈ 24 N·m of
#: the hip's 200) falls back, a flexed shank swings straight, the foot hangs.
SWING_LOAD = {"hip_flex": -0.12, "knee_flex": -0.08, "ankle_dorsi": 0.0}

REFERENCE_JOINTS = JointParams.of()


def plan_drive(
    angles: np.ndarray,
    cocontraction: np.ndarray,
    emd_samples: np.ndarray,
    tone: float,
    tau_act_s: float,
    tau_deact_s: float,
    joints: JointParams = REFERENCE_JOINTS,
    ground: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Neural drive that makes the joints follow planned angles.

    Parameters
    ----------
    angles : ndarray (n + 3 + max(emd_samples), n_joints)
        Planned joint angles (deg) on the physics grid in *true* time, starting three
        rows before the first drive row (the differences need two rows of history and
        the activation inversion one more) and reaching ``max(emd_samples)`` rows past
        the last: the drive of an actuator at row k is what its force must be
        ``emd_samples[m]`` rows later.
    cocontraction : ndarray, same shape as ``angles``
        Co-contraction level per joint (activation units) on the same grid.
    emd_samples : ndarray (2 * n_joints,) of int
        Electromechanical delay of each actuator, physics samples.
    tone : float
        Resting activation of every actuator (muscle tone).
    tau_act_s, tau_deact_s : float
        Activation and deactivation time constants (s).
    joints : JointParams
        The mover's joint coefficients.
    ground : ndarray, same shape as ``angles``, optional
        External load per joint (activation units) on the same grid, added to gravity:
        the ground reaction's torques (:func:`wearsense.sim.ground.ground_reaction`).

    Returns
    -------
    drive : ndarray (n, 2 * n_joints)
        Neural drive per actuator, clipped to 0..1.
    gravity : ndarray (n, n_joints)
        Gravity load (activation units) on the planned posture at the drive rows (it
        acts on the joints at that time, like the force it is balanced against).
    """
    dt = 1.0 / PHYSICS_RATE_HZ
    emd = np.ascontiguousarray(emd_samples, dtype=np.int64)
    rows, nj = angles.shape
    n = rows - 3 - int(emd.max())
    target = np.empty((rows, 2 * nj))
    grav = np.empty((rows, nj))
    if ground is None:
        ground = np.zeros((rows, nj))
    _target_kernel(
        np.ascontiguousarray(angles),
        np.ascontiguousarray(cocontraction),
        joints.c2,
        joints.c1,
        joints.gain,
        joints.rest,
        joints.load,
        tone,
        joints.coupling,
        joints.gravity_parent,
        joints.two_joint,
        np.ascontiguousarray(ground, dtype=np.float64),
        target,
        grav,
    )
    drive = np.empty((n, 2 * nj))
    _drive_kernel(target, emd, tau_act_s / dt, tau_deact_s / dt, drive)
    return drive, grav[3 : 3 + n].copy()


@numba.njit(cache=True, nogil=True)
def _target_kernel(  # pragma: no cover - compiled
    angles, cocon, c2, c1, gain, rest, load, tone, coupling, gparent, two, ground, target, gravity
):
    rows, nj = angles.shape
    coupled = np.zeros(nj, np.bool_)
    for j in range(nj):
        for p in range(nj):
            if coupling[j, p] != 0.0:
                coupled[j] = True
    # joints from last to first: a two-joint muscle's source actuator (a more distal joint)
    # has its target before the joint it also acts on
    for j in range(nj - 1, -1, -1):
        for k in range(rows):
            if k < 2:
                target[k, 2 * j] = tone
                target[k, 2 * j + 1] = tone
                gravity[k, j] = 0.0
                continue
            th = angles[k, j]
            t1 = angles[k - 1, j]
            t2 = angles[k - 2, j]
            a1 = t1 + (angles[k - 1, gparent[j]] if gparent[j] >= 0 else 0.0)
            g = load[j] * np.sin(a1 * (np.pi / 180.0)) + ground[k - 1, j]
            coup = 0.0
            for p in range(nj if coupled[j] else 0):
                if coupling[j, p] != 0.0:
                    if p < j:  # the proximal joint is already at step k in the forward pass
                        d2 = angles[k, p] - 2.0 * angles[k - 1, p] + angles[k - 2, p]
                    elif k >= 3:
                        d2 = angles[k - 1, p] - 2.0 * angles[k - 2, p] + angles[k - 3, p]
                    else:
                        d2 = 0.0
                    coup += coupling[j, p] * d2
            net = (c2[j] * (th - 2.0 * t1 + t2 - coup) + c1[j] * (th - t1) + (th - rest[j])) / gain[j] - g
            for r in range(two.shape[0]):
                if int(two[r, 1]) == j:
                    net -= two[r, 2] * target[k, int(two[r, 0])]
            gravity[k, j] = g
            c = cocon[k, j] + tone
            target[k, 2 * j] = (net if net > 0.0 else 0.0) + c
            target[k, 2 * j + 1] = (-net if net < 0.0 else 0.0) + c


@numba.njit(cache=True, nogil=True)
def _drive_kernel(target, emd, r_act, r_deact, drive):  # pragma: no cover - compiled
    n, na = drive.shape
    for m in range(na):
        d = emd[m]
        for k in range(n):
            tp = target[k + 3 + d, m]
            ap = target[k + 2 + d, m]
            u = ap + (tp - ap) * (r_act if tp > ap else r_deact)
            drive[k, m] = min(max(u, 0.0), 1.0)


@numba.njit(cache=True, nogil=True)
def _simulate_kernel(  # pragma: no cover - compiled
    drive,
    gravity,
    plan,
    external,
    act,
    delay_buf,
    delay_pos,
    emd,
    theta,
    c2,
    c1,
    gain,
    rest,
    c0,
    coupling,
    two,
    kcc,
    k_act,
    k_deact,
    out_act,
    out_force,
    out_theta,
):
    n, na = drive.shape
    nj = theta.shape[1]
    d = delay_buf.shape[0]
    cur = np.empty(nj)
    coupled = np.zeros(nj, np.bool_)
    for j in range(nj):
        for p in range(nj):
            if coupling[j, p] != 0.0:
                coupled[j] = True
    for k in range(n):
        for m in range(na):
            u = drive[k, m]
            a = act[m]
            a += (u - a) * (k_act if u > a else k_deact)
            act[m] = a
            out_act[k, m] = a
            delay_buf[delay_pos, m] = a
            out_force[k, m] = delay_buf[(delay_pos - emd[m] + d) % d, m]
        delay_pos = (delay_pos + 1) % d
        for j in range(nj):
            fp = out_force[k, 2 * j]
            fn = out_force[k, 2 * j + 1]
            net = fp - fn + gravity[k, j] + external[k, j]
            for r in range(two.shape[0]):
                if int(two[r, 1]) == j:
                    net += two[r, 2] * out_force[k, int(two[r, 0])]
            coup = 0.0
            for p in range(nj if coupled[j] else 0):
                if coupling[j, p] != 0.0:
                    if p < j:
                        d2 = cur[p] - 2.0 * theta[2, p] + theta[1, p]
                    else:
                        d2 = theta[2, p] - 2.0 * theta[1, p] + theta[0, p]
                    coup += coupling[j, p] * d2
            # short-range stiffness and damping (growing with its square root: the joint keeps
            # its damping ratio) about the planned motion, growing with co-contraction
            kk = kcc * (fp if fp < fn else fn)
            cv = c1[j] * (np.sqrt(1.0 + kk) - 1.0)
            dplan = plan[k, j] - plan[k - 1, j] if k > 0 else 0.0
            x = gain[j] * net + rest[j] + kk * plan[k, j] + c2[j] * coup + cv * (theta[2, j] + dplan)
            cur[j] = (x + c2[j] * (2.0 * theta[2, j] - theta[1, j]) + c1[j] * theta[2, j]) / (c0[j] + cv + kk)
        for j in range(nj):
            theta[0, j] = theta[1, j]
            theta[1, j] = theta[2, j]
            theta[2, j] = cur[j]
            out_theta[k, j] = cur[j]
    return delay_pos


@dataclass
class MuscleState:
    """State of the forward simulation carried from block to block."""

    activation: np.ndarray  # (n_actuators,)
    delay_buf: np.ndarray  # (max_emd + 1, n_actuators): ring of recent activations (the EMD pipe)
    delay_pos: int
    theta: np.ndarray  # (3, n_joints): last three joint angles (deg), oldest first

    @classmethod
    def at_rest(cls, activation: np.ndarray, max_emd_samples: int) -> "MuscleState":
        """Standing still at the rest posture, holding it against gravity with ``activation``."""
        rest = np.array([j.rest_deg for j in JOINTS])
        pipe = np.tile(activation, (int(max_emd_samples) + 1, 1))
        return cls(activation.copy(), pipe, 0, np.tile(rest, (3, 1)))


def rest_activation(
    tone: float, joints: JointParams = REFERENCE_JOINTS, ground: np.ndarray | None = None
) -> np.ndarray:
    """Activation of every actuator that holds the rest posture still (tone + gravity, plus
    ``ground``, the ground reaction's load per joint at rest, if given)."""
    rest = np.array([j.rest_deg for j in JOINTS])
    hold = np.tile(rest, (5, 1))
    no_delay = np.zeros(2 * len(JOINTS), np.int64)
    g = None if ground is None else np.tile(ground, (5, 1))
    drive, _ = plan_drive(hold, np.zeros_like(hold), no_delay, tone, 1e-3, 1e-3, joints, g)
    return drive[0]


def simulate(
    drive: np.ndarray,
    gravity: np.ndarray,
    state: MuscleState,
    emd_samples: np.ndarray,
    tau_act_s: float,
    tau_deact_s: float,
    joints: JointParams = REFERENCE_JOINTS,
    plan: np.ndarray | None = None,
    external: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward chain from drive: activation, force (EMD-delayed per actuator), joint angles (deg).

    ``gravity`` is :func:`plan_drive`'s load on the planned posture at each row;
    ``plan`` (n, n_joints) the planned angles, about which co-contraction stiffens each
    joint (default: the rest posture); ``external`` (n, n_joints) an external torque in
    activation units (a push, a perturbation). Updates ``state`` in place so consecutive
    blocks join seamlessly.
    """
    dt = 1.0 / PHYSICS_RATE_HZ
    n, na = drive.shape
    act = np.empty((n, na))
    force = np.empty((n, na))
    theta = np.empty((n, len(JOINTS)))
    if plan is None:
        plan = np.broadcast_to(joints.rest, (n, len(JOINTS)))
    if external is None:
        external = np.zeros((n, len(JOINTS)))
    state.delay_pos = _simulate_kernel(
        np.ascontiguousarray(drive),
        np.ascontiguousarray(gravity),
        np.ascontiguousarray(plan, dtype=np.float64),
        np.ascontiguousarray(external, dtype=np.float64),
        state.activation,
        state.delay_buf,
        state.delay_pos,
        np.ascontiguousarray(emd_samples, dtype=np.int64),
        state.theta,
        joints.c2,
        joints.c1,
        joints.gain,
        joints.rest,
        joints.c0,
        joints.coupling,
        joints.two_joint,
        joints.cocontraction_stiffness,
        dt / tau_act_s,
        dt / tau_deact_s,
        act,
        force,
        theta,
    )
    return act, force, theta

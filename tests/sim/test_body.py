"""The coupled body: interaction torques, two-joint muscles, stiffness that rises with co-contraction."""

import numpy as np
import pytest

from wearsense import sim
from wearsense.sim import muscles as mus
from wearsense.sim.body import JOINT_INDEX, JOINTS

N = 1500  # 1.5 s at 1 kHz
J = JOINT_INDEX


def run(coupled, pulses=(), cocontract=(), external=None):
    """From quiet standing; ``pulses``: (actuator, level, t0_s, dur_s) added to the drive."""
    jp = mus.JointParams.of(coupled=coupled)
    rest = mus.rest_activation(0.01, jp)
    drive = np.tile(rest, (N, 1))
    for act, level in cocontract:
        drive[:, act] += level
    for act, level, t0, dur in pulses:
        drive[int(t0 * 1000) : int((t0 + dur) * 1000), act] += level
    emd = np.full(2 * len(JOINTS), 50, np.int64)
    state = mus.MuscleState.at_rest(rest, 50)
    load = jp.load * np.sin(
        np.deg2rad(jp.rest + np.where(jp.gravity_parent >= 0, jp.rest[jp.gravity_parent], 0))
    )
    gravity = np.tile(load, (N, 1))
    # let any co-contraction settle before the test begins
    _, _, theta = mus.simulate(drive, gravity, state, emd, 0.015, 0.05, jp, external=external)
    return theta


def test_a_fast_shoulder_movement_swings_the_quiet_elbow():
    burst = [(2 * J["shoulder_flex_r"], 0.6, 0.3, 0.15), (2 * J["shoulder_flex_r"] + 1, 0.5, 0.5, 0.12)]
    coupled = run(True, burst)
    alone = run(False, burst)
    sh = coupled[:, J["shoulder_flex_r"]]
    el = coupled[:, J["elbow_flex_r"]]
    assert np.ptp(sh) > 20  # the shoulder moved fast
    assert np.ptp(el[250:]) > 5  # and the elbow, whose muscles stayed at rest, moved with it
    assert np.ptp(alone[250:, J["elbow_flex_r"]]) < 0.5  # independent joints: it would not
    # the forearm lags: as the shoulder accelerates into flexion, the elbow extends
    # (force arrives 50 ms after the drive at 0.3 s; the shoulder accelerates at 0.35-0.45 s)
    assert el[420] < el[300]


def test_co_contraction_stiffens_a_joint_against_a_perturbation():
    push = np.zeros((N, len(JOINTS)))
    push[800:900, J["elbow_flex_r"]] = 0.1  # an external torque for 100 ms
    el = J["elbow_flex_r"]
    relaxed = run(True, external=push)[:, el]
    braced = run(True, cocontract=[(2 * el, 0.3), (2 * el + 1, 0.3)], external=push)[:, el]
    d_relaxed = np.abs(relaxed[800:1300] - relaxed[790]).max()
    d_braced = np.abs(braced[800:1300] - braced[790]).max()
    assert d_relaxed > 1.0
    assert d_braced < 0.5 * d_relaxed
    # without the coupled body, co-contraction would not stiffen anything
    loose = run(False, cocontract=[(2 * el, 0.3), (2 * el + 1, 0.3)], external=push)[:, el]
    assert np.abs(loose[800:1300] - loose[790]).max() == pytest.approx(d_relaxed, rel=0.2)


def test_two_joint_muscles_act_on_both_joints():
    hamstrings = [(2 * J["knee_flex_r"], 0.3, 0.3, 0.6)]  # biceps femoris: flexes the knee ...
    coupled = run(True, hamstrings)
    hip = coupled[:, J["hip_flex_r"]]
    assert coupled[:, J["knee_flex_r"]].max() > 10
    assert hip.min() < -3  # ... and extends the hip
    assert np.abs(run(False, hamstrings)[:, J["hip_flex_r"]]).max() < 0.5


def test_the_coupled_mover_still_moves_as_planned():
    a = sim.generate(7, 30.0, moves=("reach",), tremor=0.0)
    b = sim.generate(7, 30.0, moves=("reach",), tremor=0.0, body="independent")
    diff = np.abs(a.truth.joint_angles - b.truth.joint_angles).max(axis=0)
    assert diff.max() < 10.0  # the planner compensates the coupling it knows
    assert np.ptp(a.truth.joint("shoulder_flex_r")) > 40
    with pytest.raises(Exception, match="body"):
        sim.generate(7, 1.0, body="ragdoll")

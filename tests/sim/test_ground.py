"""Ground contact: a ground reaction force at each foot in stance loads the leg joints."""

import numpy as np
import pytest

from wearsense import sim
from wearsense.errors import StreamError
from wearsense.sim import muscles as mus
from wearsense.sim.body import JOINT_INDEX as J
from wearsense.sim.body import JOINTS
from wearsense.sim.ground import GRAVITY, ground_reaction


def squat_hold(depth, ground=True):
    """Drive that holds a squat of ``depth`` (1 = hips 80°, knees 95°) still, two feet down."""
    jp = mus.JointParams.of(ground=ground)
    a = np.tile([j.rest_deg for j in JOINTS], (60, 1)).astype(float)
    for s in "rl":
        a[:, J[f"hip_flex_{s}"]] = 80 * depth
        a[:, J[f"knee_flex_{s}"]] = max(95 * depth, 2.0)
        a[:, J[f"ankle_dorsi_{s}"]] = 22 * depth
    a[:, J["trunk_flex"]] = 30 * depth
    load = ground_reaction(a, np.zeros((60, 3)), 1e-3)[1] if ground else None
    emd = np.full(2 * len(JOINTS), 40, np.int64)
    drive, _ = mus.plan_drive(a, np.zeros_like(a), emd, 0.01, 0.015, 0.05, jp, load)
    return drive[-1]


def test_a_deep_squat_needs_much_more_vastus_drive_than_a_shallow_one():
    vastus = 2 * J["knee_flex_r"] + 1  # the knee extensor actuator (vastus lateralis)
    deep, shallow = squat_hold(1.0)[vastus], squat_hold(0.3)[vastus]
    assert deep > 2 * shallow
    assert deep > 0.3


def test_the_ground_force_scales_with_body_mass_and_acceleration():
    a = np.tile([j.rest_deg for j in JOINTS], (400, 1)).astype(float)
    t = np.arange(400) * 1e-3
    # a knee bend on both legs: the body sinks, then is braked
    for s in "rl":
        a[:, J[f"knee_flex_{s}"]] = 2 + 50 * (1 - np.cos(2 * np.pi * t / 0.4)) / 2
        a[:, J[f"hip_flex_{s}"]] = 25 * (1 - np.cos(2 * np.pi * t / 0.4)) / 2
    grf, _ = ground_reaction(a, np.zeros((400, 3)), 1e-3, mass_kg=60.0)
    fz = grf[:, :, 1].sum(axis=1)
    assert fz[:100].min() < 0.9 * 60 * GRAVITY  # accelerating downwards: lighter
    assert fz[150:250].max() > 1.1 * 60 * GRAVITY  # braking at the bottom: heavier
    assert np.mean(fz) == pytest.approx(60 * GRAVITY, rel=0.03)  # weight on average
    heavier, _ = ground_reaction(a, np.zeros((400, 3)), 1e-3, mass_kg=90.0)
    assert np.allclose(heavier, 1.5 * grf)


@pytest.fixture(scope="module")
def standing():
    return sim.generate(4, 8.0, moves=("rest",))


def test_standing_still_the_feet_carry_the_body_weight_equally(standing):
    t = standing.truth
    weight = t.traits.mass_kg * GRAVITY
    fz = t.grf[:, :, 1]
    assert np.all(np.abs(fz.sum(axis=1) - weight) < 0.03 * weight)
    assert np.allclose(fz[:, 0], fz[:, 1], rtol=0.02)
    assert np.all(np.abs(t.grf[:, :, 0]) < 0.03 * weight)


@pytest.fixture(scope="module")
def steps():
    return sim.generate(5, 30.0, moves=("step",), emg=16)


def single_stance(t, side):
    """Rows where the foot ``side`` (0 right, 1 left) carries the body alone."""
    fz = t.grf[:, :, 1]
    weight = t.traits.mass_kg * GRAVITY
    return (fz[:, side] > 0.6 * weight) & (fz[:, 1 - side] < 0.01 * weight)


def test_a_step_loads_the_stance_leg_and_unloads_the_swing_leg(steps):
    t = steps.truth
    m = {name: i for i, name in enumerate(t.muscles)}
    for side, stance, swing in ((0, "r", "l"), (1, "l", "r")):
        single = single_stance(t, side)
        assert single.sum() > 500  # at least half a second of single-leg stance on each side

        def extensors(leg):
            # plantar flexor and knee extensor: what carries the body on a leg
            return (
                t.drive[single, m[f"gastrocnemius_medialis_{leg}"]]
                + t.drive[single, m[f"vastus_lateralis_{leg}"]]
            )

        assert extensors(stance).mean() > 1.3 * extensors(swing).mean()
        g_on = t.drive[single, m[f"gastrocnemius_medialis_{stance}"]].mean()
        g_off = t.drive[single, m[f"gastrocnemius_medialis_{swing}"]].mean()
        assert g_on > 2 * g_off


def test_the_swing_leg_no_longer_fires_its_extensors_as_if_loaded(steps):
    before = sim.generate(5, 30.0, moves=("step",), emg=16, ground="kinematic").truth
    t = steps.truth
    m = {name: i for i, name in enumerate(t.muscles)}
    for side, swing in ((0, "l"), (1, "r")):
        single = single_stance(t, side)
        vastus = m[f"vastus_lateralis_{swing}"]
        assert t.drive[single, vastus].mean() < 0.8 * before.drive[single, vastus].mean()


def test_kinematic_ground_is_the_body_before_contact_and_has_no_force():
    r = sim.generate(4, 2.0, moves=("rest",), ground="kinematic")
    assert r.truth.grf is None
    with pytest.raises(StreamError, match="ground"):
        sim.generate(4, 1.0, ground="floating")


def test_ground_contact_is_deterministic(standing):
    again = sim.generate(4, 8.0, moves=("rest",))
    assert np.array_equal(again.truth.grf, standing.truth.grf)
    assert np.array_equal(again.truth.drive, standing.truth.drive)

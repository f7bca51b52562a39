"""The movement vocabulary: families, phrases, per-frame labels, and Effort that changes the causes."""

import numpy as np
import pytest

from wearsense import sim
from wearsense.errors import StreamError
from wearsense.sim.choreography import Choreography
from wearsense.sim.vocabulary import BASIC_ACTIONS, FAMILIES, FAMILY_OF, VOCABULARY


def test_full_vocabulary_covers_every_family_in_phrases_of_one_family():
    moves = Choreography(3, dict(VOCABULARY), vocabulary="full").until(3000.0)
    assert {m.kind for m in moves} == set(VOCABULARY)
    phrases = {}
    for m in moves:
        phrases.setdefault(m.phrase, []).append(m)
    for ms in phrases.values():
        assert 2 <= len(ms) <= 4
        assert len({m.family for m in ms}) == 1
    for m in moves:
        if m.action:
            assert m.effort[:3] == BASIC_ACTIONS[m.action]
        else:
            assert all(x in (-1.0, 0.0, 1.0) for x in m.effort)


def test_a_family_can_be_held_out():
    seen = sim.generate(4, 60.0, vocabulary="full", families=("dance", "martial"), keep_truth=False)
    kinds = {m.kind for m in seen.truth.movements}
    assert kinds <= set(FAMILIES["dance"]) | set(FAMILIES["martial"])
    assert kinds & set(FAMILIES["dance"]) and kinds & set(FAMILIES["martial"])
    with pytest.raises(StreamError, match="families"):
        sim.generate(4, 1.0, vocabulary="full", families=("ballet",))
    with pytest.raises(StreamError, match="moves"):
        sim.generate(4, 1.0, moves=("punch",))  # not in the classic vocabulary


def test_every_frame_is_labelled_with_family_phrase_movement_and_effort():
    rec = sim.generate(6, 40.0, vocabulary="full", keep_truth=False)
    t = np.arange(0.0, 40.0, 0.01)
    lab = rec.truth.labels(t)
    fams, kinds = list(FAMILIES), list(FAMILY_OF)
    for i, mv in enumerate(rec.truth.movements):
        mid = np.searchsorted(t, 0.5 * (mv.start + min(mv.end, 40.0)))
        if mid >= t.size or (i + 1 < len(rec.truth.movements) and rec.truth.movements[i + 1].start <= t[mid]):
            continue
        assert lab["movement"][mid] == i
        assert fams[lab["family"][mid]] == mv.family and kinds[lab["kind"][mid]] == mv.kind
        assert lab["phrase"][mid] == mv.phrase
        np.testing.assert_array_equal(lab["effort"][mid], np.asarray(mv.effort, np.float32))
    assert (lab["movement"] == -1).any() and (lab["movement"] >= 0).mean() > 0.6
    assert np.isnan(lab["effort"][lab["movement"] == -1]).all()


def _mean_in(rec, kind, column, reducer=np.mean):
    tr = rec.truth
    out = []
    for mv in tr.movements:
        if mv.kind == kind:
            sel = (tr.phys_t > mv.start) & (tr.phys_t < mv.end)
            out.append(reducer(column[sel]))
    return np.array(out)


@pytest.fixture(scope="module")
def actions():
    return sim.generate(8, 120.0, vocabulary="full", families=("effort",), person="reference")


def test_a_strong_press_is_all_muscle_and_no_motion(actions):
    tr = actions.truth
    presses = [m for m in tr.movements if m.kind == "press"]
    assert presses
    for mv in presses:
        side = mv.detail[0]
        hold = (tr.phys_t > mv.start + 0.8) & (tr.phys_t < mv.end - 0.9)
        if f"deltoid_anterior_{side}" not in tr.muscles or mv.end > tr.phys_t[-1]:
            continue
        drive = tr.drive[hold, tr.muscles.index(f"deltoid_anterior_{side}")]
        speed = np.abs(np.gradient(tr.joint(f"shoulder_flex_{side}"), tr.phys_t))[hold]
        assert drive.mean() > 0.3  # strong
        assert speed.max() < 5.0  # deg/s: motionless
        assert mv.effort[0] == 1.0 and mv.effort[1] == -1.0


def test_a_flick_is_fast_motion_with_little_muscle(actions):
    tr = actions.truth
    flicks = [m for m in tr.movements if m.kind == "flick" and m.detail == "r"]
    presses = [m for m in tr.movements if m.kind == "press" and m.detail.startswith("r")]
    assert flicks and presses
    i = tr.muscles.index("deltoid_anterior_r")
    for mv in flicks:
        sel = (tr.phys_t > mv.start) & (tr.phys_t < mv.end)
        speed = np.abs(np.gradient(tr.joint("shoulder_flex_r"), tr.phys_t))[sel]
        assert speed.max() > 150.0  # deg/s
        assert mv.effort[0] == -1.0 and mv.effort[3] == -1.0  # light, free
    flick_drive = np.mean([tr.drive[(tr.phys_t > m.start) & (tr.phys_t < m.end), i].mean() for m in flicks])
    press_drive = np.mean([tr.drive[(tr.phys_t > m.start) & (tr.phys_t < m.end), i].mean() for m in presses])
    assert flick_drive < 0.5 * press_drive


def _reaches(effort):
    return sim.generate(2, 60.0, moves=("reach",), effort=effort, tremor=0.0)


def _antagonist_drive(rec):
    tr = rec.truth
    i = tr.muscles.index("deltoid_posterior_r")
    return np.mean(
        [
            tr.drive[(tr.phys_t > m.start) & (tr.phys_t < m.end), i].mean()
            for m in tr.movements
            if m.detail == "r"
        ]
    )


def test_effort_weight_strong_co_contracts_and_light_does_not():
    assert _antagonist_drive(_reaches((1, 0, 0, 0))) > 2 * _antagonist_drive(_reaches((-1, 0, 0, 0)))


def test_effort_flow_bound_co_contracts_more_than_free():
    assert _antagonist_drive(_reaches((0, 0, 0, 1))) > 1.5 * _antagonist_drive(_reaches((0, 0, 0, -1)))


def test_effort_time_sudden_is_faster_and_shorter_than_sustained():
    def peak_speed_and_duration(effort):
        rec = _reaches(effort)
        tr = rec.truth
        v = np.abs(np.gradient(tr.joint("shoulder_flex_r"), tr.phys_t))
        ms = [m for m in tr.movements if m.detail == "r"]
        return (
            np.median([v[(tr.phys_t > m.start) & (tr.phys_t < m.end)].max() for m in ms]),
            np.median([m.end - m.start for m in ms]),
        )

    v_sudden, d_sudden = peak_speed_and_duration((0, 1, 0, 0))
    v_sust, d_sust = peak_speed_and_duration((0, -1, 0, 0))
    assert v_sudden > 2 * v_sust and d_sudden < 0.5 * d_sust


def test_effort_space_indirect_curves_the_hands_path():
    def curvature(effort):
        rec = sim.generate(2, 60.0, moves=("reach",), effort=effort, tremor=0.0, pose_noise_m=0.0)
        info, _ = rec.streams["sim-pose"]
        p = rec.truth.pose.reshape(len(rec.truth.pose), -1, 3)[:, info.metadata["keypoints"].index("hand_r")]
        t = rec.truth.sample_t["sim-pose"]
        ratios = []
        for m in rec.truth.movements:
            if m.detail != "r":
                continue
            seg = p[(t > m.start) & (t < m.start + 0.5 * (m.end - m.start))]
            if len(seg) > 5:
                ratios.append(
                    np.linalg.norm(np.diff(seg, axis=0), axis=1).sum() / np.linalg.norm(seg[-1] - seg[0])
                )
        return np.median(ratios)

    assert curvature((0, 0, -1, 0)) > curvature((0, 0, 1, 0)) + 0.05

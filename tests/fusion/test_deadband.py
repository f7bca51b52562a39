"""The motion deadband: soft-thresholded motion from horizon 0, chosen on validation."""

import numpy as np
import pytest

from wearsense.fusion.deadband import apply_deadband, fit_deadband


def _noisy_extrapolator(rng, n, moving_share=0.3):
    """A predictor that extrapolates a noisy velocity: right while the body moves,
    noise while it holds still. Angles (n, 2 horizons, 1 joint)."""
    moving = rng.random(n) < moving_share
    motion = np.where(moving, rng.normal(0, 5.0, n), 0.0)  # the true motion to horizon 1, deg
    now = rng.normal(0, 1.0, n)  # the estimate of now = the truth of now (for clarity)
    pred = np.stack([now, now + motion + rng.normal(0, 0.8, n)], axis=1)[..., None]
    truth = np.stack([now, now + motion], axis=1)[..., None]
    return pred, truth, np.ones((n, 2), bool)


def _mae(pred, truth):
    return np.abs(((pred - truth) + 180) % 360 - 180).mean()


def test_the_deadband_chosen_on_validation_lowers_a_new_takes_absolute_error():
    rng = np.random.default_rng(0)
    pv, yv, okv = _noisy_extrapolator(rng, 20000)
    pt, yt, _ = _noisy_extrapolator(rng, 20000)
    tau = fit_deadband(pv, yv, okv, angles=True)
    assert tau.shape == (2, 1) and tau[0, 0] == 0 and tau[1, 0] > 0.3
    held = np.repeat(pt[:, :1], 2, axis=1)
    before, after = _mae(pt[:, 1], yt[:, 1]), _mae(apply_deadband(pt, tau, angles=True)[:, 1], yt[:, 1])
    assert after < 0.85 * before
    assert after < _mae(held[:, 1], yt[:, 1])  # and better than holding
    # horizon 0 is never changed
    np.testing.assert_array_equal(apply_deadband(pt, tau, angles=True)[:, 0], pt[:, 0])


def test_a_predictor_that_knows_the_motion_keeps_it():
    rng = np.random.default_rng(1)
    _, y, ok = _noisy_extrapolator(rng, 5000)
    tau = fit_deadband(y, y, ok, angles=True)
    np.testing.assert_array_equal(tau, 0)
    assert apply_deadband(y, tau, angles=True) is y  # zeros: the same array, untouched


def test_angles_are_thresholded_across_the_wrap_and_keep_their_branch():
    pred = np.array([[[179.0], [-179.0]], [[10.0], [370.5]]])  # motion +2 deg, and +0.5 deg
    out = apply_deadband(pred, np.array([[0.0], [1.0]]), angles=True)
    np.testing.assert_allclose(out[0, 1], [-180.0])  # 2 deg of motion less 1: one deg past 179
    np.testing.assert_allclose(out[1, 1], [370.0])  # 0.5 deg is inside the band: held, on its branch


def test_keypoints_shrink_their_motion_vector_as_one():
    pred = np.zeros((2, 2, 1, 3))
    pred[0, 1, 0] = [0.03, 0.04, 0.0]  # a 5 cm motion
    pred[1, 1, 0] = [0.006, 0.008, 0.0]  # a 1 cm motion
    out = apply_deadband(pred, np.array([[0.0], [0.02]]), angles=False)
    np.testing.assert_allclose(out[0, 1, 0], [0.018, 0.024, 0.0])  # 3 cm left, same direction
    np.testing.assert_allclose(out[1, 1, 0], 0.0)


def test_keypoint_deadband_is_fitted_on_euclidean_error():
    rng = np.random.default_rng(2)
    n = 20000
    moving = rng.random(n) < 0.3
    motion = np.where(moving[:, None], rng.normal(0, 0.03, (n, 3)), 0.0)
    now = rng.normal(0, 0.1, (n, 3))
    pred = np.stack([now, now + motion + rng.normal(0, 0.006, (n, 3))], axis=1)[:, :, None]
    truth = np.stack([now, now + motion], axis=1)[:, :, None]
    tau = fit_deadband(pred, truth, np.ones((n, 2), bool), angles=False)
    assert tau.shape == (2, 1) and tau[1, 0] > 0.003
    err = lambda p: np.linalg.norm(p[:, 1] - truth[:, 1], axis=-1).mean()  # noqa: E731
    assert err(apply_deadband(pred, tau, angles=False)) < err(pred)


@pytest.mark.parametrize("angles", [True, False])
def test_missing_targets_are_not_scored(angles):
    rng = np.random.default_rng(3)
    shape = (500, 3, 2) if angles else (500, 3, 2, 3)
    pred = rng.normal(size=shape)
    truth = pred.copy()
    ok = np.ones((500, 3), bool)
    ok[:, 2] = False
    truth[:, 2] = 1e6  # garbage where not ok: must not pull the threshold
    tau = fit_deadband(pred, truth, ok, angles=angles)
    np.testing.assert_array_equal(tau, 0)

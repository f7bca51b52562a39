"""The scores of the evaluation harness on inputs with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.fusion import metrics as M


def test_angle_error_wraps_around_180_degrees():
    pred = np.array([[[179.0, 10.0]]])
    truth = np.array([[[-179.0, 14.0]]])
    assert M.angle_error(pred, truth)[0, 0] == pytest.approx((2.0 + 4.0) / 2)


def test_angle_error_is_nan_where_the_target_is_missing():
    err = M.angle_error(np.zeros((2, 1, 3)), np.ones((2, 1, 3)), ok=np.array([[True], [False]]))
    assert err[0, 0] == 1.0 and np.isnan(err[1, 0])


def test_keypoint_error_is_the_mean_euclidean_distance_in_mm():
    truth = np.zeros((1, 1, 2, 3))
    pred = np.array([[[[0.003, 0.004, 0.0], [0.0, 0.0, 0.001]]]])
    assert M.keypoint_error(pred, truth)[0, 0] == pytest.approx((5.0 + 1.0) / 2)


def test_lead_time_of_a_curve_shifted_by_100_ms_is_100_ms():
    h = np.array([0, 50, 100, 200, 400])
    camera = 1.0 + h / 100.0
    cond = 1.0 + (h - 100) / 100.0  # the same error 100 ms further ahead
    lead = M.lead_time_curve(h, cond, camera)
    assert lead[:4] == pytest.approx([100, 100, 100, 100])
    # at the last horizon the condition's error never reaches the camera's: a lower bound (0 here)
    assert lead[4] == 0.0


def test_lead_time_is_undefined_when_the_condition_is_worse_at_every_horizon():
    h = [0, 50, 100]
    assert np.isnan(M.lead_time(h, [5.0, 6.0, 7.0], target=4.0))
    assert M.lead_time(h, [1.0, 2.0, 3.0], target=2.5) == pytest.approx(75.0)


def test_tracking_fails_a_window_with_a_lasting_excursion_not_with_a_one_step_spike():
    t = np.arange(0, 6.0, 1 / 60)
    err = np.full(len(t), 1.0)
    err[30] = 50.0  # one step in window 0
    err[150:180] = 20.0  # half a second in window 1
    ok = M.tracking_success(t, err, threshold=5.0, window_s=2.0)
    assert ok.tolist() == [True, False, True]


def test_onset_latency_measures_delay_and_anticipation():
    t = np.arange(0, 4.0, 1 / 100)
    onset_t = 2.0

    def ramp(shift):
        return np.clip((t - onset_t - shift) * 100.0, 0, 40)[:, None]  # 100 deg/s from the onset

    onset = (np.abs(t - onset_t) < 1e-9).astype(int)
    late, truth = M.onset_latency(t, ramp(0.05), ramp(0.0), onset, threshold_deg=5.0)
    early, _ = M.onset_latency(t, ramp(-0.03), ramp(0.0), onset, threshold_deg=5.0)
    assert truth[0] == pytest.approx(0.06, abs=0.011)  # 5 deg at 100 deg/s, on a 10 ms grid
    assert late[0] - truth[0] == pytest.approx(0.05, abs=0.011)
    assert early[0] - truth[0] == pytest.approx(-0.03, abs=0.011)


def test_onset_latency_skips_onsets_not_from_rest():
    t = np.arange(0, 4.0, 1 / 100)
    moving = (t * 50.0)[:, None]
    onset = (np.abs(t - 2.0) < 1e-9).astype(int)
    lat, _ = M.onset_latency(t, moving, moving, onset)
    assert len(lat) == 0


def test_rms_jerk_of_a_cubic_is_six_times_its_coefficient():
    dt = 0.01
    t = np.arange(0, 1, dt)
    assert M.rms_jerk((2.0 * t**3)[:, None], dt) == pytest.approx(12.0, rel=1e-6)


def test_paired_bootstrap_keeps_movers_paired():
    rng = np.random.default_rng(0)
    b = rng.uniform(1, 10, size=8)  # movers differ a lot
    a = 0.7 * b  # but every mover gains exactly 30 %
    iv = M.paired_bootstrap(a, b, n_boot=500, seed=1)
    assert iv.value == pytest.approx(30.0)
    assert iv.low == pytest.approx(30.0) and iv.high == pytest.approx(30.0)
    mean_iv = M.bootstrap_mean(b, n_boot=500, seed=1)
    assert mean_iv.low < b.mean() < mean_iv.high


def test_paired_bootstrap_rejects_unpaired_inputs():
    with pytest.raises(Exception, match="not paired"):
        M.paired_bootstrap(np.ones(3), np.ones(4))

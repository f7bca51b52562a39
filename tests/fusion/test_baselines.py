"""Zero-velocity, constant-velocity and ridge baselines, and the robustness perturbations."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from eval_toys import toy_dataset, toy_take

from wearsense.fusion import perturb as P
from wearsense.fusion.baselines import (
    RidgeBaseline,
    camera_frames,
    constant_velocity,
    ridge_features,
    zero_velocity,
)
from wearsense.fusion.metrics import angle_error


@pytest.fixture(scope="module")
def data():
    return toy_dataset(n_train=3, n_val=1, n_test=2, duration_s=30.0)


def _linear_take(rate_deg_s=30.0):
    """A toy take whose true angles move at a constant rate (camera keypoints unchanged)."""
    take = toy_take(1, duration_s=20.0)
    h_s = np.asarray(take.spec.horizons_ms) / 1000.0
    ang = rate_deg_s * (take.t[:, None] + h_s[None, :])
    y = np.repeat(ang[:, :, None], take.y_angles.shape[2], axis=2).astype(np.float32)
    y = (y + 180.0) % 360.0 - 180.0
    return replace(take, y_angles=y)


def test_zero_velocity_repeats_the_newest_arrived_frame_at_every_horizon():
    take = toy_take(2)
    pred = zero_velocity(take)
    k = 600
    kp_now = take.pose[k].reshape(-1, 3)
    for h in range(pred.kp.shape[1]):
        np.testing.assert_allclose(pred.kp[k, h], kp_now, atol=1e-6)


def test_zero_velocity_angles_are_the_truth_at_the_frame_capture_time():
    take = _linear_take()
    pred = zero_velocity(take)
    capture = take.t - take.pose_age
    k = 700
    expected = 30.0 * capture[k]
    expected = (expected + 180) % 360 - 180
    np.testing.assert_allclose(pred.angles[k, :, 0], expected, atol=1e-3)


def test_constant_velocity_is_exact_for_steady_motion_where_zero_velocity_falls_behind():
    take = _linear_take()
    cv, zv = constant_velocity(take), zero_velocity(take)
    k = slice(100, len(take) - 100)
    e_cv = np.nanmean(angle_error(cv.angles, take.y_angles, take.y_ok)[k], axis=0)
    e_zv = np.nanmean(angle_error(zv.angles, take.y_angles, take.y_ok)[k], axis=0)
    assert e_cv.max() < 1e-2
    # zero-velocity lags by the camera latency plus the horizon: 30 deg/s x (age + h)
    assert e_zv[-1] > e_zv[0] > 1.0


def test_occluded_frames_are_skipped_and_the_last_usable_one_held():
    take = toy_take(3)
    ok = take.pose_ok.copy()
    ok[300:360] = False
    fr = camera_frames(replace(take, pose_ok=ok))
    assert np.all(fr.capture[300:360] == fr.capture[299])
    assert fr.capture[360] > fr.capture[299]


def test_a_take_without_any_usable_frame_is_a_clear_error():
    take = toy_take(3)
    with pytest.raises(Exception, match="no usable camera frame"):
        zero_velocity(replace(take, pose_ok=np.zeros(len(take), bool)))


def test_ridge_features_are_causal():
    take = toy_take(4)
    k = 900
    future = replace(
        take,
        emg=np.concatenate([take.emg[: k + 1], take.emg[k + 1:] * 0 + 3.0]),
        imu=np.concatenate([take.imu[: k + 1], take.imu[k + 1:] * 0 - 1.0]),
        pose=np.concatenate([take.pose[: k + 1], take.pose[k + 1:] * 0 + 9.0]),
    )
    for c in ("camera", "all", "inside_out"):
        np.testing.assert_array_equal(ridge_features(take, c)[: k + 1], ridge_features(future, c)[: k + 1])


def test_conditions_without_the_camera_see_only_the_starting_pose():
    take = toy_take(5)
    late = take.t > take.t[0] + take.spec.pose_start_s + 0.2
    moved = replace(take, pose=np.where(late[:, None], take.pose + 1.0, take.pose).astype(np.float32))
    np.testing.assert_array_equal(ridge_features(take, "inside_out"), ridge_features(moved, "inside_out"))
    assert not np.array_equal(ridge_features(take, "camera"), ridge_features(moved, "camera"))


def test_ridge_with_emg_anticipates_what_the_camera_sees_late(data):
    """In the toy world EMG leads motion by 80 ms and the camera lags 66 ms."""
    errs = {}
    for c in ("camera", "all"):
        model = RidgeBaseline(c).fit(data["train"], data["val"])
        assert model.alpha is not None
        e = [np.nanmean(angle_error(model.predict_take(t).angles, t.y_angles, t.y_ok)[:, 2])
             for t in data["test"]]
        errs[c] = np.mean(e)
    assert errs["all"] < 0.7 * errs["camera"]


def test_the_ridge_holds_motion_inside_its_validated_deadband(data):
    """The deadband is chosen on the validation takes: with it, the ridge's error there
    is no higher at any horizon; horizon 0 is untouched; no validation, no deadband."""
    from wearsense.fusion.deadband import apply_deadband

    model = RidgeBaseline("camera").fit(data["train"], data["val"])
    tau = model.deadband["angles"]
    val = data["val"][0]
    assert tau.shape == val.y_angles.shape[1:] and not tau[0].any()
    band = model.predict_take(val)
    model.deadband = {"angles": None, "kp": None}
    raw = model.predict_take(val)
    np.testing.assert_allclose(band.angles, (apply_deadband(raw.angles, tau, angles=True) + 180) % 360 - 180,
                               atol=1e-3)
    np.testing.assert_array_equal(band.angles[:, 0], raw.angles[:, 0])
    e_band = np.nanmean(angle_error(band.angles, val.y_angles, val.y_ok), axis=0)
    e_raw = np.nanmean(angle_error(raw.angles, val.y_angles, val.y_ok), axis=0)
    assert np.all(e_band <= e_raw + 1e-4)
    assert RidgeBaseline("camera").fit(data["train"]).deadband["angles"] is None


def test_ridge_refuses_another_condition_and_an_unfitted_use(data):
    model = RidgeBaseline("camera")
    with pytest.raises(Exception, match="before fit"):
        model.predict_take(data["test"][0])
    model.fit(data["train"][:1])
    with pytest.raises(Exception, match="fitted for 'camera'"):
        model.predict_take(data["test"][0], "all")


def test_emg_dropout_silences_and_flags_channels():
    take = toy_take(6)
    out = P.emg_dropout(take, fraction=0.34, seed=0)
    lost = ~out.emg_ok.all(axis=0)
    assert lost.sum() == 1
    assert np.all(out.emg[:, lost] == 0)
    assert take.emg_ok.all()  # the original is untouched


def test_electrode_shift_mixes_in_the_neighbour():
    take = toy_take(7)
    out = P.electrode_shift(take, mix=0.5)
    lin = np.expm1(take.emg.astype(np.float64))
    expect = np.log1p(0.5 * lin[:, 0] + 0.5 * lin[:, 1])
    np.testing.assert_allclose(out.emg[:, 0], expect, rtol=1e-5)


def test_clock_offset_delays_the_wearables_by_whole_steps():
    take = toy_take(8)
    out = P.clock_offset(take, 2 / take.spec.step_hz)
    np.testing.assert_array_equal(out.emg[2:], take.emg[:-2])
    np.testing.assert_array_equal(out.imu[2:], take.imu[:-2])
    assert not out.emg_ok[:2].any()
    np.testing.assert_array_equal(out.pose, take.pose)


def test_camera_occlusion_holds_the_last_frame_and_ages_it():
    take = toy_take(9)
    out = P.camera_occlusion(take, fraction=0.2, run_s=0.5, seed=3)
    hidden = ~out.pose_ok & take.pose_ok
    assert 0.1 < hidden.mean() < 0.35
    k = np.flatnonzero(hidden[1:] & hidden[:-1])[5] + 1
    np.testing.assert_array_equal(out.pose[k], out.pose[k - 1])
    assert out.pose_age[k] > out.pose_age[k - 1]


def test_imu_subset_keeps_the_first_imus():
    out = P.imu_subset(toy_take(10), keep=1)
    assert out.imu_ok[:, 0].all() and not out.imu_ok[:, 1:].any()
    with pytest.raises(Exception, match="IMUs"):
        P.imu_subset(toy_take(10), keep=9)


def test_fitting_conditions_together_equals_fitting_each_alone(data):
    many = RidgeBaseline.fit_many(("camera", "inside_out", "all"), data["train"], data["val"])
    for c in ("camera", "inside_out"):
        one = RidgeBaseline(c).fit(data["train"], data["val"])
        assert many[c].alpha == one.alpha and many[c].imu_level == one.imu_level
        # the same sums, gathered by matrix products of other sizes (rounding differs)
        np.testing.assert_allclose(many[c].coef, one.coef, rtol=1e-5, atol=1e-6)


def test_ridge_inputs_outside_the_training_range_are_clipped(data):
    """A sensor reading no training step had (here: IMU values x50) cannot drive the
    linear prediction far beyond the training poses; the IMU level is a validated choice."""
    ridge = RidgeBaseline.fit_many(("camera_imu",), data["train"], data["val"])["camera_imu"]
    assert isinstance(ridge.imu_level, bool) and ridge.lo is not None
    n_level = ridge_features(data["test"][0], "camera_imu").shape[1]
    assert ridge_features(data["test"][0], "camera_imu", imu_level=False).shape[1] < n_level
    take = data["test"][0]
    wild = replace(take, imu=take.imu * 50.0)
    unclipped = RidgeBaseline.fit_many(("camera_imu",), data["train"], data["val"])["camera_imu"]
    unclipped.lo = None
    clipped_err = np.nanmean(angle_error(ridge.predict_take(wild).angles, wild.y_angles, wild.y_ok))
    wild_err = np.nanmean(angle_error(unclipped.predict_take(wild).angles, wild.y_angles, wild.y_ok))
    assert clipped_err < 0.5 * wild_err
    # within the training range, clipping changes nothing
    np.testing.assert_allclose(ridge.predict_take(data["train"][0]).angles,
                               unclipped.predict_take(data["train"][0]).angles, atol=1e-4)


def _flip_imu(take, j):
    imu = take.imu.copy()
    imu[:, j, 4] = -imu[:, j, 4]  # this sensor's gyro now says the opposite of training
    return replace(take, imu=imu)


def test_a_joint_whose_sensor_misleads_on_validation_keeps_the_camera_alone(data):
    """The choice of features is made per joint on validation: where a wearable carries no
    trustworthy information for a joint (here a sensor that reads reversed on the
    validation movers), that joint is predicted from the camera alone; the others keep it."""
    val = [_flip_imu(t, 2) for t in data["val"]]
    ridge = RidgeBaseline.fit_many(("camera_imu",), data["train"], val)["camera_imu"]
    assert ridge.choices[2][0] == "camera"
    assert all("imu" in ridge.choices[j][0] for j in (0, 1))
    # the joints it chose for keep their fused gain; the misleading joint costs nothing on test
    test = [_flip_imu(t, 2) for t in data["test"]]
    naive = RidgeBaseline.fit_many(("camera_imu",), data["train"], data["val"])["camera_imu"]
    h = test[0].horizon_index(100)

    def joint_err(model, j):
        return np.nanmean(np.concatenate([np.abs(model.predict_take(t).angles[:, h, j] - t.y_angles[:, h, j])
                                          [t.y_ok[:, h]] for t in test]))

    assert joint_err(ridge, 2) < joint_err(naive, 2)


def test_the_models_readout_makes_the_same_per_joint_choice(data):
    torch = pytest.importorskip("torch")
    from wearsense.fusion.model import FusionModel, ModelConfig

    torch.manual_seed(0)
    model = FusionModel.build(ModelConfig(d_model=32, heads=2, motion_layers=1, readout=True), data["train"])
    val = [_flip_imu(t, 2) for t in data["val"]]
    picks = model.readout.fit(model, data["train"], val, ["camera_imu"])["camera_imu"]
    assert picks["j2"].startswith("camera only")
    assert not picks["j0"].startswith("camera only") and not picks["j1"].startswith("camera only")


def _turn_sensors(take, rot):
    """The same take with every IMU's axes turned by ``rot`` (v -> rot v; q -> q m*)."""
    from scipy.spatial.transform import Rotation

    from wearsense.dsp.ahrs import quat_conjugate
    from wearsense.fusion.featurize import turn_mounts

    m = Rotation.from_matrix(rot).as_quat(scalar_first=True)
    return replace(take, imu=turn_mounts(take.imu, quat_conjugate(m)))


def test_the_ridge_does_not_depend_on_how_the_sensor_axes_are_turned(data):
    """One penalty per sensor vector (pooled_by_vector): the toy sensors move about their
    x axis only, so per axis the other two have no variance and would get next to no
    penalty; turned by 30 deg the axes share the motion. With one variance per vector
    the fit turns with the sensors and predicts the same."""
    from scipy.spatial.transform import Rotation

    from wearsense.fusion.baselines import pooled_by_vector

    rot = Rotation.from_rotvec(np.deg2rad(30.0) * np.array([0.3, 0.5, 0.8]) / np.linalg.norm([0.3, 0.5, 0.8]))
    turned = [_turn_sensors(t, rot.as_matrix()) for t in data["train"]]
    for cond in ("imu", "camera_imu"):
        a = RidgeBaseline(cond).fit(data["train"])
        b = RidgeBaseline(cond).fit(turned)
        np.testing.assert_allclose(b.predict_take(turned[0]).angles, a.predict_take(data["train"][0]).angles,
                                   atol=2e-3)
    np.testing.assert_allclose(pooled_by_vector(np.array([1.0, 2, 3, 4, 5]), np.array([0, 0, 0, 3, 4])),
                               [2.0, 2, 2, 4, 5])


def test_the_readout_scales_each_sensor_vector_as_one(data):
    torch = pytest.importorskip("torch")
    from wearsense.fusion.model import FusionModel, ModelConfig

    torch.manual_seed(0)
    model = FusionModel.build(ModelConfig(d_model=32, heads=2, motion_layers=1, readout=True), data["train"])
    ro = model.readout
    labels = ro._vectors()
    ro.fit(model, data["train"], [], ["imu"])
    std = ro.std.numpy()
    at, imu_cols = 0, []
    for _ in range(4):  # the base features and their changes over 3 lags
        for _, width, modality in ro.blocks:
            if modality == "imu":
                imu_cols.append(np.arange(at, at + width))
            at += width
    imu_cols = np.concatenate(imu_cols)
    trip = labels[imu_cols].reshape(-1, 3)
    assert (trip == trip[:, :1]).all() and len(np.unique(trip[:, 0])) == len(trip)
    assert np.allclose(std[imu_cols].reshape(-1, 3), std[imu_cols].reshape(-1, 3)[:, :1])
    other = np.setdiff1d(np.arange(ro.n_feat), imu_cols)
    assert len(np.unique(labels[other])) == len(other)
    # the toy gyro turns about x only: per axis, y and z would have had ~0 scale
    gyro = std[imu_cols].reshape(-1, 3)
    assert (gyro[:, 1] > 1e-3).any()


def _with_gravity(take):
    """The toy take with accelerometers that read gravity, as real ones do: each sensor
    tilts with its joint's angle, so its reading (9.81 m/s^2 split between x and z) says
    where the segment is."""
    imu = take.imu.copy()
    ang = np.deg2rad(take.y_angles[:, take.horizon_index(0)])
    imu[:, :, 7] = 9.81 * np.sin(ang)
    imu[:, :, 9] = 9.81 * np.cos(ang)
    return replace(take, imu=imu)


def test_a_missing_imu_is_filled_from_the_sensors_present_not_read_as_zero():
    """Sensors lost during a take (``imu_ok`` false) must not be read as raw zeros: an
    accelerometer reading no gravity is far outside anything trained on and drives a
    linear map off (the fused model was 7x worse than camera-only with one IMU of 12
    in the first evaluation). Filled from the features present they cost less than half
    of what zeros cost, and with every IMU gone camera+IMU is about camera-only, in the
    ridge and in the model's read-out; the steps where a sensor is there are untouched."""
    torch = pytest.importorskip("torch")
    from wearsense.fusion.model import FusionModel, ModelConfig

    d = toy_dataset(n_train=3, n_val=1, n_test=2, duration_s=30.0)
    d = {k: [_with_gravity(t) for t in v] for k, v in d.items()}
    gone = [P.imu_subset(t, keep=0) for t in d["test"]]
    zeros = [replace(t, imu_ok=np.ones_like(t.imu_ok)) for t in gone]  # zeros read as if measured

    def err(predict, takes):
        return np.nanmean(np.concatenate([angle_error(predict(t).angles, t.y_angles, t.y_ok) for t in takes]))

    fits = RidgeBaseline.fit_many(("camera", "camera_imu"), d["train"], d["val"])
    ridge = fits["camera_imu"]
    worn = err(ridge.predict_take, d["test"])
    assert err(ridge.predict_take, gone) - worn < 0.5 * (err(ridge.predict_take, zeros) - worn)
    # filled from what is present (GaussianFill), camera+IMU without its IMUs is camera-only
    # again; the training mean alone (the features a lost IMU would have on an average step)
    # leaves the map leaning on them, 60 % worse here
    camera = err(fits["camera"].predict_take, d["test"])
    assert err(ridge.predict_take, gone) < 1.1 * camera
    torch.manual_seed(0)
    model = FusionModel.build(ModelConfig(d_model=32, heads=2, motion_layers=1, readout=True), d["train"])
    model.readout.fit(model, d["train"], d["val"], ["camera", "camera_imu"])

    def model_err(takes):
        return err(lambda t: model.predict_take(t, "camera_imu"), takes)

    worn = model_err(d["test"])
    assert model_err(gone) - worn < 0.5 * (model_err(zeros) - worn)
    assert model_err(gone) < 1.1 * err(lambda t: model.predict_take(t, "camera"), d["test"])
    # a sensor missing for part of a take: the steps where it is there are unchanged
    part = replace(d["test"][0], imu_ok=d["test"][0].imu_ok.copy())
    part.imu_ok[600:900, 1] = False
    full = ridge.predict_take(d["test"][0]).angles
    some = ridge.predict_take(part).angles
    np.testing.assert_array_equal(some[:600], full[:600])
    np.testing.assert_array_equal(some[912:], full[912:])  # after the longest lag (12 steps)


def test_the_gaussian_fill_is_the_conditional_mean_of_the_missing_given_the_present():
    """E[z_m | z_o] = C_mo C_oo^-1 z_o, computed from the precision matrix; features
    outside ``use`` are neither filled nor conditioned on (their marginal is used)."""
    from wearsense.fusion.baselines import GaussianFill

    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    cov = a @ a.T + 0.5 * np.eye(6)
    z = rng.multivariate_normal(np.zeros(6), cov, size=5)
    fill = GaussianFill(np.linalg.inv(cov))
    gaps = z.copy()
    gaps[1:3, [1, 4]] = np.nan  # two rows with one pattern
    gaps[4, 0] = np.nan  # and another
    out = fill(gaps)
    o, m = [0, 2, 3, 5], [1, 4]
    def cond_mean(rows, o):
        return z[rows][:, o] @ np.linalg.solve(cov[np.ix_(o, o)], cov[np.ix_(o, m)])

    np.testing.assert_allclose(out[1:3][:, m], cond_mean(slice(1, 3), o))
    np.testing.assert_allclose(out[4, 0], z[4, 1:] @ np.linalg.solve(cov[1:, 1:], cov[1:, 0]))
    np.testing.assert_array_equal(out[[0, 3]], z[[0, 3]])  # complete rows untouched
    use = np.array([True, True, True, False, True, True])
    part = fill(gaps, use)
    o = [0, 2, 5]  # feature 3 is not used: the fill conditions on the others only
    np.testing.assert_allclose(part[1:3][:, m], cond_mean(slice(1, 3), o))

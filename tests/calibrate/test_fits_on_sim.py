"""Every calibration fit against the sim's ground truth (known sensor errors), with the issue's targets."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.calibrate.emg import EmgChain, fit_emg
from wearsense.calibrate.imu import FACE_AXES, fit_accel_six_face, fit_gyro_bias, still_metrics
from wearsense.calibrate.mag import fit_ellipsoid
from wearsense.calibrate.protocol import find_protocol
from wearsense.calibrate.segment import (
    fit_sensor_to_segment,
    functional_axis,
    rotation_angle_deg,
    static_up,
)
from wearsense.errors import CalibrationError
from wearsense.sim.protocols import CalibrationSubject, SensorErrors
from wearsense.sim.sensors import EARTH_FIELD_UT

FACES = ["+z", "-z", "+x", "-x", "+y", "-y"]


def distorted(seed: int) -> dict[int, SensorErrors]:
    """Scale (±2 %), misalignment (±1 deg), bias, hard iron (±10 uT) and soft iron (±5 %) per IMU."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(4):
        soft = np.eye(3) + np.diag(rng.uniform(-0.05, 0.05, 3))
        off = rng.uniform(-0.03, 0.03, 3)
        soft[0, 1] = soft[1, 0] = off[0]
        soft[0, 2] = soft[2, 0] = off[1]
        soft[1, 2] = soft[2, 1] = off[2]
        out[i] = SensorErrors(
            gyro_bias_dps=rng.uniform(-2, 2, 3),
            accel_bias_ms2=rng.uniform(-0.3, 0.3, 3),
            accel_matrix=SensorErrors.scale_misalignment(
                1 + rng.uniform(-0.02, 0.02, 3), np.deg2rad(rng.uniform(-1, 1, 3))
            ),
            hard_iron_ut=rng.uniform(-10, 10, 3),
            soft_iron=soft,
        )
    return out


@pytest.fixture(scope="module")
def subject():
    return CalibrationSubject(4, errors=distorted(4))


def imu(streams, name):
    d = streams[name][1].data.astype(np.float64)
    return d[:, 0:3], d[:, 3:6], d[:, 6:9]


def test_gyro_bias_within_0_05_dps(subject):
    out = subject.perform("still", 10.0)
    for k, name in enumerate(subject.imu_names):
        _, gyro, _ = imu(out, name)
        cal = fit_gyro_bias(gyro)
        err = np.abs(cal.bias_dps - subject.errors[k].gyro_bias_dps).max()
        assert err < 0.05, (name, err)
        assert 0.05 < cal.noise_dps.max() < 0.1  # 0.007 dps/rtHz at 200 Hz: 0.07 dps
        assert np.allclose(cal.apply(gyro).mean(axis=0), 0, atol=0.05)


def test_moving_during_the_still_step_is_seen(subject):
    acc, gyro, _ = imu(subject.perform("still", 10.0, mistake="move"), "sim-imu0")
    assert still_metrics(acc, gyro)["gyro_std_dps"] > 5.0
    acc, gyro, _ = imu(subject.perform("still", 10.0), "sim-imu0")
    assert still_metrics(acc, gyro)["gyro_std_dps"] < 0.2


def test_accelerometer_six_face_scale_within_0_5_percent_and_bias(subject):
    means = {n: [] for n in subject.imu_names}
    for face in FACES:
        out = subject.perform("face", 4.0, {"face": face})
        for n in subject.imu_names:
            means[n].append(imu(out, n)[0].mean(axis=0))
    for k, name in enumerate(subject.imu_names):
        cal = fit_accel_six_face(FACES, np.array(means[name]))
        true = subject.errors[k]
        assert np.abs(cal.scale / np.diag(true.accel_matrix) - 1).max() < 0.005
        assert np.abs(cal.bias_ms2 - true.accel_bias_ms2).max() < 0.03  # 3 mg
        # the whole correction undoes scale and misalignment (the table is 0.3 deg off level)
        assert np.abs(cal.matrix @ true.accel_matrix - np.eye(3)).max() < 0.01  # misalignment < 0.6 deg
        assert cal.residual_ms2 < 0.05
        # corrected faces read g on the right axis
        fixed = cal.apply(np.array(means[name]))
        assert np.allclose(fixed, 9.80665 * np.array([FACE_AXES[f] for f in FACES]), atol=0.1)


def test_six_face_needs_faces_spanning_every_axis():
    with pytest.raises(CalibrationError, match="all six faces"):
        fit_accel_six_face(["+z", "-z", "+z"], np.zeros((3, 3)))


def heading_error_deg(mag_sensor: np.ndarray, rot: np.ndarray) -> np.ndarray:
    world = np.einsum("nij,nj->ni", rot, mag_sensor)
    got = np.degrees(np.arctan2(world[:, 1], world[:, 0]))
    want = np.degrees(np.arctan2(EARTH_FIELD_UT[1], EARTH_FIELD_UT[0]))
    return np.abs((got - want + 180) % 360 - 180)


def test_heading_error_after_magnetometer_calibration_within_2_deg(subject):
    fit_data = subject.perform("figure8", 30.0)
    test_data = subject.perform("figure8", 30.0)  # judged on other data than it was fitted to
    rots = subject.last_truth.rot
    for k, name in enumerate(subject.imu_names):
        cal = fit_ellipsoid(imu(fit_data, name)[2])
        assert np.abs(cal.hard_iron_ut - subject.errors[k].hard_iron_ut).max() < 0.3
        raw = imu(test_data, name)[2]
        before = heading_error_deg(raw, rots[name])
        after = heading_error_deg(cal.apply(raw), rots[name])
        assert np.percentile(after, 95) <= 2.0, (name, np.percentile(after, 95))
        assert np.mean(after) < 0.25 * np.mean(before)
        assert cal.residual_pct < 1.5 and cal.coverage_pct >= 60


def test_a_small_wrist_roll_is_too_little_for_the_ellipsoid(subject):
    mag = imu(subject.perform("figure8", 30.0, mistake="small"), "sim-imu0")[2]
    with pytest.raises(CalibrationError, match="cover"):
        fit_ellipsoid(mag, min_coverage_pct=60)


def test_sensor_to_segment_within_3_deg(subject):
    proto = find_protocol("npose")
    npose = subject.perform("npose", 5.0)
    ups = {n: static_up(imu(npose, n)[0]) for n in subject.imu_names}
    errors = {}
    for step in proto.steps[1:]:
        out = subject.perform("functional", step.duration_s, step.options)
        for k, name in enumerate(subject.imu_names):
            seg = subject.segments[name]
            if seg not in step.options["segments"]:
                continue
            acc, gyro, _ = imu(out, name)
            fa = functional_axis(acc, gyro - subject.errors[k].gyro_bias_dps, 200.0)
            cal = fit_sensor_to_segment(seg, ups[name], "+z", fa, step.options["axis"])
            assert np.isclose(np.linalg.det(cal.matrix), 1.0)
            errors[name] = rotation_angle_deg(cal.matrix, subject.mounts[k])
    assert set(errors) == set(subject.imu_names)
    # mounts are off by up to 8 deg; the fit recovers them to within the N-pose's 1.5 deg error + noise
    assert max(errors.values()) <= 3.0, errors
    assert max(rotation_angle_deg(m, np.eye(3)) for m in subject.mounts) > 3.0


def test_left_handed_sensor_axes_are_rejected():
    mirror = np.diag([1.0, -1.0, 1.0])
    subj = CalibrationSubject(2, errors={i: SensorErrors(axes=mirror) for i in range(4)})
    npose = subj.perform("npose", 5.0)
    out = subj.perform("functional", 8.0, {"segments": ["forearm_r"], "axis": "-y", "joint": "elbow_flex"})
    acc, gyro, _ = imu(out, "sim-imu0")
    fa = functional_axis(acc, gyro, 200.0)
    assert fa.handedness < -0.8
    with pytest.raises(CalibrationError, match="left-handed.*flip handedness"):
        fit_sensor_to_segment("forearm_r", static_up(imu(npose, "sim-imu0")[0]), "+z", fa, "-y")


def test_wobbly_functional_movement_has_low_axis_dominance(subject):
    out = subject.perform(
        "functional", 8.0, {"segments": ["forearm_r"], "axis": "-y", "joint": "elbow_flex"}, mistake="wobble"
    )
    acc, gyro, _ = imu(out, "sim-imu0")
    assert functional_axis(acc, gyro, 200.0).dominance < 0.8


def test_mvc_normalisation_restores_known_gains_within_5_percent():
    """Across 4 movers x 8 channels the electrode gains (sim truth mvc_v, 0.4-1.5 mV)
    differ ~3x; the MVC estimate divides them out, up to one common factor (the envelope
    of full drive: mean |x| per RMS, and the rolling maximum's bias): every channel
    within 5 %.

    Each MVC test is done as the protocol says: 3 repetitions, the mean of their peak
    1 s windows. One hold alone is not enough: over a 5 s hold, band-limited EMG gives
    ~2BT = 1000 independent samples, so mean |x| varies by ~2.4 % SD from hold to hold
    (Clancy & Hogan 1994), and the worst of 32 channels lands ~2.5 SD out (6-7 %)."""
    ratios = []
    proto = find_protocol("emg_rest_mvc")
    for seed in range(4):
        subj = CalibrationSubject(seed)
        rest = subj.perform("rest", 5.0)["sim-emg"]
        trials = [
            (s.id, [subj.perform("mvc", s.duration_s, s.options)["sim-emg"][1] for _ in range(s.repetitions)])
            for s in proto.steps
            if s.action == "mvc"
        ]
        assert all(len(reps) == 3 for _, reps in trials)
        cal = fit_emg(rest[0], rest[1], trials)
        assert np.isfinite(cal.mvc_v).all()
        assert (cal.mvc_over_rest > 20).all()
        assert (cal.rest_rms_v < 20e-6).all()
        ratios.append(cal.mvc_v / subj.mvc_v)
    r = np.concatenate(ratios)
    dev = np.abs(r / r.mean() - 1)
    print(
        f"MVC gain error: RMS {100 * np.sqrt(np.mean(dev**2)):.1f} %, "
        f"worst {100 * dev.max():.1f} % of 32 channels"
    )
    assert dev.max() <= 0.05, f"channels beyond 5 %: {np.flatnonzero(dev > 0.05).tolist()}"
    # the common factor is the envelope of full drive (Gaussian EMG: mean |x| = sqrt(2/pi)
    # RMS, of the band-passed part of the carrier, with the tremor), plus the small upward
    # bias of the peak window: measured here on the steady 25 s of one long hold
    subj = CalibrationSubject(0)
    step = proto.step("mvc_elbow_flexors")
    info, long_hold = subj.perform("mvc", 30.0, step.options)["sim-emg"]
    env = EmgChain(info.rate_hz).process(long_hold).data[int(3 * info.rate_hz) : int(28 * info.rate_hz), 0]
    steady = env.mean() / subj.mvc_v[0]
    assert 0.6 < steady / np.sqrt(2 / np.pi) < 1.0
    assert 1.0 <= r.mean() / steady < 1.06


def test_mvc_repetitions_are_averaged_and_their_spread_measured():
    from wearsense.calibrate.emg import mvc_repetitions, repetition_spread_pct

    subj = CalibrationSubject(2)
    rest = subj.perform("rest", 5.0)["sim-emg"]
    step = find_protocol("emg_rest_mvc").step("mvc_elbow_flexors")
    reps = [subj.perform("mvc", step.duration_s, step.options)["sim-emg"][1] for _ in range(3)]
    peaks = mvc_repetitions(rest[0], reps)
    assert peaks.shape == (3, rest[0].n_channels)
    cal = fit_emg(rest[0], rest[1], [(step.id, reps)])
    np.testing.assert_allclose(cal.mvc_v[0], peaks[:, 0].mean())
    assert repetition_spread_pct(peaks)[0] < 10
    # a submaximal repetition (80 %) is seen: ~13 % below the mean of three
    low = subj.perform("mvc", step.duration_s, step.options, mistake="submax")["sim-emg"][1]
    spread = repetition_spread_pct(mvc_repetitions(rest[0], [reps[0], low, reps[2]]))[0]
    assert spread > 10
    assert repetition_spread_pct(peaks[:1]).max() == 0


def test_weak_mvc_fails_its_check_and_silent_channels_get_no_mvc():
    from wearsense.calibrate.runner import step_metrics

    subj = CalibrationSubject(1)
    rest = subj.perform("rest", 5.0)["sim-emg"]
    step = find_protocol("emg_rest_mvc").step("mvc_elbow_flexors")
    weak = subj.perform("mvc", step.duration_s, step.options, mistake="weak")
    metrics = step_metrics(
        step, weak, {"rest_envelope": {"sim-emg": fit_emg(rest[0], rest[1], []).rest_envelope_v}}
    )
    assert list(metrics) == ["sim-emg biceps_brachii_r"]
    value = metrics["sim-emg biceps_brachii_r"]["mvc_over_rest"]
    assert value < 5 and "push as hard as you can" in step.checks[0].failure(value)
    good = subj.perform("mvc", step.duration_s, step.options)
    cal = fit_emg(rest[0], rest[1], [(step.id, good["sim-emg"][1])])
    assert np.isfinite(cal.mvc_v[0]) and cal.mvc_step[0] == "mvc_elbow_flexors"
    assert np.isnan(cal.mvc_v[1:]).all() and set(cal.mvc_step[1:]) == {""}

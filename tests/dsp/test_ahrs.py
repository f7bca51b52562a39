"""AHRS: orientation on the sim's IMUs against truth and against imufusion; frames; rejection; bias."""

from __future__ import annotations

import imufusion
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

import wearsense.sim as sim
from wearsense.dsp.ahrs import (
    GRAVITY,
    Ahrs,
    AhrsSettings,
    angle_between_deg,
    heading_deg,
    joint_angles_deg,
    quat_multiply,
    quat_rotate,
    relative_quat,
    segment_orientation,
    tilt_deg,
)
from wearsense.errors import StreamError
from wearsense.stream import Chunk, StreamInfo, concat, split

RATE_HZ = 200.0
INFO = StreamInfo("imu", "IMU",
                  ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z", "mag_x", "mag_y", "mag_z"),
                  ("m/s^2",) * 3 + ("deg/s",) * 3 + ("uT",) * 3, RATE_HZ)
FIELD_ENU = np.array([0.0, 24.0, -41.57])


def imufusion_run(chunk: Chunk, rate_hz: float) -> np.ndarray:
    """x-io Fusion with its defaults (gain 0.5), ENU, the same inputs."""
    s = imufusion.AhrsSettings()
    s.convention = imufusion.CONVENTION_ENU
    s.gain = 0.5
    s.sample_rate = rate_hz
    ahrs = imufusion.Ahrs()
    ahrs.set_settings(s)
    d = chunk.data.astype(np.float64)
    q = np.empty((chunk.n, 4))
    for i in range(chunk.n):
        ahrs.update(d[i, 3:6], d[i, 0:3] / GRAVITY, d[i, 6:9])
        q[i] = ahrs.get_quaternion()
    return q


def _static(q_true: np.ndarray, n: int, gyro_bias_dps=(0.0, 0.0, 0.0), seed: int = 0) -> Chunk:
    """A still sensor with orientation q_true (sensor->world)."""
    rng = np.random.default_rng(seed)
    inv = q_true * np.array([1, -1, -1, -1])
    acc = quat_rotate(inv, np.array([0, 0, GRAVITY])) + 0.01 * rng.standard_normal((n, 3))
    mag = quat_rotate(inv, FIELD_ENU) + 0.3 * rng.standard_normal((n, 3))
    gyr = np.asarray(gyro_bias_dps) + 0.05 * rng.standard_normal((n, 3))
    return Chunk(np.hstack([acc, gyr, mag]).astype(np.float32), np.arange(n) / RATE_HZ)


@pytest.fixture(scope="module")
def sim_recordings():
    return [sim.generate(seed=s, duration_s=40.0) for s in (0, 1)]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["complementary", "mahony"])
def test_orientation_error_on_sim_is_within_imufusions(sim_recordings, method):
    ours, theirs = [], []
    for rec in sim_recordings:
        for name in [n for n in rec.streams if n.startswith("sim-imu")]:
            info, chunk = rec.streams[name]
            truth = rec.truth.imu_quat[name]
            q = Ahrs(info, AhrsSettings(method=method)).process(chunk).data
            ours.append(angle_between_deg(q, truth)[200:])
            theirs.append(angle_between_deg(imufusion_run(chunk, info.rate_hz), truth)[200:])
    mean_ours = np.mean([e.mean() for e in ours])
    mean_theirs = np.mean([e.mean() for e in theirs])
    worst_ours = max(e.mean() for e in ours)
    worst_theirs = max(e.mean() for e in theirs)
    print(f"{method}: mean error {mean_ours:.2f} deg (imufusion {mean_theirs:.2f}); "
          f"worst sensor {worst_ours:.2f} deg (imufusion {worst_theirs:.2f})")
    assert mean_ours <= 1.1 * mean_theirs
    assert worst_ours <= 1.1 * worst_theirs
    assert mean_ours < 6.0


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, 2000), max_size=8), method=st.sampled_from(["complementary", "mahony"]))
def test_chunked_equals_whole_bit_identical(cuts, method, sim_recordings):
    info, chunk = sim_recordings[0].streams["sim-imu2"]
    chunk = chunk[:2000]
    whole = Ahrs(info, AhrsSettings(method=method)).process(chunk)
    ahrs = Ahrs(info, AhrsSettings(method=method))
    assert concat([ahrs.process(p) for p in split(chunk, sorted(cuts))]).equals(whole)


def test_frame_is_enu_scalar_first_sensor_to_world():
    # flat, x pointing north: sensor->world is +90 deg about up
    q_true = np.array([np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    q = Ahrs(INFO).process(_static(q_true, 400)).data
    assert angle_between_deg(q[-1], q_true) < 1.0
    assert heading_deg(q[-1]) == pytest.approx(90.0, abs=1.0)  # sensor x points north
    # a random orientation is recovered from the first sample (no start-up ramp)
    q_rand = Rotation.random(random_state=3).as_quat(scalar_first=True)
    out = Ahrs(INFO).process(_static(q_rand, 50)).data
    assert angle_between_deg(out[0], q_rand) < 2.0


def test_gyro_bias_is_estimated_at_rest_and_orientation_holds():
    q_true = np.array([1.0, 0, 0, 0])
    ahrs = Ahrs(INFO, AhrsSettings(use_timestamps=True))
    out = ahrs.process(_static(q_true, int(20 * RATE_HZ), gyro_bias_dps=(1.5, -2.0, 0.8)))
    np.testing.assert_allclose(ahrs.state.gyro_bias_dps, [1.5, -2.0, 0.8], atol=0.1)
    assert ahrs.state.at_rest
    assert angle_between_deg(out.data[-1], q_true) < 1.0


def test_accelerometer_is_ignored_while_accelerating_and_tilt_is_kept():
    q_true = np.array([1.0, 0, 0, 0])
    still = _static(q_true, 400)
    d = np.array(still.data)
    d[200:260, 0] += 8.0  # 0.3 s of 8 m/s^2 forward acceleration, no rotation
    ahrs = Ahrs(INFO)
    q = ahrs.process(Chunk(d, still.t)).data
    assert ahrs.state.last_flags[200:260, 0].all()
    assert not ahrs.state.last_flags[300:, 0].any()
    assert angle_between_deg(q[259], q_true) < 1.0
    no_rejection = Ahrs(INFO, AhrsSettings(acc_norm_tol=100.0, acc_rejection_deg=180.0)).process(
        Chunk(d, still.t))
    assert angle_between_deg(no_rejection.data[259], q_true) > 3 * angle_between_deg(q[259], q_true)


def test_magnetic_disturbance_is_rejected_and_heading_kept():
    q_true = np.array([1.0, 0, 0, 0])
    still = _static(q_true, 800)
    d = np.array(still.data)
    d[200:600, 6] += 30.0  # a steel object near the sensor for 2 s
    ahrs = Ahrs(INFO)
    q = ahrs.process(Chunk(d, still.t)).data
    assert ahrs.state.last_flags[210:600, 1].all()
    assert abs(heading_deg(q[599]) - heading_deg(q_true)) < 1.0
    fusion = imufusion_run(Chunk(d, still.t), RATE_HZ)
    assert angle_between_deg(fusion[599], q_true) > 5.0  # without rejection the heading is pulled away


def test_segment_helpers_against_truth(sim_recordings):
    rec = sim_recordings[0]
    q_s = rec.truth.imu_quat["sim-imu0"]
    mount = rec.truth.imu_mounts[0]
    q_seg = segment_orientation(q_s, mount)
    # the sensor x axis, seen from the segment, is the mount's first column
    x_world = quat_rotate(q_s[:5], np.array([1.0, 0, 0]))
    x_from_seg = quat_rotate(q_seg[:5], mount @ np.array([1.0, 0, 0]))
    np.testing.assert_allclose(x_world, x_from_seg, atol=1e-9)
    np.testing.assert_allclose(relative_quat(q_s, q_s)[:, 0], 1.0, atol=1e-12)
    assert tilt_deg(np.array([1.0, 0, 0, 0])) == pytest.approx(0.0)
    q90 = np.array([np.cos(np.pi / 4), np.sin(np.pi / 4), 0, 0])
    assert tilt_deg(q90) == pytest.approx(90.0)
    elbow = quat_multiply(np.array([1.0, 0, 0, 0]), np.array([np.cos(0.5), 0, 0, np.sin(0.5)]))
    np.testing.assert_allclose(joint_angles_deg(np.array([1.0, 0, 0, 0]), elbow), [np.degrees(1.0), 0, 0],
                               atol=1e-9)


def test_missing_channels_and_bad_settings_raise_clear_errors():
    info = StreamInfo("imu", "IMU", ("acc_x", "acc_y", "acc_z"), "m/s^2", RATE_HZ)
    with pytest.raises(StreamError, match="needs one channel named 'gyro_x'"):
        Ahrs(info)
    with pytest.raises(StreamError, match="method must be one of"):
        Ahrs(INFO, AhrsSettings(method="kalman"))
    with pytest.raises(StreamError, match="use_timestamps"):
        Ahrs(INFO.with_(rate_hz=0.0))
    prefixed = INFO.with_(channels=tuple("imu0_" + c for c in INFO.channels))
    assert Ahrs(prefixed).process(_static(np.array([1.0, 0, 0, 0]), 10)).n == 10


def test_non_finite_sample_is_refused_with_its_time():
    c = _static(np.array([1.0, 0, 0, 0]), 20)
    d = np.array(c.data)
    d[7, 4] = np.nan
    ahrs = Ahrs(INFO)
    with pytest.raises(StreamError, match="non-finite IMU sample at t=0.035000"):
        ahrs.process(Chunk(d, c.t))


def _turning(rate_dps: float, seconds: float, bias_dps: float, seed: int = 0) -> Chunk:
    """Still, then a slow turn about x at ``rate_dps`` for ``seconds``, then still again;
    the gyro reads the turn plus a constant bias on every axis."""
    rng = np.random.default_rng(seed)
    n0, n1, n2 = int(10 * RATE_HZ), int(seconds * RATE_HZ), int(10 * RATE_HZ)
    rate = np.r_[np.zeros(n0), np.full(n1, rate_dps), np.zeros(n2)]
    angle = np.deg2rad(np.cumsum(rate) / RATE_HZ)
    q = np.stack([np.cos(angle / 2), np.sin(angle / 2), 0 * angle, 0 * angle], axis=1)
    inv = q * np.array([1, -1, -1, -1])
    acc = quat_rotate(inv, np.broadcast_to([0, 0, GRAVITY], (len(q), 3)))
    acc = acc + 0.01 * rng.standard_normal((len(q), 3))
    mag = quat_rotate(inv, np.broadcast_to(FIELD_ENU, (len(q), 3))) + 0.3 * rng.standard_normal((len(q), 3))
    gyr = np.c_[rate, 0 * rate, 0 * rate] + bias_dps + 0.05 * rng.standard_normal((len(q), 3))
    return Chunk(np.hstack([acc, gyr, mag]).astype(np.float32), np.arange(len(q)) / RATE_HZ), q


def test_a_slow_turn_is_not_taken_for_gyro_bias():
    """Slow turns (1-2.9 deg/s for 12 s) are below the gyro's rest threshold (3 deg/s); the
    bias must not follow them (gravity's direction moves). It may move only until gravity
    has turned by rest_tilt_deg: under 1 deg/s whatever the rate. With the gyro test alone
    it follows each turn to its rate (and at 3 deg/s would never come back)."""
    end = int(22 * RATE_HZ)  # the turn ends
    for rate in (1.0, 2.0, 2.9):
        chunk, q_true = _turning(rate, 12.0, bias_dps=0.5)
        ahrs = Ahrs(INFO)
        q = ahrs.process(chunk[:end]).data
        assert abs(ahrs.state.gyro_bias_dps[0] - 0.5) < 0.9
        loose = Ahrs(INFO, AhrsSettings(rest_tilt_deg=180.0))  # the gyro test alone
        q_loose = loose.process(chunk[:end]).data
        assert abs(loose.state.gyro_bias_dps[0] - 0.5 - rate) < 0.1
        err, err_loose = (angle_between_deg(x[-1], q_true[end - 1]) for x in (q, q_loose))
        assert err < 0.7 * err_loose, (rate, err, err_loose)


def test_the_accelerometer_recovers_a_tilt_that_drifted_beyond_rejection():
    """An estimate 40 deg off (a bias error carried it while the accelerometer was
    rejected) is pulled back once the rejection times out, not one sample per timeout."""
    q_true = np.array([1.0, 0, 0, 0])
    still = _static(q_true, int(20 * RATE_HZ))
    ahrs = Ahrs(INFO)
    ahrs.process(still[:10])
    off = Rotation.from_rotvec(np.deg2rad([40.0, 0, 0])).as_quat(scalar_first=True)
    ahrs.state.vector[:4] = off
    q = ahrs.process(still[10:]).data
    err = angle_between_deg(q, q_true)
    assert err[int(4 * RATE_HZ)] > 30.0  # rejected until the timeout (5 s)
    assert err[-1] < 1.0 and ahrs.state.last_flags[-200:, 0].sum() == 0

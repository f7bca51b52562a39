"""IMU, pose and clocks of the virtual mover against their ground truth."""

import numpy as np
import pytest

from wearsense import sim
from wearsense.sim.sensors import EARTH_FIELD_UT, GRAVITY
from wearsense.stream import count_lost

QUIET = dict(
    gyro_noise_dps_rthz=0.0,
    gyro_bias_dps=0.0,
    gyro_bias_walk_dps_rts=0.0,
    accel_noise_ug_rthz=0.0,
    accel_bias_mg=0.0,
    mag_noise_ut=0.0,
    mag_hard_iron_ut=0.0,
    pose_noise_m=0.0,
    tremor=0.0,
)  # no physiological tremor: a body that stands perfectly still between movements


def qmul(a, b):
    w1, x1, y1, z1 = a.T
    w2, x2, y2, z2 = b.T
    return np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        1,
    )


def qrot(q, v):
    """Rotate vectors v (n, 3) by quaternions q (n, 4), sensor -> world."""
    p = np.concatenate([np.zeros((v.shape[0], 1)), v], 1)
    conj = q * np.array([1, -1, -1, -1])
    return qmul(qmul(q, p), conj)[:, 1:]


@pytest.fixture(scope="module")
def quiet():
    return sim.generate(4, 30.0, **QUIET)


def test_noise_free_imu_obeys_the_kinematics(quiet):
    for name in ("sim-imu0", "sim-imu2", "sim-imu3"):
        info, imu = quiet.streams[name]
        q = quiet.truth.imu_quat[name]
        acc, gyro, mag = imu.data[:, 0:3], imu.data[:, 3:6], imu.data[:, 6:9]
        # standing still before the first movement: |acc| = g, no rotation
        rest = quiet.truth.sample_t[name] < 0.6
        np.testing.assert_allclose(np.linalg.norm(acc[rest], axis=1), GRAVITY, atol=2e-3)
        assert np.abs(gyro[rest]).max() < 0.05
        # magnetometer is the Earth's field seen through the true orientation
        np.testing.assert_allclose(
            qrot(q, mag.astype(float)), np.tile(EARTH_FIELD_UT, (len(q), 1)), atol=2e-3
        )
        # over the whole recording the body does not fly: mean vertical specific force = g
        assert abs(qrot(q, acc.astype(float))[:, 2].mean() - GRAVITY) < 0.05


def test_integrated_gyro_follows_the_true_orientation(quiet):
    info, imu = quiet.streams["sim-imu0"]
    q_true = quiet.truth.imu_quat["sim-imu0"]
    t = quiet.truth.sample_t["sim-imu0"]
    w = np.deg2rad(imu.data[:, 3:6].astype(float))
    q = q_true[0].copy()
    worst = 0.0
    for k in range(1, len(t)):
        dt = t[k] - t[k - 1]
        wm = 0.5 * (w[k] + w[k - 1]) * dt
        angle = np.linalg.norm(wm)
        dq = np.r_[np.cos(angle / 2), np.sin(angle / 2) * wm / angle] if angle > 0 else np.r_[1.0, 0, 0, 0]
        q = qmul(q[None], dq[None])[0]
        q /= np.linalg.norm(q)
        err = 2 * np.degrees(np.arccos(min(1.0, abs(float(q @ q_true[k])))))
        worst = max(worst, err)
    assert worst < 2.0  # degrees over 30 s of movement


def test_imu_noise_and_bias_are_mems_like():
    rec = sim.generate(8, 3.0)
    info, imu = rec.streams["sim-imu1"]
    rest = rec.truth.sample_t["sim-imu1"] < 0.6
    gyro = imu.data[rest, 3:6].astype(float)
    assert 0.04 < gyro.std(axis=0).mean() < 0.12  # 0.007 dps/rtHz at 200 Hz -> 0.07 dps
    assert np.all(np.abs(gyro.mean(axis=0)) <= rec.config.gyro_bias_dps + 0.05)
    assert np.abs(gyro.mean(axis=0)).max() > 0.05  # a turn-on bias is there
    assert info.units[:3] == ("m/s^2",) * 3 and info.units[3] == "deg/s" and info.units[6] == "uT"


def test_pose_has_its_noise_and_latency():
    rec = sim.generate(3, 10.0, pose_latency_ms=80.0)
    info, pose = rec.streams["sim-pose"]
    err = pose.data - rec.truth.pose
    assert 0.008 < np.nanstd(err) < 0.012
    clock = rec.truth.clocks["sim-pose"]
    capture = rec.truth.sample_t["sim-pose"]
    stamped = clock.true_time(pose.t)
    np.testing.assert_allclose(stamped - capture, 0.080, atol=2e-6)
    assert info.channels[:3] == ("pelvis_x", "pelvis_y", "pelvis_z")
    assert 0.9 < np.nanmean(pose.data[:30, 2]) < 1.05  # pelvis height standing (m)


def test_occlusions_make_nan_gaps_only_when_asked():
    clean = sim.generate(3, 10.0)
    assert not np.isnan(clean.streams["sim-pose"][1].data).any()
    info, pose = sim.generate(3, 20.0, occlusion_per_min=6.0).streams["sim-pose"]
    gaps = np.isnan(pose.data)
    assert gaps.any() and not gaps.all()
    info.check(pose)  # POSE streams may hold NaN
    col = gaps[:, np.argmax(gaps.sum(0))]
    edges = np.flatnonzero(np.diff(col.astype(int)))
    runs = np.diff(edges)[::2] / info.rate_hz if edges.size > 1 else np.array([])
    assert runs.size and runs.max() <= 1.0 + 2 / info.rate_hz


def test_device_timestamps_follow_each_clock_exactly(rec60):
    for name, (info, chunk) in rec60.streams.items():
        clock = rec60.truth.clocks[name]
        true_t = rec60.truth.sample_t[name] + clock.stamp_latency_s
        np.testing.assert_allclose(chunk.t, clock.device_time(true_t), atol=1e-6)
        # fitted drift from device timestamps vs true time matches the configured ppm
        slope = np.polyfit(true_t, chunk.t, 1)[0]
        assert abs((slope - 1) * 1e6 - clock.drift_ppm) < 0.05
        assert abs(clock.drift_ppm) <= rec60.config.drift_ppm


def test_drift_is_recoverable_from_host_arrival_times(rec60):
    """Lower envelope of (arrival - device time): jitter only ever delays packets."""
    for name, (info, chunk) in rec60.streams.items():
        clock = rec60.truth.clocks[name]
        pk = rec60.truth.packets[name]
        stamp_of = dict(zip(chunk.seq.tolist(), chunk.t.tolist()))
        dev = np.array([stamp_of[int(s)] for s in pk[:, 1]])
        delay = pk[:, 2] - dev
        windows = np.array_split(np.arange(len(dev)), 12)
        lows = [w[np.argmin(delay[w])] for w in windows]
        slope = np.polyfit(dev[lows], pk[lows, 2], 1)[0]
        drift_ppm = (1 / slope - 1) * 1e6
        assert abs(drift_ppm - clock.drift_ppm) < 3.0, (name, drift_ppm, clock.drift_ppm)


def test_packet_loss_leaves_whole_packet_gaps_at_the_configured_rate(rec60):
    for name, (info, chunk) in rec60.streams.items():
        p = rec60.truth.clocks[name].packet_samples
        gaps = np.diff(chunk.seq) - 1
        assert np.all(gaps % p == 0)
        lost_packets = count_lost(chunk.seq, previous=-1) // p
        total = lost_packets + chunk.n // p
        if total > 2000:
            assert 0.003 < lost_packets / total < 0.02  # configured 1 %


def test_ble_link_delivers_in_connection_events_with_bursts():
    rec = sim.generate(3, 10.0, ble_interval_ms=30.0, ble_per_event=4, jitter_ms=0.0, loss=0.0)
    clock = rec.truth.clocks["sim-emg"]
    arrival = rec.truth.packets["sim-emg"][:, 2]
    # every packet arrives on a connection event (host grid of 30 ms with the link's phase)
    k = (arrival - clock.interval_phase_s) / clock.interval_s
    np.testing.assert_allclose(k, np.round(k), atol=1e-6)
    # 10 ms packets, 30 ms events: bursts of three, never more than four per event
    _, counts = np.unique(np.round(k).astype(int), return_counts=True)
    assert counts.max() <= 4 and np.median(counts) == 3
    # and never before the packet was ready
    info, chunk = rec.streams["sim-emg"]
    stamp_of = dict(zip(chunk.seq.tolist(), rec.truth.sample_t["sim-emg"].tolist()))
    ready = np.array([stamp_of[int(s)] for s in rec.truth.packets["sim-emg"][:, 1]]) + clock.latency_s
    assert np.all(arrival >= ready - 1e-9)
    assert np.all(arrival - ready <= 2 * clock.interval_s)

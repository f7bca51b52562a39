"""Recorded XDF sessions -> Takes: the sync layer's clocks, the measured pose latency, targets from
the pose stream itself, calibration profiles, and what a session without pose gets told."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.dsp.resample import interpolate_to
from wearsense.errors import FormatError
from wearsense.fusion.data_xdf import read_xdf
from wearsense.fusion.featurize import body_frame
from wearsense.fusion.frames import FeatureSpec


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """34 s of the virtual mover (2 EMG, 2 IMUs, camera pose 50 ms late) recorded to XDF."""
    from wearsense.recording import record

    path = tmp_path_factory.mktemp("xdf") / "session.xdf"
    record(["sim://mover?seed=2&emg=2&imu=2&moves=reach,squat,step,reach&realtime=0&duration_s=34"], path)
    return path


@pytest.fixture(scope="module")
def take(session):
    return next(read_xdf(session))


def test_clocks_go_through_the_sync_layer_and_the_pose_lag_is_measured(take):
    assert take.meta["clock"].startswith("host clock by the sync layer")
    assert take.meta["pose_latency_from"].startswith("align_imu_pose")
    assert take.meta["pose_latency_s"] == pytest.approx(0.050, abs=0.01)  # the sim camera: 50 ms
    ok = take.pose_ok
    assert ok.mean() > 0.95 and take.pose_age[ok].min() >= take.meta["pose_latency_s"] - 1e-6
    assert take.emg.shape[1:] == (2, 8) and take.imu.shape[1:] == (2, 10) and take.pose.shape[1] == 60
    assert take.names["joints"] == [] and take.y_angles.shape[2] == 0  # keypoints give no joint angles


def test_targets_are_future_pose_frames_at_capture_time(session, take):
    from wearsense.io.xdf import load
    from wearsense.sync.timeline import sync_stored

    f = load(session)
    info, pose = sync_stored({"sim-pose": f.streams["sim-pose"]})[0]["sim-pose"]
    kp = body_frame(pose.data.reshape(pose.n, -1, 3), info.metadata["keypoints"]).reshape(pose.n, -1)
    lat = take.meta["pose_latency_s"]
    h = take.horizon_index(200)
    want = interpolate_to(pose.t - lat, kp, take.t + 0.2, max_gap_s=2.5 / 60)
    ok = take.y_ok[:, h]
    assert ok.mean() > 0.9 and not take.y_ok[-1, take.horizon_index(500)]
    np.testing.assert_allclose(take.y_kp[ok, h].reshape(ok.sum(), -1), want[ok], atol=1e-5)
    # what the model sees of now is a frame captured pose_age ago: the h = 0 target of an earlier step
    k = 900
    back = int(round(take.pose_age[k] * take.spec.step_hz))
    err = np.abs(take.pose[k] - take.y_kp[k - back, 0].ravel())
    assert np.median(err) < 0.01


def test_profiles_apply_imu_corrections_and_pose_lag(session, take):
    from wearsense.calibrate.profile import Profile
    from wearsense.io.xdf import load

    infos = {n: s.info for n, s in load(session, values=False).streams.items()}
    bias = [2.0, -1.0, 0.5]
    prof = {"sim-imu0": Profile(infos["sim-imu0"].source_id, {"gyro": {"bias_dps": bias}}),
            "sim-pose": Profile(infos["sim-pose"].source_id, {"sync": {"pose_lag_s": 0.07}})}
    cal = next(read_xdf(session, profile=prof))
    shift = cal.imu[:, 0, 4:7] - take.imu[:, 0, 4:7]
    np.testing.assert_allclose(shift, -np.deg2rad(bias) * np.ones((len(take), 3)), atol=1e-5)
    np.testing.assert_array_equal(cal.imu[:, 1], take.imu[:, 1])
    assert cal.meta["pose_latency_s"] == 0.07 and cal.meta["pose_latency_from"] == "profile"
    assert next(read_xdf(session, pose_latency_s=0.03)).meta["pose_latency_from"] == "argument"


def test_a_session_without_pose_is_an_error_naming_the_fix(tmp_path, session):
    from wearsense.errors import CalibrationError

    from wearsense.recording import record

    path = tmp_path / "nopose.xdf"
    record(["sim://mover?seed=1&emg=1&imu=1&pose=0&realtime=0&duration_s=1"], path)
    with pytest.raises(FormatError, match="missing POSE.*MoCap"):
        next(read_xdf(path))
    (tmp_path / "sub").mkdir()
    with pytest.raises(FormatError, match="no .xdf files"):
        next(read_xdf(tmp_path / "sub"))
    with pytest.raises(CalibrationError, match="profile"):
        next(read_xdf(session, FeatureSpec(emg_norm="mvc")))


def test_prepare_caches_a_session(session, tmp_path):
    from wearsense.fusion.data import TakeStore, prepare

    store = prepare(session, FeatureSpec(), tmp_path / "store", mover="dancer-1")
    assert isinstance(store, TakeStore) and store.card["source"]["kind"] == "xdf"
    assert store.card["movers"] == {"train": ["dancer-1"]} and store.card["channels"]["joints"] == []
    assert store.card["pose"]["latency_s"] == pytest.approx(0.05, abs=0.01)
    take = next(store.takes())
    assert take.y_angles.shape[2] == 0 and take.y_kp.shape[2:] == (20, 3)

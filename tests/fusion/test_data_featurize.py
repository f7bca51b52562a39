"""StepFeaturizer: chunked == whole, strict causality, masks, transforms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wearsense.dsp import EmgChain
from wearsense.errors import CalibrationError, StreamError
from wearsense.fusion.featurize import STEP_FIELDS, StepFeaturizer, body_frame, concat_steps
from wearsense.fusion.frames import FeatureSpec
from wearsense.stream import Chunk

SPEC = FeatureSpec()


def run_whole(streams, lat, spec=SPEC, start=0.5, end=None, **kw):
    infos = {n: i for n, (i, _) in streams.items()}
    f = StepFeaturizer(spec, infos, pose_latency_s=lat, start_s=start, **kw)
    for n, (_, c) in streams.items():
        f.push(n, c)
    end = end if end is not None else min(c.t[-1] for n, (_, c) in streams.items() if n != "sim-pose")
    return f.advance(end), f


def run_chunked(streams, lat, edges, spec=SPEC, start=0.5, end=None):
    """Push every stream up to each edge in pieces (streams interleaved), advancing as it goes."""
    infos = {n: i for n, (i, _) in streams.items()}
    f = StepFeaturizer(spec, infos, pose_latency_s=lat, start_s=start)
    end = end if end is not None else min(c.t[-1] for n, (_, c) in streams.items() if n != "sim-pose")
    pos = {n: 0 for n in streams}
    parts = []
    for e in list(edges) + [math.inf]:
        for n, (_, c) in streams.items():
            j = int(np.searchsorted(c.t, e, side="left"))
            if j > pos[n]:
                f.push(n, c[pos[n]:j])
                pos[n] = j
        parts.append(f.advance(min(np.nextafter(e, -math.inf), end)))
    return concat_steps(parts)


def test_chunked_equals_whole(sim_host_streams):
    streams, lat = sim_host_streams
    whole, f = run_whole(streams, lat)
    rng = np.random.default_rng(0)
    edges = np.sort(rng.uniform(0.0, 8.0, 40))  # uneven pieces, some shorter than a step
    chunked = run_chunked(streams, lat, edges)
    assert len(whole["t"]) > 400
    for name in STEP_FIELDS:
        np.testing.assert_array_equal(chunked[name], whole[name], err_msg=name)
    assert whole["emg"].shape == (len(whole["t"]), 4, SPEC.emg_patch)
    assert whole["imu"].shape[1:] == (2, 10)
    assert f.names["imu"] == ["sim-imu0", "sim-imu1"]


def _perturbed(streams, after_s, seed=1):
    """Every sample later than ``after_s`` in every stream replaced by something else."""
    rng = np.random.default_rng(seed)
    out = {}
    for n, (info, c) in streams.items():
        d = np.array(c.data)
        late = c.t > after_s
        d[late] = d[late] * rng.uniform(0.2, 5.0, d[late].shape) + rng.normal(0, 1e-4, d[late].shape)
        if info.modality.value == "POSE":
            d[late] += rng.normal(0, 0.2, d[late].shape)
        out[n] = (info, Chunk(d, c.t, c.seq, c.clock))
    return out


@pytest.mark.parametrize("after_s", [3.0, 5.517])
def test_strict_causality_no_step_sees_a_later_sample(sim_host_streams, after_s):
    streams, lat = sim_host_streams
    base, _ = run_whole(streams, lat)
    pert, _ = run_whole(_perturbed(streams, after_s), lat)
    past = base["t"] <= after_s
    for name in STEP_FIELDS:
        np.testing.assert_array_equal(pert[name][past], base[name][past], err_msg=name)
    # and the perturbation is seen once it has happened (the test can fail)
    for name in ("emg", "imu", "pose"):
        assert not np.array_equal(pert[name][~past], base[name][~past]), name


def test_pose_is_the_newest_frame_arrived_with_its_age(sim_host_streams):
    streams, lat = sim_host_streams
    out, _ = run_whole(streams, lat)
    info, pose = streams["sim-pose"]
    t = out["t"]
    arrived = np.searchsorted(pose.t, t, side="right") - 1
    assert (out["pose_ok"] == (arrived >= 0)).all()
    ok = out["pose_ok"]
    capture = pose.t[arrived[ok]] - lat
    np.testing.assert_allclose(out["pose_age"][ok], t[ok] - capture, atol=1e-6)
    assert out["pose_age"][ok].min() >= lat - 1e-9
    assert out["pose_age"][ok].max() <= lat + 1 / 60 + 1e-3
    kp = body_frame(pose.data[arrived[ok]].reshape(ok.sum(), -1, 3), info.metadata["keypoints"])
    np.testing.assert_allclose(out["pose"][ok], kp.reshape(ok.sum(), -1), atol=1e-6)


def test_body_frame_puts_pelvis_at_origin_facing_x():
    names = ["pelvis", "hip_r", "hip_l", "hand_r"]
    body = np.array([[0, 0, 1.0], [0, -0.1, 0.95], [0, 0.1, 0.95], [0.3, -0.2, 1.0]])
    turn = np.deg2rad(70.0)
    r = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    world = body @ r.T + np.array([2.0, -1.0, 0.0])
    got = body_frame(world[None], names)[0]
    np.testing.assert_allclose(got, body - body[0], atol=1e-12)


def test_emg_is_log1p_of_the_causal_envelope_at_patch_instants(sim_host_streams):
    streams, lat = sim_host_streams
    out, _ = run_whole(streams, lat)
    info, emg = streams["sim-emg"]
    env = EmgChain(info.rate_hz, SPEC.emg_chain_settings()).process(emg).data
    k = 100
    tk = out["t"][k]
    for p in range(SPEC.emg_patch):
        instant = tk - SPEC.step_s + SPEC.step_s * (p + 1) / SPEC.emg_patch
        i = np.searchsorted(emg.t, instant, side="right") - 1
        np.testing.assert_allclose(out["emg"][k, :, p], np.log1p(env[i] / 10e-6), rtol=1e-6)


def test_missing_samples_are_masked_never_invented(sim_host_streams):
    streams, lat = sim_host_streams
    streams = dict(streams)
    info, emg = streams["sim-emg"]
    gap = (emg.t > 4.0) & (emg.t < 4.5)
    streams["sim-emg"] = (info, Chunk(emg.data[~gap], emg.t[~gap], emg.seq[~gap], "host"))
    pinfo, pose = streams["sim-pose"]
    d = np.array(pose.data)
    hidden = (pose.t > 6.0) & (pose.t < 6.3)
    d[hidden, 3:6] = np.nan  # one keypoint occluded
    streams["sim-pose"] = (pinfo, Chunk(d, pose.t, pose.seq, "host"))
    iinfo, imu = streams["sim-imu0"]
    keep = ~((imu.t > 2.0) & (imu.t < 2.4))
    streams["sim-imu0"] = (iinfo, Chunk(imu.data[keep], imu.t[keep], imu.seq[keep], "host"))
    out, _ = run_whole(streams, lat)
    t = out["t"]
    in_gap = (t - SPEC.step_s >= 4.0) & (t < 4.5)
    assert in_gap.sum() >= 25
    assert not out["emg_ok"][in_gap].any() and (out["emg"][in_gap] == 0).all()
    assert out["emg_ok"][(t > 1.0) & (t < 3.9)].all()
    occluded = (t > 6.0 + 0.02) & (t < 6.3 - 0.02)  # pose.t is the arrival time
    assert not out["pose_ok"][occluded].any() and (out["pose"][occluded] == 0).all()
    assert np.isfinite(out["pose"]).all()
    imu_gap = (t > 2.05) & (t < 2.4)
    assert not out["imu_ok"][imu_gap, 0].any() and out["imu_ok"][imu_gap, 1].all()
    assert (out["imu"][imu_gap, 0] == 0).all()


def test_events_are_decided_onsets_newest_first(sim_host_streams):
    streams, lat = sim_host_streams
    out, _ = run_whole(streams, lat)
    info, emg = streams["sim-emg"]
    det = SPEC.onset_detector(info.rate_hz)
    det.process(emg)
    onsets = [e for e in det.pop_events() if e.kind == "onset"]
    assert onsets, "the sim's reach and squat must give onsets"
    t, ev, ok = out["t"], out["events"], out["events_ok"]
    assert ok.any()
    for k in np.flatnonzero(ok.any(axis=1)):
        n = ok[k].sum()
        ages = ev[k, :n, 1]
        assert (np.diff(ages) >= -1e-6).all() and (ages <= SPEC.event_window_s + 1e-6).all()
        for ch, age in ev[k, :n]:
            match = [e for e in onsets if e.channel == ch and abs(t[k] - age - e.t) < 1e-5]
            assert match and match[0].decided_t <= t[k] + 1e-12
    # every onset shows up once decided
    e0 = onsets[0]
    k = np.searchsorted(t, e0.decided_t, side="left")
    assert ok[k].any() and e0.channel in ev[k, ok[k], 0]


def test_mvc_norm_needs_a_profile_and_divides_by_mvc(sim_host_streams):
    from wearsense.calibrate.profile import Profile

    streams, lat = sim_host_streams
    spec = FeatureSpec(emg_norm="mvc")
    infos = {n: i for n, (i, _) in streams.items()}
    with pytest.raises(CalibrationError, match="profile"):
        StepFeaturizer(spec, infos)
    info, emg = streams["sim-emg"]
    mvc = [2e-4, 5e-4, 1e-3, 4e-4]
    prof = Profile(info.source_id, {"emg": {"channels": list(info.channels), "mvc_v": mvc}})
    out, _ = run_whole(streams, lat, spec=spec, profile={"sim-emg": prof})
    fixed, _ = run_whole(streams, lat)
    env_v = np.expm1(fixed["emg"].astype(np.float64)) * 10e-6
    want = np.log1p(env_v / np.array(mvc)[None, :, None] / 0.01)
    np.testing.assert_allclose(out["emg"], want, rtol=2e-3, atol=2e-4)


def test_unknown_stream_and_bad_units_are_errors(sim_host_streams):
    streams, lat = sim_host_streams
    infos = {n: i for n, (i, _) in streams.items()}
    f = StepFeaturizer(SPEC, infos)
    with pytest.raises(StreamError, match="unknown stream"):
        f.push("nope", streams["sim-emg"][1])
    bad = streams["sim-emg"][0].with_(units="furlongs")
    with pytest.raises(StreamError, match="unit"):
        StepFeaturizer(SPEC, [bad])


def test_a_channel_whose_electrode_is_off_is_masked(sim_host_streams):
    streams, lat = sim_host_streams
    streams = dict(streams)
    info, emg = streams["sim-emg"]
    d = np.array(emg.data)
    off = (emg.t > 3.0) & (emg.t < 6.0)
    d[off, 1] = 0.0  # a flat line on channel 1: no contact
    streams["sim-emg"] = (info, Chunk(d, emg.t, emg.seq, "host"))
    out, _ = run_whole(streams, lat)
    t = out["t"]
    judged = (t > 3.0 + 1.3) & (t < 6.0)  # one quality window (1 s) + one evaluation step later
    assert not out["emg_ok"][judged, 1].any() and (out["emg"][judged, 1] == 0).all()
    assert out["emg_ok"][judged][:, [0, 2, 3]].all()
    assert out["emg_ok"][(t > 1.5) & (t < 3.0), 1].all() and out["emg_ok"][t > 7.3, 1].all()
    chunked = run_chunked(streams, lat, np.linspace(0.1, 7.9, 57))
    np.testing.assert_array_equal(chunked["emg_ok"], out["emg_ok"])


def test_feature_spec_round_trips_and_maps_onto_dsp_settings():
    from wearsense.dsp.onset import CusumChangePoint
    from wearsense.errors import ConfigError

    spec = FeatureSpec(emg_band_hz=(30.0, 400.0), envelope_hz=4.0, onset_method="cusum", mains_hz=50)
    assert FeatureSpec.from_dict(spec.to_dict()) == spec
    chain = spec.emg_chain_settings()
    assert (chain.bandpass.low_hz, chain.bandpass.high_hz, chain.envelope.cutoff_hz) == (30.0, 400.0, 4.0)
    assert chain.notch.mains_hz == 50 and isinstance(spec.onset_detector(2000.0), CusumChangePoint)
    with pytest.raises(ConfigError, match="unknown setting"):
        FeatureSpec.from_dict({**spec.to_dict(), "warp": 9})
    with pytest.raises(ConfigError, match="onset_method"):
        FeatureSpec(onset_method="guess")


def _segment_profiles(streams, rotations):
    from wearsense.calibrate.profile import Profile

    return {
        n: Profile(streams[n][0].source_id, {"segment": {"segment": "x", "sensor_to_segment": m.tolist()}})
        for n, m in rotations.items()
    }


def test_segment_frame_turns_orientation_gyro_and_accel_by_the_profile(sim_host_streams):
    """imu_frame='segment': q ⊗ m*, M g, M a of the sensor-frame features (M per stream)."""
    from scipy.spatial.transform import Rotation

    from wearsense.dsp.ahrs import quat_rotate

    streams, lat = sim_host_streams
    imus = [n for n, (i, _) in streams.items() if i.modality.value == "IMU"]
    turns = ([0.1, -0.05, 0.12], [-0.2, 0.1, 0.0])
    rot = {n: Rotation.from_rotvec(v).as_matrix() for n, v in zip(imus, turns)}
    sensor, _ = run_whole(streams, lat)
    seg, _ = run_whole(streams, lat, spec=FeatureSpec(imu_frame="segment"),
                       profile=_segment_profiles(streams, rot))
    for j, n in enumerate(imus):
        m = rot[n]
        a, b = sensor["imu"][:, j].astype(np.float64), seg["imu"][:, j].astype(np.float64)
        np.testing.assert_allclose(b[:, 4:7], a[:, 4:7] @ m.T, atol=1e-5)
        np.testing.assert_allclose(b[:, 7:10], a[:, 7:10] @ m.T, atol=1e-5)
        # the same world vector: a segment axis turned by the segment quaternion equals
        # that axis in sensor axes turned by the sensor quaternion
        for axis in np.eye(3):
            np.testing.assert_allclose(quat_rotate(b[:, :4], np.broadcast_to(axis, (len(b), 3))),
                                       quat_rotate(a[:, :4], np.broadcast_to(m.T @ axis, (len(a), 3))),
                                       atol=1e-5)
    np.testing.assert_array_equal(seg["imu_ok"], sensor["imu_ok"])
    assert not np.allclose(seg["imu"], sensor["imu"], atol=1e-3)


def test_segment_frame_reads_the_profile_a_stream_carries_and_refuses_none(sim_host_streams):
    from scipy.spatial.transform import Rotation

    streams, lat = sim_host_streams
    spec = FeatureSpec(imu_frame="segment")
    infos = {n: i for n, (i, _) in streams.items()}
    with pytest.raises(CalibrationError, match="sim-imu0.*no.*calibrate npose"):
        StepFeaturizer(spec, infos)
    rot = {n: Rotation.from_rotvec([0.0, 0.1 * k, 0.2]).as_matrix()
           for k, n in enumerate(n for n, i in infos.items() if i.modality.value == "IMU")}
    given, _ = run_whole(streams, lat, spec=spec, profile=_segment_profiles(streams, rot))
    profs = _segment_profiles(streams, rot)
    carried = {}
    for n, (i, c) in streams.items():
        if n in profs:
            i = i.with_(metadata={**i.metadata, "calibration": profs[n].to_dict()})
        carried[n] = (i, c)
    attached, _ = run_whole(carried, lat, spec=spec)
    np.testing.assert_array_equal(attached["imu"], given["imu"])
    # the sensor frame ignores a segment section
    plain, _ = run_whole(carried, lat)
    np.testing.assert_array_equal(plain["imu"], run_whole(streams, lat)[0]["imu"])
    bent = _segment_profiles(streams, {n: np.diag([1.0, 1.0, 2.0]) for n in rot})
    with pytest.raises(CalibrationError, match="not a proper rotation"):
        StepFeaturizer(spec, infos, bent)


def test_imu_frame_is_a_checked_spec_setting_and_old_specs_read_as_sensor():
    from wearsense.errors import ConfigError

    with pytest.raises(ConfigError, match="imu_frame"):
        FeatureSpec(imu_frame="world")
    d = FeatureSpec().to_dict()
    del d["imu_frame"]  # a spec written before the setting existed
    assert FeatureSpec.from_dict(d).imu_frame == "sensor"
    assert FeatureSpec.from_dict(FeatureSpec(imu_frame="segment").to_dict()).imu_frame == "segment"

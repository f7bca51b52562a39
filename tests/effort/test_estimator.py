"""EffortEstimator: streaming contract, factor fields, availability by sensor set."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.effort import FACTORS, EffortEstimator, EffortSettings
from wearsense.errors import StreamError
from wearsense.stream import split_every


def _states(bench, rec, chunk_s, skip=()):
    return bench.run(rec, chunk_s=chunk_s, skip=skip)


def test_chunked_equals_whole(bench, effort_rec):
    st = bench.streams_on_true_clock(effort_rec)
    whole = EffortEstimator([i for i, _ in st.values()], calibration=bench.mvc_envelope_v(effort_rec))
    for name, (_, c) in st.items():
        whole.push(name, c)
    a = whole.advance(15.0)
    b = [s for s in _states(bench, effort_rec, 0.037) if s.t <= 15.0 + 1e-9]
    assert len(a) == len(b) > 100
    va = np.array([s.values() for s in a])
    vb = np.array([s.values() for s in b])
    np.testing.assert_allclose(va, vb, atol=1e-9)


def test_updates_at_10_hz_with_every_factor_described(bench, effort_rec):
    states = _states(bench, effort_rec, 0.05)
    t = np.array([s.t for s in states])
    assert np.allclose(np.diff(t), 0.1)
    for s in states[20:]:
        for f in FACTORS:
            fac = getattr(s, f)
            assert fac.available and fac.sensors and 0 <= fac.confidence <= 1
            assert -1 <= fac.value <= 1 and fac.pole


def test_space_is_unavailable_without_pose_or_imu_and_not_guessed(bench, effort_rec):
    states = _states(bench, effort_rec, 0.1, skip=("POSE", "IMU"))
    sp = [s.space for s in states]
    assert all(not f.available and np.isnan(f.value) and f.pole == "" for f in sp)
    assert "pose" in sp[0].note
    # Weight and Flow still come from EMG alone
    assert all(s.weight.available and s.flow.available for s in states)


def test_space_from_an_imu_alone_is_marked_weaker(bench, effort_rec):
    states = _states(bench, effort_rec, 0.1, skip=("POSE",))
    moving = [s.space for s in states if s.space.confidence > 0]
    assert moving and all(f.confidence <= 0.5 and "weaker" in f.note for f in moving)


def test_weight_without_emg_is_a_kinetic_proxy_with_low_confidence(bench, effort_rec):
    states = _states(bench, effort_rec, 0.1, skip=("EMG",))
    assert all(s.weight.confidence <= 0.3 and "not force" in s.weight.note for s in states)
    assert all(not s.flow.available for s in states)


def test_pushing_a_stream_back_in_time_is_an_error(bench, effort_rec):
    st = bench.streams_on_true_clock(effort_rec)
    info, chunk = st["sim-imu0"]
    est = EffortEstimator([info])
    parts = list(split_every(chunk, 100))
    est.push("sim-imu0", parts[1])
    with pytest.raises(StreamError, match="time order"):
        est.push("sim-imu0", parts[0])


def test_settings_refuse_updates_slower_than_10_hz():
    with pytest.raises(StreamError, match="10 Hz"):
        EffortSettings(step_s=0.2)


def test_occluded_pose_and_lost_packets_give_finite_factors(bench):
    from wearsense import sim

    rec = sim.generate(
        2, 12.0, vocabulary="full", families=("effort",), occlusion_per_min=20.0, loss=0.02, **bench.SENSORS
    )
    assert np.isnan(np.asarray(rec.streams["sim-pose"][1].data)).any()
    states = bench.run(rec)
    assert np.isfinite(np.array([s.values() for s in states])).all()


def test_an_irregular_imu_stream_is_refused_with_the_fix(bench, effort_rec):
    info, _ = effort_rec.streams["sim-imu0"]
    with pytest.raises(StreamError, match="resample"):
        EffortEstimator([info.with_(rate_hz=0.0)])


def test_weight_uses_the_mvc_calibration_when_given_and_a_running_reference_otherwise(bench, effort_rec):
    from wearsense.calibrate.emg import EmgCalibration

    st = bench.streams_on_true_clock(effort_rec)
    info, chunk = st["sim-emg"]
    mvc = bench.mvc_envelope_v(effort_rec)
    cal = EmgCalibration(
        info.channels,
        np.zeros(info.n_channels),
        np.zeros(info.n_channels),
        np.array([mvc[c] for c in info.channels]),
        ("mvc",) * info.n_channels,
    )
    runs = {}
    for label, calibration in (("mapping", mvc), ("EmgCalibration", cal), ("none", None)):
        est = EffortEstimator([info], calibration=calibration)
        est.push(info.name, chunk)
        runs[label] = est.advance(15.0)
    a, b, c = (np.array([s.weight.value for s in runs[k]]) for k in ("mapping", "EmgCalibration", "none"))
    np.testing.assert_allclose(a, b)
    assert all(s.weight.unit == "MVC" and s.weight.confidence == 1.0 for s in runs["EmgCalibration"])
    assert all("running reference" in s.weight.note and s.weight.confidence == 0.5 for s in runs["none"])
    assert EffortEstimator([info]).state["sim-emg"]["reference"] == "running reference"

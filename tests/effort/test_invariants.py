"""Invariants of the Effort factors (issue 17): what must hold whatever the scales."""

from __future__ import annotations

import numpy as np
import pytest
from effort_synth import emg_stream, imu_stream, min_jerk, pose_stream, run

from wearsense import sim
from wearsense.dsp import EmgChain
from wearsense.effort import EffortSettings
from wearsense.stream import Chunk


def _peak(states, factor, what="value"):
    return float(np.nanmax([getattr(getattr(s, factor), what) for s in states]))


@pytest.mark.parametrize("sensor", ["imu", "pose"])
def test_time_rises_when_the_same_trajectory_is_played_faster(sensor):
    peaks, raws = [], []
    for speed in (1.0, 2.0, 4.0):
        dur = 1.0 / speed  # the same path, 1x, 2x, 4x faster
        if sensor == "imu":
            streams = [imu_stream(lambda t: 1.2 * min_jerk((t - 0.5) / dur), 3.0)]
        else:
            streams = [
                pose_stream(lambda t: np.outer(min_jerk((t - 0.5) / dur), [0.6, 0.0, 0.0]) + [0, 0, 1], 3.0)
            ]
        states = run(streams)
        peaks.append(_peak(states, "time"))
        raws.append(_peak(states, "time", "raw"))
    assert raws[0] < raws[1] < raws[2], raws
    assert peaks[0] < peaks[1] < peaks[2] or (peaks[0] < peaks[1] and peaks[2] == 1.0), peaks


def _corkscrew(t, k=0.0):
    s = min_jerk((t - 0.5) / 1.5)
    ang = 2 * np.pi * 2 * s
    x = 0.6 * s
    return np.column_stack([x, k * 0.12 * np.sin(ang), 1.0 + k * 0.12 * (1 - np.cos(ang))])


def test_space_is_direct_on_a_straight_path_and_indirect_on_a_winding_one_with_the_same_ends():
    straight = run([pose_stream(lambda t: _corkscrew(t, 0.0), 2.5)])
    winding = run([pose_stream(lambda t: _corkscrew(t, 1.0), 2.5)])
    t = np.array([s.t for s in straight])
    moving = (t > 0.9) & (t < 1.8)
    s_raw = np.array([s.space.raw for s in straight])[moving]
    w_raw = np.array([s.space.raw for s in winding])[moving]
    assert np.allclose(_corkscrew(np.array([0.0, 2.5]), 1.0), _corkscrew(np.array([0.0, 2.5]), 0.0))
    assert np.nanmax(np.abs(s_raw - 1.0)) < 0.05, s_raw  # spread ≈ 1
    assert np.nanmedian(w_raw) > 1.5, w_raw
    assert all(s.space.pole == "direct" for s, m in zip(straight, moving) if m)
    assert np.median([s.space.value for s, m in zip(winding, moving) if m]) < -0.5


def test_space_by_strokes_sees_a_planar_zigzag_as_indirect():
    def zigzag(t):
        s = min_jerk((t - 0.5) / 1.5)
        return np.column_stack([0.6 * s, 0.1 * np.sin(2 * np.pi * 3 * s), np.ones_like(s)])

    states = run([pose_stream(zigzag, 2.5)], EffortSettings(space_strokes=True))
    t = np.array([s.t for s in states])
    raw = np.array([s.space.raw for s in states])[(t > 0.9) & (t < 1.8)]
    assert np.nanmedian(raw) > 1.5


@pytest.fixture(scope="module")
def press_and_flick(bench):
    """A strong isometric press and a fast relaxed flick, performed by the same mover."""
    out = {}
    for kind in ("press", "flick"):
        rec = sim.generate(5, 12.0, vocabulary="full", moves=(kind,), **bench.SENSORS)
        mv = next(m for m in rec.truth.movements if m.kind == kind and m.end < 11.0)
        out[kind] = (rec, mv)
    return out


def _mean_in(states, mv, factor):
    return float(np.mean([getattr(s, factor).value for s in states if mv.start <= s.t <= mv.end]))


def test_weight_is_not_speed(bench, press_and_flick):
    """A motionless strong press scores stronger than a fast relaxed flick; the
    motion-only proxy (no EMG) gets them the wrong way round, as mocap proxies do."""
    w, w_kin, speed = {}, {}, {}
    for kind, (rec, mv) in press_and_flick.items():
        states = bench.run(rec)
        w[kind] = _mean_in(states, mv, "weight")
        kin = bench.run(rec, skip=("EMG",))
        w_kin[kind] = _mean_in(kin, mv, "weight")
        speed[kind] = float(
            np.mean([s.cues.get("pose_hand_speed", 0.0) for s in states if mv.start <= s.t <= mv.end])
        )
    assert speed["flick"] > 3 * speed["press"]  # the flick moves, the press does not
    assert w["press"] > 0.3 and w["flick"] < -0.3 and w["press"] > w["flick"], w
    assert w_kin["press"] < w_kin["flick"], w_kin


def test_flow_below_the_noise_floor_is_invalid_and_co_contraction_is_read_exactly():
    # the MVC envelope of each muscle: a maximal contraction (1 mV RMS) through the same chain
    info, trial = emg_stream(lambda t: np.full((t.size, 2), 1e-3), 3.0, seed=1)
    env = np.asarray(EmgChain(info.rate_hz).process(trial).data)[2000:].mean(axis=0)
    mvc = dict(zip(info.channels, env.tolist()))
    # both muscles at noise level: no valid pair
    quiet = run([emg_stream(lambda t: np.full((t.size, 2), 1e-6), 3.0)], calibration=mvc)
    assert all(s.flow.note == "antagonist pairs below the noise floor" for s in quiet[10:])
    # a held co-contraction: both at 30 % and 15 % of MVC
    held = run([emg_stream(lambda t: np.tile([0.3e-3, 0.15e-3], (t.size, 1)), 3.0)], calibration=mvc)
    cue = np.median([s.cues["emg_cc_rudolph"] for s in held[15:]])
    fw = np.median([s.cues["emg_cc_falconer_winter"] for s in held[15:]])
    assert cue == pytest.approx(0.5 * 0.45, rel=0.1)  # lower/higher * (lower + higher)
    assert fw == pytest.approx(2 * 0.15 / 0.45, rel=0.1)
    assert held[-1].flow.pole == "bound"


def _rotated(chunk: Chunk, q: np.ndarray) -> Chunk:
    x = np.asarray(chunk.data, float).copy()
    for cols in ((0, 1, 2), (3, 4, 5), (6, 7, 8)):
        x[:, cols] = x[:, cols] @ q.T
    return chunk.with_data(x)


def _imu_only(bench, rec, transform, rate_hz=200.0):
    from wearsense.effort import EffortEstimator

    st = {n: v for n, v in bench.streams_on_true_clock(rec).items() if v[0].modality.name == "IMU"}
    est = EffortEstimator([i.with_(rate_hz=rate_hz) for i, _ in st.values()])
    for name, (info, chunk) in st.items():
        est.push(name, transform(chunk))
    return est.advance(rec.duration_s - 1.0)


def _per_movement(bench, states, rec):
    sc = bench.movement_scores(states, rec.truth.movements)
    return np.array([v for _, _, v in sc])


def test_a_rotated_imu_mount_changes_the_factors_by_less_than_5_percent(bench, effort_rec):
    rng = np.random.default_rng(1)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    q *= np.sign(np.linalg.det(q))
    a = _imu_only(bench, effort_rec, lambda c: c)
    b = _imu_only(bench, effort_rec, lambda c: _rotated(c, q))
    va, vb = _per_movement(bench, a, effort_rec), _per_movement(bench, b, effort_rec)
    ok = np.isfinite(va) & np.isfinite(vb)
    # values span -1..1: 5 % of the range is 0.1
    assert np.max(np.abs(va - vb)[ok]) < 0.1
    for cue in ("imu_jerk_peak", "imu_axis_linearity"):
        x = np.array([s.cues.get(cue, np.nan) for s in a])
        y = np.array([s.cues.get(cue, np.nan) for s in b])
        m = np.isfinite(x) & np.isfinite(y) & (np.abs(x) > 1e-3)
        assert np.median(np.abs(y[m] / x[m] - 1)) < 0.05, cue


def test_100_hz_and_200_hz_imu_input_agree_within_5_percent(bench, effort_rec):
    a = _imu_only(bench, effort_rec, lambda c: c)
    b = _imu_only(bench, effort_rec, lambda c: Chunk(np.asarray(c.data)[::2], np.asarray(c.t)[::2]), 100.0)
    va, vb = _per_movement(bench, a, effort_rec), _per_movement(bench, b, effort_rec)
    ok = np.isfinite(va) & np.isfinite(vb)
    assert np.max(np.abs(va - vb)[ok]) < 0.1, np.abs(va - vb)
    x = np.array([s.cues.get("imu_jerk_peak", np.nan) for s in a])
    y = np.array([s.cues.get("imu_jerk_peak", np.nan) for s in b])
    m = np.isfinite(x) & np.isfinite(y) & (x > 20)
    assert np.median(np.abs(y[m] / x[m] - 1)) < 0.05


def test_flow_is_read_with_less_confidence_during_an_agonist_burst_than_in_a_hold():
    # a held co-contraction (20 % / 10 % MVC) with a biceps burst to 60 % MVC at 2 s
    info, trial = emg_stream(lambda t: np.full((t.size, 2), 1e-3), 3.0, seed=1)
    env = np.asarray(EmgChain(info.rate_hz).process(trial).data)[2000:].mean(axis=0)
    mvc = dict(zip(info.channels, env.tolist()))

    def amp(t):
        a = np.tile([0.2e-3, 0.1e-3], (t.size, 1))
        a[:, 0] += 0.4e-3 * ((t >= 2.0) & (t < 2.4))
        return a

    states = run([emg_stream(amp, 4.0)], calibration=mvc)
    conf = {round(s.t, 1): s.flow.confidence for s in states}
    hold = conf[1.8]
    burst = max(conf[t] for t in (2.1, 2.2, 2.3))
    assert hold > 0.9, hold  # a steady contraction's envelope fluctuation is no burst
    assert burst < 0.2 * hold, (burst, hold)
    # with the burst weighting off, confidence stays at 1 (a valid pair, MVC-calibrated)
    plain = run([emg_stream(amp, 4.0)], EffortSettings(flow_burst_rise=0.0), calibration=mvc)
    assert all(s.flow.confidence == 1.0 for s in plain[10:])

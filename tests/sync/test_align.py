"""IMU ⇄ pose alignment recovers an injected offset within one pose frame."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense import sim
from wearsense.stream import Chunk
from wearsense.sync.align import AlignmentError, align_imu_pose, find_claps

POSE_FRAME_S = 1.0 / 60.0


@pytest.fixture(scope="module")
def gestures():
    """Gestures (claps among them) and rests; camera latency 0 so the injected offset is the truth."""
    return sim.generate(5, 60.0, pose_latency_ms=0.0, moves=("gesture", "rest"), keep_truth=False)


def on_true_time(rec, name, shift_s=0.0):
    info, c = rec.streams[name]
    return info, Chunk(c.data, rec.truth.sample_t[name] + shift_s, c.seq, "session")


@pytest.mark.parametrize("injected_s", [0.137, -0.083])
def test_cross_correlation_recovers_an_injected_offset_within_one_pose_frame(gestures, injected_s):
    imus = [on_true_time(gestures, f"sim-imu{i}") for i in range(4)]
    a = align_imu_pose(imus, on_true_time(gestures, "sim-pose", injected_s))
    assert abs(a.lag_s - injected_s) < POSE_FRAME_S
    assert a.confidence > 0.9 and a.peak_corr > 0.8
    assert a.ci95_s[0] <= a.lag_s <= a.ci95_s[1]
    fixed = a.apply(on_true_time(gestures, "sim-pose", injected_s)[1])
    assert np.allclose(fixed.t, gestures.truth.sample_t["sim-pose"] + injected_s - a.lag_s)


def test_sync_gesture_finds_the_claps_and_recovers_the_offset(gestures):
    pinfo, pose = on_true_time(gestures, "sim-pose", 0.05)
    claps = find_claps(pinfo, pose)
    true_claps = [m.start for m in gestures.truth.movements if m.detail.startswith("clap")]
    assert len(claps) == len(true_claps) >= 1
    for c in claps:  # hands meet at the end of the rise (0.25..0.4 s after the start), plus the 50 ms
        assert min(abs(c - t - 0.3) for t in true_claps) < 0.3
    imus = [on_true_time(gestures, f"sim-imu{i}") for i in range(4)]
    a = align_imu_pose(imus, (pinfo, pose), method="gesture")
    assert abs(a.lag_s - 0.05) < POSE_FRAME_S and a.method == "gesture"
    assert 1 <= a.events_s.size <= len(claps)  # claps too close to the end leave no full window
    assert np.isin(a.events_s, claps).all()


@pytest.mark.slow
def test_end_to_end_camera_latency_is_found_after_clock_sync(synced_packets):
    """Both devices through their clock models (jitter, drift, offsets of seconds), then alignment:
    what is left between IMU and camera is the camera pipeline latency (80 ms)."""
    rec = sim.generate(
        9,
        60.0,
        pose_latency_ms=80.0,
        offset_s=5.0,
        drift_ppm=100.0,
        jitter_ms=10.0,
        packet_ms=15.0,
        loss=0.01,
        keep_truth=False,
    )
    out, _ = synced_packets(rec, latency_of="sim-pose")
    a = align_imu_pose([out[f"sim-imu{i}"] for i in range(4)], out["sim-pose"])
    assert abs(a.lag_s - 0.080) < POSE_FRAME_S, a.lag_s


def test_no_clap_is_a_clear_error(gestures):
    rec = sim.generate(1, 20.0, moves=("reach",), keep_truth=False)
    imus = [on_true_time(rec, f"sim-imu{i}") for i in range(4)]
    with pytest.raises(AlignmentError, match="no clap.*method='xcorr'"):
        align_imu_pose(imus, on_true_time(rec, "sim-pose"), method="gesture")


def test_standing_still_cannot_be_aligned():
    rec = sim.generate(2, 12.0, moves=("rest",), keep_truth=False)
    imus = [on_true_time(rec, f"sim-imu{i}") for i in range(4)]
    with pytest.raises(AlignmentError, match="no movement"):
        align_imu_pose(imus, on_true_time(rec, "sim-pose"))


def test_imus_without_a_segment_are_refused_with_the_fix(gestures):
    info, c = on_true_time(gestures, "sim-imu0")
    bare = info.with_(metadata={})
    with pytest.raises(AlignmentError, match="metadata\\['segment'\\]"):
        align_imu_pose([(bare, c)], on_true_time(gestures, "sim-pose"))


def test_blocked_sums_and_grid_equal_the_whole_recording_at_once(monkeypatch):
    """The alignment works on blocks of samples and batches of windows (memory bounded by
    the block, not the recording); the results must not depend on where blocks fall."""
    from wearsense.dsp.resample import interpolate_to
    from wearsense.sync import align

    rng = np.random.default_rng(5)
    n, lags = 1000, np.arange(-7, 8)
    x, y = rng.normal(size=n), rng.normal(size=n)
    x[rng.random(n) < 0.05] = np.nan
    y[100:140] = np.nan
    edges = np.r_[np.arange(0, n, 90), n]
    # the sums by their definition: pairs x[i], y[i + lag] with both finite, per window
    want = np.zeros((lags.size, edges.size - 1, 6))
    for k, lag in enumerate(lags):
        for w in range(edges.size - 1):
            i = np.arange(edges[w], edges[w + 1])
            j = i + lag
            i, j = i[(j >= 0) & (j < n)], j[(j >= 0) & (j < n)]
            a, b = x[i], y[j]
            ok = np.isfinite(a) & np.isfinite(b)
            a, b = a[ok], b[ok]
            want[k, w] = (ok.sum(), a.sum(), b.sum(), (a * a).sum(), (b * b).sum(), (a * b).sum())
    whole = align._lag_sums(x, y, lags, edges)
    monkeypatch.setattr(align, "_BATCH", 3)  # windows split over several FFT passes
    np.testing.assert_allclose(align._lag_sums(x, y, lags, edges), want, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(whole, want, rtol=1e-9, atol=1e-9)

    t = np.cumsum(rng.uniform(0.004, 0.006, n))
    t[500] = t[499]  # a repeated time: the later sample counts
    t[600:] += 0.5  # a gap longer than max_gap_s: NaN across it
    grid = np.arange(t[0] - 0.05, t[-1] + 0.05, 0.005)
    expect = interpolate_to(t[np.isfinite(x)], x[np.isfinite(x)], grid, max_gap_s=0.05)[:, 0]
    monkeypatch.setattr(align, "_BLOCK", 37)
    np.testing.assert_array_equal(align._on_grid(t, x, grid, 0.05), expect)

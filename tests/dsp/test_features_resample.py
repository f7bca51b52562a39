"""Windowed EMG features and resampling helpers: chunked == whole, values against definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wearsense.dsp.features import FEATURES, EmgFeatures, FeatureSettings, feature_labels
from wearsense.dsp.resample import GridInterpolator, PolyphaseResampler, interpolate_to
from wearsense.errors import StreamError
from wearsense.stream import Chunk, concat, split

RATE_HZ = 2000.0


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, 3000), max_size=12))
def test_features_chunked_equals_whole_bit_identical(cuts, signal):
    whole = EmgFeatures(RATE_HZ).process(signal)
    stage = EmgFeatures(RATE_HZ)
    assert concat([stage.process(p) for p in split(signal, sorted(cuts))]).equals(whole)


def test_feature_rows_are_one_per_step_and_match_definitions():
    rng = np.random.default_rng(0)
    t = np.arange(4000) / RATE_HZ
    x = np.c_[np.sin(2 * np.pi * 100 * t) * 1e-3, rng.standard_normal(4000) * 1e-4]
    out = EmgFeatures(RATE_HZ, FeatureSettings(window_s=0.2, step_s=0.05)).process(
        Chunk(x.astype(np.float32), t)
    )
    assert out.n == 1 + (4000 - 400) // 100
    assert out.t[0] == t[399]
    row = dict(zip(feature_labels(["sine", "noise"]), out.data[0]))
    assert row["sine_rms"] == pytest.approx(1e-3 / np.sqrt(2), rel=1e-3)
    assert row["sine_mav"] == pytest.approx(2e-3 / np.pi, rel=1e-2)
    assert row["sine_zc"] == pytest.approx(40, abs=1)  # 100 Hz over 0.2 s
    assert row["sine_mnf"] == pytest.approx(100, abs=2) and row["sine_mdf"] == pytest.approx(100, abs=5)
    assert row["sine_wl"] == pytest.approx(4e-3 * 20, rel=0.01)
    assert row["noise_ssc"] > row["sine_ssc"]
    assert row["noise_mnf"] == pytest.approx(500, rel=0.1)


def test_unknown_feature_and_short_window_raise():
    with pytest.raises(StreamError, match="unknown EMG feature"):
        EmgFeatures(RATE_HZ, FeatureSettings(features=("rms", "kurtosis")))
    with pytest.raises(StreamError, match="too short"):
        EmgFeatures(RATE_HZ, FeatureSettings(window_s=0.001))
    assert len(FEATURES) == 7


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cuts=st.lists(st.integers(0, 3000), max_size=12),
    rates=st.sampled_from([(2000.0, 1000.0), (2000.0, 200.0), (200.0, 60.0), (60.0, 200.0)]),
)
def test_polyphase_chunked_equals_whole_bit_identical(cuts, rates, signal):
    whole = PolyphaseResampler(*rates).process(signal)
    r = PolyphaseResampler(*rates)
    assert concat([r.process(p) for p in split(signal, sorted(cuts))]).equals(whole)


def test_polyphase_keeps_a_passband_sine_aligned_and_rejects_aliases():
    t = np.arange(8000) / RATE_HZ
    x = np.c_[np.sin(2 * np.pi * 40 * t), np.sin(2 * np.pi * 700 * t)]
    r = PolyphaseResampler(RATE_HZ, 200.0)
    out = r.process(Chunk(x.astype(np.float32), t))
    assert out.n == 800
    steady = out.t > 0.5
    # timestamps carry the represented instant: the output matches the sine at its own stamps
    np.testing.assert_allclose(out.data[steady, 0], np.sin(2 * np.pi * 40 * out.t[steady]), atol=0.02)
    assert np.abs(out.data[steady, 1]).max() < 0.01  # 700 Hz would alias to 100 Hz: removed (> 40 dB)
    assert r.latency_s == pytest.approx((160 - 1) / 2 / 2000.0)


def test_polyphase_refuses_irrational_ratio():
    with pytest.raises(StreamError, match="GridInterpolator"):
        PolyphaseResampler(1926.0, 1000.0 * np.pi)


@settings(max_examples=20, deadline=None)
@given(cuts=st.lists(st.integers(0, 500), max_size=10))
def test_grid_interpolator_chunked_equals_whole_and_offline(cuts):
    rng = np.random.default_rng(2)
    t = np.cumsum(rng.uniform(0.012, 0.022, 500))  # jittered ~60 Hz camera
    x = np.c_[np.sin(t), np.cos(3 * t)]
    x[100:105, 0] = np.nan  # occluded
    c = Chunk(x, t, clock="device:cam", seq=np.arange(500))
    whole = GridInterpolator(100.0).process(c)
    gi = GridInterpolator(100.0)
    pieces = concat([gi.process(p) for p in split(c, sorted(cuts))])
    assert pieces.equals(whole)
    np.testing.assert_allclose(
        whole.data, interpolate_to(t, c.data, whole.t).astype(np.float32), equal_nan=True
    )
    ok = np.isfinite(whole.data[:, 0])
    np.testing.assert_allclose(whole.data[ok, 0], np.sin(whole.t[ok]), atol=5e-4)
    assert np.isnan(whole.data[:, 0]).sum() >= 5
    assert whole.t[-1] <= t[-1] and np.allclose(np.diff(whole.t), 0.01)


def test_interpolate_to_outside_range_is_nan_and_bad_input_raises():
    out = interpolate_to([0.0, 1.0], [[0.0], [2.0]], [-1.0, 0.5, 1.0, 2.0])
    np.testing.assert_allclose(out[:, 0], [np.nan, 1.0, 2.0, np.nan])
    with pytest.raises(StreamError, match="non-decreasing"):
        interpolate_to([1.0, 0.0], [[0.0], [1.0]], [0.5])

"""Causal resampling of several session-clock streams onto one grid."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.errors import StreamError
from wearsense.stream import Chunk, StreamInfo, concat, split_every
from wearsense.sync import GridResampler, GridSettings

A = StreamInfo("a", "IMU", ["x", "y"], "m/s^2", 200.0)
B = StreamInfo("b", "POSE", ["p"], "m", 60.0)


def ramp(info, t0, n, seed, drop=()):
    rng = np.random.default_rng(seed)
    t = t0 + np.arange(n) / info.rate_hz + rng.uniform(0, 1e-4, n)
    keep = np.setdiff1d(np.arange(n), drop)
    data = np.stack([3.0 * t + c for c in range(info.n_channels)], 1)
    return Chunk(data[keep], t[keep], keep, "session")


def run(chunks_a, chunks_b, settings=None):
    g = GridResampler([A, B], settings or GridSettings(rate_hz=100.0))
    out = {"a": [], "b": []}
    for ca, cb in zip(chunks_a, chunks_b):
        g.push("a", ca)
        g.push("b", cb)
        for k, v in g.pull().items():
            out[k].append(v)
    return {k: concat([c for c in v if c.n] or [Chunk.empty(1, "session")]) for k, v in out.items()}


def test_linear_signals_are_interpolated_exactly_on_a_common_grid():
    a, b = ramp(A, 0.013, 2000, 1), ramp(B, 0.0, 600, 2)
    out = run([a], [b])
    assert np.array_equal(out["a"].t, out["b"].t)
    np.testing.assert_allclose(np.diff(out["a"].t), 0.01)
    np.testing.assert_allclose(out["a"].data[:, 0], 3 * out["a"].t, atol=1e-5)
    np.testing.assert_allclose(out["b"].data[:, 0], 3 * out["b"].t, atol=1e-5)


def test_chunked_equals_whole():
    a, b = ramp(A, 0.013, 2000, 1), ramp(B, 0.0, 600, 2)
    whole = run([a], [b])
    pieces_a, pieces_b = list(split_every(a, 37)), list(split_every(b, 11))
    n = max(len(pieces_a), len(pieces_b))
    pieces_a += [Chunk.empty(2, "session")] * (n - len(pieces_a))
    pieces_b += [Chunk.empty(1, "session")] * (n - len(pieces_b))
    chunked = run(pieces_a, pieces_b)
    for k in whole:
        assert whole[k].equals(chunked[k])


def test_lost_samples_are_nan_on_the_grid_not_invented():
    a, b = ramp(A, 0.0, 2000, 1, drop=range(500, 540)), ramp(B, 0.0, 600, 2)
    out = run([a], [b])
    t = out["a"].t
    gap = (t > a.t[499]) & (t < a.t[500])
    assert gap.sum() >= 19 and np.isnan(out["a"].data[gap]).all()
    assert np.isfinite(out["a"].data[~gap]).all()


def test_rows_wait_for_the_slowest_stream_then_give_up_after_max_wait():
    g = GridResampler([A, B], GridSettings(rate_hz=100.0, max_wait_s=0.5))
    g.push("a", ramp(A, 0.0, 400, 1))  # 2 s of IMU
    g.push("b", ramp(B, 0.0, 6, 2))  # 0.1 s of pose, then silence
    out = g.pull()
    assert out["a"].t[-1] == pytest.approx(1.49, abs=0.011)  # newest IMU time minus max_wait_s
    assert np.isnan(out["b"].data[out["b"].t > 0.1]).all()


def test_unknown_stream_and_bad_settings_are_named():
    with pytest.raises(StreamError, match="no stream 'c'"):
        GridResampler([A]).push("c", ramp(A, 0, 3, 0))
    with pytest.raises(StreamError, match="method"):
        GridSettings(method="cubic")

"""Mapped times always advance: a clock estimate that moves back never maps a sample onto or
before its predecessor (LSL inlets and XDF readers expect strictly increasing times)."""

import math

import numpy as np

from wearsense.sync.timeline import advancing


def test_times_that_already_advance_are_returned_bit_for_bit():
    t = 259.17575173 + np.arange(1000) / 200.0
    assert np.array_equal(advancing(t, -math.inf, 200.0), t)
    assert np.array_equal(advancing(t, t[0] - 0.01, 200.0), t)


def test_a_step_back_becomes_half_period_steps_until_the_estimate_is_met():
    t = np.array([1.0, 1.005, 1.01, 1.009, 1.0095, 1.02, 1.025])
    out = advancing(t, -math.inf, 200.0)
    assert np.all(np.diff(out) > 0)
    assert np.allclose(out, [1.0, 1.005, 1.01, 1.0125, 1.015, 1.02, 1.025])


def test_a_chunk_that_starts_before_the_previous_sample_starts_after_it():
    t = np.array([5.0, 5.005, 5.010])
    out = advancing(t, 5.02, 200.0)
    assert out[0] > 5.02 and np.all(np.diff(out) > 0)
    assert np.allclose(out, [5.0225, 5.025, 5.0275])


def test_irregular_streams_step_by_a_microsecond():
    out = advancing(np.array([2.0, 2.0, 2.0]), -math.inf, 0.0)
    assert np.allclose(np.diff(out), 1e-6)

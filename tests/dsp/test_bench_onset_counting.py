"""How benchmarks/bench_dsp.py counts onsets at rest: minutes of rest clear of every burst,
and whether an onset lies at a (rest) burst."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import bench_dsp  # noqa: E402


def test_rest_minutes_leave_out_the_warm_up_and_a_margin_round_every_burst():
    t = np.arange(0, 60.0, 0.001)
    assert abs(bench_dsp._rest_minutes(t, []) - 57.5 / 60) < 1e-3
    # a 1 s burst costs 1 s + 2 x 0.6 s of rest
    assert abs(bench_dsp._rest_minutes(t, [(10.0, 11.0)]) - (57.5 - 2.2) / 60) < 1e-3


def test_an_onset_is_at_a_burst_within_the_margin_only():
    spans = np.array([[5.0, 5.2]])
    assert bench_dsp._in_spans(4.9, spans, 0.15)
    assert bench_dsp._in_spans(5.1, spans, 0.0)
    assert not bench_dsp._in_spans(5.4, spans, 0.15)
    assert not bench_dsp._in_spans(5.1, np.zeros((0, 2)), 0.15)

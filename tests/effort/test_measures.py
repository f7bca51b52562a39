"""The measures under the factors, exact on synthetic inputs."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.effort.measures import (
    axis_linearity,
    cocontraction,
    direction_consistency,
    kinetic_energy,
    log_dimensionless_jerk,
    sparc,
    straightness,
)
from wearsense.errors import StreamError

from effort_synth import min_jerk


def test_cocontraction_indices_are_exact_on_constant_envelopes():
    c = cocontraction(np.full(100, 0.2), np.full(100, 0.1), floor=0.02)
    assert c.valid
    # Rudolph: lower/higher * (lower + higher) = 0.5 * 0.3
    assert c.rudolph == pytest.approx(0.15, abs=1e-12)
    # Falconer & Winter: 2 * common / total = 2 * 0.1 / 0.3
    assert c.falconer_winter == pytest.approx(2 / 3, abs=1e-12)


def test_cocontraction_indices_are_exact_on_alternating_envelopes():
    a = np.tile([0.1, 0.3], 50)
    b = np.tile([0.3, 0.1], 50)
    c = cocontraction(a, b, floor=0.02)
    assert c.rudolph == pytest.approx((1 / 3) * 0.4, abs=1e-12)
    assert c.falconer_winter == pytest.approx(0.5, abs=1e-12)
    # equal envelopes: the whole activity is common
    same = cocontraction(a, a, floor=0.02)
    assert same.falconer_winter == pytest.approx(1.0) and same.rudolph == pytest.approx(2 * a.mean())
    # one silent muscle: no co-contraction
    alone = cocontraction(a, np.zeros_like(a), floor=0.02)
    assert alone.valid and alone.rudolph == 0.0 and alone.falconer_winter == 0.0


def test_cocontraction_below_the_noise_floor_is_invalid_not_a_number():
    c = cocontraction(np.full(100, 0.005), np.full(100, 0.004), floor=0.02)
    assert not c.valid and np.isnan(c.rudolph) and np.isnan(c.falconer_winter)


def test_cocontraction_refuses_envelopes_of_different_lengths():
    with pytest.raises(StreamError, match="one shape"):
        cocontraction(np.zeros(3), np.zeros(4), 0.0)


def test_straightness_is_one_on_a_line_and_above_one_and_a_half_on_a_winding_path_with_the_same_ends():
    x = np.linspace(0, 0.6, 200)
    line = np.column_stack([x, np.zeros_like(x), np.zeros_like(x)])
    wind = np.column_stack([x, 0.1 * np.sin(2 * np.pi * 3 * x / 0.6), np.zeros_like(x)])
    assert straightness(line) == pytest.approx(1.0, abs=1e-9)
    assert straightness(wind) > 1.5
    assert np.allclose(wind[[0, -1]], line[[0, -1]], atol=1e-12)
    assert np.isnan(straightness(line[:1])) and np.isnan(straightness(line, min_chord_m=1.0))


def test_axis_linearity_and_direction_consistency_are_invariant_to_a_fixed_rotation():
    rng = np.random.default_rng(0)
    v = np.column_stack([np.sin(np.linspace(0, 6, 300)), 0.3 * rng.standard_normal(300), np.zeros(300)])
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    assert axis_linearity(v)[1] == pytest.approx(axis_linearity(v @ q.T)[1], rel=1e-9)
    assert direction_consistency(v) == pytest.approx(direction_consistency(v @ q.T), rel=1e-9)
    line = np.outer(np.sin(np.linspace(0, 6, 100)), [1.0, 2.0, 0.5])
    assert axis_linearity(line)[1] == pytest.approx(1.0)
    assert axis_linearity(rng.standard_normal((20000, 3)))[1] == pytest.approx(1 / 3, abs=0.02)


def test_smoothness_prefers_one_bell_to_a_tremulous_one():
    rate = 100.0
    s = np.linspace(0, 1, 101)
    bell = np.gradient(min_jerk(s), 0.01)
    shaky = bell * (1 + 0.3 * np.sin(2 * np.pi * 8 * s))
    assert -1.8 < sparc(bell, rate) < -1.3  # one minimum-jerk bell (Balasubramanian 2015: ≈ -1.4..-1.6)
    assert sparc(shaky, rate) < sparc(bell, rate)
    assert log_dimensionless_jerk(shaky, rate) < log_dimensionless_jerk(bell, rate)
    assert np.isnan(sparc(np.zeros(50), rate))


def test_kinetic_energy_of_points():
    v = np.array([[[1.0, 0, 0], [0, 2.0, 0]]])
    assert kinetic_energy(v, np.array([2.0, 1.0]))[0] == pytest.approx(0.5 * 2 * 1 + 0.5 * 1 * 4)


def test_sparc_agrees_with_pyeyesweb_on_the_same_profiles():
    pew = pytest.importorskip("pyeyesweb.utils.math_utils")
    s = np.linspace(0, 1, 101)
    bell = np.gradient(min_jerk(s), 0.01)
    for v in (bell, bell * (1 + 0.3 * np.sin(2 * np.pi * 8 * s))):
        assert sparc(v, 100.0) == pytest.approx(pew.compute_sparc(v, 100.0), abs=0.06)

"""examples/watch_preactivation.py pairs each EMG onset with the movement of the joint it turns.

It used to pair onsets with any moment its segment was turning (leads of 4 ms: a
movement already under way) and watched vastus lateralis and tibialis anterior on the
shank alone, so in squats they "fired with no motion".
"""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "watch_preactivation.py"


@pytest.fixture(scope="module")
def outcomes():
    watch = runpy.run_path(str(EXAMPLE))["watch"]
    lines: list[str] = []
    out = watch("sim://mover?seed=1&moves=reach,squat,brace&imu=6&duration_s=30&realtime=0", lines.append)
    return out, lines


def test_every_lead_is_a_movement_starting_from_stillness_after_the_onset(outcomes):
    out, _ = outcomes
    leads = np.array([lead for _, kind, lead in out if kind == "led"])
    assert leads.size >= 5
    assert (leads > 0.01).all() and (leads < 0.15).all(), leads
    # the sim's electromechanical delay is 50 ms; the detectors are within ~15 ms of the truth
    assert 0.04 <= float(np.median(leads)) <= 0.07


def test_knee_extensors_are_watched_on_both_segments_of_the_knee(outcomes):
    out, lines = outcomes
    vastus = [kind for muscle, kind, _ in out if muscle == "vastus_lateralis_r"]
    assert "already moving" in vastus or "led" in vastus, lines
    assert any("shank_r / thigh_r" in line for line in lines)

"""Shared sim recordings for the Effort tests (short: the whole folder runs in well under a minute)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import effort_auc  # noqa: E402

from wearsense import sim  # noqa: E402


@pytest.fixture(scope="session")
def effort_rec():
    """20 s of the eight basic effort actions, 16 EMG (both limbs), 9 IMUs, pose."""
    return sim.generate(3, 20.0, vocabulary="full", families=("effort",), **effort_auc.SENSORS)


@pytest.fixture(scope="session")
def bench():
    return effort_auc

"""Shared synthetic signals for the DSP tests (seeded; no sim needed)."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.sim import artefacts
from wearsense.stream import Chunk

RATE_HZ = 2000.0


def synthetic_emg(seed: int, duration_s: float = 3.0, n_channels: int = 4, mains_hz: float = 50.0,
                  mains_v: float = 100e-6, rate_hz: float = RATE_HZ) -> Chunk:
    """Band-limited noise bursts (EMG-like) + rest noise + mains + DC offset, in volts."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    noise = rng.standard_normal((n, n_channels))
    # crude EMG spectrum: first difference of white noise (rising with frequency)
    emg = np.diff(np.vstack([np.zeros((1, n_channels)), noise]), axis=0)
    gate = ((t[:, None] % 1.0) > 0.4) & ((t[:, None] % 1.0) < 0.8)
    x = 300e-6 * emg * gate + 5e-6 * rng.standard_normal((n, n_channels))
    x += mains_v * np.sin(2 * np.pi * mains_hz * t)[:, None] + 2e-3
    return Chunk(x.astype(np.float32), t, 0, clock="device:test")


@pytest.fixture
def make_emg():
    """Factory of synthetic EMG chunks: ``make_emg(seed, duration_s=..., ...)``."""
    return synthetic_emg


@pytest.fixture
def signal() -> Chunk:
    """1.5 s of 3-channel synthetic EMG at 2 kHz (3000 samples)."""
    return synthetic_emg(1, duration_s=1.5, n_channels=3)


@pytest.fixture
def inject():
    """The fault injectors: ``inject.motion(x, rate, seed)``, ``inject.ecg(n, rate, seed)``."""

    class _Inject:
        motion = staticmethod(artefacts.motion_artefact)
        ecg = staticmethod(artefacts.ecg)

    return _Inject

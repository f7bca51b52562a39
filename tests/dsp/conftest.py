"""Shared synthetic signals for the DSP tests (seeded; no sim needed)."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.stream import Chunk

RATE_HZ = 2000.0


def synthetic_emg(seed: int, duration_s: float = 3.0, n_channels: int = 4, mains_hz: float = 50.0,
                  mains_v: float = 100e-6, rate_hz: float = RATE_HZ) -> Chunk:
    """Band-limited noise bursts (EMG-like) + rest noise + mains + DC offset, in volts."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    noise = rng.standard_normal((n, n_channels))
    # crude EMG spectrum: differentiate-then-smooth white noise (peak near 100 Hz)
    emg = np.diff(np.vstack([np.zeros((1, n_channels)), noise]), axis=0)
    emg = np.cumsum(emg, axis=0) * 0.0 + emg
    gate = ((t[:, None] % 1.0) > 0.4) & ((t[:, None] % 1.0) < 0.8)
    x = 300e-6 * emg * gate + 5e-6 * rng.standard_normal((n, n_channels))
    x += mains_v * np.sin(2 * np.pi * mains_hz * t)[:, None] + 2e-3
    return Chunk(x.astype(np.float32), t, 0, clock="device:test")


@pytest.fixture
def emg_chunk() -> Chunk:
    return synthetic_emg(0)

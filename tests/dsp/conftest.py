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


# --------------------------------------------------------------------------- fault injection
def add_motion_artefact(x: np.ndarray, rate_hz: float, seed: int, amplitude_v: float = 2e-3,
                        per_s: float = 0.3, channels: slice | list[int] = slice(None)) -> np.ndarray:
    """Add cable/electrode movement: smooth bumps of 0.1-0.4 s (content < 20 Hz)."""
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64)
    n = x.shape[0]
    for _ in range(rng.poisson(per_s * n / rate_hz)):
        dur = rng.uniform(0.1, 0.4)
        m = int(dur * rate_hz)
        i = int(rng.integers(0, max(1, n - m)))
        bump = np.sin(np.linspace(0, np.pi, m)) ** 2 * np.sin(2 * np.pi * rng.uniform(2, 8) * np.arange(m) / rate_hz)
        x[i:i + m, channels] += amplitude_v * rng.choice([-1, 1]) * bump[:, None]
    return x


def ecg_waveform(n: int, rate_hz: float, seed: int, amplitude_v: float = 0.5e-3, bpm: float = 70.0) -> np.ndarray:
    """A crude ECG (P, QRS, T as Gaussians) seen on a trunk electrode, in volts."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate_hz
    y = np.zeros(n)
    beat = rng.uniform(0, 60 / bpm)
    while beat < t[-1]:
        for dt, w, a in ((-0.16, 0.025, 0.1), (-0.03, 0.008, -0.12), (0.0, 0.010, 1.0), (0.03, 0.008, -0.25),
                         (0.25, 0.045, 0.3)):
            y += a * np.exp(-0.5 * ((t - beat - dt) / w) ** 2)
        beat += 60 / bpm * rng.uniform(0.95, 1.05)
    return amplitude_v * y


@pytest.fixture
def inject():
    """The fault injectors: ``inject.motion(x, rate, seed)``, ``inject.ecg(n, rate, seed)``."""

    class _Inject:
        motion = staticmethod(add_motion_artefact)
        ecg = staticmethod(ecg_waveform)

    return _Inject

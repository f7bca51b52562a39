"""Artefacts that real surface EMG carries, to add to the sim's clean EMG.

Seeded, pure functions on arrays (samples x channels, volts), used to test that
detectors and the quality monitor survive them (DESIGN: motion artefact < 20 Hz;
ECG on trunk muscles).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ecg", "motion_artefact"]


def motion_artefact(
    x: np.ndarray,
    rate_hz: float,
    seed: int,
    amplitude_v: float = 2e-3,
    per_s: float = 0.3,
    channels: slice | list[int] = slice(None),
) -> np.ndarray:
    """``x`` plus cable/electrode movement: smooth bumps of 0.1–0.4 s, 2–8 Hz (content < 20 Hz).

    Bumps occur as a Poisson process of ``per_s`` per second with peak ``amplitude_v``.
    Returns a new float64 array.
    """
    rng = np.random.default_rng(seed)
    x = np.array(x, dtype=np.float64)
    n = x.shape[0]
    for _ in range(rng.poisson(per_s * n / rate_hz)):
        m = int(rng.uniform(0.1, 0.4) * rate_hz)
        i = int(rng.integers(0, max(1, n - m)))
        bump = np.sin(np.linspace(0, np.pi, m)) ** 2 * np.sin(
            2 * np.pi * rng.uniform(2, 8) * np.arange(m) / rate_hz
        )
        x[i : i + m, channels] += amplitude_v * rng.choice([-1, 1]) * bump[:, None]
    return x


def ecg(n: int, rate_hz: float, seed: int, amplitude_v: float = 0.5e-3, bpm: float = 70.0) -> np.ndarray:
    """An ECG as a trunk electrode sees it (P, QRS, T waves as Gaussians), shape (n,), volts.

    R-peak amplitude ``amplitude_v``; beat-to-beat intervals vary by ±5 %.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate_hz
    y = np.zeros(n)
    beat = rng.uniform(0, 60 / bpm)
    while beat < t[-1]:
        for dt, w, a in (
            (-0.16, 0.025, 0.1),
            (-0.03, 0.008, -0.12),
            (0.0, 0.010, 1.0),
            (0.03, 0.008, -0.25),
            (0.25, 0.045, 0.3),
        ):
            y += a * np.exp(-0.5 * ((t - beat - dt) / w) ** 2)
        beat += 60 / bpm * rng.uniform(0.95, 1.05)
    return amplitude_v * y

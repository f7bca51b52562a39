"""Windowed EMG features for gesture and effort work, streaming.

:class:`EmgFeatures` is a :class:`~wearsense.stream.Stage`: it takes (band-passed) EMG
and emits one row per step once a window is full, stamped with the time of the
window's last sample (so the features are causal; their delay is half a window).
Windows are placed at fixed sample counts since ``reset()``, so chunking does not
change the rows (bit-identical).

Features (Hudgins, Parker & Scott 1993; Phinyomark, Phukpattaranont & Limsakul 2012):

======  ============================================  ======
name    definition over the window                    unit
======  ============================================  ======
rms     sqrt(mean(x^2))                               V
mav     mean(|x|)                                     V
wl      sum |x[n] - x[n-1]| (waveform length)         V
zc      zero crossings with |x[n] - x[n-1]| >= thr    count
ssc     slope sign changes with a slope >= thr        count
mnf     mean frequency of the periodogram             Hz
mdf     median frequency (half the power below)       Hz
======  ============================================  ======

Output channels are labelled ``<channel>_<feature>``, channel-major.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wearsense.errors import StreamError
from wearsense.stream import Chunk

__all__ = ["FEATURES", "FeatureSettings", "EmgFeatures", "feature_labels", "compute_features"]

FEATURES = ("rms", "mav", "wl", "zc", "ssc", "mnf", "mdf")


@dataclass(frozen=True)
class FeatureSettings:
    """Windowing and thresholds.

    Parameters
    ----------
    window_s, step_s : float
        Window length and hop (s).
    features : tuple of str
        Which of :data:`FEATURES`, in output order.
    threshold_v : float
        Amplitude threshold of zc and ssc (V), against noise crossings.
    """

    window_s: float = 0.2
    step_s: float = 0.05
    features: tuple[str, ...] = FEATURES
    threshold_v: float = 10e-6


def feature_labels(channels: Sequence[str], features: Sequence[str] = FEATURES) -> tuple[str, ...]:
    """Output labels ``<channel>_<feature>``, channel-major."""
    return tuple(f"{c}_{f}" for c in channels for f in features)


def compute_features(w: np.ndarray, rate_hz: float, features: Sequence[str] = FEATURES,
                     threshold_v: float = 10e-6) -> np.ndarray:
    """Features of windows ``w`` shape (n_windows, window, n_channels).

    Returns shape (n_windows, n_channels * n_features)."""
    w = np.asarray(w, dtype=np.float64)
    nw, n, c = w.shape
    d = np.diff(w, axis=1)
    cols = {}
    if "rms" in features:
        cols["rms"] = np.sqrt(np.mean(w * w, axis=1))
    if "mav" in features:
        cols["mav"] = np.mean(np.abs(w), axis=1)
    if "wl" in features:
        cols["wl"] = np.sum(np.abs(d), axis=1)
    if "zc" in features:
        crossing = (w[:, 1:] * w[:, :-1] < 0) & (np.abs(d) >= threshold_v)
        cols["zc"] = np.sum(crossing, axis=1).astype(np.float64)
    if "ssc" in features:
        cols["ssc"] = np.sum((d[:, 1:] * d[:, :-1] < 0)
                             & ((np.abs(d[:, 1:]) >= threshold_v) | (np.abs(d[:, :-1]) >= threshold_v)),
                             axis=1).astype(np.float64)
    if "mnf" in features or "mdf" in features:
        p = np.abs(np.fft.rfft(w - w.mean(axis=1, keepdims=True), axis=1)) ** 2
        f = np.fft.rfftfreq(n, 1 / rate_hz)
        total = p.sum(axis=1) + 1e-300
        if "mnf" in features:
            cols["mnf"] = (p * f[None, :, None]).sum(axis=1) / total
        if "mdf" in features:
            cum = np.cumsum(p, axis=1)
            idx = np.argmax(cum >= 0.5 * total[:, None, :], axis=1)
            cols["mdf"] = f[idx]
    unknown = [x for x in features if x not in FEATURES]
    if unknown:
        raise StreamError(f"unknown EMG feature(s) {unknown}; known: {', '.join(FEATURES)}")
    return np.stack([cols[x] for x in features], axis=2).reshape(nw, c * len(features))


class EmgFeatures:
    """Streaming windowed features (a Stage; see the module docstring).

    Parameters
    ----------
    rate_hz : float
        EMG rate (Hz).
    settings : FeatureSettings
    """

    def __init__(self, rate_hz: float, settings: FeatureSettings = FeatureSettings()) -> None:
        if not rate_hz > 0:
            raise StreamError(f"EmgFeatures needs rate_hz > 0, got {rate_hz}")
        unknown = [x for x in settings.features if x not in FEATURES]
        if unknown or not settings.features:
            raise StreamError(f"unknown EMG feature(s) {unknown or '(none given)'}; "
                              f"known: {', '.join(FEATURES)}")
        self.rate_hz = float(rate_hz)
        self.settings = settings
        self.window = int(round(settings.window_s * rate_hz))
        self.step = int(round(settings.step_s * rate_hz))
        if self.window < 4 or self.step < 1:
            raise StreamError(
                f"feature window {settings.window_s} s / step {settings.step_s} s too short at {rate_hz} Hz "
                "(need >= 4 samples and >= 1 sample)"
            )
        self.reset()

    @property
    def delay_s(self) -> float:
        """Centre of the window relative to its stamp: ``(window - 1) / 2`` samples."""
        return (self.window - 1) / 2 / self.rate_hz

    def reset(self) -> None:
        self._tail: np.ndarray | None = None  # last window-1 samples
        self._tail_t = np.zeros(0)
        self._tail_seq = np.zeros(0, np.int64)
        self.n_samples = 0

    def process(self, chunk: Chunk) -> Chunk:
        """Returns one row per completed window (possibly none)."""
        c = chunk.n_channels
        if self._tail is None:
            self._tail = np.zeros((0, c), np.float32)
        elif self._tail.shape[1] != c:
            raise StreamError(f"EmgFeatures got {c} channels after {self._tail.shape[1]}; call reset() first")
        x = np.concatenate([self._tail, chunk.data])
        t = np.concatenate([self._tail_t, chunk.t])
        seq = np.concatenate([self._tail_seq, chunk.seq])
        prev = self.n_samples
        first = prev - self._tail.shape[0]  # absolute index of x[0]
        self.n_samples += chunk.n
        # windows end at absolute indices e = window - 1 + k * step; emit those in [prev, last]
        last = self.n_samples - 1
        e0 = self.window - 1
        k_lo = max(0, -(-(prev - e0) // self.step))
        k_hi = (last - e0) // self.step if last >= e0 else -1
        ends = e0 + self.step * np.arange(k_lo, k_hi + 1)
        keep = min(self.window - 1, x.shape[0])
        self._tail = x[x.shape[0] - keep :]
        self._tail_t = t[t.shape[0] - keep :]
        self._tail_seq = seq[seq.shape[0] - keep :]
        nf = c * len(self.settings.features)
        if ends.size == 0:
            return Chunk(np.zeros((0, nf), np.float32), np.zeros(0), np.zeros(0, np.int64), chunk.clock,
                         chunk.received_s)
        rel = ends - first
        idx = rel[:, None] - np.arange(self.window - 1, -1, -1)[None, :]
        feats = compute_features(x[idx], self.rate_hz, self.settings.features, self.settings.threshold_v)
        return Chunk(feats.astype(np.float32), t[rel], seq[rel], chunk.clock, chunk.received_s)

"""EMG calibration: rest noise floor per channel and MVC from the causal envelope.

- **Rest**: the RMS of each channel after the causal conditioning of
  :class:`wearsense.dsp.EmgChain` (DC removal, 20–450 Hz band-pass, mains notches; no
  envelope), and the mean of its envelope, over a relaxed period (first
  ``settle_s`` dropped: filter start-up).
- **MVC**: the largest ``window_s`` (1 s) mean of the causal envelope (the same
  ``EmgChain`` with its default 6 Hz envelope, the envelope the live chain
  normalises) over the MVC trials: a rolling maximum of the envelope, the usual
  "highest 0.5-1 s mean" of MVC normalisation (Konrad, The ABC of EMG, 2005; Burden
  2010). 1 s rather than 0.5 s: the envelope of EMG fluctuates (on the sim a 0.5 s
  mean varies by several percent), and the maximum of many short windows is biased
  upwards by it; with 1 s the per-channel gains are recovered to ~3 % RMS. Dividing
  by it (``EmgChainSettings(mvc_v=...)``) makes channels comparable whatever their
  electrode gain.

Pure functions: fit -> :class:`EmgCalibration` -> ``mvc_v`` for the chain.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from wearsense.dsp.emg import EmgChain, EmgChainSettings
from wearsense.errors import CalibrationError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["EmgCalibration", "rest_level", "mvc_envelope", "fit_emg", "channels_matching"]


def _check(info: StreamInfo, chunk: Chunk, settle_s: float, what: str) -> int:
    if info.modality is not Modality.EMG:
        raise CalibrationError(f"{what}: stream {info.name!r} is {info.modality.value}, not EMG")
    if info.rate_hz <= 0:
        raise CalibrationError(f"{what}: stream {info.name!r} has no nominal rate")
    skip = int(round(settle_s * info.rate_hz))
    if chunk.n <= skip + int(0.5 * info.rate_hz):
        raise CalibrationError(
            f"{what}: {chunk.n / info.rate_hz:.2f} s of EMG is too short "
            f"(need more than {settle_s + 0.5:.1f} s)"
        )
    return skip


def rest_level(
    info: StreamInfo, chunk: Chunk, settings: EmgChainSettings = EmgChainSettings(), settle_s: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel rest RMS of the conditioned signal (V) and mean rest envelope (V)."""
    skip = _check(info, chunk, settle_s, "rest level")
    filt = EmgChain(info.rate_hz, replace(settings, envelope=None, rectify=False, mvc_v=None)).process(chunk)
    env = EmgChain(info.rate_hz, replace(settings, mvc_v=None)).process(chunk)
    x = filt.data[skip:].astype(np.float64)
    return np.sqrt(np.mean(x**2, axis=0)), env.data[skip:].astype(np.float64).mean(axis=0)


def mvc_envelope(
    info: StreamInfo,
    chunk: Chunk,
    window_s: float = 1.0,
    settings: EmgChainSettings = EmgChainSettings(),
    settle_s: float = 0.5,
) -> np.ndarray:
    """Per-channel maximum of the ``window_s`` moving mean of the causal envelope (V)."""
    if settings.envelope is None:
        raise CalibrationError("MVC needs an envelope: EmgChainSettings.envelope must not be None")
    skip = _check(info, chunk, settle_s, "MVC")
    env = EmgChain(info.rate_hz, replace(settings, mvc_v=None)).process(chunk).data[skip:].astype(np.float64)
    w = max(1, int(round(window_s * info.rate_hz)))
    if env.shape[0] < w:
        raise CalibrationError(f"MVC: the trial is shorter than the {window_s} s window")
    c = np.cumsum(np.vstack([np.zeros((1, env.shape[1])), env]), axis=0)
    return ((c[w:] - c[:-w]) / w).max(axis=0)


def channels_matching(channels: Sequence[str], prefixes: Sequence[str]) -> list[int]:
    """Columns whose label starts with one of ``prefixes`` (``"biceps_brachii"`` matches both sides)."""
    return [i for i, c in enumerate(channels) if c.startswith(tuple(prefixes))]


@dataclass(frozen=True)
class EmgCalibration:
    """Per-channel rest level and MVC (volts; NaN where no MVC trial covered a channel).

    Attributes
    ----------
    channels : tuple of str
    rest_rms_v, rest_envelope_v, mvc_v : ndarray (n_channels,)
    mvc_step : tuple of str
        The trial that gave each channel's MVC ("" where none).
    window_s : float
        Moving-mean window of the MVC (s).
    """

    channels: tuple[str, ...]
    rest_rms_v: np.ndarray
    rest_envelope_v: np.ndarray
    mvc_v: np.ndarray
    mvc_step: tuple[str, ...]
    window_s: float = 1.0

    @property
    def mvc_over_rest(self) -> np.ndarray:
        """MVC envelope / rest envelope per channel (NaN without MVC)."""
        return self.mvc_v / np.maximum(self.rest_envelope_v, 1e-12)

    def to_section(self) -> dict[str, Any]:
        return {
            "channels": list(self.channels),
            "rest_rms_v": self.rest_rms_v.tolist(),
            "rest_envelope_v": self.rest_envelope_v.tolist(),
            "mvc_v": self.mvc_v.tolist(),
            "mvc_step": list(self.mvc_step),
            "window_s": self.window_s,
            "envelope": "wearsense.dsp.EmgChain defaults (20-450 Hz, notches, 6 Hz low-pass)",
        }

    @classmethod
    def from_section(cls, s: Mapping[str, Any]) -> "EmgCalibration":
        return cls(
            tuple(s["channels"]),
            np.asarray(s["rest_rms_v"], float),
            np.asarray(s["rest_envelope_v"], float),
            np.asarray(s["mvc_v"], float),
            tuple(s.get("mvc_step", [""] * len(s["channels"]))),
            float(s.get("window_s", 1.0)),
        )


def fit_emg(
    info: StreamInfo,
    rest: Chunk,
    trials: Sequence[tuple[str, Chunk]],
    window_s: float = 1.0,
    settings: EmgChainSettings = EmgChainSettings(),
) -> EmgCalibration:
    """Rest level from ``rest``, MVC per channel as the highest windowed envelope over every
    trial ``(step_id, chunk)`` (a muscle may reach its maximum in another group's test)."""
    rms, env = rest_level(info, rest, settings)
    best = np.full(info.n_channels, np.nan)
    step = [""] * info.n_channels
    for sid, chunk in trials:
        m = mvc_envelope(info, chunk, window_s, settings)
        for c in range(info.n_channels):
            if not m[c] <= best[c]:  # NaN-aware: any value beats NaN
                best[c], step[c] = m[c], sid
    # a channel whose best "MVC" is no contraction at all has no MVC
    weak = best < 2.0 * env
    best[weak] = np.nan
    for c in np.flatnonzero(weak):
        step[c] = ""
    return EmgCalibration(info.channels, rms, env, best, tuple(step), window_s)

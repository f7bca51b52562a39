"""Resampling helpers for the sync layer: causal polyphase resampling and interpolation
of irregular timestamps onto a regular grid.

- :class:`PolyphaseResampler`: rate change by ``up/down`` with a linear-phase
  Kaiser-window FIR (``scipy.signal.firwin``), run causally and statefully as a
  polyphase filter in one compiled call per chunk. Each output sample is stamped with
  the time of the input instant it represents (the filter's delay is taken out of the
  timestamps), so ``latency_s`` is how long after that instant the sample becomes
  available: ``(n_taps - 1) / 2`` samples at the up-sampled rate (2 kHz -> 200 Hz with the
  defaults: 160 taps, 39.75 ms).
- :class:`GridInterpolator`: irregular (or jittered, lossy) samples in, samples on the
  regular grid ``origin_s + k / rate_hz`` out, linearly interpolated; a grid point is
  emitted once an input sample at or after it has arrived, so the latency is at most
  one input interval. NaN inputs (occluded markers) give NaN where they are used.
- :func:`interpolate_to`: the same interpolation offline, onto any timestamps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numba
import numpy as np
import scipy.signal as sps

from wearsense.errors import StreamError
from wearsense.stream import Chunk

__all__ = ["ResamplerSettings", "PolyphaseResampler", "GridInterpolator", "interpolate_to"]


@numba.njit(cache=True, nogil=True)
def _polyphase(x, hist, h, up, down, phase0, out):  # pragma: no cover - compiled
    """Outputs for input block ``x`` given the last ``hist`` inputs; returns count and next phase."""
    n = x.shape[0]
    c = x.shape[1]
    L = hist.shape[0]
    taps = h.shape[1]
    buf = np.empty((L + n, c))
    buf[:L] = hist
    buf[L:] = x
    k = 0
    pos = phase0  # position in the up-sampled stream relative to buf row L (times up)
    while True:
        # output at up-sampled index j uses inputs i with i*up <= j: newest input row
        i_new = pos // up
        if i_new >= n:
            break
        ph = pos - i_new * up
        for ch in range(c):
            acc = 0.0
            for t in range(taps):
                acc += h[ph, t] * buf[L + i_new - t, ch]
            out[k, ch] = acc
        k += 1
        pos += down
    hist[:] = buf[n:]
    return k, pos - n * up


@dataclass(frozen=True)
class ResamplerSettings:
    """Anti-alias filter of :class:`PolyphaseResampler`.

    Parameters
    ----------
    taps_per_phase : int
        FIR length divided by ``max(up, down)`` (longer: sharper, more latency).
    cutoff : float
        Cut-off as a fraction of the lower of the two Nyquist rates.
    beta : float
        Kaiser window beta (stop-band attenuation ~ 8.7*beta dB ... 60 dB at 5).
    """

    taps_per_phase: int = 16
    cutoff: float = 0.9
    beta: float = 5.0


class PolyphaseResampler:
    """Causal rational resampling by ``up/down`` (a Stage).

    Parameters
    ----------
    rate_in_hz, rate_out_hz : float
        Input and output rates; their ratio is reduced to ``up/down`` (up to 1000).
    settings : ResamplerSettings
    """

    def __init__(
        self, rate_in_hz: float, rate_out_hz: float, settings: ResamplerSettings = ResamplerSettings()
    ) -> None:
        if not (
            rate_in_hz > 0 and rate_out_hz > 0 and math.isfinite(rate_in_hz) and math.isfinite(rate_out_hz)
        ):
            raise StreamError(f"resampler rates must be positive, got {rate_in_hz} -> {rate_out_hz} Hz")
        frac = Fraction(rate_out_hz / rate_in_hz).limit_denominator(1000)
        if abs(float(frac) - rate_out_hz / rate_in_hz) > 1e-9:
            raise StreamError(
                f"resampler: {rate_in_hz} -> {rate_out_hz} Hz is not a ratio of integers up to 1000; "
                "use GridInterpolator for arbitrary rates"
            )
        self.up, self.down = frac.numerator, frac.denominator
        self.rate_in_hz = float(rate_in_hz)
        self.rate_out_hz = float(rate_out_hz)
        self.settings = settings
        per_phase = -(-settings.taps_per_phase * max(self.up, self.down) // self.up)
        n = per_phase * self.up
        fc = settings.cutoff / max(self.up, self.down)
        h = sps.firwin(n, fc, window=("kaiser", settings.beta)) * self.up
        # polyphase: phase p uses taps p, p+up, p+2up, ...
        self._h = np.ascontiguousarray(h.reshape(per_phase, self.up).T)
        self._n_taps = n
        self.reset()

    @property
    def latency_s(self) -> float:
        """Delay (s) of the linear-phase filter: ``(n_taps - 1) / 2`` up-sampled samples."""
        return (self._n_taps - 1) / 2 / (self.up * self.rate_in_hz)

    def reset(self) -> None:
        self._hist: np.ndarray | None = None
        self._phase = 0
        self._n_out = 0
        self._t0: float | None = None

    def process(self, chunk: Chunk) -> Chunk:
        """Resample one chunk; output timestamps are the instants represented (input clock)."""
        c = chunk.n_channels
        if self._hist is None:
            self._hist = np.zeros((self._h.shape[1] - 1, c))
        elif self._hist.shape[1] != c:
            raise StreamError(f"resampler got {c} channels after {self._hist.shape[1]}; call reset() first")
        if chunk.n and self._t0 is None:
            self._t0 = float(chunk.t[0])
        max_out = (chunk.n * self.up) // self.down + 2
        out = np.empty((max_out, c))
        k, self._phase = _polyphase(
            chunk.data.astype(np.float64), self._hist, self._h, self.up, self.down, self._phase, out
        )
        j = self._n_out + np.arange(k)
        self._n_out += k
        t = (self._t0 if self._t0 is not None else 0.0) + j / self.rate_out_hz - self.latency_s
        return Chunk(out[:k].astype(np.float32), t, j, chunk.clock, chunk.received_s)


class GridInterpolator:
    """Irregular samples in, linear interpolation on a regular grid out (a Stage).

    Parameters
    ----------
    rate_hz : float
        Output rate (Hz).
    origin_s : float or None
        Time of grid point 0 in the input clock; ``None``: the first input time.
    """

    def __init__(self, rate_hz: float, origin_s: float | None = None) -> None:
        if not rate_hz > 0:
            raise StreamError(f"GridInterpolator needs rate_hz > 0, got {rate_hz}")
        self.rate_hz = float(rate_hz)
        self.origin_s = origin_s
        self.reset()

    def reset(self) -> None:
        self._origin = self.origin_s
        self._last: tuple[float, np.ndarray] | None = None
        self._next_k = 0

    def process(self, chunk: Chunk) -> Chunk:
        """Emit every grid point that lies at or before the newest input sample."""
        if chunk.n == 0:
            return Chunk.empty(chunk.n_channels, chunk.clock)
        if self._origin is None:
            self._origin = float(chunk.t[0])
        t = chunk.t
        x = chunk.data.astype(np.float64)
        if self._last is not None:
            if self._last[1].shape[0] != chunk.n_channels:
                raise StreamError("GridInterpolator: channel count changed; call reset() first")
            t = np.r_[self._last[0], t]
            x = np.vstack([self._last[1][None], x])
        k_end = int(math.floor((t[-1] - self._origin) * self.rate_hz + 1e-9))
        k = np.arange(
            max(self._next_k, int(math.ceil((t[0] - self._origin) * self.rate_hz - 1e-9))), k_end + 1
        )
        self._next_k = k_end + 1
        self._last = (float(t[-1]), x[-1])
        tg = self._origin + k / self.rate_hz
        return Chunk(interpolate_to(t, x, tg).astype(np.float32), tg, k, chunk.clock, chunk.received_s)


def interpolate_to(
    t_src: np.ndarray,
    x: np.ndarray,
    t_dst: np.ndarray,
    *,
    max_gap_s: float = math.inf,
    breaks: np.ndarray | None = None,
    method: str = "linear",
) -> np.ndarray:
    """Samples ``x`` (n x c, or n) at times ``t_src`` onto the times ``t_dst``: the one
    interpolator of wearsense (:class:`GridInterpolator`, the sync layer's
    :class:`~wearsense.sync.timeline.GridResampler` and IMU⇄pose alignment use it).

    Parameters
    ----------
    t_src : ndarray (n,)
        Non-decreasing source times (s); of repeated times the later sample counts.
    x : ndarray (n, c) or (n,)
    t_dst : ndarray (m,)
        Times wanted (s), in the clock of ``t_src``.
    max_gap_s : float
        Neighbouring samples further apart than this (s) are not joined: NaN between
        them (lost samples are marked, never invented).
    breaks : ndarray of bool (n - 1,), optional
        True between samples ``i`` and ``i + 1`` that must not be joined either (e.g. a
        sequence-number gap).
    method : {"linear", "previous"}
        Linear interpolation between the samples around each time, or the newest
        sample at or before it (zero-order hold, NaN once ``max_gap_s`` has passed).

    Returns
    -------
    ndarray (m, c) of float64
        A time that equals a source time gets that sample; times outside
        ``[t_src[0], t_src[-1]]`` and interpolation next to a NaN sample give NaN.
    """
    if method not in ("linear", "previous"):
        raise StreamError(f"interpolate_to: method must be 'linear' or 'previous', got {method!r}")
    t_src = np.asarray(t_src, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    t_dst = np.asarray(t_dst, dtype=np.float64)
    if t_src.ndim != 1 or t_src.shape[0] != x.shape[0]:
        raise StreamError(f"interpolate_to: {t_src.shape[0]} timestamps for {x.shape[0]} samples")
    if t_src.size and (np.diff(t_src) < 0).any():
        raise StreamError("interpolate_to: source timestamps must be non-decreasing")
    if breaks is not None and np.shape(breaks) != (max(t_src.size - 1, 0),):
        raise StreamError(f"interpolate_to: breaks must have one flag per pair of samples ({t_src.size - 1})")
    out = np.full((t_dst.size, x.shape[1]), np.nan)
    if t_src.size == 0:
        return out
    i = np.searchsorted(t_src, t_dst, side="right") - 1  # newest sample at or before
    before = i >= 0
    ii = np.maximum(i, 0)
    exact = before & (t_src[ii] == t_dst)
    if method == "previous":
        ok = before & (t_dst - t_src[ii] <= max_gap_s)
        out[ok] = x[ii[ok]]
        return out
    jj = np.minimum(i + 1, t_src.size - 1)
    t0, t1 = t_src[ii], t_src[jj]
    span = t1 - t0
    ok = before & (i + 1 < t_src.size) & (span <= max_gap_s)
    if breaks is not None:
        ok &= (
            ~np.asarray(breaks, dtype=bool)[np.minimum(ii, max(t_src.size - 2, 0))]
            if t_src.size > 1
            else False
        )
    w = np.where(span > 0, (t_dst - t0) / np.where(span > 0, span, 1.0), 0.0)[:, None]
    val = x[ii] * (1 - w) + x[jj] * w
    out[ok] = val[ok]
    out[exact] = x[ii[exact]]
    return out

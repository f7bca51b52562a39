"""Causal surface-EMG conditioning stages, and one fused chain for live use.

Every stage here is a :class:`~wearsense.stream.Stage`: ``process(chunk) -> chunk``
with its own state (inspect ``stage.state``), ``reset()`` to start over, settings in
a frozen dataclass. Feeding a recording in chunks of any size gives bit-identical
output to one call on the whole recording (tested).

Stages (all causal):

==================  ============================================  =====================
stage               what                                          group delay reported
==================  ============================================  =====================
:class:`DCRemoval`  1st-order Butterworth high-pass (1 Hz)        at 80 Hz
:class:`BandPass`   Butterworth band-pass, SOS (20-450 Hz, 8th;   at 80 Hz
                    below 1 kHz the top edge is 0.9 x Nyquist)
:class:`MainsNotch` notches at 50 or 60 Hz and harmonics, the     at 80 Hz
                    family auto-detected from the first second
:class:`Rectify`    full-wave rectification ``|x|``               0
:class:`TKEO`       Teager-Kaiser energy operator (Kaiser 1990)   1 sample
:class:`Envelope`   linear envelope: Butterworth low-pass of the  at 0 Hz (low-pass) or
                    rectified signal, or moving RMS               (N-1)/2 samples (RMS)
:class:`MVCNormalise` divide by each channel's MVC envelope       0
:class:`EmgChain`   all of the above fused into one compiled      sum of the parts
                    kernel per chunk (the live path)
==================  ============================================  =====================

The group delay of a band-limited stage is reported at 80 Hz, near the peak of
surface-EMG power (most power lies in 50-150 Hz) and between the harmonics of both
50 and 60 Hz mains; :meth:`group_delay_at` gives it at any frequency. An envelope's
delay is reported at 0 Hz, the band it carries.

Non-causal zero-phase variants (forward-backward ``sosfiltfilt``) are the functions
named ``zero_phase_*``: they need the whole recording and use future samples, so they
are for offline analysis only and never belong in a live path.

All recursion runs in one numba-compiled kernel (:func:`_run_program`), looping over
time with the channels innermost (contiguous, vectorised), with float64 state; the
output is float32.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
import scipy.signal as sps

from wearsense.errors import StreamError
from wearsense.stream import Chunk

__all__ = [
    "REFERENCE_HZ",
    "DCRemovalSettings",
    "BandPassSettings",
    "NotchSettings",
    "EnvelopeSettings",
    "EmgChainSettings",
    "KernelState",
    "DCRemoval",
    "BandPass",
    "MainsNotch",
    "Rectify",
    "TKEO",
    "Envelope",
    "MVCNormalise",
    "EmgChain",
    "detect_mains_hz",
    "zero_phase_bandpass",
    "zero_phase_notch",
    "zero_phase_envelope",
    "zero_phase_chain",
]

log = logging.getLogger("wearsense")

#: Frequency (Hz) at which the group delay of band-limited stages is reported.
REFERENCE_HZ = 80.0

# Non-linearity applied between the two filter banks of a program.
_NONE, _ABS, _SQUARE, _TKEO, _TKEO_ABS = 0, 1, 2, 3, 4


# --------------------------------------------------------------------------- kernel
@numba.njit(cache=True, nogil=True)
def _biquads(v, sos, z0, z1):  # pragma: no cover - compiled
    """Cascade of transposed direct-form II sections over one sample of every channel."""
    c = v.shape[0]
    for s in range(sos.shape[0]):
        b0 = sos[s, 0]
        b1 = sos[s, 1]
        b2 = sos[s, 2]
        a1 = sos[s, 4]
        a2 = sos[s, 5]
        zs0 = z0[s]
        zs1 = z1[s]
        for k in range(c):
            vk = v[k]
            y = b0 * vk + zs0[k]
            zs0[k] = b1 * vk - a1 * y + zs1[k]
            zs1[k] = b2 * vk - a2 * y
            v[k] = y


@numba.njit(cache=True, nogil=True)
def _run_program(x, out, sos_a, z_a, nonlin, tk, sos_b, z_b, ring, ipos, rsum, root,
                 gain):  # pragma: no cover - compiled
    """Run one program over a block: bank A -> non-linearity -> bank B -> moving mean -> sqrt -> gain.

    State is copied into fresh local arrays for the loop (so the compiler can prove
    that nothing aliases and vectorise across channels) and written back at the end.
    Returns -1, or the row of the first non-finite input (then nothing is changed).
    """
    n, c = x.shape
    for i in range(n):
        for k in range(c):
            if not math.isfinite(x[i, k]):
                return i
    a0 = z_a[0].copy()
    a1 = z_a[1].copy()
    b0 = z_b[0].copy()
    b1 = z_b[1].copy()
    t0 = tk[0].copy()
    t1 = tk[1].copy()
    rg = ring.copy()
    rs = rsum.copy()
    g = gain.copy()
    w = ring.shape[0]
    p = ipos[0]
    inv = 1.0 / w if w > 0 else 1.0
    v = np.empty(c)
    for i in range(n):
        for k in range(c):
            v[k] = x[i, k]
        _biquads(v, sos_a, a0, a1)
        if nonlin == 1:
            for k in range(c):
                v[k] = abs(v[k])
        elif nonlin == 2:
            for k in range(c):
                v[k] = v[k] * v[k]
        elif nonlin >= 3:
            for k in range(c):
                # psi[n-1] = x[n-1]^2 - x[n-2] x[n]: one sample late, so causal
                e = t1[k] * t1[k] - t0[k] * v[k]
                t0[k] = t1[k]
                t1[k] = v[k]
                v[k] = abs(e) if nonlin == 4 else e
        _biquads(v, sos_b, b0, b1)
        if w > 0:
            for k in range(c):
                rs[k] += v[k] - rg[p, k]
                rg[p, k] = v[k]
                v[k] = rs[k] * inv
            p = p + 1 if p + 1 < w else 0
        if root:
            for k in range(c):
                v[k] = math.sqrt(v[k]) if v[k] > 0.0 else 0.0
        for k in range(c):
            out[i, k] = v[k] * g[k]
    z_a[0] = a0
    z_a[1] = a1
    z_b[0] = b0
    z_b[1] = b1
    tk[0] = t0
    tk[1] = t1
    ring[:] = rg
    rsum[:] = rs
    ipos[0] = p
    return -1


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class DCRemovalSettings:
    """First-order Butterworth high-pass that removes electrode offset and slow drift.

    Parameters
    ----------
    cutoff_hz : float
        -3 dB frequency in Hz (default 1 Hz).
    """

    cutoff_hz: float = 1.0


@dataclass(frozen=True)
class BandPassSettings:
    """Butterworth band-pass (default 20-450 Hz, the surface-EMG band; De Luca 2010).

    The band adapts to the sampling rate, so the defaults work on every device:
    where ``high_hz`` does not fit below Nyquist, the upper edge moves down to
    0.9 x Nyquist (Myo armband, 200 Hz: 20-90 Hz; OpenBCI Cyton, 250 Hz: 20-112.5 Hz;
    500 Hz: 20-225 Hz; 1 kHz and up: 20-450 Hz unchanged), and a lower edge above
    2/3 of that moves down to 2/3 of it, so the band keeps a width of at least 1.5:1.
    :meth:`edges_hz` gives the edges used at a rate. With ``adapt_to_rate=False`` the
    edges are taken as given, and an upper edge at or above Nyquist is an error.

    Parameters
    ----------
    low_hz, high_hz : float
        -3 dB edges in Hz where the rate allows them.
    order : int
        Butterworth order per edge; the band-pass has ``2*order`` poles (``order``
        second-order sections). Default 4.
    adapt_to_rate : bool
        Move the edges below Nyquist as described above (default True).
    """

    low_hz: float = 20.0
    high_hz: float = 450.0
    order: int = 4
    adapt_to_rate: bool = True

    def edges_hz(self, rate_hz: float) -> tuple[float, float]:
        """The (low, high) -3 dB edges in Hz used at ``rate_hz``."""
        low, high = float(self.low_hz), float(self.high_hz)
        if self.adapt_to_rate:
            top = 0.9 * float(rate_hz) / 2
            if high > top:
                high = top
                low = min(low, high / 1.5)
        return low, high


@dataclass(frozen=True)
class NotchSettings:
    """Mains notches at the fundamental and its harmonics.

    Parameters
    ----------
    mains_hz : float or None
        50 or 60; ``None`` detects which from the first ``detect_s`` of signal (both
        families are notched until then).
    harmonics : int
        Number of notches: fundamental and ``harmonics - 1`` multiples (those at or
        above Nyquist are dropped). Default 5 (50-250 Hz or 60-300 Hz).
    q : float
        Quality factor of each notch (centre / -3 dB width). Default 30 (1.7 Hz wide
        at 50 Hz).
    detect_s : float
        Seconds of signal used to decide between 50 and 60 Hz.
    detect_db : float
        A family is detected when its fundamental stands this many dB above the
        neighbouring spectrum on some channel, and above the other family's.
    """

    mains_hz: float | None = None
    harmonics: int = 5
    q: float = 30.0
    detect_s: float = 1.0
    detect_db: float = 10.0


@dataclass(frozen=True)
class EnvelopeSettings:
    """Linear envelope of a rectified EMG.

    Parameters
    ----------
    method : {"lowpass", "rms"}
        ``"lowpass"``: Butterworth low-pass of the rectified signal (Winter 2009).
        ``"rms"``: moving root-mean-square over ``window_s``.
    cutoff_hz : float
        Low-pass cut-off in Hz (default 6 Hz).
    order : int
        Low-pass order (default 2).
    window_s : float
        Moving RMS window in seconds (default 0.05 s).
    """

    method: str = "lowpass"
    cutoff_hz: float = 6.0
    order: int = 2
    window_s: float = 0.05


@dataclass(frozen=True)
class EmgChainSettings:
    """The whole causal chain; set a part to ``None`` (or ``False``) to leave it out.

    Order: DC removal -> band-pass -> mains notches -> rectification (or TKEO) ->
    envelope -> MVC normalisation.

    Parameters
    ----------
    dc, bandpass, notch, envelope
        Settings of each part, or ``None`` to skip it.
    tkeo : bool
        Apply the Teager-Kaiser operator before rectification (Solnik et al. 2010).
    rectify : bool
        Full-wave rectify before the envelope (ignored for an RMS envelope, which
        squares).
    mvc_v : tuple of float or None
        Per-channel MVC envelope in volts; output is then a fraction of MVC.
    """

    dc: DCRemovalSettings | None = DCRemovalSettings()
    bandpass: BandPassSettings | None = BandPassSettings()
    notch: NotchSettings | None = NotchSettings()
    tkeo: bool = False
    rectify: bool = True
    envelope: EnvelopeSettings | None = EnvelopeSettings()
    mvc_v: tuple[float, ...] | None = None


# --------------------------------------------------------------------------- design
def _check_rate(rate_hz: float, who: str) -> float:
    rate = float(rate_hz)
    if not math.isfinite(rate) or rate <= 0:
        raise StreamError(f"{who}: rate_hz must be a positive sampling rate in Hz, got {rate_hz!r}")
    return rate


def _dc_sos(s: DCRemovalSettings, rate: float) -> np.ndarray:
    if not 0 < s.cutoff_hz < rate / 2:
        raise StreamError(
            f"DC removal cutoff_hz={s.cutoff_hz} must lie in (0, {rate / 2}) Hz for rate {rate} Hz"
        )
    return sps.butter(1, s.cutoff_hz, "highpass", fs=rate, output="sos")


def _bandpass_sos(s: BandPassSettings, rate: float) -> np.ndarray:
    nyq = rate / 2
    if s.order < 1:
        raise StreamError(f"band-pass order must be >= 1, got {s.order}")
    if not 0 < s.low_hz < s.high_hz:
        raise StreamError(f"band-pass needs 0 < low_hz < high_hz, got {s.low_hz}-{s.high_hz} Hz")
    low, high = s.edges_hz(rate)
    if high >= nyq:
        raise StreamError(
            f"band-pass high_hz={s.high_hz} Hz is not below Nyquist ({nyq} Hz) at rate {rate} Hz; "
            f"set BandPassSettings(high_hz=...) below {nyq} Hz (e.g. {0.9 * nyq:g}), "
            "or leave adapt_to_rate=True"
        )
    return sps.butter(s.order, [low, high], "bandpass", fs=rate, output="sos")


def _notch_sos(s: NotchSettings, mains_hz: float, rate: float) -> np.ndarray:
    if s.q <= 0 or s.harmonics < 1:
        raise StreamError(f"notch needs q > 0 and harmonics >= 1, got q={s.q}, harmonics={s.harmonics}")
    freqs = [mains_hz * h for h in range(1, s.harmonics + 1) if mains_hz * h < rate / 2 * 0.98]
    if not freqs:
        raise StreamError(f"no mains notch fits below Nyquist ({rate / 2} Hz) for {mains_hz} Hz mains")
    return np.vstack([sps.tf2sos(*sps.iirnotch(f, s.q, fs=rate)) for f in freqs])


def _lowpass_sos(s: EnvelopeSettings, rate: float) -> np.ndarray:
    if not 0 < s.cutoff_hz < rate / 2 or s.order < 1:
        raise StreamError(
            f"envelope low-pass needs 0 < cutoff_hz < {rate / 2} Hz and order >= 1, "
            f"got cutoff_hz={s.cutoff_hz}, order={s.order}"
        )
    return sps.butter(s.order, s.cutoff_hz, "lowpass", fs=rate, output="sos")


def _rms_window(s: EnvelopeSettings, rate: float) -> int:
    n = int(round(s.window_s * rate))
    if n < 1:
        raise StreamError(f"RMS window_s={s.window_s} s is shorter than one sample at {rate} Hz")
    return n


def _check_envelope(s: EnvelopeSettings) -> None:
    if s.method not in ("lowpass", "rms"):
        raise StreamError(f"envelope method must be 'lowpass' or 'rms', got {s.method!r}")


def _sos_group_delay(sos: np.ndarray, f_hz: np.ndarray, rate: float) -> np.ndarray:
    """Group delay in seconds of a cascade of sections at frequencies ``f_hz``."""
    f = np.atleast_1d(np.asarray(f_hz, dtype=np.float64))
    total = np.zeros_like(f)
    for sec in np.atleast_2d(sos):
        b, a = sec[:3], sec[3:]
        # d(phase)/dw via the derivative of the transfer function: tau = -Re(w d/dw log H)
        z = np.exp(-2j * np.pi * f / rate)
        k = np.arange(3)
        def ratio(c):
            num = np.polyval((c * k)[::-1], z)
            den = np.polyval(c[::-1], z)
            return num / den
        total += np.real(ratio(b) - ratio(a))
    return total / rate


# --------------------------------------------------------------------------- program
@dataclass(frozen=True)
class _Program:
    sos_a: np.ndarray
    nonlin: int
    sos_b: np.ndarray
    window: int
    root: bool
    gain: np.ndarray | None  # per channel, or None for 1


@dataclass
class KernelState:
    """Inspectable state of a compiled stage (all float64, channels last).

    Attributes
    ----------
    n_samples : int
        Samples processed since the last reset.
    z_a, z_b : ndarray, shape (2, n_sections, n_channels)
        Transposed direct-form II state of the filter banks before and after the
        non-linearity.
    tkeo : ndarray, shape (2, n_channels)
        Last two inputs of the Teager-Kaiser operator.
    ring : ndarray, shape (window, n_channels)
        Moving-mean buffer (empty when there is no moving mean).
    ring_pos : ndarray of int64, shape (1,)
        Next write position in ``ring``.
    ring_sum : ndarray, shape (n_channels,)
        Running sum of ``ring``.
    """

    n_samples: int = 0
    z_a: np.ndarray | None = None
    z_b: np.ndarray | None = None
    tkeo: np.ndarray | None = None
    ring: np.ndarray | None = None
    ring_pos: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    ring_sum: np.ndarray | None = None

    @property
    def n_channels(self) -> int | None:
        return None if self.z_a is None else self.z_a.shape[2]


def _empty_sos() -> np.ndarray:
    return np.zeros((0, 6))


class _KernelStage:
    """Base of the compiled stages: one :class:`_Program` run by :func:`_run_program`."""

    rate_hz: float
    state: KernelState
    _program: _Program

    def reset(self) -> None:
        """Forget all state (filter memories, buffers, sample count)."""
        self.state = KernelState()

    def _alloc(self, c: int) -> None:
        p = self._program
        st = self.state
        st.z_a = np.zeros((2, p.sos_a.shape[0], c))
        st.z_b = np.zeros((2, p.sos_b.shape[0], c))
        st.tkeo = np.zeros((2, c))
        st.ring = np.zeros((p.window, c))
        st.ring_sum = np.zeros(c)
        gain = np.ones(c) if p.gain is None else p.gain
        if gain.shape != (c,):
            raise StreamError(
                f"{type(self).__name__}: {gain.size} MVC values for a {c}-channel stream; "
                "give one MVC value per channel"
            )
        self._gain = gain
        self._bind()

    def _bind(self) -> None:
        """Collect the kernel's arguments once (the live path calls it per 10 ms chunk)."""
        st = self.state
        p = self._program
        self._args = (p.sos_a, st.z_a, p.nonlin, st.tkeo, p.sos_b, st.z_b,
                      st.ring, st.ring_pos, st.ring_sum, p.root, self._gain)

    def _raise_bad(self, x: np.ndarray, row: int) -> None:
        col = int(np.argmin(np.isfinite(x[row])))
        raise StreamError(
            f"{type(self).__name__}: non-finite input in channel {col} at sample "
            f"{self.state.n_samples + row}; EMG must be finite: drop or repair the bad samples "
            "before filtering"
        )

    def process(self, chunk: Chunk) -> Chunk:
        """Filter one chunk; returns a chunk with the same timestamps (float32 data)."""
        st = self.state
        x = chunk.data
        if st.z_a is None:
            self._alloc(x.shape[1])
        elif st.z_a.shape[2] != x.shape[1]:
            raise StreamError(
                f"{type(self).__name__}: got a {x.shape[1]}-channel chunk after {st.z_a.shape[2]} "
                "channels; call reset() before feeding another stream"
            )
        out = np.empty(x.shape, np.float32)
        bad = _run_program(x, out, *self._args)
        if bad >= 0:
            self._raise_bad(x, bad)
        st.n_samples += x.shape[0]
        return chunk.with_data(out)

    # group delay -----------------------------------------------------------------
    def group_delay_at(self, f_hz) -> np.ndarray:
        """Group delay in seconds at frequencies ``f_hz`` (Hz) of the linear parts.

        For a moving mean the delay is ``(window - 1) / 2`` samples at all frequencies.
        """
        p = self._program
        f = np.atleast_1d(np.asarray(f_hz, dtype=np.float64))
        d = _sos_group_delay(p.sos_a, f, self.rate_hz) if p.sos_a.size else np.zeros_like(f)
        if p.nonlin >= _TKEO:
            d = d + 1.0 / self.rate_hz
        if p.sos_b.size:
            d = d + _sos_group_delay(p.sos_b, f, self.rate_hz)
        if p.window:
            d = d + (p.window - 1) / 2 / self.rate_hz
        return d


class DCRemoval(_KernelStage):
    """Causal DC/offset removal: first-order Butterworth high-pass.

    Parameters
    ----------
    rate_hz : float
        Sampling rate in Hz.
    settings : DCRemovalSettings
    """

    def __init__(self, rate_hz: float, settings: DCRemovalSettings = DCRemovalSettings()) -> None:
        self.rate_hz = _check_rate(rate_hz, "DCRemoval")
        self.settings = settings
        self._program = _Program(_dc_sos(settings, self.rate_hz), _NONE, _empty_sos(), 0, False, None)
        self.reset()

    @property
    def group_delay_s(self) -> float:
        """Group delay (s) at :data:`REFERENCE_HZ`."""
        return float(self.group_delay_at(REFERENCE_HZ)[0])


class BandPass(_KernelStage):
    """Causal Butterworth band-pass (second-order sections), default 20-450 Hz.

    Below 1 kHz the default upper edge is 0.9 x Nyquist (20-90 Hz at 200 Hz); see
    :class:`BandPassSettings` for how the band adapts to the rate.

    Parameters
    ----------
    rate_hz : float
        Sampling rate in Hz.
    settings : BandPassSettings
    """

    def __init__(self, rate_hz: float, settings: BandPassSettings = BandPassSettings()) -> None:
        self.rate_hz = _check_rate(rate_hz, "BandPass")
        self.settings = settings
        self.sos = _bandpass_sos(settings, self.rate_hz)
        self._program = _Program(self.sos, _NONE, _empty_sos(), 0, False, None)
        self.reset()

    @property
    def group_delay_s(self) -> float:
        """Group delay (s) at :data:`REFERENCE_HZ`."""
        return float(self.group_delay_at(REFERENCE_HZ)[0])


def detect_mains_hz(x: np.ndarray, rate_hz: float, min_db: float = 10.0) -> float | None:
    """Which mains frequency (50 or 60 Hz) dominates a block of signal, if any.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Raw signal, at least 0.25 s.
    rate_hz : float
        Sampling rate in Hz.
    min_db : float
        How far (dB) the fundamental must stand above the median spectrum within
        +-10 Hz of it, on the strongest channel.

    Returns
    -------
    float or None
        50.0, 60.0, or None when neither stands out.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    n = x.shape[0]
    if n < int(0.25 * rate_hz) or rate_hz <= 130:
        return None
    win = np.hanning(n)[:, None]
    p = np.abs(np.fft.rfft((x - x.mean(axis=0)) * win, axis=0)) ** 2
    f = np.fft.rfftfreq(n, 1 / rate_hz)
    score = {}
    for f0 in (50.0, 60.0):
        peak = p[(f > f0 - 1.5) & (f < f0 + 1.5)].max(axis=0)
        ring = ((f > f0 - 10) & (f < f0 - 3)) | ((f > f0 + 3) & (f < f0 + 10))
        floor = np.median(p[ring], axis=0) + 1e-30
        score[f0] = float(np.max(10 * np.log10(peak / floor + 1e-30)))
    best = max(score, key=score.get)
    other = 110.0 - best
    if score[best] >= min_db and score[best] >= score[other] + 3.0:
        return best
    return None


class _MainsMixin:
    """Decides 50/60 Hz from the first ``detect_s`` of raw input, then drops the other family.

    A class using it defines ``_keep_family(found)``, which removes the sections of the
    family not found and keeps the state of the others.
    """

    def _init_mains(self, settings: NotchSettings, rate: float) -> None:
        self._notch_settings = settings
        if settings.mains_hz is not None and float(settings.mains_hz) not in (50.0, 60.0):
            raise StreamError(
                f"mains_hz must be 50, 60 or None (auto-detect), got {settings.mains_hz!r}"
            )
        self._families = {f0: _notch_sos(settings, f0, rate) for f0 in (50.0, 60.0)}
        self._detect_n = max(1, int(round(settings.detect_s * rate)))

    def _reset_mains(self) -> None:
        s = self._notch_settings
        #: 50.0 or 60.0 once known; None while detecting or when neither was found
        self.mains_hz: float | None = None if s.mains_hz is None else float(s.mains_hz)
        self.mains_pending = s.mains_hz is None
        self._detect_buf: list[np.ndarray] = []
        self._detect_seen = 0

    def process(self, chunk: Chunk) -> Chunk:
        """Filter one chunk. While mains is being detected the chunk is split at the
        decision sample, so the switch happens at a fixed sample count whatever the chunking."""
        if not self.mains_pending:
            return super().process(chunk)
        need = self._detect_n - self._detect_seen
        head = chunk[: min(need, chunk.n)]
        out_head = super().process(head)
        self._detect_buf.append(np.array(head.data))
        self._detect_seen += head.n
        if self._detect_seen < self._detect_n:
            return out_head
        found = detect_mains_hz(np.concatenate(self._detect_buf), self.rate_hz,
                                self._notch_settings.detect_db)
        self.mains_pending = False
        self._detect_buf = []
        if found is None:
            log.info("%s: no mains peak found in the first %.1f s; keeping 50 and 60 Hz notches",
                     type(self).__name__, self._notch_settings.detect_s)
        else:
            self.mains_hz = found
            self._keep_family(found)
            log.info("%s: detected %g Hz mains", type(self).__name__, found)
        if head.n == chunk.n:
            return out_head
        out_tail = super().process(chunk[head.n :])
        return chunk.with_data(np.concatenate([out_head.data, out_tail.data]))


class MainsNotch(_MainsMixin, _KernelStage):
    """Causal notches at the mains frequency and its harmonics (a harmonic comb).

    With ``mains_hz=None`` both the 50 Hz and the 60 Hz family are notched for the
    first ``detect_s`` seconds while :func:`detect_mains_hz` looks at the raw input;
    then the family not found is dropped (its sections removed, the others keep their
    state). If neither stands out, both stay. The switch happens at a fixed sample
    count, so chunking does not change the output.

    Parameters
    ----------
    rate_hz : float
        Sampling rate in Hz.
    settings : NotchSettings
    """

    def __init__(self, rate_hz: float, settings: NotchSettings = NotchSettings()) -> None:
        self.rate_hz = _check_rate(rate_hz, "MainsNotch")
        self.settings = settings
        self._init_mains(settings, self.rate_hz)
        self.reset()

    def _sos_for(self, mains: float | None) -> np.ndarray:
        if mains is None:
            return np.vstack([self._families[50.0], self._families[60.0]])
        return self._families[mains]

    def reset(self) -> None:
        self._reset_mains()
        self._program = _Program(self._sos_for(self.mains_hz), _NONE, _empty_sos(), 0, False, None)
        super().reset()

    def _keep_family(self, found: float) -> None:
        n50 = self._families[50.0].shape[0]
        keep = slice(0, n50) if found == 50.0 else slice(n50, None)
        self._program = _Program(self._families[found], _NONE, _empty_sos(), 0, False, None)
        self.state.z_a = np.ascontiguousarray(self.state.z_a[:, keep])
        self._bind()

    @property
    def sos(self) -> np.ndarray:
        """Second-order sections now in use, shape (n_sections, 6)."""
        return self._program.sos_a

    @property
    def group_delay_s(self) -> float:
        """Group delay (s) at :data:`REFERENCE_HZ` of the notches now in use."""
        return float(self.group_delay_at(REFERENCE_HZ)[0])


class Rectify(_KernelStage):
    """Full-wave rectification ``|x|``. Stateless; group delay 0."""

    def __init__(self, rate_hz: float) -> None:
        self.rate_hz = _check_rate(rate_hz, "Rectify")
        self._program = _Program(_empty_sos(), _ABS, _empty_sos(), 0, False, None)
        self.reset()

    group_delay_s = 0.0


class TKEO(_KernelStage):
    """Teager-Kaiser energy operator ``psi[n] = x[n]^2 - x[n-1] x[n+1]`` (Kaiser 1990).

    Made causal by emitting ``psi[n-1]`` at sample ``n``: one sample of delay. Used
    before rectification and low-pass for onset detection (Solnik et al. 2010).

    Parameters
    ----------
    rate_hz : float
        Sampling rate in Hz.
    absolute : bool
        Emit ``|psi|`` (the "rectified TKEO" of Solnik et al.).
    """

    def __init__(self, rate_hz: float, absolute: bool = False) -> None:
        self.rate_hz = _check_rate(rate_hz, "TKEO")
        self.absolute = bool(absolute)
        self._program = _Program(_empty_sos(), _TKEO_ABS if absolute else _TKEO, _empty_sos(), 0, False, None)
        self.reset()

    @property
    def group_delay_s(self) -> float:
        """One sample, in seconds."""
        return 1.0 / self.rate_hz


class Envelope(_KernelStage):
    """Linear envelope: low-pass of the (already rectified) input, or moving RMS.

    Parameters
    ----------
    rate_hz : float
        Sampling rate in Hz.
    settings : EnvelopeSettings
    """

    def __init__(self, rate_hz: float, settings: EnvelopeSettings = EnvelopeSettings()) -> None:
        self.rate_hz = _check_rate(rate_hz, "Envelope")
        self.settings = settings
        _check_envelope(settings)
        if settings.method == "lowpass":
            sos = _lowpass_sos(settings, self.rate_hz)
            self._program = _Program(_empty_sos(), _NONE, sos, 0, False, None)
        else:
            self._program = _Program(_empty_sos(), _SQUARE, _empty_sos(),
                                     _rms_window(settings, self.rate_hz), True, None)
        self.reset()

    @property
    def group_delay_s(self) -> float:
        """Group delay (s) at 0 Hz (low-pass) or ``(N-1)/2`` samples (moving RMS)."""
        return float(self.group_delay_at(0.0)[0])


def _mvc_gain(mvc_v: Sequence[float]) -> np.ndarray:
    mvc = np.asarray(mvc_v, dtype=np.float64).ravel()
    bad = np.flatnonzero(~np.isfinite(mvc) | (mvc <= 0))
    if mvc.size == 0 or bad.size:
        which = f"channel {int(bad[0])} has {float(mvc[bad[0]])!r}" if bad.size else "no values given"
        raise StreamError(
            f"MVC values must be positive volts, one per channel ({which}); "
            "record an MVC trial for that muscle (wearsense calibrate) or leave it out of the chain"
        )
    return 1.0 / mvc


class MVCNormalise(_KernelStage):
    """Divide each channel by its maximum-voluntary-contraction envelope (output: fraction of MVC).

    Parameters
    ----------
    rate_hz : float
        Sampling rate in Hz.
    mvc_v : sequence of float
        Per-channel MVC envelope amplitude in volts, measured with the same envelope
        settings as the signal normalised.
    """

    def __init__(self, rate_hz: float, mvc_v: Sequence[float]) -> None:
        self.rate_hz = _check_rate(rate_hz, "MVCNormalise")
        self.mvc_v = tuple(float(v) for v in np.ravel(mvc_v))
        self._program = _Program(_empty_sos(), _NONE, _empty_sos(), 0, False, _mvc_gain(self.mvc_v))
        self.reset()

    group_delay_s = 0.0


class EmgChain(_MainsMixin, _KernelStage):
    """The whole causal EMG chain in one compiled call per chunk: the live path.

    DC removal -> band-pass -> mains notches -> (TKEO) -> rectification ->
    envelope -> MVC normalisation, each part optional (:class:`EmgChainSettings`).
    Gives the same output as the separate stages in a :class:`~wearsense.stream.Pipeline`
    (within float32 rounding between stages: the chain keeps float64 throughout) at
    a fraction of the per-chunk cost.

    The defaults work at every rate a supported device delivers (Myo 200 Hz,
    BrainFlow boards 250/500/1000 Hz, 2 kHz and up): the band-pass keeps 20-450 Hz
    where Nyquist allows and otherwise ends at 0.9 x Nyquist (20-90 Hz at 200 Hz,
    20-112.5 Hz at 250 Hz, 20-225 Hz at 500 Hz; :class:`BandPassSettings`), and the
    mains notches keep only the harmonics below Nyquist.

    Parameters
    ----------
    rate_hz : float
        Sampling rate in Hz.
    settings : EmgChainSettings
    """

    def __init__(self, rate_hz: float, settings: EmgChainSettings = EmgChainSettings()) -> None:
        self.rate_hz = rate = _check_rate(rate_hz, "EmgChain")
        self.settings = s = settings
        head = []
        if s.dc is not None:
            head.append(_dc_sos(s.dc, rate))
        if s.bandpass is not None:
            head.append(_bandpass_sos(s.bandpass, rate))
        self._head = np.vstack(head) if head else _empty_sos()
        if s.notch is not None:
            self._init_mains(s.notch, rate)
        else:
            self._notch_settings = None
        env = s.envelope
        self._tail = _empty_sos()
        self._window = 0
        self._root = False
        if env is not None:
            _check_envelope(env)
            if env.method == "lowpass":
                self._tail = _lowpass_sos(env, rate)
            else:
                self._window = _rms_window(env, rate)
                self._root = True
        if env is not None and env.method == "rms":
            self._nonlin = _SQUARE if not s.tkeo else _TKEO
        elif s.tkeo:
            self._nonlin = _TKEO_ABS if s.rectify else _TKEO
        else:
            self._nonlin = _ABS if s.rectify else _NONE
        self._gain_v = None if s.mvc_v is None else _mvc_gain(s.mvc_v)
        self.reset()

    def _build(self) -> None:
        if self._notch_settings is None:
            notch = _empty_sos()
        elif self.mains_hz is None:
            notch = np.vstack([self._families[50.0], self._families[60.0]])
        else:
            notch = self._families[self.mains_hz]
        sos_a = np.ascontiguousarray(np.vstack([self._head, notch]))
        self._program = _Program(sos_a, self._nonlin, self._tail, self._window, self._root, self._gain_v)

    def reset(self) -> None:
        if self._notch_settings is not None:
            self._reset_mains()
        else:
            self.mains_hz, self.mains_pending = None, False
        self._build()
        super().reset()

    def _keep_family(self, found: float) -> None:
        nh = self._head.shape[0]
        n50 = self._families[50.0].shape[0]
        n_all = self._program.sos_a.shape[0]
        keep = np.r_[0:nh, nh:nh + n50] if found == 50.0 else np.r_[0:nh, nh + n50:n_all]
        self._build()
        self.state.z_a = np.ascontiguousarray(self.state.z_a[:, keep])
        self._bind()

    @property
    def group_delay_s(self) -> float:
        """Delay (s) of the chain: filters at :data:`REFERENCE_HZ`, envelope at 0 Hz."""
        p = self._program
        d = float(_sos_group_delay(p.sos_a, REFERENCE_HZ, self.rate_hz)[0]) if p.sos_a.size else 0.0
        if p.nonlin >= _TKEO:
            d += 1.0 / self.rate_hz
        if p.sos_b.size:
            d += float(_sos_group_delay(p.sos_b, 0.0, self.rate_hz)[0])
        if p.window:
            d += (p.window - 1) / 2 / self.rate_hz
        return d


# --------------------------------------------------------------------------- zero phase
def _zero_phase(chunk: Chunk, sos: np.ndarray) -> Chunk:
    if chunk.n <= 3 * (2 * sos.shape[0] + 1):
        raise StreamError(
            f"zero-phase filtering needs more than {3 * (2 * sos.shape[0] + 1)} samples, got {chunk.n}; "
            "pass the whole recording (these functions are offline only)"
        )
    y = sps.sosfiltfilt(sos, chunk.data.astype(np.float64), axis=0)
    return chunk.with_data(y.astype(np.float32))


def zero_phase_bandpass(chunk: Chunk, rate_hz: float,
                        settings: BandPassSettings = BandPassSettings()) -> Chunk:
    """NON-CAUSAL forward-backward band-pass (``sosfiltfilt``): offline analysis only.

    Zero phase and squared magnitude response; needs the whole recording.
    """
    return _zero_phase(chunk, _bandpass_sos(settings, _check_rate(rate_hz, "zero_phase_bandpass")))


def zero_phase_notch(chunk: Chunk, rate_hz: float, settings: NotchSettings = NotchSettings()) -> Chunk:
    """NON-CAUSAL forward-backward mains notches: offline analysis only.

    With ``mains_hz=None`` the family is detected from the whole recording.
    """
    rate = _check_rate(rate_hz, "zero_phase_notch")
    mains = settings.mains_hz
    if mains is None:
        mains = detect_mains_hz(chunk.data, rate, settings.detect_db)
    sos = (np.vstack([_notch_sos(settings, 50.0, rate), _notch_sos(settings, 60.0, rate)])
           if mains is None else _notch_sos(settings, float(mains), rate))
    return _zero_phase(chunk, sos)


def zero_phase_envelope(chunk: Chunk, rate_hz: float,
                        settings: EnvelopeSettings = EnvelopeSettings()) -> Chunk:
    """NON-CAUSAL envelope: rectify, then forward-backward low-pass (or centred moving RMS)."""
    rate = _check_rate(rate_hz, "zero_phase_envelope")
    _check_envelope(settings)
    if settings.method == "lowpass":
        return _zero_phase(chunk.with_data(np.abs(chunk.data)), _lowpass_sos(settings, rate))
    n = _rms_window(settings, rate)
    sq = chunk.data.astype(np.float64) ** 2
    from scipy.ndimage import uniform_filter1d

    return chunk.with_data(np.sqrt(uniform_filter1d(sq, n, axis=0, mode="nearest")).astype(np.float32))


def zero_phase_chain(chunk: Chunk, rate_hz: float, settings: EmgChainSettings = EmgChainSettings()) -> Chunk:
    """NON-CAUSAL offline counterpart of :class:`EmgChain` (zero-phase filters, centred envelope)."""
    rate = _check_rate(rate_hz, "zero_phase_chain")
    out = chunk
    if settings.dc is not None:
        out = _zero_phase(out, _dc_sos(settings.dc, rate))
    if settings.bandpass is not None:
        out = zero_phase_bandpass(out, rate, settings.bandpass)
    if settings.notch is not None:
        out = zero_phase_notch(out, rate, settings.notch)
    if settings.tkeo:
        x = out.data.astype(np.float64)
        psi = np.zeros_like(x)
        psi[1:-1] = x[1:-1] ** 2 - x[:-2] * x[2:]
        out = out.with_data(psi.astype(np.float32))
    if settings.envelope is not None:
        out = zero_phase_envelope(out, rate, settings.envelope)
    elif settings.rectify:
        out = out.with_data(np.abs(out.data))
    if settings.mvc_v is not None:
        out = out.with_data((out.data * _mvc_gain(settings.mvc_v)).astype(np.float32))
    return out

"""Streaming, multichannel EMG onset/offset detection.

Three detectors, all causal and chunk-invariant, each a :class:`~wearsense.stream.Stage`
that takes raw EMG (volts) and returns a chunk of the activity state (0/1 per channel,
as known at each sample), while the onset/offset events it finds accumulate in
``detector.events`` (take them with :meth:`OnsetDetector.pop_events`):

- :class:`DoubleThreshold`: Bonato, D'Alessio & Knaflitz (1998), "A statistical
  method for the measurement of muscle activation intervals from surface myoelectric
  signal during gait". The energy of two successive samples over the baseline
  variance is compared with a first threshold (chosen from a false-alarm
  probability), and at least ``r0`` of ``m`` successive tests must pass.
- :class:`TkeoThreshold`: Solnik, Rider, Steinweg, DeVita & Hortobágyi (2010),
  "Teager-Kaiser energy operator signal conditioning improves EMG onset detection".
  Band-pass 30-300 Hz, TKEO, rectification, 50 Hz low-pass, then a threshold at
  ``mean + h*SD`` of the baseline held for ``min_above_s``.
- :class:`CusumChangePoint`: Page's CUSUM on the log-likelihood ratio of a change of
  variance of zero-mean Gaussian EMG (Page 1954; Basseville & Nikiforov 1993, ch. 2);
  the onset is the change-point estimate (the last time the statistic was zero), so
  it is back-dated to where the change began.

All three condition the raw EMG with a band-pass whose low edge (60 Hz by default,
30 Hz in Solnik et al.) lies above most ECG (QRS) and motion-artefact energy: with a
20 Hz edge, 1 mV of ECG gives hundreds of false onsets a minute on the sim; at 60 Hz
none (docs/dsp.md has the curves).

The baseline (rest) level is learnt on the fly, per channel, as a low quantile of the
mean energy of 50 ms blocks over the last 20 s (so it needs some rest in that
history, and the first ``warmup_s`` seconds detect nothing), or given from a rest
calibration (``baseline_v``). Every event carries its estimated time (``t``, in the
chunk's clock, corrected for the conditioning filters' group delay) and the time the
detector decided (``decided_t``); their difference is the detector's latency.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from wearsense.dsp.emg import BandPass, BandPassSettings, EmgChain, EmgChainSettings, EnvelopeSettings
from wearsense.errors import StreamError
from wearsense.stream import Chunk

__all__ = [
    "OnsetEvent",
    "BaselineSettings",
    "DoubleThresholdSettings",
    "TkeoSettings",
    "CusumSettings",
    "OnsetDetector",
    "DoubleThreshold",
    "TkeoThreshold",
    "CusumChangePoint",
    "OnsetScore",
    "score_onsets",
]

log = logging.getLogger("wearsense")

_BONATO, _TKEO, _CUSUM = 0, 1, 2
# per-channel integer state columns
_I_STATE, _I_ON, _I_OFF, _I_CNT, _I_RUN_A, _I_RUN_B, _I_LAST, _I_ZERO_UP, _I_ZERO_DN = range(9)
_N_I = 9
# per-channel float state columns
_F_PREV, _F_GUP, _F_GDN = range(3)
_N_F = 3


# --------------------------------------------------------------------------- kernel
@numba.njit(cache=True, nogil=True)
def _detect(e, n0, method, thr, par, min_on, min_off, si, sf, ring, rpos, ev):  # pragma: no cover - compiled
    """Run one detector over a segment of per-sample energies ``e`` (n x c).

    ``n0``: absolute index of e[0]. ``thr`` (c,): per-channel threshold in the units of
    the method. ``par``: method parameters. Events are written to ``ev`` rows
    (channel, kind 1=onset 0=offset, estimated index, decision index); returns the
    number written, and the activity state (n x c, 0/1) after each sample.
    """
    n, c = e.shape
    m = ring.shape[0]
    ne = 0
    act = np.zeros((n, c), np.float32)
    for i in range(n):
        idx = n0 + i
        p = rpos[0]
        for k in range(c):
            x = e[i, k]
            on_cond = False
            off_cond = False
            on_idx = idx
            off_idx = idx
            if method == 0:
                # Bonato: z = (x[n]^2 + x[n-1]^2) / sigma0^2 > zeta, r0 of m
                z = x + sf[k, 0]
                sf[k, 0] = x
                hit = z > thr[k]
                old = ring[p, k]
                if old >= 0:
                    si[k, 3] -= 1
                if hit:
                    ring[p, k] = idx
                    si[k, 3] += 1
                    si[k, 6] = idx
                else:
                    ring[p, k] = -1
                if si[k, 3] >= par[0]:
                    on_cond = True
                    first = idx
                    for j in range(m):
                        if ring[j, k] >= 0 and ring[j, k] < first:
                            first = ring[j, k]
                    on_idx = first
                if si[k, 3] < par[1]:
                    off_cond = True
                    off_idx = si[k, 6] + 1
            elif method == 1:
                # TKEO: conditioned signal above threshold for a run of par[0] samples
                if x > thr[k]:
                    if si[k, 4] == 0:
                        si[k, 6] = idx
                    si[k, 4] += 1
                    si[k, 5] = 0
                else:
                    if si[k, 5] == 0:
                        si[k, 7] = idx
                    si[k, 5] += 1
                    si[k, 4] = 0
                if si[k, 4] >= par[0]:
                    on_cond = True
                    on_idx = si[k, 6]
                if si[k, 5] >= par[1]:
                    off_cond = True
                    off_idx = si[k, 7]
            else:
                # CUSUM of the variance-change log-likelihood ratio; thr holds 1/sigma0^2
                inv0 = thr[k]
                inv1 = inv0 * par[0]
                llr = par[1] + 0.5 * x * (inv0 - inv1)
                g = sf[k, 1] + llr
                if g <= 0.0:
                    g = 0.0
                    si[k, 7] = idx
                sf[k, 1] = g
                if g > par[2]:
                    on_cond = True
                    on_idx = si[k, 7] + 1
                if si[k, 0] >= 2:
                    gd = sf[k, 2] - llr
                    if gd <= 0.0:
                        gd = 0.0
                        si[k, 8] = idx
                    sf[k, 2] = gd
                    if gd > par[2]:
                        off_cond = True
                        off_idx = si[k, 8] + 1
            # confirmation state machine: 0 rest, 1 tentative, 2 active, 3 ending
            s = si[k, 0]
            if s == 0:
                if on_cond:
                    si[k, 1] = on_idx
                    s = 1
            if s == 1:
                if off_cond and not on_cond:
                    s = 0
                elif idx - si[k, 1] >= min_on:
                    ev[ne, 0] = k
                    ev[ne, 1] = 1
                    ev[ne, 2] = si[k, 1]
                    ev[ne, 3] = idx
                    ne += 1
                    s = 2
                    sf[k, 2] = 0.0
                    si[k, 8] = idx
            elif s == 2:
                if off_cond:
                    si[k, 2] = off_idx
                    s = 3
            elif s == 3:
                if on_cond and not off_cond:
                    s = 2
                elif idx - si[k, 2] >= min_off:
                    ev[ne, 0] = k
                    ev[ne, 1] = 0
                    ev[ne, 2] = si[k, 2]
                    ev[ne, 3] = idx
                    ne += 1
                    s = 0
                    sf[k, 1] = 0.0
                    si[k, 7] = idx
            si[k, 0] = s
            act[i, k] = 1.0 if s >= 2 else 0.0
        rpos[0] = p + 1 if p + 1 < m else 0
    return ne, act


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class BaselineSettings:
    """How the rest level is learnt.

    Parameters
    ----------
    block_s : float
        Block length (s) over which the mean energy is taken.
    history_s : float
        Blocks kept (s); the baseline is a quantile over them.
    quantile : float
        Quantile (0..1) of the block energies taken as rest.
    warmup_s : float
        Nothing is detected before this much signal has been seen.
    baseline_v : tuple of float or None
        Per-channel rest RMS (V) of the band-passed signal from a rest calibration;
        when given, used instead of learning (and no warm-up).
    """

    block_s: float = 0.05
    history_s: float = 20.0
    quantile: float = 0.2
    warmup_s: float = 2.0
    baseline_v: tuple[float, ...] | None = None


@dataclass(frozen=True)
class DoubleThresholdSettings:
    """Bonato et al. (1998) double threshold.

    Parameters
    ----------
    p_false : float
        Per-test false-alarm probability of the first threshold; with the energy of two
        samples over the baseline variance being chi-squared with 2 degrees of freedom,
        ``zeta = -2 ln(p_false)``.
    window_s : float
        ``m`` successive tests (s).
    r0 : float
        Fraction of the ``m`` tests that must pass for activity.
    r_off : float
        Activity ends when fewer than this fraction pass.
    min_on_s, min_off_s : float
        Bursts shorter than ``min_on_s`` are dropped; gaps shorter than ``min_off_s``
        are bridged (Bonato: 30 ms).
    """

    p_false: float = 0.001
    window_s: float = 0.025
    r0: float = 0.6
    r_off: float = 0.3
    min_on_s: float = 0.03
    min_off_s: float = 0.05
    bandpass: BandPassSettings | None = BandPassSettings(low_hz=60.0)
    baseline: BaselineSettings = BaselineSettings()


@dataclass(frozen=True)
class TkeoSettings:
    """Solnik et al. (2010) TKEO conditioning and threshold.

    Parameters
    ----------
    h : float
        Threshold ``mean + h * SD`` of the conditioned baseline.
    min_above_s : float
        The conditioned signal must stay above the threshold this long (onset) and
        below it this long (offset).
    lowpass_hz : float
        Low-pass of the rectified TKEO output (Solnik: 50 Hz).
    """

    h: float = 8.0
    min_above_s: float = 0.01
    lowpass_hz: float = 50.0
    min_on_s: float = 0.03
    min_off_s: float = 0.05
    bandpass: BandPassSettings = BandPassSettings(low_hz=60.0, high_hz=300.0, order=2)
    baseline: BaselineSettings = BaselineSettings()


@dataclass(frozen=True)
class CusumSettings:
    """CUSUM change-point detector for a change of EMG variance.

    Parameters
    ----------
    ratio : float
        Amplitude ratio (active RMS / rest RMS) the test is tuned for.
    h : float
        Decision threshold on the cumulative log-likelihood ratio (nats).
    """

    ratio: float = 4.0
    h: float = 80.0
    min_on_s: float = 0.03
    min_off_s: float = 0.05
    bandpass: BandPassSettings | None = BandPassSettings(low_hz=60.0)
    baseline: BaselineSettings = BaselineSettings()


@dataclass(frozen=True)
class OnsetEvent:
    """One onset or offset on one channel.

    Attributes
    ----------
    channel : int
        Column of the EMG chunk.
    kind : str
        ``"onset"`` or ``"offset"``.
    t : float
        Estimated time of the change (s, clock of the chunks fed), back-dated and
        corrected for the conditioning filters' group delay.
    decided_t : float
        Time of the sample at which the detector decided (s, same clock).
    """

    channel: int
    kind: str
    t: float
    decided_t: float

    @property
    def latency_s(self) -> float:
        """How long after the change the detector knew (s)."""
        return self.decided_t - self.t


@dataclass
class DetectorState:
    """Inspectable state of a detector.

    Attributes
    ----------
    n_samples : int
        Samples seen since reset.
    baseline : ndarray (n_channels,) or None
        Rest level now in use (mean energy per sample of the detector's statistic).
    ready : bool
        Whether the baseline is known (after warm-up, or given).
    events : list of OnsetEvent
        Events found and not yet popped.
    """

    n_samples: int = 0
    baseline: np.ndarray | None = None
    baseline_sd: np.ndarray | None = None
    ready: bool = False
    events: list[OnsetEvent] = field(default_factory=list)
    block_sum: np.ndarray | None = None
    block_sq: np.ndarray | None = None
    history: list[np.ndarray] = field(default_factory=list)
    history_sd: list[np.ndarray] = field(default_factory=list)
    si: np.ndarray | None = None
    sf: np.ndarray | None = None
    ring: np.ndarray | None = None
    rpos: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))


class OnsetDetector:
    """Base of the detectors: conditioning, baseline learning, events. Use a subclass."""

    _method: int
    settings: DoubleThresholdSettings | TkeoSettings | CusumSettings

    def __init__(self, rate_hz: float, settings) -> None:
        rate = float(rate_hz)
        if not math.isfinite(rate) or rate <= 0:
            raise StreamError(f"{type(self).__name__}: rate_hz must be a positive rate in Hz, got {rate_hz!r}")
        self.rate_hz = rate
        self.settings = settings
        b = settings.baseline
        self._block_n = max(1, int(round(b.block_s * rate)))
        self._history_n = max(1, int(round(b.history_s / b.block_s)))
        self._warmup_n = int(round(b.warmup_s * rate))
        if not 0 < b.quantile < 1:
            raise StreamError(f"baseline quantile must lie in (0, 1), got {b.quantile}")
        self._min_on = int(round(settings.min_on_s * rate))
        self._min_off = int(round(settings.min_off_s * rate))
        self._conditioner = self._make_conditioner()
        self.reset()

    # subclass hooks -----------------------------------------------------------------
    def _make_conditioner(self):
        bp = self.settings.bandpass
        return None if bp is None else BandPass(self.rate_hz, bp)

    def _energy(self, x: np.ndarray) -> np.ndarray:
        return x.astype(np.float64) ** 2

    def _thresholds(self, base: np.ndarray, sd: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _params(self) -> np.ndarray:
        raise NotImplementedError

    def _ring_len(self) -> int:
        return 1

    # public ---------------------------------------------------------------------------
    @property
    def group_delay_s(self) -> float:
        """Delay (s) of the conditioning filters, subtracted from event times.

        Band-pass: its group delay at the band's geometric centre ``sqrt(low*high)``
        (where the EMG energy it passes is centred); a low-pass after TKEO: at 0 Hz.
        """
        bp = self.settings.bandpass
        if bp is None:
            return 0.0
        centre = math.sqrt(bp.low_hz * bp.high_hz)
        return float(BandPass(self.rate_hz, bp).group_delay_at(centre)[0])

    @property
    def latency_s(self) -> float:
        """Shortest decision latency (s) after a clean step: the confirmation time
        ``min_on_s`` plus the conditioning delay (the test statistic adds more for
        gradual onsets; each event carries its own)."""
        return self._min_on / self.rate_hz + self.group_delay_s

    @property
    def events(self) -> list[OnsetEvent]:
        """Events found so far and not yet popped."""
        return self.state.events

    def pop_events(self) -> list[OnsetEvent]:
        """Return and forget the events found so far."""
        out, self.state.events = self.state.events, []
        return out

    def reset(self) -> None:
        """Forget everything: filters, baseline, events."""
        self.state = DetectorState()
        if self._conditioner is not None:
            self._conditioner.reset()

    def _alloc(self, c: int) -> None:
        st = self.state
        st.si = np.zeros((c, _N_I), np.int64)
        st.sf = np.zeros((c, _N_F))
        st.ring = np.full((self._ring_len(), c), -1, np.int64)
        st.block_sum = np.zeros(c)
        st.block_sq = np.zeros(c)
        given = self.settings.baseline.baseline_v
        if given is not None:
            g = np.asarray(given, dtype=np.float64)
            if g.shape != (c,) or not (np.isfinite(g) & (g > 0)).all():
                raise StreamError(
                    f"{type(self).__name__}: baseline_v needs {c} positive rest RMS values (V), got {given!r}; "
                    "measure them in a rest trial or leave baseline_v=None to learn it"
                )
            st.baseline, st.baseline_sd = self._baseline_from_rms(g)
            st.ready = True

    def _baseline_from_rms(self, rms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return rms**2, rms**2 * math.sqrt(2)

    def _update_baseline(self) -> None:
        st = self.state
        q = self.settings.baseline.quantile
        hist = np.array(st.history[-self._history_n :])
        st.baseline = np.maximum(np.quantile(hist, q, axis=0), 1e-30)
        st.baseline_sd = np.quantile(np.array(st.history_sd[-self._history_n :]), q, axis=0)
        del st.history[: -self._history_n]
        del st.history_sd[: -self._history_n]
        if st.n_samples >= self._warmup_n:
            st.ready = True

    def process(self, chunk: Chunk) -> Chunk:
        """Feed raw EMG (V); returns the activity state (0/1 per channel) at each sample."""
        st = self.state
        c = chunk.n_channels
        if st.si is None:
            self._alloc(c)
        elif st.si.shape[0] != c:
            raise StreamError(
                f"{type(self).__name__}: got {c} channels after {st.si.shape[0]}; call reset() first"
            )
        cond = chunk if self._conditioner is None else self._conditioner.process(chunk)
        e = np.ascontiguousarray(self._energy(cond.data))
        act = np.empty((chunk.n, c), np.float32)
        learn = self.settings.baseline.baseline_v is None
        i = 0
        while i < chunk.n:
            n_abs = st.n_samples
            to_block = self._block_n - n_abs % self._block_n
            j = min(chunk.n, i + to_block)
            seg = e[i:j]
            if st.ready:
                thr = self._thresholds(st.baseline, st.baseline_sd)
            else:
                thr = self._idle_thresholds(c)
            ev = np.zeros((2 * (j - i) + 2, 4), np.int64)
            ne, a = _detect(seg, n_abs, self._method, thr, self._params(), self._min_on, self._min_off,
                            st.si, st.sf, st.ring, st.rpos, ev)
            act[i:j] = a
            self._emit(ev[:ne], chunk, i, n_abs)
            if learn:
                st.block_sum += seg.sum(axis=0)
                st.block_sq += (seg * seg).sum(axis=0)
            st.n_samples += j - i
            if learn and st.n_samples % self._block_n == 0:
                mean = st.block_sum / self._block_n
                st.history.append(mean)
                st.history_sd.append(np.sqrt(np.maximum(st.block_sq / self._block_n - mean**2, 0.0)))
                st.block_sum[:] = 0.0
                st.block_sq[:] = 0.0
                self._update_baseline()
            i = j
        return chunk.with_data(act)

    def _idle_thresholds(self, c: int) -> np.ndarray:
        return np.full(c, np.inf)

    def _emit(self, ev: np.ndarray, chunk: Chunk, i0: int, n_abs: int) -> None:
        delay = self.group_delay_s
        for k, kind, est, dec in ev:
            decided_t = float(chunk.t[i0 + dec - n_abs])
            t = decided_t - (dec - est) / self.rate_hz - delay
            self.state.events.append(OnsetEvent(int(k), "onset" if kind else "offset", t, decided_t))

    def detect(self, chunk: Chunk) -> list[list[tuple[float, float]]]:
        """Offline use: reset, run over a whole recording, return per channel the
        (onset, offset) pairs in seconds (offset NaN if still active at the end)."""
        self.reset()
        self.process(chunk)
        out: list[list[tuple[float, float]]] = [[] for _ in range(chunk.n_channels)]
        for e in self.pop_events():
            if e.kind == "onset":
                out[e.channel].append((e.t, math.nan))
            elif out[e.channel]:
                out[e.channel][-1] = (out[e.channel][-1][0], e.t)
        return out


class DoubleThreshold(OnsetDetector):
    """Bonato et al. (1998) double-threshold detector, streaming and multichannel.

    Parameters
    ----------
    rate_hz : float
        EMG sampling rate (Hz).
    settings : DoubleThresholdSettings
    """

    _method = _BONATO

    def __init__(self, rate_hz: float, settings: DoubleThresholdSettings = DoubleThresholdSettings()) -> None:
        if not 0 < settings.p_false < 1 or not 0 < settings.r_off <= settings.r0 <= 1:
            raise StreamError(
                f"DoubleThreshold needs 0 < p_false < 1 and 0 < r_off <= r0 <= 1, got p_false={settings.p_false}, "
                f"r0={settings.r0}, r_off={settings.r_off}"
            )
        self._m = max(1, int(round(settings.window_s * float(rate_hz))))
        super().__init__(rate_hz, settings)

    def _ring_len(self) -> int:
        return self._m

    def _thresholds(self, base, sd):
        # z = (x[n]^2 + x[n-1]^2) / sigma0^2 ~ chi2(2): P(z > zeta) = exp(-zeta / 2)
        zeta = -2.0 * math.log(self.settings.p_false)
        return zeta * base

    def _params(self):
        s = self.settings
        return np.array([max(1.0, round(s.r0 * self._m)), max(1.0, round(s.r_off * self._m))])


class TkeoThreshold(OnsetDetector):
    """Solnik et al. (2010) TKEO-conditioned threshold detector, streaming and multichannel.

    Parameters
    ----------
    rate_hz : float
        EMG sampling rate (Hz).
    settings : TkeoSettings
    """

    _method = _TKEO

    def __init__(self, rate_hz: float, settings: TkeoSettings = TkeoSettings()) -> None:
        if settings.h <= 0 or settings.min_above_s <= 0:
            raise StreamError(f"TkeoThreshold needs h > 0 and min_above_s > 0, got h={settings.h}, "
                              f"min_above_s={settings.min_above_s}")
        super().__init__(rate_hz, settings)

    def _make_conditioner(self):
        s = self.settings
        chain = EmgChainSettings(dc=None, bandpass=s.bandpass, notch=None, tkeo=True, rectify=True,
                                 envelope=EnvelopeSettings(method="lowpass", cutoff_hz=s.lowpass_hz, order=2))
        return EmgChain(self.rate_hz, chain)

    def _energy(self, x):
        return x.astype(np.float64)

    @property
    def group_delay_s(self) -> float:
        """Band-pass delay at its centre, plus one sample (TKEO), plus the low-pass at 0 Hz."""
        low = EmgChain(self.rate_hz, EmgChainSettings(dc=None, bandpass=None, notch=None, rectify=False,
                                                      envelope=EnvelopeSettings(cutoff_hz=self.settings.lowpass_hz)))
        return super().group_delay_s + 1.0 / self.rate_hz + low.group_delay_s

    def _baseline_from_rms(self, rms):
        # |TKEO| of Gaussian noise: mean ~ sigma^2 * (1 - rho2), SD of the smoothed output ~ its mean / 3
        w = 2 * math.pi * 100.0 / self.rate_hz
        mean = rms**2 * math.sin(w) ** 2
        return mean, mean / 3

    def _thresholds(self, base, sd):
        return base + self.settings.h * sd

    def _params(self):
        n = max(1, int(round(self.settings.min_above_s * self.rate_hz)))
        return np.array([float(n), float(n)])


class CusumChangePoint(OnsetDetector):
    """CUSUM change-point detector for EMG variance (Page 1954), streaming and multichannel.

    Parameters
    ----------
    rate_hz : float
        EMG sampling rate (Hz).
    settings : CusumSettings
    """

    _method = _CUSUM

    def __init__(self, rate_hz: float, settings: CusumSettings = CusumSettings()) -> None:
        if settings.ratio <= 1 or settings.h <= 0:
            raise StreamError(f"CusumChangePoint needs ratio > 1 and h > 0, got ratio={settings.ratio}, h={settings.h}")
        super().__init__(rate_hz, settings)

    def _thresholds(self, base, sd):
        return 1.0 / base

    def _idle_thresholds(self, c):
        return np.zeros(c)

    def _params(self):
        r2 = self.settings.ratio**2
        # llr = -ln(ratio) + x^2/2 (1/s0^2 - 1/s1^2), s1 = ratio * s0
        return np.array([1.0 / r2, -math.log(self.settings.ratio), self.settings.h])



# --------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class OnsetScore:
    """Detected onsets against true ones.

    Attributes
    ----------
    errors_s : ndarray
        Detected minus true onset time (s) of each matched true onset.
    n_true, n_matched, n_false : int
        True onsets, those matched, and detected onsets matching none.
    """

    errors_s: np.ndarray
    n_true: int
    n_matched: int
    n_false: int

    @property
    def median_abs_error_s(self) -> float:
        return float(np.median(np.abs(self.errors_s))) if self.errors_s.size else math.nan


def score_onsets(detected: Sequence[float], true: Sequence[float], tolerance_s: float = 0.15,
                 ignore: Sequence[tuple[float, float]] = ()) -> OnsetScore:
    """Match detected onsets to true ones (nearest first, within ``tolerance_s``).

    Detected onsets inside an ``ignore`` interval (e.g. the warm-up) are not counted.
    """
    det = np.sort(np.asarray(detected, dtype=np.float64))
    for a, z in ignore:
        det = det[(det < a) | (det > z)]
    tru = np.sort(np.asarray(true, dtype=np.float64))
    used = np.zeros(det.size, bool)
    errs = []
    pairs = sorted(((abs(d - t), i, j) for i, t in enumerate(tru) for j, d in enumerate(det)
                    if abs(d - t) <= tolerance_s))
    done = set()
    for _, i, j in pairs:
        if i in done or used[j]:
            continue
        done.add(i)
        used[j] = True
        errs.append(det[j] - tru[i])
    return OnsetScore(np.array(errs), int(tru.size), len(done), int((~used).sum()))

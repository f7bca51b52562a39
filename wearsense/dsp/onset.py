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
  it is back-dated to where the rise began: on slow voluntary contractions tens of ms
  before the threshold detectors (48 ms median on a real biceps recording).

A burst (all three) lasts at least ``min_on_s`` (50 ms) and bridges rests shorter than
``min_off_s`` (150 ms; CUSUM 100 ms). The band adapts to the rate (60-90 Hz at a Myo's
200 Hz; :class:`~wearsense.dsp.emg.BandPassSettings`), so the defaults work at every
device rate.

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
# confirmation states of a channel: a burst not yet confirmed (tentative; paused while
# its test says rest), a confirmed burst (active; ending while its test says rest)
_REST, _TENTATIVE, _PAUSED, _ACTIVE, _ENDING = range(5)
# per-channel integer state columns: the confirmation state machine (state, tentative
# onset and offset indices); the Bonato hit count and last hit; the TKEO runs above and
# below the threshold and where they began; the last zeros of the CUSUM statistics
_I_STATE, _I_ON, _I_OFF, _I_HITS, _I_ABOVE_N, _I_BELOW_N = range(6)
_I_LAST_HIT = _I_ABOVE_FROM = 6
_I_BELOW_FROM = _I_ZERO_UP = 7
_I_ZERO_DN = 8
_N_I = 9
# per-channel float state columns: the previous energy (Bonato); the CUSUM statistics
_F_PREV, _F_GUP, _F_GDN = range(3)
_N_F = 3


# --------------------------------------------------------------------------- kernel
@numba.njit(cache=True, nogil=True)
def _bonato_test(x, k, idx, thr, par, si, sf, ring, p):  # pragma: no cover - compiled
    """Bonato: z = (x[n]^2 + x[n-1]^2) / sigma0^2 > zeta in at least r0 of the last m tests.

    Returns (on, onset index, off, offset index): the onset is the first hit in the window,
    the offset follows the last hit.
    """
    z = x + sf[k, _F_PREV]
    sf[k, _F_PREV] = x
    if ring[p, k] >= 0:
        si[k, _I_HITS] -= 1
    if z > thr:
        ring[p, k] = idx
        si[k, _I_HITS] += 1
        si[k, _I_LAST_HIT] = idx
    else:
        ring[p, k] = -1
    on = si[k, _I_HITS] >= par[0]
    first = idx
    if on:
        for j in range(ring.shape[0]):
            if 0 <= ring[j, k] < first:
                first = ring[j, k]
    return on, first, si[k, _I_HITS] < par[1], si[k, _I_LAST_HIT] + 1


@numba.njit(cache=True, nogil=True)
def _tkeo_test(x, k, idx, thr, par, si):  # pragma: no cover - compiled
    """TKEO: the conditioned signal above (below) the threshold for a run of par[0] (par[1]) samples."""
    if x > thr:
        if si[k, _I_ABOVE_N] == 0:
            si[k, _I_ABOVE_FROM] = idx
        si[k, _I_ABOVE_N] += 1
        si[k, _I_BELOW_N] = 0
    else:
        if si[k, _I_BELOW_N] == 0:
            si[k, _I_BELOW_FROM] = idx
        si[k, _I_BELOW_N] += 1
        si[k, _I_ABOVE_N] = 0
    on = si[k, _I_ABOVE_N] >= par[0]
    return on, si[k, _I_ABOVE_FROM], si[k, _I_BELOW_N] >= par[1], si[k, _I_BELOW_FROM]


@numba.njit(cache=True, nogil=True)
def _cusum_test(x, k, idx, inv0, par, si, sf):  # pragma: no cover - compiled
    """Page's CUSUM of the variance-change log-likelihood ratio, up (onset) and, while
    active, down (offset); each change is dated just after its statistic's last zero.
    ``inv0`` is 1/sigma0^2."""
    llr = par[1] + 0.5 * x * (inv0 - inv0 * par[0])
    g = sf[k, _F_GUP] + llr
    if g <= 0.0:
        g = 0.0
        si[k, _I_ZERO_UP] = idx
    sf[k, _F_GUP] = g
    off = False
    if si[k, _I_STATE] >= _ACTIVE:
        gd = sf[k, _F_GDN] - llr
        if gd <= 0.0:
            gd = 0.0
            si[k, _I_ZERO_DN] = idx
        sf[k, _F_GDN] = gd
        off = gd > par[2]
    return g > par[2], si[k, _I_ZERO_UP] + 1, off, si[k, _I_ZERO_DN] + 1


@numba.njit(cache=True, nogil=True)
def _event(ev, ne, k, kind, est, idx):  # pragma: no cover - compiled
    """Write one event row (channel, kind 1=onset 0=offset, estimated index, decision index)."""
    ev[ne, 0] = k
    ev[ne, 1] = kind
    ev[ne, 2] = est
    ev[ne, 3] = idx
    return ne + 1


@numba.njit(cache=True, nogil=True)
def _confirm(k, idx, on, on_idx, off, off_idx, min_on, min_off, si, sf, ev,
             ne):  # pragma: no cover - compiled
    """Confirmation state machine of one channel: rest -> tentative (<-> paused) ->
    active (<-> ending) -> rest.

    A burst is a span of activity in which rests shorter than ``min_off`` samples are
    bridged; its onset is confirmed once it has lasted ``min_on`` samples (a burst that
    falls silent for ``min_off`` before that is dropped; one that resumes after a pause
    longer than its activity so far is dated anew), its offset once the rest has lasted
    ``min_off`` samples. Returns the number of event rows written so far.
    """
    s = si[k, _I_STATE]
    if s == _REST and on:
        si[k, _I_ON] = on_idx
        s = _TENTATIVE
    if s == _TENTATIVE:
        if off and not on:
            si[k, _I_OFF] = off_idx
            s = _PAUSED
        elif idx - si[k, _I_ON] >= min_on:
            ne = _event(ev, ne, k, 1, si[k, _I_ON], idx)
            s = _ACTIVE
            sf[k, _F_GDN] = 0.0  # the CUSUM's downward test starts now
            si[k, _I_ZERO_DN] = idx
    elif s == _PAUSED:
        if on and not off:
            if idx - si[k, _I_OFF] > si[k, _I_OFF] - si[k, _I_ON]:
                si[k, _I_ON] = on_idx  # a pause longer than the activity before it: a blip, start anew
            s = _TENTATIVE
        elif idx - si[k, _I_OFF] >= min_off:
            s = _REST  # too short to be a burst
    elif s == _ACTIVE:
        if off:
            si[k, _I_OFF] = off_idx
            s = _ENDING
    elif s == _ENDING:
        if on and not off:
            s = _ACTIVE
        elif idx - si[k, _I_OFF] >= min_off:
            ne = _event(ev, ne, k, 0, si[k, _I_OFF], idx)
            s = _REST
            sf[k, _F_GUP] = 0.0  # the CUSUM's upward test starts again
            si[k, _I_ZERO_UP] = idx
    si[k, _I_STATE] = s
    return ne


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
            if method == _BONATO:
                on, on_idx, off, off_idx = _bonato_test(e[i, k], k, idx, thr[k], par, si, sf, ring, p)
            elif method == _TKEO:
                on, on_idx, off, off_idx = _tkeo_test(e[i, k], k, idx, thr[k], par, si)
            else:
                on, on_idx, off, off_idx = _cusum_test(e[i, k], k, idx, thr[k], par, si, sf)
            ne = _confirm(k, idx, on, on_idx, off, off_idx, min_on, min_off, si, sf, ev, ne)
            act[i, k] = 1.0 if si[k, _I_STATE] >= _ACTIVE else 0.0
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
    min_on_s : float
        Minimum burst (s, default 50 ms; Bonato et al. used 30 ms): a burst is reported
        once it has lasted this long from its estimated onset, a shorter one is dropped.
        It is also the shortest decision latency.
    min_off_s : float
        Rests shorter than this (s, default 150 ms) are bridged, so that a burst's ragged
        end is not reported as an offset and a new onset; offsets are decided this late.
    """

    p_false: float = 0.001
    window_s: float = 0.025
    r0: float = 0.6
    r_off: float = 0.3
    min_on_s: float = 0.05
    min_off_s: float = 0.15
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
    min_on_s, min_off_s : float
        Minimum burst and longest bridged rest (s), as in :class:`DoubleThresholdSettings`.
    """

    h: float = 8.0
    min_above_s: float = 0.01
    lowpass_hz: float = 50.0
    min_on_s: float = 0.05
    min_off_s: float = 0.15
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
        Decision threshold on the cumulative log-likelihood ratio (nats) at rates of
        1 kHz and up. Below 1 kHz it scales with the rate (16 nats at 200 Hz), so that a
        decision takes about as long as at 1 kHz although fewer samples arrive.
    min_on_s, min_off_s : float
        Minimum burst and longest bridged rest (s), as in :class:`DoubleThresholdSettings`;
        rests up to 100 ms only, as the downward CUSUM already waits for evidence.

    The onset is the change-point estimate: just after the last zero of the statistic,
    where the energy last rose above the level at which the log-likelihood ratio turns
    positive (RMS about 1.7x rest for ``ratio=4``). It marks where a rise began, ahead of
    where a threshold is crossed on slow contractions (docs/dsp.md).
    """

    ratio: float = 4.0
    h: float = 80.0
    min_on_s: float = 0.05
    min_off_s: float = 0.1
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
            raise StreamError(f"{type(self).__name__}: rate_hz must be a positive rate in Hz, "
                              f"got {rate_hz!r}")
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
        return float(BandPass(self.rate_hz, bp).group_delay_at(self._band_centre_hz())[0])

    def _band_centre_hz(self) -> float:
        """Geometric centre (Hz) of the conditioning band at this rate."""
        low, high = self.settings.bandpass.edges_hz(self.rate_hz)
        return math.sqrt(low * high)

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
                    f"{type(self).__name__}: baseline_v needs {c} positive rest RMS values (V), "
                    f"got {given!r}; "
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
        if not len(ev):
            return
        # designing the filters again per chunk cost ~2 ms: the delay is fixed by settings and rate
        delay = self.__dict__.get("_group_delay_cached")
        if delay is None:
            delay = self._group_delay_cached = self.group_delay_s
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
                "DoubleThreshold needs 0 < p_false < 1 and 0 < r_off <= r0 <= 1, "
                f"got p_false={settings.p_false}, "
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
        # |TKEO| of Gaussian noise: mean ~ sigma^2 * (1 - rho2), SD of the smoothed output ~ its mean / 3;
        # the noise's power taken at 100 Hz, or at the band's centre where the band lies lower
        w = 2 * math.pi * min(100.0, self._band_centre_hz()) / self.rate_hz
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
            raise StreamError("CusumChangePoint needs ratio > 1 and h > 0, "
                              f"got ratio={settings.ratio}, h={settings.h}")
        super().__init__(rate_hz, settings)

    def _thresholds(self, base, sd):
        return 1.0 / base

    def _idle_thresholds(self, c):
        return np.zeros(c)

    def _params(self):
        r2 = self.settings.ratio**2
        # llr = -ln(ratio) + x^2/2 (1/s0^2 - 1/s1^2), s1 = ratio * s0
        h = self.settings.h * min(1.0, self.rate_hz / 1000.0)
        return np.array([1.0 / r2, -math.log(self.settings.ratio), h])



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

"""Surface EMG of the virtual mover: from neural drive to what the electrodes record.

Two models (``SimConfig.emg_model``):

``"simple"``
    The amplitude-modulated noise model (Hogan & Mann 1980): ``A_mvc · u · c(t)``, one
    carrier spectrum for every muscle (median frequency ≈ 94 Hz), Gaussian at every
    level, no crosstalk, fatigue or session effects. The sim before issue 13.
``"realistic"`` (default)
    What real signal processing finds on real electrodes, per channel ``i``:

    - **spectrum by muscle**: the carrier is white noise band-passed 20–450 Hz and
      low-passed at the cut-off that gives the muscle's median frequency
      (:data:`~wearsense.sim.population.MEDIAN_FREQUENCY_HZ`, 60–125 Hz, plus the
      mover's and the session's spread);
    - **amplitude–force**: RMS ∝ ``u^p`` with ``p`` per muscle (1.0–1.5; Lawrence &
      De Luca 1983);
    - **recruitment statistics**: the carrier's variance fluctuates with a 25 Hz
      log-normal process whose spread shrinks as drive grows, so the amplitude
      distribution is super-Gaussian at low force (few motor units: kurtosis ≈ 5–6)
      and near-Gaussian at high force (kurtosis ≈ 3.3; Nazarpour et al. 2013);
    - **fatigue**: a per-muscle state ``dF/dt = u/τ_f − F/τ_r`` (τ_f = τ_r = 60 s)
      mixes in a carrier of 0.6 × the median frequency and raises the amplitude by up
      to 30 %: the median frequency falls over a sustained contraction (~20 % in a
      minute at half of maximum; Merletti et al. 1990) and recovers at rest;
    - **spontaneous activity at rest**: brief (50–300 ms) bursts of 0.3–1.0 % of
      maximal drive, about three a minute per muscle, seen by the electrodes only
      (not in ``truth.drive``: they move nothing); each one's span is in
      :attr:`EMGModel.last_bursts` and, in a recording, ``truth.rest_bursts``, so a
      detector that finds one is finding real (simulated) activity, not a false onset;
    - **crosstalk**: each electrode also records its recorded neighbours, low-passed
      at 60 Hz (volume conduction filters the far field), with a weight
      ``exp(−d / 2.5 cm)`` of the electrode distance ``d``: ≈ 6 % between biceps and
      triceps (7 cm), ≈ 4 % between tibialis anterior and gastrocnemius (8 cm) (De Luca
      et al. 2012 report 5–15 % for neighbouring muscles);
    - **sessions** (``SimConfig.session``): re-applying the electrodes shifts them, so
      each session of the same mover has its own gain (log-normal 20 % SD), median
      frequency (± 5 Hz SD), crosstalk (× log-normal 30 %) and skin-electrode noise
      floor (× log-normal 40 %, impedance).

Physiological tremor (8–12 Hz) is in the neural drive itself (:mod:`wearsense.sim.mover`),
so the EMG envelope and the limb both carry it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numba
from scipy import signal

from wearsense.sim.population import muscle_kind

__all__ = ["EMGModel", "ELECTRODE_DISTANCE_CM", "crosstalk_matrix", "lowpass_for_median"]

#: Centre-to-centre distance (cm) between the electrodes of neighbouring muscles on the
#: same side (adult arm/leg/trunk, SENIAM sites). Pairs not listed have no crosstalk.
ELECTRODE_DISTANCE_CM: dict[tuple[str, str], float] = {
    ("biceps_brachii", "triceps_brachii"): 7.0,
    ("biceps_brachii", "deltoid_anterior"): 12.0,
    ("triceps_brachii", "deltoid_posterior"): 12.0,
    ("deltoid_anterior", "deltoid_posterior"): 9.0,
    ("vastus_lateralis", "biceps_femoris"): 9.0,
    ("tibialis_anterior", "gastrocnemius_medialis"): 8.0,
    ("erector_spinae_r", "erector_spinae_l"): 6.0,
    ("erector_spinae", "gluteus_medius"): 15.0,
}
CROSSTALK_LENGTH_CM = 2.5
FATIGUE_TAU_S = 60.0
RECOVERY_TAU_S = 60.0
_BAND_HZ = (20.0, 450.0)


def _side(name: str) -> str:
    return name.rsplit("_", 1)[1]


def crosstalk_matrix(
    muscles: list[str] | tuple[str, ...], length_cm: float = CROSSTALK_LENGTH_CM
) -> np.ndarray:
    """Weight of muscle j's signal in electrode i (zero diagonal), shape (n, n)."""
    n = len(muscles)
    c = np.zeros((n, n))
    for i, a in enumerate(muscles):
        for j, b in enumerate(muscles):
            if i == j:
                continue
            d = ELECTRODE_DISTANCE_CM.get((a, b)) or ELECTRODE_DISTANCE_CM.get((b, a))
            if d is None and _side(a) == _side(b):
                ka, kb = muscle_kind(a), muscle_kind(b)
                d = ELECTRODE_DISTANCE_CM.get((ka, kb)) or ELECTRODE_DISTANCE_CM.get((kb, ka))
            if d is not None:
                c[i, j] = np.exp(-d / length_cm)
    return c


@lru_cache(maxsize=64)
def _median_table(rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    hi = min(_BAND_HZ[1], 0.45 * rate_hz)
    band = signal.butter(4, [_BAND_HZ[0], hi], btype="bandpass", fs=rate_hz, output="sos")
    cut = np.geomspace(25.0, 0.45 * rate_hz, 60)
    med = np.empty_like(cut)
    for k, fc in enumerate(cut):
        sos = np.vstack([band, signal.butter(2, fc, fs=rate_hz, output="sos")])
        w, h = signal.sosfreqz(sos, worN=4096, fs=rate_hz)
        p = np.abs(h) ** 2
        med[k] = w[np.searchsorted(np.cumsum(p) / p.sum(), 0.5)]
    return med, cut


def lowpass_for_median(median_hz: float, rate_hz: float) -> float:
    """Cut-off (Hz) of the 2nd-order low-pass after the 20–450 Hz band-pass that gives
    band-limited white noise the median frequency ``median_hz`` (clipped to what the rate allows)."""
    med, cut = _median_table(float(rate_hz))
    return float(np.interp(median_hz, med, cut))


@numba.njit(cache=True, nogil=True)
def _biquad_columns(x, ba, state):  # pragma: no cover - compiled
    """One biquad per column (transposed direct form II, as scipy's sosfilt), state kept."""
    n, m = x.shape
    y = np.empty_like(x)
    for c in range(m):
        b0, b1, b2, a1, a2 = ba[c, 0], ba[c, 1], ba[c, 2], ba[c, 4], ba[c, 5]
        z0, z1 = state[c, 0], state[c, 1]
        for k in range(n):
            xi = x[k, c]
            yi = b0 * xi + z0
            z0 = b1 * xi - a1 * yi + z1
            z1 = b2 * xi - a2 * yi
            y[k, c] = yi
        state[c, 0], state[c, 1] = z0, z1
    return y


class EMGModel:
    """Stateful EMG synthesis for a set of recorded muscles (see the module doc).

    Parameters
    ----------
    rate_hz : float
        EMG sampling rate.
    muscles : sequence of str
        Recorded muscles (channel order).
    median_hz : ndarray (n,)
        Median frequency of each channel's fresh carrier.
    exponent : ndarray (n,)
        Amplitude ∝ drive^exponent.
    gain : ndarray (n,)
        Session gain of each electrode.
    crosstalk : ndarray (n, n)
        Weights of neighbours (zero diagonal).
    """

    def __init__(
        self,
        rate_hz: float,
        muscles,
        median_hz: np.ndarray,
        exponent: np.ndarray,
        gain: np.ndarray,
        crosstalk: np.ndarray,
    ) -> None:
        n = len(muscles)
        self.n = n
        self.rate_hz = rate_hz
        self.exponent = np.asarray(exponent, np.float64)
        self.gain = np.asarray(gain, np.float64)
        self.median_hz = np.asarray(median_hz, np.float64)
        hi = min(_BAND_HZ[1], 0.45 * rate_hz)
        self.band = signal.butter(4, [_BAND_HZ[0], hi], btype="bandpass", fs=rate_hz, output="sos")
        self.band_zi = np.zeros((self.band.shape[0], 2, n))
        self.shape: list[np.ndarray] = []
        self.scale = np.empty(2 * n)
        impulse_in = np.r_[1.0, np.zeros(int(rate_hz) * 2)]
        band_imp = signal.sosfilt(self.band, impulse_in)
        for k in range(2 * n):
            med = self.median_hz[k % n] * (1.0 if k < n else 0.6)
            sos = signal.butter(2, lowpass_for_median(med, rate_hz), fs=rate_hz, output="sos")
            self.shape.append(sos)
            self.scale[k] = 1.0 / np.sqrt(np.sum(signal.sosfilt(sos, band_imp) ** 2))
        # the fresh and the fatigued carrier come from the same band-limited noise (one
        # noise source per electrode); their correlation rho keeps the mixture at unit variance
        self.rho = np.array([
            np.sum(signal.sosfilt(self.shape[k], band_imp) * signal.sosfilt(self.shape[k + n], band_imp))
            * self.scale[k] * self.scale[k + n]
            for k in range(n)
        ])
        self.shape_ba = np.array([sos[0] for sos in self.shape])  # (2n, 6) b0 b1 b2 a0 a1 a2
        self.shape_state = np.zeros((2 * n, 2))
        # variance process of recruitment: unit-variance low-pass (25 Hz) Gaussian
        self.rec_b, self.rec_a = signal.butter(1, min(25.0, 0.4 * rate_hz), fs=rate_hz)
        imp = signal.lfilter(self.rec_b, self.rec_a, impulse_in)
        self.rec_scale = 1.0 / np.sqrt(np.sum(imp**2))
        self.rec_zi = np.zeros((1, n))
        # crosstalk: far field, low-passed
        self.crosstalk = np.asarray(crosstalk, np.float64)
        self.has_crosstalk = bool(np.any(self.crosstalk))
        self.xt_sos = signal.butter(2, min(60.0, 0.4 * rate_hz), fs=rate_hz, output="sos")
        self.xt_zi = np.zeros((self.xt_sos.shape[0], 2, n))
        # fatigue state
        dt = 1.0 / rate_hz
        self.fat_b = np.array([dt / FATIGUE_TAU_S])
        self.fat_a = np.array([1.0, -(1.0 - dt / RECOVERY_TAU_S)])
        self.fat_zi = np.zeros((1, n))
        #: spontaneous bursts added by the last :meth:`next`: (channel, first sample, end sample)
        self.last_bursts: list[tuple[int, int, int]] = []

    def next(self, drive: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """EMG (n_samples, n) in units of the MVC amplitude, and the fatigue state (n_samples, n).

        ``drive``: neural drive at the EMG samples (0..1). The spontaneous rest bursts
        added to it are listed in :attr:`last_bursts` (sample indices into this block).
        """
        m, n = drive.shape
        self.last_bursts = []
        if m == 0:
            return np.zeros((0, n)), np.zeros((0, n))
        u = drive + self._rest_bursts(m, n, rng)
        white = rng.standard_normal((m, n))
        banded, self.band_zi = signal.sosfilt(self.band, white, axis=0, zi=self.band_zi)
        carrier = _biquad_columns(np.concatenate([banded, banded], axis=1), self.shape_ba, self.shape_state)
        carrier *= self.scale
        fatigue, self.fat_zi = signal.lfilter(self.fat_b, self.fat_a, drive, axis=0, zi=self.fat_zi)
        w = np.clip(fatigue, 0.0, 1.0)
        a, b = np.sqrt(1.0 - w), np.sqrt(w)
        c = (a * carrier[:, :n] + b * carrier[:, n:]) / np.sqrt(1.0 + 2.0 * a * b * self.rho)
        # recruitment: log-normal variance mixture, spread sigma(u) falling with drive
        s, self.rec_zi = signal.lfilter(
            self.rec_b, self.rec_a, rng.standard_normal((m, n)), axis=0, zi=self.rec_zi
        )
        sigma = np.clip(0.45 - 0.3 * np.sqrt(np.clip(u, 0.0, 1.0)), 0.15, 0.45)
        # amplitude × √g, g = exp(2σs − 2σ²): E[g] = 1, kurtosis 3·exp(4σ²) (≈ 5.5 at σ = 0.4, 3.3 at 0.15)
        c *= np.exp(sigma * (s * self.rec_scale) - sigma * sigma)
        amp = np.power(np.clip(u, 0.0, None), self.exponent) * (1.0 + 0.3 * w) * self.gain
        src = amp * c
        if self.has_crosstalk:
            far, self.xt_zi = signal.sosfilt(self.xt_sos, src, axis=0, zi=self.xt_zi)
            src = src + far @ self.crosstalk.T
        return src, fatigue

    def _rest_bursts(self, m: int, n: int, rng: np.random.Generator) -> np.ndarray:
        out = np.zeros((m, n))
        span_s = m / self.rate_hz
        for ch in range(n):
            for _ in range(rng.poisson(3.0 / 60.0 * span_s)):
                length = int(rng.uniform(0.05, 0.3) * self.rate_hz)
                if length >= m:
                    continue
                i = int(rng.integers(0, m - length))
                out[i : i + length, ch] += rng.uniform(0.003, 0.010) * np.hanning(length)
                self.last_bursts.append((ch, i, i + length))
        return out

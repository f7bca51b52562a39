"""The defaults work at every rate a supported device delivers (issue 11).

Myo armband 200 Hz, OpenBCI Cyton 250 Hz, BrainFlow boards 500/1000 Hz, 2 kHz and a
4 kHz DIY front end: the default EMG chain, the three onset detectors and the quality
monitor are built with no settings, fed 10 ms chunks, and must do their job.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as sps

from wearsense.dsp import EmgChain, QualityMonitor
from wearsense.dsp.emg import BandPass, BandPassSettings
from wearsense.dsp.onset import CusumChangePoint, DoubleThreshold, TkeoThreshold
from wearsense.errors import StreamError
from wearsense.stream import Chunk, Modality, StreamInfo, split_every

DEVICE_RATES_HZ = (200.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0)
BURST_START_S = 0.4  # a 0.4 s burst starts 0.4 s into every second


def _emg(rate_hz: float, duration_s: float = 8.0, seed: int = 3) -> Chunk:
    """Two channels of 300 uV bursts of 20-150 Hz noise (surface EMG's busiest band)
    over 3 uV white noise, in volts."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate_hz)
    t = np.arange(n) / rate_hz
    top = min(150.0, 0.45 * rate_hz)
    sos = sps.butter(4, [20.0, top], "bandpass", fs=rate_hz, output="sos")
    burst = sps.sosfilt(sos, rng.standard_normal((n, 2)), axis=0)
    burst *= 300e-6 / burst.std()
    gate = ((t % 1.0) >= BURST_START_S) & ((t % 1.0) < BURST_START_S + 0.4)
    x = burst * gate[:, None] + 3e-6 * rng.standard_normal((n, 2))
    return Chunk(x.astype(np.float32), t, 0, clock="device:test")


def _chunks(c: Chunk, rate_hz: float) -> list[Chunk]:
    return list(split_every(c, max(1, int(round(0.01 * rate_hz)))))


@pytest.mark.parametrize("rate_hz", DEVICE_RATES_HZ)
def test_default_chain_detectors_and_quality_work_at_every_device_rate(rate_hz):
    c = _emg(rate_hz)
    chain = EmgChain(rate_hz)
    env = np.concatenate([chain.process(p).data for p in _chunks(c, rate_hz)])
    phase = c.t % 1.0
    during = (phase > BURST_START_S + 0.15) & (phase < BURST_START_S + 0.4) & (c.t > 1.5)
    rest = ((phase < BURST_START_S - 0.05) | (phase > BURST_START_S + 0.55)) & (c.t > 1.5)
    assert env[during].mean() > 10 * env[rest].mean()

    true_onsets = np.arange(3, 8) + BURST_START_S  # after the detectors' 2 s warm-up
    for detector in (DoubleThreshold(rate_hz), TkeoThreshold(rate_hz), CusumChangePoint(rate_hz)):
        for p in _chunks(c, rate_hz):
            detector.process(p)
        for k in range(2):
            onsets = np.array([e.t for e in detector.events if e.kind == "onset" and e.channel == k])
            # within 50 ms: at 200 Hz the 60-90 Hz band left rings for tens of ms
            found = [np.min(np.abs(onsets - t)) < 0.05 for t in true_onsets] if onsets.size else [False]
            assert all(found), (type(detector).__name__, k, onsets)
            bursts = np.arange(2, 8) + BURST_START_S  # every burst after the warm-up
            invented = [t for t in onsets[onsets > 2.2] if np.min(np.abs(bursts - t)) > 0.05]
            assert not invented, (type(detector).__name__, k, onsets)

    info = StreamInfo("emg", Modality.EMG, ("a", "b"), ("V", "V"), rate_hz)
    monitor = QualityMonitor(info)
    for p in _chunks(c, rate_hz):
        monitor.update(p)
    assert [s.reason for s in monitor.status()] == ["ok", "ok"]


@pytest.mark.parametrize("rate_hz, band_hz", [
    (200.0, (20.0, 90.0)),
    (250.0, (20.0, 112.5)),
    (500.0, (20.0, 225.0)),
    (1000.0, (20.0, 450.0)),
    (2000.0, (20.0, 450.0)),
])
def test_the_default_band_ends_at_0_9_nyquist_below_1khz(rate_hz, band_hz):
    assert BandPassSettings().edges_hz(rate_hz) == pytest.approx(band_hz)


def test_a_low_edge_too_close_to_the_adapted_top_keeps_a_1_5_to_1_band():
    assert BandPassSettings(low_hz=80.0).edges_hz(200.0) == pytest.approx((60.0, 90.0))


def test_a_band_that_must_not_adapt_still_names_the_fix():
    with pytest.raises(StreamError, match="Nyquist.*BandPassSettings"):
        BandPass(200.0, BandPassSettings(adapt_to_rate=False))

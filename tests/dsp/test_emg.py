"""EMG conditioning stages: chunked == whole, responses against the spec, delays, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal as sps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wearsense.dsp.emg import (
    REFERENCE_HZ,
    TKEO,
    BandPass,
    BandPassSettings,
    DCRemoval,
    EmgChain,
    EmgChainSettings,
    Envelope,
    EnvelopeSettings,
    MainsNotch,
    MVCNormalise,
    NotchSettings,
    Rectify,
    detect_mains_hz,
    zero_phase_bandpass,
    zero_phase_chain,
    zero_phase_envelope,
)
from wearsense.errors import StreamError
from wearsense.stream import Chunk, Pipeline, concat, split

RATE_HZ = 2000.0
N_signal = 3000  # samples in the ``signal`` fixture


def _stages():
    return {
        "dc": lambda: DCRemoval(RATE_HZ),
        "bandpass": lambda: BandPass(RATE_HZ),
        "notch_auto": lambda: MainsNotch(RATE_HZ, NotchSettings(detect_s=0.5)),
        "notch_60": lambda: MainsNotch(RATE_HZ, NotchSettings(mains_hz=60)),
        "rectify": lambda: Rectify(RATE_HZ),
        "tkeo": lambda: TKEO(RATE_HZ, absolute=True),
        "envelope_lowpass": lambda: Envelope(RATE_HZ),
        "envelope_rms": lambda: Envelope(RATE_HZ, EnvelopeSettings(method="rms", window_s=0.02)),
        "mvc": lambda: MVCNormalise(RATE_HZ, [1e-3, 2e-3, 5e-4]),
        "chain": lambda: EmgChain(RATE_HZ, EmgChainSettings(notch=NotchSettings(detect_s=0.5))),
        "chain_rms_tkeo": lambda: EmgChain(
            RATE_HZ,
            EmgChainSettings(tkeo=True, envelope=EnvelopeSettings(method="rms"), mvc_v=(1.0, 2.0, 3.0)),
        ),
    }


@pytest.mark.parametrize("name", sorted(_stages()))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(0, N_signal), max_size=12))
def test_chunked_equals_whole_bit_identical(name, cuts, signal):
    make = _stages()[name]
    whole = make().process(signal)
    stage = make()
    pieces = [stage.process(p) for p in split(signal, sorted(cuts))]
    assert concat(pieces).equals(whole)


def test_reset_starts_over(signal):
    stage = EmgChain(RATE_HZ)
    first = stage.process(signal)
    stage.reset()
    assert stage.state.n_samples == 0
    assert stage.process(signal).equals(first)


def test_bandpass_matches_scipy_sosfilt(signal):
    stage = BandPass(RATE_HZ)
    out = stage.process(signal)
    ref = sps.sosfilt(stage.sos, signal.data.astype(np.float64), axis=0)
    np.testing.assert_allclose(out.data, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def _gain_db(stage, f_hz: float, duration_s: float = 4.0) -> float:
    """Steady-state gain of a stage for a sine at f_hz (last second)."""
    t = np.arange(int(duration_s * RATE_HZ)) / RATE_HZ
    x = np.sin(2 * np.pi * f_hz * t)
    y = stage.process(Chunk(x.astype(np.float32), t)).data[-int(RATE_HZ):, 0]
    return 20 * np.log10(np.sqrt(2) * y.std())


def test_bandpass_passband_ripple_under_half_db_and_stopband():
    for f in (40.0, 80.0, 150.0, 300.0):
        assert abs(_gain_db(BandPass(RATE_HZ), f)) < 0.5, f
    assert _gain_db(BandPass(RATE_HZ), 5.0) < -40
    assert _gain_db(BandPass(RATE_HZ), 900.0) < -20


def test_notch_attenuates_50hz_and_harmonics_by_40db_and_passes_80hz():
    for f in (50.0, 100.0, 150.0):
        assert _gain_db(MainsNotch(RATE_HZ, NotchSettings(mains_hz=50)), f) < -40, f
    assert abs(_gain_db(MainsNotch(RATE_HZ, NotchSettings(mains_hz=50)), 80.0)) < 0.5
    assert _gain_db(MainsNotch(RATE_HZ, NotchSettings(mains_hz=60)), 60.0) < -40


def test_chain_attenuates_50hz_mains_by_40db():
    settings = EmgChainSettings(notch=NotchSettings(mains_hz=50), envelope=None, rectify=False)
    assert _gain_db(EmgChain(RATE_HZ, settings), 50.0) < -40
    assert abs(_gain_db(EmgChain(RATE_HZ, settings), 80.0)) < 0.6


@pytest.mark.parametrize("mains", [50.0, 60.0])
def test_mains_family_is_detected_and_the_other_dropped(mains, make_emg):
    sig = make_emg(2, duration_s=2.0, mains_hz=mains, mains_v=200e-6)
    for stage in (MainsNotch(RATE_HZ), EmgChain(RATE_HZ)):
        assert stage.mains_pending
        stage.process(sig)
        assert not stage.mains_pending
        assert stage.mains_hz == mains
    assert detect_mains_hz(sig.data, RATE_HZ) == mains


def test_no_mains_keeps_both_families(make_emg):
    sig = make_emg(3, duration_s=2.0, mains_v=0.0)
    stage = MainsNotch(RATE_HZ)
    stage.process(sig)
    assert stage.mains_hz is None and not stage.mains_pending
    _, h = sps.sosfreqz(stage.sos, worN=[50.0, 60.0, 100.0, 120.0], fs=RATE_HZ)
    assert (20 * np.log10(np.abs(h)) < -40).all()


def test_group_delays_are_reported_and_match_scipy():
    bp = BandPass(RATE_HZ)
    _, gd = sps.group_delay(sps.sos2tf(bp.sos), [REFERENCE_HZ], fs=RATE_HZ)
    assert bp.group_delay_s == pytest.approx(gd[0] / RATE_HZ, rel=1e-6)
    env = Envelope(RATE_HZ, EnvelopeSettings(cutoff_hz=6.0, order=2))
    # 2nd-order Butterworth low-pass at DC: sqrt(2) / (2 pi fc)
    assert env.group_delay_s == pytest.approx(np.sqrt(2) / (2 * np.pi * 6.0), rel=0.02)
    assert Envelope(RATE_HZ, EnvelopeSettings(method="rms", window_s=0.05)).group_delay_s == pytest.approx(
        99 / 2 / RATE_HZ
    )
    assert TKEO(RATE_HZ).group_delay_s == 1 / RATE_HZ
    assert Rectify(RATE_HZ).group_delay_s == 0.0
    chain = EmgChain(RATE_HZ, EmgChainSettings(notch=NotchSettings(mains_hz=50)))
    parts = (DCRemoval(RATE_HZ).group_delay_s + bp.group_delay_s
             + MainsNotch(RATE_HZ, NotchSettings(mains_hz=50)).group_delay_s + env.group_delay_s)
    assert chain.group_delay_s == pytest.approx(parts, rel=1e-9)


def test_chain_equals_pipeline_of_stages_within_float32_rounding(make_emg):
    sig = make_emg(4, duration_s=2.0)
    mvc = (2e-4, 3e-4, 4e-4, 5e-4)
    chain = EmgChain(RATE_HZ, EmgChainSettings(notch=NotchSettings(mains_hz=50), mvc_v=mvc))
    pipe = Pipeline([DCRemoval(RATE_HZ), BandPass(RATE_HZ), MainsNotch(RATE_HZ, NotchSettings(mains_hz=50)),
                     Rectify(RATE_HZ), Envelope(RATE_HZ), MVCNormalise(RATE_HZ, mvc)])
    a, b = chain.process(sig).data, pipe.run(sig).data
    # float32 intermediates in the pipeline: relative error ~1e-6 of the signal scale
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * np.abs(b).max())


def test_envelope_of_steady_noise_tracks_its_mean_absolute_value():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((20000, 1)) * 1e-4
    c = Chunk(x.astype(np.float32), np.arange(20000) / RATE_HZ)
    env = Envelope(RATE_HZ).process(Rectify(RATE_HZ).process(c)).data[4000:]
    assert env.mean() == pytest.approx(np.sqrt(2 / np.pi) * 1e-4, rel=0.03)
    rms = Envelope(RATE_HZ, EnvelopeSettings(method="rms", window_s=0.1)).process(c).data[4000:]
    assert rms.mean() == pytest.approx(1e-4, rel=0.03)


def test_tkeo_of_a_sine_is_constant_a2_sin2_omega():
    t = np.arange(2000) / RATE_HZ
    x = 0.5 * np.sin(2 * np.pi * 100 * t)
    psi = TKEO(RATE_HZ).process(Chunk(x.astype(np.float32), t)).data[5:, 0]
    np.testing.assert_allclose(psi, 0.25 * np.sin(2 * np.pi * 100 / RATE_HZ) ** 2, rtol=1e-4)


def test_mvc_normalise_divides_per_channel():
    c = Chunk(np.ones((10, 2), np.float32), np.arange(10) / RATE_HZ)
    out = MVCNormalise(RATE_HZ, [0.5, 0.25]).process(c).data
    np.testing.assert_allclose(out[0], [2.0, 4.0])


def test_zero_phase_variants_have_no_delay_and_differ_from_causal():
    rng = np.random.default_rng(6)
    t = np.arange(8000) / RATE_HZ
    x = np.zeros(8000)
    x[4000:4400] = rng.standard_normal(400) * 1e-4
    c = Chunk(x.astype(np.float32), t)
    env_zp = zero_phase_envelope(zero_phase_bandpass(c, RATE_HZ), RATE_HZ).data[:, 0]
    env_c = Envelope(RATE_HZ).process(Rectify(RATE_HZ).process(BandPass(RATE_HZ).process(c))).data[:, 0]
    centre = 4200
    assert abs(int(np.argmax(env_zp)) - centre) < 40
    assert int(np.argmax(env_c)) - centre > 40  # causal envelope peaks later
    full = zero_phase_chain(c, RATE_HZ, EmgChainSettings(notch=NotchSettings(mains_hz=50)))
    assert full.n == c.n and np.isfinite(full.data).all()


def test_zero_phase_refuses_a_short_chunk(signal):
    with pytest.raises(StreamError, match="whole recording"):
        zero_phase_bandpass(signal[:20], RATE_HZ)


def test_bandpass_above_nyquist_names_the_fix():
    with pytest.raises(StreamError, match="Nyquist.*BandPassSettings"):
        BandPass(200.0, BandPassSettings(adapt_to_rate=False))
    BandPass(200.0, BandPassSettings(high_hz=90.0, adapt_to_rate=False))
    BandPass(200.0)  # the default adapts to the rate (tests/dsp/test_device_rates.py)


def test_bad_settings_and_input_raise_clear_errors(signal):
    with pytest.raises(StreamError, match="mains_hz must be 50, 60"):
        MainsNotch(RATE_HZ, NotchSettings(mains_hz=55))
    with pytest.raises(StreamError, match="method must be"):
        Envelope(RATE_HZ, EnvelopeSettings(method="hilbert"))
    with pytest.raises(StreamError, match="rate_hz"):
        BandPass(0.0)
    with pytest.raises(StreamError, match="channel 1 has 0.0"):
        MVCNormalise(RATE_HZ, [1.0, 0.0])
    with pytest.raises(StreamError, match="one MVC value per channel"):
        MVCNormalise(RATE_HZ, [1.0]).process(signal)
    stage = BandPass(RATE_HZ)
    stage.process(signal)
    with pytest.raises(StreamError, match="call reset"):
        stage.process(Chunk(np.zeros((4, 1), np.float32), np.arange(4.0)))


def test_non_finite_input_is_refused_and_state_kept(signal):
    stage = BandPass(RATE_HZ)
    stage.process(signal[:100])
    before = stage.state.z_a.copy()
    x = np.array(signal.data[100:110])
    x[3, 2] = np.nan
    with pytest.raises(StreamError, match="non-finite input in channel 2 at sample 103"):
        stage.process(Chunk(x, signal.t[100:110]))
    np.testing.assert_array_equal(stage.state.z_a, before)

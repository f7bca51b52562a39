"""Signal quality monitor: flags each injected fault on sim EMG, and not clean signals."""

from __future__ import annotations

import numpy as np
import pytest

import wearsense.sim as sim
from wearsense.dsp.quality import QualityMonitor, QualitySettings, describe
from wearsense.errors import StreamError
from wearsense.stream import Chunk, split_every

RATE_HZ = 2000.0


@pytest.fixture(scope="module")
def emg():
    rec = sim.generate(seed=7, duration_s=6.0)
    return rec.streams["sim-emg"]


def _run(info, x, t, chunk_n=20):
    mon = QualityMonitor(info)
    for c in split_every(Chunk(x.astype(np.float32), t), chunk_n):
        mon.update(c)
    return mon.status()


def test_clean_sim_emg_is_ok_on_every_channel_at_every_evaluation():
    for seed in (0, 1):
        info, chunk = sim.generate(seed=seed, duration_s=20.0).streams["sim-emg"]
        mon = QualityMonitor(info)
        for piece in split_every(chunk, 500):
            mon.update(piece)
            assert mon.problems() == []
        assert [s.reason for s in mon.status()] == ["ok"] * info.n_channels


@pytest.mark.parametrize("fault, flag, words", [
    ("electrode_off", "electrode_off", "press the electrode on"),
    ("flat", "flat", "check the cable"),
    ("saturation", "saturation", "lower the amplifier gain"),
    ("mains50", "mains", "50 Hz dominates, check the reference electrode"),
    ("mains60", "mains", "60 Hz dominates"),
    ("motion", "motion", "tape the cable"),
    ("noise", "low_snr", "clean/abrade the skin"),
])
def test_each_injected_fault_is_flagged_on_its_channel_only(emg, inject, fault, flag, words):
    info, chunk = emg
    x = chunk.data.astype(np.float64).copy()
    k = 3
    t = chunk.t - chunk.t[0]
    rng = np.random.default_rng(0)
    if fault == "electrode_off":
        x[:, k] = 0.4  # amplifier pinned at its positive rail
    elif fault == "flat":
        x[:, k] = 0.0
    elif fault == "saturation":
        lim = 0.3 * np.abs(x[:, k]).max()
        x[:, k] = np.clip(x[:, k] * 3, -lim, lim)
    elif fault.startswith("mains"):
        x[:, k] += 300e-6 * np.sin(2 * np.pi * float(fault[5:]) * t)
    elif fault == "motion":
        x[:, [k]] = inject.motion(x[:, [k]], RATE_HZ, 1, amplitude_v=3e-3, per_s=3.0)
    elif fault == "noise":
        x[:, k] += 60e-6 * rng.standard_normal(x.shape[0])
    status = _run(info, x, chunk.t)
    assert flag in status[k].flags, status[k]
    assert words in status[k].reason
    assert status[k].reason.startswith(f"channel 3 ({info.channels[3]}):")
    assert all(s.ok for i, s in enumerate(status) if i != k), describe(status)


def test_verdicts_do_not_depend_on_chunking(emg):
    info, chunk = emg
    x = chunk.data.astype(np.float64).copy()
    x[:, 1] += 300e-6 * np.sin(2 * np.pi * 50 * (chunk.t - chunk.t[0]))
    a = _run(info, x, chunk.t, chunk_n=7)
    b = _run(info, x, chunk.t, chunk_n=chunk.n)
    assert [s.reason for s in a] == [s.reason for s in b]
    assert [s.metrics for s in a] == [s.metrics for s in b]


def test_full_scale_from_metadata_detects_rail_clipping(emg):
    info, chunk = emg
    x = chunk.data.astype(np.float64).copy()
    x[:, 0] = np.clip(np.random.default_rng(1).standard_normal(chunk.n) * 3e-3, -2e-3, 2e-3)
    mon = QualityMonitor(info.with_(metadata={"full_scale_v": 2e-3}))
    out = mon.process(Chunk(x.astype(np.float32), chunk.t))
    assert out.n == chunk.n
    assert "saturation" in mon.status()[0].flags, mon.status()[0]
    assert mon.problems() and mon.problems()[0].startswith("channel 0")


def test_waits_for_a_full_window_and_rejects_bad_input(emg):
    info, chunk = emg
    mon = QualityMonitor(info)
    mon.update(chunk[:100])
    assert mon.status()[0].reason == "waiting for signal"
    with pytest.raises(StreamError, match="channels"):
        mon.update(Chunk(np.zeros((5, 2), np.float32), np.arange(5.0)))
    with pytest.raises(StreamError, match="rate_hz=0"):
        QualityMonitor(info.with_(rate_hz=0.0))
    assert QualitySettings().window_s == 1.0

"""Lead of EMG onset over motion onset: on the sim it is the true electromechanical delay."""

from __future__ import annotations

import pytest

from wearsense import sim
from wearsense.errors import WearsenseError
from wearsense.stream import Chunk
from wearsense.sync.emd import EMDSettings, measure_emd, segment_of


def on_true_time(rec, name):
    info, c = rec.streams[name]
    return info, Chunk(c.data, rec.truth.sample_t[name], c.seq, "session")


@pytest.mark.parametrize("emd_ms", [30.0, 80.0])
def test_lead_matches_the_true_emd_within_10_ms(emd_ms):
    rec = sim.generate(7, 90.0, moves=("reach",), emd_ms=emd_ms, keep_truth=False)
    leads = measure_emd(on_true_time(rec, "sim-emg"), [on_true_time(rec, f"sim-imu{i}") for i in range(4)])
    d = leads["deltoid_anterior_r"]
    assert d.segment == "upper_arm_r" and d.imu == "sim-imu1"
    assert d.n >= 8
    assert abs(d.lead_s - rec.truth.emd_s) <= 0.010, d.lead_s
    assert d.ci95_s[0] <= d.lead_s <= d.ci95_s[1]
    assert d.ci95_s[1] - d.ci95_s[0] < 0.02


def test_lead_after_clock_sync_of_drifting_jittery_devices(synced_packets):
    """EMG and IMU on different clocks (offsets of seconds, drift, jitter, loss), synced, then measured."""
    rec = sim.generate(
        7,
        90.0,
        moves=("reach",),
        emd_ms=50.0,
        offset_s=5.0,
        drift_ppm=100.0,
        jitter_ms=10.0,
        packet_ms=15.0,
        loss=0.01,
        keep_truth=False,
    )
    out, _ = synced_packets(rec, ["sim-emg", "sim-imu1"], latency_of="sim-emg")
    d = measure_emd(out["sim-emg"], [out["sim-imu1"]], muscles=["deltoid_anterior_r"])["deltoid_anterior_r"]
    assert abs(d.lead_s - rec.truth.emd_s) <= 0.010, d.lead_s


def test_unsynced_streams_are_refused_with_the_fix():
    rec = sim.generate(7, 4.0, keep_truth=False)
    with pytest.raises(WearsenseError, match="session clock first"):
        measure_emd(rec.streams["sim-emg"], [rec.streams["sim-imu1"]])


def test_no_imu_on_any_muscle_segment_is_a_clear_error():
    rec = sim.generate(7, 4.0, keep_truth=False)
    with pytest.raises(WearsenseError, match="no EMG channel has an IMU"):
        measure_emd(
            on_true_time(rec, "sim-emg"), [on_true_time(rec, "sim-imu3")], muscles=["biceps_brachii_r"]
        )


def test_muscles_map_to_the_segment_they_move():
    assert segment_of("deltoid_anterior_l") == "upper_arm_l"
    assert segment_of("tibialis_anterior_r") == "foot_r"
    assert segment_of("erector_spinae_r") == "trunk"
    assert segment_of("masseter") is None


def test_bad_settings_name_the_parameter():
    with pytest.raises(WearsenseError, match="search_s"):
        EMDSettings(search_s=(0.1, -0.3))

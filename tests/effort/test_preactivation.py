"""PreactivationDetector: muscles engaging before their joint moves, and with no motion."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense import sim
from wearsense.effort import PreactivationDetector, PreactivationEvent
from wearsense.errors import StreamError
from wearsense.stream import Modality, split_every


@pytest.fixture(scope="module")
def rec():
    return sim.generate(1, 25.0, moves=("reach", "squat", "brace"), imu=6)


def _streams(rec):
    return {
        n: (i, c.with_time(rec.truth.clocks[n].true_time(c.t), "true"))
        for n, (i, c) in rec.streams.items()
        if i.modality in (Modality.EMG, Modality.IMU)
    }


def _detect(rec, chunk_s):
    st = _streams(rec)
    det = PreactivationDetector([i for i, _ in st.values()])
    pieces = []
    for name, (info, chunk) in st.items():
        n = max(1, int(round(chunk_s * info.rate_hz)))
        pieces += [(float(c.t[-1]), name, c) for c in split_every(chunk, n)]
    events = []
    for _, name, c in sorted(pieces, key=lambda p: p[0]):
        events += det.process(name, c)
    return det, events


def test_leads_match_the_electromechanical_delay_and_events_say_what_happened(rec):
    det, events = _detect(rec, 0.02)
    led = [e for e in events if e.kind == "led"]
    assert len(led) >= 3
    leads = np.array([e.lead_ms for e in led])
    assert (leads > 10).all() and (leads < 150).all(), leads
    assert 35 <= np.median(leads) <= 75  # the sim's EMD is 50 ms
    assert all(e.decided_t >= e.t + det.settings.pair_s - 1e-9 for e in events)
    assert {e.kind for e in events} <= {"led", "anticipatory", "already_moving"}
    assert "engaged" in led[0].describe() and "before" in led[0].describe()


def test_activity_with_no_local_motion_is_reported_as_anticipatory(rec):
    _, events = _detect(rec, 0.05)
    anticipatory = [e for e in events if e.kind == "anticipatory"]
    assert anticipatory and all(np.isnan(e.lead_ms) for e in anticipatory)


def test_event_times_do_not_depend_on_chunking(rec):
    _, a = _detect(rec, 0.01)
    _, b = _detect(rec, 0.1)
    key = lambda e: (e.muscle, e.kind, round(e.t, 6))  # noqa: E731
    assert sorted(map(key, a)) == sorted(map(key, b))


def test_an_unknown_stream_is_an_error_naming_the_known_ones(rec):
    det = PreactivationDetector([i for i, _ in _streams(rec).values()])
    info, chunk = rec.streams["sim-pose"]
    with pytest.raises(StreamError, match="sim-emg"):
        det.process("sim-pose", chunk)


def test_event_is_a_plain_record():
    e = PreactivationEvent("biceps_brachii_r", "forearm_r", 52.0, 3.1, "led", 3.4)
    assert e.describe() == "biceps_brachii_r engaged 52 ms before forearm_r moved"

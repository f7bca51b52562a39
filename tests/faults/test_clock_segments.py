"""The recorder never ends a take because a clock goes back: it starts a clock segment.

Known truth: a 2 kHz stream whose device clock jumps back 200 ms (or restarts from
zero, sequence numbers too) after 6 s; the host receives every chunk 2 ms after its
last sample. Every sample must be in the file, readable by wearsense and by pyxdf,
with pyxdf's synchronised timestamps on the host clock where the samples were taken.
"""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.io.xdf import EVENTS_STREAM, Recorder, RecorderSettings, load, load_pyxdf
from wearsense.stream import Chunk, Modality, StreamInfo

RATE = 2000.0
N = 20000  # 10 s
PER_CHUNK = 200
JUMP_AT = 12000  # sample index where the device clock jumps
HOST0 = 5000.0
LATENCY = 0.002

INFO = StreamInfo("emg", Modality.EMG, ("a", "b"), "V", RATE, source_id="dev")


def device_take(jump_s: float, restart: bool = False):
    """Chunks of a device whose clock jumps by ``jump_s`` at JUMP_AT (or reboots: t and seq from 0)."""
    k = np.arange(N)
    true_t = k / RATE  # when each sample was taken (device clock, no jump)
    dev_t = 100.0 + true_t
    seq = k.copy()
    if restart:
        dev_t = np.where(k >= JUMP_AT, (k - JUMP_AT) / RATE + 0.05, dev_t)
        seq = np.where(k >= JUMP_AT, k - JUMP_AT, k)
    else:
        dev_t = np.where(k >= JUMP_AT, dev_t + jump_s, dev_t)
    host = HOST0 + true_t
    data = np.stack([k, -k], axis=1).astype(np.float32)
    out = []
    for a in range(0, N, PER_CHUNK):
        z = a + PER_CHUNK
        out.append(Chunk(data[a:z], dev_t[a:z], seq[a:z], "device:dev", host[z - 1] + LATENCY))
    return out, host


def record(path, chunks):
    with Recorder(path, [INFO], RecorderSettings(fsync=False)) as rec:
        for c in chunks:
            rec.write(INFO, c)
        return rec.state


@pytest.mark.parametrize("jump_s", [-0.2, -5.0])
def test_a_clock_that_jumps_back_starts_a_segment_and_keeps_every_sample(tmp_path, jump_s):
    chunks, _ = device_take(jump_s)
    state = record(tmp_path / "a.xdf", chunks)
    f = load(tmp_path / "a.xdf")
    c = f.streams["emg"].chunk
    assert c.n == N and EVENTS_STREAM not in f.streams
    np.testing.assert_array_equal(c.data[:, 0], np.arange(N))  # every sample, in order
    np.testing.assert_array_equal(c.seq, np.arange(N))
    assert (np.diff(c.t) > 0).all()
    (seg,) = [e for e in f.events if e["kind"] == "clock_segment"]
    assert seg["stream"] == "emg" and seg["seq"] == JUMP_AT
    assert seg["step_s"] == pytest.approx(jump_s, abs=1e-9)
    # the file time continues by one period; the device's own reading is t - offset_s
    assert seg["t"] == pytest.approx(c.t[JUMP_AT - 1] + 1 / RATE, abs=1e-9)
    device_reading = 100.0 + np.arange(JUMP_AT, N) / RATE + jump_s
    np.testing.assert_allclose(c.t[JUMP_AT:] - seg["offset_s"], device_reading, atol=1e-9)
    assert len(state.events) == 1


def test_pyxdf_reads_the_segmented_stream_on_the_host_clock(tmp_path):
    pyxdf = pytest.importorskip("pyxdf")
    chunks, host = device_take(-0.2)
    record(tmp_path / "a.xdf", chunks)
    streams, _ = pyxdf.load_xdf(str(tmp_path / "a.xdf"))  # clock sync and dejitter, as users load
    (emg,) = [s for s in streams if s["info"]["name"][0] == "emg"]
    k = emg["time_series"][:, 0].astype(int)
    np.testing.assert_array_equal(k, np.arange(N))
    # synchronised time = host time the sample was taken (+ the constant link latency)
    np.testing.assert_allclose(emg["time_stamps"], host[k] + LATENCY, atol=1e-6)
    (ev,) = [s for s in streams if s["info"]["name"][0] == EVENTS_STREAM]
    assert '"kind":"clock_segment"' in ev["time_series"][0][0]


def test_a_device_that_restarts_its_clock_and_counter_is_kept_whole(tmp_path):
    chunks, _ = device_take(0.0, restart=True)
    record(tmp_path / "a.xdf", chunks)
    f = load(tmp_path / "a.xdf")
    c = f.streams["emg"].chunk
    assert c.n == N and (np.diff(c.t) > 0).all()
    np.testing.assert_array_equal(c.seq, np.arange(N))  # continued by one: nothing counted lost
    assert f.streams["emg"].lost == 0
    (seg,) = [e for e in f.events if e["kind"] == "clock_segment"]
    assert seg["seq_offset"] == JUMP_AT


def test_events_are_json_rows_on_the_host_clock_readable_by_any_xdf_reader(tmp_path):
    with Recorder(tmp_path / "a.xdf", [INFO], RecorderSettings(fsync=False)) as rec:
        rec.write(INFO, Chunk(np.zeros((4, 2)), np.arange(4) / RATE, np.arange(4), "device:dev", 1.0))
        rec.write_event("device_failed", "serial:///dev/ttyX disappeared", device="serial:///dev/ttyX",
                        host_s=123.5, stage="stream")
    (ev,) = load(tmp_path / "a.xdf").events
    assert ev["kind"] == "device_failed" and ev["host_s"] == 123.5 and ev["stage"] == "stream"
    assert np.isnan(ev["t"])
    assert EVENTS_STREAM not in load_pyxdf(tmp_path / "a.xdf")


def test_the_events_stream_name_is_reserved(tmp_path):
    from wearsense.errors import StreamError

    with Recorder(tmp_path / "a.xdf", [], RecorderSettings(fsync=False)) as rec:
        with pytest.raises(StreamError, match="reserved"):
            rec.add_stream(StreamInfo(EVENTS_STREAM, Modality.MARKER, ("x",), "", 0.0))


def test_clock_segments_lists_where_each_stream_starts_over(tmp_path):
    from wearsense.io.xdf.events import clock_segments

    chunks, _ = device_take(-0.2)
    record(tmp_path / "a.xdf", chunks)
    f = load(tmp_path / "a.xdf")
    ((t, offset, reason),) = clock_segments(f.events)["emg"]
    assert t == f.streams["emg"].chunk.t[JUMP_AT] and offset == pytest.approx(0.2) and reason == "recorder"


def test_the_sync_layer_fits_each_restarted_segment_apart(tmp_path):
    """A reboot continued by arrival times is off by the arrival jitter (here 20 ms): fitted as one
    clock, that step reads as hundreds of ppm of drift; as two epochs, as the true 0."""
    from wearsense.io.xdf.events import clock_segments
    from wearsense.sync.report import report_from_recording

    k = np.arange(N)
    t = 100.0 + k / RATE + np.where(k >= JUMP_AT, 0.020, 0.0)  # the continuation's error after the reboot
    host = HOST0 + k / RATE
    data = np.zeros((N, 2), np.float32)
    with Recorder(tmp_path / "a.xdf", [INFO], RecorderSettings(fsync=False)) as rec:
        for a in range(0, N, PER_CHUNK):
            z = a + PER_CHUNK
            rec.write(INFO, Chunk(data[a:z], t[a:z], k[a:z], "device:dev", host[z - 1] + LATENCY))
        rec.write_event("clock_segment", "rebooted", stream="emg", t=float(t[JUMP_AT]), reason="reset",
                        offset_s=0.0)
    f = load(tmp_path / "a.xdf")
    segments = clock_segments(f.events)
    assert segments == {"emg": [(float(t[JUMP_AT]), 0.0, "reset")]}
    one_clock = report_from_recording(dict(f.streams))[0].streams["emg"]
    per_segment = report_from_recording(dict(f.streams), segments=segments)[0].streams["emg"]
    assert abs(one_clock["drift_ppm"]) > 100
    assert abs(per_segment["drift_ppm"]) < 1 and per_segment["resets"] == 1

"""``load(values=...)``: a recording without its sample values, read a window at a time.

What ``wearsense info`` prints comes from timestamps, sequence numbers, arrivals, headers,
footers and events; read that way, a file must give exactly what the full read gives
(everything but the values), whatever the window size, faults and events included.
"""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.cli.info import describe_events, summarise
from wearsense.errors import FormatError
from wearsense.io.xdf import Recorder, RecorderSettings, load, reader
from wearsense.io.xdf.events import clock_segments
from wearsense.stream import Chunk, Modality, StreamInfo
from wearsense.sync.report import summarize

JUMPY = StreamInfo("emg", Modality.EMG, ("a", "b"), "V", 2000.0, source_id="dev")


def assert_same_but_values(light, full, with_values=()):
    assert list(light.streams) == list(full.streams)
    for name, s in full.streams.items():
        lt = light.streams[name]
        np.testing.assert_array_equal(lt.chunk.t, s.chunk.t)
        np.testing.assert_array_equal(lt.chunk.seq, s.chunk.seq)
        np.testing.assert_array_equal(lt.chunk_ends, s.chunk_ends)
        np.testing.assert_array_equal(lt.received_s, s.received_s)
        np.testing.assert_array_equal(lt.clock_offsets, s.clock_offsets)
        assert lt.chunk.clock == s.chunk.clock and lt.info == s.info and lt.fmt == s.fmt
        assert (lt.footer is None) == (s.footer is None)
        if name in with_values:
            np.testing.assert_array_equal(lt.chunk.data, s.chunk.data)
        else:
            assert lt.chunk.data.shape == (s.chunk.n, 0)
    np.testing.assert_array_equal(light.order, full.order)
    assert light.events == full.events
    assert (light.size_bytes, light.valid_bytes, light.bad_regions, light.truncated) == (
        full.size_bytes, full.valid_bytes, full.bad_regions, full.truncated
    )


@pytest.mark.parametrize("window", [64, 1024, 1 << 24])  # 64 B: smaller than a chunk, the window grows
def test_without_values_the_file_reads_the_same_in_any_window(session_file, monkeypatch, window):
    path, _ = session_file
    monkeypatch.setattr(reader, "_WINDOW", window)
    assert_same_but_values(load(path, values=False), load(path))


def test_values_are_read_for_the_streams_chosen(session_file, monkeypatch):
    path, _ = session_file
    monkeypatch.setattr(reader, "_WINDOW", 2048)
    light = load(path, values=lambda info: info.modality in (Modality.IMU, Modality.POSE))
    assert_same_but_values(light, load(path), with_values=("imu0", "pose"))


def faulty_take(path):
    """A 2 kHz device whose clock jumps back 0.2 s after 6 s (a clock segment event) and loses
    a chunk (a sequence gap), beside an IMU stream; arrivals 2 ms after each chunk."""
    imu = StreamInfo("imu", Modality.IMU, ("gyro_x", "gyro_y", "gyro_z"), "deg/s", 200.0, source_id="dev2")
    k = np.arange(20000)
    t = 100.0 + k / 2000.0 - 0.2 * (k >= 12000)
    with Recorder(path, [JUMPY, imu], RecorderSettings(fsync=False)) as rec:
        for a in range(0, 20000, 200):
            if a == 4000:
                continue  # lost on the link
            data = np.stack([k[a : a + 200], -k[a : a + 200]], axis=1).astype(np.float32)
            rec.write(JUMPY, Chunk(data, t[a : a + 200], k[a : a + 200], "device:dev", 5000.1 + a / 2000.0))
            j = np.arange(a // 10, a // 10 + 20)
            rec.write(imu, Chunk(np.ones((20, 3)), 7.0 + j / 200.0, j, "device:dev2", 5000.1 + a / 2000.0))


def test_info_summary_is_the_same_without_values_on_a_take_with_faults(tmp_path, monkeypatch):
    path = tmp_path / "faulty.xdf"
    faulty_take(path)
    monkeypatch.setattr(reader, "_WINDOW", 4096)
    full, light = load(path), load(path, values=False)
    assert_same_but_values(light, full)
    assert [e["kind"] for e in light.events] == ["clock_segment"]
    rows = summarise(light)
    assert rows == summarise(full)
    emg = next(r for r in rows if r["name"] == "emg")
    assert (emg["samples"], emg["gaps"], emg["lost"], emg["jumps"]) == (19800, 1, 200, 1)
    assert describe_events(light) == describe_events(full)
    segs = clock_segments(full.events)
    assert summarize(dict(light.streams), counts=False, segments=segs) == summarize(
        dict(full.streams), counts=False, segments=segs
    )


def test_a_damaged_file_is_read_whole_with_the_same_answer(session_file, tmp_path):
    path, _ = session_file
    cut = tmp_path / "cut.xdf"
    cut.write_bytes(path.read_bytes()[:-500])  # killed mid-chunk: no footers, last chunk incomplete
    full = load(cut, recover=True)
    assert full.truncated
    assert_same_but_values(load(cut, recover=True, values=False), full)
    with pytest.raises(FormatError, match="truncated"):
        load(cut, values=False)

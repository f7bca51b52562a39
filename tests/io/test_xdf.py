"""XDF recorder, reader and repair: round trips, pyxdf compatibility, damaged files."""

from __future__ import annotations

import logging
import os
import struct

import numpy as np
import pytest
import pyxdf

from wearsense.errors import (
    ConfigError,
    FormatError,
    OutputError,
    RecordingError,
    StreamError,
    WearsenseError,
)
from wearsense.io import xdf
from wearsense.io.xdf import Recorder, RecorderSettings
from wearsense.io.xdf.scan import scan as scan_chunks
from wearsense.stream import Chunk, StreamInfo, concat

logging.getLogger("pyxdf").setLevel(logging.CRITICAL)
logging.getLogger("pyxdf.pyxdf").setLevel(logging.CRITICAL)


def _by_stream(pairs):
    out: dict[str, list[Chunk]] = {}
    for info, c in pairs:
        out.setdefault(info.name, []).append(c)
    return out


def test_round_trip_is_bit_identical_with_metadata_seq_and_arrival_times(session_file, io_kit):
    path, pairs = session_file
    f = xdf.load(path)
    assert f.closed_cleanly and f.writer == "wearsense"
    for info in (io_kit.EMG, io_kit.IMU, io_kit.POSE):
        s = f.streams[info.name]
        sent = _by_stream(pairs)[info.name]
        assert s.info == info  # name, modality, labels, units, rate, source, metadata
        assert s.chunk.equals(concat(sent))
        stored = list(s.chunks())
        assert len(stored) == len(sent)
        for a, b in zip(stored, sent):
            assert a.equals(b)
            assert a.received_s == pytest.approx(b.received_s, abs=1e-12, nan_ok=True)


def test_lost_samples_are_visible_after_reading(session_file, io_kit):
    path, pairs = session_file
    f = xdf.load(path)
    # 60 blocks, every 17th EMG block of 20 samples dropped: blocks 16, 33, 50
    assert f.streams["emg"].lost == 3 * 20
    assert f.streams["imu0"].lost == 0


def test_pyxdf_reads_our_file_and_agrees(session_file):
    path, _ = session_file
    ours = xdf.load(path)
    streams, header = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)
    assert header["info"]["writer"] == ["wearsense"]
    by_name = {s["info"]["name"][0]: s for s in streams}
    assert set(by_name) == {"emg", "imu0", "pose", xdf.SEQ_STREAM}
    for name, s in ours.streams.items():
        p = by_name[name]
        np.testing.assert_array_equal(p["time_stamps"], s.chunk.t)
        np.testing.assert_array_equal(np.asarray(p["time_series"], np.float32), s.chunk.data)
        labels = [c["label"][0] for c in p["info"]["desc"][0]["channels"][0]["channel"]]
        assert labels == list(s.info.channels)
        assert int(p["footer"]["info"]["sample_count"][0]) == s.chunk.n
    # the pyxdf-based reader gives the same streams (seq included)
    for name, (info, chunk) in xdf.load_pyxdf(path).items():
        assert info == ours.streams[name].info
        assert chunk.equals(ours.streams[name].chunk)


def test_clock_offsets_follow_lsl_convention(session_file):
    path, pairs = session_file
    emg = [c for i, c in pairs if i.name == "emg"]
    offsets = xdf.load(path).streams["emg"].clock_offsets
    # LabRecorder convention: collection time in the stream clock; stream time + offset = host time
    np.testing.assert_array_equal(offsets[:, 0], [c.t[-1] for c in emg])
    np.testing.assert_allclose(offsets[:, 0] + offsets[:, 1], [c.received_s for c in emg], rtol=0, atol=1e-12)
    streams, _ = pyxdf.load_xdf(str(path), synchronize_clocks=True, dejitter_timestamps=False)
    synced = next(s for s in streams if s["info"]["name"][0] == "emg")["time_stamps"]
    assert abs(synced[-1] - emg[-1].received_s) < 0.01  # now on the host clock


def _write_labrecorder_style(path) -> dict:
    """A file as LabRecorder writes it: double64 EEG with deduced timestamps, a string
    marker stream, ClockOffsets every few seconds, Boundary chunks and footers with
    clock offsets. No wearsense-specific content at all."""

    def chunk(tag, content):
        n = len(content) + 2
        head = bytes([1, n]) if n < 256 else b"\x04" + struct.pack("<I", n)
        return head + struct.pack("<H", tag) + content

    def header(sid, name, typ, nch, rate, fmt, labels):
        chans = "".join(
            f"<channel><label>{lab}</label><unit>microvolts</unit><type>EEG</type></channel>"
            for lab in labels
        )
        xml = (
            f'<?xml version="1.0"?><info><name>{name}</name><type>{typ}</type>'
            f"<channel_count>{nch}</channel_count><nominal_srate>{rate}</nominal_srate>"
            f"<channel_format>{fmt}</channel_format><source_id>src{sid}</source_id>"
            f"<version>1.1</version><created_at>12.5</created_at><uid>u{sid}</uid><session_id>default</session_id>"
            f"<hostname>labpc</hostname><v4address /><v4data_port>16572</v4data_port>"
            f"<desc><channels>{chans}</channels></desc></info>"
        )
        return chunk(2, struct.pack("<I", sid) + xml.encode())

    rng = np.random.default_rng(7)
    out = bytearray(b"XDF:")
    out += chunk(
        1,
        b'<?xml version="1.0"?><info><version>1.0</version>'
        b"<datetime>2024-01-01T10:00:00+0000</datetime></info>",
    )
    out += header(1, "BioSemi", "EEG", 3, 100, "double64", ["Fz", "Cz", "Pz"])
    out += header(2, "Markers", "Markers", 1, 0, "string", [])
    boundary = bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")
    eeg_t, eeg_v, marks = [], [], []
    t0 = 20.0
    for k in range(30):
        n = 10
        vals = rng.standard_normal((n, 3))
        body = bytearray(struct.pack("<I", 1) + bytes([1, n]))
        for i in range(n):
            if i == 0:
                body += b"\x08" + struct.pack("<d", t0)
                ts = t0
            else:
                body += b"\x00"
                ts = eeg_t[-1] + 0.01
            body += vals[i].astype("<f8").tobytes()
            eeg_t.append(ts)
            eeg_v.append(vals[i])
        t0 = eeg_t[-1] + 0.01
        out += chunk(3, bytes(body))
        if k % 10 == 0:
            out += chunk(4, struct.pack("<Idd", 1, 1000.0 + k * 0.1, 980.0))
            txt = f"stim{k}".encode()
            out += chunk(
                3,
                struct.pack("<I", 2)
                + bytes([1, 1])
                + b"\x08"
                + struct.pack("<d", eeg_t[-1])
                + bytes([1, len(txt)])
                + txt,
            )
            marks.append((eeg_t[-1], f"stim{k}"))
            out += chunk(5, boundary)
    for sid, n, first, last in (
        (1, len(eeg_t), eeg_t[0], eeg_t[-1]),
        (2, len(marks), marks[0][0], marks[-1][0]),
    ):
        xml = (
            f'<?xml version="1.0"?><info><first_timestamp>{first}</first_timestamp>'
            f"<last_timestamp>{last}</last_timestamp>"
            f"<sample_count>{n}</sample_count><clock_offsets><offset><time>1000.0</time><value>980.0</value></offset>"
            f"</clock_offsets></info>"
        )
        out += chunk(6, struct.pack("<I", sid) + xml.encode())
    path.write_bytes(bytes(out))
    return {"t": np.array(eeg_t), "v": np.array(eeg_v), "marks": marks}


def test_we_read_a_file_from_another_xdf_writer(tmp_path):
    path = tmp_path / "labrecorder.xdf"
    truth = _write_labrecorder_style(path)
    f = xdf.load(path)
    eeg = f.streams["BioSemi"]
    assert eeg.info.channels == ("Fz", "Cz", "Pz") and eeg.info.units == ("microvolts",) * 3
    assert eeg.info.rate_hz == 100.0 and eeg.info.modality.value == "EEG"
    np.testing.assert_array_equal(eeg.chunk.data, truth["v"].astype(np.float32))
    pystreams, _ = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)
    np.testing.assert_array_equal(eeg.chunk.t, pystreams[0]["time_stamps"])  # same deduced timestamps
    np.testing.assert_allclose(eeg.chunk.t, truth["t"])
    np.testing.assert_array_equal(eeg.chunk.seq, np.arange(len(truth["t"])))
    assert eeg.clock_offsets.shape == (3, 2)
    assert np.isnan(eeg.received_s).all()  # offsets every few seconds are not arrival times
    markers = f.streams["Markers"]
    assert markers.info.modality.value == "MARKER"
    assert [r[0] for r in markers.strings] == [m for _, m in truth["marks"]]
    np.testing.assert_array_equal(markers.chunk.t, [t for t, _ in truth["marks"]])


def test_not_xdf_and_missing_files_raise_format_error_with_path(tmp_path):
    p = tmp_path / "notes.xdf"
    p.write_text("hello, this is not XDF")
    with pytest.raises(FormatError, match="not an XDF file") as e:
        xdf.load(p)
    assert e.value.path == str(p)
    with pytest.raises(FormatError, match="no such file"):
        xdf.load(tmp_path / "missing.xdf")
    (tmp_path / "only_magic.xdf").write_bytes(b"XDF:")
    with pytest.raises(FormatError, match="no FileHeader"):
        xdf.load(tmp_path / "only_magic.xdf")


def _samples_chunk_starts(path):
    buf = np.frombuffer(path.read_bytes(), np.uint8)
    scan = scan_chunks(buf, str(path), recover=False)
    return scan.chunks


def test_truncated_file_raises_then_repair_keeps_every_complete_chunk(session_file, tmp_path):
    path, _ = session_file
    raw = path.read_bytes()
    full = xdf.load(path)
    chunks = _samples_chunk_starts(path)
    rng = np.random.default_rng(3)
    cuts = sorted(set(rng.integers(int(chunks[3, 2]), len(raw) - 1, 40).tolist()))
    for cut in cuts:
        p = tmp_path / "cut.xdf"
        p.write_bytes(raw[:cut])
        ends_inside = not (chunks[:, 2] == cut).any()
        if ends_inside:
            with pytest.raises(FormatError, match=r"truncated at byte \d+.*wearsense repair") as e:
                xdf.load(p)
            assert (
                e.value.offset == int(chunks[chunks[:, 2] <= cut][-1, 2])
                if (chunks[:, 2] <= cut).any()
                else True
            )
        report = xdf.repair(p, backup=False)
        assert report.bytes_after >= 4
        repaired = xdf.load(p)
        assert repaired.closed_cleanly
        for name, s in repaired.streams.items():
            # exactly the samples whose Samples chunk ended before the cut
            whole = full.streams[name]
            rows = chunks[(chunks[:, 3] == 3) & (chunks[:, 4] == whole.stream_id) & (chunks[:, 2] <= cut)]
            n_expected = int(whole.chunk_ends[len(rows) - 1]) if len(rows) else 0
            assert s.chunk.n == n_expected
            assert s.chunk.equals(whole.chunk[: s.chunk.n])
        pystreams, _ = pyxdf.load_xdf(str(p), synchronize_clocks=False, dejitter_timestamps=False)
        for ps in pystreams:
            name = ps["info"]["name"][0]
            if name in repaired.streams:
                assert len(ps["time_stamps"]) == repaired.streams[name].chunk.n


def test_corrupted_chunk_is_reported_and_recover_resumes_at_next_boundary(tmp_path, io_kit):
    path = tmp_path / "flushed.xdf"
    io_kit.write_session(path, io_kit.synthetic_session(0), flush_every=10)
    raw = bytearray(path.read_bytes())
    chunks = _samples_chunk_starts(path)
    mid = chunks[len(chunks) // 2]
    raw[mid[0]] = 0x07  # invalid NumLengthBytes
    p = tmp_path / "corrupt.xdf"
    p.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match=f"corrupted at byte {mid[0]}") as e:
        xdf.load(p)
    assert e.value.offset == mid[0]
    f = xdf.load(p, recover=True)
    full = xdf.load(path)
    assert f.bad_regions and f.bad_regions[0][0] == mid[0]
    lost = sum(full.streams[n].chunk.n - f.streams[n].chunk.n for n in f.streams)
    assert 0 < lost <= 10 * 20  # only data up to the next boundary (one flush of 10 chunks) is gone
    report = xdf.repair(p, tmp_path / "fixed.xdf")
    assert report.dropped
    pyxdf.load_xdf(str(tmp_path / "fixed.xdf"))


def test_corrupted_samples_chunk_content_is_detected(session_file, tmp_path):
    path, _ = session_file
    raw = bytearray(path.read_bytes())
    chunks = _samples_chunk_starts(path)
    emg_id = xdf.load(path).streams["emg"].stream_id
    row = chunks[(chunks[:, 3] == 3) & (chunks[:, 4] == emg_id)][5]
    raw[row[1] + 4 + 2] = 0x05  # first sample's TimeStampBytes must be 0 or 8
    p = tmp_path / "bad_sample.xdf"
    p.write_bytes(bytes(raw))
    with pytest.raises(FormatError, match="stream 'emg' is corrupted"):
        xdf.load(p)
    f = xdf.load(p, recover=True)
    assert f.streams["emg"].chunk.n == xdf.load(path).streams["emg"].chunk.n - 20


def test_destination_checked_before_recording(tmp_path, io_kit):
    existing = tmp_path / "taken.xdf"
    existing.write_bytes(b"precious")
    with pytest.raises(RecordingError, match="already exists"):
        Recorder(existing, [io_kit.EMG])
    assert existing.read_bytes() == b"precious"
    with pytest.raises(RecordingError, match="does not exist; create it"):
        Recorder(tmp_path / "no" / "such" / "folder.xdf", [io_kit.EMG])
    with pytest.raises(RecordingError, match="must end in .xdf"):
        Recorder(tmp_path / "session.txt", [io_kit.EMG])
    with pytest.raises(RecordingError, match="cannot write in"):
        Recorder("/proc/wearsense_session.xdf", [io_kit.EMG])  # /proc refuses new files, even for root
    with pytest.raises(RecordingError, match="not enough free space"):
        Recorder(tmp_path / "big.xdf", [io_kit.EMG], RecorderSettings(reserve_bytes=2**62))
    with pytest.raises(RecordingError, match="not enough free space"):
        Recorder(tmp_path / "long.xdf", [io_kit.EMG], RecorderSettings(expected_duration_s=1e12))
    assert sorted(os.listdir(tmp_path)) == ["taken.xdf"]  # nothing left behind


def test_overwrite_replaces_and_settings_are_validated(tmp_path, io_kit):
    p = tmp_path / "s.xdf"
    p.write_bytes(b"old")
    with Recorder(p, [io_kit.IMU], RecorderSettings(overwrite=True)) as rec:
        rec.write(io_kit.IMU, Chunk(np.zeros((3, 6)), [1.0, 2.0, 3.0], 0, "device:imu"))
    assert xdf.load(p).streams["imu0"].chunk.n == 3
    with pytest.raises(ConfigError, match="flush_interval_s"):
        RecorderSettings(flush_interval_s=5.0)


def test_recorder_rejects_inconsistent_streams(tmp_path, io_kit):
    with Recorder(tmp_path / "s.xdf", [io_kit.IMU]) as rec:
        rec.write(io_kit.IMU, Chunk(np.zeros((2, 6)), [1.0, 2.0], 0, "device:imu"))
        with pytest.raises(StreamError, match="changed clock"):
            rec.write(io_kit.IMU, Chunk(np.zeros((2, 6)), [3.0, 4.0], 2, "host"))
        rec.write(
            io_kit.IMU, Chunk(np.zeros((2, 6)), [0.0, 0.5], 4, "device:imu")
        )  # a clock segment (tests/faults)
        with pytest.raises(StreamError, match="6 channels"):
            rec.write(io_kit.IMU, Chunk(np.zeros((2, 3)), [5.0, 6.0], 4, "device:imu"))
        with pytest.raises(StreamError, match="reserved"):
            rec.add_stream(StreamInfo(xdf.SEQ_STREAM, "OTHER", ["a"], "", 0))


def test_stream_declared_without_data_still_appears(tmp_path, io_kit):
    p = tmp_path / "s.xdf"
    with Recorder(p, [io_kit.EMG, io_kit.IMU]) as rec:
        rec.write(io_kit.IMU, Chunk(np.zeros((2, 6)), [1.0, 2.0], 0, "device:imu"))
    f = xdf.load(p)
    assert f.streams["emg"].chunk.n == 0 and f.streams["emg"].info == io_kit.EMG


def test_data_reaches_disk_within_the_flush_interval_without_further_writes(tmp_path, io_kit):
    p = tmp_path / "s.xdf"
    rec = Recorder(p, [io_kit.IMU], RecorderSettings(flush_interval_s=0.2))
    try:
        rec.write(io_kit.IMU, Chunk(np.ones((2, 6)), [1.0, 2.0], 0, "device:imu"))
        # the background flusher, not a later write or close, puts it on disk
        for _ in range(100):
            if xdf.load(p, recover=True).streams.get("imu0") is not None:
                break
            import time

            time.sleep(0.05)
        assert xdf.load(p, recover=True).streams["imu0"].chunk.n == 2
    finally:
        rec.close()


def test_gzip_compressed_xdfz_reads_the_same(session_file, tmp_path):
    import gzip

    path, _ = session_file
    z = tmp_path / "s.xdfz"
    z.write_bytes(gzip.compress(path.read_bytes()))
    a, b = xdf.load(path), xdf.load(z)
    assert all(a.streams[n].chunk.equals(b.streams[n].chunk) for n in a.streams)


def test_sim_round_trip_bit_identical(tmp_path):
    import wearsense.sim as sim

    rec = sim.generate(seed=0, duration_s=4.0)
    p = tmp_path / "sim.xdf"
    with Recorder(p, [i for i, _ in rec.streams.values()]) as r:
        for info, chunk in rec.streams.values():
            for a in range(0, chunk.n, 37):
                r.write(info, chunk[a : a + 37])
    back = xdf.read_xdf(p)
    assert set(back) == set(rec.streams)
    for name, (info, chunk) in rec.streams.items():
        assert back[name][0] == info
        assert back[name][1].equals(chunk)


def test_repair_in_place_on_a_full_disk_keeps_the_original_and_leaves_no_debris(
    session_file, tmp_path, monkeypatch, capsys
):
    import errno
    import importlib

    path, _ = session_file
    folder = tmp_path / "take"
    folder.mkdir()
    p = folder / "crashed.xdf"
    raw = path.read_bytes()
    p.write_bytes(raw[: len(raw) - 7])  # a cut-off last chunk
    repair_module = importlib.import_module("wearsense.io.xdf.repair")

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(repair_module.os, "fsync", disk_full)
    with pytest.raises(
        OutputError, match="No space left on device.*original is unchanged.*free some space"
    ) as e:
        xdf.repair(p)
    assert isinstance(e.value, WearsenseError) and e.value.path == str(p)
    assert p.read_bytes() == raw[: len(raw) - 7]
    assert sorted(f.name for f in folder.iterdir()) == ["crashed.xdf"]
    from wearsense.cli import main

    assert main(["repair", str(p)]) == 2  # the command: one line, no traceback, nothing left behind
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "No space left on device" in err and "Traceback" not in err
    assert sorted(f.name for f in folder.iterdir()) == ["crashed.xdf"]
    monkeypatch.undo()
    report = xdf.repair(p)  # with room again: the backup holds the original bytes
    assert report.backup and (folder / "crashed.xdf.bak").read_bytes() == raw[: len(raw) - 7]
    assert xdf.load(p).closed_cleanly


def test_a_stream_whose_first_chunk_comes_late_keeps_its_clock(tmp_path, io_kit, monkeypatch):
    # while a driver is still slow to deliver (decoders compiling), the recorder goes on
    # flushing; the stream header must wait for the first chunk, which names the clock
    from wearsense.io.xdf import writer

    clock = [0.0]
    monkeypatch.setattr(writer.time, "monotonic", lambda: clock[0])
    p = tmp_path / "late.xdf"
    with Recorder(p, [io_kit.IMU, io_kit.POSE], RecorderSettings(flush_interval_s=0.5)) as rec:
        rec.write(io_kit.POSE, Chunk(np.zeros((1, 3)), [1.0], 0, "device:cam"))
        for _ in range(20):  # 10 s of flushes without an IMU chunk
            clock[0] += 0.5
            rec.flush()
        rec.write(io_kit.IMU, Chunk(np.ones((2, 6)), [7.0, 7.005], 0, "device:sim:4711:imu0"))
        rec.write(io_kit.IMU, Chunk(np.ones((2, 6)), [7.01, 7.015], 2, "device:sim:4711:imu0"))
    f = xdf.load(p)
    assert f.streams["imu0"].chunk.n == 4 and f.streams["imu0"].chunk.clock == "device:sim:4711:imu0"


def test_a_write_does_not_wait_for_a_flush_on_disk(tmp_path, io_kit, monkeypatch):
    """The flush thread writes and fsyncs outside the recorder's lock: a live view's
    write() goes on while the disk is slow, and nothing is lost or reordered."""
    import threading

    from wearsense.io.xdf import writer

    emg = [(i, c) for i, c in io_kit.synthetic_session(seed=3, n_blocks=6, drop_every=100) if i is io_kit.EMG]
    path = tmp_path / "slow-disk.xdf"
    entered, release = threading.Event(), threading.Event()
    real_fsync = os.fsync

    def slow_fsync(fd):
        if threading.current_thread().name == "flusher":
            entered.set()
            release.wait(30)
        real_fsync(fd)

    with Recorder(path, [io_kit.EMG], RecorderSettings(flush_interval_s=1.0)) as rec:
        monkeypatch.setattr(writer.os, "fsync", slow_fsync)
        first, second, third = emg[0], emg[1], emg[2]
        rec.write(*first)  # a new stream's first chunk is flushed at once
        rec.write(*second)  # waits in the buffer for the flush below
        flusher = threading.Thread(target=rec.flush, name="flusher")
        flusher.start()
        assert entered.wait(30)  # the flush is inside fsync now
        rec.write(*third)  # would wait for the fsync if the flush held the lock through it
        assert flusher.is_alive() and not release.is_set()
        release.set()
        flusher.join()
        monkeypatch.setattr(writer.os, "fsync", real_fsync)
    f = xdf.load(path)
    assert f.closed_cleanly
    assert f.streams[first[0].name].chunk.equals(concat([first[1], second[1], third[1]]))

"""The sync-quality report: text for `wearsense info` / `sync-report`, and the PNG figure."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense import sim
from wearsense.cli import main
from wearsense.io.xdf import Recorder
from wearsense.stream import Chunk
from wearsense.sync import ClockSettings, StreamSyncSettings, TimelineSettings, sync_offline
from wearsense.sync.timeline import sync_stored
from wearsense.errors import AlignmentError
from wearsense.sync.align import align_imu_pose
from wearsense.sync.emd import measure_emd
from wearsense.sync.report import SyncReport, build_report, plot, summarize


@pytest.fixture(scope="module")
def session(synced_packets):
    rec = sim.generate(
        3,
        40.0,
        offset_s=5.0,
        drift_ppm=100.0,
        jitter_ms=10.0,
        packet_ms=15.0,
        loss=0.02,
        pose_latency_ms=60.0,
        keep_truth=False,
    )
    out, sc = synced_packets(rec, latency_of="sim-emg")
    alignment = align_imu_pose([out[f"sim-imu{i}"] for i in range(4)], out["sim-pose"])
    emd = measure_emd(out["sim-emg"], [out[f"sim-imu{i}"] for i in range(4)])
    return rec, build_report(sc, alignment, emd)


def test_report_lists_each_stream_with_the_recovered_clock(session):
    rec, report = session
    assert set(report.streams) == set(rec.streams)
    for name, row in report.streams.items():
        truth = rec.truth.clocks[name]
        assert abs(row["offset_s"] - truth.offset_s) < 1e-3
        assert abs(row["drift_ppm"] - truth.drift_ppm) < 5.0  # 40 s only (test_clock holds the 60 s spec)
        assert row["lost"] == rec.streams[name][1].seq[-1] + 1 - rec.streams[name][1].n
    text = summarize(report)
    for name in rec.streams:
        assert name in text
    assert "IMU<->pose (xcorr): pose late by" in text
    assert "EMG lead deltoid_anterior_r" in text or "EMG lead" in text


def test_figure_is_written_as_png(session, tmp_path):
    _, report = session
    path = tmp_path / "sync.png"
    plot(report).savefig(path, dpi=110)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000


def test_summarize_a_recorded_file_and_the_cli(arrival_order, tmp_path, capsys):
    rec = sim.generate(2, 20.0, jitter_ms=5.0, loss=0.01, keep_truth=False)
    path = tmp_path / "s.xdf"
    with Recorder(path, [i for i, _ in rec.streams.values()]) as r:
        for info, chunk in arrival_order(rec):
            r.write(info, chunk)
    from wearsense.io.xdf import load

    f = load(path)
    text = summarize({n: (s.info, s.chunks()) for n, s in f.streams.items()})
    assert "sim-imu0" in text and "IMU<->pose" in text
    assert main(["sync-report", str(path), "--png", str(tmp_path / "f.png"), "--min-latency-ms", "4"]) == 0
    out = capsys.readouterr().out
    assert "sync quality" in out and "sim-pose" in out and (tmp_path / "f.png").exists()
    # `wearsense info` prints the same sync table under the file summary
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "sync quality" in out and "drift ppm" in out and "IMU<->pose" in out
    assert main(["info", str(path), "--no-sync"]) == 0
    assert "drift ppm" not in capsys.readouterr().out


def test_streams_without_arrival_times_are_named_not_guessed():
    rec = sim.generate(2, 4.0, keep_truth=False)
    info, c = rec.streams["sim-imu0"]
    text = summarize({"sim-imu0": (info, [Chunk(c.data, c.t, c.seq, c.clock)])})
    assert "no arrival times" in text and "sim-imu0" in text.splitlines()[-1]


def test_a_recording_too_short_for_an_interval_says_so_instead_of_false_certainty(
    packet_chunks, synced_packets
):
    """5 s hold one 10 s window: a bootstrap over one window would give a zero-width interval
    and confidence 1.00 for whatever lag that window shows."""
    rec = sim.generate(3, 5.0, pose_latency_ms=50.0, keep_truth=False)
    out, _ = synced_packets(rec)
    with pytest.raises(AlignmentError, match=r"too short .* need at least 3 \(at least 30 s of movement"):
        align_imu_pose([out[f"sim-imu{i}"] for i in range(4)], out["sim-pose"])
    text = summarize({n: (rec.streams[n][0], list(packet_chunks(rec, n))) for n in rec.streams})
    assert "recording too short" in text and "confidence" not in text


def test_offsets_are_reported_at_the_session_start_whatever_the_host_clock_origin(packet_chunks):
    """A live host's monotonic clock starts at boot: an offset at host time 0 (here 1000 s before
    the session) means nothing to a user; the reading at the session start does."""
    rec = sim.generate(2, 12.0, offset_s=5.0, drift_ppm=50.0, jitter_ms=2.0, keep_truth=False)
    boot = 1000.0
    streams = {
        n: (
            rec.streams[n][0],
            [Chunk(c.data, c.t, c.seq, c.clock, c.received_s + boot) for c in packet_chunks(rec, n)],
        )
        for n in rec.streams
    }
    lat = rec.truth.clocks["sim-emg"].latency_s
    _, tl = sync_offline(
        streams, TimelineSettings(default=StreamSyncSettings(clock=ClockSettings(min_latency_s=lat)))
    )
    rows = tl.summary()
    for name, row in rows.items():
        truth = rec.truth.clocks[name]
        at_start = truth.offset_s + (1 + truth.drift_ppm * 1e-6) * (tl.start_s - boot)  # device reading then
        assert abs(row["start_offset_s"] - at_start) < 2e-3
        assert abs(row["offset_s"] - at_start) > 900  # the other reference: host time 0, 1000 s earlier
    text = summarize(build_report(tl))
    assert "at the session start" in text
    assert f"{rows['sim-emg']['start_offset_s']:12.6f}" in text


def test_png_into_a_missing_folder_is_one_line_before_any_work(tmp_path, capsys, arrival_order):
    rec = sim.generate(2, 4.0, keep_truth=False)
    path = tmp_path / "s.xdf"
    with Recorder(path, [i for i, _ in rec.streams.values()]) as r:
        for info, chunk in arrival_order(rec):
            r.write(info, chunk)
    assert main(["sync-report", str(path), "--png", str(tmp_path / "no" / "such" / "s.png")]) == 2
    out, err = capsys.readouterr()
    assert (
        out == ""
        and len(err.strip().splitlines()) == 1
        and "does not exist" in err
        and "Traceback" not in err
    )


def test_figure_says_why_a_panel_is_empty_and_spans_the_session(session):
    _, report = session
    bare = SyncReport(
        report.streams,
        report.gaps,
        report.residuals,
        session_start_s=report.session_start_s,
        alignment_note="recording too short",
    )
    fig = plot(bare)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("not measured" in t for t in texts) and any("recording too short" in t for t in texts)
    gaps = fig.axes[1]
    end = max(r["last_s"] for r in report.streams.values()) - report.session_start_s
    assert gaps.get_xlim() == pytest.approx((0.0, end))
    assert all("% lost" in t.get_text() for t in gaps.get_yticklabels())


def _record(path, rec, arrival_order, edit=None):
    with Recorder(path, [i for i, _ in rec.streams.values()]) as r:
        for info, chunk in arrival_order(rec):
            r.write(info, edit(info, chunk) if edit else chunk)
    from wearsense.io.xdf import load

    return load(path)


def test_stored_recording_fit_equals_the_per_chunk_path(tmp_path, arrival_order):
    """sync_stored (whole arrays, one fit per device) and sync_offline (chunk by chunk) agree."""
    rec = sim.generate(
        4, 30.0, offset_s=5.0, drift_ppm=100.0, jitter_ms=10.0, packet_ms=15.0, loss=0.02, keep_truth=False
    )
    f = _record(tmp_path / "s.xdf", rec, arrival_order)
    slow, tl_slow = sync_offline({n: (s.info, s.chunks()) for n, s in f.streams.items()})
    fast, tl_fast = sync_stored(dict(f.streams))
    a, b = tl_slow.summary(), tl_fast.summary()
    assert list(a) == list(b)
    for name in a:
        for key in ("drift_ppm", "offset_s", "start_offset_s", "first_s", "last_s"):
            assert b[name][key] == pytest.approx(a[name][key], abs=1e-9), (name, key)
        for key in ("samples", "lost", "gaps", "resets"):
            assert b[name][key] == a[name][key], (name, key)
        np.testing.assert_allclose(fast[name][1].t, slow[name][1].t, atol=1e-9)
        g_fast, g_slow = np.array(tl_fast.streams[name].gaps), np.array(tl_slow.streams[name].gaps)
        np.testing.assert_array_equal(g_fast[:, 2], g_slow[:, 2])  # the same gaps, as many samples each
        # placed by the whole-recording fit, where the per-chunk path maps as it goes (within its jitter)
        np.testing.assert_allclose(g_fast[:, :2], g_slow[:, :2], atol=5e-3)


def test_info_counts_gaps_and_loss_once_from_the_sequence_numbers(tmp_path, capsys, arrival_order):
    """The file table and the sync layer count the same gaps; a step in time with nothing
    missing is a clock jump, not a gap (the 69 vs 67 of issue 18)."""
    rec = sim.generate(2, 20.0, jitter_ms=2.0, loss=0.02, keep_truth=False)

    def jump(info, chunk):  # the IMU's device clock jumps 50 ms ahead at 10 s
        return (
            chunk.with_time(chunk.t + 0.05 * (chunk.t > 10.0), chunk.clock)
            if info.name == "sim-imu0"
            else chunk
        )

    f = _record(tmp_path / "j.xdf", rec, arrival_order, jump)
    from wearsense.cli.info import summarise

    rows = {r["name"]: r for r in summarise(f)}
    _, tl = sync_offline({n: (s.info, s.chunks()) for n, s in f.streams.items()})
    for name, st in tl.streams.items():
        seq = f.streams[name].chunk.seq
        assert rows[name]["lost"] == st.lost == seq[-1] - seq[0] + 1 - seq.size
        assert rows[name]["gaps"] == len(st.gaps) == np.count_nonzero(np.diff(seq) > 1)
    assert rows["sim-imu0"]["jumps"] == 1 and rows["sim-imu1"]["jumps"] == 0
    assert main(["info", str(tmp_path / "j.xdf")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split()[-2:] == ["jumps", "clock"]
    imu0 = next(line for line in out.splitlines() if line.split()[:1] == ["sim-imu0"]).split()
    assert imu0[-2] == "1"
    sync_head = next(line for line in out.splitlines() if "drift ppm" in line)
    assert "gaps" not in sync_head and "lost" not in sync_head  # counted once, in the file table


def test_a_recorded_clock_segment_is_mapped_with_its_own_fit(tmp_path, arrival_order):
    """A device clock that went back 200 ms at 10 s: the recorder continues the times as a
    new clock segment and notes it; the sync layer starts a new epoch there (a reset), and
    counts no loss the file does not hold."""
    from wearsense.io.xdf.events import clock_segments
    from wearsense.sync.report import report_from_recording

    rec = sim.generate(2, 20.0, jitter_ms=1.0, keep_truth=False)

    def back(info, chunk):
        return (
            chunk.with_time(chunk.t - 0.2 * (chunk.t > 10.0), chunk.clock)
            if info.name == "sim-imu0"
            else chunk
        )

    f = _record(tmp_path / "b.xdf", rec, arrival_order, back)
    segments = clock_segments(f.events)
    assert [r[2] for r in segments["sim-imu0"]] == ["recorder"]
    for source in (dict(f.streams), {n: (s.info, s.chunks()) for n, s in f.streams.items()}):
        report, _, _ = report_from_recording(source, segments=segments)
        rows = report.streams
        assert rows["sim-imu0"]["resets"] == 1 and rows["sim-imu1"]["resets"] == 0
        assert rows["sim-imu0"]["lost"] == f.streams["sim-imu0"].lost == 0

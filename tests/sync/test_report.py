"""The sync-quality report: text for `wearsense info` / `sync-report`, and the PNG figure."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense import sim
from wearsense.cli import main
from wearsense.io.xdf import Recorder
from wearsense.stream import Chunk
from wearsense.sync import ClockSettings, TimelineSettings, StreamSyncSettings, sync_offline
from wearsense.sync.align import align_imu_pose
from wearsense.sync.emd import measure_emd
from wearsense.sync.report import build_report, plot, summarize


@pytest.fixture(scope="module")
def session(packet_chunks):
    rec = sim.generate(3, 40.0, offset_s=5.0, drift_ppm=100.0, jitter_ms=10.0, packet_ms=15.0, loss=0.02,
                       pose_latency_ms=60.0, keep_truth=False)
    lat = rec.truth.clocks["sim-emg"].latency_s
    settings = TimelineSettings(default=StreamSyncSettings(clock=ClockSettings(min_latency_s=lat)))
    out, sc = sync_offline({n: (rec.streams[n][0], packet_chunks(rec, n)) for n in rec.streams}, settings)
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
    path = plot(report, tmp_path / "sync.png")
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

"""``wearsense report``: one self-contained HTML page about a recording, built from a sim session."""

from __future__ import annotations

import asyncio
import base64
import re

import numpy as np
import pytest

from wearsense.cli import main
from wearsense.errors import ConfigError, FormatError
from wearsense.report import build_report, render_html, write_report

URI = "sim://mover?seed=4&duration_s=12&realtime=0&emg=8"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """12 s of the virtual mover recorded with one annotation, as the dashboard's button makes it."""
    from wearsense.recording import Recording

    path = tmp_path_factory.mktemp("report") / "session.xdf"

    async def record():
        async with Recording([URI], path) as rec:
            marked = False
            async for info, chunk in rec:
                if not marked and chunk.received_s > 6.0:
                    rec.recorder.write_event("annotation", "arms up", device="dashboard",
                                             host_s=chunk.received_s, source="dashboard")
                    marked = True

    asyncio.run(record())
    return path


@pytest.fixture(scope="module")
def report(session):
    return build_report(session)


@pytest.fixture(scope="module")
def page(report):
    return render_html(report)


def test_the_report_is_one_file_with_its_figures_inlined(page):
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page)
    assert "<link" not in page and "<script" not in page
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 3  # sync, envelopes, effort
    assert all(base64.b64decode(img)[:8] == b"\x89PNG\r\n\x1a\n" for img in images)
    for section in ("1. Streams and events", "2. Signal quality", "3. Sync quality",
                    "4. EMG envelopes and onsets", "5. Effort", "6. Pre-activation",
                    "7. Calibration profile"):
        assert section in page


def test_the_report_says_what_the_recording_holds(report, page):
    names = [s["name"] for s in report.streams]
    assert names == sorted(names) and {"sim-emg", "sim-pose", "sim-imu0"} <= set(names)
    assert report.duration_s == pytest.approx(12, abs=0.2)
    assert [a["message"] for a in report.annotations] == ["arms up"] and "arms up" in page
    # signal quality: one row per EMG channel with its RMS level
    rows = report.quality["sim-emg"]
    assert len(rows) == 8 and all(r["rms_uv"] > 1 for r in rows)
    # onsets: the movements of 12 s make bursts on the prime movers
    assert sum(len(b) for b in report.onsets["sim-emg"].values()) >= 6
    # effort: every factor over the whole take, at 10 Hz
    t = report.effort["t"]
    assert len(t) == pytest.approx(120, abs=5) and np.all(np.diff(t) > 0)
    for f in ("weight", "time", "space", "flow"):
        v = report.effort[f][report.effort[f + "_available"]]
        assert v.size and np.all(np.abs(v) <= 1)
    # pre-activation: events resolved, each named in the table
    assert report.preactivation and all(ev.muscle in page for ev in report.preactivation)
    assert "No calibration profile was attached" in page
    assert "offset s" in report.sync_text and "drift ppm" in report.sync_text


def test_a_calibration_profile_in_the_streams_is_shown(report):
    from dataclasses import replace

    profile = {"serial": "sim:4:emg", "emg": {"mvc_v": [1e-3]}}
    shown = render_html(replace(report, calibration={"sim-emg": profile}))
    assert "sim:4:emg" in shown and "mvc_v" in shown


def test_the_command_writes_beside_the_recording_and_keeps_an_existing_report(session, capsys):
    out = session.with_suffix(".report.html")
    assert main(["report", str(session)]) == 0
    assert out.stat().st_size > 50_000 and "wrote" in capsys.readouterr().out
    with pytest.raises(ConfigError, match="--overwrite"):
        write_report(session)


def test_a_crashed_recording_is_reported_with_a_warning(session, tmp_path):
    data = session.read_bytes()
    cut = tmp_path / "crashed.xdf"
    cut.write_bytes(data[: len(data) * 2 // 3])
    r = build_report(cut)
    assert any("did not close cleanly" in n for n in r.notes)
    assert r.duration_s < 10


def test_not_an_xdf_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "notes.xdf"
    bad.write_text("time,emg\n")
    with pytest.raises(FormatError):
        build_report(bad)

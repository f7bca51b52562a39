"""`wearsense demo` works on a fresh install, headless, and its figure shows EMG leading motion."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from wearsense.demo import run_demo
from wearsense.errors import WearsenseError
from wearsense.live.terminal import LiveStats, TerminalView, render
from wearsense.devices import BlockingDevice


def test_demo_runs_headless_without_a_tty_and_writes_its_figure(tmp_path):
    out = tmp_path / "demo.png"
    env = dict(os.environ, MPLBACKEND="Agg")
    env.pop("DISPLAY", None)
    proc = subprocess.run(
        [sys.executable, "-m", "wearsense", "demo", "--fast", "--duration", "6", "-o", str(out)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 20_000
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "sim-emg" in proc.stdout and "lost" in proc.stdout
    assert "\x1b[" not in proc.stdout  # no terminal control codes without a TTY


def test_demo_measures_a_lead_of_emg_over_motion(tmp_path):
    result = run_demo(seed=1, duration_s=15, out=tmp_path / "d.png", realtime=False, stream=io.StringIO())
    assert len(result.leads_ms) >= 3
    # the sim's EMD is 50 ms; the simple detectors add 0-50 ms of their own
    assert 50 <= result.median_lead_ms <= 110


def test_demo_refuses_a_missing_output_folder(tmp_path):
    with pytest.raises(WearsenseError, match="does not exist"):
        run_demo(duration_s=5, out=tmp_path / "nope" / "d.png", realtime=False, stream=io.StringIO())


def test_live_view_counts_rates_and_loss():
    stats = LiveStats()
    with BlockingDevice("sim://mover?seed=4&realtime=0&duration_s=4&loss=0.05") as dev:
        for info, chunk in dev:
            stats.update(info, chunk)
    emg = stats.streams["sim-emg"]
    assert 0.02 < emg.loss_fraction < 0.09
    assert abs(emg.rate_hz - 2000 * (1 - emg.loss_fraction)) < 100  # delivered samples per host second
    lines = render(stats, "t", 4.0)
    assert any("biceps_brachii_r" in line and "uV" in line for line in lines)
    assert any("|acc|" in line for line in lines)
    tty = io.StringIO()
    tty.isatty = lambda: True
    view = TerminalView("t", tty)
    view.draw(stats, force=True)
    view.draw(stats, force=True)
    assert "\x1b[" in tty.getvalue()
    assert np.isfinite(emg.level).all()


def test_live_view_shows_what_to_fix_on_a_bad_channel():
    stats = LiveStats()
    with BlockingDevice("sim://mover?seed=4&realtime=0&duration_s=3&mains_hz=50&mains_uv=300") as dev:
        for info, chunk in dev:
            stats.update(info, chunk)
    text = "\n".join(render(stats, "t", 3.0))
    assert "mains" in text and "50 Hz dominates, check the reference electrode" in text

"""`wearsense demo` works on a fresh install, headless, and its figure shows EMG leading motion."""

import io
import os
import subprocess
import sys

import numpy as np
import pytest

from wearsense.demo import plot_demo, run_demo
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
    # the kernels are prepared before the live view, which shows rates from its first line on
    assert proc.stdout.startswith("preparing the virtual mover and its filters")
    assert "nan" not in proc.stdout


@pytest.fixture(scope="module")
def demo15():
    out = io.StringIO()
    result = run_demo(seed=1, duration_s=15, out=None, realtime=False, stream=out)
    return result, out.getvalue()


def test_demo_measures_a_lead_of_emg_over_motion(demo15):
    result, _ = demo15
    assert len(result.leads_ms) >= 3
    # the sim's EMD is 50 ms; the simple detectors add 0-50 ms of their own
    assert 50 <= result.median_lead_ms <= 110


def test_demo_says_it_prepares_the_filters_before_the_live_view(demo15):
    _, shown = demo15
    first, second = shown.splitlines()[:2]
    assert first.startswith("preparing the virtual mover and its filters") and "ready in" in first
    assert second.startswith("[")  # the live view starts after it


def test_demo_figure_reads_as_a_figure_in_a_paper(demo15):
    from matplotlib.figure import Figure

    result, _ = demo15
    assert result.figure is None  # out=None: nothing written
    fig = plot_demo(result)
    assert isinstance(fig, Figure)
    emg_ax, angle_ax, zoom_ax = fig.axes[:3]
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    titles = " ".join(ax.get_title() for ax in fig.axes)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None]
    labels = [ax.get_ylabel() for ax in fig.axes] + [t.get_text() for lg in legends for t in lg.get_texts()]
    # one scale for every EMG channel: each row's height is stated, each channel's peak written
    assert "one scale for all channels" in emg_ax.get_title()
    info, _ = result.streams["sim-emg"]
    assert sum(t.endswith(" µV") for t in texts) == info.n_channels
    silent = [line.get_ydata() for line in emg_ax.get_lines()]
    spans = [float(y.max() - y.min()) for y in silent]
    assert min(spans) < 0.2 * max(spans)  # a quiet channel looks quiet next to an active one
    # the close-up's window is shaded in both panels above it, and every time axis is labelled
    t_on = result.leads_ms[0][1]
    for ax in (emg_ax, angle_ax):
        assert any(p.get_x() < t_on < p.get_x() + p.get_width() for p in ax.patches)
        assert ax.get_xlabel().startswith("time (s")
    assert zoom_ax.get_xlabel().startswith("time (s")
    assert f"median over {len(result.leads_ms)} movements" in titles
    assert "uV" not in titles + " ".join(labels) and "µV" in " ".join(labels)
    # the angle legend sits above the curves, not over them
    fig.draw_without_rendering()  # lay it out as it will be saved
    legend_bottom = angle_ax.get_legend().get_window_extent().y0
    highest = max(line.get_ydata().max() for line in angle_ax.get_lines())
    assert legend_bottom >= angle_ax.transData.transform((0, highest))[1]


def test_demo_refuses_a_missing_output_folder(tmp_path):
    """Before anything streams, so no minute is spent on a figure that cannot be written."""
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

"""``wearsense live`` and the monitor behind both live views."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from wearsense.live.monitor import LiveMonitor, stream_health
from wearsense.live.terminal import LiveStats, TerminalView, render_live
from wearsense.stream import Chunk, Modality, StreamInfo

ROOT = Path(__file__).resolve().parents[2]


def test_live_shows_emg_bars_quality_orientation_effort_events_and_health(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "wearsense", "live", "sim://mover?seed=1&duration_s=6&realtime=0"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b[" not in out  # not a terminal: no control codes, the whole view at the end
    view = out[out.index("wearsense live"):]
    assert "EMG level (sim-emg" in view and "biceps_brachii_r" in view and " ok" in view
    assert "health: all streams ok" in view
    assert "IMU orientation" in view and "tilt" in view and "heading" in view
    for factor, first, second in (("weight", "strong", "light"), ("time", "sudden", "sustained"),
                                  ("space", "direct", "indirect"), ("flow", "bound", "free")):
        line = next(line for line in view.splitlines() if line.strip().startswith(factor))
        assert first in line and second in line and "conf" in line
    assert "Pre-activation (" in view and "engaged" in view


def osc_server():
    """A python-osc UDP server on a free port that keeps every message: (server, messages)."""
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_server import ThreadingOSCUDPServer

    got = []
    d = Dispatcher()
    d.set_default_handler(lambda address, *args: got.append((address, args)))
    server = ThreadingOSCUDPServer(("127.0.0.1", 0), d)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


def test_effort_and_preactivation_go_out_over_osc_in_the_one_address_space():
    from wearsense.cli.dashboard import make_monitor
    from wearsense.cli.live import watch

    server, got = osc_server()
    port = server.server_address[1]
    args = argparse.Namespace(osc=f"127.0.0.1:{port}", lsl=False, no_effort=False)
    monitor, pub = make_monitor(args)
    view = TerminalView("t", io.StringIO(), renderer=render_live)
    try:
        asyncio.run(watch(["sim://mover?seed=1&duration_s=6&realtime=0"], monitor, view))
    finally:
        monitor.close()
        pub.close()
    deadline = time.monotonic() + 10  # UDP on loopback: the last datagrams may still be in the server
    while len([a for a, _ in got if a == "/wearsense/preactivation"]) < monitor.events_total:
        assert time.monotonic() < deadline, "pre-activation events sent but not all received"
        time.sleep(0.05)
    server.shutdown()
    effort = [(a, args) for a, args in got if a.startswith("/wearsense/effort/")]
    assert {a.rsplit("/", 1)[1] for a, _ in effort} == {"weight", "time", "space", "flow"}
    value, pole, confidence = next(args for a, args in effort if a.endswith("/weight"))
    assert -1 <= value <= 1 and pole in ("strong", "light", "neutral") and 0 <= confidence <= 1
    pre = [args for a, args in got if a == "/wearsense/preactivation"]
    assert len(pre) == monitor.events_total > 0
    muscle, segment, lead_ms, kind = pre[0]
    assert kind in ("led", "anticipatory", "already_moving") and muscle in monitor.infos["sim-emg"].channels


def test_stream_health_names_what_is_wrong():
    info = StreamInfo("emg", Modality.EMG, ("a",), "V", 100.0)
    stats = LiveStats()
    assert [r["state"] for r in stream_health(stats, 0.0)] == []
    for k in range(30):  # 100 Hz nominal, delivered at 50 Hz
        t = np.arange(5) / 100 + k * 0.1
        seq = np.arange(k * 10, k * 10 + 5)
        stats.update(info, Chunk(np.zeros((5, 1), np.float32), t, seq, "d", k * 0.1))
    rows = {r["name"]: r for r in stream_health(stats, 2.95)}
    assert rows["emg"]["state"] in ("slow", "lossy")  # every second packet missing
    assert stream_health(stats, 10.0)[0]["state"] == "stale"


def test_monitor_says_why_effort_is_missing_without_the_streams_up_front():
    m = LiveMonitor()
    info = StreamInfo("emg", Modality.EMG, ("biceps_brachii_r",), "V", 1000.0)
    m.update(info, Chunk(np.zeros((10, 1), np.float32), np.arange(10) / 1e3, np.arange(10), "d", 1.0))
    assert "start(" in m.effort_note and m.effort_rows() == []
    assert "effort off" in LiveMonitor(effort=False).effort_note


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_on_a_terminal_the_live_view_redraws_in_place():
    m = LiveMonitor(effort=False)
    info = StreamInfo("emg", Modality.EMG, ("a", "b"), "V", 1000.0)
    rng = np.random.default_rng(0)
    out = _Tty()
    view = TerminalView("t", out, interval_s=0.0, renderer=render_live)
    for k in range(3):
        x = rng.normal(0, 20e-6, (100, 2)).astype(np.float32)
        m.update(info, Chunk(x, np.arange(100) / 1e3 + k * 0.1, np.arange(100) + 100 * k, "d", float(k)))
        view.draw(m, force=True)
    text = out.getvalue()
    assert text.count("\x1b[2K") > 10  # every line cleared before it is drawn
    assert "F\x1b[2K" in text  # the cursor goes back up to redraw in place
    assert "EMG level (emg" in text


class _Model:
    """A test double of :class:`wearsense.fusion.predict.LivePredictor` (the real one needs a
    trained checkpoint): one step every 4 chunks, keypoints 1 cm above the pelvis per horizon."""

    def __init__(self, infos):
        from types import SimpleNamespace

        self.infos = list(infos)
        self.calls = 0
        self.log = SimpleNamespace(horizons_ms=(0, 100, 200), joints=["knee_r"], keypoints=["pelvis", "head"])

    def feed(self, info, chunk):
        from types import SimpleNamespace

        self.calls += 1
        if self.calls % 4:
            return []
        kp = np.zeros((3, 2, 3))
        kp[:, 1, 2] = 0.6 + 0.01 * np.arange(3)
        return [SimpleNamespace(t=float(self.calls), angles=np.array([[10.0], [20.0], [30.0]]), kp=kp,
                                surprise=0.25)]


def test_a_models_prediction_shows_beside_the_camera_at_the_horizon_nearest_100_ms():
    from wearsense.devices import BlockingDevice
    from wearsense.live.dashboard import DashboardSettings, FrameBuilder

    made = []
    m = LiveMonitor(effort=False, predictor=lambda infos: made.append(_Model(infos)) or made[-1])
    with BlockingDevice("sim://mover?seed=1&duration_s=1&realtime=0") as dev:
        m.start(dev.device.streams)
        for info, chunk in dev:
            m.update(info, chunk)
    assert len(made) == 1 and {i.name for i in made[0].infos} >= {"sim-emg", "sim-pose"}
    p = m.prediction
    assert p.horizon_ms == 100 and p.angles == {"knee_r": 20.0} and p.surprise == 0.25
    pelvis = np.array(m.pose.keypoints["pelvis"])
    # drawn standing where the camera sees the mover: at its pelvis
    np.testing.assert_allclose(p.keypoints["head"], pelvis + [0, 0, 0.61], atol=1e-6)
    frame = FrameBuilder(m, DashboardSettings()).frame(0.0)
    assert frame["prediction"]["surprise"] == 0.25
    assert set(frame["prediction"]["keypoints"]) == {"pelvis", "head"}
    text = "\n".join(render_live(m, "t", 1.0))
    assert "Model: surprise 0.250; predicted +100 ms: knee_r 20 deg" in text


def test_the_background_worker_gives_the_same_effort_and_events_as_inline():
    from wearsense.devices import BlockingDevice

    with BlockingDevice("sim://mover?seed=3&duration_s=4&realtime=0") as dev:
        streams = dev.device.streams
        chunks = list(dev)
    out = []
    for background in (False, True):
        states, events = [], []
        m = LiveMonitor(background=background, on_effort=states.append, on_event=events.append)
        m.start(streams)
        for info, chunk in chunks:
            m.update(info, chunk)
        m.close()
        out.append((states, events))
    (s1, e1), (s2, e2) = out
    assert len(s1) == len(s2) > 30 and len(e1) == len(e2)
    np.testing.assert_array_equal([s.values() for s in s1], [s.values() for s in s2])
    assert [e.describe() for e in e1] == [e.describe() for e in e2]


@pytest.mark.slow
def test_live_runs_a_real_fusion_model_from_its_checkpoint(tmp_path, fresh_fusion_model):
    """``--checkpoint``: a FusionModel (fresh weights: the plumbing does not depend on them)
    saved as 'wearsense train' saves it, stepped by the fusion layer's LivePredictor."""
    from wearsense.fusion.checkpoint import save_checkpoint

    path = save_checkpoint(fresh_fusion_model, tmp_path / "fresh.pt")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "wearsense", "live", "sim://mover?seed=1&duration_s=3&realtime=0",
         "--checkpoint", str(path), "--no-effort"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stderr
    model_line = next(line for line in proc.stdout.splitlines() if line.startswith("Model: surprise"))
    assert "predicted +100 ms: trunk_flex" in model_line

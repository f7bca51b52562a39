"""Crash safety: a recorder killed with SIGKILL loses at most the last second, and the
file is readable (after ``repair`` at most) by wearsense and pyxdf."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import pyxdf

from wearsense.errors import FormatError
from wearsense.io import xdf

ROOT = Path(__file__).resolve().parents[2]

# Records two streams whose timestamps are the host monotonic clock (shared by all
# processes on Linux), so the parent can tell how much data before the kill survived.
RECORDER = r"""
import sys, time
import numpy as np
from wearsense.io.xdf import Recorder
from wearsense.stream import Chunk, StreamInfo
emg = StreamInfo("emg", "EMG", [f"m{i}" for i in range(16)], "V", 2000.0)
imu = StreamInfo("imu", "IMU", ["ax", "ay", "az"], "m/s^2", 200.0)
rec = Recorder(sys.argv[1], [emg, imu])
print("ready", flush=True)
k = 0
while True:
    now = time.monotonic()
    t = now - 0.01 + np.arange(20) / 2000
    rec.write(emg, Chunk(np.full((20, 16), k, np.float32), t, 20 * k, "host", now))
    rec.write(imu, Chunk(np.full((2, 3), k, np.float32), now - 0.01 + np.arange(2) / 200, 2 * k, "host", now))
    k += 1
    time.sleep(0.01)
"""


def _start(path: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen(
        [sys.executable, "-c", RECORDER, str(path)], stdout=subprocess.PIPE, env=env, cwd=ROOT
    )


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_at_most_one_second(tmp_path):
    rng = np.random.default_rng(11)
    trials, batch = 20, 5
    results = []
    for b in range(trials // batch):
        procs = []
        for i in range(batch):
            path = tmp_path / f"kill{b}_{i}.xdf"
            procs.append((path, _start(path)))
        for path, p in procs:
            assert p.stdout.readline().strip() == b"ready"
        # kill each at its own random moment after it started writing
        delays = rng.uniform(0.1, 1.6, batch)
        t_start = time.monotonic()
        for (path, p), d in sorted(zip(procs, delays), key=lambda x: x[1]):
            time.sleep(max(0.0, t_start + d - time.monotonic()))
            killed_at = time.monotonic()
            p.send_signal(signal.SIGKILL)
            p.wait()
            p.stdout.close()
            results.append((path, killed_at))
    assert len(results) == trials
    repaired = 0
    for path, killed_at in results:
        try:
            f = xdf.load(path)
        except FormatError:
            xdf.repair(path, backup=False)
            repaired += 1
            f = xdf.load(path)
        if not f.closed_cleanly:
            xdf.repair(path, backup=False)
            f = xdf.load(path)
        assert f.closed_cleanly
        for name in ("emg", "imu"):
            c = f.streams[name].chunk
            assert c.n > 0, f"{path.name}: no {name} samples survived"
            assert c.t[-1] >= killed_at - 1.0 - 0.011, (
                f"{path.name}: {name} lost {killed_at - c.t[-1]:.3f} s before the kill"
            )
            assert f.streams[name].lost == 0  # what survived is contiguous
        streams, _ = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)
        assert {s["info"]["name"][0] for s in streams} >= {"emg", "imu"}


@pytest.mark.slow
def test_cli_record_sigint_finishes_cleanly_and_sigkill_is_repairable(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    outs = {}
    for sig in (signal.SIGINT, signal.SIGKILL):
        out = tmp_path / f"cli_{sig.name}.xdf"
        p = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wearsense",
                "record",
                "sim://mover?seed=2&emg=4&imu=1",
                "-o",
                str(out),
                "--quiet",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        # wait until some samples are on disk
        while time.monotonic() < deadline:
            if out.exists() and out.stat().st_size > 20_000:
                break
            time.sleep(0.05)
        time.sleep(1.2)
        p.send_signal(sig)
        stdout, stderr = p.communicate(timeout=30)
        outs[sig] = (p.returncode, stdout.decode(), stderr.decode(), out)
    rc, stdout, stderr, out = outs[signal.SIGINT]
    assert rc == 0, stderr
    assert "recorded" in stdout
    f = xdf.load(out)
    assert f.closed_cleanly and f.streams["sim-emg"].chunk.n > 2000
    rc, _, stderr, out = outs[signal.SIGKILL]
    assert rc == -signal.SIGKILL, stderr
    xdf.repair(out, backup=False)
    f = xdf.load(out)
    assert f.closed_cleanly and f.streams["sim-emg"].chunk.n > 2000

"""Fixtures for the fault matrix: the emulator built once, devices that fail on cue, and
``wearsense record`` run as the user runs it (a subprocess of this tree)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def board(emulator):
    """Factory: ``board("--clock-jump", "2:-200000")`` starts one emulated board."""
    return lambda *args: emulator(*args, link_name="ttyBOARD")


class Take:
    """``wearsense record`` running in a subprocess of this tree."""

    def __init__(self, uris: list[str], out: Path, duration_s: float, *extra: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        self.out = out
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wearsense", "record", *uris, "-o", str(out),
             "--duration", str(duration_s), "--quiet", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(out.parent),
        )

    def wait_for_file(self, timeout_s: float = 60.0) -> None:
        """Until the recording has started (the file exists): devices are open."""
        deadline = time.monotonic() + timeout_s
        while not self.out.exists():
            assert self.proc.poll() is None, self.finish()
            assert time.monotonic() < deadline, "wearsense record did not start"
            time.sleep(0.05)
        self.t0 = time.monotonic()

    def sleep_until(self, s: float) -> None:
        """Sleep until ``s`` seconds after the recording started (to act mid-take)."""
        time.sleep(max(0.0, self.t0 + s - time.monotonic()))

    def finish(self, timeout_s: float = 120.0) -> subprocess.CompletedProcess:
        out, err = self.proc.communicate(timeout=timeout_s)
        return subprocess.CompletedProcess(self.proc.args, self.proc.returncode, out, err)


@pytest.fixture
def take(tmp_path):
    """Factory: ``take([uri, ...], "a.xdf", 4.0)`` starts ``wearsense record``."""
    made: list[Take] = []

    def start(uris: list[str], name: str, duration_s: float, *extra: str) -> Take:
        t = Take(uris, tmp_path / name, duration_s, *extra)
        made.append(t)
        return t

    yield start
    for t in made:
        if t.proc.poll() is None:
            t.proc.kill()
            t.proc.communicate()

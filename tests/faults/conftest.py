"""Fixtures for the fault matrix: the emulator built once, devices that fail on cue, and
``wearsense record`` run as the user runs it (a subprocess of this tree)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Board:
    """An emulated board on a stable link path; it can be killed and started again (same board)."""

    def __init__(self, binary: Path, tmp: Path, args: list[str]) -> None:
        self.binary, self.args = binary, list(args)
        self.link = tmp / "ttyBOARD"
        self.logs: list[Path] = []
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def uri(self) -> str:
        return f"serial://{self.link}"

    def start(self, *extra: str) -> None:
        log = self.link.with_name(f"board{len(self.logs)}.jsonl")
        self.logs.append(log)
        cmd = [str(self.binary), "--link", str(self.link), "--log", str(log), *self.args, *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PTY "):
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r} {self.proc.stderr.read()}")

    def kill(self) -> None:
        """SIGKILL: the board loses power; its pty vanishes with the process, and so does the
        link to it (as a USB serial node does: left dangling, the link could meet another
        program's pty that reuses the number)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.link.unlink(missing_ok=True)
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.proc = None

    def events(self) -> list[dict]:
        """Every JSON line the board's runs logged, in order."""
        out = []
        for p in self.logs:
            if p.exists():
                out += [json.loads(x) for x in p.read_text().splitlines() if x.strip()]
        return out

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None


@pytest.fixture
def board(emulator_binary, tmp_path):
    """Factory: ``board("--clock-jump", "2:-200000")`` starts one emulated board."""
    made: list[Board] = []

    def start(*args: str) -> Board:
        b = Board(emulator_binary, tmp_path, list(args))
        made.append(b)
        return b

    yield start
    for b in made:
        b.stop()


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

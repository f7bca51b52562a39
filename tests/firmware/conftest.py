"""Fixtures: the C build (made once per session into a temp dir) and emulated wearables on ptys."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware_bridge"

# wave source of the emulator (firmware_bridge/emulator/wsb_emulator.c, wave_value)
EMG_SCALE = np.float32(2.2351741e-8)
IMU_SCALE = np.array([4.7884e-3] * 3 + [6.1035e-2] * 3 + [0.15] * 3, np.float32)


def wave(k: np.ndarray, n_channels: int, amplitude: int) -> np.ndarray:
    """Raw values of the emulator's triangle waves, exactly as the C code computes them."""
    k = np.asarray(k, np.int64)[:, None]
    c = np.arange(n_channels, dtype=np.int64)[None, :]
    p = 40 + 8 * c
    m = (k + 13 * c) % p
    num = amplitude * (4 * np.abs(m - p // 2) - p)
    return (np.sign(num) * (np.abs(num) // p)).astype(np.int32)  # C division truncates


def make(build: Path, *targets: str, sanitize: bool = False) -> subprocess.CompletedProcess:
    if shutil.which("make") is None or shutil.which(os.environ.get("CC", "cc")) is None:
        pytest.fail("the firmware_bridge tests need make and a C compiler (cc); install build-essential")
    cmd = ["make", "-s", "-C", str(FIRMWARE), f"BUILD={build}", *targets]
    if sanitize:
        cmd.append("SANITIZE=1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("wsb-build")
    r = make(build, "all")
    assert r.returncode == 0, r.stdout + r.stderr
    return build


class Emulator:
    """One running emulator: ``uri`` to open, ``log()`` for what it injected."""

    def __init__(self, build: Path, tmp: Path, args: list[str]) -> None:
        self.link = tmp / "ttyEMU"
        self.log_path = tmp / "emulator.jsonl"
        self.proc = subprocess.Popen(
            [str(build / "wsb_emulator"), "--link", str(self.link), "--log", str(self.log_path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith("PTY "):
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r} {self.proc.stderr.read()}")
        self.pty = line.split()[1]

    def uri(self, **params) -> str:
        q = "&".join(f"{k}={v}" for k, v in params.items())
        return f"serial://{self.link}" + (f"?{q}" if q else "")

    def log(self) -> list[dict]:
        return [json.loads(x) for x in self.log_path.read_text().splitlines() if x.strip()]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def emulator(build_dir, tmp_path):
    """Factory: ``emulator("--speed", "5", ...)`` starts one; all are stopped after the test."""
    started: list[Emulator] = []

    def start(*args: str) -> Emulator:
        emu = Emulator(build_dir, tmp_path, list(args))
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


@pytest.fixture(scope="session")
def firmware_dir() -> Path:
    return FIRMWARE


@pytest.fixture(scope="session")
def make_firmware():
    """``make_firmware(build_dir, *targets, sanitize=False)`` runs the firmware_bridge Makefile."""
    return make


@pytest.fixture(scope="session")
def wave_source():
    """The emulator's wave source: ``(raw_values(k, n_channels, amplitude), emg_scale, imu_scale)``."""
    return wave, EMG_SCALE, IMU_SCALE

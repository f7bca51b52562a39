"""Fixtures shared by every test folder: the firmware_bridge C build (made once per test
session into a temp dir) and the rule for a missing toolchain (skip on a laptop, fail in CI)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware_bridge"


def require_toolchain(env: Mapping[str, str] = os.environ, which=shutil.which) -> None:
    """Skip the calling test when ``make`` or the C compiler (``$CC``, default ``cc``) is missing;
    fail instead when ``CI=true``, so that CI can never pass by skipping the C core."""
    missing = [tool for tool in ("make", env.get("CC", "cc")) if which(tool) is None]
    if not missing:
        return
    why = (
        f"the firmware_bridge tests need make and a C compiler; missing: {', '.join(missing)}; "
        "install build-essential (Debian/Ubuntu) or the Xcode command-line tools (macOS)"
    )
    if env.get("CI", "").lower() == "true":
        pytest.fail(f"{why} (CI=true: a missing toolchain fails the run instead of skipping)")
    pytest.skip(why)


def make(build: Path, *targets: str, sanitize: bool = False) -> subprocess.CompletedProcess:
    require_toolchain()
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


@pytest.fixture(scope="session")
def firmware_dir() -> Path:
    return FIRMWARE


@pytest.fixture(scope="session")
def make_firmware():
    """``make_firmware(build_dir, *targets, sanitize=False)`` runs the firmware_bridge Makefile."""
    return make


@pytest.fixture(scope="session")
def toolchain_check():
    """``toolchain_check(env, which)``: the skip-or-fail rule every C-building fixture applies."""
    return require_toolchain


@pytest.fixture(scope="session")
def emulator_binary(build_dir) -> Path:
    """``wsb_emulator``, the board emulator built from firmware_bridge/."""
    return build_dir / "wsb_emulator"

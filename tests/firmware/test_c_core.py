"""The C core's own unit tests, warning-free builds, and the sanitizer build, run from pytest."""

from __future__ import annotations

import json
import subprocess

import pytest

def test_c_unit_tests_pass_and_committed_vectors_match_the_c_core(build_dir, firmware_dir):
    r = subprocess.run([str(build_dir / "test_core"), str(firmware_dir / "vectors" / "vectors.json")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failures" in r.stdout


@pytest.mark.slow
def test_c_core_is_clean_under_address_and_undefined_sanitizers(tmp_path, make_firmware):
    r = make_firmware(tmp_path, "check", sanitize=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 failures" in r.stdout


def test_host_tool_regenerates_exactly_the_committed_vectors(build_dir, firmware_dir):
    out = subprocess.run([str(build_dir / "wsb_tool"), "vectors"], capture_output=True, text=True, check=True)
    assert out.stdout == (firmware_dir / "vectors" / "vectors.json").read_text()
    assert len(json.loads(out.stdout)["vectors"]) >= 20


def test_host_tool_crc_check_value(build_dir):
    out = subprocess.run([str(build_dir / "wsb_tool"), "crc", b"123456789".hex()],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0x29B1"


def test_build_is_warning_free_with_strict_flags(tmp_path, make_firmware):
    r = make_firmware(tmp_path, "all")
    assert r.returncode == 0, r.stderr
    assert "warning" not in (r.stdout + r.stderr).lower()

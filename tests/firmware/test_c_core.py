"""The C core's own unit tests, warning-free builds, and the sanitizer build, run from pytest."""

from __future__ import annotations

import json
import subprocess

import pytest


def test_c_unit_tests_pass_and_committed_vectors_match_the_c_core(build_dir, firmware_dir):
    r = subprocess.run(
        [str(build_dir / "test_core"), str(firmware_dir / "vectors" / "vectors.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
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
    out = subprocess.run(
        [str(build_dir / "wsb_tool"), "crc", b"123456789".hex()], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0x29B1"


def test_build_is_warning_free_with_strict_flags(tmp_path, make_firmware):
    r = make_firmware(tmp_path, "all")
    assert r.returncode == 0, r.stderr
    assert "warning" not in (r.stdout + r.stderr).lower()


def test_esp32_firmware_example_builds_against_stub_hal_and_speaks_the_protocol(build_dir, make_firmware):
    import numpy as np

    from wearsense import bridge as wb

    r = make_firmware(build_dir, "example")
    assert r.returncode == 0, r.stdout + r.stderr
    start = wb.build_frame(wb.T_HELLO_REQ, 0xFF, 1, 0) + wb.build_frame(wb.T_START, 0xFF, 2, 0)
    run = subprocess.run(
        [str(build_dir / "firmware_example")],
        input=start,
        capture_output=True,
        timeout=30,
        env={"WSB_STUB_RUN_MS": "400"},
        check=False,
    )
    dec = wb.FrameDecoder()
    batch = dec.feed(run.stdout)
    assert dec.frames_bad == 0
    hello = [
        wb.parse_hello_stream(batch.payload(i))
        for i in np.flatnonzero((batch.type == wb.T_HELLO) & (batch.stream != 0xFF))
    ]
    assert [h["name"] for h in hello[:2]] == ["emg", "imu0"] and hello[0]["rate_hz"] == 2000.0
    acks = [wb.parse_ack(batch.payload(i)) for i in np.flatnonzero(batch.type == wb.T_ACK)]
    assert acks[0] == {"command": wb.T_START, "status": 0, "command_seq": 2}
    emg = wb.decode_samples(
        batch.select((batch.type == wb.T_DATA) & (batch.stream == 0)), wb.StreamLayout(0, wb.FMT_INT24, 8)
    )
    assert emg.raw.shape[0] >= 100
    np.testing.assert_array_equal(emg.seq, np.arange(emg.seq.size))
    # the stub ADS1299 counts samples: channel c holds sample * (c + 1), wrapped to int16 range
    first = emg.raw[0, 0] + 32768
    k = first + np.arange(emg.raw.shape[0])[:, None]
    np.testing.assert_array_equal(emg.raw, (k * np.arange(1, 9)) % 65536 - 32768)
    imu = wb.decode_samples(
        batch.select((batch.type == wb.T_DATA) & (batch.stream == 1)), wb.StreamLayout(1, wb.FMT_INT16, 6)
    )
    assert imu.raw.shape[0] >= 10 and (imu.raw[:, 2] == 2048).all()

"""The emulated board keeps PROTOCOL.md's boot-id rule, unless told to break it."""

from __future__ import annotations

import json
import subprocess


def boot_ids(binary, tmp_path, *args: str) -> list[int]:
    log = tmp_path / "boot.jsonl"
    cmd = [str(binary), "--log", str(log), "--exit-after", "0.2", *args]
    subprocess.run(cmd, capture_output=True, check=True, timeout=30)
    return [e["boot_id"] for e in map(json.loads, log.read_text().splitlines()) if e["event"] == "boot"]


def test_a_restarted_emulator_is_a_new_boot(emulator_binary, tmp_path):
    first = boot_ids(emulator_binary, tmp_path, "--seed", "3")
    again = boot_ids(emulator_binary, tmp_path, "--seed", "3")
    assert len(first) == len(again) == 1
    assert first != again


def test_boot_id_option_pins_the_id_at_every_boot(emulator_binary, tmp_path):
    # --reset-at needs START; --autostart streams at once, the reset reboots with the same id
    ids = boot_ids(emulator_binary, tmp_path, "--boot-id", "0x1234", "--autostart", "--reset-at", "0.05")
    assert ids == [0x1234, 0x1234]


def test_a_reset_gets_a_new_boot_id(emulator_binary, tmp_path):
    ids = boot_ids(emulator_binary, tmp_path, "--autostart", "--reset-at", "0.05")
    assert len(ids) == 2 and ids[0] != ids[1]


def test_a_bad_boot_id_is_refused(emulator_binary):
    cmd = [str(emulator_binary), "--boot-id", "0x1ffffffff"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    assert r.returncode == 2 and "32-bit" in r.stderr

"""The fault matrix: what one device does mid-take never ends the recording, and the file says what.

Each case records a few seconds through ``wearsense record`` (a subprocess, as a user
runs it; the BLE case through :class:`wearsense.recording.Recording`, with bleak
replaced by a test double), injects one fault, and checks: the exit status, every
sample before and after the fault (by sequence numbers), what the file's
``wearsense-events`` stream says, that pyxdf reads every sample, and that
``wearsense info`` lists the events. With ``WEARSENSE_FAULT_TABLE=rows.jsonl`` each
case appends its row (docs/recording.md, "Faults during a session", shows the table).
"""

from __future__ import annotations

import asyncio
import json
import os
import struct
import threading
import time

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ble_double import Peripheral, Radio

from wearsense.io.xdf import load

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SERIAL_STREAMS = ("EMU-9CB46B5D-emg", "EMU-9CB46B5D-imu0")  # the emulator's serial with --seed 1


def run_wearsense(*args: str) -> subprocess.CompletedProcess:
    """``python -m wearsense ARGS`` on this tree."""
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    return subprocess.run([sys.executable, "-m", "wearsense", *args], capture_output=True, text=True, env=env,
                          timeout=300, check=False)


def kept(path, stream: str, at_seq: int | None) -> tuple[int, int, int]:
    """(samples before, samples after the fault's first sequence number, samples lost) of a stream."""
    s = load(path).streams[stream]
    seq = s.chunk.seq
    if at_seq is None:
        return int(seq.size), 0, s.lost
    return int((seq < at_seq).sum()), int((seq >= at_seq).sum()), s.lost


def pyxdf_counts(path) -> dict[str, int]:
    """Samples per stream as pyxdf reads them (clock sync on), after checking its times increase."""
    pyxdf = pytest.importorskip("pyxdf")
    streams, _ = pyxdf.load_xdf(str(path), dejitter_timestamps=False)
    out = {}
    for s in streams:
        name = s["info"]["name"][0]
        ts = np.asarray(s["time_stamps"])
        if name == "wearsense-events":
            assert (np.diff(ts) >= 0).all(), "pyxdf: the events go back in time"
        if name not in ("wearsense-seq", "wearsense-events") and ts.size > 1:
            assert (np.diff(ts) >= 0).all(), f"pyxdf: {name} goes back in time"
            assert len(s["info"]["clock_segments"]) == 1, f"pyxdf split {name}'s clock"
        out[name] = ts.size
    return out


def info_events(path) -> str:
    r = run_wearsense("info", str(path), "--no-sync")
    assert r.returncode == 0, r.stderr
    return r.stdout[r.stdout.index("events during the take"):] if "events during the take" in r.stdout else ""


def table_row(case: str, rc: int, before: int, after: int, lost: int, events: list[dict],
              note: str = "") -> None:
    path = os.environ.get("WEARSENSE_FAULT_TABLE")
    if path:
        kinds: dict[str, int] = {}
        for e in events:
            kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        row = dict(case=case, rc=rc, before=before, after=after, lost=lost, events=kinds, note=note)
        with open(path, "a") as f:
            f.write(json.dumps(row) + "\n")


def segments(path, stream: str) -> list[dict]:
    return [e for e in load(path).events if e["kind"] == "clock_segment" and e["stream"] == stream]


# --------------------------------------------------------------------------- serial clock faults
@pytest.mark.parametrize("case, args, step_s", [
    ("clock 200 ms back", ["--clock-jump", "1.5:-200000"], -0.2),
    ("clock 50 ms forward", ["--clock-jump", "1.5:50000"], 0.05),
])
def test_a_clock_jump_is_a_new_segment_and_the_take_goes_on(board, take, case, args, step_s):
    b = board("--imus", "1", *args)
    tk = take([b.uri()], "jump.xdf", 4.0)
    r = tk.finish()
    assert r.returncode == 0, r.stderr
    for name in SERIAL_STREAMS:
        (seg,) = segments(tk.out, name)
        assert seg["step_s"] == pytest.approx(step_s, abs=2e-6) and seg["reason"] == "clock_jump"
        before, after, lost = kept(tk.out, name, seg["seq"])
        assert before > 0 and after > 0 and lost == 0
        c = load(tk.out).streams[name].chunk
        rate = load(tk.out).streams[name].info.rate_hz
        np.testing.assert_allclose(np.diff(c.t), 1 / rate, atol=2e-6)  # the jump is taken off
        assert pyxdf_counts(tk.out)[name] == before + after
    assert "clock_segment" in info_events(tk.out)
    before, after, lost = kept(tk.out, SERIAL_STREAMS[0], segments(tk.out, SERIAL_STREAMS[0])[0]["seq"])
    table_row(f"serial: {case}", r.returncode, before, after, lost, list(load(tk.out).events))


@pytest.mark.parametrize("case, args", [
    ("reboot, new boot id", ["--reset-at", "1.5"]),
    ("reboot, same boot id", ["--boot-id", "7", "--reset-at", "1.5"]),
])
def test_a_reboot_is_a_new_segment_and_the_take_goes_on(board, take, case, args):
    b = board("--imus", "1", *args)
    tk = take([b.uri()], "reboot.xdf", 4.0)
    r = tk.finish()
    assert r.returncode == 0, r.stderr
    f = load(tk.out)
    assert [e["kind"] for e in f.events].count("reset") == 1
    for name in SERIAL_STREAMS:
        (seg,) = segments(tk.out, name)
        before, after, lost = kept(tk.out, name, seg["seq"])
        assert before > 0 and after > 0
        c = f.streams[name].chunk
        assert (np.diff(c.t) > 0).all() and (np.diff(c.seq) >= 1).all()
        assert pyxdf_counts(tk.out)[name] == before + after
    assert "reset" in info_events(tk.out)
    before, after, lost = kept(tk.out, SERIAL_STREAMS[0], segments(tk.out, SERIAL_STREAMS[0])[0]["seq"])
    table_row(f"serial: {case}", r.returncode, before, after, lost, list(f.events),
              "the frame in flight at the reset is cut (counted corrupt)")


def test_unplug_and_replug_is_a_gap_counted_exactly(board, take):
    b = board("--imus", "1", "--unplug-at", "1.5", "--unplug-for", "0.5")
    tk = take([b.uri()], "unplug.xdf", 4.0)
    r = tk.finish()
    assert r.returncode == 0, r.stderr
    f = load(tk.out)
    kinds = [e["kind"] for e in f.events]
    assert kinds.count("disconnect") == 1 and kinds.count("reconnect") == 1
    unplugged = [e for e in b.log() if e["event"] == "unplugged"]
    for sid, name in enumerate(SERIAL_STREAMS):
        gone = sum(e["n"] for e in unplugged if e["stream"] == sid)
        assert f.streams[name].lost == gone > 0
        assert pyxdf_counts(tk.out)[name] == f.streams[name].chunk.n
    seq = f.streams[SERIAL_STREAMS[0]].chunk.seq
    at = int(seq[np.argmax(np.diff(seq) > 1) + 1])
    before, after, lost = kept(tk.out, SERIAL_STREAMS[0], at)
    assert "disconnect" in info_events(tk.out)
    table_row("serial: unplug 0.5 s, replug", r.returncode, before, after, lost, list(f.events),
              "lost = what the board logged as unplugged")


@pytest.mark.parametrize("case, boot", [("kill -9, restart, same boot id", ["--boot-id", "7"]),
                                        ("kill -9, restart, new boot id", [])])
def test_a_board_killed_and_restarted_continues_as_a_new_segment(board, take, case, boot):
    b = board("--imus", "1", *boot)
    tk = take([b.uri()], "restart.xdf", 5.0)
    tk.wait_for_file()
    tk.sleep_until(1.5)
    b.kill()
    time.sleep(0.5)
    b.start()
    r = tk.finish()
    assert r.returncode == 0, r.stderr
    f = load(tk.out)
    kinds = [e["kind"] for e in f.events]
    assert "disconnect" in kinds and "reconnect" in kinds and kinds.count("reset") == 1
    for name in SERIAL_STREAMS:
        (seg,) = segments(tk.out, name)
        before, after, lost = kept(tk.out, name, seg["seq"])
        assert before > 0 and after > 0
        assert (np.diff(f.streams[name].chunk.t) > 0).all()
        assert pyxdf_counts(tk.out)[name] == before + after
    assert "reset" in info_events(tk.out)
    before, after, lost = kept(tk.out, SERIAL_STREAMS[0], segments(tk.out, SERIAL_STREAMS[0])[0]["seq"])
    table_row(f"serial: {case}", r.returncode, before, after, lost, list(f.events),
              "samples while the board was dead were never made")


# --------------------------------------------------------------------------- a device that fails
def test_a_failing_device_leaves_the_others_recording_and_the_file_says_so(board, take):
    b = board("--imus", "1")
    # 1 s of reopening after the kill at 1.5 s: the take is long enough for the failure on a busy machine
    tk = take(["sim://mover?emg=2&imu=1", b.uri(reconnect_timeout_s=1)], "two.xdf", 7.0)
    tk.wait_for_file()
    tk.sleep_until(1.5)
    b.kill()
    r = tk.finish()
    assert r.returncode == 1, r.stderr  # an incomplete take
    assert "incomplete: serial://" in r.stderr
    f = load(tk.out)
    failures = [e for e in f.events if e["kind"] == "device_failed"]
    assert len(failures) == 1, (r.stderr, f.events)
    (failed,) = failures
    assert failed["device"].startswith("serial://") and failed["stage"] == "stream"
    assert "did not come back within 1 s" in failed["reason"]
    sim = f.streams["sim-emg"]
    assert sim.chunk.duration_s > 6.5 and sim.lost == 0  # the sim kept going to the end
    serial = f.streams[SERIAL_STREAMS[0]]
    assert serial.chunk.n > 0
    assert failed["host_s"] > serial.received_s[-1]  # the failure is after its last data
    assert "device_failed" in info_events(tk.out)
    table_row("sim + serial board killed (no restart)", r.returncode, serial.chunk.n, sim.chunk.n,
              serial.lost,
              list(f.events), "before = serial samples, after = sim samples (it kept going)")


def test_an_lsl_sender_that_vanishes_is_reported_silent(take):
    pylsl = pytest.importorskip("pylsl")
    name = f"faults-src-{os.getpid()}"
    info = pylsl.StreamInfo(name, "EMG", 2, 100.0, pylsl.cf_float32, name)
    sender = {"outlet": pylsl.StreamOutlet(info)}
    stop = threading.Event()
    pushed = [0]

    def push() -> None:
        while not stop.is_set():
            sender["outlet"].push_chunk([[float(pushed[0] + i), 0.0] for i in range(5)])
            pushed[0] += 5
            time.sleep(0.05)

    th = threading.Thread(target=push, daemon=True)
    th.start()
    try:
        tk = take([f"lsl://name={name}?timeout_s=20", "sim://mover?emg=2&imu=1"], "lsl.xdf", 6.0)
        tk.wait_for_file()
        tk.sleep_until(2.0)
    finally:
        stop.set()
        th.join()
        sender.clear()  # the outlet is destroyed: the sender is gone
    r = tk.finish()
    assert r.returncode == 1, r.stderr  # silent at the end: incomplete
    f = load(tk.out)
    silent = [e for e in f.events if e["kind"] == "device_silent"]
    assert len(silent) == 1 and silent[0]["device"].startswith("lsl://")
    lsl = f.streams[name]
    assert 0 < lsl.chunk.n <= pushed[0] and lsl.lost == 0
    np.testing.assert_array_equal(np.diff(lsl.chunk.data[:, 0]), 1.0)  # nothing dropped in between
    assert f.streams["sim-emg"].chunk.duration_s > 5.5
    assert pyxdf_counts(tk.out)[name] == lsl.chunk.n
    assert "device_silent" in info_events(tk.out)
    table_row("LSL sender vanishes (+ sim)", r.returncode, lsl.chunk.n, f.streams["sim-emg"].chunk.n,
              lsl.lost,
              list(f.events), "before = LSL samples received (no gap), after = sim samples")


# --------------------------------------------------------------------------- BLE (bleak replaced)
MYO = "D2:3A:10:20:30:40"


def test_a_ble_link_that_drops_and_returns_is_a_gap_with_events(tmp_path):
    from wearsense.devices.ble_myo import EMG_CHARACTERISTICS, FIRMWARE_CHARACTERISTIC, MyoDevice
    from wearsense.recording import Recording

    p = Peripheral(MYO, "Myo", {FIRMWARE_CHARACTERISTIC: struct.pack("<4H", 1, 5, 1970, 2)})
    dev = Radio(p).device(MyoDevice, f"ble://myo/{MYO}?imu=0&backoff_s=0.05&backoff_max_s=0.1")
    sent = [0]

    async def main():
        rec = Recording([dev, "sim://mover?emg=2&imu=1"], tmp_path / "ble.xdf", duration_s=3.0)

        async def air() -> None:  # 200 Hz: two samples per notification, 100 per second
            k = 0
            t_drop = time.monotonic() + 1.0
            while True:
                payload = bytes(np.arange(16, dtype=np.int8) + np.int8(k % 100))
                if p.offer(EMG_CHARACTERISTICS[k % 4], payload):
                    k += 1
                    sent[0] += 2
                if t_drop and time.monotonic() > t_drop:
                    p.drop()
                    t_drop = 0
                await asyncio.sleep(0.01)

        async with rec:
            task = asyncio.create_task(air())
            try:
                return await rec.run()
            finally:
                task.cancel()

    result = asyncio.run(main())
    assert result.complete
    f = load(tmp_path / "ble.xdf")
    kinds = [e["kind"] for e in f.events]
    assert kinds.count("disconnect") == 1 and kinds.count("reconnect") == 1
    emg = f.streams["myo-emg"]
    seq = emg.chunk.seq
    at = int(seq[np.argmax(np.diff(seq) > 1) + 1])
    before, after, lost = kept(tmp_path / "ble.xdf", "myo-emg", at)
    assert before > 0 and after > 0 and lost > 0  # the time without a link is a seq gap
    assert before + after <= sent[0]
    assert f.streams["sim-emg"].chunk.duration_s > 2.5
    assert pyxdf_counts(tmp_path / "ble.xdf")["myo-emg"] == emg.chunk.n
    assert "reconnect" in info_events(tmp_path / "ble.xdf")
    table_row("BLE link drops, comes back (+ sim)", 0 if result.complete else 1, before, after, lost,
              list(f.events), "through Recording (bleak replaced by a double); lost = the gap by the host "
              "clock")



"""Recording several devices: merged as they arrive, one failure does not stop the rest."""

import asyncio
import os
import threading
import time

import numpy as np
import pylsl
import pytest
import pyxdf

from wearsense.cli import main
from wearsense.devices import Device
from wearsense.errors import DeviceError
from wearsense.io.xdf import Recorder, RecorderSettings, load
from wearsense.recording import DeviceStatus, Recording
from wearsense.stream import Chunk, StreamInfo

pytestmark = pytest.mark.timeout(60)
TAG = f"wss{os.getpid()}"


class PoseSender:
    """A mocap system on LSL: 2 joints x xyz at 60 Hz, pushed from a thread."""

    def __init__(self, name: str) -> None:
        info = pylsl.StreamInfo(name, "MoCap", 6, 60.0, pylsl.cf_float32, f"{name}-src")
        chans = info.desc().append_child("channels")
        for j in ("wrist", "elbow"):
            for a in "xyz":
                ch = chans.append_child("channel")
                ch.append_child_value("label", f"{j}_{a}")
                ch.append_child_value("unit", "m")
        self.outlet = pylsl.StreamOutlet(info)
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        rng = np.random.default_rng(0)
        while not self.stop.wait(1 / 60):
            self.outlet.push_sample(rng.normal(size=6).astype(np.float32).tolist(), pylsl.local_clock())
            self.sent += 1

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


class Scripted(Device):
    """A test-double device: one stream at 100 Hz, ``n_chunks`` chunks of 5 samples, the first
    after ``first_gap_s``, the others ``gap_s`` apart; then it ends, or raises ``error``.
    Chunk ``odd_chunk`` has one channel more than the stream declares."""

    scheme = "scripted"
    name, channels, clock = "scripted", ("a",), ""
    n_chunks, first_gap_s, gap_s = 2, 0.01, 0.01
    error, odd_chunk = "", -1

    async def _open(self) -> None:
        self.streams = (StreamInfo(self.name, "EMG", self.channels, "V", 100.0),)

    async def _close(self) -> None:
        pass

    async def _chunks(self):
        info = self.streams[0]
        for k in range(self.n_chunks):
            await asyncio.sleep(self.first_gap_s if k == 0 else self.gap_s)
            data = np.zeros((5, info.n_channels + (k == self.odd_chunk)))
            yield info, Chunk(data, (np.arange(5) + 5 * k) / 100, 5 * k, self.clock or f"device:{self.name}")
        if self.error:
            raise DeviceError(self.error, self.uri.raw)


class FailsAfterTwoChunks(Scripted):
    name, error = "flaky", "flaky: cable pulled"


class FirstChunkLate(Scripted):
    """Its first chunk comes 1.5 s after opening (a decoder still compiling, a slow link)."""

    name, clock, n_chunks, first_gap_s = "late-imu", "device:late:42", 3, 1.5


class ChangesShape(Scripted):
    name, channels, n_chunks, odd_chunk = "shifty", ("a", "b"), 5, 2


class Slow(Scripted):
    """Eight chunks 0.1 s apart: a take that lasts longer than the status interval."""

    name, n_chunks, gap_s = "slow", 8, 0.1


@pytest.mark.slow
def test_sim_brainflow_and_lsl_pose_recorded_to_one_xdf(tmp_path):
    sender = PoseSender(f"{TAG}-mocap")
    path = tmp_path / "session.xdf"
    uris = ["sim://mover?seed=2&emg=2&imu=1&pose=0", "brainflow://synthetic", f"lsl://name={TAG}-mocap?type=MoCap&timeout_s=10"]

    async def main():
        async with Recording(uris) as s:
            assert s.status == [DeviceStatus.OPEN] * 3 and not s.failures
            names = [i.name for i in s.streams]
            assert {"sim-emg", "sim-imu0", "bf-synthetic-emg", "bf-synthetic-imu", f"{TAG}-mocap"} <= set(
                names
            )
            with Recorder(path, s.streams, RecorderSettings(expected_duration_s=5)) as rec:
                seen: set[str] = set()
                t_end = time.monotonic() + 2.0
                async for info, chunk in s:
                    rec.write(info, chunk)
                    seen.add(info.name)
                    if time.monotonic() > t_end and len(seen) == len(names):
                        break
                return rec.state, names

    try:
        state, names = asyncio.run(main())
    finally:
        sender.close()
    counts = {st.name: st.samples for st in state.streams}
    f = load(path)
    assert f.closed_cleanly
    streams = f.as_streams()
    for name in names:
        info, chunk = streams[name]
        assert chunk.n == counts[name] > 0
    pose_info, pose = streams[f"{TAG}-mocap"]
    assert (
        pose_info.channels[0] == "wrist_x"
        and pose_info.modality.value == "POSE"
        and pose.clock == f"lsl:{TAG}-mocap-src"
    )
    assert streams["bf-synthetic-emg"][1].clock == "host:unix" and streams["sim-emg"][1].clock.startswith(
        "device:"
    )
    # a stock XDF reader opens it too
    data, _ = pyxdf.load_xdf(str(path), synchronize_clocks=False, dejitter_timestamps=False)
    assert {d["info"]["name"][0] for d in data} >= set(names)


def test_one_failed_device_is_reported_and_the_others_go_on():
    reported = []
    flaky = FailsAfterTwoChunks("failing://x")
    uris = ["sim://mover?seed=1&emg=1&imu=0&pose=0&realtime=0&duration_s=1", "brainflow://cyton?serial_port=/dev/ttyWS_NONE",
            f"lsl://name={TAG}-absent?timeout_s=0.2", "nosuch://x", flaky]

    async def main():
        async with Recording(uris, on_failure=reported.append) as s:
            assert [st.value for st in s.status] == ["open", "failed", "failed", "failed", "open"]
            got: dict[str, int] = {}
            async for info, chunk in s:
                got[info.name] = got.get(info.name, 0) + chunk.n
            assert s.status[0] is DeviceStatus.ENDED and s.status[4] is DeviceStatus.FAILED
            return got, s

    got, session = asyncio.run(main())
    assert got["flaky"] == 10 and got["sim-emg"] == 2000  # the whole simulated second despite the failures
    assert session.status[0] is DeviceStatus.CLOSED and len(session.failures) == 4
    stages = sorted((f.uri.split(":")[0], f.stage) for f in reported)
    assert stages == [("brainflow", "open"), ("failing", "stream"), ("lsl", "open"), ("nosuch", "open")]
    why = {f.uri.split(":")[0]: str(f) for f in reported}
    assert "UNABLE_TO_OPEN_PORT_ERROR" in why["brainflow"] and "cable pulled" in why["failing"]


def test_duplicate_stream_names_are_made_unique():
    async def main():
        uris = ["sim://mover?seed=1&emg=1&imu=0&pose=0&realtime=0&duration_s=0.2"] * 2
        async with Recording(uris) as s:
            assert [i.name for i in s.streams] == ["sim-emg", "sim-emg@2"]
            assert s.origin["sim-emg@2"] == (1, "sim-emg")
            names = {info.name async for info, _ in s}
        return names

    assert asyncio.run(main()) == {"sim-emg", "sim-emg@2"}


def test_session_with_no_device_that_opens_lists_every_failure():
    async def main():
        async with Recording(["nosuch://a", f"lsl://name={TAG}-none?timeout_s=0.2"]):
            pass

    with pytest.raises(
        DeviceError,
        match=r"no device could be opened:\n  nosuch://a failed to open: unknown device scheme.*\n  lsl://",
    ):
        asyncio.run(main())


@pytest.fixture
def test_schemes(monkeypatch):
    from wearsense.devices import registry

    monkeypatch.setitem(registry._RUNTIME, "failing", FailsAfterTwoChunks)
    monkeypatch.setitem(registry._RUNTIME, "late", FirstChunkLate)


SIM_1S = "sim://mover?seed=1&emg=1&imu=0&pose=0&realtime=0&duration_s=1"


def test_record_command_keeps_recording_when_one_device_fails_and_exits_1(tmp_path, capsys, test_schemes):
    out = tmp_path / "two.xdf"
    rc = main(["record", SIM_1S, "failing://x", "-o", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "incomplete: failing://x failed to stream: flaky: cable pulled" in err and "Traceback" not in err
    f = load(out)
    assert f.closed_cleanly and f.streams["sim-emg"].chunk.n == 2000 and f.streams["flaky"].chunk.n == 10


def test_a_device_whose_first_chunk_comes_late_is_recorded_whole(tmp_path, capsys, test_schemes):
    out = tmp_path / "late.xdf"
    assert main(["record", SIM_1S, "late://x", "-o", str(out), "--quiet"]) == 0, capsys.readouterr().err
    f = load(out)
    late = f.streams["late-imu"].chunk
    assert late.n == 15 and late.clock == "device:late:42" and f.streams["sim-emg"].chunk.n == 2000


def test_record_command_prints_the_recorded_span_not_the_wall_time(tmp_path, capsys):
    sim_3s = SIM_1S.replace("duration_s=1", "duration_s=3")
    assert main(["record", sim_3s, "-o", str(tmp_path / "fast.xdf"), "--quiet"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "3.0 s of signal" in first, first


def test_a_chunk_the_file_cannot_take_fails_its_device_only(tmp_path):
    out = tmp_path / "shape.xdf"
    result = asyncio.run(Recording([SIM_1S, ChangesShape("shapeshift://x")], out).run())
    assert not result.complete
    assert [(f.uri, f.stage) for f in result.failures] == [("shapeshift://x", "stream")]
    assert "has 2 channels, chunk has 3" in result.failures[0].reason
    f = load(out)
    assert f.closed_cleanly and f.streams["shifty"].chunk.n == 10 and f.streams["sim-emg"].chunk.n == 2000


def test_run_without_a_status_callback_records_a_take_longer_than_the_status_interval(tmp_path):
    # run() once waited with a zero timeout after the first status interval and never read again
    result = asyncio.run(Recording([Slow("slow://x")], tmp_path / "slow.xdf").run())
    assert result.complete and load(tmp_path / "slow.xdf").streams["slow"].chunk.n == 40


def test_record_command_refuses_a_duration_that_is_not_positive(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["record", SIM_1S, "-o", str(tmp_path / "x.xdf"), "--duration", "-1"])
    assert e.value.code == 2 and "--duration: must be a number of seconds > 0" in capsys.readouterr().err
    assert not (tmp_path / "x.xdf").exists()

"""serial:// against the emulated wearable on a pseudo-terminal (the real C encoder).

The emulator runs device time faster than the wall clock (--speed), streams a known
source, and logs every fault it injects and every frame it loses, so each test can
account for every sample.
"""

from __future__ import annotations

import asyncio
import os
import time

import numpy as np
import pytest

from wearsense.devices import open_device
from wearsense.errors import DeviceError, DeviceURIError
from wearsense.stream import concat

pytestmark = pytest.mark.timeout(120)


async def collect(
    uri: str,
    until_idle_s: float = 0.8,
    limit_s: float = 60.0,
    on_open=None,
    first_s: float = 30.0,
    until=None,
):
    """Read the device until it has gone quiet; returns (device, {name: [chunks]}).

    Quiet means no chunk for ``until_idle_s`` once data has flowed. The first chunk may
    take seconds on a loaded machine (or while the decoder's kernels compile on first
    use), so waiting for it is bounded by ``first_s`` instead. With ``until(dev, got)``,
    reading goes on until it holds (bounded by ``limit_s``) whatever the pauses, and
    then until quiet, so that a surplus would still be seen.
    """
    got: dict[str, list] = {}
    dev = open_device(uri)
    async with dev:
        if on_open is not None:
            await on_open(dev)
        it = dev.__aiter__()
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            waiting = until is not None and not until(dev, got)
            wait_s = deadline - time.monotonic() if waiting else (until_idle_s if got else first_s)
            try:
                info, chunk = await asyncio.wait_for(it.__anext__(), max(wait_s, 0.001))
            except asyncio.TimeoutError:
                if waiting:
                    continue
                break
            except StopAsyncIteration:
                break
            got.setdefault(info.name, []).append(chunk)
        await it.aclose()
    return dev, got


def every_stream_has(seconds: float):
    """``until`` for :func:`collect`: each stream delivered ``seconds`` x its rate samples."""

    def done(dev, got) -> bool:
        return all(sum(c.n for c in got.get(s.name, [])) >= int(seconds * s.rate_hz) for s in dev.streams)

    return done


def by_id(dev, got):
    return {s.metadata["stream_id"]: (s, got.get(s.name, [])) for s in dev.streams}


def seqs(chunks) -> np.ndarray:
    return np.concatenate([c.seq for c in chunks]) if chunks else np.zeros(0, np.int64)


def test_streams_10_s_with_every_sample_value_and_timestamp_right(emulator, wave_source):
    wave, emg_scale, imu_scale = wave_source
    emu = emulator("--speed", "8", "--duration", "10", "--emg-channels", "8", "--imus", "2")
    dev, got = asyncio.run(collect(emu.uri(sync_interval_s=0.25), until=every_stream_has(10)))
    streams = by_id(dev, got)
    assert [s.rate_hz for s, _ in streams.values()] == [2000.0, 200.0, 200.0]
    assert dev.state.corrupt_frames == 0 and dev.state.status["overruns"] == 0
    firsts = []
    for info, chunks in streams.values():
        c = concat(chunks)
        n = int(10 * info.rate_hz)
        assert c.n == n, info.name
        np.testing.assert_array_equal(c.seq, np.arange(n))
        period = 1.0 / info.rate_hz
        np.testing.assert_allclose(c.t - c.t[0], np.arange(n) * period, rtol=0, atol=1e-9)
        assert c.clock == f"device:{dev.device_info['serial']}"
        amplitude, scale = (100000, emg_scale) if info.modality.value == "EMG" else (10000, imu_scale)
        np.testing.assert_array_equal(
            c.data, wave(np.arange(n), info.n_channels, amplitude).astype(np.float32) * scale
        )
        firsts.append(c.t[0])
        assert dev.state.lost_samples[info.name] == 0 and dev.state.clock_jumps[info.name] == 0
    assert max(firsts) - min(firsts) < 1e-9  # all streams started by the same START
    # TIME_SYNC triples: host_send <= host_recv, device time between the stream's bounds
    ts = np.array(dev.state.time_sync)
    assert len(ts) >= 3
    assert (ts[:, 0] <= ts[:, 2]).all() and (np.diff(ts[:, 1]) > 0).all()


def test_hello_describes_the_streams(emulator):
    emu = emulator("--emg-channels", "16", "--imus", "4", "--emg-rate", "1000")
    dev, _ = asyncio.run(collect(emu.uri(start=0), first_s=0.1))  # start=0: no data comes
    emg = dev.streams[0]
    assert (emg.modality.value, emg.n_channels, emg.rate_hz) == ("EMG", 16, 1000.0)
    assert emg.metadata["format"] == "int24" and emg.metadata["firmware"] == "1.2.0"
    assert [s.modality.value for s in dev.streams[1:]] == ["IMU"] * 4
    assert dev.streams[1].channels[:3] == ("acc_x", "acc_y", "acc_z") and dev.streams[1].units[3] == "deg/s"
    assert dev.device_info["name"] == "wearsense-emulator"


def test_injected_corruption_is_counted_and_no_good_frame_is_lost(emulator):
    emu = emulator(
        "--speed",
        "8",
        "--duration",
        "10",
        "--seed",
        "5",
        "--bitflip",
        "0.01",
        "--dropbyte",
        "0.01",
        "--truncate",
        "0.01",
    )
    dev, got = asyncio.run(collect(emu.uri(sync_interval_s=0)))
    faults = [e for e in emu.log() if e["event"] in ("bitflip", "dropbyte", "truncate")]
    assert len(faults) > 30
    assert dev.state.corrupt_frames == len(faults)
    for sid, (info, chunks) in by_id(dev, got).items():
        n = int(10 * info.rate_hz)
        bad = np.zeros(n, bool)
        for f in faults:
            if f["stream"] == sid:
                bad[f["seq"] : f["seq"] + f["n"]] = True
        np.testing.assert_array_equal(seqs(chunks), np.flatnonzero(~bad), err_msg=info.name)
        received_last = seqs(chunks)[-1]
        assert dev.state.lost_samples[info.name] == int(bad[:received_last].sum())


def test_clock_jumps_are_counted_and_start_clock_segments(emulator):
    emu = emulator("--speed", "8", "--duration", "6", "--clock-jump", "2:250000", "--clock-jump", "4:-400000")
    dev, got = asyncio.run(collect(emu.uri(sync_interval_s=0), until=every_stream_has(6)))
    events = [e for e in dev.take_events() if e.kind == "clock_segment"]
    for info, chunks in by_id(dev, got).values():
        assert dev.state.clock_jumps[info.name] == 2, info.name
        seq = seqs(chunks)
        t = np.concatenate([c.t for c in chunks])
        np.testing.assert_array_equal(seq, np.arange(int(6 * info.rate_hz)))
        # t continues by the sampling clock across both jumps (docs: "Faults during a session")
        np.testing.assert_allclose(np.diff(t), 1.0 / info.rate_hz, atol=2e-6)
        mine = [e for e in events if e.stream == info.name]
        np.testing.assert_allclose([e.detail["step_s"] for e in mine], [0.25, -0.4], atol=2e-6)
        np.testing.assert_allclose([e.detail["offset_s"] for e in mine], [-0.25, 0.15], atol=2e-6)
        # the device's own reading is t - offset_s: the jumps are there, with the size injected
        at = [int(np.searchsorted(seq, e.detail["seq"])) for e in mine]
        assert [t[i] for i in at] == pytest.approx([e.t for e in mine], abs=1e-9)


def test_device_reset_mid_stream_is_survived(emulator):
    emu = emulator("--speed", "8", "--duration", "4", "--reset-at", "2")
    dev, got = asyncio.run(collect(emu.uri(sync_interval_s=0)))
    assert dev.state.resets == 1
    assert dev.state.corrupt_frames == 1  # the frame cut by the reset
    assert len(dev.state.epochs) == 2
    for info, chunks in by_id(dev, got).values():
        c = concat(chunks)  # t and seq stay monotonic across the reset
        before = int(2 * info.rate_hz)
        assert c.n >= before + int(4 * info.rate_hz) - int(0.05 * info.rate_hz)
        assert np.all(np.diff(c.seq) >= 1)


def test_reconnects_when_the_port_disappears_and_the_gap_is_a_seq_gap(emulator):
    emu = emulator("--speed", "4", "--duration", "6", "--unplug-at", "2", "--unplug-for", "0.4")
    dev, got = asyncio.run(collect(emu.uri(sync_interval_s=0, reconnect_timeout_s=5), until_idle_s=1.5))
    assert dev.state.disconnects == 1 and dev.state.reconnects == 1
    lost = [e for e in emu.log() if e["event"] == "unplugged"]
    assert lost, "the emulator lost no frame while unplugged"
    for sid, (info, chunks) in by_id(dev, got).items():
        n = int(6 * info.rate_hz)
        gone = np.zeros(n, bool)
        for f in lost:
            if f["stream"] == sid:
                gone[f["seq"] : f["seq"] + f["n"]] = True
        np.testing.assert_array_equal(seqs(chunks), np.flatnonzero(~gone), err_msg=info.name)
        assert dev.state.lost_samples[info.name] == int(gone.sum())


def test_port_that_never_comes_back_ends_the_stream_with_a_clear_error(emulator):
    emu = emulator("--speed", "4", "--unplug-at", "0.5", "--unplug-for", "30")

    async def run():
        async with open_device(emu.uri(sync_interval_s=0, reconnect_timeout_s=0.3)) as dev:
            async for _ in dev:
                pass

    with pytest.raises(DeviceError, match="disappeared .* did not come back within 0.3 s"):
        asyncio.run(run())


def test_set_rate_is_honoured(emulator):
    emu = emulator("--speed", "8", "--duration", "2")

    async def change(dev):
        info = await dev.set_rate(dev.streams[0].name, 1000.0)
        assert info.rate_hz == 1000.0

    dev, got = asyncio.run(collect(emu.uri(sync_interval_s=0), on_open=change))
    emg = dev.streams[0]
    c = concat(got[emg.name])
    tail = c[c.n // 2 :]
    np.testing.assert_allclose(np.diff(tail.t), 1e-3, atol=1e-9)


def test_sim_recording_played_by_the_emulator_arrives_exactly(emulator, wsraw, tmp_path):
    from wearsense import sim

    rec = sim.generate(seed=2, duration_s=3.0)
    streams = {k: v for k, v in rec.streams.items() if k in ("sim-emg", "sim-imu0")}
    written = wsraw(tmp_path / "mover.wsraw", streams)
    emu = emulator("--speed", "6", "--source", str(tmp_path / "mover.wsraw"))
    dev, got = asyncio.run(collect(emu.uri(sync_interval_s=0), until=every_stream_has(3)))
    assert [s.channels for s in dev.streams] == [
        streams["sim-emg"][0].channels,
        streams["sim-imu0"][0].channels,
    ]
    for info in dev.streams:
        name = info.name.split("-", 2)[-1]
        raw, scale = written[name]
        c = concat(got[info.name])
        assert c.n == raw.shape[0]
        np.testing.assert_array_equal(c.data, raw.astype(np.float32) * scale)
        # and that is the sim's signal to within half a quantisation step
        np.testing.assert_allclose(
            c.data, streams[name][1].data, atol=float(scale.max()) * 0.51 + 1e-7, rtol=1e-6
        )


def test_missing_port_names_the_port_and_the_fix():
    with pytest.raises(DeviceError, match=r"cannot open serial port '/dev/ttyWEARSENSE0'.*list_ports"):
        asyncio.run(collect("serial:///dev/ttyWEARSENSE0"))


def test_silent_port_fails_with_no_hello_and_the_fix():
    master, slave = os.openpty()
    try:
        with pytest.raises(DeviceError, match="no HELLO .* within 0.2 s.*baud"):
            asyncio.run(collect(f"serial://{os.ttyname(slave)}?hello_timeout_s=0.2"))
    finally:
        os.close(master)
        os.close(slave)


def test_bad_uri_parameters_are_named():
    with pytest.raises(DeviceURIError, match="batch_s"):
        open_device("serial:///dev/ttyUSB0?batch_s=5")
    with pytest.raises(DeviceError, match="no port given"):
        open_device("serial://?baud=9600")

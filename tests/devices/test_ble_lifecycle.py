"""The BLE connection lifecycle, with a test double of BleakClient/BleakScanner injected.

The double plays the peripheral side: it records the commands written, answers the
Polar PMD control point like a sensor, sends notifications, and drops the link on
request. The drivers are the real ones; only bleak is replaced.
"""

from __future__ import annotations

import asyncio
import struct

import numpy as np
import pytest

from ble_double import FakeScanner, Peripheral, Radio

from wearsense.devices import driver_class, open_device
from wearsense.devices.ble_common import BleDevice
from wearsense.devices.ble_myo import (
    COMMAND_CHARACTERISTIC,
    EMG_CHARACTERISTICS,
    FIRMWARE_CHARACTERISTIC,
    IMU_CHARACTERISTIC,
    MyoDevice,
)
from wearsense.devices.ble_polar import PMD_CONTROL, PMD_DATA, PolarDevice
from wearsense.devices.ble_profile import ProfileDevice
from wearsense.errors import DeviceError, DeviceURIError

pytestmark = pytest.mark.timeout(30)

MYO = "D2:3A:10:20:30:40"
POLAR = "A0:9E:1A:00:00:01"
BOARD = "C4:00:00:00:00:07"


@pytest.fixture
def radio():
    """``radio(*peripherals)`` -> :class:`Radio`: the setup every lifecycle test shares."""
    return Radio


def myo_peripheral() -> Peripheral:
    return Peripheral(MYO, "Myo", {FIRMWARE_CHARACTERISTIC: struct.pack("<4H", 1, 5, 1970, 2)})


def emg_payload(k: int) -> bytes:
    return bytes(np.arange(16, dtype=np.int8) + np.int8(k))


async def take(it, n: int, timeout: float = 5.0):
    out = []
    for _ in range(n):
        out.append(await asyncio.wait_for(it.__anext__(), timeout))
    return out


# ---------------------------------------------------------------------------------------
def test_ble_uri_dispatches_on_the_device_kind():
    assert isinstance(open_device(f"ble://myo/{MYO}"), MyoDevice)
    assert isinstance(open_device(f"ble://polar/{POLAR}"), PolarDevice)
    assert driver_class("ble", f"ble://myo/{MYO}") is MyoDevice  # the registry picks the kind
    with pytest.raises(DeviceURIError, match="say which kind of BLE device.*ble://polar/<address>"):
        BleDevice(f"ble://{MYO}")
    with pytest.raises(
        DeviceURIError, match="unknown BLE device kind 'fitbit'.*ble://myo/<address>.*wearsense scan"
    ):
        open_device(f"ble://fitbit/{MYO}")
    with pytest.raises(DeviceURIError, match="not a BLE address"):
        open_device("ble://myo/not-an-address")
    with pytest.raises(DeviceURIError, match="emg_mode"):
        open_device(f"ble://myo/{MYO}?emg_mode=loud")


def test_myo_connect_sets_raw_emg_mode_and_keep_awake_and_streams_chunks(radio):
    async def main():
        p = myo_peripheral()
        air = radio(p)
        dev = air.device(MyoDevice, f"ble://myo/{MYO}")
        async with dev:
            assert [s.name for s in dev.streams] == ["myo-emg", "myo-imu"]
            assert dev.streams[0].metadata["firmware"] == "1.5.1970 rev 2"
            cmds = [d for u, d in p.writes if u == COMMAND_CHARACTERISTIC]
            assert bytes.fromhex("090101") in cmds  # never sleep
            assert bytes.fromhex("0103030100") in cmds  # raw EMG, IMU data, classifier off
            assert set(EMG_CHARACTERISTICS) | {IMU_CHARACTERISTIC} <= set(p.subscribers)
            it = dev.__aiter__()
            for k in range(8):
                p.notify(EMG_CHARACTERISTICS[k % 4], emg_payload(k))
            p.notify(IMU_CHARACTERISTIC, struct.pack("<10h", 16384, 0, 0, 0, 0, 0, 2048, 0, 0, 16))
            got = await take(it, 9)
            emg = [c for i, c in got if i.name == "myo-emg"]
            assert np.concatenate([c.seq for c in emg]).tolist() == list(range(16))
            assert emg[0].clock == f"device:myo-{MYO}" and np.allclose(emg[1].t, [2 / 200, 3 / 200])
            imu = [c for i, c in got if i.name == "myo-imu"][0]
            assert np.allclose(imu.data, [[1, 0, 0, 0, 0, 0, 9.80665, 0, 0, 1]])
        cmds = [d for u, d in p.writes if u == COMMAND_CHARACTERISTIC]
        assert cmds[-2:] == [
            bytes.fromhex("0103000000"),
            bytes.fromhex("090100"),
        ]  # streaming off, sleep allowed
        assert not dev.state.connected

    asyncio.run(main())


def test_malformed_notifications_are_counted_not_fatal(radio):
    async def main():
        p = myo_peripheral()
        air = radio(p)
        async with air.device(MyoDevice, f"ble://myo/{MYO}?imu=0") as dev:
            it = dev.__aiter__()
            p.notify(EMG_CHARACTERISTICS[0], b"\x01\x02\x03")  # truncated
            p.notify(EMG_CHARACTERISTICS[0], emg_payload(0))
            ((info, chunk),) = await take(it, 1)
            assert chunk.n == 2
            assert dev.state.malformed == {EMG_CHARACTERISTICS[0]: 1}

    asyncio.run(main())


def test_skipped_emg_characteristic_is_two_lost_samples(radio):
    async def main():
        p = myo_peripheral()
        air = radio(p)
        async with air.device(MyoDevice, f"ble://myo/{MYO}?imu=0") as dev:
            it = dev.__aiter__()
            for k in (0, 1, 3, 0):  # the notification of characteristic 2 was lost
                p.notify(EMG_CHARACTERISTICS[k], emg_payload(k))
            seqs = [c.seq.tolist() for _, c in await take(it, 4)]
            assert seqs == [[0, 1], [2, 3], [6, 7], [8, 9]]

    asyncio.run(main())


def test_link_drop_reconnects_resumes_and_records_the_gap(radio):
    async def main():
        p = myo_peripheral()
        air = radio(p)
        uri = f"ble://myo/{MYO}?imu=0&backoff_s=0.05&backoff_max_s=0.1"
        async with air.device(MyoDevice, uri) as dev:
            it = dev.__aiter__()
            p.notify(EMG_CHARACTERISTICS[0], emg_payload(0))
            ((_, before),) = await take(it, 1)
            air.scanner.hidden.add(MYO)  # out of range for a while: the first attempts fail
            p.drop()
            nxt = asyncio.ensure_future(it.__anext__())
            await asyncio.sleep(0.4)
            assert not nxt.done() and dev.state.reconnect_attempts >= 2
            air.scanner.hidden.clear()
            while p.client is None:
                await asyncio.sleep(0.01)
            p.notify(EMG_CHARACTERISTICS[1], emg_payload(1))
            _, after = await asyncio.wait_for(nxt, 5)
            gap_start, gap_end = dev.state.gaps[0]
            expected_jump = round((gap_end - gap_start) * 200)
            assert after.seq[0] - before.seq[-1] - 1 >= expected_jump - 2 > 0  # loss recorded as a seq jump
            assert dev.state.drops == 1 and dev.state.connects == 2 and p.connects == 2
            assert "no BLE device" in dev.state.last_error
            cmds = [d for u, d in p.writes if u == COMMAND_CHARACTERISTIC]
            assert cmds.count(bytes.fromhex("0103030000")) == 2  # mode set again after reconnecting
        assert all(not c.connected for c in air.clients)

    asyncio.run(main())


def test_reconnect_gives_up_after_the_allowed_attempts(radio):
    async def main():
        p = myo_peripheral()
        air = radio(p)
        uri = f"ble://myo/{MYO}?imu=0&backoff_s=0.01&reconnect_attempts=3"
        async with air.device(MyoDevice, uri) as dev:
            it = dev.__aiter__()
            p.refuse = 10
            p.drop()
            with pytest.raises(
                DeviceError, match="3 reconnection attempts failed.*bring the device back in range"
            ):
                await asyncio.wait_for(it.__anext__(), 5)

    asyncio.run(main())


def test_no_reconnect_when_disabled_is_a_clear_error(radio):
    async def main():
        p = myo_peripheral()
        air = radio(p)
        async with air.device(MyoDevice, f"ble://myo/{MYO}?reconnect=0") as dev:
            it = dev.__aiter__()
            p.drop()
            with pytest.raises(DeviceError, match="link dropped and reconnect=0"):
                await asyncio.wait_for(it.__anext__(), 5)

    asyncio.run(main())


def test_cancel_during_connect_disconnects_the_half_open_client(radio):
    async def main():
        p = myo_peripheral()
        p.hang = True
        air = radio(p)
        dev = air.device(MyoDevice, f"ble://myo/{MYO}")
        task = asyncio.create_task(dev.open())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert len(air.clients) == 1 and air.clients[0].disconnects == 1
        assert not dev.state.connected and dev.state.connects == 0

    asyncio.run(main())


def test_close_during_reconnect_ends_iteration_cleanly(radio):
    async def main():
        p = myo_peripheral()
        air = radio(p)
        dev = air.device(MyoDevice, f"ble://myo/{MYO}?imu=0&backoff_s=0.05")
        await dev.open()
        it = dev.__aiter__()
        p.hang = True  # every reconnection attempt hangs in connect()
        p.drop()
        nxt = asyncio.ensure_future(it.__anext__())
        await asyncio.sleep(0.2)
        await dev.close()
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(nxt, 5)

    asyncio.run(main())


def test_device_not_found_names_wearsense_scan(radio):
    async def main():
        air = radio()
        dev = air.device(MyoDevice, f"ble://myo/{MYO}?connect_timeout_s=1")
        with pytest.raises(DeviceError) as e:
            await dev.open()
        assert f"no BLE device with address {MYO} found within 1 s" in str(e.value)
        assert "wearsense scan" in str(e.value) and e.value.uri == dev.uri.raw

    asyncio.run(main())


def test_empty_address_takes_the_first_device_of_that_kind_from_a_scan(radio):
    async def main():
        p = myo_peripheral()
        air = radio(Peripheral("11:22:33:44:55:66", "Polar H10 1234"), p)
        async with air.device(MyoDevice, "ble://myo") as dev:
            assert dev.address == MYO and dev.streams[0].source_id == f"myo-{MYO}"

    asyncio.run(main())


def test_missing_bluetooth_stack_names_bluez_and_dbus(radio):
    class NoBluez(FakeScanner):
        async def find_device_by_address(self, address, timeout=10.0):
            raise FileNotFoundError(2, "No such file or directory")  # what bleak raises without D-Bus

    async def main():
        dev = radio(scanner=NoBluez()).device(MyoDevice, f"ble://myo/{MYO}")
        with pytest.raises(DeviceError, match="Bluetooth is not available.*BlueZ.*D-Bus"):
            await dev.open()

    asyncio.run(main())


# ---------------------------------------------------------------------------------------
# Polar: a fake sensor answering the PMD control point
# ---------------------------------------------------------------------------------------
ACC_SETTINGS = bytes.fromhex(
    "00 02 1a00 3400 01 01 1000 02 02 0400 0800".replace(" ", "")
)  # 26/52 Hz, 16 bit, 4/8 g


def polar_peripheral(factor: float = 1.0) -> Peripheral:
    p = Peripheral(POLAR, "Polar Sense 1234ABCD", {PMD_CONTROL: bytes((0x0F, 0x04 | 0x20 | 0x40, 0x00))})

    def answer(uuid: str, data: bytes) -> None:
        if uuid != PMD_CONTROL:
            return
        op, kind = data[0], data[1]
        if op == 0x01:
            p.notify(PMD_CONTROL, bytes((0xF0, op, kind, 0, 0)) + ACC_SETTINGS)
        elif op == 0x02:
            p.started.append(data)
            p.notify(PMD_CONTROL, bytes((0xF0, op, kind, 0, 0, 0x05, 0x01)) + struct.pack("<f", factor))
        else:
            p.notify(PMD_CONTROL, bytes((0xF0, op, kind, 0, 0)))

    p.started = []
    p.answer = answer
    return p


def acc_frame(ts_ns: int, xyz: list[tuple[int, int, int]]) -> bytes:
    return (
        bytes((0x02,))
        + struct.pack("<Q", ts_ns)
        + bytes((0x01,))
        + b"".join(struct.pack("<3h", *s) for s in xyz)
    )


def test_polar_queries_settings_starts_and_decodes_with_sensor_timestamps(radio):
    async def main():
        p = polar_peripheral()
        air = radio(p)
        async with air.device(PolarDevice, f"ble://polar/{POLAR}?acc=52&acc_range=8") as dev:
            info = dev.streams[0]
            assert (info.name, info.rate_hz, info.units[0]) == ("polar-acc", 52.0, "m/s^2")
            assert info.metadata["offered"]["sample_rate_hz"] == [26, 52]
            # start command: type ACC, rate 52, resolution 16, range 8
            assert p.started == [bytes.fromhex("0202 00013400 01011000 02010800".replace(" ", ""))]
            it = dev.__aiter__()
            period = 1e9 / 52
            t_last = 700_000_000 * 10**9
            p.notify(PMD_DATA, acc_frame(t_last, [(1000, 0, 0), (0, 1000, 0)]))
            p.notify(PMD_DATA, acc_frame(t_last + int(2 * period), [(0, 0, 1000), (-1000, 0, 0)]))
            (_, a), (_, b) = await take(it, 2)
            assert np.allclose(a.data[0], [9.80665, 0, 0]) and np.allclose(b.data[1], [-9.80665, 0, 0])
            assert a.t[-1] == pytest.approx(700_000_000.0) and np.allclose(np.diff(np.r_[a.t, b.t]), 1 / 52)
            assert np.r_[a.seq, b.seq].tolist() == [0, 1, 2, 3]
            p.notify(
                PMD_DATA, acc_frame(t_last + int(6 * period), [(0, 0, 0), (0, 0, 0)])
            )  # frame of seq 4,5 lost
            ((_, c),) = await take(it, 1)
            assert c.seq.tolist() == [6, 7]
        assert any(d[:2] == bytes((0x03, 0x02)) for u, d in p.writes if u == PMD_CONTROL)  # stopped on close

    asyncio.run(main())


def test_polar_rate_not_offered_lists_what_is(radio):
    async def main():
        p = polar_peripheral()
        air = radio(p)
        dev = air.device(PolarDevice, f"ble://polar/{POLAR}?acc=200")
        with pytest.raises(
            DeviceError, match="acc=200 Hz is not offered; this sensor offers acc at 26, 52 Hz"
        ):
            await dev.open()
        dev2 = air.device(PolarDevice, f"ble://polar/{POLAR}?acc=0&ecg=130")
        with pytest.raises(DeviceError, match="does not offer ecg; it offers acc, gyro, mag"):
            await dev2.open()

    asyncio.run(main())


def test_polar_restarts_measurement_after_reconnect(radio):
    async def main():
        p = polar_peripheral()
        air = radio(p)
        uri = f"ble://polar/{POLAR}?backoff_s=0.02"
        async with air.device(PolarDevice, uri) as dev:
            it = dev.__aiter__()
            t0 = 700_000_000 * 10**9
            p.notify(PMD_DATA, acc_frame(t0, [(1, 2, 3)]))
            ((_, a),) = await take(it, 1)
            p.drop()
            nxt = asyncio.ensure_future(it.__anext__())
            while len(p.started) < 2:
                await asyncio.sleep(0.01)
            p.notify(PMD_DATA, acc_frame(t0 + 10**9, [(4, 5, 6)]))  # one second later on the sensor clock
            _, b = await asyncio.wait_for(nxt, 5)
            assert b.seq[0] == a.seq[0] + 52  # 51 samples lost during the outage
            assert dev.state.drops == 1

    asyncio.run(main())


# ---------------------------------------------------------------------------------------
# a profiled board
# ---------------------------------------------------------------------------------------
PROFILE = """
name = "labemg"
[[on_connect]]
characteristic = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
value = "01"
[[on_close]]
characteristic = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
value = "00"
[[stream]]
name = "emg"
modality = "EMG"
characteristic = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"
header_bytes = 1
counter = { offset = 0, dtype = "uint8", counts = "packets" }
dtype = "int16"
channels = ["flexor", "extensor"]
units = "V"
scale = 1e-6
rate_hz = 500
"""
DATA_UUID = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"


def test_profiled_board_streams_with_its_counter_and_start_stop_commands(tmp_path, radio):
    path = tmp_path / "labemg.toml"
    path.write_text(PROFILE)

    async def main():
        p = Peripheral(BOARD, "LabEMG")
        air = radio(p)
        async with air.device(ProfileDevice, f"ble://profile/{BOARD}?profile={path}") as dev:
            assert p.writes == [("6e400002-b5a3-f393-e0a9-e50e24dcca9e", b"\x01")]
            info = dev.streams[0]
            assert (info.name, info.channels, info.rate_hz) == ("labemg-emg", ("flexor", "extensor"), 500.0)
            it = dev.__aiter__()
            for counter in (254, 255, 1):  # wraps; packet 0 lost
                p.notify(DATA_UUID, bytes((counter,)) + struct.pack("<4h", 100, -100, 200, -200))
            chunks = [c for _, c in await take(it, 3)]
            assert [c.seq.tolist() for c in chunks] == [[0, 1], [2, 3], [6, 7]]
            assert np.allclose(chunks[0].data, [[1e-4, -1e-4], [2e-4, -2e-4]])
            assert np.allclose(chunks[2].t, [6 / 500, 7 / 500])
        assert p.writes[-1] == ("6e400002-b5a3-f393-e0a9-e50e24dcca9e", b"\x00")

    asyncio.run(main())


def test_profile_uri_without_profile_or_with_a_bad_one_is_clear(tmp_path):
    with pytest.raises(DeviceURIError, match="give the board's profile"):
        open_device(f"ble://profile/{BOARD}")
    bad = tmp_path / "bad.toml"
    bad.write_text(PROFILE.replace('dtype = "int16"', 'dtype = "int12"'))
    with pytest.raises(DeviceURIError, match=r"stream\[0\]\.dtype: 'int12' unknown") as e:
        open_device(f"ble://profile/{BOARD}?profile={bad}")
    assert e.value.parameter == "profile"

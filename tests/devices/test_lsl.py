"""Lab Streaming Layer for real over loopback: inlets by type/name, outlets from any device."""

import asyncio
import os
import time

import numpy as np
import pylsl
import pytest

from wearsense.devices import acquire, open_device
from wearsense.cli.stream import lsl_timeline
from wearsense.devices.lsl import publish
from wearsense.errors import DeviceError, DeviceURIError
from wearsense.stream import Modality

pytestmark = pytest.mark.timeout(60)
TAG = f"wst{os.getpid()}"


def pose_outlet(name: str, n_joints: int = 2):
    info = pylsl.StreamInfo(name, "MoCap", 3 * n_joints, 100.0, pylsl.cf_float32, f"{name}-src")
    chans = info.desc().append_child("channels")
    for j in range(n_joints):
        for axis in "xyz":
            ch = chans.append_child("channel")
            ch.append_child_value("label", f"joint{j}_{axis}")
            ch.append_child_value("unit", "m")
    return pylsl.StreamOutlet(info)


def test_inlet_reads_labels_units_modality_and_exposes_lsl_clock_offsets():
    name = f"{TAG}-pose"
    outlet = pose_outlet(name)

    async def main():
        async with open_device(f"lsl://name={name}?type=MoCap&timeout_s=10") as dev:
            info = dev.streams[0]
            assert info.modality is Modality.POSE and info.channels[:3] == (
                "joint0_x",
                "joint0_y",
                "joint0_z",
            )
            assert info.units == ("m",) * 6 and info.rate_hz == 100.0 and info.source_id == f"{name}-src"
            await asyncio.sleep(0.3)
            stamps = pylsl.local_clock() + np.arange(20) / 100.0
            values = np.arange(120, dtype=np.float32).reshape(20, 6)
            outlet.push_chunk(values, stamps.tolist())
            got = []
            async for _, chunk in dev:
                got.append(chunk)
                if sum(c.n for c in got) >= 20:
                    break
            data = np.concatenate([c.data for c in got])
            t = np.concatenate([c.t for c in got])
            assert np.array_equal(data, values) and np.allclose(t, stamps, atol=1e-9)
            assert got[0].clock == f"lsl:{name}-src" and np.concatenate(
                [c.seq for c in got]
            ).tolist() == list(range(20))
            offsets = dev.clock_offsets(info.name)
            assert offsets and abs(offsets[0].offset_s) < 0.01  # same host: sender clock == local clock

    asyncio.run(main())


def roundtrip(timestamps: str):
    uri = "sim://mover?seed=5&emg=1&imu=1&pose=1&duration_s=2.5&packet_ms=20"
    expected = acquire(uri + "&realtime=0")

    async def main():
        ready = asyncio.Event()
        stop = asyncio.Event()
        pub = asyncio.create_task(
            publish(
                uri,
                stop=stop,
                prefix=f"{TAG}-{timestamps}-",
                timestamps=timestamps,
                on_ready=lambda names: ready.set(),
                host_clock=lsl_timeline() if timestamps == "host" else None,
            )
        )
        await asyncio.wait_for(ready.wait(), 20)
        got: dict[str, list] = {}
        async with open_device(f"lsl://name={TAG}-{timestamps}-sim-imu0?timeout_s=10") as dev:

            async def read():
                async for info, chunk in dev:
                    got.setdefault(info.name, []).append((chunk, time.monotonic()))

            reader = asyncio.create_task(read())
            state = await pub
            await asyncio.sleep(1.0)  # the last chunks in flight
            await dev.close()
            await asyncio.wait_for(reader, 5)
        return got, state

    return expected, *asyncio.run(main())


@pytest.mark.slow
def test_outlet_to_inlet_round_trip_preserves_device_timestamps_within_1ms():
    expected, got, state = roundtrip("device")
    assert set(state.outlets) == {f"{TAG}-device-sim-emg", f"{TAG}-device-sim-imu0", f"{TAG}-device-sim-pose"}
    _, ref = expected["sim-imu0"]
    chunks = [c for c, _ in got[f"{TAG}-device-sim-imu0"]]
    t = np.concatenate([c.t for c in chunks])
    data = np.concatenate([c.data for c in chunks])
    assert t.size > 0.5 * ref.n  # most of the 2.5 s arrived (the inlet connects a little after the start)
    idx = np.searchsorted(ref.t, t)
    idx = np.clip(idx, 0, ref.n - 1)
    nearest = np.where(np.abs(ref.t[idx] - t) < np.abs(ref.t[idx - 1] - t), idx, idx - 1)
    assert np.abs(ref.t[nearest] - t).max() < 1e-3
    assert np.array_equal(ref.data[nearest], data)


@pytest.mark.slow
def test_outlet_host_timestamps_follow_the_local_clock():
    _, got, _ = roundtrip("host")
    pairs = got[f"{TAG}-host-sim-imu0"]
    lag = np.array([arrival - c.t[-1] for c, arrival in pairs])
    assert (lag > -0.001).all() and np.median(lag) < 0.25  # stamped in local time, before arrival
    t = np.concatenate([c.t for c, _ in pairs])
    assert np.all(np.diff(t) > 0)


def test_no_matching_stream_is_a_clear_error():
    async def main():
        async with open_device(f"lsl://name={TAG}-absent?timeout_s=0.3"):
            pass

    with pytest.raises(DeviceError, match=f"no LSL stream matches name='{TAG}-absent' within 0.3 s"):
        asyncio.run(main())


@pytest.mark.parametrize("uri", ["lsl://", "lsl://colour=red", "lsl://type=", "lsl://name=a?name=b"])
def test_bad_lsl_uris(uri):
    with pytest.raises(DeviceURIError):
        open_device(uri)

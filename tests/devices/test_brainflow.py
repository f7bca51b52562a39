"""BrainFlow boards streamed for real: the synthetic board and the playback-file board (no mock)."""

import asyncio
import gc
import time

import numpy as np
import pytest
from brainflow.board_shim import BoardIds, BoardShim, BrainFlowInputParams
from brainflow.data_filter import DataFilter

from wearsense.devices import BlockingDevice, open_device
from wearsense.devices.brainflow import SeqUnwrap, board_id
from wearsense.errors import DeviceError, DeviceURIError
from wearsense.stream import concat

pytestmark = pytest.mark.timeout(60)
SYNTH = BoardIds.SYNTHETIC_BOARD.value


def read_until(uri: str, samples: int, limit_s: float = 30.0) -> dict:
    """Read until every stream holds ``samples`` (a loaded machine may start the board late)."""
    parts: dict[str, tuple] = {}
    deadline = time.monotonic() + limit_s
    with BlockingDevice(uri) as dev:
        for info, chunk in dev:
            parts.setdefault(info.name, (info, []))[1].append(chunk)
            full = len(parts) == len(dev.streams) and all(
                sum(c.n for c in cs) > samples for _, cs in parts.values()
            )
            if full or time.monotonic() > deadline:
                break
    return {name: (info, concat(chunks)) for name, (info, chunks) in parts.items()}


def test_synthetic_board_streams_emg_and_imu_with_brainflows_channel_roles():
    streams = read_until("brainflow://synthetic", 100)
    info, emg = streams["bf-synthetic-emg"]
    descr = BoardShim.get_board_descr(SYNTH)
    assert info.n_channels == len(descr["emg_channels"]) and info.rate_hz == descr["sampling_rate"]
    assert info.units[0] == "V" and info.metadata["brainflow_rows"] == descr["emg_channels"]
    assert emg.n > 100 and emg.clock == "host:unix"
    assert abs(emg.t[-1] - time.time()) < 5  # BrainFlow stamps packets with the host's UNIX time
    assert np.all(np.diff(emg.seq) >= 1) and emg.seq[-1] - emg.seq[0] + 1 - emg.n == 0  # nothing lost
    assert np.isfinite(emg.data).all() and 1e-7 < np.abs(emg.data).max() < 1e-2  # microvolts -> volts
    imu_info, imu = streams["bf-synthetic-imu"]
    assert imu_info.channels == ("acc_x", "acc_y", "acc_z", "gyro_x", "gyro_y", "gyro_z")
    assert imu_info.units[:3] == ("m/s^2",) * 3 and imu.n > 100


def test_playback_file_board_replays_a_recorded_file(tmp_path):
    BoardShim.disable_board_logger()
    board = BoardShim(SYNTH, BrainFlowInputParams())
    board.prepare_session()
    board.start_stream(45000)
    time.sleep(1.2)
    recorded = board.get_board_data()
    board.stop_stream()
    board.release_session()
    path = tmp_path / "synthetic.csv"
    DataFilter.write_file(recorded, str(path), "w")
    rows = BoardShim.get_emg_channels(SYNTH)

    async def main():
        got = []
        async with open_device(f"brainflow://playback_file?file={path}&master_board=synthetic") as dev:
            assert "bf-synthetic-emg" in [s.name for s in dev.streams]
            async for info, chunk in dev:
                if info.name == "bf-synthetic-emg":
                    got.append(chunk)
                if sum(c.n for c in got) >= 100:
                    break
        return got

    got = asyncio.run(main())
    data = np.concatenate([c.data for c in got])[:100]
    seq = np.concatenate([c.seq for c in got])[:100]
    in_file = DataFilter.read_file(str(path))  # what the file holds (BrainFlow writes 6 decimals)
    assert np.allclose(data, in_file[rows, :100].T * 1e-6, rtol=1e-6, atol=1e-13)
    assert np.allclose(in_file[rows, :100], recorded[rows, :100], atol=1e-6)
    assert seq.tolist() == recorded[BoardShim.get_package_num_channel(SYNTH), :100].astype(int).tolist()


def test_a_closed_device_never_ends_a_later_session_of_the_same_board():
    """BrainFlow's BoardShim.__del__ releases whatever session of its (board, parameters)
    is prepared: a closed device's shim, collected late, must not end a newer one."""

    async def open_and_close():
        async with open_device("brainflow://synthetic") as dev:
            return dev.shim, dev.input_params

    old_shim, params = asyncio.run(open_and_close())
    board = BoardShim(SYNTH, params)  # the same key as the closed device's session
    board.prepare_session()
    try:
        board.start_stream(45000)
        del old_shim  # what the garbage collector may do at any moment
        gc.collect()
        assert board.is_prepared()
        board.get_board_data()  # "unable to obtain buffer size" if the session was released
        board.stop_stream()
    finally:
        board.release_session()


def test_board_names_and_ids():
    assert board_id("synthetic") == SYNTH == board_id("-1") == board_id("SYNTHETIC_BOARD")
    assert board_id("cyton") == BoardIds.CYTON_BOARD.value
    with pytest.raises(DeviceURIError, match="unknown BrainFlow board 'cytron'.*cyton"):
        open_device("brainflow://cytron")
    with pytest.raises(DeviceURIError, match="name the board"):
        open_device("brainflow://")


def test_unplugged_board_names_the_port_and_the_fix():
    async def main():
        async with open_device("brainflow://cyton?serial_port=/dev/ttyWEARSENSE_NONE"):
            pass

    with pytest.raises(DeviceError, match="UNABLE_TO_OPEN_PORT_ERROR.*serial_port='/dev/ttyWEARSENSE_NONE'"):
        asyncio.run(main())


def test_playback_board_needs_a_file_and_its_master_board():
    async def main():
        async with open_device("brainflow://playback_file"):
            pass

    with pytest.raises(DeviceURIError, match="needs file=.*master_board="):
        asyncio.run(main())


def test_package_counter_unwraps_at_256_and_shows_loss():
    u = SeqUnwrap()
    a = u(np.array([250, 251, 252, 253, 254, 255, 0, 1]))
    b = u(np.array([5, 6]))  # 2..4 lost
    assert a.tolist() == list(range(250, 258)) and b.tolist() == [261, 262]
    assert u(np.array([6, 7])).tolist() == [263, 264]  # a repeated/restarted counter stays increasing

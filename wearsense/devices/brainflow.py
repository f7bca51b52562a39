"""``brainflow://<board>?...``: any board BrainFlow supports, with its channel roles from BrainFlow itself.

The target is a BrainFlow board name, with or without ``_board`` (``synthetic``,
``cyton``, ``ganglion``, ``cyton_daisy``, ``playback_file``, ``muse_s`` ...), or its
numeric id (``brainflow://-1``). Query parameters are BrainFlow's
``BrainFlowInputParams`` (``serial_port``, ``mac_address``, ``ip_address``,
``ip_port``, ``ip_protocol``, ``serial_number``, ``file``, ``master_board``,
``timeout``, ``other_info``), e.g. ``brainflow://cyton?serial_port=/dev/ttyUSB0`` or
``brainflow://playback_file?file=rec.csv&master_board=synthetic``.

Channel roles come from BrainFlow's board descriptors (``BoardShim.get_board_descr``
for every preset in ``get_board_presets``): per preset, one ``<prefix>-emg`` stream from
``emg_channels`` (falling back to ``exg``/``eeg`` rows), labelled with ``eeg_names`` where
BrainFlow has them, converted from BrainFlow's microvolts to volts; and one
``<prefix>-imu`` stream from ``accel_channels`` (BrainFlow's g, converted to m/s^2) and
``gyro_channels`` (deg/s). ``Chunk.seq`` is ``package_num_channel`` unwrapped (BrainFlow
counters wrap at 256), so lost packets show as jumps; ``Chunk.t`` is
``timestamp_channel``: the host's UNIX time (s) at which BrainFlow's reader received
each packet (clock ``host:unix``), and ``received_s`` the host monotonic time at which
wearsense fetched the chunk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from brainflow.board_shim import BoardIds, BoardShim, BrainFlowInputParams
from brainflow.exit_codes import BrainFlowError, BrainFlowExitCodes

from wearsense.devices.base import Device, Param
from wearsense.errors import DeviceError, DeviceURIError
from wearsense.stream import Chunk, StreamInfo

log = logging.getLogger("wearsense")

__all__ = ["BrainFlowDevice", "board_id", "board_streams", "SeqUnwrap"]

_G = 9.80665
_PRESET_SUFFIX = {0: "", 1: "-aux", 2: "-anc"}
_INPUT_PARAMS = (
    "serial_port",
    "mac_address",
    "ip_address",
    "ip_port",
    "ip_protocol",
    "serial_number",
    "file",
    "master_board",
    "timeout",
    "other_info",
)


def board_id(name: str, uri: str = "") -> int:
    """BrainFlow board id from a name (``synthetic``, ``cyton``, ``CYTON_BOARD``) or a number."""
    text = name.strip().strip("/")
    try:
        return int(text)
    except ValueError:
        pass
    key = text.upper().replace("-", "_")
    for cand in (key, f"{key}_BOARD"):
        if cand in BoardIds.__members__:
            return BoardIds[cand].value
    names = sorted(n.lower().removesuffix("_board") for n, v in BoardIds.__members__.items() if v.value >= -3)
    raise DeviceURIError(
        f"device URI {uri!r}: unknown BrainFlow board {name!r}; give a BrainFlow board name or id, one of: "
        + ", ".join(names),
        uri=uri,
    )


@dataclass(frozen=True)
class _Rows:
    """Which rows of BrainFlow's data array make one wearsense stream."""

    info: StreamInfo
    preset: int
    rows: tuple[int, ...]
    scale: tuple[float, ...]
    seq_row: int | None
    t_row: int


def board_streams(board: int, prefix: str, source_id: str) -> list[_Rows]:
    """Streams of a board from BrainFlow's own descriptors (one EMG/ExG and one IMU per preset)."""
    out: list[_Rows] = []
    for preset in BoardShim.get_board_presets(board):
        d = BoardShim.get_board_descr(board, preset)
        rate = float(d["sampling_rate"])
        suffix = _PRESET_SUFFIX.get(preset, f"-preset{preset}")
        seq_row = d.get("package_num_channel")
        t_row = d["timestamp_channel"]
        exg_rows, role = (), ""
        for key in ("emg_channels", "exg_channels", "eeg_channels"):
            if d.get(key):
                exg_rows, role = tuple(d[key]), key.removesuffix("_channels")
                break
        meta = {
            "device": f"BrainFlow {d.get('name', board)}",
            "board_id": board,
            "preset": preset,
            "brainflow_version": BoardShim.get_version(),
        }
        if exg_rows:
            names = str(d.get("eeg_names", "")).split(",") if d.get("eeg_names") else []
            eeg_rows = tuple(d.get("eeg_channels", ()))
            if (
                role == "eeg"
                and len(names) == len(exg_rows)
                and eeg_rows == exg_rows
                and len(set(names)) == len(names)
            ):
                labels = tuple(n.strip() for n in names)
            else:
                labels = tuple(f"{role}{i + 1}" for i in range(len(exg_rows)))
            info = StreamInfo(
                f"{prefix}-emg{suffix}",
                "EMG",
                labels,
                "V",
                rate,
                source_id,
                {
                    **meta,
                    "brainflow_role": role,
                    "brainflow_rows": list(exg_rows),
                    "source_unit": "uV",
                    "eeg_names": d.get("eeg_names", ""),
                },
            )
            out.append(_Rows(info, preset, exg_rows, (1e-6,) * len(exg_rows), seq_row, t_row))
        acc, gyro = tuple(d.get("accel_channels", ())), tuple(d.get("gyro_channels", ()))
        if acc or gyro:
            labels = tuple(f"acc_{a}" for a in "xyz"[: len(acc)]) + tuple(
                f"gyro_{a}" for a in "xyz"[: len(gyro)]
            )
            if len(labels) != len(acc) + len(gyro):
                labels = tuple(f"acc{i + 1}" for i in range(len(acc))) + tuple(
                    f"gyro{i + 1}" for i in range(len(gyro))
                )
            units = ("m/s^2",) * len(acc) + ("deg/s",) * len(gyro)
            info = StreamInfo(
                f"{prefix}-imu{suffix}",
                "IMU",
                labels,
                units,
                rate,
                source_id,
                {**meta, "brainflow_rows": list(acc + gyro), "source_unit": "accel g, gyro deg/s"},
            )
            out.append(_Rows(info, preset, acc + gyro, (_G,) * len(acc) + (1.0,) * len(gyro), seq_row, t_row))
    return out


@dataclass
class SeqUnwrap:
    """Unwraps a packet counter that wraps around (BrainFlow's are 0..255).

    The modulus grows to the next power of two if the counter ever exceeds it.
    Repeated or backward values within one wrap are pushed forward so the result
    stays strictly increasing (a counter that restarts is a gap, not an error).
    """

    modulus: int = 256
    offset: int = 0
    last_raw: int | None = None
    last_seq: int = -1
    restarts: int = field(default=0)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.rint(raw).astype(np.int64)
        if raw.size and int(raw.max()) >= self.modulus:
            self.modulus = 1 << int(int(raw.max())).bit_length()
        out = np.empty_like(raw)
        offset, last = self.offset, self.last_raw
        for i, r in enumerate(raw.tolist()):
            if last is not None and r < last:
                offset += self.modulus
            out[i] = offset + r
            last = r
        self.offset, self.last_raw = offset, last
        k = np.arange(out.size)
        out = np.maximum.accumulate(np.maximum(out - k, self.last_seq + 1)) + k
        if out.size:
            self.last_seq = int(out[-1])
        return out


def _error(e: BrainFlowError, what: str, uri: str, params: dict[str, Any]) -> DeviceError:
    try:
        code = BrainFlowExitCodes(e.exit_code).name
    except ValueError:
        code = f"code {e.exit_code}"
    hint = {
        "UNABLE_TO_OPEN_PORT_ERROR": f"check serial_port={params.get('serial_port')!r} exists and is yours "
        "(dialout group), and that no other program holds it",
        "BOARD_NOT_READY_ERROR": "switch the board on and check the dongle/radio channel",
        "BOARD_NOT_CREATED_ERROR": "the board id is not supported by this BrainFlow build",
        "INVALID_ARGUMENTS_ERROR": "a BrainFlowInputParams value is missing or wrong for this board "
        "(see BrainFlow's docs for the board)",
        "SYNC_TIMEOUT_ERROR": "the board did not answer; check power, pairing and the port",
        "GENERAL_ERROR": "see BrainFlow's log (wearsense -vv) for the cause",
    }.get(code, "see BrainFlow's documentation for this board")
    return DeviceError(f"{uri}: BrainFlow could not {what}: {code}; {hint}", uri)


class _OwnedShim(BoardShim):
    """A BoardShim whose garbage collection never ends a session it no longer owns.

    BrainFlow keys sessions by (board id, input parameters), and ``BoardShim.__del__``
    releases the session of its key whenever one is prepared. Once this shim has
    released its own session, a later one with the same key (``brainflow://synthetic``
    opened again, or by another program part) belongs to someone else; if the garbage
    collector reached this shim only then, BrainFlow would release that session under
    its owner's feet (its next read fails with "unable to obtain buffer size").
    """

    released = False

    def release_session(self) -> None:
        super().release_session()
        self.released = True

    def __del__(self) -> None:
        if not self.released:
            super().__del__()


class BrainFlowDevice(Device):
    """A BrainFlow board as a wearsense device (see the module docstring)."""

    scheme = "brainflow"
    summary = (
        "any BrainFlow board (Cyton, Ganglion, Shimmer, synthetic, playback file...) "
        "with channel roles from BrainFlow"
    )
    params = (
        Param("serial_port", str, "", "serial port of the dongle/board, e.g. /dev/ttyUSB0 or COM3"),
        Param("mac_address", str, "", "Bluetooth MAC address (BLE boards)"),
        Param("ip_address", str, "", "IP address (WiFi boards)"),
        Param("ip_port", int, 0, "IP port (WiFi boards)", min=0, max=65535),
        Param("ip_protocol", int, 0, "BrainFlow IpProtocolTypes value (0 none, 1 UDP, 2 TCP)", min=0, max=2),
        Param("serial_number", str, "", "device serial number (some boards)"),
        Param(
            "file",
            str,
            "",
            "data file (playback_file board: a file written by BrainFlow's DataFilter.write_file)",
        ),
        Param(
            "master_board",
            str,
            "",
            "board whose data the file holds (playback_file / streaming boards), name or id",
        ),
        Param("timeout", int, 0, "BrainFlow discovery timeout, s (0 = BrainFlow's default)", min=0, max=600),
        Param("other_info", str, "", "board-specific extra setting passed to BrainFlow"),
        Param(
            "poll_s", float, 0.02, "how often to fetch data from BrainFlow's buffer, s", min=0.001, max=1.0
        ),
        Param("buffer", int, 450000, "BrainFlow ring buffer size, samples", min=1000, max=10_000_000),
    )

    def __init__(self, uri) -> None:
        super().__init__(uri)
        if not self.uri.target.strip("/"):
            raise DeviceURIError(
                f"device URI {self.uri.raw!r}: name the board, e.g. brainflow://synthetic or brainflow://cyton?serial_port=/dev/ttyUSB0",
                uri=self.uri.raw,
            )
        self.board_id = board_id(self.uri.target, self.uri.raw)
        self.input_params = BrainFlowInputParams()
        for name in _INPUT_PARAMS:
            value = self.options[name]
            if name == "master_board":
                value = board_id(value, self.uri.raw) if value else -100
            setattr(self.input_params, name, value)
        self.shim: BoardShim | None = None
        self._rows: list[_Rows] = []
        self._seq: dict[int, SeqUnwrap] = {}
        self._last_t: dict[str, float] = {}
        self._fallback_seq: dict[str, int] = {}

    async def _open(self) -> None:
        if self.board_id == BoardIds.PLAYBACK_FILE_BOARD.value and not (
            self.options["file"] and self.options["master_board"]
        ):
            raise DeviceURIError(
                f"device URI {self.uri.raw!r}: the playback_file board needs file=<BrainFlow csv> and "
                "master_board=<board it came from>",
                uri=self.uri.raw,
                parameter="file",
            )
        BoardShim.disable_board_logger()
        shim = _OwnedShim(self.board_id, self.input_params)
        try:
            await asyncio.to_thread(shim.prepare_session)
        except BrainFlowError as e:
            err = _error(e, "prepare the session", self.uri.raw, self.options)
            # no chained traceback: it would keep the BoardShim alive, whose __del__ fails at interpreter exit
            shim = None
            raise err from None
        try:
            data_board = shim.get_board_id()  # the master board for playback/streaming boards
            name = (
                BoardIds(data_board).name.lower().removesuffix("_board")
                if data_board in BoardIds._value2member_map_
                else str(data_board)
            )
            source = (
                self.options["serial_number"]
                or self.options["mac_address"]
                or self.options["serial_port"]
                or self.uri.raw
            )
            self._rows = board_streams(data_board, f"bf-{name}", source)
            if not self._rows:
                raise DeviceError(
                    f"{self.uri.raw}: BrainFlow describes no EMG/ExG, accel or gyro channels for board "
                    f"{name}",
                    self.uri.raw,
                )
            shim.start_stream(self.options["buffer"])
        except BrainFlowError as e:
            await asyncio.to_thread(shim.release_session)
            raise _error(e, "start streaming", self.uri.raw, self.options) from e
        except DeviceError:
            await asyncio.to_thread(shim.release_session)
            raise
        self.shim = shim
        self.streams = tuple(r.info for r in self._rows)
        self._seq = {r.preset: SeqUnwrap() for r in self._rows}

    async def _close(self) -> None:
        shim, self.shim = self.shim, None
        if shim is None:
            return
        try:
            shim.stop_stream()
        except BrainFlowError as e:
            log.warning("%s: stopping BrainFlow stream failed: %s", self.uri.raw, e)
        try:
            await asyncio.to_thread(shim.release_session)
        except BrainFlowError as e:
            log.warning("%s: releasing BrainFlow session failed: %s", self.uri.raw, e)

    def _split(self, preset: int, data: np.ndarray, received_s: float) -> list[tuple[StreamInfo, Chunk]]:
        rows = [r for r in self._rows if r.preset == preset]
        first = rows[0]
        n = data.shape[1]
        if first.seq_row is not None:
            seq = self._seq[preset](data[first.seq_row])
        else:
            start = self._fallback_seq.get(str(preset), 0)
            seq = np.arange(start, start + n, dtype=np.int64)
            self._fallback_seq[str(preset)] = start + n
        t = np.maximum.accumulate(np.maximum(data[first.t_row], self._last_t.get(str(preset), -np.inf)))
        self._last_t[str(preset)] = float(t[-1])
        out = []
        for r in rows:
            values = data[list(r.rows)].T * np.asarray(r.scale)
            out.append((r.info, Chunk(values.astype(np.float32), t, seq, "host:unix", received_s)))
        return out

    async def _chunks(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        presets = sorted({r.preset for r in self._rows})
        poll = self.options["poll_s"]
        while self.shim is not None:
            got = False
            for p in presets:
                shim = self.shim
                if shim is None:
                    return
                try:
                    data = shim.get_board_data(preset=p)
                except BrainFlowError as e:
                    raise _error(e, "read data", self.uri.raw, self.options) from e
                if data.shape[1]:
                    got = True
                    for pair in self._split(p, data, time.monotonic()):
                        yield pair
            if not got:
                await asyncio.sleep(poll)

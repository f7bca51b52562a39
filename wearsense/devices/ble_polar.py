"""``ble://polar/<address>``: Polar sensors through the Polar Measurement Data (PMD) protocol.

Polar H10 (chest strap: ECG 130 Hz, ACC 25-200 Hz) and Verity Sense (ACC, GYRO, MAG)
stream raw data through the PMD service, as documented by polarofficial/polar-ble-sdk
(``BlePMDClient``, ``PmdDataFrame``, ``PmdSetting``, the ``*Data`` parsers):

- service ``FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8``, control point ``FB005C81-...``
  (write + indicate), data ``FB005C82-...`` (notify).
- Reading the control point gives the features: ``0F <bits> <bits>``; byte 1 bit 0 ECG,
  bit 2 ACC, bit 5 GYRO, bit 6 MAG.
- Commands: ``01 <type>`` get measurement settings, ``02 <type> <settings>`` start,
  ``03 <type>`` stop. Measurement types: ECG 0, PPG 1, ACC 2, PPI 3, GYRO 5, MAG 6.
  Responses: ``F0 <command> <type> <status> <more> <parameters>``; status 0 = success.
- Settings are ``<setting type> <count> <values>``: sample rate (0, uint16, Hz),
  resolution (1, uint16, bits), range (2, uint16), range in milliunits (3, uint32),
  channels (4, uint8), factor (5, float32, in the start response).
- Data frames: ``<type> <timestamp uint64 LE, ns since 2000-01-01 on the sensor clock,
  of the LAST sample> <frame type> <content>``. Frame type bit 0x80 = delta-compressed:
  a reference sample (channels x ceil(resolution/8) bytes, signed LE) then blocks
  ``<delta bit width> <sample count> <packed deltas>``, the deltas signed two's
  complement of that width, packed least-significant bit first, channel after
  channel, sample after sample; each sample is the previous one plus its delta.

Units out: ACC m/s^2 (from milli-g), GYRO deg/s, MAG uT (from gauss), ECG V (from uV).
Sample times within a frame are spread back from its timestamp at the spacing between
consecutive frame timestamps (the nominal 1/rate for the first frame and across a
gap), like the SDK. Sequence numbers are the sample index on the sensor clock,
``round((t - t_first) * rate)``, so lost frames and reconnections show as jumps.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import struct
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from wearsense.devices.base import Param
from wearsense.devices.ble_common import BleDevice
from wearsense.errors import DeviceError, MalformedNotification, PolarControlError
from wearsense.stream import Chunk, StreamInfo

__all__ = [
    "PolarDevice",
    "PmdFrame",
    "PolarControlError",
    "decode_frame",
    "delta_decode",
    "sample_times_s",
    "parse_settings",
    "encode_settings",
    "parse_features",
    "parse_control_response",
    "PMD_SERVICE",
    "PMD_CONTROL",
    "PMD_DATA",
    "MEASUREMENTS",
]

PMD_SERVICE = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"

ECG, PPG, ACC, PPI, GYRO, MAG = 0, 1, 2, 3, 5, 6
#: name -> PMD measurement type
MEASUREMENTS = {"ecg": ECG, "acc": ACC, "gyro": GYRO, "mag": MAG}
_FEATURE_BITS = {ECG: 0x01, PPG: 0x02, ACC: 0x04, PPI: 0x08, GYRO: 0x20, MAG: 0x40}
GET_SETTINGS, START, STOP = 0x01, 0x02, 0x03
RESPONSE = 0xF0
MEASUREMENT_STOPPED = 0x01  # unsolicited: the sensor stopped streaming
SAMPLE_RATE, RESOLUTION, RANGE, RANGE_MILLIUNIT, CHANNELS, FACTOR = range(6)
_SETTING_SIZE = {SAMPLE_RATE: 2, RESOLUTION: 2, RANGE: 2, RANGE_MILLIUNIT: 4, CHANNELS: 1, FACTOR: 4}
_SETTING_NAMES = {
    SAMPLE_RATE: "sample_rate_hz",
    RESOLUTION: "resolution_bits",
    RANGE: "range",
    RANGE_MILLIUNIT: "range_milliunit",
    CHANNELS: "channels",
    FACTOR: "factor",
}
STATUS = (
    "SUCCESS",
    "ERROR_INVALID_OP_CODE",
    "ERROR_INVALID_MEASUREMENT_TYPE",
    "ERROR_NOT_SUPPORTED",
    "ERROR_INVALID_LENGTH",
    "ERROR_INVALID_PARAMETER",
    "ERROR_ALREADY_IN_STATE",
    "ERROR_INVALID_RESOLUTION",
    "ERROR_INVALID_SAMPLE_RATE",
    "ERROR_INVALID_RANGE",
    "ERROR_INVALID_MTU",
    "ERROR_INVALID_NUMBER_OF_CHANNELS",
    "ERROR_INVALID_STATE",
    "ERROR_DEVICE_IN_CHARGER",
    "ERROR_DISK_FULL",
)
_ALREADY_IN_STATE = 6
_EPOCH = "2000-01-01T00:00:00 on the sensor clock"
_G = 9.80665


# ---------------------------------------------------------------------------------------
# pure decoders
# ---------------------------------------------------------------------------------------
def _signed(values: np.ndarray, bits: int) -> np.ndarray:
    values = values.astype(np.int64)
    half = np.int64(1) << (bits - 1)
    return np.where(values >= half, values - (half << 1), values)


def _le_ints(raw: bytes, nbytes: int, count: int, signed: bool = True) -> np.ndarray:
    """``count`` little-endian integers of ``nbytes`` bytes each (1..4)."""
    b = np.frombuffer(raw, dtype=np.uint8, count=count * nbytes).reshape(count, nbytes).astype(np.int64)
    v = (b << (8 * np.arange(nbytes, dtype=np.int64))).sum(axis=1)
    return _signed(v, 8 * nbytes) if signed else v


def delta_decode(content: bytes, channels: int, resolution_bits: int, signed: bool = True) -> np.ndarray:
    """Samples of a PMD delta-compressed frame.

    Parameters
    ----------
    content : bytes
        The frame content after the 10-byte header.
    channels : int
        Values per sample.
    resolution_bits : int
        Bits of the reference sample (it takes ``ceil(resolution/8)`` bytes per channel).
    signed : bool
        Reference sample is two's complement (True for every measurement decoded here
        except the 32-bit float gyro, whose bit patterns are added as integers).

    Returns
    -------
    ndarray, int64, shape (n_samples, channels)
        The reference sample, then one row per delta. A block of delta width 0 repeats
        the previous sample ``count`` times.

    Raises
    ------
    MalformedNotification
        Content shorter than the reference sample or a truncated delta block.
    """
    nb = math.ceil(resolution_bits / 8)
    if len(content) < channels * nb:
        raise MalformedNotification(
            f"PMD delta frame: {len(content)} bytes, shorter than the {channels * nb}-byte reference sample"
        )
    ref = _le_ints(content[: channels * nb], nb, channels, signed=False)
    if signed:
        ref = _signed(ref, resolution_bits)
    rows = [ref[None, :]]
    pos = channels * nb
    while pos < len(content):
        if pos + 2 > len(content):
            raise MalformedNotification(
                f"PMD delta frame: block header truncated at byte {pos} of {len(content)}"
            )
        width, count = content[pos], content[pos + 1]
        pos += 2
        if width > 32:
            raise MalformedNotification(
                f"PMD delta frame: delta width {width} bits at byte {pos - 2} (max 32)"
            )
        nbits = width * count * channels
        nbytes = math.ceil(nbits / 8)
        if pos + nbytes > len(content):
            raise MalformedNotification(
                f"PMD delta frame: block of {count} samples x {channels} ch x {width} bits needs {nbytes} "
                "bytes, "
                f"{len(content) - pos} left"
            )
        if count == 0:
            continue
        if width == 0:
            deltas = np.zeros((count, channels), np.int64)
        else:
            bits = np.unpackbits(np.frombuffer(content, np.uint8, nbytes, pos), bitorder="little")[:nbits]
            words = bits.reshape(count * channels, width).astype(np.int64) @ (
                np.int64(1) << np.arange(width, dtype=np.int64)
            )
            deltas = _signed(words, width).reshape(count, channels)
        pos += nbytes
        rows.append(rows[-1][-1] + np.cumsum(deltas, axis=0))
    return np.concatenate(rows, axis=0)


@dataclass(frozen=True)
class PmdFrame:
    """One decoded PMD data notification.

    Attributes
    ----------
    measurement : int
        PMD measurement type (ECG 0, ACC 2, GYRO 5, MAG 6).
    timestamp_ns : int
        Sensor time of the last sample, ns since 2000-01-01.
    frame_type : int
        Frame type without the compression bit.
    compressed : bool
        Delta-compressed frame (type byte bit 0x80).
    values : ndarray, float64, shape (n_samples, n_channels)
        In wearsense units: ACC m/s^2, GYRO deg/s, MAG uT, ECG V.
    """

    measurement: int
    timestamp_ns: int
    frame_type: int
    compressed: bool
    values: np.ndarray


def _unsupported(measurement: int, frame_type: int, compressed: bool) -> MalformedNotification:
    kind = "compressed" if compressed else "raw"
    return MalformedNotification(
        f"PMD measurement {measurement}: {kind} frame type {frame_type} is not supported"
    )


def decode_frame(payload: bytes, factor: float = 1.0) -> PmdFrame:
    """Decode one PMD data notification (pure: no state).

    Parameters
    ----------
    payload : bytes
        The notification: 1-byte measurement type, 8-byte timestamp, 1-byte frame
        type, content.
    factor : float
        The FACTOR setting from the start response (multiplies compressed values).

    Raises
    ------
    MalformedNotification
        Too short, unknown measurement, unsupported frame type, or content whose
        length does not fit the frame type.
    """
    if len(payload) < 11:
        raise MalformedNotification(
            f"PMD data frame of {len(payload)} bytes; needs at least 11 (10-byte header + data)"
        )
    measurement = payload[0] & 0x3F
    (ts,) = struct.unpack_from("<Q", payload, 1)
    ftype = payload[9]
    compressed, frame_type = bool(ftype & 0x80), ftype & 0x7F
    content = payload[10:]

    def raw(nbytes: int, channels: int) -> np.ndarray:
        step = nbytes * channels
        if len(content) % step:
            raise MalformedNotification(
                f"PMD measurement {measurement} frame type {frame_type}: {len(content)} content bytes is "
                "not a "
                f"multiple of {step} ({channels} ch x {nbytes} bytes)"
            )
        n = len(content) // step
        return _le_ints(content, nbytes, n * channels).reshape(n, channels).astype(np.float64)

    if measurement == ACC:
        if not compressed and frame_type in (0, 1, 2):
            milli_g = raw(frame_type + 1, 3)
        elif compressed and frame_type == 0:  # in g
            milli_g = delta_decode(content, 3, 16).astype(np.float64) * (factor * 1000.0)
        elif compressed and frame_type == 1:  # in milli-g
            milli_g = delta_decode(content, 3, 16).astype(np.float64) * factor
        else:
            raise _unsupported(measurement, frame_type, compressed)
        values = milli_g * (_G / 1000.0)
    elif measurement == GYRO:
        if compressed and frame_type == 0:
            values = delta_decode(content, 3, 16).astype(np.float64) * factor
        elif compressed and frame_type == 1:  # IEEE-754 float32 bit patterns, deltas added as int32
            bits = delta_decode(content, 3, 32, signed=False) & 0xFFFFFFFF
            values = bits.astype(np.uint32).view(np.float32).astype(np.float64) * factor
        else:
            raise _unsupported(measurement, frame_type, compressed)
    elif measurement == MAG:
        if compressed and frame_type == 0:  # gauss
            values = delta_decode(content, 3, 16).astype(np.float64) * factor * 100.0
        elif compressed and frame_type == 1:  # milli-gauss, 4th channel = calibration status
            values = delta_decode(content, 4, 16)[:, :3].astype(np.float64) * factor * 0.1
        else:
            raise _unsupported(measurement, frame_type, compressed)
    elif measurement == ECG:
        if compressed or frame_type != 0:
            raise _unsupported(measurement, frame_type, compressed)
        values = raw(3, 1) * 1e-6
    else:
        raise MalformedNotification(f"PMD measurement type {measurement} is not decoded by wearsense")
    return PmdFrame(measurement, int(ts), frame_type, compressed, values)


def sample_times_s(timestamp_ns: int, n: int, previous_ns: int | None, rate_hz: float) -> np.ndarray:
    """Sensor time (s since 2000-01-01) of each of the ``n`` samples of a frame.

    The frame timestamp is that of the last sample; earlier samples are spaced by
    ``(timestamp - previous frame's timestamp) / n``, or by ``1 / rate_hz`` for the first
    frame and when that spacing is off by more than half a period (a lost frame).
    """
    nominal = 1e9 / rate_hz
    dt = nominal
    if previous_ns is not None and timestamp_ns > previous_ns:
        est = (timestamp_ns - previous_ns) / n
        if abs(est - nominal) <= 0.5 * nominal:
            dt = est
    back = dt * np.arange(n - 1, -1, -1, dtype=np.float64)
    return (timestamp_ns - back) * 1e-9


def parse_settings(params: bytes) -> dict[int, list[int | float]]:
    """PMD settings (``<type> <count> <values>``...) -> ``{setting type: [values]}`` (FACTOR as float)."""
    out: dict[int, list[int | float]] = {}
    pos = 0
    while pos + 2 <= len(params):
        kind, count = params[pos], params[pos + 1]
        pos += 2
        if kind not in _SETTING_SIZE:
            raise MalformedNotification(f"PMD settings: unknown setting type {kind} at byte {pos - 2}")
        size = _SETTING_SIZE[kind]
        if pos + size * count > len(params):
            raise MalformedNotification(f"PMD settings: setting {kind} with {count} values is truncated")
        vals: list[int | float] = []
        for _ in range(count):
            chunk = params[pos : pos + size]
            vals.append(struct.unpack("<f", chunk)[0] if kind == FACTOR else int.from_bytes(chunk, "little"))
            pos += size
        out[kind] = vals
    return out


def encode_settings(selected: dict[int, int]) -> bytes:
    """Selected settings -> the bytes of a start command (one value each; FACTOR never sent)."""
    out = bytearray()
    for kind, value in selected.items():
        if kind == FACTOR:
            continue
        out += bytes((kind, 1)) + int(value).to_bytes(_SETTING_SIZE[kind], "little")
    return bytes(out)


def parse_features(payload: bytes) -> set[int]:
    """Measurement types a sensor offers, from the control-point read (``0F <bits> <bits>``)."""
    if len(payload) < 2 or payload[0] != 0x0F:
        raise MalformedNotification(f"PMD feature read must start with 0x0F, got {payload.hex(' ')}")
    return {m for m, bit in _FEATURE_BITS.items() if payload[1] & bit}


def parse_control_response(payload: bytes) -> tuple[int, int, int, bool, bytes]:
    """``F0 <command> <type> <status> [<more> <params>]`` -> (command, type, status, more, params)."""
    if len(payload) < 4 or payload[0] != RESPONSE:
        raise MalformedNotification(f"PMD control-point response must start with F0, got {payload.hex(' ')}")
    status = payload[3]
    more = status == 0 and len(payload) > 4 and payload[4] != 0
    return payload[1], payload[2], status, more, bytes(payload[5:]) if status == 0 else b""


# ---------------------------------------------------------------------------------------
# driver
# ---------------------------------------------------------------------------------------
_STREAMS = {
    ACC: ("polar-acc", "IMU", ("acc_x", "acc_y", "acc_z"), "m/s^2"),
    GYRO: ("polar-gyro", "IMU", ("gyro_x", "gyro_y", "gyro_z"), "deg/s"),
    MAG: ("polar-mag", "IMU", ("mag_x", "mag_y", "mag_z"), "uT"),
    ECG: ("polar-ecg", "OTHER", ("ecg",), "V"),
}


@dataclass
class _Measurement:
    kind: int
    info: StreamInfo
    rate_hz: float
    factor: float
    selected: dict[int, int]
    previous_ns: int | None = None
    t_first: float | None = None
    last_seq: int = -1
    last_t: float = -math.inf


class PolarDevice(BleDevice):
    """Polar H10 / Verity Sense over PMD: ``polar-acc``, ``polar-gyro``, ``polar-mag``, ``polar-ecg``."""

    kind = "polar"
    summary = "Polar H10 / Verity Sense through the PMD protocol: ACC, GYRO, MAG, ECG with sensor timestamps"
    params = (
        *BleDevice.common_params,
        Param("acc", int, -1, "accelerometer rate, Hz (-1 = the highest the sensor offers, 0 = off)", min=-1),
        Param("gyro", int, 0, "gyroscope rate, Hz (-1 = highest, 0 = off; Verity Sense)", min=-1),
        Param("mag", int, 0, "magnetometer rate, Hz (-1 = highest, 0 = off; Verity Sense)", min=-1),
        Param("ecg", int, 0, "ECG rate, Hz (-1 = highest, 0 = off; H10: 130)", min=-1),
        Param("acc_range", int, 0, "accelerometer range, g (0 = the largest offered)", min=0),
        Param("gyro_range", int, 0, "gyroscope range, deg/s (0 = the largest offered)", min=0),
    )

    def __init__(self, uri, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        self.requested = {
            m: self.options[name] for name, m in MEASUREMENTS.items() if self.options[name] != 0
        }
        if not self.requested:
            raise DeviceError(
                f"{self.uri.raw}: every measurement is off; ask for one, e.g. ?acc=-1 or ?ecg=130",
                self.uri.raw,
            )
        self.measurements: dict[int, _Measurement] = {}
        self.features: set[int] = set()
        self._cp: asyncio.Queue = asyncio.Queue()

    @classmethod
    def advertises(cls, name: str, service_uuids: tuple[str, ...]) -> bool:
        return PMD_SERVICE in service_uuids or name.strip().lower().startswith("polar ")

    # -- control point --------------------------------------------------------------
    def _on_control(self, _sender: Any, data: bytearray) -> None:
        data = bytes(data)
        if data and data[0] == MEASUREMENT_STOPPED:
            self.state.last_error = f"sensor stopped measurements {list(data[1:])}"
            return
        loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._cp.put_nowait, data)

    async def _command(self, client: Any, command: bytes, timeout_s: float = 5.0) -> bytes:
        while not self._cp.empty():
            self._cp.get_nowait()
        await client.write_gatt_char(PMD_CONTROL, command, response=True)
        params = b""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                data = await asyncio.wait_for(self._cp.get(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                raise DeviceError(
                    f"{self.uri.raw}: no PMD response to command {command.hex(' ')} within {timeout_s:g} s; "
                    "the sensor may be busy with another app, or not on the skin (H10 streams only when "
                    "worn)",
                    self.uri.raw,
                ) from None
            try:
                op, _, status, more, part = parse_control_response(data)
            except MalformedNotification:
                continue
            if op != command[0]:
                continue
            if status != 0:
                name = STATUS[status] if status < len(STATUS) else f"status {status}"
                raise PolarControlError(
                    f"{self.uri.raw}: sensor refused {command.hex(' ')}: {name}", status, self.uri.raw
                )
            params += part
            if not more:
                return params

    def _choose(self, m: int, offered: dict[int, list[int | float]]) -> dict[int, int]:
        name = next(k for k, v in MEASUREMENTS.items() if v == m)
        rates = sorted(int(r) for r in offered.get(SAMPLE_RATE, []))
        want = self.requested[m]
        if not rates:
            raise DeviceError(f"{self.uri.raw}: the sensor offers no sample rate for {name}", self.uri.raw)
        if want == -1:
            rate = rates[-1]
        elif want in rates:
            rate = want
        else:
            raise DeviceError(
                f"{self.uri.raw}: {name}={want} Hz is not offered; this sensor offers {name} at "
                f"{', '.join(map(str, rates))} Hz",
                self.uri.raw,
            )
        selected = {SAMPLE_RATE: rate}
        if RESOLUTION in offered:
            selected[RESOLUTION] = int(max(offered[RESOLUTION]))
        if RANGE in offered:
            ranges = sorted(int(r) for r in offered[RANGE])
            want_range = {ACC: self.options["acc_range"], GYRO: self.options["gyro_range"]}.get(m, 0)
            if want_range and want_range not in ranges:
                raise DeviceError(
                    f"{self.uri.raw}: {name}_range={want_range} is not offered; choose one of "
                    f"{', '.join(map(str, ranges))}",
                    self.uri.raw,
                )
            selected[RANGE] = want_range or ranges[-1]
        if CHANNELS in offered:
            selected[CHANNELS] = int(max(offered[CHANNELS]))
        return selected

    async def _start(self, client: Any, m: int, selected: dict[int, int]) -> float:
        cmd = bytes((START, m)) + encode_settings(selected)
        try:
            params = await self._command(client, cmd)
        except PolarControlError as e:
            if e.status != _ALREADY_IN_STATE:
                raise
            await self._command(client, bytes((STOP, m)))
            params = await self._command(client, cmd)
        factor = parse_settings(params).get(FACTOR, [1.0]) if params else [1.0]
        return float(factor[0])

    async def _setup(self, client: Any, first: bool) -> None:
        await client.start_notify(PMD_CONTROL, self._on_control)
        await self._subscribe(client, PMD_DATA)
        if first:
            self.features = parse_features(bytes(await client.read_gatt_char(PMD_CONTROL)))
            missing = [k for k, v in MEASUREMENTS.items() if v in self.requested and v not in self.features]
            if missing:
                offered = [k for k, v in MEASUREMENTS.items() if v in self.features]
                raise DeviceError(
                    f"{self.uri.raw}: this sensor does not offer {', '.join(missing)}; it offers "
                    f"{', '.join(offered) or 'none of acc, gyro, mag, ecg'}",
                    self.uri.raw,
                )
            infos = []
            for m in self.requested:
                offered = parse_settings(await self._command(client, bytes((GET_SETTINGS, m))))
                selected = self._choose(m, offered)
                name, modality, channels, unit = _STREAMS[m]
                meta = {
                    "device": "Polar",
                    "address": self.address,
                    "epoch": _EPOCH,
                    "settings": {_SETTING_NAMES[k]: v for k, v in selected.items()},
                    "offered": {_SETTING_NAMES[k]: v for k, v in offered.items()},
                }
                if m == ECG:
                    meta["signal"] = "ECG"
                info = StreamInfo(
                    name,
                    modality,
                    channels,
                    unit,
                    float(selected[SAMPLE_RATE]),
                    f"polar-{self.address}",
                    meta,
                )
                self.measurements[m] = _Measurement(m, info, float(selected[SAMPLE_RATE]), 1.0, selected)
                infos.append(info)
            self.streams = tuple(infos)
        for m, meas in self.measurements.items():
            meas.factor = await self._start(client, m, meas.selected)
            meas.previous_ns = None

    async def _teardown(self, client: Any) -> None:
        for m in self.measurements:
            with contextlib.suppress(Exception):
                await self._command(client, bytes((STOP, m)), timeout_s=2.0)

    def _decode(
        self, characteristic: str, payload: bytes, received_s: float
    ) -> list[tuple[StreamInfo, Chunk]]:
        if characteristic != PMD_DATA:
            raise MalformedNotification(
                f"notification from unexpected characteristic {characteristic}", characteristic, payload
            )
        if not payload:
            raise MalformedNotification("empty PMD data notification", characteristic, payload)
        meas = self.measurements.get(payload[0] & 0x3F)
        if meas is None:
            raise MalformedNotification(
                f"PMD data for measurement {payload[0]} that was not started", characteristic, payload
            )
        frame = decode_frame(payload, meas.factor)
        n = frame.values.shape[0]
        if n == 0:
            return []
        t = sample_times_s(frame.timestamp_ns, n, meas.previous_ns, meas.rate_hz)
        meas.previous_ns = frame.timestamp_ns
        if t[0] <= meas.last_t:  # a frame repeated or out of order: keep only what is new
            keep = t > meas.last_t
            if not keep.any():
                return []
            t, values = t[keep], frame.values[keep]
        else:
            values = frame.values
        if meas.t_first is None:
            meas.t_first = float(t[0])
        seq = np.rint((t - meas.t_first) * meas.rate_hz).astype(np.int64)
        k = np.arange(seq.size)  # strictly increasing, after the last one sent
        seq = np.maximum.accumulate(np.maximum(seq - k, meas.last_seq + 1)) + k
        meas.last_seq, meas.last_t = int(seq[-1]), float(t[-1])
        clock = f"device:polar-{self.address}"
        return [(meas.info, Chunk(values.astype(np.float32), t, seq, clock, received_s))]

"""Payloads of the firmware_bridge frames: one builder and one parser per frame type.

``payload_*`` builds the bytes a frame carries after its header, ``parse_*`` reads
them back (a :class:`~wearsense.errors.FrameError` names what was cut short).
Layouts are in ``firmware_bridge/PROTOCOL.md``; all integers are little-endian.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np

from wearsense.bridge.codec import MAX_PAYLOAD
from wearsense.errors import FrameError
from wearsense.stream import Modality

__all__ = [
    "ACK_STATUS",
    "FMT_FLOAT32",
    "FMT_INT16",
    "FMT_INT24",
    "FORMATS",
    "MAX_STRING",
    "MODALITIES",
    "MODALITY_CODES",
    "parse_ack",
    "parse_data",
    "parse_event",
    "parse_hello_device",
    "parse_hello_stream",
    "parse_set_rate",
    "parse_status",
    "parse_time_sync_req",
    "parse_time_sync_resp",
    "payload_ack",
    "payload_data",
    "payload_event",
    "payload_hello_device",
    "payload_hello_stream",
    "payload_set_rate",
    "payload_status",
    "payload_time_sync_req",
    "payload_time_sync_resp",
]

MAX_STRING = 63  # bytes of UTF-8 in a length-prefixed protocol string

# sample formats: code -> (name, bytes per value)
FMT_INT16, FMT_INT24, FMT_FLOAT32 = 1, 2, 3
FORMATS = {FMT_INT16: ("int16", 2), FMT_INT24: ("int24", 3), FMT_FLOAT32: ("float32", 4)}

MODALITIES = {
    1: Modality.EMG, 2: Modality.IMU, 3: Modality.EEG, 4: Modality.FORCE,
    5: Modality.MARKER, 6: Modality.OTHER,
}  # fmt: skip
MODALITY_CODES = {m: c for c, m in MODALITIES.items()}

ACK_STATUS = {0: "ok", 1: "bad argument", 2: "unsupported", 3: "bad state (stop streaming first)"}


def _pstr(s: str) -> bytes:
    b = s.encode("utf-8")
    if len(b) > MAX_STRING:
        raise FrameError(f"string {s!r} is {len(b)} bytes; the protocol allows at most {MAX_STRING}")
    return bytes([len(b)]) + b


class _Reader:
    """Bounded little-endian reader over one payload; errors name what was cut short."""

    def __init__(self, data: bytes, what: str) -> None:
        self.data, self.pos, self.what = data, 0, what

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise FrameError(f"{self.what} payload truncated at byte {self.pos} of {len(self.data)}")
        out = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return out

    def str(self) -> str:
        (n,) = self.take("<B")
        if self.pos + n > len(self.data):
            raise FrameError(f"{self.what} payload: string runs past the end")
        s = self.data[self.pos : self.pos + n].decode("utf-8", errors="replace")
        self.pos += n
        return s


def payload_hello_device(
    name: str, serial: str, firmware: tuple[int, int, int], n_streams: int, boot_id: int
) -> bytes:
    """HELLO payload of the device part (stream id ``0xFF``)."""
    return (
        struct.pack("<BBBBIH", n_streams, *firmware, boot_id & 0xFFFFFFFF, MAX_PAYLOAD)
        + _pstr(name)
        + _pstr(serial)
    )


def parse_hello_device(payload: bytes) -> dict:
    r = _Reader(payload, "HELLO (device)")
    n, fw0, fw1, fw2, boot_id, max_payload = r.take("<BBBBIH")
    return {
        "n_streams": n,
        "firmware": f"{fw0}.{fw1}.{fw2}",
        "boot_id": boot_id,
        "max_payload": max_payload,
        "name": r.str(),
        "serial": r.str(),
    }


def payload_hello_stream(
    modality: int,
    format: int,
    rate_hz: float,
    name: str,
    channels: Sequence[str],
    units: Sequence[str],
    scale: Sequence[float],
) -> bytes:
    """HELLO payload describing one stream (stream id = the stream's id)."""
    if not (len(channels) == len(units) == len(scale)) or not 0 < len(channels) < 256:
        raise FrameError("HELLO stream: need 1..255 channels with one unit and one scale each")
    out = struct.pack("<BBBBf", modality, format, len(channels), 0, rate_hz) + _pstr(name)
    for c, u, s in zip(channels, units, scale):
        out += _pstr(c) + _pstr(u) + struct.pack("<f", s)
    return out


def parse_hello_stream(payload: bytes) -> dict:
    r = _Reader(payload, "HELLO (stream)")
    modality, fmt, n_ch, _, rate = r.take("<BBBBf")
    name = r.str()
    channels, units, scale = [], [], []
    for _ in range(n_ch):
        channels.append(r.str())
        units.append(r.str())
        scale.append(r.take("<f")[0])
    return {
        "modality": modality,
        "format": fmt,
        "rate_hz": rate,
        "name": name,
        "channels": channels,
        "units": units,
        "scale": scale,
    }


def payload_data(format: int, samples: np.ndarray, period_q8: int) -> bytes:
    """DATA payload: ``u16 n_samples, u32 period_q8`` then samples x channels values.

    Parameters
    ----------
    format : int
        ``FMT_INT16``, ``FMT_INT24`` or ``FMT_FLOAT32``.
    samples : ndarray, shape (n_samples, n_channels)
        Raw values (integers for the integer formats).
    period_q8 : int
        Sample period in 1/256 microseconds of the device clock.
    """
    a = np.asarray(samples)
    if a.ndim != 2:
        raise FrameError(f"DATA samples must be 2-D (samples x channels), got shape {a.shape}")
    head = struct.pack("<HI", a.shape[0], period_q8)
    if format == FMT_INT16:
        if a.size and (a.min() < -32768 or a.max() > 32767):
            raise FrameError("int16 DATA value out of range")
        body = a.astype("<i2").tobytes()
    elif format == FMT_INT24:
        if a.size and (a.min() < -(2**23) or a.max() > 2**23 - 1):
            raise FrameError("int24 DATA value out of range")
        body = a.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    elif format == FMT_FLOAT32:
        body = a.astype("<f4").tobytes()
    else:
        raise FrameError(f"unknown sample format {format}; known: {sorted(FORMATS)}")
    if len(head) + len(body) > MAX_PAYLOAD:
        raise FrameError(f"DATA payload of {len(head) + len(body)} bytes exceeds {MAX_PAYLOAD}")
    return head + body


def parse_data(payload: bytes, format: int, n_channels: int) -> tuple[np.ndarray, int]:
    """Samples (n_samples x n_channels; int32 or float32) and period_q8 of one DATA payload."""
    r = _Reader(payload, "DATA")
    n, period = r.take("<HI")
    size = FORMATS[format][1]
    need = 6 + n * n_channels * size
    if len(payload) < need:
        raise FrameError(f"DATA payload of {len(payload)} bytes, {need} expected")
    body = np.frombuffer(payload, np.uint8, n * n_channels * size, 6)
    return _values(body, format).reshape(n, n_channels), period


def payload_status(
    battery_mv: int, battery_pct: int, tx_fill_pct: int, overruns: int, dropped_samples: int, rx_errors: int
) -> bytes:
    return struct.pack("<HBBIII", battery_mv, battery_pct, tx_fill_pct, overruns, dropped_samples, rx_errors)


def parse_status(payload: bytes) -> dict:
    v = _Reader(payload, "STATUS").take("<HBBIII")
    keys = ("battery_mv", "battery_pct", "tx_fill_pct", "overruns", "dropped_samples", "rx_errors")
    return dict(zip(keys, v))


def payload_event(code: int, value: int, text: str = "") -> bytes:
    return struct.pack("<Bi", code, value) + _pstr(text)


def parse_event(payload: bytes) -> dict:
    r = _Reader(payload, "EVENT")
    code, value = r.take("<Bi")
    return {"code": code, "value": value, "text": r.str()}


def payload_time_sync_req(token: int, host_send_us: int) -> bytes:
    return struct.pack("<IQ", token & 0xFFFFFFFF, host_send_us)


def parse_time_sync_req(payload: bytes) -> dict:
    token, host = _Reader(payload, "TIME_SYNC_REQ").take("<IQ")
    return {"token": token, "host_send_us": host}


def payload_time_sync_resp(token: int, host_send_us: int, device_rx_us: int, device_tx_us: int) -> bytes:
    return struct.pack("<IQQQ", token, host_send_us, device_rx_us, device_tx_us)


def parse_time_sync_resp(payload: bytes) -> dict:
    v = _Reader(payload, "TIME_SYNC_RESP").take("<IQQQ")
    return dict(zip(("token", "host_send_us", "device_rx_us", "device_tx_us"), v))


def payload_ack(command: int, status: int, command_seq: int) -> bytes:
    return struct.pack("<BBI", command, status, command_seq)


def parse_ack(payload: bytes) -> dict:
    v = _Reader(payload, "ACK").take("<BBI")
    return dict(zip(("command", "status", "command_seq"), v))


def payload_set_rate(rate_hz: float) -> bytes:
    return struct.pack("<f", rate_hz)


def parse_set_rate(payload: bytes) -> dict:
    return {"rate_hz": _Reader(payload, "SET_RATE").take("<f")[0]}


def _values(body: np.ndarray, format: int) -> np.ndarray:
    """Raw values from little-endian sample bytes: int32 for the integer formats, else float32."""
    if format == FMT_INT16:
        return body.view("<i2").astype(np.int32)
    if format == FMT_INT24:
        b = body.reshape(-1, 3).astype(np.int32)
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        return (v ^ 0x800000) - 0x800000
    if format == FMT_FLOAT32:
        return body.view("<f4").copy()
    raise FrameError(f"unknown sample format {format}")

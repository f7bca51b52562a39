"""Frames of the firmware_bridge protocol, one at a time: COBS, CRC-16, header.

On the wire a frame is ``COBS(header | payload | crc16) + b"\\x00"``:

====== ======== ===========================================================
offset type     field
====== ======== ===========================================================
0      u8       version, ``(major << 4) | minor``; this module speaks 1.x
1      u8       frame type (``T_*``)
2      u8       stream id (``0xFF`` = the device itself)
3      u8       flags; bit 0: the timestamp is 64-bit
4      u32      seq; for DATA the index of the frame's first sample
8      u32/u64  device timestamp, microseconds (first sample for DATA)
...    ...      payload
end-2  u16 BE   CRC-16/CCITT-FALSE over header + payload
====== ======== ===========================================================

All integers are little-endian except the CRC, which is sent high byte first so
that the CRC of a whole frame is 0. The per-frame API here serves commands, tests
and tools; a byte stream is decoded many frames at a time by
:class:`wearsense.bridge.decoder.FrameDecoder`.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass

from wearsense.errors import FrameError

__all__ = [
    "CRC_SIZE",
    "FLAG_TS64",
    "HEADER32",
    "HEADER64",
    "MAX_DECODED",
    "MAX_ENCODED",
    "MAX_PAYLOAD",
    "MIN_FRAME",
    "STREAM_DEVICE",
    "TYPE_NAMES",
    "T_ACK",
    "T_DATA",
    "T_EVENT",
    "T_HELLO",
    "T_HELLO_REQ",
    "T_SET_RATE",
    "T_START",
    "T_STATUS",
    "T_STOP",
    "T_TIME_SYNC_REQ",
    "T_TIME_SYNC_RESP",
    "VERSION",
    "VERSION_MAJOR",
    "VERSION_MINOR",
    "Header",
    "build_frame",
    "cobs_decode",
    "cobs_encode",
    "crc16",
    "decode_wire",
    "parse_frame",
]

VERSION_MAJOR = 1
VERSION_MINOR = 0
VERSION = (VERSION_MAJOR << 4) | VERSION_MINOR
HEADER32 = 12
HEADER64 = 16
CRC_SIZE = 2
MAX_PAYLOAD = 1024
MAX_DECODED = HEADER64 + MAX_PAYLOAD + CRC_SIZE
MAX_ENCODED = MAX_DECODED + MAX_DECODED // 254 + 1  # without the delimiter
MIN_FRAME = HEADER32 + CRC_SIZE
STREAM_DEVICE = 0xFF
FLAG_TS64 = 0x01

# frame types
T_HELLO = 0x01
T_DATA = 0x02
T_EVENT = 0x03
T_STATUS = 0x04
T_TIME_SYNC_RESP = 0x05
T_ACK = 0x06
T_START = 0x81
T_STOP = 0x82
T_SET_RATE = 0x83
T_TIME_SYNC_REQ = 0x84
T_HELLO_REQ = 0x85
TYPE_NAMES = {
    T_HELLO: "HELLO", T_DATA: "DATA", T_EVENT: "EVENT", T_STATUS: "STATUS",
    T_TIME_SYNC_RESP: "TIME_SYNC_RESP", T_ACK: "ACK", T_START: "START", T_STOP: "STOP",
    T_SET_RATE: "SET_RATE", T_TIME_SYNC_REQ: "TIME_SYNC_REQ", T_HELLO_REQ: "HELLO_REQ",
}  # fmt: skip


# ---------------------------------------------------------------------------- per frame


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final XOR).

    ``binascii.crc_hqx`` is exactly this CRC when started at 0xFFFF; check value
    ``crc16(b"123456789") == 0x29B1``.
    """
    return binascii.crc_hqx(bytes(data), 0xFFFF)


def cobs_encode(data: bytes | bytearray) -> bytes:
    """COBS-encode ``data`` (Cheshire & Baker 1999); the result holds no zero byte.

    The delimiter is not appended (see :func:`build_frame`).
    """
    out = bytearray()
    block = bytearray()
    for b in bytes(data):
        if b == 0:
            out.append(len(block) + 1)
            out += block
            block.clear()
        else:
            block.append(b)
            if len(block) == 254:
                out.append(255)
                out += block
                block.clear()
    out.append(len(block) + 1)
    out += block
    return bytes(out)


def cobs_decode(data: bytes | bytearray) -> bytes:
    """Decode one COBS block sequence (without delimiter); raises :class:`FrameError` if malformed."""
    data = bytes(data)
    if not data:
        raise FrameError("empty COBS frame")
    out = bytearray()
    i = 0
    n = len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise FrameError(f"zero byte inside a COBS frame at offset {i}")
        end = i + code
        if end > n:
            raise FrameError(f"COBS code byte at offset {i} points past the end ({end} > {n})")
        block = data[i + 1 : end]
        if 0 in block:
            raise FrameError("zero byte inside a COBS frame")
        out += block
        if code != 0xFF and end < n:
            out.append(0)
        i = end
    return bytes(out)


@dataclass(frozen=True)
class Header:
    """Header of one frame; ``timestamp_us`` is as sent (32-bit wrapped unless ``ts64``)."""

    version: int
    type: int
    stream: int
    flags: int
    seq: int
    timestamp_us: int

    @property
    def ts64(self) -> bool:
        return bool(self.flags & FLAG_TS64)


def build_frame(
    type: int,
    stream: int,
    seq: int,
    timestamp_us: int,
    payload: bytes = b"",
    *,
    ts64: bool = False,
    version: int = VERSION,
    flags: int = 0,
) -> bytes:
    """One frame as sent on the wire: ``COBS(header | payload | crc) + b"\\x00"``.

    Parameters
    ----------
    type, stream : int
        Frame type (``T_*``) and stream id (``0xFF`` for the device).
    seq : int
        Sequence number, taken modulo 2**32.
    timestamp_us : int
        Device (or host, for commands) time in microseconds; modulo 2**32 unless ``ts64``.
    payload : bytes
        At most :data:`MAX_PAYLOAD` bytes.
    """
    if len(payload) > MAX_PAYLOAD:
        raise FrameError(f"payload of {len(payload)} bytes exceeds the {MAX_PAYLOAD}-byte maximum")
    flags = (flags & ~FLAG_TS64) | (FLAG_TS64 if ts64 else 0)
    head = struct.pack("<BBBBI", version, type, stream, flags, seq & 0xFFFFFFFF)
    head += (
        struct.pack("<Q", timestamp_us & (2**64 - 1))
        if ts64
        else struct.pack("<I", timestamp_us & 0xFFFFFFFF)
    )
    body = head + bytes(payload)
    return cobs_encode(body + struct.pack(">H", crc16(body))) + b"\x00"


def parse_frame(frame: bytes | bytearray) -> tuple[Header, bytes]:
    """Parse one decoded (un-COBSed) frame: length, CRC and major version are checked."""
    frame = bytes(frame)
    if len(frame) < MIN_FRAME:
        raise FrameError(f"frame of {len(frame)} bytes is shorter than the {MIN_FRAME}-byte minimum")
    if crc16(frame[:-2]) != struct.unpack(">H", frame[-2:])[0]:
        raise FrameError("CRC mismatch")
    version, type_, stream, flags, seq = struct.unpack_from("<BBBBI", frame)
    if version >> 4 != VERSION_MAJOR:
        raise FrameError(
            f"frame speaks protocol {version >> 4}.{version & 15}; this host speaks {VERSION_MAJOR}.x: "
            "update wearsense (or flash firmware built for protocol 1.x)"
        )
    hlen = HEADER64 if flags & FLAG_TS64 else HEADER32
    if len(frame) < hlen + CRC_SIZE:
        raise FrameError("frame too short for its 64-bit timestamp")
    ts = struct.unpack_from("<Q" if flags & FLAG_TS64 else "<I", frame, 8)[0]
    return Header(version, type_, stream, flags, seq, ts), frame[hlen:-2]


def decode_wire(wire: bytes) -> tuple[Header, bytes]:
    """Parse one frame as sent on the wire (with or without its trailing delimiter)."""
    return parse_frame(cobs_decode(wire.rstrip(b"\x00")))

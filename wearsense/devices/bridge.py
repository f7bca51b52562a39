"""The firmware_bridge wire protocol in Python: COBS, CRC-16, frames, vectorised decoding.

This is the host half of ``firmware_bridge/PROTOCOL.md``; the C core in
``firmware_bridge/src`` is the device half, and ``firmware_bridge/vectors`` holds the
frames both must agree on.

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
that the CRC of a whole frame is 0.

Two levels of API:

- per frame, for commands, tests and tools: :func:`cobs_encode`, :func:`cobs_decode`,
  :func:`crc16`, :func:`build_frame`, :func:`parse_frame` and the payload builders and
  parsers (``payload_*``, ``parse_*``);
- per byte stream, for the driver: :class:`FrameDecoder` turns any number of received
  bytes into a :class:`FrameBatch` of every complete frame in them at once (COBS and
  CRC in one compiled pass, numba; headers by numpy indexing), and
  :func:`decode_samples` turns the DATA frames of one stream into sample, sequence
  and timestamp arrays without a Python loop per frame or per sample.

:func:`write_raw` exports streams (e.g. from the sim) to the WSRAW01 file the
emulator (``firmware_bridge/emulator``) plays back.
"""

from __future__ import annotations

import binascii
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

from wearsense.errors import FormatError, WearsenseError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = [
    "VERSION",
    "FrameBatch",
    "FrameDecoder",
    "FrameError",
    "Header",
    "SampleBlock",
    "StreamLayout",
    "build_frame",
    "cobs_decode",
    "cobs_encode",
    "crc16",
    "decode_samples",
    "parse_frame",
    "quantize",
    "write_raw",
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
MAX_STRING = 63

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

# sample formats: code -> (name, bytes per value)
FMT_INT16, FMT_INT24, FMT_FLOAT32 = 1, 2, 3
FORMATS = {FMT_INT16: ("int16", 2), FMT_INT24: ("int24", 3), FMT_FLOAT32: ("float32", 4)}

MODALITIES = {
    1: Modality.EMG, 2: Modality.IMU, 3: Modality.EEG, 4: Modality.FORCE,
    5: Modality.MARKER, 6: Modality.OTHER,
}  # fmt: skip
MODALITY_CODES = {m: c for c, m in MODALITIES.items()}

ACK_STATUS = {0: "ok", 1: "bad argument", 2: "unsupported", 3: "bad state (stop streaming first)"}

# status codes of the decoding kernel, also the keys of FrameDecoder.errors
ST_OK, ST_COBS, ST_SHORT, ST_CRC, ST_OVERSIZE = 0, 1, 2, 3, 4
ERROR_NAMES = {ST_COBS: "cobs", ST_SHORT: "short", ST_CRC: "crc", ST_OVERSIZE: "oversize"}


class FrameError(WearsenseError, ValueError):
    """One frame could not be decoded (per-frame API only; the stream decoder counts instead)."""


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
    head += struct.pack("<Q", timestamp_us & (2**64 - 1)) if ts64 else struct.pack("<I", timestamp_us & 0xFFFFFFFF)
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


# ---------------------------------------------------------------------------- payloads


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


# ---------------------------------------------------------------------------- stream decoding

def _crc_table() -> np.ndarray:
    table = np.zeros(256, np.uint16)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        table[i] = c & 0xFFFF
    return table


_CRC_TABLE = _crc_table()
# two bytes at once: the register's high byte goes through two steps, the low byte one
_CRC_TABLE2 = ((_CRC_TABLE.astype(np.int64) << 8) & 0xFFFF) ^ _CRC_TABLE[_CRC_TABLE >> 8]
_CRC_TABLE = _CRC_TABLE.astype(np.int64)


@numba.njit(cache=True, nogil=True)
def _unstuff(buf, n_end, out, fstart, flen, fend, status, table, table2, max_encoded, min_frame):  # pragma: no cover - jit
    """COBS-decode and CRC-check every complete frame in ``buf[:n_end]`` in one pass.

    Returns ``(n_frames, consumed)``: frames are written back to back into ``out``;
    ``consumed`` is the index after the last delimiter (bytes from there on belong
    to a frame still arriving); ``fend`` receives each frame's delimiter index.
    Empty segments (runs of zeros) are skipped. Each byte is read once: the code
    bytes are followed, and the copy of each block stops at a zero.
    """
    nf = 0
    o = 0
    consumed = 0
    i = 0
    while i < n_end:
        if buf[i] == 0:
            i += 1
            consumed = i
            continue
        seg = i
        p = i
        w = o
        st = 0
        end = -1
        while True:
            code = np.int64(buf[p])
            lim = p + code
            q = p + 1
            stop = min(n_end, lim)
            while q < stop and buf[q] != 0:
                out[w] = buf[q]
                w += 1
                q += 1
            if q < lim:
                if q >= n_end:
                    return nf, consumed  # the frame is still arriving
                st = 1  # a code byte points past the delimiter
                end = q
                break
            if lim >= n_end:
                return nf, consumed
            if buf[lim] == 0:
                end = lim
                break
            if lim - seg > max_encoded:
                st = 4
                q = lim
                while q < n_end and buf[q] != 0:
                    q += 1
                if q >= n_end:
                    return nf, consumed
                end = q
                break
            if code != 0xFF:
                out[w] = 0
                w += 1
            p = lim
        m = w - o
        if st == 0 and end - seg > max_encoded:
            st = 4
        if st == 0:
            if m < min_frame:
                st = 2
            else:
                # slicing by 2: two independent table lookups per 2 bytes
                crc = np.int64(0xFFFF)
                q = o
                while q + 1 < w:
                    c = crc ^ ((np.int64(out[q]) << 8) | np.int64(out[q + 1]))
                    crc = table2[c >> 8] ^ table[c & 0xFF]
                    q += 2
                if q < w:
                    crc = ((crc << 8) & 0xFFFF) ^ table[((crc >> 8) ^ out[q]) & 0xFF]
                if crc != 0:
                    st = 3
        fstart[nf] = o
        flen[nf] = m if st != 4 else 0
        fend[nf] = end
        status[nf] = st
        nf += 1
        if st == 0:
            o = w
        i = end + 1
        consumed = i
    return nf, consumed


@dataclass
class FrameBatch:
    """Every frame that passed COBS and CRC in one call of :meth:`FrameDecoder.feed`.

    Arrays have one entry per frame, in arrival order. ``data`` holds the decoded
    frames back to back; ``start`` indexes the first header byte of each and
    ``payload_start``/``payload_len`` its payload. ``timestamp_us`` is as sent (32-bit
    values are not unwrapped here). ``wire_end`` is the position of each frame's
    delimiter counted in bytes fed to the decoder since it was created.
    """

    data: np.ndarray
    start: np.ndarray
    length: np.ndarray
    version: np.ndarray
    type: np.ndarray
    stream: np.ndarray
    flags: np.ndarray
    seq: np.ndarray
    timestamp_us: np.ndarray
    payload_start: np.ndarray
    payload_len: np.ndarray
    wire_end: np.ndarray

    def __len__(self) -> int:
        return int(self.start.size)

    def select(self, mask: np.ndarray) -> FrameBatch:
        """The frames where ``mask`` is true (the bytes are shared)."""
        return FrameBatch(
            self.data, *(getattr(self, k)[mask] for k in _BATCH_ARRAYS)  # type: ignore[arg-type]
        )

    def payload(self, i: int) -> bytes:
        """Payload bytes of frame ``i``."""
        a = int(self.payload_start[i])
        return self.data[a : a + int(self.payload_len[i])].tobytes()

    def header(self, i: int) -> Header:
        return Header(
            int(self.version[i]), int(self.type[i]), int(self.stream[i]), int(self.flags[i]),
            int(self.seq[i]), int(self.timestamp_us[i]),
        )  # fmt: skip


_BATCH_ARRAYS = (
    "start", "length", "version", "type", "stream", "flags", "seq", "timestamp_us",
    "payload_start", "payload_len", "wire_end",
)  # fmt: skip


def _u32(d: np.ndarray, at: np.ndarray) -> np.ndarray:
    return (
        d[at].astype(np.uint32)
        | (d[at + 1].astype(np.uint32) << 8)
        | (d[at + 2].astype(np.uint32) << 16)
        | (d[at + 3].astype(np.uint32) << 24)
    )


class FrameDecoder:
    """Turn a byte stream into frames, many at a time; never raises on bad bytes.

    Feed it whatever the port delivered; it keeps the bytes of a frame still
    arriving for the next call. Bad frames are skipped and counted in
    :attr:`errors` (``cobs``, ``short``, ``crc``, ``oversize``, ``version``).

    Parameters
    ----------
    resync : bool
        The first bytes may be the tail of a frame whose start was missed (the port
        was just opened): if what comes before the first delimiter is not a valid
        frame, it is counted in :attr:`resync_bytes`, not as an error.
    """

    def __init__(self, resync: bool = True) -> None:
        self._resync_initial = resync
        self.reset()
        self.frames_ok = 0
        self.bytes_in = 0
        self.errors: dict[str, int] = {name: 0 for name in (*ERROR_NAMES.values(), "version")}
        self.resync_bytes = 0

    def reset(self) -> None:
        """Forget a partial frame (after reopening the port)."""
        self._pending = np.zeros(0, np.uint8)
        self._resync = self._resync_initial

    @property
    def frames_bad(self) -> int:
        return sum(self.errors.values())

    def feed(self, data: bytes | bytearray | memoryview | np.ndarray) -> FrameBatch:
        """Decode every frame completed by ``data``."""
        new = np.frombuffer(data, np.uint8) if not isinstance(data, np.ndarray) else data.astype(np.uint8, copy=False)
        self.bytes_in += new.size
        buf = np.concatenate((self._pending, new)) if self._pending.size else new
        first_may_be_partial = False
        if self._resync:
            if not (buf == 0).any():
                self._pending = buf[-MAX_ENCODED:].copy() if buf.size > MAX_ENCODED else buf.copy()
                return _empty_batch()
            self._resync = False
            first_may_be_partial = bool(buf[0] != 0)
        n_seg = int(np.count_nonzero(buf == 0))
        out = np.empty(buf.size, np.uint8)
        fstart = np.empty(n_seg, np.int64)
        flen = np.empty(n_seg, np.int64)
        fend = np.empty(n_seg, np.int64)
        status = np.empty(n_seg, np.uint8)
        nf, consumed = _unstuff(buf, buf.size, out, fstart, flen, fend, status, _CRC_TABLE, _CRC_TABLE2, MAX_ENCODED, MIN_FRAME)
        # wire position (in bytes fed so far) of each frame's delimiter, for arrival times
        fend = fend[:nf] + (self.bytes_in - buf.size)
        rest = buf[consumed:]
        if rest.size > MAX_ENCODED:
            # no delimiter for longer than any frame: count once, keep only the tail
            self.errors["oversize"] += 1
            rest = rest[-MAX_ENCODED:]
        self._pending = rest.copy()
        fstart, flen, status = fstart[:nf], flen[:nf], status[:nf]
        if first_may_be_partial and nf and status[0] != ST_OK:
            # the tail of a frame whose start was missed: not an error
            self.resync_bytes += int(fend[0] - (self.bytes_in - buf.size)) + 1
            status[0] = ST_OK
            flen[0] = -1
        if nf and status.any():
            codes, counts = np.unique(status[status != 0], return_counts=True)
            for c, k in zip(codes, counts):
                self.errors[ERROR_NAMES[int(c)]] += int(k)
        ok = (status == 0) & (flen >= 0)
        start, length, wire_end = fstart[ok], flen[ok], fend[ok]
        d = out
        version = d[start]
        good_version = (version >> 4) == VERSION_MAJOR
        flags = d[start + 3]
        hlen = np.where(flags & FLAG_TS64, HEADER64, HEADER32)
        good = good_version & (length >= hlen + CRC_SIZE)
        n_bad = int(good.size - np.count_nonzero(good))
        if n_bad:
            self.errors["version"] += int(np.count_nonzero(~good_version))
            self.errors["short"] += int(np.count_nonzero(good_version & ~good))
            start, length, version, flags, hlen = start[good], length[good], version[good], flags[good], hlen[good]
            wire_end = wire_end[good]
        self.frames_ok += int(start.size)
        ts = _u32(d, start + 8).astype(np.uint64)
        is64 = (flags & FLAG_TS64) != 0
        if is64.any():
            hi = _u32(d, np.where(is64, start + 12, start)).astype(np.uint64)
            ts = np.where(is64, ts | (hi << np.uint64(32)), ts)
        return FrameBatch(
            data=d,
            start=start,
            length=length,
            version=version,
            type=d[start + 1],
            stream=d[start + 2],
            flags=flags,
            seq=_u32(d, start + 4),
            timestamp_us=ts,
            payload_start=start + hlen,
            payload_len=length - hlen - CRC_SIZE,
            wire_end=wire_end,
        )


def _empty_batch() -> FrameBatch:
    z = np.zeros(0, np.int64)
    return FrameBatch(np.zeros(0, np.uint8), z, z, z.astype(np.uint8), z.astype(np.uint8), z.astype(np.uint8),
                      z.astype(np.uint8), z.astype(np.uint32), z.astype(np.uint64), z, z, z)  # fmt: skip


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


@numba.njit(cache=True, nogil=True)
def _gather(d, start, count, out_at, size, out):  # pragma: no cover - jit
    """Copy ``count[f]`` little-endian values of ``size`` bytes from ``d[start[f]:]`` to
    ``out[out_at[f]:]`` as int32 (2 and 3 bytes: sign-extended; 4 bytes: the raw bits,
    viewed as float32 by the caller)."""
    for f in range(start.size):
        p = start[f]
        o = out_at[f]
        for _ in range(count[f]):
            out[o] = _load(d, p, size)
            p += size
            o += 1


@numba.njit(cache=True, nogil=True)
def _gather_scaled(d, start, count, out_at, size, is_float, scale, out):  # pragma: no cover - jit
    """Like :func:`_gather`, writing float32 ``value * scale[channel]`` (``out`` is flat,
    sample-major, ``scale.size`` channels)."""
    n_ch = scale.size
    for f in range(start.size):
        p = start[f]
        o = out_at[f]
        for k in range(count[f]):
            v = _load(d, p, size)
            if is_float:
                out[o] = np.array([v], np.int32).view(np.float32)[0] * scale[k % n_ch]
            else:
                out[o] = np.float32(v) * scale[k % n_ch]
            p += size
            o += 1


@numba.njit(cache=True, nogil=True, inline="always")
def _load(d, p, size):  # pragma: no cover - jit
    if size == 2:
        v = np.int32(d[p]) | (np.int32(d[p + 1]) << 8)
        return v - ((v & 0x8000) << 1)
    if size == 3:
        v = np.int32(d[p]) | (np.int32(d[p + 1]) << 8) | (np.int32(d[p + 2]) << 16)
        return v - ((v & 0x800000) << 1)
    return np.int32(
        np.uint32(d[p]) | (np.uint32(d[p + 1]) << 8) | (np.uint32(d[p + 2]) << 16) | (np.uint32(d[p + 3]) << 24)
    )


@dataclass(frozen=True)
class StreamLayout:
    """What the host knows about one stream from its HELLO: how to read its DATA frames."""

    stream_id: int
    format: int
    n_channels: int
    scale: np.ndarray = field(default_factory=lambda: np.ones(1, np.float32))

    @property
    def sample_bytes(self) -> int:
        return FORMATS[self.format][1] * self.n_channels


@dataclass(frozen=True)
class SampleBlock:
    """The samples of one stream decoded from many DATA frames.

    Attributes
    ----------
    raw : ndarray, shape (n_samples, n_channels)
        Values as sent (int32 for the integer formats, float32 otherwise), or float32
        physical values (value x scale) when decoded with ``physical=True``.
    seq : ndarray of uint32, shape (n_samples,)
        Sequence number of each sample (the frame's seq plus the index in the frame),
        modulo 2**32.
    offset_us : ndarray of float64, shape (n_samples,)
        Time of each sample after its frame's timestamp, in microseconds
        (index in frame x period).
    frame : ndarray of int64, shape (n_samples,)
        Index of each sample's frame within the frames given.
    index : ndarray of int64, shape (n_samples,)
        Index of each sample within its frame.
    frame_n : ndarray of int64, shape (n_frames,)
        Samples per frame (0 for a frame whose payload was malformed).
    frame_period_us : ndarray of float64, shape (n_frames,)
        Sample period each frame declared, in microseconds.
    bad : int
        Frames whose payload did not hold the samples its header promised.
    """

    raw: np.ndarray
    seq: np.ndarray
    offset_us: np.ndarray
    frame: np.ndarray
    index: np.ndarray
    frame_n: np.ndarray
    frame_period_us: np.ndarray
    bad: int

    def values(self, scale: np.ndarray) -> np.ndarray:
        """Physical values, float32: ``raw * scale`` per channel."""
        return self.raw.astype(np.float32) * np.asarray(scale, np.float32)


def decode_samples(batch: FrameBatch, layout: StreamLayout, physical: bool = False) -> SampleBlock:
    """Vectorised decoding of the DATA frames of one stream (``batch`` holds only those).

    One compiled pass (numba) over all frames at once: no Python loop per frame or per sample.
    Frames whose payload is shorter than ``6 + n_samples * channels * bytes`` are
    dropped and counted in ``bad``; longer payloads are accepted (a newer minor
    version may append fields).

    With ``physical=True``, ``raw`` holds float32 physical values (``raw x
    layout.scale``, computed in the same pass) instead of the values as sent.
    """
    d = batch.data
    ps = batch.payload_start
    n = d[ps].astype(np.int64) | (d[ps + 1].astype(np.int64) << 8) if ps.size else np.zeros(0, np.int64)
    period = _u32(d, ps + 2).astype(np.float64) / 256.0 if ps.size else np.zeros(0)
    nbytes = n * layout.sample_bytes
    ok = (batch.payload_len >= 6) & (batch.payload_len >= 6 + nbytes)
    bad = int(ok.size - np.count_nonzero(ok))
    n = np.where(ok, n, 0)
    first = np.cumsum(n) - n
    total = int(n.sum())
    size = FORMATS[layout.format][1]
    if physical:
        raw = np.empty((total, layout.n_channels), np.float32)
        scale = np.ascontiguousarray(np.broadcast_to(np.asarray(layout.scale, np.float32), (layout.n_channels,)))
        _gather_scaled(d, ps + 6, n * layout.n_channels, first * layout.n_channels, size,
                       layout.format == FMT_FLOAT32, scale, raw.reshape(-1))
    elif layout.format == FMT_FLOAT32:
        raw = np.empty((total, layout.n_channels), np.float32)
        _gather(d, ps + 6, n * layout.n_channels, first * layout.n_channels, size, raw.view(np.int32).reshape(-1))
    else:
        raw = np.empty((total, layout.n_channels), np.int32)
        _gather(d, ps + 6, n * layout.n_channels, first * layout.n_channels, size, raw.reshape(-1))
    ns = total
    frame = np.repeat(np.arange(n.size), n)
    within = np.arange(ns) - np.repeat(first, n)
    seq = (batch.seq.astype(np.int64)[frame] + within).astype(np.uint32) if ns else np.zeros(0, np.uint32)
    offset = within * period[frame] if ns else np.zeros(0)
    return SampleBlock(raw, seq, offset, frame, within, n, period, bad)


def unwrap(raw: np.ndarray, last_raw: int | None, last: int, bits: int = 32) -> np.ndarray:
    """Unwrap a counter of ``bits`` bits: each step is taken as the signed difference
    modulo 2**bits from the previous value (so steps must stay under 2**(bits-1)).

    Parameters
    ----------
    raw : ndarray of unsigned int
        Counter values in order of arrival.
    last_raw, last : int
        The previous raw value and its unwrapped value (``last_raw=None``: start at ``raw[0]``).
    """
    r = raw.astype(np.int64)
    if r.size == 0:
        return r
    mod = 1 << bits
    half = mod >> 1
    prev = np.empty_like(r)
    prev[1:] = r[:-1]
    if last_raw is None:
        prev[0] = r[0]
        base = int(r[0])
    else:
        prev[0] = last_raw
        base = last
    step = ((r - prev + half) % mod) - half
    return base + np.cumsum(step)


# ---------------------------------------------------------------------------- export for the emulator


def quantize(x: np.ndarray, format: int, scale: Sequence[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Raw integer values and per-channel scale such that ``raw * scale ~= x``.

    ``scale`` defaults to the largest absolute value per channel over the format's
    full range (so nothing clips). Float32 streams are returned unchanged, scale 1.
    """
    x = np.asarray(x, np.float64)
    if format == FMT_FLOAT32:
        return x.astype(np.float32), np.ones(x.shape[1], np.float32)
    full = 32767 if format == FMT_INT16 else 2**23 - 1
    if scale is None:
        peak = np.nanmax(np.abs(x), axis=0) if x.size else np.ones(x.shape[1])
        scale = np.where(peak > 0, peak / full, 1.0)
    s = np.asarray(scale, np.float32)
    raw = np.clip(np.rint(np.nan_to_num(x) / s.astype(np.float64)), -full - 1, full).astype(np.int32)
    return raw, s


def write_raw(
    path: str | Path,
    streams: Iterable[tuple[StreamInfo, Chunk]] | Mapping[str, tuple[StreamInfo, Chunk]],
    formats: Mapping[str, int] | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write streams to a WSRAW01 file for the emulator (``--source FILE``).

    Layout (little-endian): ``b"WSRAW01\\n"``, ``u8 n_streams``, then per stream the
    HELLO stream payload (modality, format, channels, rate, name, label/unit/scale per
    channel) followed by ``u32 n_samples``; then per stream ``n_samples x n_channels``
    int32 (integer formats) or float32 values.

    Parameters
    ----------
    streams : iterable of (StreamInfo, Chunk), or a mapping name -> (StreamInfo, Chunk)
        E.g. ``rec.streams`` of the sim. Only EMG, IMU, EEG, FORCE and OTHER streams
        are written (pose belongs to a camera, not a wearable).
    formats : mapping, optional
        Sample format per stream name; default int24 for EMG/EEG, int16 otherwise.

    Returns
    -------
    dict
        Per stream name, the raw values and the float32 scale written, so a test can
        predict exactly what the host will decode (``raw * scale``).
    """
    items = list(streams.values()) if isinstance(streams, Mapping) else list(streams)
    items = [(i, c) for i, c in items if i.modality in MODALITY_CODES and i.modality is not Modality.MARKER]
    if not items or len(items) > 8:
        raise FormatError(f"WSRAW01 holds 1..8 wearable streams, got {len(items)}", str(path))
    formats = dict(formats or {})
    head = bytearray(b"WSRAW01\n") + bytes([len(items)])
    body = bytearray()
    written: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for info, chunk in items:
        fmt = formats.get(info.name, FMT_INT24 if info.modality in (Modality.EMG, Modality.EEG) else FMT_INT16)
        meta_scale = info.metadata.get("scale")
        raw, scale = quantize(chunk.data, fmt, meta_scale)
        name = info.name.encode()[:MAX_STRING].decode("utf-8", "ignore")
        head += payload_hello_stream(
            MODALITY_CODES[info.modality], fmt, info.rate_hz, name, info.channels, info.units, scale.tolist()
        )
        head += struct.pack("<I", raw.shape[0])
        body += raw.astype("<f4" if fmt == FMT_FLOAT32 else "<i4").tobytes()
        written[info.name] = (raw, scale)
    Path(path).write_bytes(bytes(head) + bytes(body))
    return written

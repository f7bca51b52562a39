"""Decoding a byte stream of firmware_bridge frames many at a time, without a Python loop per frame.

:class:`FrameDecoder` turns any number of received bytes into a :class:`FrameBatch`
of every complete frame in them at once (COBS and CRC in one compiled pass, numba;
headers by numpy indexing), and :func:`decode_samples` turns the DATA frames of one
stream into sample, sequence and timestamp offset arrays without a Python loop per
frame or per sample. :func:`unwrap` extends the protocol's 32-bit counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from wearsense.bridge.codec import (
    CRC_SIZE,
    FLAG_TS64,
    HEADER32,
    HEADER64,
    MAX_ENCODED,
    MIN_FRAME,
    VERSION_MAJOR,
    Header,
)
from wearsense.bridge.payloads import FMT_FLOAT32, FORMATS

__all__ = [
    "ERROR_NAMES",
    "ST_COBS",
    "ST_CRC",
    "ST_OK",
    "ST_OVERSIZE",
    "ST_SHORT",
    "FrameBatch",
    "FrameDecoder",
    "SampleBlock",
    "StreamLayout",
    "decode_samples",
    "unwrap",
]

# status codes of the decoding kernel, also the keys of FrameDecoder.errors
ST_OK, ST_COBS, ST_SHORT, ST_CRC, ST_OVERSIZE = 0, 1, 2, 3, 4
ERROR_NAMES = {ST_COBS: "cobs", ST_SHORT: "short", ST_CRC: "crc", ST_OVERSIZE: "oversize"}


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
def _unstuff(
    buf, n_end, out, fstart, flen, fend, status, table, table2, max_encoded, min_frame
):  # pragma: no cover - jit
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
            self.data,
            *(getattr(self, k)[mask] for k in _BATCH_ARRAYS),  # type: ignore[arg-type]
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
        new = (
            np.frombuffer(data, np.uint8)
            if not isinstance(data, np.ndarray)
            else data.astype(np.uint8, copy=False)
        )
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
        nf, consumed = _unstuff(
            buf, buf.size, out, fstart, flen, fend, status, _CRC_TABLE, _CRC_TABLE2, MAX_ENCODED, MIN_FRAME
        )
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
            start, length, version, flags, hlen = (
                start[good],
                length[good],
                version[good],
                flags[good],
                hlen[good],
            )
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
        np.uint32(d[p])
        | (np.uint32(d[p + 1]) << 8)
        | (np.uint32(d[p + 2]) << 16)
        | (np.uint32(d[p + 3]) << 24)
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
        scale = np.ascontiguousarray(
            np.broadcast_to(np.asarray(layout.scale, np.float32), (layout.n_channels,))
        )
        _gather_scaled(
            d,
            ps + 6,
            n * layout.n_channels,
            first * layout.n_channels,
            size,
            layout.format == FMT_FLOAT32,
            scale,
            raw.reshape(-1),
        )
    elif layout.format == FMT_FLOAT32:
        raw = np.empty((total, layout.n_channels), np.float32)
        _gather(
            d, ps + 6, n * layout.n_channels, first * layout.n_channels, size, raw.view(np.int32).reshape(-1)
        )
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

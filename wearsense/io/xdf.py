"""XDF sessions: a crash-safe recorder, a fast reader, and repair of truncated files.

XDF (Extensible Data Format 1.0, https://github.com/sccn/xdf/wiki/Specifications) is
the file format of Lab Streaming Layer: LabRecorder writes it and pyxdf, MNE, EEGLAB
and MoBILAB read it. A file is the magic ``b"XDF:"`` followed by chunks, each
``[NumLengthBytes][Length][Tag][Content]``; tags are FileHeader (1), StreamHeader (2),
Samples (3), ClockOffset (4), Boundary (5) and StreamFooter (6).

How wearsense uses the format
-----------------------------
- One Samples chunk per :class:`~wearsense.stream.Chunk` received, every sample with
  its own 8-byte timestamp (``Chunk.t`` in the device clock, bit-exact), values as
  ``float32``. Chunk boundaries therefore survive the round trip.
- One ClockOffset chunk after each Samples chunk whose ``received_s`` is known, in
  LabRecorder's convention (which pyxdf's clock synchronisation relies on): OffsetValue
  = ``received_s - t[-1]`` (device time + offset = host time) and CollectionTime =
  ``t[-1]``, the moment of the measurement in the stream's own clock (LabRecorder
  writes ``now - offset``). The offset includes the transport latency. The reader
  gives back ``received_s = CollectionTime + OffsetValue`` (equal to within 1 ulp).
- Sequence numbers: an extra irregular ``int64`` stream named ``wearsense-seq``
  (channels ``stream_id, sample_index, seq``) holds one row wherever a stream's
  sequence numbers do not continue by one (its first sample and after each gap), so
  loss is visible to any XDF reader and :func:`load` rebuilds ``Chunk.seq`` exactly.
- The StreamHeader of a stream is written, flushed and fsync'd together with its first
  Samples chunk, the moment that chunk arrives (or ``RecorderSettings.header_delay_s``
  after the stream was added, if no data comes), so it knows the stream's clock (``Chunk.clock``, kept in
  ``<desc><wearsense><clock>``). Channel labels, units and placement sit in the usual
  ``<desc><channels><channel><label/><unit/><type/>`` layout; the full
  ``StreamInfo.metadata`` is kept as JSON in ``<desc><wearsense><metadata>``.
- The file is written append-only from a buffer that is written and fsync'd at
  least every ``flush_interval_s`` (0.5 s by default) by a background thread, with a
  Boundary chunk at each flush. A killed process loses at most the unflushed buffer;
  power loss may leave a partial last chunk, which :func:`repair` trims before adding
  the StreamFooters that a clean :meth:`Recorder.close` writes.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import os
import shutil
import socket
import struct
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numba
import numpy as np

from wearsense.errors import FormatError, RecordingError, StreamError
from wearsense.stream import Chunk, Modality, StreamInfo, count_lost

log = logging.getLogger("wearsense")

__all__ = [
    "Recorder",
    "RecorderSettings",
    "RecorderState",
    "StreamStats",
    "XDFFile",
    "XDFStream",
    "RepairReport",
    "check_destination",
    "estimate_bytes_per_s",
    "load",
    "read_xdf",
    "iter_chunks",
    "repair",
    "SEQ_STREAM",
]

MAGIC = b"XDF:"
TAG_FILE_HEADER, TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_BOUNDARY, TAG_STREAM_FOOTER = range(1, 7)
#: The 16 bytes of every Boundary chunk (XDF 1.0 specification).
BOUNDARY_UUID = bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")
#: Name of the extra stream that holds sequence-number runs.
SEQ_STREAM = "wearsense-seq"
WRITER = "wearsense"

_FORMATS = {
    "float32": np.dtype("<f4"),
    "double64": np.dtype("<f8"),
    "int8": np.dtype("i1"),
    "int16": np.dtype("<i2"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
}


# ---------------------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------------------
def _varlen(n: int) -> bytes:
    """XDF variable-length integer: a byte saying 1, 4 or 8, then the value, little-endian."""
    if n < 256:
        return bytes((1, n))
    if n < 2**32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    e = ET.SubElement(parent, tag)
    e.text = text
    return e


def _xml(root: ET.Element) -> bytes:
    return b'<?xml version="1.0"?>' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def _placement(info: StreamInfo, i: int) -> str | None:
    p = info.metadata.get("placement")
    if isinstance(p, Mapping):
        v = p.get(info.channels[i])
        return None if v is None else str(v)
    if isinstance(p, (list, tuple)) and len(p) == info.n_channels:
        return str(p[i])
    return None


def _header_xml(info: StreamInfo, clock: str, fmt: str, created_at: float) -> bytes:
    root = ET.Element("info")
    _sub(root, "name", info.name)
    _sub(root, "type", info.modality.value)
    _sub(root, "channel_count", str(info.n_channels))
    _sub(root, "nominal_srate", repr(info.rate_hz))
    _sub(root, "channel_format", fmt)
    _sub(root, "source_id", info.source_id)
    _sub(root, "version", "1.1")
    _sub(root, "created_at", repr(created_at))
    _sub(root, "uid", str(uuid.uuid4()))
    _sub(root, "session_id", "default")
    _sub(root, "hostname", socket.gethostname())
    desc = _sub(root, "desc")
    channels = _sub(desc, "channels")
    for i, (label, unit) in enumerate(zip(info.channels, info.units)):
        ch = _sub(channels, "channel")
        _sub(ch, "label", label)
        _sub(ch, "unit", unit)
        _sub(ch, "type", info.modality.value)
        site = _placement(info, i)
        if site is not None:
            _sub(ch, "placement", site)
    ws = _sub(desc, "wearsense")
    _sub(ws, "clock", clock)
    _sub(ws, "metadata", info.metadata_json())
    return _xml(root)


def _footer_xml(first_t: float, last_t: float, n: int, extra: Mapping[str, str]) -> bytes:
    root = ET.Element("info")
    _sub(root, "first_timestamp", repr(float(first_t)))
    _sub(root, "last_timestamp", repr(float(last_t)))
    _sub(root, "sample_count", str(int(n)))
    ws = _sub(root, "wearsense")
    for k, v in extra.items():
        _sub(ws, k, v)
    return _xml(root)


def _samples_content(stream_id: int, t: np.ndarray, data: np.ndarray, dtype: np.dtype) -> bytes:
    """Samples chunk content with a timestamp on every sample (values little-endian)."""
    n, nch = data.shape
    rec = np.empty(n, dtype=[("k", "u1"), ("t", "<f8"), ("v", dtype, (nch,))])
    rec["k"] = 8
    rec["t"] = t
    rec["v"] = data
    return struct.pack("<I", stream_id) + _varlen(n) + rec.tobytes()


def _seq_stream_info() -> StreamInfo:
    return StreamInfo(
        SEQ_STREAM,
        Modality.STATUS,
        ("stream_id", "sample_index", "seq"),
        "",
        0.0,
        source_id=WRITER,
        metadata={
            "description": "one row wherever a stream's sequence numbers do not continue by one: "
            "XDF stream id, index of the sample in that stream, its sequence number; "
            "timestamp = that sample's timestamp"
        },
    )


def estimate_bytes_per_s(streams: Sequence[StreamInfo]) -> float:
    """File growth (bytes/s) for these streams at their nominal rates, with chunk overhead."""
    return sum(s.rate_hz * (9 + 4 * s.n_channels) * 1.1 for s in streams)


# ---------------------------------------------------------------------------------------
# recorder
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecorderSettings:
    """How a :class:`Recorder` writes.

    Parameters
    ----------
    flush_interval_s : float
        Longest time (s) data waits in memory before it is written and fsync'd; a
        crash loses at most this much (plus one write). Must be in (0, 1].
    fsync : bool
        Call ``os.fsync`` after every flush (power-loss safety). Only turn off for
        benchmarks of the encoder itself.
    header_delay_s : float
        A stream's header is written with its first chunk (to learn its clock), or
        after this many seconds (s) without data.
    overwrite : bool
        Replace an existing file instead of refusing to start.
    expected_duration_s : float or None
        Planned length (s); the free-space check asks for room for it (plus
        ``reserve_bytes``). ``None``: room for 60 s.
    reserve_bytes : int
        Free space (bytes) to keep in addition to the estimate.
    """

    flush_interval_s: float = 0.5
    fsync: bool = True
    header_delay_s: float = 1.0
    overwrite: bool = False
    expected_duration_s: float | None = None
    reserve_bytes: int = 16 * 2**20

    def __post_init__(self) -> None:
        if not 0 < self.flush_interval_s <= 1.0:
            raise RecordingError(
                f"flush_interval_s must be in (0, 1] s to keep the crash loss under a second, "
                f"got {self.flush_interval_s!r}"
            )
        if self.expected_duration_s is not None and not self.expected_duration_s > 0:
            raise RecordingError(f"expected_duration_s must be > 0 s, got {self.expected_duration_s!r}")


@dataclass(frozen=True)
class StreamStats:
    """Counters of one recorded stream (a snapshot)."""

    name: str
    stream_id: int
    samples: int
    chunks: int
    lost: int
    first_t: float
    last_t: float
    rate_hz: float

    @property
    def loss_fraction(self) -> float:
        """Lost / (received + lost); 0 when nothing was expected."""
        total = self.samples + self.lost
        return self.lost / total if total else 0.0


@dataclass(frozen=True)
class RecorderState:
    """What the recorder has done so far (for a status line)."""

    path: str
    bytes_written: int
    bytes_buffered: int
    flushes: int
    elapsed_s: float
    streams: tuple[StreamStats, ...]


@dataclass
class _Stream:
    info: StreamInfo
    stream_id: int
    added_s: float
    clock: str = ""
    header_written: bool = False
    samples: int = 0
    chunks: int = 0
    lost: int = 0
    last_seq: int | None = None
    first_t: float = math.nan
    last_t: float = math.nan


def check_destination(path: str | os.PathLike, required_bytes: int = 0, overwrite: bool = False) -> Path:
    """Raise :class:`RecordingError` unless a recording can be written to ``path``.

    Checks, before any device is opened: the folder exists and is a folder, the file
    does not exist (unless ``overwrite``), a file can be created there, and the disk
    has ``required_bytes`` free.

    Returns
    -------
    Path
        The absolute path.
    """
    p = Path(path).expanduser().absolute()
    folder = p.parent
    if p.suffix.lower() != ".xdf":
        raise RecordingError(f"recording path {str(p)!r} must end in .xdf (e.g. session.xdf)", str(p))
    if not folder.exists():
        raise RecordingError(f"cannot record to {str(p)!r}: folder {str(folder)!r} does not exist; create it first", str(p))
    if not folder.is_dir():
        raise RecordingError(f"cannot record to {str(p)!r}: {str(folder)!r} is not a folder", str(p))
    if p.exists() and not overwrite:
        raise RecordingError(
            f"{str(p)!r} already exists; choose another name or pass overwrite (--overwrite) to replace it",
            str(p),
        )
    if p.exists() and p.is_dir():
        raise RecordingError(f"cannot record to {str(p)!r}: it is a folder", str(p))
    probe = folder / f".{p.name}.{os.getpid()}.probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, b"XDF:")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise RecordingError(
            f"cannot write in {str(folder)!r} ({e.strerror or e}); pick a writable folder "
            "(check permissions, read-only mounts and free space)",
            str(p),
        ) from None
    try:
        free = shutil.disk_usage(folder).free
    except OSError as e:
        raise RecordingError(f"cannot query free space of {str(folder)!r}: {e.strerror or e}", str(p)) from None
    if free < required_bytes:
        raise RecordingError(
            f"not enough free space for {str(p)!r}: {free / 2**20:.1f} MiB free, "
            f"{required_bytes / 2**20:.1f} MiB needed; free some space, record to another disk, "
            "or record for less time",
            str(p),
        )
    return p


class Recorder:
    """Write streams of ``(StreamInfo, Chunk)`` into one crash-safe XDF file.

    >>> with Recorder("session.xdf", dev.streams) as rec:      # doctest: +SKIP
    ...     for info, chunk in dev:
    ...         rec.write(info, chunk)

    The destination is checked (writable, free space, not an existing file) and the
    FileHeader is on disk before the constructor returns. :meth:`write` is cheap (it
    encodes into a buffer); a background thread writes and fsyncs the buffer every
    ``flush_interval_s``. Errors of that thread (disk full) are raised by the next
    :meth:`write`, :meth:`flush` or :meth:`close`.

    Parameters
    ----------
    path : str or Path
        The ``.xdf`` file to create.
    streams : sequence of StreamInfo
        Streams known up front (more can appear later in :meth:`write`).
    settings : RecorderSettings, optional
    """

    def __init__(
        self,
        path: str | os.PathLike,
        streams: Sequence[StreamInfo] = (),
        settings: RecorderSettings | None = None,
    ) -> None:
        self.settings = settings or RecorderSettings()
        duration = self.settings.expected_duration_s or 60.0
        need = int(estimate_bytes_per_s(streams) * duration) + self.settings.reserve_bytes
        self.path = check_destination(path, need, self.settings.overwrite)
        self._t0 = time.monotonic()
        self._lock = threading.RLock()
        self._buf = bytearray()
        self._streams: dict[str, _Stream] = {}
        self._bytes_written = 0
        self._flushes = 0
        self._last_flush = self._t0
        self._error: RecordingError | None = None
        self._closed = False
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if self.settings.overwrite else os.O_EXCL)
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as e:
            raise RecordingError(f"cannot create {str(self.path)!r}: {e.strerror or e}", str(self.path)) from None
        root = ET.Element("info")
        _sub(root, "version", "1.0")
        _sub(root, "datetime", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        _sub(root, "writer", WRITER)
        self._buf += MAGIC + _chunk(TAG_FILE_HEADER, _xml(root))
        self._seq = self._add(_seq_stream_info())
        self._write_header(self._seq, "mixed: each row is in the clock of the stream it describes", "int64")
        for s in streams:
            self.add_stream(s)
        try:
            self.flush()
        except RecordingError:
            self._abort()
            raise
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._flush_loop, name=f"wearsense-recorder:{self.path.name}", daemon=True)
        self._thread.start()
        log.info("recording to %s", self.path)

    # -- streams ------------------------------------------------------------------------
    def _add(self, info: StreamInfo) -> _Stream:
        st = _Stream(info, len(self._streams) + 1, time.monotonic())
        self._streams[info.name] = st
        return st

    def add_stream(self, info: StreamInfo) -> None:
        """Declare a stream; its header is written with its first chunk."""
        with self._lock:
            if info.name == SEQ_STREAM:
                raise StreamError(f"stream name {SEQ_STREAM!r} is reserved by the recorder; rename the stream")
            known = self._streams.get(info.name)
            if known is not None:
                if known.info.channels != info.channels:
                    raise StreamError(
                        f"recorder: stream {info.name!r} was declared with channels {known.info.channels}, "
                        f"now {info.channels}; give streams unique names"
                    )
                return
            self._add(info)

    def _write_header(self, st: _Stream, clock: str, fmt: str = "float32") -> None:
        st.clock = clock
        st.header_written = True
        xml = _header_xml(st.info, clock, fmt, time.time())
        self._buf += _chunk(TAG_STREAM_HEADER, struct.pack("<I", st.stream_id) + xml)

    # -- data ---------------------------------------------------------------------------
    def write(self, info: StreamInfo, chunk: Chunk) -> None:
        """Append one chunk of stream ``info`` (declared now if new)."""
        self._raise_pending()
        if self._closed:
            raise RecordingError(f"recorder for {str(self.path)!r} is closed", str(self.path))
        with self._lock:
            st = self._streams.get(info.name)
            if st is None or st is self._seq:
                self.add_stream(info)
                st = self._streams[info.name]
            if chunk.n_channels != st.info.n_channels:
                raise StreamError(
                    f"recorder: stream {info.name!r} has {st.info.n_channels} channels, chunk has {chunk.n_channels}"
                )
            if chunk.n == 0:
                return
            first = not st.header_written
            if first:
                self._write_header(st, chunk.clock)
            elif chunk.clock != st.clock:
                raise StreamError(
                    f"recorder: stream {info.name!r} changed clock from {st.clock!r} to {chunk.clock!r}; "
                    "record re-timed data as a new stream"
                )
            if st.samples and chunk.t[0] < st.last_t:
                raise StreamError(
                    f"recorder: stream {info.name!r} goes back in time ({chunk.t[0]:.6f} s after {st.last_t:.6f} s)"
                )
            seq = chunk.seq
            expected = np.empty_like(seq)
            expected[1:] = seq[:-1] + 1
            expected[0] = -1 if st.last_seq is None else st.last_seq + 1
            breaks = np.flatnonzero(seq != expected)
            if breaks.size:
                if st.last_seq is not None and seq[0] <= st.last_seq:
                    raise StreamError(
                        f"recorder: stream {info.name!r} sequence numbers go back ({st.last_seq} then {int(seq[0])})"
                    )
                rows = np.stack(
                    [np.full(breaks.size, st.stream_id), st.samples + breaks, seq[breaks]], axis=1
                ).astype(np.int64)
                self._buf += _chunk(TAG_SAMPLES, _samples_content(self._seq.stream_id, chunk.t[breaks], rows, np.dtype("<i8")))
                self._seq.samples += breaks.size
                st.lost += count_lost(seq, st.last_seq)
            self._buf += _chunk(TAG_SAMPLES, _samples_content(st.stream_id, chunk.t, chunk.data, np.dtype("<f4")))
            if math.isfinite(chunk.received_s):
                self._buf += _chunk(
                    TAG_CLOCK_OFFSET,
                    struct.pack("<Idd", st.stream_id, float(chunk.t[-1]), chunk.received_s - float(chunk.t[-1])),
                )
            if not st.samples:
                st.first_t = float(chunk.t[0])
            st.samples += chunk.n
            st.chunks += 1
            st.last_seq = int(seq[-1])
            st.last_t = float(chunk.t[-1])
        # a new stream's header and first samples go to disk at once
        if first or time.monotonic() - self._last_flush >= self.settings.flush_interval_s:
            self.flush()

    def flush(self) -> None:
        """Write the buffer (with a Boundary chunk) and fsync it now."""
        with self._lock:
            self._raise_pending()
            if self._closed:
                return
            now = time.monotonic()
            for st in self._streams.values():
                if not st.header_written and now - st.added_s >= self.settings.header_delay_s:
                    self._write_header(st, f"device:{st.info.name}")
            if self._buf:
                if self._bytes_written:
                    self._buf += _chunk(TAG_BOUNDARY, BOUNDARY_UUID)
                data = memoryview(bytes(self._buf))
                self._buf.clear()
                try:
                    while data:
                        n = os.write(self._fd, data)
                        data = data[n:]
                        self._bytes_written += n
                    if self.settings.fsync:
                        os.fsync(self._fd)
                except OSError as e:
                    self._error = RecordingError(
                        f"writing {str(self.path)!r} failed after {self._bytes_written} bytes: "
                        f"{e.strerror or e}; the file holds everything flushed before; free space, "
                        f"then run 'wearsense repair {self.path}'",
                        str(self.path),
                    )
                    self._raise_pending()
                self._flushes += 1
            self._last_flush = now

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.settings.flush_interval_s / 2):
            if time.monotonic() - self._last_flush >= self.settings.flush_interval_s / 2:
                try:
                    self.flush()
                except RecordingError as e:
                    log.error("%s", e)
                    return

    def _raise_pending(self) -> None:
        if self._error is not None:
            err = self._error
            raise err

    @property
    def state(self) -> RecorderState:
        """A snapshot of counters: bytes on disk and buffered, per-stream samples and loss."""
        with self._lock:
            stats = tuple(
                StreamStats(s.info.name, s.stream_id, s.samples, s.chunks, s.lost, s.first_t, s.last_t, s.info.rate_hz)
                for s in self._streams.values()
                if s is not self._seq
            )
            return RecorderState(
                str(self.path), self._bytes_written, len(self._buf), self._flushes, time.monotonic() - self._t0, stats
            )

    # -- closing ------------------------------------------------------------------------
    def close(self) -> None:
        """Flush, write a StreamFooter per stream, fsync and close. Safe to call twice."""
        if self._closed:
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        try:
            with self._lock:
                for st in self._streams.values():
                    if not st.header_written:
                        self._write_header(st, f"device:{st.info.name}")
                self.flush()
                for st in self._streams.values():
                    extra = {"lost_samples": str(st.lost), "chunks": str(st.chunks), "clock": st.clock}
                    self._buf += _chunk(
                        TAG_STREAM_FOOTER,
                        struct.pack("<I", st.stream_id) + _footer_xml(st.first_t, st.last_t, st.samples, extra),
                    )
                self.flush()
        finally:
            self._closed = True
            os.close(self._fd)
        log.info("closed %s (%d bytes)", self.path, self._bytes_written)

    def _abort(self) -> None:
        self._closed = True
        try:
            os.close(self._fd)
        except OSError:
            pass

    def __enter__(self) -> "Recorder":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------------------------
# scanning (numba: a 10-minute session holds ~10^6 chunks)
# ---------------------------------------------------------------------------------------
_OK, _TRUNCATED, _CORRUPT = 0, 1, 2


@numba.njit(cache=True)
def _read_uint(buf, p, nbytes):  # pragma: no cover - compiled
    v = 0
    for i in range(nbytes):
        v |= np.int64(buf[p + i]) << (8 * i)
    return v


@numba.njit(cache=True)
def _walk(buf, start, out, fill):  # pragma: no cover - compiled
    """Walk chunks from ``start``. Rows of out: chunk start, content start, end, tag, stream id.

    Returns (number of chunks, status, position of the first bad chunk).
    """
    n = len(buf)
    p = start
    k = 0
    while p < n:
        nb = buf[p]
        if nb != 1 and nb != 4 and nb != 8:
            return k, 2, p
        if p + 1 + nb + 2 > n:
            return k, 1, p
        length = _read_uint(buf, p + 1, nb)
        if length < 2 or length > (1 << 40):
            return k, 2, p
        q = p + 1 + nb
        end = q + length
        tag = np.int64(buf[q]) | (np.int64(buf[q + 1]) << 8)
        if tag < 1 or tag > 6:
            return k, 2, p
        if end > n:
            return k, 1, p
        sid = -1
        if tag == 2 or tag == 3 or tag == 4 or tag == 6:
            if length < 6:
                return k, 2, p
            sid = _read_uint(buf, q + 2, 4)
        if tag == 4 and length != 22:
            return k, 2, p
        if tag == 5:
            if length != 18:
                return k, 2, p
        if fill:
            out[k, 0] = p
            out[k, 1] = q + 2
            out[k, 2] = end
            out[k, 3] = tag
            out[k, 4] = sid
        k += 1
        p = end
    return k, 0, p


@numba.njit(cache=True)
def _count_samples(buf, starts, ends, sample_bytes, out_n, out_ok):  # pragma: no cover - compiled
    """Validate Samples chunks of one numeric stream; out_n = samples per chunk."""
    for i in range(len(starts)):
        p = starts[i] + 4
        e = ends[i]
        out_ok[i] = False
        out_n[i] = 0
        if p >= e:
            continue
        nb = buf[p]
        if (nb != 1 and nb != 4 and nb != 8) or p + 1 + nb > e:
            continue
        m = _read_uint(buf, p + 1, nb)
        p += 1 + nb
        good = True
        for _ in range(m):
            if p >= e:
                good = False
                break
            tb = buf[p]
            if tb == 8:
                p += 9 + sample_bytes
            elif tb == 0:
                p += 1 + sample_bytes
            else:
                good = False
                break
            if p > e:
                good = False
                break
        if good and p == e:
            out_ok[i] = True
            out_n[i] = m


@numba.njit(cache=True)
def _decode_samples(buf, starts, sample_bytes, tdiff, out_t, out_v):  # pragma: no cover - compiled
    """Copy timestamps and raw value bytes of validated Samples chunks, in order."""
    j = 0
    last = 0.0
    tmp = np.empty(8, np.uint8)
    for i in range(len(starts)):
        p = starts[i] + 4
        nb = buf[p]
        m = _read_uint(buf, p + 1, nb)
        p += 1 + nb
        for _ in range(m):
            if buf[p] == 8:
                tmp[:] = buf[p + 1 : p + 9]
                last = tmp.view(np.float64)[0]
                p += 9
            else:
                last = last + tdiff
                p += 1
            out_t[j] = last
            out_v[j, :] = buf[p : p + sample_bytes]
            p += sample_bytes
            j += 1


@dataclass(frozen=True)
class _Scan:
    chunks: np.ndarray  # (n, 5) int64: start, content start, end, tag, stream id
    valid_bytes: int  # end of the last good chunk before any trouble
    bad_regions: tuple[tuple[int, int], ...]  # byte ranges skipped
    truncated: bool


def _scan(buf: np.ndarray, path: str, recover: bool) -> _Scan:
    parts = []
    bad: list[tuple[int, int]] = []
    truncated = False
    pos = 4
    valid_bytes = -1
    while True:
        k, status, stop = _walk(buf, pos, np.empty((0, 5), np.int64), False)
        out = np.empty((k, 5), np.int64)
        _walk(buf, pos, out, True)
        parts.append(out)
        if status == _OK:
            break
        if valid_bytes < 0:
            valid_bytes = int(stop)
        if not recover:
            what = "truncated" if status == _TRUNCATED else "corrupted"
            raise FormatError(
                f"{path}: XDF file {what} at byte {stop} of {len(buf)} (the chunk there is "
                f"{'incomplete' if status == _TRUNCATED else 'not valid XDF'}); "
                f"run 'wearsense repair {path}' to keep everything before it",
                path,
                int(stop),
            )
        nxt = bytes(buf[stop + 1 :]).find(BOUNDARY_UUID) if stop + 1 < len(buf) else -1
        if nxt < 0:
            truncated = status == _TRUNCATED or stop < len(buf)
            bad.append((int(stop), len(buf)))
            break
        resume = int(stop) + 1 + nxt + len(BOUNDARY_UUID)
        bad.append((int(stop), resume))
        pos = resume
    chunks = np.concatenate(parts) if parts else np.empty((0, 5), np.int64)
    return _Scan(chunks, len(buf) if valid_bytes < 0 else valid_bytes, tuple(bad), truncated)


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class XDFStream:
    """One stream of an XDF file.

    Attributes
    ----------
    stream_id : int
        The XDF stream id.
    info : StreamInfo
    chunk : Chunk
        Every sample; ``t`` as stored (the stream's own clock), ``seq`` rebuilt from the
        ``wearsense-seq`` stream (consecutive from 0 for files of other writers).
    chunk_ends : ndarray of int64
        Sample index where each stored Samples chunk ends (original chunking).
    received_s : ndarray of float64
        Host arrival time of each stored chunk (NaN where the file does not say).
    clock_offsets : ndarray, shape (n, 2)
        ClockOffset chunks: collection time (s, in the stream's clock, as LabRecorder
        writes it), offset (s; stream time + offset = recorder host time).
    fmt : str
        XDF channel format as stored (``float32``, ``double64``, ``string``, ...).
    header : ET.Element
        The StreamHeader ``<info>`` element.
    footer : ET.Element or None
        The StreamFooter, or None if the recording did not close cleanly.
    strings : list of list of str or None
        Values of a ``string`` stream (marker stream); ``chunk`` then holds zeros.
    """

    stream_id: int
    info: StreamInfo
    chunk: Chunk
    chunk_ends: np.ndarray
    received_s: np.ndarray
    clock_offsets: np.ndarray
    fmt: str
    header: ET.Element
    footer: ET.Element | None
    strings: list[list[str]] | None = None

    def chunks(self) -> Iterator[Chunk]:
        """The stream as it was stored, chunk by chunk (with ``received_s``)."""
        a = 0
        for z, r in zip(self.chunk_ends, self.received_s):
            c = self.chunk[a:z]
            yield Chunk(c.data, c.t, c.seq, c.clock, r)
            a = z

    @property
    def lost(self) -> int:
        """Samples missing according to the sequence numbers."""
        return count_lost(self.chunk.seq)


@dataclass(frozen=True)
class XDFFile:
    """An XDF file read into memory.

    Attributes
    ----------
    path : str
    header : ET.Element
        The FileHeader ``<info>`` element.
    streams : dict of str to XDFStream
        Data streams by name (the ``wearsense-seq`` stream is folded into ``seq``).
    order : ndarray, shape (n, 2)
        (index into ``streams`` values, chunk index) of every stored chunk in file order.
    size_bytes : int
    valid_bytes : int
        End of the last intact chunk before the first problem (= size when intact).
    bad_regions : tuple of (start, end)
        Byte ranges that could not be read (``recover=True`` only).
    truncated : bool
        The file ends inside a chunk.
    """

    path: str
    header: ET.Element
    streams: dict[str, XDFStream]
    order: np.ndarray
    size_bytes: int
    valid_bytes: int
    bad_regions: tuple[tuple[int, int], ...]
    truncated: bool

    @property
    def writer(self) -> str:
        return self.header.findtext("writer") or ""

    @property
    def closed_cleanly(self) -> bool:
        """Every stream has a footer and nothing was cut off."""
        return not self.bad_regions and all(s.footer is not None for s in self.streams.values())

    def as_streams(self) -> dict[str, tuple[StreamInfo, Chunk]]:
        """``{name: (info, chunk)}``, the shape every reader and ``sim.generate`` return."""
        return {n: (s.info, s.chunk) for n, s in self.streams.items()}

    def iter_chunks(self) -> Iterator[tuple[StreamInfo, Chunk]]:
        """Stored chunks of every stream in file (arrival) order."""
        streams = list(self.streams.values())
        cache = [list(s.chunks()) for s in streams]
        for si, ci in self.order:
            yield streams[si].info, cache[si][ci]


_MODALITY_ALIASES = {"markers": Modality.MARKER, "marker": Modality.MARKER, "mocap": Modality.POSE}


def _modality(xdf_type: str) -> Modality:
    low = xdf_type.strip().lower()
    if low in _MODALITY_ALIASES:
        return _MODALITY_ALIASES[low]
    try:
        return Modality.parse(low)
    except StreamError:
        return Modality.OTHER


def _parse_xml(raw: bytes, path: str, offset: int, what: str) -> ET.Element:
    try:
        return ET.fromstring(raw.decode("utf-8", "replace"))
    except ET.ParseError as e:
        raise FormatError(f"{path}: {what} at byte {offset} is not valid XML ({e})", path, offset) from None


def _info_from_header(root: ET.Element, stream_id: int, names: set[str]) -> tuple[StreamInfo, str, str]:
    """StreamInfo, clock and channel format from a StreamHeader ``<info>``."""
    name = root.findtext("name") or f"stream{stream_id}"
    if name in names:
        name = f"{name}#{stream_id}"
    nch = int(root.findtext("channel_count") or 0)
    fmt = (root.findtext("channel_format") or "float32").strip()
    rate = float(root.findtext("nominal_srate") or 0.0)
    xdf_type = root.findtext("type") or ""
    labels, units = [], []
    for ch in root.findall("./desc/channels/channel"):
        labels.append((ch.findtext("label") or "").strip())
        units.append((ch.findtext("unit") or "").strip())
    if len(labels) != nch or len(set(labels)) != nch or not all(labels):
        labels = [f"ch{i}" for i in range(nch)]
        units = [""] * nch
    ws = root.find("./desc/wearsense")
    if ws is not None:
        metadata = json.loads(ws.findtext("metadata") or "{}")
        clock = ws.findtext("clock") or f"device:{name}"
    else:
        metadata = {"xdf_type": xdf_type, "hostname": root.findtext("hostname") or ""}
        host = root.findtext("hostname")
        clock = f"lsl:{host}" if host else f"device:{name}"
    info = StreamInfo(
        name, _modality(xdf_type), labels, units, rate if math.isfinite(rate) and rate >= 0 else 0.0,
        source_id=root.findtext("source_id") or "", metadata=metadata,
    )
    return info, clock, fmt


def _read_bytes(path: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise FormatError(f"{path}: no such file", path)
    if p.is_dir():
        raise FormatError(f"{path}: is a folder, not an XDF file", path)
    raw = p.read_bytes()
    if p.suffix == ".xdfz" or p.name.endswith(".xdf.gz"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise FormatError(f"{path}: cannot decompress ({e})", path) from None
    if raw[:4] != MAGIC:
        raise FormatError(
            f"{path}: not an XDF file (starts with {raw[:4]!r}, expected b'XDF:'); "
            "check the file, or read other formats with wearsense.io.read",
            path,
            0,
        )
    return np.frombuffer(raw, np.uint8)


def _doubles(buf: np.ndarray, at: np.ndarray, k: int) -> np.ndarray:
    """``k`` little-endian float64 values starting at each byte offset in ``at``: shape (len(at), k)."""
    idx = np.asarray(at, np.int64)[:, None] + np.arange(8 * k)
    return np.ascontiguousarray(buf[idx]).view("<f8").reshape(len(at), k).astype(np.float64)


def _rebuild_seq(n: int, rows: np.ndarray) -> np.ndarray:
    """Sequence numbers of ``n`` samples from (sample_index, seq) run starts."""
    seq = np.arange(n, dtype=np.int64)
    rows = rows[(rows[:, 0] >= 0) & (rows[:, 0] < n)]
    if rows.size:
        rows = rows[np.argsort(rows[:, 0], kind="stable")]
        idx = np.searchsorted(rows[:, 0], np.arange(n), side="right") - 1
        has = idx >= 0
        seq[has] = rows[idx[has], 1] + (np.arange(n)[has] - rows[idx[has], 0])
    if n > 1 and (np.diff(seq) <= 0).any():
        seq = np.arange(n, dtype=np.int64)
    return seq


def _decode_strings(buf: bytes, start: int, end: int, nch: int, tdiff: float, last: float) -> tuple[list, list, float]:
    p = start + 4
    mv = memoryview(buf)

    def varlen(p: int) -> tuple[int, int]:
        nb = buf[p]
        if nb not in (1, 4, 8):
            raise ValueError("bad length")
        return int.from_bytes(mv[p + 1 : p + 1 + nb], "little"), p + 1 + nb

    m, p = varlen(p)
    ts, vals = [], []
    for _ in range(m):
        if buf[p] == 8:
            last = struct.unpack_from("<d", buf, p + 1)[0]
            p += 9
        else:
            last += tdiff
            p += 1
        row = []
        for _c in range(nch):
            ln, p = varlen(p)
            row.append(bytes(mv[p : p + ln]).decode("utf-8", "replace"))
            p += ln
        ts.append(last)
        vals.append(row)
    if p != end:
        raise ValueError("sample bytes do not fill the chunk")
    return ts, vals, last


def load(path: str | os.PathLike, *, recover: bool = False) -> XDFFile:
    """Read an XDF file (ours or another writer's) with wearsense's own fast reader.

    Parameters
    ----------
    path : str or Path
        ``.xdf`` (or gzip-compressed ``.xdfz``) file.
    recover : bool
        Read what can be read from a truncated or corrupted file (skipping to the next
        Boundary chunk after a bad one, dropping an incomplete last chunk) instead of
        raising. Samples and timestamps are never altered.

    Raises
    ------
    FormatError
        Not XDF, truncated or corrupted (unless ``recover``), with the byte offset and
        the fix (``wearsense repair``).
    """
    path = str(path)
    buf = _read_bytes(path)
    raw: bytes = buf.base if isinstance(buf.base, bytes) else buf.tobytes()
    scan = _scan(buf, path, recover)
    ch = scan.chunks
    if not len(ch) or ch[0, 3] != TAG_FILE_HEADER:
        raise FormatError(f"{path}: XDF file has no FileHeader chunk (truncated right after the magic bytes?)", path, 4)
    fh = _parse_xml(raw[ch[0, 1] : ch[0, 2]], path, int(ch[0, 0]), "FileHeader")
    ours = (fh.findtext("writer") or "") == WRITER
    bad = list(scan.bad_regions)

    headers: dict[int, tuple[StreamInfo, str, str, ET.Element]] = {}
    footers: dict[int, ET.Element] = {}
    names: set[str] = set()
    for start, cs, end, tag, sid in ch[(ch[:, 3] == TAG_STREAM_HEADER) | (ch[:, 3] == TAG_STREAM_FOOTER)]:
        try:
            xml = _parse_xml(raw[cs + 4 : end], path, int(start), "StreamHeader" if tag == 2 else "StreamFooter")
        except FormatError:
            if not recover:
                raise
            bad.append((int(start), int(end)))
            continue
        if tag == TAG_STREAM_HEADER:
            if sid in headers:
                continue
            try:
                info, clock, fmt = _info_from_header(xml, int(sid), names)
            except (ValueError, StreamError) as e:
                if not recover:
                    raise FormatError(f"{path}: StreamHeader at byte {start} is not usable ({e})", path, int(start)) from None
                bad.append((int(start), int(end)))
                continue
            if fmt not in _FORMATS and fmt != "string":
                raise FormatError(f"{path}: stream {info.name!r} has unknown channel_format {fmt!r}", path, int(start))
            names.add(info.name)
            headers[int(sid)] = (info, clock, fmt, xml)
        else:
            footers[int(sid)] = xml

    is_samples = ch[:, 3] == TAG_SAMPLES
    unknown = is_samples & ~np.isin(ch[:, 4], list(headers))
    if unknown.any():
        i = int(np.argmax(unknown))
        if not recover:
            raise FormatError(
                f"{path}: Samples chunk at byte {ch[i, 0]} belongs to stream {ch[i, 4]}, which has no "
                f"StreamHeader before it; run 'wearsense repair {path}'",
                path,
                int(ch[i, 0]),
            )
        bad.extend((int(a), int(b)) for a, b in ch[unknown][:, [0, 2]])

    # ClockOffset chunk right after a Samples chunk of the same stream: that chunk's arrival
    nxt_tag = np.append(ch[1:, 3], 0)
    nxt_sid = np.append(ch[1:, 4], -1)
    paired = is_samples & (nxt_tag == TAG_CLOCK_OFFSET) & (nxt_sid == ch[:, 4])
    offs_rows = np.flatnonzero(ch[:, 3] == TAG_CLOCK_OFFSET)

    decoded: dict[int, dict[str, Any]] = {}
    for sid, (info, clock, fmt, xml) in headers.items():
        rows = np.flatnonzero(is_samples & (ch[:, 4] == sid))
        tdiff = 1.0 / info.rate_hz if info.rate_hz > 0 else 0.0
        strings = None
        if fmt == "string":
            ts_all, vals_all, ends, keep = [], [], [], []
            last = 0.0
            for r in rows:
                try:
                    ts, vals, last = _decode_strings(raw, int(ch[r, 1]), int(ch[r, 2]), info.n_channels, tdiff, last)
                except (ValueError, IndexError, struct.error) as e:
                    if not recover:
                        raise FormatError(f"{path}: Samples chunk at byte {ch[r, 0]} is corrupted ({e})", path, int(ch[r, 0])) from None
                    bad.append((int(ch[r, 0]), int(ch[r, 2])))
                    continue
                ts_all.extend(ts)
                vals_all.extend(vals)
                keep.append(r)
                ends.append(len(ts_all))
            rows = np.asarray(keep, np.int64)
            t = np.asarray(ts_all, np.float64)
            values = np.zeros((len(t), info.n_channels), np.float32)
            strings = vals_all
            chunk_ends = np.asarray(ends, np.int64)
        else:
            dtype = _FORMATS[fmt]
            sb = dtype.itemsize * info.n_channels
            n_per = np.zeros(len(rows), np.int64)
            ok = np.zeros(len(rows), np.bool_)
            _count_samples(buf, ch[rows, 1], ch[rows, 2], sb, n_per, ok)
            if not ok.all():
                i = int(np.argmin(ok))
                if not recover:
                    raise FormatError(
                        f"{path}: Samples chunk at byte {ch[rows[i], 0]} of stream {info.name!r} is corrupted "
                        f"(its samples do not fill its length); run 'wearsense repair {path}'",
                        path,
                        int(ch[rows[i], 0]),
                    )
                bad.extend((int(a), int(b)) for a, b in ch[rows[~ok]][:, [0, 2]])
                rows, n_per = rows[ok], n_per[ok]
            total = int(n_per.sum())
            t = np.empty(total, np.float64)
            vbytes = np.empty((total, sb), np.uint8)
            _decode_samples(buf, np.ascontiguousarray(ch[rows, 1]), sb, tdiff, t, vbytes)
            values = vbytes.view(dtype).reshape(total, info.n_channels)
            chunk_ends = np.cumsum(n_per)
        received = np.full(len(rows), np.nan)
        if ours and len(rows):
            pr = np.flatnonzero(paired[rows])
            received[pr] = _doubles(buf, ch[rows[pr] + 1, 1] + 4, 2).sum(axis=1)
        offsets = _doubles(buf, ch[offs_rows[ch[offs_rows, 4] == sid], 1] + 4, 2)
        decoded[sid] = dict(t=t, values=values, ends=chunk_ends, rows=rows, received=received,
                            offsets=offsets, strings=strings)

    seq_rows = np.empty((0, 3), np.int64)
    seq_sid = next((sid for sid, h in headers.items() if h[0].name == SEQ_STREAM and ours), None)
    if seq_sid is not None:
        seq_rows = decoded.pop(seq_sid)["values"].astype(np.int64)

    streams: dict[str, XDFStream] = {}
    file_pos = []
    for sid, d in decoded.items():
        info, clock, fmt, xml = headers[sid]
        t = d["t"]
        if t.size > 1 and (np.diff(t) < 0).any():
            i = int(np.argmax(np.diff(t) < 0)) + 1
            if not recover:
                raise FormatError(
                    f"{path}: stream {info.name!r} timestamps go backwards at sample {i} "
                    f"({t[i - 1]:.6f} -> {t[i]:.6f} s); the file is corrupted or was written by a "
                    "recorder that mixed clocks",
                    path,
                )
            keep = np.concatenate([[True], np.maximum.accumulate(t)[:-1] <= t[1:]])
            t, d["values"] = t[keep], d["values"][keep]
            d["ends"] = np.searchsorted(np.flatnonzero(keep), d["ends"] - 1, side="right")
        mine = seq_rows[seq_rows[:, 0] == sid][:, 1:]
        seq = _rebuild_seq(len(t), mine)
        chunk = Chunk(d["values"], t, seq, clock, d["received"][-1] if len(d["received"]) else math.nan)
        streams[info.name] = XDFStream(
            sid, info, chunk, np.asarray(d["ends"], np.int64), d["received"], d["offsets"], fmt, xml,
            footers.get(sid), d["strings"],
        )
        file_pos.append(ch[d["rows"], 0])
    order = np.empty((0, 2), np.int64)
    if file_pos:
        which = np.concatenate([np.full(len(p), i) for i, p in enumerate(file_pos)])
        idx = np.concatenate([np.arange(len(p)) for p in file_pos])
        pos = np.concatenate(file_pos)
        o = np.argsort(pos, kind="stable")
        order = np.stack([which[o], idx[o]], axis=1).astype(np.int64)
    return XDFFile(path, fh, streams, order, len(buf), scan.valid_bytes, tuple(sorted(set(bad))), scan.truncated)


def load_pyxdf(path: str | os.PathLike) -> dict[str, tuple[StreamInfo, Chunk]]:
    """Read through ``pyxdf.load_xdf`` (no clock sync, no dejitter), as wearsense streams.

    The reference reader: slower than :func:`load` and it does not keep chunk
    boundaries or arrival times, but it is what the rest of the field uses.
    """
    import pyxdf

    path = str(path)
    _read_bytes(path)
    try:
        raw_streams, fh = pyxdf.load_xdf(path, synchronize_clocks=False, dejitter_timestamps=False)
    except Exception as e:  # pyxdf raises bare Exceptions on bad files
        raise FormatError(f"{path}: pyxdf cannot read it ({type(e).__name__}: {e}); try 'wearsense repair {path}'", path) from None
    ours = (fh["info"].get("writer") or [""])[0] == WRITER
    by_id = {}
    names: set[str] = set()
    for s in raw_streams:
        xml = _pyxdf_info_to_xml(s["info"])
        sid = int(s["info"]["stream_id"])
        info, clock, fmt = _info_from_header(xml, sid, names)
        names.add(info.name)
        by_id[sid] = (info, clock, s)
    seq_rows = np.empty((0, 3), np.int64)
    for sid, (info, clock, s) in list(by_id.items()):
        if ours and info.name == SEQ_STREAM:
            seq_rows = np.asarray(s["time_series"], np.int64).reshape(-1, 3)
            del by_id[sid]
    out = {}
    for sid, (info, clock, s) in by_id.items():
        ts = s["time_series"]
        t = np.asarray(s["time_stamps"], np.float64)
        data = np.zeros((len(t), info.n_channels), np.float32) if isinstance(ts, list) else np.asarray(ts)
        seq = _rebuild_seq(len(t), seq_rows[seq_rows[:, 0] == sid][:, 1:])
        received = s["clock_times"][-1] if (ours and s["clock_times"]) else math.nan
        out[info.name] = (info, Chunk(data.reshape(len(t), info.n_channels), t, seq, clock, received))
    return out


def _pyxdf_info_to_xml(d: Any, tag: str = "info") -> ET.Element:
    """pyxdf's nested ``{tag: [value]}`` dicts back into an Element."""
    e = ET.Element(tag)
    if isinstance(d, dict):
        for k, vs in d.items():
            if k in ("stream_id", "effective_srate", "segments", "clock_segments"):
                continue
            for v in vs if isinstance(vs, list) else [vs]:
                e.append(_pyxdf_info_to_xml(v, k))
    elif d is not None:
        e.text = str(d)
    return e


def read_xdf(path: str | os.PathLike, *, recover: bool = False) -> dict[str, tuple[StreamInfo, Chunk]]:
    """``{name: (StreamInfo, Chunk)}`` of every data stream in an XDF file (see :func:`load`)."""
    return load(path, recover=recover).as_streams()


def iter_chunks(path: str | os.PathLike, *, recover: bool = False) -> Iterator[tuple[StreamInfo, Chunk]]:
    """The stored chunks of every stream in file (arrival) order, with ``received_s``."""
    return load(path, recover=recover).iter_chunks()


# ---------------------------------------------------------------------------------------
# repair
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RepairReport:
    """What :func:`repair` did.

    Attributes
    ----------
    path : str
        The repaired file.
    backup : str
        Copy of the original ("" if none was made).
    bytes_before, bytes_after : int
    dropped : tuple of (start, end)
        Byte ranges of the original that were dropped (a cut-off last chunk, corrupted chunks).
    footers_added : tuple of str
        Streams that got a StreamFooter.
    samples : dict of str to int
        Samples per stream in the repaired file.
    """

    path: str
    backup: str
    bytes_before: int
    bytes_after: int
    dropped: tuple[tuple[int, int], ...]
    footers_added: tuple[str, ...]
    samples: Mapping[str, int] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.dropped or self.footers_added)


def repair(path: str | os.PathLike, out: str | os.PathLike | None = None, *, backup: bool = True) -> RepairReport:
    """Make a crashed or damaged XDF file readable by every XDF reader.

    Drops a cut-off last chunk and any corrupted chunks (resuming at the next Boundary
    chunk), and appends a StreamFooter (first/last timestamp, sample count) for every
    stream that lacks one. Samples that reached the disk intact are kept bit for bit.

    Parameters
    ----------
    path : str or Path
        The damaged file.
    out : str or Path, optional
        Where to write the repaired file; default: repair ``path`` in place.
    backup : bool
        When repairing in place, first copy the original to ``<path>.bak``.
    """
    path = str(path)
    f = load(path, recover=True)
    raw = _read_bytes(path).tobytes()
    scan = _scan(np.frombuffer(raw, np.uint8), path, recover=True)
    ch = scan.chunks
    dropped = set(f.bad_regions)
    drop_starts = {a for a, _ in f.bad_regions}
    keep = np.array([int(s) not in drop_starts for s in ch[:, 0]], bool)
    needs_footer = [s for s in f.streams.values() if s.footer is None]
    seq_footer = [sid for sid in np.unique(ch[ch[:, 3] == TAG_STREAM_HEADER, 4])
                  if sid not in {s.stream_id for s in f.streams.values()}
                  and not ((ch[:, 3] == TAG_STREAM_FOOTER) & (ch[:, 4] == sid)).any()]
    tail = bytearray()
    for s in needs_footer:
        c = s.chunk
        extra = {"lost_samples": str(s.lost), "chunks": str(len(s.chunk_ends)), "clock": c.clock,
                 "repaired": "true"}
        first, last = (float(c.t[0]), float(c.t[-1])) if c.n else (0.0, 0.0)
        tail += _chunk(TAG_STREAM_FOOTER, struct.pack("<I", s.stream_id) + _footer_xml(first, last, c.n, extra))
    for sid in seq_footer:
        tail += _chunk(TAG_STREAM_FOOTER, struct.pack("<I", int(sid)) + _footer_xml(0.0, 0.0, 0, {"repaired": "true"}))
    target = Path(out) if out is not None else Path(path)
    bak = ""
    if out is None and (dropped or tail) and backup:
        bak = path + ".bak"
        shutil.copyfile(path, bak)
    if not dropped and not tail and out is None:
        return RepairReport(path, "", len(raw), len(raw), (), (), {n: s.chunk.n for n, s in f.streams.items()})
    tmp = target.with_name(f".{target.name}.repair.tmp")
    with open(tmp, "wb") as fo:
        fo.write(raw[:4])
        for (start, _cs, end, _tag, _sid), k in zip(ch, keep):
            if k:
                fo.write(raw[start:end])
        fo.write(tail)
        fo.flush()
        os.fsync(fo.fileno())
    os.replace(tmp, target)
    after = load(target)
    return RepairReport(
        str(target), bak, len(raw), target.stat().st_size, tuple(sorted(dropped)),
        tuple(s.info.name for s in needs_footer), {n: s.chunk.n for n, s in after.streams.items()},
    )

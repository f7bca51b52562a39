"""Reading XDF files (ours and other writers') into wearsense streams.

:func:`load` is wearsense's own fast reader (the chunk table from :mod:`.scan`, numba
decoding); :func:`load_pyxdf` reads through pyxdf, the reference reader of the field.
Both give back the chunks, timestamps, sequence numbers and clocks that were recorded,
bit for bit.
"""

from __future__ import annotations

import math
import os
import struct
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wearsense.errors import FormatError, StreamError
from wearsense.io.xdf.events import EVENTS_STREAM, decode_event
from wearsense.io.xdf.format import (
    CHANNEL_FORMATS,
    SEQ_STREAM,
    TAG_CLOCK_OFFSET,
    TAG_FILE_HEADER,
    TAG_SAMPLES,
    TAG_STREAM_FOOTER,
    TAG_STREAM_HEADER,
    MAGIC,
    WRITER,
    decode_strings,
    info_from_header,
    parse_xml,
)
from wearsense.io.xdf.scan import count_samples, decode_chunks, doubles_at, read_bytes, scan, walk
from wearsense.stream import Chunk, StreamInfo, count_lost

__all__ = ["XDFFile", "XDFStream", "iter_chunks", "load", "load_pyxdf", "read_xdf"]


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

    A stream read with ``load(..., values=False)`` (or not chosen by a ``values``
    predicate) has ``chunk.data`` of shape (samples, 0): timestamps, sequence numbers,
    arrivals, header and footer as stored, no sample values.
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
    events : tuple of dict
        The ``wearsense-events`` rows (device failed, silent, reset, clock segment ...),
        oldest first, each a dict with ``kind``, ``device``, ``stream``, ``t``,
        ``message``, ``host_s`` and details (:mod:`~wearsense.io.xdf.events`); that
        stream is not among :attr:`streams`.
    """

    path: str
    header: ET.Element
    streams: dict[str, XDFStream]
    order: np.ndarray
    size_bytes: int
    valid_bytes: int
    bad_regions: tuple[tuple[int, int], ...]
    truncated: bool
    events: tuple[dict, ...] = ()

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


class _Damage:
    """Problems met while reading: raised at once, or (``recover``) noted as byte ranges and skipped."""

    def __init__(self, path: str, recover: bool, regions: tuple[tuple[int, int], ...] = ()) -> None:
        self.path = path
        self.recover = recover
        self.regions: list[tuple[int, int]] = list(regions)

    def found(self, problem: str | FormatError, start: int | None = None, end: int | None = None) -> None:
        """Raise ``problem`` (a message about this file, or a FormatError); under ``recover``
        note the byte range [start, end) instead and go on."""
        if not self.recover:
            if isinstance(problem, FormatError):
                raise problem
            raise FormatError(f"{self.path}: {problem}", self.path, start)
        if start is not None and end is not None:
            self.regions.append((int(start), int(end)))


@dataclass
class _Decoded:
    """One stream's samples as stored: the Samples chunks kept (table rows) and what they hold."""

    t: np.ndarray
    values: np.ndarray
    ends: np.ndarray  # sample index where each kept chunk ends
    rows: np.ndarray  # rows of the chunk table
    strings: list[list[str]] | None = None
    last: float = 0.0  # timestamp of the last sample (for a next chunk's samples stored without one)
    received: np.ndarray = field(default_factory=lambda: np.empty(0))  # arrival of each kept chunk
    offsets: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))  # ClockOffset chunks
    starts: np.ndarray = field(
        default_factory=lambda: np.empty(0, np.int64)
    )  # byte offset of each kept chunk


_Header = tuple[StreamInfo, str, str, ET.Element]  # info, clock, channel format, <info>


def _headers(
    raw: bytes | bytearray,
    ch: np.ndarray,
    damage: _Damage,
    headers: dict[int, _Header] | None = None,
    footers: dict[int, ET.Element] | None = None,
) -> tuple[dict[int, _Header], dict[int, ET.Element]]:
    """StreamHeaders (the first of each stream id) and StreamFooters by stream id, added to
    ``headers`` and ``footers`` when given (a file read window by window)."""
    headers = {} if headers is None else headers
    footers = {} if footers is None else footers
    names: set[str] = {h[0].name for h in headers.values()}
    for start, cs, end, tag, sid in ch[(ch[:, 3] == TAG_STREAM_HEADER) | (ch[:, 3] == TAG_STREAM_FOOTER)]:
        what = "StreamHeader" if tag == TAG_STREAM_HEADER else "StreamFooter"
        try:
            xml = parse_xml(raw[cs + 4 : end], damage.path, int(start), what)
        except FormatError as e:
            damage.found(e, start, end)
            continue
        if tag == TAG_STREAM_FOOTER:
            footers[int(sid)] = xml
            continue
        if sid in headers:
            continue
        try:
            info, clock, fmt = info_from_header(xml, int(sid), names)
        except (ValueError, StreamError) as e:
            damage.found(f"StreamHeader at byte {start} is not usable ({e})", start, end)
            continue
        if fmt not in CHANNEL_FORMATS and fmt != "string":
            raise FormatError(
                f"{damage.path}: stream {info.name!r} has unknown channel_format {fmt!r}",
                damage.path,
                int(start),
            )
        names.add(info.name)
        headers[int(sid)] = (info, clock, fmt, xml)
    return headers, footers


def _decode_string_stream(
    raw: bytes | bytearray,
    ch: np.ndarray,
    rows: np.ndarray,
    info: StreamInfo,
    damage: _Damage,
    last: float = 0.0,
) -> _Decoded:
    """A ``string`` (marker) stream: values as text, ``values`` zeros."""
    tdiff = 1.0 / info.rate_hz if info.rate_hz > 0 else 0.0
    ts_all: list[float] = []
    vals_all: list[list[str]] = []
    ends, keep = [], []
    for r in rows:
        try:
            ts, vals, last = decode_strings(raw, int(ch[r, 1]), int(ch[r, 2]), info.n_channels, tdiff, last)
        except (ValueError, IndexError, struct.error) as e:
            damage.found(f"Samples chunk at byte {ch[r, 0]} is corrupted ({e})", ch[r, 0], ch[r, 2])
            continue
        ts_all.extend(ts)
        vals_all.extend(vals)
        keep.append(r)
        ends.append(len(ts_all))
    t = np.asarray(ts_all, np.float64)
    values = np.zeros((len(t), info.n_channels), np.float32)
    return _Decoded(t, values, np.asarray(ends, np.int64), np.asarray(keep, np.int64), vals_all, last)


def _decode_numeric_stream(
    buf: np.ndarray,
    ch: np.ndarray,
    rows: np.ndarray,
    info: StreamInfo,
    fmt: str,
    damage: _Damage,
    last: float = 0.0,
    values: bool = True,
) -> _Decoded:
    """A numeric stream: every Samples chunk validated (numba), then timestamps and (if
    ``values``) values copied; without values ``values`` has shape (n, 0)."""
    dtype = CHANNEL_FORMATS[fmt]
    sb = dtype.itemsize * info.n_channels
    n_per = np.zeros(len(rows), np.int64)
    ok = np.zeros(len(rows), np.bool_)
    count_samples(buf, ch[rows, 1], ch[rows, 2], sb, n_per, ok)
    for r in rows[~ok]:
        damage.found(
            f"Samples chunk at byte {ch[r, 0]} of stream {info.name!r} is corrupted (its samples do not fill "
            f"its length); run 'wearsense repair {damage.path}'",
            ch[r, 0],
            ch[r, 2],
        )
    rows, n_per = rows[ok], n_per[ok]
    total = int(n_per.sum())
    t = np.empty(total, np.float64)
    vbytes = np.empty((total, sb if values else 0), np.uint8)
    tdiff = 1.0 / info.rate_hz if info.rate_hz > 0 else 0.0
    last = decode_chunks(buf, np.ascontiguousarray(ch[rows, 1]), sb, tdiff, float(last), t, vbytes)
    v = vbytes.view(dtype).reshape(total, info.n_channels) if values else np.empty((total, 0), dtype)
    return _Decoded(t, v, np.cumsum(n_per), rows, None, float(last))


def _keep_forward_in_time(d: _Decoded, info: StreamInfo, damage: _Damage) -> None:
    """Timestamps must not go back; under ``recover`` drop the samples that do."""
    t = d.t
    back = np.diff(t) < 0
    if not back.any():
        return
    i = int(np.argmax(back)) + 1
    damage.found(
        f"stream {info.name!r} timestamps go backwards at sample {i} ({t[i - 1]:.6f} -> {t[i]:.6f} s); "
        "the file is corrupted or was written by a recorder that mixed clocks"
    )
    keep = np.concatenate([[True], np.maximum.accumulate(t)[:-1] <= t[1:]])
    d.t, d.values = t[keep], d.values[keep]
    d.ends = np.searchsorted(np.flatnonzero(keep), d.ends - 1, side="right")


def _file_order(file_pos: list[np.ndarray]) -> np.ndarray:
    """(stream index, chunk index) of every chunk, sorted by its byte offset in the file."""
    if not file_pos:
        return np.empty((0, 2), np.int64)
    which = np.concatenate([np.full(len(p), i) for i, p in enumerate(file_pos)])
    idx = np.concatenate([np.arange(len(p)) for p in file_pos])
    o = np.argsort(np.concatenate(file_pos), kind="stable")
    return np.stack([which[o], idx[o]], axis=1).astype(np.int64)


_WINDOW = 1 << 24  # bytes read at a time by the window-by-window path (grows for a bigger chunk)


def load(
    path: str | os.PathLike,
    *,
    recover: bool = False,
    values: bool | Callable[[StreamInfo], bool] = True,
) -> XDFFile:
    """Read an XDF file (ours or another writer's) with wearsense's own fast reader.

    Parameters
    ----------
    path : str or Path
        ``.xdf`` (or gzip-compressed ``.xdfz``) file.
    recover : bool
        Read what can be read from a truncated or corrupted file (skipping to the next
        Boundary chunk after a bad one, dropping an incomplete last chunk) instead of
        raising. Samples and timestamps are never altered.
    values : bool or callable
        Which streams' sample values to read: all (``True``), none (``False``), or those
        whose :class:`StreamInfo` the callable accepts. The others keep everything else
        (timestamps, sequence numbers, arrivals, offsets, header, footer) with
        ``chunk.data`` of shape (samples, 0). Unless ``True``, an intact uncompressed
        file is read a window (16 MB) at a time, so memory holds the timestamps and
        the chosen values, not the file (``wearsense info`` on an hour: see
        docs/recording.md); a damaged or compressed file is read whole, with the same result.

    Raises
    ------
    FormatError
        Not XDF, truncated or corrupted (unless ``recover``), with the byte offset and
        the fix (``wearsense repair``).
    """
    path = str(path)
    want = values if callable(values) else (lambda _info, _all=bool(values): _all)
    if values is not True:
        try:
            f = _load_windows(path, want)
        except FormatError:  # damaged: the whole-file reader says what and where (or recovers)
            f = None
        if f is not None:
            return f
    buf = read_bytes(path)
    raw: bytes = buf.base if isinstance(buf.base, bytes) else buf.tobytes()
    found = scan(buf, path, recover)
    ch = found.chunks
    if not len(ch) or ch[0, 3] != TAG_FILE_HEADER:
        raise FormatError(
            f"{path}: XDF file has no FileHeader chunk (truncated right after the magic bytes?)", path, 4
        )
    file_header = parse_xml(raw[ch[0, 1] : ch[0, 2]], path, int(ch[0, 0]), "FileHeader")
    ours = (file_header.findtext("writer") or "") == WRITER
    damage = _Damage(path, recover, found.bad_regions)
    headers, footers = _headers(raw, ch, damage)
    decoded = _decode_window(buf, raw, ch, 0, headers, ours, want, damage, {})
    return _assemble(
        path,
        file_header,
        ours,
        headers,
        footers,
        decoded,
        damage,
        len(buf),
        found.valid_bytes,
        found.truncated,
    )


def _decode_window(
    buf: np.ndarray,
    raw: bytes | bytearray,
    ch: np.ndarray,
    base: int,
    headers: dict[int, _Header],
    ours: bool,
    want: Callable[[StreamInfo], bool],
    damage: _Damage,
    last: dict[int, float],
) -> dict[int, _Decoded]:
    """Every stream's Samples chunks among the table rows ``ch`` of the bytes ``buf``
    (byte ``base`` of the file), with arrivals and clock offsets; ``last`` carries each
    stream's last timestamp from window to window."""
    is_samples = ch[:, 3] == TAG_SAMPLES
    for r in np.flatnonzero(is_samples & ~np.isin(ch[:, 4], list(headers))):
        damage.found(
            f"Samples chunk at byte {ch[r, 0] + base} belongs to stream {ch[r, 4]}, which has no "
            "StreamHeader "
            f"before it; run 'wearsense repair {damage.path}'",
            ch[r, 0] + base,
            ch[r, 2] + base,
        )
    # a ClockOffset chunk right after a Samples chunk of the same stream is that chunk's arrival
    paired = (
        is_samples & (np.append(ch[1:, 3], 0) == TAG_CLOCK_OFFSET) & (np.append(ch[1:, 4], -1) == ch[:, 4])
    )
    is_offset = ch[:, 3] == TAG_CLOCK_OFFSET
    out: dict[int, _Decoded] = {}
    for sid, (info, _clock, fmt, _xml) in headers.items():
        rows = np.flatnonzero(is_samples & (ch[:, 4] == sid))
        if fmt == "string":
            d = _decode_string_stream(raw, ch, rows, info, damage, last.get(sid, 0.0))
        else:
            wanted = want(info) or (ours and info.name == SEQ_STREAM)
            d = _decode_numeric_stream(buf, ch, rows, info, fmt, damage, last.get(sid, 0.0), wanted)
        last[sid] = d.last
        d.received = np.full(len(d.rows), np.nan)
        if ours:
            pr = np.flatnonzero(paired[d.rows])
            d.received[pr] = doubles_at(buf, ch[d.rows[pr] + 1, 1] + 4, 2).sum(axis=1)
        d.offsets = doubles_at(buf, ch[is_offset & (ch[:, 4] == sid), 1] + 4, 2)
        d.starts = ch[d.rows, 0] + base
        out[sid] = d
    return out


def _assemble(
    path: str,
    file_header: ET.Element,
    ours: bool,
    headers: dict[int, _Header],
    footers: dict[int, ET.Element],
    decoded: dict[int, _Decoded],
    damage: _Damage,
    size: int,
    valid_bytes: int,
    truncated: bool,
) -> XDFFile:
    """The :class:`XDFFile` from the decoded streams (sequence numbers and events folded in)."""
    seq_sid = next((sid for sid, h in headers.items() if ours and h[0].name == SEQ_STREAM), None)
    seq_rows = (
        decoded.pop(seq_sid).values.astype(np.int64) if seq_sid is not None else np.empty((0, 3), np.int64)
    )
    ev_sid = next((sid for sid, h in headers.items() if ours and h[0].name == EVENTS_STREAM), None)
    events: tuple[dict, ...] = ()
    if ev_sid is not None:
        ev = decoded.pop(ev_sid)
        events = tuple(
            decode_event(row[0] if row else "", float(t)) for t, row in zip(ev.t, ev.strings or [])
        )
    streams: dict[str, XDFStream] = {}
    for sid, d in decoded.items():
        info, clock, fmt, xml = headers[sid]
        _keep_forward_in_time(d, info, damage)
        seq = _rebuild_seq(len(d.t), seq_rows[seq_rows[:, 0] == sid][:, 1:])
        chunk = Chunk(d.values, d.t, seq, clock, d.received[-1] if len(d.received) else math.nan)
        streams[info.name] = XDFStream(
            sid,
            info,
            chunk,
            np.asarray(d.ends, np.int64),
            d.received,
            d.offsets,
            fmt,
            xml,
            footers.get(sid),
            d.strings,
        )
    order = _file_order([d.starts for d in decoded.values()])
    return XDFFile(
        path,
        file_header,
        streams,
        order,
        size,
        valid_bytes,
        tuple(sorted(set(damage.regions))),
        truncated,
        events,
    )


def _load_windows(path: str, want: Callable[[StreamInfo], bool], window: int | None = None) -> XDFFile | None:
    """:func:`load` of an intact uncompressed file, a window at a time, in two passes: the
    first counts each stream's samples and chunks, the second decodes into arrays of
    that size (no pieces to join: memory holds the result and one window). None when the
    file is compressed; FormatError at the first problem (any: the caller reads whole)."""
    sizes: dict[int, list[int]] = {}

    def count(sid: int, d: _Decoded) -> None:
        n = sizes.setdefault(sid, [0, 0, 0])
        n[0], n[1], n[2] = n[0] + len(d.t), n[1] + len(d.received), n[2] + len(d.offsets)

    if _windows(path, lambda _info: False, window, count) is None:
        return None
    out: dict[int, _Decoded] = {}
    at: dict[int, list[int]] = {}

    def fill(sid: int, d: _Decoded) -> None:
        if sid not in out:
            n, m, k = sizes.get(sid, (0, 0, 0))
            out[sid] = _Decoded(
                np.empty(n),
                np.empty((n, d.values.shape[1]), d.values.dtype),
                np.empty(m, np.int64),
                np.empty(m, np.int64),
                None if d.strings is None else [],
                0.0,
                np.empty(m),
                np.empty((k, 2)),
                np.empty(m, np.int64),
            )
            at[sid] = [0, 0, 0]
        o, (i, j, q) = out[sid], at[sid]
        if (
            i + len(d.t) > len(o.t)
            or j + len(d.received) > len(o.received)
            or q + len(d.offsets) > len(o.offsets)
        ):
            raise FormatError(f"{path}: changed while being read", path)  # still recording: read whole
        o.t[i : i + len(d.t)] = d.t
        o.values[i : i + len(d.t)] = d.values
        o.ends[j : j + len(d.received)] = d.ends + i
        o.received[j : j + len(d.received)] = d.received
        o.starts[j : j + len(d.received)] = d.starts
        o.offsets[q : q + len(d.offsets)] = d.offsets
        if o.strings is not None:
            o.strings.extend(d.strings or [])
        o.last = d.last
        at[sid] = [i + len(d.t), j + len(d.received), q + len(d.offsets)]

    got = _windows(path, want, window, fill)
    if got is None or any(at.get(sid) != n for sid, n in sizes.items()):
        raise FormatError(f"{path}: changed while being read", path)
    file_header, ours, headers, footers, size = got
    return _assemble(path, file_header, ours, headers, footers, out, _Damage(path, False), size, size, False)


def _windows(
    path: str, want: Callable[[StreamInfo], bool], window: int | None, sink: Callable[[int, _Decoded], None]
) -> tuple[ET.Element, bool, dict[int, _Header], dict[int, ET.Element], int] | None:
    """Decode an intact file ``window`` bytes at a time (a window ends before its last
    Samples chunk, so a chunk's arrival is read with it), handing each stream's share of
    each window to ``sink``. Returns (FileHeader, ours, headers, footers, size)."""
    p = Path(path)
    if not p.is_file() or p.suffix == ".xdfz" or p.name.endswith(".xdf.gz"):
        return None
    damage = _Damage(path, recover=False)
    headers: dict[int, _Header] = {}
    footers: dict[int, ET.Element] = {}
    last: dict[int, float] = {}
    file_header, ours = None, False
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        block = bytearray(window or _WINDOW)
        have = fh.readinto(block)
        if bytes(block[:4]) != MAGIC:
            return None
        base, pos = 0, 4
        while True:
            eof = base + have >= size
            buf = np.frombuffer(block, np.uint8, count=have)
            ch, status, stop = walk(buf, pos)
            if status != 0 and (eof or status == 2):
                raise FormatError(f"{path}: damaged at byte {base + stop}", path, base + stop)
            if not eof and len(ch) and ch[-1, 3] == TAG_SAMPLES:
                stop = int(ch[-1, 0])
                ch = ch[:-1]
            if not eof and not len(ch):  # a chunk longer than the window: read more
                del buf
                block += bytearray(len(block))
                with memoryview(block) as mv:
                    have += fh.readinto(mv[have:])
                continue
            if file_header is None:
                if not len(ch) or ch[0, 3] != TAG_FILE_HEADER:
                    raise FormatError(f"{path}: no FileHeader chunk", path, 4)
                file_header = parse_xml(bytes(block[ch[0, 1] : ch[0, 2]]), path, 4, "FileHeader")
                ours = (file_header.findtext("writer") or "") == WRITER
            _headers(block, ch, damage, headers, footers)
            for sid, d in _decode_window(buf, block, ch, base, headers, ours, want, damage, last).items():
                sink(sid, d)
            del buf
            if eof:
                break
            tail = have - stop
            block[:tail] = block[stop:have]
            with memoryview(block) as mv:
                have = tail + fh.readinto(mv[tail:])
            base, pos = base + stop, 0
    if file_header is None:
        return None
    return file_header, ours, headers, footers, size


def load_pyxdf(path: str | os.PathLike) -> dict[str, tuple[StreamInfo, Chunk]]:
    """Read through ``pyxdf.load_xdf`` (no clock sync, no dejitter), as wearsense streams.

    The reference reader: slower than :func:`load` and it does not keep chunk
    boundaries or arrival times, but it is what the rest of the field uses.
    """
    import pyxdf

    path = str(path)
    read_bytes(path)
    try:
        raw_streams, fh = pyxdf.load_xdf(path, synchronize_clocks=False, dejitter_timestamps=False)
    except Exception as e:  # noqa: BLE001 - pyxdf raises bare Exceptions on bad files
        raise FormatError(
            f"{path}: pyxdf cannot read it ({type(e).__name__}: {e}); try 'wearsense repair {path}'", path
        ) from None
    ours = (fh["info"].get("writer") or [""])[0] == WRITER
    by_id = {}
    names: set[str] = set()
    for s in raw_streams:
        xml = _pyxdf_info_to_xml(s["info"])
        sid = int(s["info"]["stream_id"])
        info, clock, _fmt = info_from_header(xml, sid, names)
        names.add(info.name)
        by_id[sid] = (info, clock, s)
    seq_sid = next(
        (sid for sid, (info, _clock, _s) in by_id.items() if ours and info.name == SEQ_STREAM), None
    )
    seq_rows = (
        np.asarray(by_id.pop(seq_sid)[2]["time_series"], np.int64).reshape(-1, 3)
        if seq_sid is not None
        else np.empty((0, 3), np.int64)
    )
    ev_sid = next(
        (sid for sid, (info, _clock, _s) in by_id.items() if ours and info.name == EVENTS_STREAM), None
    )
    if ev_sid is not None:  # the take's events are not data (XDFFile.events has them)
        by_id.pop(ev_sid)
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


def _rebuild_seq(n: int, rows: np.ndarray) -> np.ndarray:
    """Sequence numbers of ``n`` samples from (sample_index, seq) run starts."""
    seq = np.arange(n, dtype=np.int64)
    rows = rows[(rows[:, 0] >= 0) & (rows[:, 0] < n)]
    if rows.size:
        # each run from its start to the next run's start is shifted by (seq - index) at its
        # start; of runs starting at the same index the last one counts (zero-length before it)
        rows = rows[np.argsort(rows[:, 0], kind="stable")]
        starts = rows[:, 0]
        seq[starts[0] :] += np.repeat(rows[:, 1] - starts, np.diff(np.append(starts, n)))
    if n > 1 and (np.diff(seq) <= 0).any():
        seq = np.arange(n, dtype=np.int64)
    return seq

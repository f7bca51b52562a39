"""Finding the chunks of an XDF file fast (numba: a 10-minute session holds ~10^6 chunks).

:func:`scan` walks the chunk framing once and returns a table of every chunk (start,
content start, end, tag, stream id); :func:`count_samples` and :func:`decode_samples`
validate and copy the Samples chunks of one numeric stream. A damaged file raises
:class:`~wearsense.errors.FormatError` with the byte offset, or, with ``recover``,
resumes at the next Boundary chunk and reports what was skipped.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

from wearsense.errors import FormatError
from wearsense.io.xdf.format import BOUNDARY_UUID, MAGIC

__all__ = [
    "Scan",
    "count_samples",
    "decode_chunks",
    "decode_samples",
    "doubles_at",
    "read_bytes",
    "scan",
    "walk",
]

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
        if tag == 5 and length != 18:
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
def count_samples(buf, starts, ends, sample_bytes, out_n, out_ok):  # pragma: no cover - compiled
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
def decode_chunks(buf, starts, sample_bytes, tdiff, last, out_t, out_v):  # pragma: no cover - compiled
    """Copy timestamps and raw value bytes of validated Samples chunks, in order, continuing
    from the timestamp ``last`` of the chunks before (for a sample stored without one; XDF
    deduces it as the previous one + ``tdiff``). The value bytes are copied only if ``out_v``
    has columns (shape (n, 0): timestamps only). Returns the last timestamp."""
    j = 0
    tmp = np.empty(8, np.uint8)
    copy = out_v.shape[1] > 0
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
            if copy:
                out_v[j, :] = buf[p : p + sample_bytes]
            p += sample_bytes
            j += 1
    return last


@numba.njit(cache=True)
def decode_samples(buf, starts, sample_bytes, tdiff, out_t, out_v):  # pragma: no cover - compiled
    """:func:`decode_chunks` from the start of a stream, values included."""
    decode_chunks(buf, starts, sample_bytes, tdiff, 0.0, out_t, out_v)


def walk(buf: np.ndarray, start: int) -> tuple[np.ndarray, int, int]:
    """The chunks of ``buf`` from byte ``start`` until the end or the first bad or incomplete
    one: (table as in :class:`Scan`, status 0 ok / 1 incomplete / 2 not valid XDF, where it stopped)."""
    k, status, stop = _walk(buf, start, np.empty((0, 5), np.int64), False)
    out = np.empty((k, 5), np.int64)
    _walk(buf, start, out, True)
    return out, int(status), int(stop)


@dataclass(frozen=True)
class Scan:
    """Where the chunks of a file are.

    Attributes
    ----------
    chunks : ndarray, shape (n, 5), int64
        One row per readable chunk: start, content start, end (byte offsets), tag,
        stream id (-1 for chunks without one).
    valid_bytes : int
        End of the last good chunk before any trouble (= file size when intact).
    bad_regions : tuple of (start, end)
        Byte ranges skipped (``recover`` only).
    truncated : bool
        The file ends inside a chunk.
    """

    chunks: np.ndarray
    valid_bytes: int
    bad_regions: tuple[tuple[int, int], ...]
    truncated: bool


def scan(buf: np.ndarray, path: str, recover: bool) -> Scan:
    """The chunk table of the file bytes ``buf`` (see :class:`Scan`); ``path`` is for messages."""
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
    return Scan(chunks, len(buf) if valid_bytes < 0 else valid_bytes, tuple(bad), truncated)


def read_bytes(path: str) -> np.ndarray:
    """The bytes of an XDF file (``.xdfz``/``.xdf.gz`` decompressed), checked for the magic ``XDF:``."""
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


def doubles_at(buf: np.ndarray, at: np.ndarray, k: int) -> np.ndarray:
    """``k`` little-endian float64 values starting at each byte offset in ``at``: shape (len(at), k)."""
    idx = np.asarray(at, np.int64)[:, None] + np.arange(8 * k)
    return np.ascontiguousarray(buf[idx]).view("<f8").reshape(len(at), k).astype(np.float64)

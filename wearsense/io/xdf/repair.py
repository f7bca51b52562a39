"""Repair of crashed or damaged XDF files, so that every XDF reader opens them.

A killed recorder leaves a file without StreamFooters and perhaps a cut-off last
chunk; a damaged disk may corrupt chunks in the middle. :func:`repair` keeps every
intact chunk bit for bit, drops the rest, and adds the missing footers. It never makes
things worse: the repaired file is written beside the original and swapped in only
when complete, so a full disk or a crash leaves the original untouched and no debris.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from wearsense.errors import OutputError
from wearsense.io.xdf.format import TAG_STREAM_FOOTER, TAG_STREAM_HEADER, encode_chunk, stream_footer_xml
from wearsense.io.xdf.reader import load
from wearsense.io.xdf.scan import read_bytes, scan

__all__ = ["RepairReport", "repair"]


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
        """The file needed repair (something was dropped or added)."""
        return bool(self.dropped or self.footers_added)


def repair(
    path: str | os.PathLike, out: str | os.PathLike | None = None, *, backup: bool = True
) -> RepairReport:
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
        When repairing in place, keep the original as ``<path>.bak``.

    Raises
    ------
    FormatError
        ``path`` is missing or not XDF.
    OutputError
        The repaired file cannot be written (full disk, read-only folder). The original
        is then unchanged and nothing is left behind.
    """
    path = str(path)
    f = load(path, recover=True)
    raw = read_bytes(path).tobytes()
    ch = scan(np.frombuffer(raw, np.uint8), path, recover=True).chunks
    drop_starts = {a for a, _ in f.bad_regions}
    needs_footer = [s for s in f.streams.values() if s.footer is None]
    data_ids = {s.stream_id for s in f.streams.values()}
    seq_footer = [sid for sid in np.unique(ch[ch[:, 3] == TAG_STREAM_HEADER, 4])
                  if sid not in data_ids and not ((ch[:, 3] == TAG_STREAM_FOOTER) & (ch[:, 4] == sid)).any()]
    tail = bytearray()
    for s in needs_footer:
        c = s.chunk
        extra = {
            "lost_samples": str(s.lost),
            "chunks": str(len(s.chunk_ends)),
            "clock": c.clock,
            "repaired": "true",
        }
        first, last = (float(c.t[0]), float(c.t[-1])) if c.n else (0.0, 0.0)
        tail += encode_chunk(
            TAG_STREAM_FOOTER, struct.pack("<I", s.stream_id) + stream_footer_xml(first, last, c.n, extra)
        )
    for sid in seq_footer:
        tail += encode_chunk(
            TAG_STREAM_FOOTER,
            struct.pack("<I", int(sid)) + stream_footer_xml(0.0, 0.0, 0, {"repaired": "true"}),
        )
    if not f.bad_regions and not tail and out is None:
        return RepairReport(
            path, "", len(raw), len(raw), (), (), {n: s.chunk.n for n, s in f.streams.items()}
        )
    target = Path(out) if out is not None else Path(path)
    kept = [raw[:4]] + [raw[start:end] for start, _cs, end, _tag, _sid in ch if int(start) not in drop_starts]
    bak = path + ".bak" if out is None and backup else ""
    _replace_atomically(target, kept + [bytes(tail)], bak)
    after = load(target)
    return RepairReport(
        str(target), bak, len(raw), target.stat().st_size, tuple(sorted(f.bad_regions)),
        tuple(s.info.name for s in needs_footer), {n: s.chunk.n for n, s in after.streams.items()},
    )


def _replace_atomically(target: Path, parts: list[bytes], backup: str) -> None:
    """Write ``parts`` to a temporary file beside ``target``, keep the old ``target`` as ``backup``
    (if given), then swap the new file in. On any failure remove what was made here and raise
    OutputError: the original stays as it was."""
    tmp = target.with_name(f".{target.name}.repair.tmp")
    made: list[str] = []
    try:
        with open(tmp, "wb") as fo:
            made.append(str(tmp))
            fo.writelines(parts)
            fo.flush()
            os.fsync(fo.fileno())
        if backup:
            bak_tmp = target.with_name(f".{target.name}.bak.tmp")
            made.append(str(bak_tmp))
            try:
                os.link(target, bak_tmp)  # the original's own bytes under a second name: no space needed
            except OSError:
                shutil.copyfile(target, bak_tmp)
            os.replace(bak_tmp, backup)
            made[-1] = backup
        os.replace(tmp, target)
    except OSError as e:
        for p in made:
            with contextlib.suppress(OSError):
                os.unlink(p)
        hint = ("free some space, or write the repaired file to another disk with -o"
                if e.errno in (errno.ENOSPC, errno.EDQUOT) else "choose another place with -o")
        raise OutputError(
            f"cannot repair {str(target)!r}: {e.strerror or e} ({e.filename or tmp}); the original is "
            f"unchanged; {hint}", str(target),
        ) from None

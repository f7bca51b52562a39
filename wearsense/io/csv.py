"""CSV streams: one file per stream, with a documented header.

The convention (written by :func:`write_csv`, read by :func:`read_csv`)::

    # wearsense-csv: 1
    # name: sim-emg
    # modality: EMG
    # rate_hz: 2000.0
    # source_id: sim://mover?seed=3
    # clock: device:sim-emg
    # units: V,V,V
    # metadata: {"placement": ["..."]}
    t,seq,biceps_brachii_r,triceps_brachii_r,deltoideus_anterior_r
    12.0005,0,1.2345678e-05,-3.4e-06,2.1e-06
    ...

- Comment lines (``# key: value``) come first; all are optional. ``units`` is one
  unit per channel (comma-separated) or one for all; ``metadata`` is JSON.
- Then one header row of column names: ``t`` (seconds, float64; ``time``,
  ``time_s`` and ``timestamp`` are accepted too), optionally ``seq`` (integer
  sequence number), then one column per channel (the channel labels). Pose uses
  ``<joint>_x, <joint>_y, <joint>_z`` in metres.
- One row per sample, comma-separated; ``nan`` (or an empty field) is a missing value
  (an occluded joint). Timestamps are written with 17 significant digits and values
  with 9, so a round trip is bit-exact for float64 times and float32 values.

A plain CSV from elsewhere (no comment lines) reads as long as it has a time column;
give ``modality``, ``rate_hz`` and ``units`` to :func:`read_csv`.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from wearsense.errors import FormatError, StreamError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["write_csv", "read_csv", "TIME_COLUMNS"]

#: Accepted names of the time column (seconds).
TIME_COLUMNS = ("t", "time", "time_s", "timestamp")


def write_csv(path: str | os.PathLike, info: StreamInfo, chunk: Chunk) -> Path:
    """Write one stream to ``path`` in the wearsense CSV convention (see module docs)."""
    path = Path(path)
    for label in info.channels:
        if "," in label or "\n" in label:
            raise StreamError(
                f"channel label {label!r} of stream {info.name!r} cannot go in a CSV header (comma/newline)"
            )
    head = [
        "wearsense-csv: 1",
        f"name: {info.name}",
        f"modality: {info.modality.value}",
        f"rate_hz: {info.rate_hz!r}",
        f"source_id: {info.source_id}",
        f"clock: {chunk.clock}",
        f"units: {','.join(info.units)}",
        f"metadata: {info.metadata_json()}",
    ]
    with open(path, "w", newline="\n") as f:
        for line in head:
            f.write("# " + line.replace("\n", " ") + "\n")
        f.write(",".join(["t", "seq", *info.channels]) + "\n")
        t = np.char.mod("%.17g", chunk.t)
        seq = chunk.seq.astype(str)
        vals = (
            np.char.mod("%.9g", chunk.data.astype(np.float64))
            if chunk.n
            else np.zeros((0, info.n_channels), str)
        )
        rows = np.column_stack([t, seq, vals]) if chunk.n else np.zeros((0, 2 + info.n_channels), str)
        f.write("".join(",".join(r) + "\n" for r in rows))
    return path


def read_csv(
    path: str | os.PathLike,
    *,
    name: str | None = None,
    modality: Modality | str | None = None,
    rate_hz: float | None = None,
    units: str | tuple[str, ...] | None = None,
) -> dict[str, tuple[StreamInfo, Chunk]]:
    """Read one stream from a CSV file (wearsense convention or a plain CSV with a time column).

    Keyword arguments override what the comment lines say (or supply it for plain
    CSV files: defaults are the file stem, ``OTHER``, the median sample rate, no unit).

    Returns
    -------
    dict
        ``{name: (StreamInfo, Chunk)}`` with one entry.

    Raises
    ------
    FormatError
        Missing file, no time column, ragged rows, non-numeric values, time going backwards.
    """
    path = Path(path)
    sp = str(path)
    if not path.is_file():
        raise FormatError(f"{sp}: no such file", sp)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise FormatError(
            f"{sp}: not a text (UTF-8) CSV file ({e.reason} at byte {e.start})", sp, e.start
        ) from None
    lines = text.splitlines()
    meta: dict[str, str] = {}
    i = 0
    while i < len(lines) and (lines[i].startswith("#") or not lines[i].strip()):
        key, sep, value = lines[i].lstrip("#").strip().partition(":")
        if sep:
            meta[key.strip()] = value.strip()
        i += 1
    if i >= len(lines):
        raise FormatError(f"{sp}: CSV has no header row (expected e.g. 't,seq,ch1,ch2')", sp)
    columns = [c.strip() for c in lines[i].split(",")]
    tcol = next((c for c in columns if c.lower() in TIME_COLUMNS), None)
    if tcol is None:
        raise FormatError(
            f"{sp}: CSV header {columns[:6]} has no time column; name it one of "
            f"{', '.join(TIME_COLUMNS)} (seconds)",
            sp,
        )
    body = "\n".join(lines[i + 1 :])
    try:
        table = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        try:  # empty fields are missing values: the slower, per-field parse
            table = np.loadtxt(
                io.StringIO(body),
                delimiter=",",
                dtype=np.float64,
                ndmin=2,
                converters=lambda s: float(s) if s.strip() else np.nan,
            )
        except ValueError as e:
            raise FormatError(f"{sp}: CSV body is not numeric or rows are ragged ({e})", sp) from None
    if table.size and table.shape[1] != len(columns):
        raise FormatError(
            f"{sp}: rows have {table.shape[1]} fields, the header names {len(columns)} columns", sp
        )
    table = table.reshape(-1, len(columns))
    ti = columns.index(tcol)
    chans = [c for j, c in enumerate(columns) if j != ti and c.lower() != "seq"]
    t = table[:, ti]
    if "seq" in [c.lower() for c in columns]:
        seq_col = table[:, [c.lower() for c in columns].index("seq")]
        if not np.isfinite(seq_col).all() or (seq_col != np.round(seq_col)).any():
            raise FormatError(f"{sp}: column 'seq' must hold whole numbers", sp)
        seq: Any = seq_col.astype(np.int64)
    else:
        seq = 0
    data = table[:, [columns.index(c) for c in chans]]
    if rate_hz is None:
        rate_hz = (
            float(meta["rate_hz"])
            if "rate_hz" in meta
            else (float(1 / np.median(np.diff(t))) if len(t) > 2 and np.median(np.diff(t)) > 0 else 0.0)
        )
    unit_spec: Any = units if units is not None else meta.get("units", "")
    if isinstance(unit_spec, str) and "," in unit_spec:
        unit_spec = tuple(u.strip() for u in unit_spec.split(","))
    try:
        metadata = json.loads(meta["metadata"]) if "metadata" in meta else {}
        info = StreamInfo(
            name or meta.get("name") or path.stem,
            modality or meta.get("modality") or Modality.OTHER,
            chans,
            unit_spec,
            rate_hz,
            source_id=meta.get("source_id", str(path)),
            metadata=metadata,
        )
        chunk = Chunk(data.astype(np.float32), t, seq, meta.get("clock") or f"file:{path.name}")
    except (StreamError, json.JSONDecodeError) as e:
        raise FormatError(f"{sp}: {e}", sp) from None
    return {info.name: (info, chunk)}

"""HDF5 export and import (h5py): one group per stream, attributes for its description.

Layout of a file written by :func:`write_hdf5`::

    /                       attrs: format = "wearsense-hdf5", version = 1
    /<stream name>/         attrs: name, modality, rate_hz (Hz), source_id, clock,
                                   channels (str array), units (str array),
                                   metadata (JSON string)
        data    float32 (n_samples, n_channels), in the stream's units
        t       float64 (n_samples,), seconds in the clock named by the ``clock`` attribute
        seq     int64   (n_samples,), sequence numbers (gaps = lost samples)

Datasets are chunked and gzip-compressed (level 4) when they hold more than a few
thousand values. In MATLAB, ``h5read(f, '/sim-emg/data')`` gives channels x samples
(HDF5 is row-major).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from wearsense.errors import FormatError, MissingDependencyError, StreamError
from wearsense.stream import Chunk, StreamInfo

__all__ = ["write_hdf5", "read_hdf5"]

FORMAT = "wearsense-hdf5"


def _h5py():
    try:
        import h5py
    except ImportError as e:
        raise MissingDependencyError(f"HDF5 needs h5py ({e}); install it with: pip install h5py") from e
    return h5py


def write_hdf5(
    path: str | os.PathLike, streams: Mapping[str, tuple[StreamInfo, Chunk]], *, compress: bool = True
) -> Path:
    """Write ``{name: (info, chunk)}`` to one HDF5 file (layout in the module docs)."""
    h5py = _h5py()
    path = Path(path)
    with h5py.File(path, "w") as f:
        f.attrs["format"] = FORMAT
        f.attrs["version"] = 1
        for name, (info, chunk) in streams.items():
            if "/" in name:
                raise StreamError(f"stream name {name!r} cannot be an HDF5 group name (contains '/')")
            g = f.create_group(name)
            g.attrs["name"] = info.name
            g.attrs["modality"] = info.modality.value
            g.attrs["rate_hz"] = info.rate_hz
            g.attrs["source_id"] = info.source_id
            g.attrs["clock"] = chunk.clock
            g.attrs["channels"] = np.array(info.channels, dtype=h5py.string_dtype())
            g.attrs["units"] = np.array(info.units, dtype=h5py.string_dtype())
            g.attrs["metadata"] = info.metadata_json()
            opts: dict[str, Any] = {}
            if compress and chunk.data.size > 4096:
                opts = {"compression": "gzip", "compression_opts": 4, "shuffle": True}
            g.create_dataset("data", data=chunk.data, **opts)
            g.create_dataset("t", data=chunk.t, **(opts if chunk.n > 4096 else {}))
            g.create_dataset("seq", data=chunk.seq, **(opts if chunk.n > 4096 else {}))
    return path


def read_hdf5(path: str | os.PathLike) -> dict[str, tuple[StreamInfo, Chunk]]:
    """Read a file written by :func:`write_hdf5` back into ``{name: (info, chunk)}``."""
    h5py = _h5py()
    sp = str(path)
    if not Path(path).is_file():
        raise FormatError(f"{sp}: no such file", sp)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise FormatError(f"{sp}: not a readable HDF5 file ({e})", sp) from None
    out = {}
    with f:
        if f.attrs.get("format") != FORMAT:
            raise FormatError(
                f"{sp}: HDF5 file was not written by wearsense (no format={FORMAT!r} attribute); "
                "read it with h5py and build StreamInfo/Chunk yourself",
                sp,
            )
        for name, g in f.items():
            try:
                a = g.attrs
                info = StreamInfo(
                    str(a["name"]),
                    str(a["modality"]),
                    [c.decode() if isinstance(c, bytes) else str(c) for c in a["channels"]],
                    [u.decode() if isinstance(u, bytes) else str(u) for u in a["units"]],
                    float(a["rate_hz"]),
                    source_id=str(a["source_id"]),
                    metadata=json.loads(str(a["metadata"])),
                )
                chunk = Chunk(g["data"][()], g["t"][()], g["seq"][()], str(a["clock"]))
            except (KeyError, StreamError, ValueError, OSError) as e:
                raise FormatError(f"{sp}: group {name!r} is incomplete or damaged ({e})", sp) from None
            out[info.name] = (info, chunk)
    return out

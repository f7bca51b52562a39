"""Sessions on disk: the crash-safe XDF recorder, readers chosen by extension, exporters.

>>> streams = read("session.xdf")            # {name: (StreamInfo, Chunk)}   # doctest: +SKIP
>>> export(streams, "out/", "csv")                                           # doctest: +SKIP

:func:`read` picks the reader from the file extension (``.xdf``, ``.xdfz``, ``.c3d``,
``.bvh``, ``.csv``, ``.h5``/``.hdf5``). Formats wearsense knows but does not read
(EDF, BrainVision, FIF, TRC, ...) raise a :class:`~wearsense.errors.FormatError` that
says what to do instead. Readers are imported only when their format is used, so a
missing optional package (ezc3d, h5py) matters only then.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from pathlib import Path

from wearsense.errors import FormatError, OutputError
from wearsense.stream import Chunk, StreamInfo

__all__ = ["read", "export", "readers", "EXPORT_FORMATS"]

#: extension -> "module:function" of the reader
_READERS: dict[str, str] = {
    ".xdf": "wearsense.io.xdf:read_xdf",
    ".xdfz": "wearsense.io.xdf:read_xdf",
    ".c3d": "wearsense.io.c3d:read_c3d",
    ".bvh": "wearsense.io.bvh:read_bvh",
    ".csv": "wearsense.io.csv:read_csv",
    ".h5": "wearsense.io.hdf5:read_hdf5",
    ".hdf5": "wearsense.io.hdf5:read_hdf5",
}

#: extension -> what to do instead (formats known but not read here)
_NOT_READ: dict[str, str] = {
    ".edf": "EDF/EDF+: read with mne.io.read_raw_edf(path), then build StreamInfo/Chunk from raw.get_data()",
    ".bdf": "BioSemi BDF: read with mne.io.read_raw_bdf(path)",
    ".gdf": "GDF: read with mne.io.read_raw_gdf(path)",
    ".vhdr": "BrainVision: read with mne.io.read_raw_brainvision(path)",
    ".fif": "MNE FIF: read with mne.io.read_raw_fif(path)",
    ".set": "EEGLAB: read with mne.io.read_raw_eeglab(path)",
    ".trc": "TRC marker file: export the capture as C3D (Cortex, Nexus, OpenSim can) and read the .c3d",
    ".mvnx": "Xsens MVNX: export BVH or C3D from MVN Analyze and read that",
    ".fbx": "FBX: convert to BVH (e.g. Blender: import FBX, export BVH) and read the .bvh",
    ".tsv": "Qualisys TSV: export C3D from QTM, or save as CSV with a 't' column (see wearsense.io.csv)",
    ".mat": "MATLAB: load with scipy.io.loadmat and build StreamInfo/Chunk, or save as CSV/HDF5",
    ".json": "JSON keypoints (OpenPose, MediaPipe): convert to the CSV convention of wearsense.io.csv",
    ".txt": "plain text: save as CSV with a time column named 't' (see wearsense.io.csv)",
}

EXPORT_FORMATS = ("csv", "hdf5")


def readers() -> dict[str, str]:
    """Extensions that :func:`read` handles and the function that reads each."""
    return dict(_READERS)


def _ext(path: Path) -> str:
    name = path.name.lower()
    return ".xdfz" if name.endswith(".xdf.gz") else path.suffix.lower()


def read(path: str | os.PathLike, **options) -> dict[str, tuple[StreamInfo, Chunk]]:
    """Read a file into ``{stream name: (StreamInfo, Chunk)}``, choosing the reader by extension.

    ``options`` go to the reader (e.g. ``recover=True`` for XDF, ``scale_m=1.0`` for
    BVH, ``modality="POSE"`` for CSV).

    Raises
    ------
    FormatError
        Unknown or unsupported extension (the message says what to do), or a file the
        reader cannot read.
    """
    p = Path(path)
    ext = _ext(p)
    if ext in _NOT_READ:
        raise FormatError(f"{p}: wearsense does not read {ext} files. {_NOT_READ[ext]}", str(p))
    if ext not in _READERS:
        raise FormatError(
            f"{p}: unknown file type {ext or '(no extension)'!r}; wearsense reads "
            f"{', '.join(sorted(_READERS))}",
            str(p),
        )
    module, _, func = _READERS[ext].partition(":")
    return getattr(importlib.import_module(module), func)(p, **options)


def export(
    streams: Mapping[str, tuple[StreamInfo, Chunk]],
    out_dir: str | os.PathLike,
    fmt: str,
    *,
    stem: str = "session",
    overwrite: bool = False,
) -> list[Path]:
    """Write streams to ``out_dir``: ``csv`` (one ``<stream>.csv`` each) or ``hdf5`` (``<stem>.h5``).

    The folder is created if missing. Files already there are never replaced unless
    ``overwrite``: the check comes before anything is written.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    FormatError
        Unknown format.
    OutputError
        ``out_dir`` is a file or cannot be created, a file to write exists (without
        ``overwrite``), or writing failed (disk full); the message says what to do.
    """
    if fmt not in EXPORT_FORMATS:
        raise FormatError(f"export format {fmt!r} unknown; choose one of {', '.join(EXPORT_FORMATS)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"cannot export into {str(out)!r}: it is a file, not a folder; give a folder (created if "
            f"missing), e.g. -o {out.with_suffix('')}_{fmt}/", str(out),
        )
    targets = [out / f"{name}.csv" for name in streams] if fmt == "csv" else [out / f"{stem}.h5"]
    taken = [t.name for t in targets if t.exists()]
    if taken and not overwrite:
        raise OutputError(
            f"{str(out)!r} already holds {', '.join(taken)}; choose another folder, or pass overwrite "
            "(--overwrite) to replace them", str(out),
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            from wearsense.io.csv import write_csv

            return [write_csv(t, info, chunk) for t, (info, chunk) in zip(targets, streams.values())]
        from wearsense.io.hdf5 import write_hdf5

        return [write_hdf5(targets[0], streams)]
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise OutputError(
            f"cannot export into {str(out)!r}: {e.strerror or e} ({e.filename or out}); choose a writable "
            "folder with room to spare", str(out),
        ) from None

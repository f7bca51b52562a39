"""C3D motion-capture files (Vicon, Qualisys, Motion Analysis, ...) through ezc3d.

A C3D file holds 3-D marker trajectories (``POINT``) and analog channels
(``ANALOG``: force plates, EMG) on one frame clock. :func:`read_c3d` returns up to
two streams:

- ``<stem>-markers`` (``MARKER``): channels ``<label>_x, <label>_y, <label>_z`` in
  metres (``POINT:UNITS`` ``mm``/``cm``/``m`` converted), NaN where the marker was
  not seen (NaN in the file or a negative residual). Rate ``POINT:RATE``.
- ``<stem>-analog``: one channel per analog label, in ``ANALOG:UNITS`` (as scaled by
  ezc3d), rate ``ANALOG:RATE``; its modality is ``analog_modality`` (``OTHER`` by
  default; pass ``"EMG"`` when the analog channels are EMG).

Timestamps are ``frame / rate`` seconds from the start of the capture (the file's
first frame counts), clock ``"file:<name>"``; ``seq`` is the frame (or analog
sample) number.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from wearsense.errors import FormatError, MissingDependencyError, StreamError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["read_c3d"]

_TO_METRES = {"mm": 1e-3, "cm": 1e-2, "m": 1.0, "": 1e-3}


def _value(params: dict, group: str, name: str, default):
    try:
        v = params[group][name]["value"]
    except KeyError:
        return default
    return default if v is None or len(v) == 0 else v


def _check_frames(p: Path, header: dict) -> None:
    """ezc3d reads a cut-off file up to its end without complaint; compare with the frame
    range the file's own 512-byte header declares (words 4-5, 1-based, little-endian)."""
    with open(p, "rb") as f:
        head = f.read(10)
    if len(head) < 10:
        return
    first, last = struct.unpack_from("<HH", head, 6)
    if last == 0xFFFF or last < first:  # long captures keep the count elsewhere (TRIAL params)
        return
    declared = last - first + 1
    got = int(header["points"]["last_frame"]) - int(header["points"]["first_frame"]) + 1
    if got < declared:
        raise FormatError(
            f"{p}: C3D file is truncated: {got} of the {declared} frames its header declares are present; "
            "export the capture again",
            str(p),
        )


def read_c3d(
    path: str | os.PathLike, *, analog_modality: Modality | str = Modality.OTHER
) -> dict[str, tuple[StreamInfo, Chunk]]:
    """Read markers and analog channels of a C3D file (see module docs).

    Raises
    ------
    FormatError
        Missing, truncated or non-C3D file; unknown point units.
    """
    try:
        import ezc3d
    except ImportError as e:
        raise MissingDependencyError(f"C3D needs ezc3d ({e}); install it with: pip install ezc3d") from e
    p = Path(path)
    sp = str(p)
    if not p.is_file():
        raise FormatError(f"{sp}: no such file", sp)
    try:
        c = ezc3d.c3d(sp)
    except (OSError, RuntimeError, ValueError, IndexError) as e:
        raise FormatError(
            f"{sp}: not a readable C3D file ({e}); export the capture as C3D again", sp
        ) from None
    params = c["parameters"]
    header = c["header"]
    _check_frames(p, header)
    clock = f"file:{p.name}"
    out: dict[str, tuple[StreamInfo, Chunk]] = {}
    try:
        points = np.asarray(c["data"]["points"], np.float64)  # (4, n_markers, n_frames)
        labels = [str(x) for x in _value(params, "POINT", "LABELS", [])]
        rate = float(header["points"]["frame_rate"])
        first = int(header["points"]["first_frame"])
        if points.shape[1] and points.shape[2]:
            unit = str(_value(params, "POINT", "UNITS", [""])[0]).strip().lower()
            if unit not in _TO_METRES:
                raise FormatError(f"{sp}: POINT:UNITS {unit!r} is not one of mm, cm, m", sp)
            xyz = points[:3] * _TO_METRES[unit]
            resid = np.asarray(c["data"]["meta_points"]["residuals"], np.float64)[0]
            xyz[:, resid < 0] = np.nan
            labels = labels[: points.shape[1]] + [f"marker{i}" for i in range(len(labels), points.shape[1])]
            channels = [f"{lab}_{ax}" for lab in labels for ax in "xyz"]
            data = xyz.transpose(2, 1, 0).reshape(points.shape[2], -1)
            frames = first + np.arange(points.shape[2])
            info = StreamInfo(
                f"{p.stem}-markers",
                Modality.MARKER,
                channels,
                "m",
                rate,
                source_id=sp,
                metadata={"c3d_point_units": unit or "mm", "markers": labels},
            )
            out[info.name] = (info, Chunk(data, frames / rate, frames, clock))
        analogs = np.asarray(c["data"]["analogs"], np.float64)  # (1, n_channels, n_samples)
        if analogs.ndim == 3 and analogs.shape[1] and analogs.shape[2]:
            arate = float(header["analogs"]["frame_rate"])
            alabels = [str(x) for x in _value(params, "ANALOG", "LABELS", [])][: analogs.shape[1]]
            alabels += [f"analog{i}" for i in range(len(alabels), analogs.shape[1])]
            aunits = [str(u) for u in _value(params, "ANALOG", "UNITS", [])][: analogs.shape[1]]
            aunits += [""] * (analogs.shape[1] - len(aunits))
            afirst = int(round(first * arate / rate)) if rate > 0 else 0
            idx = afirst + np.arange(analogs.shape[2])
            info = StreamInfo(f"{p.stem}-analog", analog_modality, alabels, aunits, arate, source_id=sp)
            out[info.name] = (info, Chunk(analogs[0].T, idx / arate, idx, clock))
    except (StreamError, KeyError, ZeroDivisionError) as e:
        raise FormatError(f"{sp}: C3D content is not usable ({e})", sp) from None
    if not out:
        raise FormatError(f"{sp}: C3D file holds no marker or analog data", sp)
    return out

"""Fixtures: emulated wearables on ptys, and the WSRAW01 export that feeds the emulator
recorded (e.g. sim) streams. The C build itself (``build_dir``) is in tests/conftest.py."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from wearsense import bridge as wb
from wearsense.errors import FormatError
from wearsense.stream import Chunk, Modality, StreamInfo


# wave source of the emulator (firmware_bridge/emulator/wsb_emulator.c, wave_value)
EMG_SCALE = np.float32(2.2351741e-8)
IMU_SCALE = np.array([4.7884e-3] * 3 + [6.1035e-2] * 3 + [0.15] * 3, np.float32)


def wave(k: np.ndarray, n_channels: int, amplitude: int) -> np.ndarray:
    """Raw values of the emulator's triangle waves, exactly as the C code computes them."""
    k = np.asarray(k, np.int64)[:, None]
    c = np.arange(n_channels, dtype=np.int64)[None, :]
    p = 40 + 8 * c
    m = (k + 13 * c) % p
    num = amplitude * (4 * np.abs(m - p // 2) - p)
    return (np.sign(num) * (np.abs(num) // p)).astype(np.int32)  # C division truncates


@pytest.fixture(scope="session")
def wave_source():
    """The emulator's wave source: ``(raw_values(k, n_channels, amplitude), emg_scale, imu_scale)``."""
    return wave, EMG_SCALE, IMU_SCALE


def quantize(
    x: np.ndarray, format: int, scale: Sequence[float] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Raw integer values and per-channel scale such that ``raw * scale ~= x``.

    ``scale`` defaults to the largest absolute value per channel over the format's
    full range (so nothing clips). Float32 streams are returned unchanged, scale 1.
    """
    x = np.asarray(x, np.float64)
    if format == wb.FMT_FLOAT32:
        return x.astype(np.float32), np.ones(x.shape[1], np.float32)
    full = 32767 if format == wb.FMT_INT16 else 2**23 - 1
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
    items = [
        (i, c) for i, c in items if i.modality in wb.MODALITY_CODES and i.modality is not Modality.MARKER
    ]
    if not items or len(items) > 8:
        raise FormatError(f"WSRAW01 holds 1..8 wearable streams, got {len(items)}", str(path))
    formats = dict(formats or {})
    head = bytearray(b"WSRAW01\n") + bytes([len(items)])
    body = bytearray()
    written: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for info, chunk in items:
        fmt = formats.get(
            info.name, wb.FMT_INT24 if info.modality in (Modality.EMG, Modality.EEG) else wb.FMT_INT16
        )
        meta_scale = info.metadata.get("scale")
        raw, scale = quantize(chunk.data, fmt, meta_scale)
        name = info.name.encode()[: wb.MAX_STRING].decode("utf-8", "ignore")
        head += wb.payload_hello_stream(
            wb.MODALITY_CODES[info.modality],
            fmt,
            info.rate_hz,
            name,
            info.channels,
            info.units,
            scale.tolist(),
        )
        head += struct.pack("<I", raw.shape[0])
        body += raw.astype("<f4" if fmt == wb.FMT_FLOAT32 else "<i4").tobytes()
        written[info.name] = (raw, scale)
    Path(path).write_bytes(bytes(head) + bytes(body))
    return written


@pytest.fixture(scope="session")
def wsraw():
    """``wsraw(path, streams, formats=None)``: a WSRAW01 file for ``--source`` (see :func:`write_raw`)."""
    return write_raw

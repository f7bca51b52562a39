"""The XDF 1.0 chunk encoding: chunk framing, stream header/footer XML, Samples content.

XDF (Extensible Data Format 1.0, https://github.com/sccn/xdf/wiki/Specifications) is
the file format of Lab Streaming Layer: LabRecorder writes it and pyxdf, MNE, EEGLAB
and MoBILAB read it. A file is the magic ``b"XDF:"`` followed by chunks, each
``[NumLengthBytes][Length][Tag][Content]``; tags are FileHeader (1), StreamHeader (2),
Samples (3), ClockOffset (4), Boundary (5) and StreamFooter (6).

This module turns wearsense types into those bytes and back (headers); it does no I/O.
The writer (:mod:`.writer`), the scanner (:mod:`.scan`), the reader (:mod:`.reader`)
and :mod:`.repair` all build on it.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence

import numpy as np

from wearsense.errors import FormatError, StreamError
from wearsense.stream import Modality, StreamInfo

MAGIC = b"XDF:"
TAG_FILE_HEADER, TAG_STREAM_HEADER, TAG_SAMPLES, TAG_CLOCK_OFFSET, TAG_BOUNDARY, TAG_STREAM_FOOTER = range(
    1, 7
)
#: The 16 bytes of every Boundary chunk (XDF 1.0 specification).
BOUNDARY_UUID = bytes.fromhex("43A546DCCBF5410FB30ED5467383CBE4")
#: Name of the extra stream that holds sequence-number runs.
SEQ_STREAM = "wearsense-seq"
WRITER = "wearsense"

#: XDF channel_format -> numpy dtype of the values
CHANNEL_FORMATS = {
    "float32": np.dtype("<f4"),
    "double64": np.dtype("<f8"),
    "int8": np.dtype("i1"),
    "int16": np.dtype("<i2"),
    "int32": np.dtype("<i4"),
    "int64": np.dtype("<i8"),
}


def varlen(n: int) -> bytes:
    """XDF variable-length integer: a byte saying 1, 4 or 8, then the value, little-endian."""
    if n < 256:
        return bytes((1, n))
    if n < 2**32:
        return b"\x04" + struct.pack("<I", n)
    return b"\x08" + struct.pack("<Q", n)


def encode_chunk(tag: int, content: bytes) -> bytes:
    """One whole chunk: length, tag, content."""
    return varlen(len(content) + 2) + struct.pack("<H", tag) + content


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


def stream_header_xml(info: StreamInfo, clock: str, fmt: str, created_at: float) -> bytes:
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


def stream_footer_xml(first_t: float, last_t: float, n: int, extra: Mapping[str, str]) -> bytes:
    root = ET.Element("info")
    _sub(root, "first_timestamp", repr(float(first_t)))
    _sub(root, "last_timestamp", repr(float(last_t)))
    _sub(root, "sample_count", str(int(n)))
    ws = _sub(root, "wearsense")
    for k, v in extra.items():
        _sub(ws, k, v)
    return _xml(root)


def samples_content(stream_id: int, t: np.ndarray, data: np.ndarray, dtype: np.dtype) -> bytes:
    """Samples chunk content with a timestamp on every sample (values little-endian)."""
    n, nch = data.shape
    rec = np.empty(n, dtype=[("k", "u1"), ("t", "<f8"), ("v", dtype, (nch,))])
    rec["k"] = 8
    rec["t"] = t
    rec["v"] = data
    return struct.pack("<I", stream_id) + varlen(n) + rec.tobytes()


def string_samples_content(stream_id: int, t: np.ndarray, values: Sequence[str]) -> bytes:
    """Samples chunk content of a one-channel ``string`` stream (a marker stream)."""
    out = bytearray(struct.pack("<I", stream_id) + varlen(len(values)))
    for ti, v in zip(t, values):
        b = v.encode("utf-8")
        out += b"\x08" + struct.pack("<d", float(ti)) + varlen(len(b)) + b
    return bytes(out)


def seq_stream_info() -> StreamInfo:
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



def file_header_xml() -> bytes:
    """The FileHeader ``<info>``: version, local date and time, writer."""
    root = ET.Element("info")
    _sub(root, "version", "1.0")
    _sub(root, "datetime", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    _sub(root, "writer", WRITER)
    return _xml(root)


_MODALITY_ALIASES = {"markers": Modality.MARKER, "marker": Modality.MARKER, "mocap": Modality.POSE}


def modality_of(xdf_type: str) -> Modality:
    """The :class:`Modality` of an XDF stream ``type`` (LSL names such as ``MoCap`` included)."""
    low = xdf_type.strip().lower()
    if low in _MODALITY_ALIASES:
        return _MODALITY_ALIASES[low]
    try:
        return Modality.parse(low)
    except StreamError:
        return Modality.OTHER


def parse_xml(raw: bytes, path: str, offset: int, what: str) -> ET.Element:
    """The XML of a header or footer chunk; FormatError names the file, the chunk and its byte offset."""
    try:
        return ET.fromstring(raw.decode("utf-8", "replace"))
    except ET.ParseError as e:
        raise FormatError(f"{path}: {what} at byte {offset} is not valid XML ({e})", path, offset) from None


def info_from_header(root: ET.Element, stream_id: int, names: set[str]) -> tuple[StreamInfo, str, str]:
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
        name, modality_of(xdf_type), labels, units, rate if math.isfinite(rate) and rate >= 0 else 0.0,
        source_id=root.findtext("source_id") or "", metadata=metadata,
    )
    return info, clock, fmt


def decode_strings(
    buf: bytes, start: int, end: int, nch: int, tdiff: float, last: float
) -> tuple[list, list, float]:
    """Timestamps and values of one Samples chunk of a ``string`` stream (a marker stream).

    ``start``/``end``: content start and end of the chunk in ``buf``; ``last``: the
    previous timestamp (for samples stored without one). Raises ValueError if malformed.
    """
    p = start + 4
    mv = memoryview(buf)

    def read_len(p: int) -> tuple[int, int]:
        nb = buf[p]
        if nb not in (1, 4, 8):
            raise ValueError("bad length")
        return int.from_bytes(mv[p + 1 : p + 1 + nb], "little"), p + 1 + nb

    m, p = read_len(p)
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
            ln, p = read_len(p)
            row.append(bytes(mv[p : p + ln]).decode("utf-8", "replace"))
            p += ln
        ts.append(last)
        vals.append(row)
    if p != end:
        raise ValueError("sample bytes do not fill the chunk")
    return ts, vals, last

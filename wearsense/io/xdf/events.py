"""What happened during a take, kept in the file: the ``wearsense-events`` stream.

A recording session writes one row into an XDF marker stream (``channel_format``
``string``, one channel, irregular rate, type ``Markers``) for every event that the
samples alone do not tell: a device failed, went silent or came back, rebooted, or its
clock jumped so that a new clock segment starts. Any XDF reader sees it (pyxdf returns
it as a stream of strings); each value is one JSON object::

    {"kind": "device_failed", "device": "serial:///dev/ttyUSB0", "stream": "",
     "t": NaN, "message": "... did not come back within 10 s ...", "stage": "stream"}

Timestamps of the rows are host ``time.monotonic()`` seconds, the clock the other
streams' ClockOffset chunks map to (``received_s``), so after pyxdf's clock
synchronisation the rows sit on the same time axis as the data. Rows are in file
order with non-decreasing timestamps; an event noticed late (a driver's, queued
behind its chunks) keeps its own time in ``host_s``. Fields:

- ``kind``: ``device_failed``, ``device_silent``, ``device_resumed``, ``clock_segment``,
  ``reset``, ``disconnect``, ``reconnect`` (drivers may add others);
- ``device``: the URI; ``stream``: the recorded stream's name (``""``: whole device);
- ``t``: for events tied to samples, the stream-clock time (s) of the first sample
  concerned (for ``clock_segment``: the first sample of the new segment);
- ``message``: one line for people; anything else is detail (``offset_s``, ``step_s``,
  ``seq``, ``boot_id``, ``stage``, ``silent_s`` ...).

Clock segments
--------------
A device clock that jumps (backwards or forwards), restarts or reboots never ends a
recording. The samples after it are written as a new clock *segment* whose times
continue those before it: ``t_file = t_device + offset_s``, with ``offset_s`` given in
the ``clock_segment`` row (the device's own reading is ``t_file - offset_s``). Each
stream's timestamps thus stay monotonic and its ClockOffset chunks (arrival - time)
continuous, which is the one form pyxdf's clock synchronisation and dejittering read
correctly: pyxdf splits clock segments only at jumps of seconds and assumes sample
times increase (docs/recording.md, "Faults during a session").
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["EVENTS_STREAM", "ClockGuard", "Segment", "clock_segments", "decode_event", "encode_event",
           "events_stream_info"]

#: Name of the marker stream that holds the session's events.
EVENTS_STREAM = "wearsense-events"


def events_stream_info() -> StreamInfo:
    """The StreamInfo of the ``wearsense-events`` marker stream."""
    return StreamInfo(
        EVENTS_STREAM,
        Modality.MARKER,
        ("event",),
        "",
        0.0,
        source_id="wearsense",
        metadata={
            "description": "one JSON object per event of the take (device failed, silent, resumed, "
            "reset, clock segment); timestamp = host monotonic time (s) when it was noticed",
        },
    )


def _jsonable(v: Any) -> Any:
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def encode_event(kind: str, message: str, *, device: str = "", stream: str = "", t: float = math.nan,
                 **detail: Any) -> str:
    """One event as the JSON text stored in the file (non-finite numbers become null)."""
    row = {"kind": kind, "device": device, "stream": stream, "t": t, "message": message, **detail}
    return json.dumps(_jsonable(row), sort_keys=False, separators=(",", ":"))


def decode_event(text: str, host_s: float = math.nan) -> dict[str, Any]:
    """The dict of one stored event; ``t`` NaN when null, ``host_s`` the row's timestamp
    unless the row has its own."""
    try:
        row = json.loads(text)
    except json.JSONDecodeError:
        row = {"kind": "unknown", "message": text}
    if not isinstance(row, dict):
        row = {"kind": "unknown", "message": text}
    row.setdefault("kind", "unknown")
    row.setdefault("message", "")
    t = row.get("t")
    row["t"] = float(t) if isinstance(t, (int, float)) else math.nan
    when = row.get("host_s")
    row["host_s"] = float(when) if isinstance(when, (int, float)) else host_s
    return row


def clock_segments(events: Sequence[Mapping[str, Any]]) -> dict[str, list[tuple[float, float, str]]]:
    """Where each stream's clock segments start: ``{stream: [(t, offset_s, reason), ...]}``.

    ``t`` is the first sample of the segment (s, the stream's clock as stored),
    ``offset_s`` what was added to the device's readings from there on, ``reason``
    ``clock_jump`` (continued exactly by the sampling clock), ``reset`` (continued by
    the host time between arrivals: a clock model should start a new epoch there) or
    ``recorder`` (a time that went back, caught by the recorder). ``events`` are
    :attr:`~wearsense.io.xdf.XDFFile.events`.
    """
    out: dict[str, list[tuple[float, float, str]]] = {}
    for e in events:
        if e.get("kind") == "clock_segment" and e.get("stream"):
            reason = str(e.get("reason") or e.get("found_by") or "")
            row = (float(e["t"]), float(e.get("offset_s") or 0.0), reason)
            out.setdefault(str(e["stream"]), []).append(row)
    for rows in out.values():
        rows.sort()
    return out


@dataclass(frozen=True)
class Segment:
    """A clock segment started by :class:`ClockGuard`: the stream, where, and the offsets."""

    stream: str
    t: float  # file time (s) of the first sample of the segment
    seq: int  # its sequence number as written
    offset_s: float  # file time - chunk time, from here on (s)
    step_s: float  # how far the incoming time jumped (s; negative: back)
    seq_offset: int  # written seq - chunk seq, from here on


class ClockGuard:
    """Keeps every stream's times and sequence numbers increasing: what goes back starts a segment.

    A driver that knows its device's clock (``serial://``) starts segments itself and
    says so with a :class:`~wearsense.devices.base.DeviceEvent`; this guard is the
    recorder's safety net for every other source. A chunk whose first time lies before
    the last one written, or whose first sequence number is not after the last one,
    and all later chunks of that stream, are shifted: times so that the first sample
    lands one nominal period (1 µs for irregular streams) after the last one written,
    sequence numbers so that they continue by one.
    """

    def __init__(self) -> None:
        self._offset: dict[str, float] = {}
        self._seq_offset: dict[str, int] = {}
        self._last: dict[str, tuple[float, int]] = {}

    def apply(self, info: StreamInfo, chunk: Chunk) -> tuple[Chunk, Segment | None]:
        """The chunk as it must be written, and the segment it starts (or None).

        (A :class:`~wearsense.stream.Chunk` is monotonic inside by construction; only
        the step from one chunk to the next can go back.)
        """
        name = info.name
        off = self._offset.get(name, 0.0)
        soff = self._seq_offset.get(name, 0)
        t = chunk.t + off if off else chunk.t
        seq = chunk.seq + soff if soff else chunk.seq
        seg = None
        last = self._last.get(name)
        if chunk.n and last is not None and (t[0] < last[0] or seq[0] <= last[1]):
            step = 0.0
            if t[0] < last[0]:
                period = 1.0 / info.rate_hz if info.rate_hz > 0 else 1e-6
                step = float(t[0]) - (last[0] + period)
                off -= step
                self._offset[name] = off
                t = chunk.t + off
            if seq[0] <= last[1]:
                soff += last[1] + 1 - int(seq[0])
                self._seq_offset[name] = soff
                seq = chunk.seq + soff
            seg = Segment(name, float(t[0]), int(seq[0]), off, step, soff)
        if chunk.n:
            self._last[name] = (float(t[-1]), int(seq[-1]))
        if t is chunk.t and seq is chunk.seq:
            return chunk, seg
        return Chunk(chunk.data, t, seq, chunk.clock, chunk.received_s), seg

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
synchronisation the rows sit on the same time axis as the data. Fields:

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["EVENTS_STREAM", "events_stream_info", "encode_event", "decode_event", "ClockGuard", "Segment"]

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
    """The dict of one stored event, with ``host_s`` (its timestamp) added; ``t`` NaN when null."""
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
    row["host_s"] = host_s
    return row


@dataclass(frozen=True)
class Segment:
    """A clock segment started by :class:`ClockGuard`: the stream, where, and the offset."""

    stream: str
    t: float  # file time (s) of the first sample of the segment
    seq: int
    offset_s: float  # file time - chunk time from here on
    step_s: float  # how far the incoming time jumped back (s, negative)


class ClockGuard:
    """Keeps every stream's times monotonic: a chunk that goes back in time starts a segment.

    A driver that knows its device's clock (``serial://``) starts segments itself and
    says so with a :class:`~wearsense.devices.base.DeviceEvent`; this guard is the
    recorder's safety net for every other source. The chunk that goes back, and all
    later chunks of that stream, are shifted by ``offset_s`` so that the first sample
    lands one nominal period (or 1 µs, irregular streams) after the last one written.
    """

    def __init__(self) -> None:
        self._offset: dict[str, float] = {}
        self._last: dict[str, float] = {}

    def offset(self, name: str) -> float:
        """Current shift (s) applied to the stream's incoming times."""
        return self._offset.get(name, 0.0)

    def apply(self, info: StreamInfo, chunk: Chunk) -> list[tuple[Chunk, Segment | None]]:
        """The pieces of the chunk as they must be written, each with the segment it starts.

        A chunk is cut wherever its own times go back; usually it comes back whole.
        """
        if chunk.n > 1 and (np.diff(chunk.t) < 0).any():
            cuts = np.flatnonzero(np.diff(chunk.t) < 0) + 1
            bounds = [0, *cuts.tolist(), chunk.n]
            pieces = [chunk[a:z] for a, z in zip(bounds[:-1], bounds[1:])]
            # only the last piece keeps the arrival time (the earlier ones arrived with it)
            pieces = [Chunk(p.data, p.t, p.seq, p.clock, math.nan) for p in pieces[:-1]] + [pieces[-1]]
            return [self._one(info, p) for p in pieces]
        return [self._one(info, chunk)]

    def _one(self, info: StreamInfo, chunk: Chunk) -> tuple[Chunk, Segment | None]:
        name = info.name
        off = self._offset.get(name, 0.0)
        last = self._last.get(name)
        seg = None
        t = chunk.t + off if off else chunk.t
        if chunk.n and last is not None and t[0] < last:
            step = 1.0 / info.rate_hz if info.rate_hz > 0 else 1e-6
            add = last + step - float(t[0])
            off += add
            self._offset[name] = off
            t = chunk.t + off
            seg = Segment(name, float(t[0]), int(chunk.seq[0]), off, -add)
        if chunk.n:
            self._last[name] = float(t[-1])
        if t is chunk.t:
            return chunk, seg
        return Chunk(chunk.data, t, chunk.seq, chunk.clock, chunk.received_s), seg

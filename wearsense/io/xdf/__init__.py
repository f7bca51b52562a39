"""XDF sessions: a crash-safe recorder, a fast reader, and repair of truncated files.

XDF (Extensible Data Format 1.0) is the file format of Lab Streaming Layer:
LabRecorder writes it and pyxdf, MNE, EEGLAB and MoBILAB read it. One module per job:

- :mod:`~wearsense.io.xdf.format`: the chunk encoding (framing, header/footer XML,
  Samples content); no I/O.
- :mod:`~wearsense.io.xdf.writer`: :class:`Recorder`, the threaded, append-only,
  fsync'd recorder, and :func:`check_destination`. How wearsense lays out its streams
  (timestamps, arrival times, sequence numbers, metadata) is described there.
- :mod:`~wearsense.io.xdf.scan`: the numba chunk scanner and sample decoder.
- :mod:`~wearsense.io.xdf.reader`: :func:`load` (and :func:`load_pyxdf`, through pyxdf).
- :mod:`~wearsense.io.xdf.repair`: :func:`repair` of crashed or damaged files.
- :mod:`~wearsense.io.xdf.events`: the ``wearsense-events`` stream (what happened
  during a take) and the clock-segment guard that keeps stream times monotonic.
"""

from wearsense.io.xdf.events import EVENTS_STREAM
from wearsense.io.xdf.format import SEQ_STREAM, estimate_bytes_per_s
from wearsense.io.xdf.reader import XDFFile, XDFStream, iter_chunks, load, load_pyxdf, read_xdf
from wearsense.io.xdf.repair import RepairReport, repair
from wearsense.io.xdf.writer import (
    Recorder,
    RecorderSettings,
    RecorderState,
    StreamCounters,
    check_destination,
)

__all__ = [
    "EVENTS_STREAM",
    "SEQ_STREAM",
    "Recorder",
    "RecorderSettings",
    "RecorderState",
    "RepairReport",
    "StreamCounters",
    "XDFFile",
    "XDFStream",
    "check_destination",
    "estimate_bytes_per_s",
    "iter_chunks",
    "load",
    "load_pyxdf",
    "read_xdf",
    "repair",
]

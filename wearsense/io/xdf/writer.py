"""The crash-safe XDF recorder: chunks in, an append-only, fsync'd file out.

How the recorder writes (the encoding itself is in :mod:`.format`):

- One Samples chunk per :class:`~wearsense.stream.Chunk` received, every sample with
  its own 8-byte timestamp (``Chunk.t`` in the device clock, bit-exact), values as
  ``float32``. Chunk boundaries therefore survive the round trip.
- One ClockOffset chunk after each Samples chunk whose ``received_s`` is known, in
  LabRecorder's convention (which pyxdf's clock synchronisation relies on): OffsetValue
  = ``received_s - t[-1]`` (device time + offset = host time) and CollectionTime =
  ``t[-1]``, the moment of the measurement in the stream's own clock (LabRecorder
  writes ``now - offset``). The offset includes the transport latency. The reader
  gives back ``received_s = CollectionTime + OffsetValue`` (equal to within 1 ulp).
- Sequence numbers: an extra irregular ``int64`` stream named ``wearsense-seq``
  (channels ``stream_id, sample_index, seq``) holds one row wherever a stream's
  sequence numbers do not continue by one (its first sample and after each gap), so
  loss is visible to any XDF reader and :func:`~.reader.load` rebuilds ``Chunk.seq``
  exactly.
- The StreamHeader of a stream is written, flushed and fsync'd together with its first
  Samples chunk, the moment that chunk arrives, because only the first chunk says the
  stream's clock (``Chunk.clock``, kept in ``<desc><wearsense><clock>``). A device
  whose first chunk comes late (a driver still compiling its decoder, a slow
  connection) therefore costs nothing; a stream that never delivers gets its header at
  :meth:`Recorder.close`. Channel labels, units and placement sit in the usual
  ``<desc><channels><channel><label/><unit/><type/>`` layout; the full
  ``StreamInfo.metadata`` is kept as JSON in ``<desc><wearsense><metadata>``.
- Events of the take (a device failed, went silent, rebooted; a clock segment
  started): one JSON row each in the ``wearsense-events`` marker stream, timestamped in
  host ``time.monotonic()`` seconds (:meth:`Recorder.write_event`,
  :mod:`~wearsense.io.xdf.events`).
- A stream's times never go back in the file: a chunk that goes back in time (a
  device clock that jumped or restarted) starts a new clock segment, its times
  shifted to continue after the last ones written and the shift recorded as a
  ``clock_segment`` event; the recording goes on.
- The file is written append-only from a buffer that is written and fsync'd at
  least every ``flush_interval_s`` (0.5 s by default) by a background thread, with a
  Boundary chunk at each flush. A killed process loses at most the unflushed buffer;
  power loss may leave a partial last chunk, which :func:`~.repair.repair` trims
  before adding the StreamFooters that a clean :meth:`Recorder.close` writes.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from wearsense.errors import ConfigError, RecordingError, StreamError
from wearsense.io.xdf.events import EVENTS_STREAM, ClockGuard, encode_event, events_stream_info
from wearsense.io.xdf.format import (
    BOUNDARY_UUID,
    MAGIC,
    SEQ_STREAM,
    TAG_BOUNDARY,
    TAG_CLOCK_OFFSET,
    TAG_FILE_HEADER,
    TAG_SAMPLES,
    TAG_STREAM_FOOTER,
    TAG_STREAM_HEADER,
    encode_chunk,
    estimate_bytes_per_s,
    file_header_xml,
    samples_content,
    seq_stream_info,
    stream_footer_xml,
    stream_header_xml,
    string_samples_content,
)
from wearsense.stream import Chunk, StreamInfo, count_lost

log = logging.getLogger("wearsense")

__all__ = ["Recorder", "RecorderSettings", "RecorderState", "StreamCounters", "check_destination"]


@dataclass(frozen=True)
class RecorderSettings:
    """How a :class:`Recorder` writes.

    Parameters
    ----------
    flush_interval_s : float
        Longest time (s) data waits in memory before it is written and fsync'd; a
        crash loses at most this much (plus one write). Must be in (0, 1].
    fsync : bool
        Call ``os.fsync`` after every flush (power-loss safety). Only turn off for
        benchmarks of the encoder itself.
    overwrite : bool
        Replace an existing file instead of refusing to start.
    expected_duration_s : float or None
        Planned length (s); the free-space check asks for room for it (plus
        ``reserve_bytes``). ``None``: room for 60 s.
    reserve_bytes : int
        Free space (bytes) to keep in addition to the estimate.
    """

    flush_interval_s: float = 0.5
    fsync: bool = True
    overwrite: bool = False
    expected_duration_s: float | None = None
    reserve_bytes: int = 16 * 2**20

    def __post_init__(self) -> None:
        if not 0 < self.flush_interval_s <= 1.0:
            raise ConfigError(
                f"flush_interval_s must be in (0, 1] s to keep the crash loss under a second, "
                f"got {self.flush_interval_s!r}",
                "flush_interval_s",
            )
        if self.expected_duration_s is not None and not self.expected_duration_s > 0:
            raise ConfigError(
                f"expected_duration_s must be > 0 s, got {self.expected_duration_s!r}", "expected_duration_s"
            )


@dataclass(frozen=True)
class StreamCounters:
    """Counters of one recorded stream (a snapshot).

    ``first_t``/``last_t`` are the first and last timestamps written (s, in the
    stream's own clock; NaN before any sample), ``lost`` the samples missing by the
    sequence numbers.
    """

    name: str
    stream_id: int
    samples: int
    chunks: int
    lost: int
    first_t: float
    last_t: float
    rate_hz: float

    @property
    def loss_fraction(self) -> float:
        """Lost / (received + lost); 0 when nothing was expected."""
        total = self.samples + self.lost
        return self.lost / total if total else 0.0

    @property
    def span_s(self) -> float:
        """Time covered by the samples written (s): last minus first timestamp; 0 before two samples."""
        return self.last_t - self.first_t if self.samples > 1 else 0.0


@dataclass(frozen=True)
class RecorderState:
    """What the recorder has done so far (for a status line).

    ``elapsed_s`` is host (wall) time since the recorder opened; :attr:`recorded_s` is
    how much signal the file holds, which differs when devices run faster or slower
    than real time (replay, ``sim://...?realtime=0``).
    """

    path: str
    bytes_written: int
    bytes_buffered: int
    flushes: int
    elapsed_s: float
    streams: tuple[StreamCounters, ...]
    #: the rows written to the ``wearsense-events`` stream, as JSON text
    events: tuple[str, ...] = ()

    @property
    def recorded_s(self) -> float:
        """The longest span of any stream (s, each in its own clock); 0 when nothing was written."""
        return max((s.span_s for s in self.streams), default=0.0)


@dataclass
class _Stream:
    info: StreamInfo
    stream_id: int
    clock: str = ""
    header_written: bool = False
    samples: int = 0
    chunks: int = 0
    lost: int = 0
    last_seq: int | None = None
    first_t: float = math.nan
    last_t: float = math.nan


def check_destination(path: str | os.PathLike, required_bytes: int = 0, overwrite: bool = False) -> Path:
    """Raise :class:`RecordingError` unless a recording can be written to ``path``.

    Checks, before any device is opened: the folder exists and is a folder, the file
    does not exist (unless ``overwrite``), a file can be created there, and the disk
    has ``required_bytes`` free.

    Returns
    -------
    Path
        The absolute path.
    """
    p = Path(path).expanduser().absolute()
    folder = p.parent
    if p.suffix.lower() != ".xdf":
        raise RecordingError(f"recording path {str(p)!r} must end in .xdf (e.g. session.xdf)", str(p))
    if not folder.exists():
        raise RecordingError(
            f"cannot record to {str(p)!r}: folder {str(folder)!r} does not exist; create it first", str(p)
        )
    if not folder.is_dir():
        raise RecordingError(f"cannot record to {str(p)!r}: {str(folder)!r} is not a folder", str(p))
    if p.exists() and not overwrite:
        raise RecordingError(
            f"{str(p)!r} already exists; choose another name or pass overwrite (--overwrite) to replace it",
            str(p),
        )
    if p.exists() and p.is_dir():
        raise RecordingError(f"cannot record to {str(p)!r}: it is a folder", str(p))
    probe = folder / f".{p.name}.{os.getpid()}.probe"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, b"XDF:")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise RecordingError(
            f"cannot write in {str(folder)!r} ({e.strerror or e}); pick a writable folder "
            "(check permissions, read-only mounts and free space)",
            str(p),
        ) from None
    try:
        free = shutil.disk_usage(folder).free
    except OSError as e:
        raise RecordingError(
            f"cannot query free space of {str(folder)!r}: {e.strerror or e}", str(p)
        ) from None
    if free < required_bytes:
        raise RecordingError(
            f"not enough free space for {str(p)!r}: {free / 2**20:.1f} MiB free, "
            f"{required_bytes / 2**20:.1f} MiB needed; free some space, record to another disk, "
            "or record for less time",
            str(p),
        )
    return p


class Recorder:
    """Write streams of ``(StreamInfo, Chunk)`` into one crash-safe XDF file.

    >>> with Recorder("session.xdf", dev.streams) as rec:      # doctest: +SKIP
    ...     for info, chunk in dev:
    ...         rec.write(info, chunk)

    The destination is checked (writable, free space, not an existing file) and the
    FileHeader is on disk before the constructor returns. :meth:`write` is cheap (it
    encodes into a buffer); a background thread writes and fsyncs the buffer every
    ``flush_interval_s``. Errors of that thread (disk full) are raised by the next
    :meth:`write`, :meth:`flush` or :meth:`close`.

    Parameters
    ----------
    path : str or Path
        The ``.xdf`` file to create.
    streams : sequence of StreamInfo
        Streams known up front (more can appear later in :meth:`write`).
    settings : RecorderSettings, optional
    """

    def __init__(
        self,
        path: str | os.PathLike,
        streams: Sequence[StreamInfo] = (),
        settings: RecorderSettings | None = None,
    ) -> None:
        self.settings = settings or RecorderSettings()
        duration = self.settings.expected_duration_s or 60.0
        need = int(estimate_bytes_per_s(streams) * duration) + self.settings.reserve_bytes
        self.path = check_destination(path, need, self.settings.overwrite)
        self._t0 = time.monotonic()
        self._lock = threading.RLock()
        self._io_lock = threading.RLock()  # one flush at a time; taken before _lock, never after
        self._buf = bytearray()
        self._streams: dict[str, _Stream] = {}
        self._bytes_written = 0
        self._flushes = 0
        self._last_flush = self._t0
        self._error: RecordingError | None = None
        self._closed = False
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if self.settings.overwrite else os.O_EXCL)
        try:
            self._fd = os.open(self.path, flags, 0o644)
        except OSError as e:
            raise RecordingError(
                f"cannot create {str(self.path)!r}: {e.strerror or e}", str(self.path)
            ) from None
        self._buf += MAGIC + encode_chunk(TAG_FILE_HEADER, file_header_xml())
        self._seq = self._add(seq_stream_info())
        self._write_header(self._seq, "mixed: each row is in the clock of the stream it describes", "int64")
        self._events: _Stream | None = None
        self._event_rows: list[str] = []
        self._guard = ClockGuard()
        for s in streams:
            self.add_stream(s)
        try:
            self.flush()
        except RecordingError:
            self._abort()
            raise
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._flush_loop, name=f"wearsense-recorder:{self.path.name}", daemon=True
        )
        self._thread.start()
        log.info("recording to %s", self.path)

    # -- streams ------------------------------------------------------------------------
    def _add(self, info: StreamInfo) -> _Stream:
        st = _Stream(info, len(self._streams) + 1)
        self._streams[info.name] = st
        return st

    def add_stream(self, info: StreamInfo) -> None:
        """Declare a stream; its header is written with its first chunk."""
        with self._lock:
            if info.name in (SEQ_STREAM, EVENTS_STREAM):
                raise StreamError(f"stream name {info.name!r} is reserved by the recorder; rename the stream")
            known = self._streams.get(info.name)
            if known is not None:
                if known.info.channels != info.channels:
                    raise StreamError(
                        f"recorder: stream {info.name!r} was declared with channels {known.info.channels}, "
                        f"now {info.channels}; give streams unique names"
                    )
                return
            self._add(info)

    def _write_header(self, st: _Stream, clock: str, fmt: str = "float32") -> None:
        st.clock = clock
        st.header_written = True
        xml = stream_header_xml(st.info, clock, fmt, time.time())
        self._buf += encode_chunk(TAG_STREAM_HEADER, struct.pack("<I", st.stream_id) + xml)

    # -- data ---------------------------------------------------------------------------
    def write(self, info: StreamInfo, chunk: Chunk) -> None:
        """Append one chunk of stream ``info`` (declared now if new)."""
        self._raise_pending()
        if self._closed:
            raise RecordingError(f"recorder for {str(self.path)!r} is closed", str(self.path))
        with self._lock:
            st = self._streams.get(info.name)
            if st is None or st is self._seq or st is self._events:
                self.add_stream(info)
                st = self._streams[info.name]
            if chunk.n_channels != st.info.n_channels:
                raise StreamError(
                    f"recorder: stream {info.name!r} has {st.info.n_channels} channels, "
                    f"chunk has {chunk.n_channels}"
                )
            if chunk.n == 0:
                return
            first = not st.header_written
            if first:
                self._write_header(st, chunk.clock)
            elif chunk.clock != st.clock:
                raise StreamError(
                    f"recorder: stream {info.name!r} changed clock from {st.clock!r} to {chunk.clock!r}; "
                    "record re-timed data as a new stream"
                )
            chunk, seg = self._guard.apply(st.info, chunk)
            if seg is not None:
                what = (f"went back {-seg.step_s * 1e3:.3f} ms in time" if seg.step_s < 0
                        else "restarted its sequence numbers")
                self.write_event(
                    "clock_segment",
                    f"stream {info.name!r} {what} after {st.last_t:.6f} s; the samples from "
                    f"{seg.t:.6f} s on are a new clock segment (times shifted by {seg.offset_s:+.6f} s)",
                    stream=info.name, t=seg.t, seq=seg.seq, offset_s=seg.offset_s, step_s=seg.step_s,
                    seq_offset=seg.seq_offset, found_by="recorder",
                )
            self._write_samples(st, chunk)
        # a new stream's header and first samples go to disk at once
        if first or time.monotonic() - self._last_flush >= self.settings.flush_interval_s:
            self.flush()

    def _write_samples(self, st: _Stream, chunk: Chunk) -> None:
        seq = chunk.seq
        expected = np.empty_like(seq)
        expected[1:] = seq[:-1] + 1
        expected[0] = -1 if st.last_seq is None else st.last_seq + 1
        breaks = np.flatnonzero(seq != expected)
        if breaks.size:
            rows = np.stack(
                [np.full(breaks.size, st.stream_id), st.samples + breaks, seq[breaks]], axis=1
            ).astype(np.int64)
            runs = samples_content(self._seq.stream_id, chunk.t[breaks], rows, np.dtype("<i8"))
            self._buf += encode_chunk(TAG_SAMPLES, runs)
            self._seq.samples += breaks.size
            st.lost += count_lost(seq, st.last_seq)
        self._buf += encode_chunk(TAG_SAMPLES,
                                  samples_content(st.stream_id, chunk.t, chunk.data, np.dtype("<f4")))
        if math.isfinite(chunk.received_s):
            self._buf += encode_chunk(
                TAG_CLOCK_OFFSET,
                struct.pack("<Idd", st.stream_id, float(chunk.t[-1]), chunk.received_s - float(chunk.t[-1])),
            )
        if not st.samples:
            st.first_t = float(chunk.t[0])
        st.samples += chunk.n
        st.chunks += 1
        st.last_seq = int(seq[-1])
        st.last_t = float(chunk.t[-1])

    def write_event(self, kind: str, message: str, *, device: str = "", stream: str = "", t: float = math.nan,
                    host_s: float | None = None, **detail: object) -> str:
        """Append one row to the ``wearsense-events`` stream; returns the JSON text written.

        Parameters
        ----------
        kind : str
            ``device_failed``, ``device_silent``, ``device_resumed``, ``clock_segment``,
            ``reset``, ``disconnect``, ``reconnect``, ... (:mod:`~wearsense.io.xdf.events`).
        message : str
            One line for people.
        device, stream : str
            The device URI and the recorded stream concerned (``""``: not one).
        t : float
            Stream-clock time (s) of the first sample concerned, NaN if none.
        host_s : float, optional
            Host ``time.monotonic()`` (s) of the event (the row's timestamp); default now.
        **detail
            JSON-able extra fields.
        """
        self._raise_pending()
        when = time.monotonic() if host_s is None else float(host_s)
        text = encode_event(kind, message, device=device, stream=stream, t=t, host_s=when, **detail)
        with self._lock:
            if self._closed:
                raise RecordingError(f"recorder for {str(self.path)!r} is closed", str(self.path))
            if self._events is None:
                self._events = self._add(events_stream_info())
                self._write_header(self._events, "host:monotonic", "string")
            # rows are stamped in file order (an event noticed late keeps its host_s in the JSON)
            stamp = max(when, self._events.last_t) if math.isfinite(self._events.last_t) else when
            row = string_samples_content(self._events.stream_id, [stamp], [text])
            self._buf += encode_chunk(TAG_SAMPLES, row)
            self._events.samples += 1
            self._events.chunks += 1
            if not math.isfinite(self._events.first_t):
                self._events.first_t = stamp
            self._events.last_t = stamp
            self._event_rows.append(text)
        log.info("recording %s: %s", self.path.name, message)
        return text

    def flush(self) -> None:
        """Write the buffer (with a Boundary chunk) and fsync it now.

        The buffer is swapped out under the lock and written and fsync'd outside it, so a
        :meth:`write` from another thread (a live view's event loop) goes on encoding into
        the next buffer instead of waiting out the disk; flushes themselves are serialised
        (``_io_lock``, always taken before ``_lock``), so the file stays in order.
        """
        with self._io_lock:
            with self._lock:
                self._raise_pending()
                if self._closed:
                    return
                now = time.monotonic()
                if not self._buf:
                    self._last_flush = now
                    return
                if self._bytes_written:
                    self._buf += encode_chunk(TAG_BOUNDARY, BOUNDARY_UUID)
                data = memoryview(bytes(self._buf))
                self._buf.clear()
                self._last_flush = now  # (a write() meanwhile does not flush again at once)
            try:
                while data:
                    n = os.write(self._fd, data)
                    data = data[n:]
                    self._bytes_written += n
                if self.settings.fsync:
                    os.fsync(self._fd)
            except OSError as e:
                with self._lock:
                    self._error = RecordingError(
                        f"writing {str(self.path)!r} failed after {self._bytes_written} bytes: "
                        f"{e.strerror or e}; the file holds everything flushed before; free space, "
                        f"then run 'wearsense repair {self.path}'",
                        str(self.path),
                    )
                    self._raise_pending()
            self._flushes += 1

    def _flush_loop(self) -> None:
        while not self._stop.wait(self.settings.flush_interval_s / 2):
            if time.monotonic() - self._last_flush >= self.settings.flush_interval_s / 2:
                try:
                    self.flush()
                except RecordingError as e:
                    log.error("%s", e)
                    return

    def _raise_pending(self) -> None:
        if self._error is not None:
            err = self._error
            raise err

    @property
    def state(self) -> RecorderState:
        """A snapshot of counters: bytes on disk and buffered, per-stream samples and loss."""
        with self._lock:
            stats = tuple(
                StreamCounters(
                    s.info.name, s.stream_id, s.samples, s.chunks, s.lost, s.first_t, s.last_t, s.info.rate_hz
                )
                for s in self._streams.values()
                if s is not self._seq and s is not self._events
            )
            return RecorderState(
                str(self.path),
                self._bytes_written,
                len(self._buf),
                self._flushes,
                time.monotonic() - self._t0,
                stats,
                tuple(self._event_rows),
            )

    # -- closing ------------------------------------------------------------------------
    def close(self) -> None:
        """Flush, write a StreamFooter per stream, fsync and close. Safe to call twice."""
        if self._closed:
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        try:
            with self._io_lock, self._lock:
                for st in self._streams.values():
                    if not st.header_written:
                        self._write_header(st, f"device:{st.info.name}")
                self.flush()
                for st in self._streams.values():
                    extra = {"lost_samples": str(st.lost), "chunks": str(st.chunks), "clock": st.clock}
                    self._buf += encode_chunk(
                        TAG_STREAM_FOOTER,
                        struct.pack("<I", st.stream_id)
                        + stream_footer_xml(st.first_t, st.last_t, st.samples, extra),
                    )
                self.flush()
        finally:
            self._closed = True
            os.close(self._fd)
        log.info("closed %s (%d bytes)", self.path, self._bytes_written)

    def _abort(self) -> None:
        self._closed = True
        try:
            os.close(self._fd)
        except OSError:
            pass

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


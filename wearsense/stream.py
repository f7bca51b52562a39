"""Core stream types: :class:`StreamInfo`, :class:`Chunk`, :class:`Stage`, :class:`Pipeline`.

Everything in wearsense consumes and produces these, so the same code runs live (chunk
by chunk, with state carried between calls) and offline (one chunk holding a whole
recording) and gives the same numbers both ways.

Conventions
-----------
- ``Chunk.data`` is ``float32``, shape ``(n_samples, n_channels)``.
- ``Chunk.t`` is ``float64`` seconds, one per sample, in the clock named by
  ``Chunk.clock`` (e.g. ``"device:sim-emg"`` for a device's own clock, ``"host"`` for
  the host's monotonic clock, ``"session"`` once the sync layer has mapped it).
- ``Chunk.seq`` is the ``int64`` sequence number of each sample as counted by the
  device; gaps in it are lost samples (see :func:`count_lost`).
- ``Chunk.received_s`` is the host monotonic time (seconds) at which the chunk
  arrived, or NaN where that is unknown (offline data). The sync layer fits the device
  clock against it.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from wearsense.errors import StreamError

__all__ = [
    "Modality",
    "StreamInfo",
    "Chunk",
    "Stage",
    "Pipeline",
    "concat",
    "split",
    "split_every",
    "count_lost",
    "sequence_gaps",
]


class Modality(str, enum.Enum):
    """What a stream measures. Values match the XDF/LSL ``type`` field."""

    EMG = "EMG"
    IMU = "IMU"
    POSE = "POSE"
    MARKER = "MARKER"
    EEG = "EEG"
    FORCE = "FORCE"
    STATUS = "STATUS"
    OTHER = "OTHER"

    @classmethod
    def parse(cls, value: "str | Modality") -> "Modality":
        if isinstance(value, Modality):
            return value
        try:
            return cls(str(value).upper())
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise StreamError(f"unknown modality {value!r}; expected one of: {known}") from None


def _json_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


#: Modalities whose samples may be NaN (an occluded marker, a missing keypoint).
NAN_ALLOWED = frozenset({Modality.POSE, Modality.MARKER})


@dataclass(frozen=True)
class StreamInfo:
    """Description of one stream: what it measures, its channels and its rate.

    Parameters
    ----------
    name : str
        Unique name within a session, e.g. ``"sim-emg"``.
    modality : Modality or str
        What the stream measures.
    channels : sequence of str
        One label per channel, e.g. ``"biceps_brachii_r"`` or ``"imu0_acc_x"``.
    units : sequence of str or str
        One unit per channel (``"V"``, ``"m/s^2"``, ``"deg/s"``, ``"uT"``, ``"m"``),
        or one unit for all channels.
    rate_hz : float
        Nominal sampling rate in Hz; ``0`` for irregular streams.
    source_id : str
        Identifier of the device (serial number, BLE address, URI).
    metadata : mapping
        Free metadata: placement (e.g. SENIAM site per channel), firmware version,
        scale factors. Values should be JSON-serialisable.
    """

    name: str
    modality: Modality
    channels: tuple[str, ...]
    units: tuple[str, ...]
    rate_hz: float
    source_id: str = ""
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "modality", Modality.parse(self.modality))
        channels = (self.channels,) if isinstance(self.channels, str) else tuple(self.channels)
        if not channels:
            raise StreamError(f"stream {self.name!r}: needs at least one channel label")
        if len(set(channels)) != len(channels):
            dup = sorted({c for c in channels if channels.count(c) > 1})
            raise StreamError(f"stream {self.name!r}: duplicate channel labels {dup}")
        units = self.units
        units = (units,) * len(channels) if isinstance(units, str) else tuple(units)
        if len(units) != len(channels):
            raise StreamError(
                f"stream {self.name!r}: {len(units)} units for {len(channels)} channels; "
                "give one unit per channel or a single unit string"
            )
        rate = float(self.rate_hz)
        if not math.isfinite(rate) or rate < 0:
            raise StreamError(
                f"stream {self.name!r}: rate_hz must be >= 0 (0 = irregular), got {self.rate_hz!r}"
            )
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "units", units)
        object.__setattr__(self, "rate_hz", rate)
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @property
    def n_channels(self) -> int:
        return len(self.channels)

    def __reduce__(self):
        # the read-only metadata view cannot be pickled; rebuild it (multiprocessing, caches)
        return (
            StreamInfo,
            (
                self.name,
                self.modality,
                self.channels,
                self.units,
                self.rate_hz,
                self.source_id,
                dict(self.metadata),
            ),
        )

    @property
    def nan_allowed(self) -> bool:
        """Whether samples may be NaN (pose/marker occlusion, or ``metadata['nan_allowed']``)."""
        return self.modality in NAN_ALLOWED or bool(self.metadata.get("nan_allowed", False))

    def index(self, label: str) -> int:
        """Column of channel ``label``; the error lists the labels that exist."""
        try:
            return self.channels.index(label)
        except ValueError:
            raise StreamError(
                f"stream {self.name!r} has no channel {label!r}; channels: {', '.join(self.channels)}"
            ) from None

    def select(self, prefix: str = "", unit: str | None = None) -> list[int]:
        """Columns whose label starts with ``prefix`` and (optionally) whose unit is ``unit``."""
        return [
            i
            for i, (c, u) in enumerate(zip(self.channels, self.units))
            if c.startswith(prefix) and (unit is None or u == unit)
        ]

    def metadata_json(self) -> str:
        """``metadata`` as JSON (keys sorted; arrays as lists, NumPy scalars as numbers,
        anything else as its ``str``), the form every file format stores it in."""
        return json.dumps(dict(self.metadata), default=_json_value, sort_keys=True)

    def with_(self, **changes: Any) -> "StreamInfo":
        """A copy with some fields changed (``StreamInfo`` is immutable)."""
        return replace(self, **changes)

    def check(self, chunk: "Chunk") -> None:
        """Raise :class:`StreamError` unless ``chunk`` fits this stream.

        Checks the channel count, and that data holds no NaN/inf unless the stream
        allows NaN (pose and markers, where NaN marks an occluded point).
        """
        if chunk.n_channels != self.n_channels:
            raise StreamError(
                f"stream {self.name!r}: chunk has {chunk.n_channels} channels, "
                f"stream has {self.n_channels} ({', '.join(self.channels)})"
            )
        if chunk.n and not self.nan_allowed:
            bad = ~np.isfinite(chunk.data)
            if bad.any():
                rows, cols = np.nonzero(bad)
                raise StreamError(
                    f"stream {self.name!r}: non-finite value in channel "
                    f"{self.channels[cols[0]]!r} at t={chunk.t[rows[0]]:.6f} s "
                    f"({int(bad.sum())} values); {self.modality.value} streams may not hold "
                    "NaN/inf: fix the source, or set metadata['nan_allowed']=True"
                )


def _frozen(a: np.ndarray) -> np.ndarray:
    if a.flags.writeable:
        a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class Chunk:
    """A block of consecutive samples of one stream. Immutable: stages return new ones.

    Parameters
    ----------
    data : array_like, shape (n_samples, n_channels)
        Converted to C-contiguous ``float32``. A 1-D array is taken as one channel.
    t : array_like, shape (n_samples,)
        Timestamps in seconds (``float64``), non-decreasing, finite.
    seq : int or array_like of int, shape (n_samples,)
        Sequence number of each sample, strictly increasing; an ``int`` is the first
        number and the rest follow consecutively.
    clock : str
        The clock ``t`` is in (``"device:<id>"``, ``"host"``, ``"session"``, ...).
    received_s : float
        Host monotonic time (s) at which this chunk arrived; NaN when unknown.
    """

    data: np.ndarray
    t: np.ndarray
    seq: np.ndarray | int = 0
    clock: str = "device"
    received_s: float = math.nan

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2:
            raise StreamError(f"chunk data must be 2-D (samples x channels), got shape {data.shape}")
        if not (np.issubdtype(data.dtype, np.number) or data.dtype == bool):
            raise StreamError(f"chunk data must be numeric, got dtype {data.dtype}")
        data = np.ascontiguousarray(data, dtype=np.float32)
        t = np.ascontiguousarray(self.t, dtype=np.float64)
        if t.ndim != 1 or t.shape[0] != data.shape[0]:
            raise StreamError(
                f"chunk needs one timestamp per sample: data has {data.shape[0]} samples, "
                f"t has shape {t.shape}"
            )
        if t.size and not np.isfinite(t).all():
            raise StreamError(
                f"chunk timestamps must be finite; first bad at index {int(np.argmin(np.isfinite(t)))}"
            )
        if t.size > 1:
            dt = np.diff(t)
            if (dt < 0).any():
                i = int(np.argmax(dt < 0))
                raise StreamError(
                    f"chunk timestamps go backwards at index {i + 1}: {t[i]:.6f} s -> {t[i + 1]:.6f} s; "
                    "device timestamps must be monotonic (unwrap counters before building chunks)"
                )
        seq = self.seq
        if isinstance(seq, (int, np.integer)):
            seq = np.arange(int(seq), int(seq) + data.shape[0], dtype=np.int64)
        else:
            seq = np.ascontiguousarray(seq, dtype=np.int64)
            if seq.shape != t.shape:
                raise StreamError(
                    f"chunk needs one sequence number per sample: got {seq.shape}, expected {t.shape}"
                )
            if seq.size > 1 and (np.diff(seq) <= 0).any():
                i = int(np.argmax(np.diff(seq) <= 0))
                raise StreamError(
                    f"chunk sequence numbers must increase strictly; index {i + 1}: {seq[i]} -> {seq[i + 1]}"
                )
        object.__setattr__(self, "data", _frozen(data))
        object.__setattr__(self, "t", _frozen(t))
        object.__setattr__(self, "seq", _frozen(seq))
        object.__setattr__(self, "received_s", float(self.received_s))

    # -- shape ------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of samples."""
        return self.data.shape[0]

    def __len__(self) -> int:
        return self.n

    @property
    def n_channels(self) -> int:
        return self.data.shape[1]

    @property
    def seq0(self) -> int:
        """Sequence number of the first sample (``-1`` for an empty chunk)."""
        return int(self.seq[0]) if self.n else -1

    @property
    def duration_s(self) -> float:
        """Time from first to last sample (0 for fewer than two samples)."""
        return float(self.t[-1] - self.t[0]) if self.n > 1 else 0.0

    @classmethod
    def empty(cls, n_channels: int, clock: str = "device") -> "Chunk":
        """A chunk with no samples (what a stage returns while it fills a window)."""
        return cls(np.zeros((0, n_channels), np.float32), np.zeros(0), np.zeros(0, np.int64), clock)

    # -- derivation ---------------------------------------------------------------
    def with_data(self, data: np.ndarray) -> "Chunk":
        """Same timestamps, sequence numbers and clock; new data (same number of samples).

        Only ``data`` is checked (``t`` and ``seq`` were checked when this chunk was
        made), so this is cheap enough to call per 10 ms chunk in a live stage.
        """
        data = np.asarray(data)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2 or data.shape[0] != self.data.shape[0]:
            raise StreamError(
                f"with_data needs {self.data.shape[0]} samples (2-D, samples x channels), got "
                f"shape {data.shape}"
            )
        if data.dtype.kind not in "biufc":
            raise StreamError(f"chunk data must be numeric, got dtype {data.dtype}")
        new = object.__new__(Chunk)
        for name, value in (
            ("data", _frozen(np.ascontiguousarray(data, dtype=np.float32))),
            ("t", self.t),
            ("seq", self.seq),
            ("clock", self.clock),
            ("received_s", self.received_s),
        ):
            object.__setattr__(new, name, value)
        return new

    def with_time(self, t: np.ndarray, clock: str) -> "Chunk":
        """Same samples; timestamps re-expressed in another clock."""
        return Chunk(self.data, t, self.seq, clock, self.received_s)

    def __getitem__(self, key: slice) -> "Chunk":
        """Slice samples: ``chunk[10:20]``. Only slices with step 1 keep the meaning of a chunk."""
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise StreamError("chunks are sliced by sample range only, e.g. chunk[a:b]")
        return Chunk(self.data[key], self.t[key], self.seq[key], self.clock, self.received_s)

    def equals(self, other: "Chunk") -> bool:
        """Bit-identical samples, timestamps, sequence numbers and clock."""
        return (
            self.clock == other.clock
            and np.array_equal(self.data, other.data, equal_nan=True)
            and np.array_equal(self.t, other.t)
            and np.array_equal(self.seq, other.seq)
        )

    def __repr__(self) -> str:
        span = f"{self.t[0]:.3f}..{self.t[-1]:.3f} s" if self.n else "empty"
        return f"Chunk({self.n} x {self.n_channels}, {span}, seq0={self.seq0}, clock={self.clock!r})"


def concat(chunks: Iterable[Chunk]) -> Chunk:
    """Join chunks of one stream in time order into one chunk.

    All chunks must share the clock and channel count; the result must still be
    monotonic in time and strictly increasing in sequence number (gaps are fine: they
    are lost samples). ``received_s`` of the result is that of the last chunk.
    """
    chunks = [c for c in chunks]
    if not chunks:
        raise StreamError("concat needs at least one chunk")
    first = chunks[0]
    for c in chunks[1:]:
        if c.clock != first.clock:
            raise StreamError(f"cannot concat chunks in different clocks: {first.clock!r} and {c.clock!r}")
        if c.n_channels != first.n_channels:
            raise StreamError(f"cannot concat chunks with {first.n_channels} and {c.n_channels} channels")
    if len(chunks) == 1:
        return first
    return Chunk(
        np.concatenate([c.data for c in chunks]),
        np.concatenate([c.t for c in chunks]),
        np.concatenate([c.seq for c in chunks]),
        first.clock,
        chunks[-1].received_s,
    )


def split(chunk: Chunk, boundaries: Sequence[int]) -> list[Chunk]:
    """Cut a chunk at the given sample indices (sorted, within ``0..n``).

    ``concat(split(c, b))`` equals ``c`` for any boundaries; empty pieces are kept so
    the stages' handling of empty chunks is exercised too.
    """
    b = [int(x) for x in boundaries]
    if any(x < 0 or x > chunk.n for x in b) or b != sorted(b):
        raise StreamError(f"split boundaries must be sorted within 0..{chunk.n}, got {b}")
    edges = [0, *b, chunk.n]
    return [chunk[a:z] for a, z in zip(edges[:-1], edges[1:])]


def split_every(chunk: Chunk, size: int) -> Iterator[Chunk]:
    """Cut a chunk into pieces of ``size`` samples (the last may be shorter)."""
    if size < 1:
        raise StreamError(f"split_every: size must be >= 1 sample, got {size}")
    for a in range(0, chunk.n, size):
        yield chunk[a : a + size]


def count_lost(seq: np.ndarray, previous: int | None = None) -> int:
    """Number of samples missing from a strictly increasing sequence.

    Parameters
    ----------
    seq : ndarray of int64
        Sequence numbers received.
    previous : int, optional
        The last sequence number received before ``seq`` (to count a gap at the start).
    """
    seq = np.asarray(seq, dtype=np.int64)
    if seq.size == 0:
        return 0
    lost = int(seq[-1] - seq[0] + 1 - seq.size)
    if previous is not None:
        lost += int(seq[0] - previous - 1)
    return lost


def sequence_gaps(seq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where samples are missing: indices ``i`` with ``seq[i + 1] > seq[i] + 1``, and how many each.

    The one accounting of gaps and loss (``wearsense info``, the sync layer's
    :class:`~wearsense.sync.Timeline`): a gap is a jump of the sequence numbers; a step
    in time with no sample missing is not loss (it is a clock jump or a pause).
    """
    seq = np.asarray(seq, dtype=np.int64)
    if seq.size < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    d = np.diff(seq)
    idx = np.flatnonzero(d > 1)
    return idx, d[idx] - 1


@runtime_checkable
class Stage(Protocol):
    """A processing step with its own state.

    ``process`` takes a chunk and returns a new one (it may hold samples back, e.g. to
    fill a window, and return an empty chunk). ``reset`` forgets all state. Feeding a
    recording in chunks of any size gives the same output as one call on the whole
    recording: this is tested for every stage.
    """

    def process(self, chunk: Chunk) -> Chunk: ...

    def reset(self) -> None: ...


class Pipeline:
    """Stages applied in order; itself a :class:`Stage`.

    >>> pipe = Pipeline([stage_a, stage_b])        # doctest: +SKIP
    >>> out = pipe.process(chunk)                  # doctest: +SKIP
    """

    def __init__(self, stages: Sequence[Stage]) -> None:
        stages = list(stages)
        for s in stages:
            if not isinstance(s, Stage):
                raise StreamError(f"pipeline stage {s!r} must have process(chunk) and reset() methods")
        self.stages: tuple[Stage, ...] = tuple(stages)

    def process(self, chunk: Chunk) -> Chunk:
        for s in self.stages:
            chunk = s.process(chunk)
        return chunk

    def reset(self) -> None:
        for s in self.stages:
            s.reset()

    def run(self, chunk: Chunk) -> Chunk:
        """Offline use: reset, then process one chunk holding the whole recording."""
        self.reset()
        return self.process(chunk)

    def __repr__(self) -> str:
        return "Pipeline([" + ", ".join(type(s).__name__ for s in self.stages) + "])"

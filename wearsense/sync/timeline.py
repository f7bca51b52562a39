"""Timeline: every stream of every device on one time axis (the session clock), with loss marked.

:class:`Timeline` takes the chunks of all devices as they arrive (device
timestamps, sequence numbers and host arrival times untouched, as drivers deliver
them) and returns them in the **session clock**: host monotonic time by default, or
any clock with a known constant offset from it (e.g. an LSL clock:
``reference_offset_s = pylsl.local_clock() - time.monotonic()``). One
:class:`~wearsense.sync.clock.ClockModel` per device (streams with the same
``source_id`` share it) does the mapping; per stream the session clock

- unwraps sequence counters that wrap (``seq_modulus``, e.g. 256 or 65536 on BLE),
- keeps ``seq`` strictly increasing across device resets (the new epoch's numbers
  continue after the old ones, leaving a gap as long as the time the device was away),
- counts lost samples from ``seq`` gaps and lists each gap in session time
  (:attr:`StreamSyncState.gaps`): gaps are **marked, never filled**,
- dejitters streams without device timestamps (``timestamps="counter"``: the sample
  counter over the nominal rate is the device clock, and the lower envelope of the
  arrival times gives each sample's time — BLE notifications, some LSL outlets).

:class:`GridResampler` then puts several session-clock streams on one regular grid,
causally (a grid row is emitted as soon as every stream has a sample at or after it),
with NaN wherever a stream has a gap.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from wearsense.dsp.resample import interpolate_to
from wearsense.errors import StreamError
from wearsense.stream import Chunk, StreamInfo, concat, sequence_gaps
from wearsense.sync.clock import ClockModel, ClockSettings

__all__ = [
    "StreamSyncSettings",
    "TimelineSettings",
    "StreamSyncState",
    "Timeline",
    "GridSettings",
    "GridResampler",
    "sync_offline",
    "in_arrival_order",
    "sync_stored",
    "sequence_gaps",
]

log = logging.getLogger("wearsense")

_TIMESTAMPS = ("device", "counter", "host")


def advancing(t: np.ndarray, after: float, rate_hz: float) -> np.ndarray:
    """Mapped times made to advance: each at least half a nominal period after the one before.

    A clock estimate that moves back a little between chunks would otherwise map a sample
    before (or onto) its predecessor; consumers such as LSL inlets and XDF readers expect
    strictly increasing times. Where that happens the samples step on by half a period
    (1 µs for irregular streams) until they meet the estimate again; elsewhere ``t`` is
    returned unchanged, bit for bit.

    Parameters
    ----------
    t : ndarray of float64, shape (n,)
        Mapped times, s.
    after : float
        The time of the previous sample of the stream (s); ``-inf`` for none.
    rate_hz : float
        Nominal rate (Hz); 0 for irregular streams.
    """
    if t.size == 0:
        return t
    step = 0.5 / rate_hz if rate_hz > 0 else 1e-6
    k = np.arange(1, t.size + 1) * step
    floor = np.maximum.accumulate(np.maximum(t - k, after)) + k
    # below a nanosecond the floor only differs from t by rounding: keep t itself
    return np.where(floor > t + 1e-9, floor, t)


@dataclass(frozen=True)
class StreamSyncSettings:
    """How one stream's timestamps are mapped to the session clock.

    Parameters
    ----------
    clock : ClockSettings
        Settings of the device's clock model.
    timestamps : {"device", "counter", "host"}
        ``"device"``: ``Chunk.t`` is the device's clock; ``"counter"``: the device
        sends no timestamps, ``seq / rate_hz`` is its clock (dejitter); ``"host"``:
        ``Chunk.t`` is already host time (passed through, plus the reference offset).
    seq_modulus : int
        The sequence counter wraps at this value (0: it never wraps).
    """

    clock: ClockSettings = field(default_factory=ClockSettings)
    timestamps: str = "device"
    seq_modulus: int = 0

    def __post_init__(self) -> None:
        if self.timestamps not in _TIMESTAMPS:
            raise StreamError(
                f"StreamSyncSettings.timestamps must be one of {', '.join(_TIMESTAMPS)}; "
                f"got {self.timestamps!r}"
            )
        if self.seq_modulus < 0 or self.seq_modulus == 1:
            raise StreamError(
                f"StreamSyncSettings.seq_modulus must be 0 (no wrap) or >= 2, got {self.seq_modulus}"
            )


@dataclass(frozen=True)
class TimelineSettings:
    """Settings of a :class:`Timeline`.

    Parameters
    ----------
    default : StreamSyncSettings
        For every stream not named in ``streams``.
    streams : mapping of str to StreamSyncSettings
        Per-stream settings, by stream name.
    reference_offset_s : float
        Session time = host monotonic time + this (s). 0: the session clock is the
        host's monotonic clock.
    clock_name : str
        Name of the session clock in the output chunks.
    """

    default: StreamSyncSettings = field(default_factory=StreamSyncSettings)
    streams: Mapping[str, StreamSyncSettings] = field(default_factory=dict)
    reference_offset_s: float = 0.0
    clock_name: str = "session"

    def __post_init__(self) -> None:
        object.__setattr__(self, "streams", MappingProxyType(dict(self.streams)))
        if not math.isfinite(self.reference_offset_s):
            raise StreamError(
                f"TimelineSettings.reference_offset_s must be finite, got {self.reference_offset_s!r}"
            )

    def for_stream(self, name: str) -> StreamSyncSettings:
        return self.streams.get(name, self.default)


@dataclass
class StreamSyncState:
    """Per-stream bookkeeping of a :class:`Timeline`; read it any time.

    Attributes
    ----------
    device : str
        Key of the clock model used (the stream's ``source_id``, or its name).
    samples, chunks : int
        Received.
    lost : int
        Samples missing according to the (unwrapped) sequence numbers.
    gaps : list of (float, float, int)
        ``(last sample before, first sample after, samples missing)``, session time (s).
    resets : int
        Device resets seen on this stream.
    seq_wraps : int
        Sequence counter wrap-arounds unwrapped.
    clamped : int
        Samples whose mapped time was moved later so that time always advances (the clock
        estimate moved back a little between chunks; see :func:`advancing`).
    first_t, last_t : float
        Session time of the first and of the newest sample (s).
    last_seq : int
        Sequence number of the newest sample.
    """

    device: str
    samples: int = 0
    chunks: int = 0
    lost: int = 0
    gaps: list[tuple[float, float, int]] = field(default_factory=list)
    resets: int = 0
    seq_wraps: int = 0
    clamped: int = 0
    first_t: float = math.nan
    last_t: float = -math.inf
    last_seq: int | None = None
    _last_raw_seq: int | None = None
    _seq_offset: int = 0
    _epoch: int = 0
    _last_host: float = math.nan
    _last_dev: float = -math.inf  # device time of the newest sample (current epoch)

    @property
    def loss(self) -> float:
        """Lost / (received + lost)."""
        total = self.samples + self.lost
        return self.lost / total if total else 0.0


class Timeline:
    """Maps chunks of many streams to one session clock, live (see the module docstring).

    >>> sc = Timeline()                                   # doctest: +SKIP
    >>> async for info, chunk in dev:                         # doctest: +SKIP
    ...     out = sc.process(info, chunk)                     # clock "session"
    """

    def __init__(self, settings: TimelineSettings | None = None) -> None:
        self.settings = settings or TimelineSettings()
        self.reset()

    def reset(self) -> None:
        """Forget every stream and clock model."""
        self.clocks: dict[str, ClockModel] = {}
        self.streams: dict[str, StreamSyncState] = {}
        self.infos: dict[str, StreamInfo] = {}
        self._segments: dict[str, list[float]] = {}  # stream -> first sample t of each recorded segment
        self._segment_epoch: dict[str, tuple[float, int]] = {}  # device -> (t, epoch) of the last one

    def clock_for(self, info: StreamInfo) -> ClockModel:
        """The clock model of the device that produces ``info`` (created on first use)."""
        key = info.source_id or info.name
        if key not in self.clocks:
            settings = self.settings.for_stream(info.name).clock
            link = info.metadata.get("ble_interval_s")
            if link and not settings.event_interval_s:
                # the driver knows the link's connection interval: use the event-bound estimator
                settings = replace(settings, event_interval_s=float(link))
            self.clocks[key] = ClockModel(settings)
        return self.clocks[key]

    def add_round_trips(self, info: StreamInfo, triples: Iterable[tuple[float, float, float]]) -> None:
        """TIME_SYNC exchanges ``(host_send_s, device_s, host_recv_s)`` of the device of ``info``.

        ``device_s`` must be in the clock of the stream's ``Chunk.t`` (as
        :attr:`wearsense.devices.serial.BridgeState.time_sync` gives it).
        """
        model = self.clock_for(info)
        for send, dev, recv in triples:
            model.add_round_trip(float(send), float(dev), float(recv))

    def _state(self, info: StreamInfo) -> StreamSyncState:
        st = self.streams.get(info.name)
        if st is None:
            st = self.streams[info.name] = StreamSyncState(device=info.source_id or info.name)
            self.infos[info.name] = info
            self.clock_for(info)
        return st

    def add_segments(self, segments: Mapping[str, Iterable[tuple]]) -> None:
        """Clock segments a recording noted (``wearsense.io.xdf.events.clock_segments``):
        ``{stream: [(t, offset_s, reason), ...]}``. A segment continued by arrival times
        (``reset``) or by the recorder (``recorder``: a time that went back) starts a new
        epoch of the device's clock model at its first sample; a ``clock_jump`` segment is
        continued exactly by the sampling clock and needs none."""
        for name, rows in segments.items():
            ts = sorted(float(r[0]) for r in rows if len(r) < 3 or r[2] != "clock_jump")
            if ts:
                self._segments.setdefault(name, []).extend(ts)
                self._segments[name].sort()

    def _segment_starts(
        self, info: StreamInfo, st: StreamSyncState, chunk: Chunk, host: float, model: ClockModel
    ) -> bool:
        """Whether ``chunk`` starts a recorded clock segment (starting the device's epoch once)."""
        pending = self._segments.get(info.name)
        if not pending or chunk.n == 0 or chunk.t[-1] < pending[0] - 1e-6:
            return False
        t = pending.pop(0)
        key = info.source_id or info.name
        last = self._segment_epoch.get(key)
        # the streams of one device note the same event: one new epoch for all of them
        if (
            last is None
            or abs(t - last[0]) > model.settings.reset_threshold_s
            or last[1] != model.state.epoch
        ):
            model.start_epoch(float(chunk.t[-1]), host)
            self._segment_epoch[key] = (t, model.state.epoch)
        return True

    def _unwrap_seq(
        self, info: StreamInfo, st: StreamSyncState, raw: np.ndarray, host: float, modulus: int
    ) -> tuple[np.ndarray, bool]:
        """Unwrapped sequence numbers of one chunk and whether the counter restarted."""
        raw = raw.astype(np.int64)
        if st._last_raw_seq is None:
            return raw, False
        rate = info.rate_hz
        expected = st._last_raw_seq + 1
        if rate > 0 and math.isfinite(host) and math.isfinite(st._last_host):
            expected += max(0, int(round((host - st._last_host) * rate)) - 1)
        if modulus:
            k = round((expected - raw[0]) / modulus)
            cand = raw + k * modulus
            if cand[0] <= st._last_raw_seq:
                cand = cand + modulus * math.ceil((st._last_raw_seq + 1 - cand[0]) / modulus)
            # a counter that lands far from where the elapsed time puts it restarted
            restarted = rate > 0 and abs(int(cand[0]) - expected) > max(modulus // 4, 2 * rate)
            if restarted:
                return raw, True
            st.seq_wraps += max(0, int(cand[-1] // modulus - st._last_raw_seq // modulus))
            return cand, False
        return raw, bool(raw[0] <= st._last_raw_seq)

    def process(self, info: StreamInfo, chunk: Chunk) -> Chunk:
        """``chunk`` (device clock, as delivered) in the session clock.

        Raises
        ------
        StreamError
            If the chunk has no host arrival time (``received_s`` NaN) and the stream's
            timestamps are not host times.
        """
        return self._map(info, chunk)[0]

    def _map(self, info: StreamInfo, chunk: Chunk) -> tuple[Chunk, np.ndarray]:
        """The mapped chunk and the (unwrapped) device time of each of its samples."""
        st = self._state(info)
        ss = self.settings.for_stream(info.name)
        empty = Chunk.empty(chunk.n_channels, self.settings.clock_name), np.zeros(0)
        if chunk.n == 0:
            return empty
        host = chunk.received_s
        if ss.timestamps != "host" and not math.isfinite(host):
            raise StreamError(
                f"stream {info.name!r}: chunk has no host arrival time (received_s is NaN), so its "
                "device clock cannot be mapped; record with a driver that sets received_s, or pass "
                "StreamSyncSettings(timestamps='host') if Chunk.t is already host time"
            )
        model = self.clock_for(info)
        epoch_before = model.state.epoch
        segment = self._segment_starts(info, st, chunk, host, model)
        seq, restarted = self._unwrap_seq(info, st, chunk.seq, host, ss.seq_modulus)
        if ss.timestamps == "host":
            dev = chunk.t
            t = chunk.t + self.settings.reference_offset_s
        else:
            if ss.timestamps == "counter":
                if info.rate_hz <= 0:
                    raise StreamError(
                        f"stream {info.name!r}: timestamps='counter' needs a nominal rate; rate_hz is 0"
                    )
                if restarted:
                    model.start_epoch(float(seq[-1]) / info.rate_hz, host)
                dev = seq.astype(np.float64) / info.rate_hz
            else:
                # the streams of one device interleave: only this stream's own clock going
                # back is a reset (another stream's newer chunk may end after this one starts)
                previous = st._last_dev if st._epoch == model.state.epoch else -math.inf
                dev = model.unwrap(chunk.t, host, previous_s=previous)
            after_loss = st._last_raw_seq is not None and not restarted and int(seq[0]) > st._last_raw_seq + 1
            model.add_packet(float(dev[-1]), host, after_loss)
            t = model.to_host(dev) + self.settings.reference_offset_s
        reset = restarted or model.state.epoch != epoch_before or st._epoch != model.state.epoch
        st._epoch = model.state.epoch
        if st.last_seq is not None:
            if reset:
                st.resets += 1
            if reset and not segment:
                # continue the numbering after the old epoch, leaving room for the samples
                # the device did not send while it was away (a recorded segment's numbers
                # already continue: the file says what was lost)
                away = (t[0] - st.last_t) * info.rate_hz if info.rate_hz > 0 else 1.0
                missing = max(0, int(round(away)) - 1)
                st._seq_offset = st.last_seq + 1 + missing - int(seq[0])
            out_seq = seq + st._seq_offset
            if out_seq[0] <= st.last_seq:
                # an old (reordered) or repeated chunk: nothing new in it
                return empty
            gap = int(out_seq[0] - st.last_seq - 1)
            if gap > 0:
                st.lost += gap
                st.gaps.append((st.last_t, float(t[0]), gap))
        else:
            out_seq = seq + st._seq_offset
        inner = np.flatnonzero(np.diff(out_seq) > 1)
        for i in inner:
            n = int(out_seq[i + 1] - out_seq[i] - 1)
            st.lost += n
            st.gaps.append((float(t[i]), float(t[i + 1]), n))
        # time never runs backwards or stands still: where the estimate moved back, the samples
        # advance by half a period until they meet the estimate again
        lo = advancing(t, st.last_t, info.rate_hz)
        st.clamped += int(np.count_nonzero(lo > t))
        if st.samples == 0:
            st.first_t = float(lo[0])
        st.samples += chunk.n
        st.chunks += 1
        st.last_t = float(lo[-1])
        st.last_seq = int(out_seq[-1])
        st._last_raw_seq = int(seq[-1])
        st._last_host = host
        if dev.size:
            st._last_dev = float(dev[-1])
        return Chunk(chunk.data, lo, out_seq, self.settings.clock_name, host), dev

    @property
    def start_s(self) -> float:
        """Session time of the first sample of any stream (s); NaN before any."""
        firsts = [st.first_t for st in self.streams.values() if math.isfinite(st.first_t)]
        return min(firsts) if firsts else math.nan

    def summary(self) -> dict[str, dict]:
        """Per stream: device, clock (offset_s, drift_ppm, jitter_ms, link latency), loss, gaps, resets.

        ``offset_s`` is the device clock's reading at host time 0 (the model's convention,
        :mod:`wearsense.sync.clock`); on a live host that origin is arbitrary (boot), so
        ``start_offset_s`` gives the reading at the session start (:attr:`start_s`), a
        moment a user knows. ``first_s`` / ``last_s``: session time of the first and
        newest sample.
        """
        out = {}
        start = self.start_s
        host_start = start - self.settings.reference_offset_s
        for name, st in self.streams.items():
            cs = self.clocks[st.device].state
            at_start = cs.offset_s + (1.0 + cs.drift_ppm * 1e-6) * host_start
            out[name] = dict(
                device=st.device,
                offset_s=cs.offset_s,
                start_offset_s=at_start,
                drift_ppm=cs.drift_ppm,
                jitter_ms=cs.jitter_s * 1e3,
                jitter_sd_ms=cs.jitter_sd_s * 1e3,
                link_latency_ms=cs.link_latency_s * 1e3,
                samples=st.samples,
                lost=st.lost,
                loss=st.loss,
                gaps=len(st.gaps),
                resets=st.resets,
                wraps=cs.wraps + st.seq_wraps,
                clamped=st.clamped,
                span_s=cs.span_s,
                first_s=st.first_t,
                last_s=st.last_t,
            )
        return out


def in_arrival_order(
    streams: Mapping[str, tuple[StreamInfo, Iterable[Chunk]]],
) -> Iterator[tuple[str, StreamInfo, Chunk]]:
    """``(name, info, chunk)`` of every stream, merged lazily in order of host arrival.

    Each stream's own order is kept; ties go by stream, then chunk. The streams of one
    device share its clock model, which must see their chunks as the host got them: fed
    stream after stream, the second stream's first chunk would look like the device
    clock going back (a reset). Chunks without an arrival time come first.
    """

    def keyed(k: int, name: str, info: StreamInfo, chunks: Iterable[Chunk]):
        for i, c in enumerate(chunks):
            r = c.received_s
            yield (r if math.isfinite(r) else -math.inf, k, i), name, info, c

    merged = heapq.merge(
        *(keyed(k, n, info, ch) for k, (n, (info, ch)) in enumerate(streams.items())), key=lambda row: row[0]
    )
    for _, name, info, c in merged:
        yield name, info, c


def sync_offline(
    streams: Mapping[str, tuple[StreamInfo, Iterable[Chunk]]],
    settings: TimelineSettings | None = None,
    round_trips: Mapping[str, Sequence[tuple[float, float, float]]] | None = None,
    keep: Callable[[StreamInfo], bool] | None = None,
    segments: Mapping[str, Iterable[tuple]] | None = None,
) -> tuple[dict[str, tuple[StreamInfo, Chunk]], Timeline]:
    """A recording's streams in the session clock, using all of it (non-causal).

    The chunks of all streams, in order of arrival (:func:`in_arrival_order`), first
    train the clock models; every sample is then mapped with the fit of its device
    epoch over the whole epoch, so early samples get the same precision as late ones.
    The chunks are read once, lazily: pass iterators to keep memory to what is mapped.

    Parameters
    ----------
    streams : mapping name -> (StreamInfo, iterable of Chunk)
        Chunks of each stream in arrival order (e.g. ``XDFStream.chunks()``).
    settings : TimelineSettings, optional
    round_trips : mapping stream name -> triples, optional
        TIME_SYNC exchanges of the device of that stream.
    keep : callable (StreamInfo) -> bool, optional
        Streams to map and return (default: all). The others still train the clocks
        and are counted in the :class:`Timeline` (loss, gaps, resets), but none of
        their samples is kept: e.g. only IMU and pose for an alignment, not EMG.
    segments : mapping stream -> [(t, offset_s, reason), ...], optional
        Clock segments the recording noted (:meth:`Timeline.add_segments`).

    Returns
    -------
    dict name -> (StreamInfo, Chunk) of the kept streams, and the trained :class:`Timeline`.
    """
    sc = Timeline(settings)
    sc.add_segments(segments or {})
    for name, trips in (round_trips or {}).items():
        sc.add_round_trips(streams[name][0], trips)
    kept: dict[str, list[tuple[Chunk, np.ndarray, int]]] = {
        name: [] for name, (info, _) in streams.items() if keep is None or keep(info)
    }
    ends: dict[str, tuple[list[int], float, float]] = {}
    for name, info, c in in_arrival_order(streams):
        out, dev = sc._map(info, c)
        if out.n:
            epoch = sc.clock_for(info).state.epoch
            e = ends.setdefault(name, ([epoch, epoch], float(dev[0]), float(dev[-1])))
            e[0][1] = epoch
            ends[name] = (e[0], e[1], float(dev[-1]))
        rows = kept.get(name)
        if rows is not None and out.n:
            rows.append((out, dev, sc.clock_for(info).state.epoch))
    for name, (e, d0, d1) in ends.items():  # first and newest sample by the whole-epoch fit, as mapped
        st, model = sc.streams[name], sc.clock_for(sc.infos[name])
        if sc.settings.for_stream(name).timestamps != "host":
            st.first_t = float(model.epoch_to_host(e[0], np.array([d0]))[0]) + sc.settings.reference_offset_s
            st.last_t = max(
                st.first_t,
                float(model.epoch_to_host(e[1], np.array([d1]))[0]) + sc.settings.reference_offset_s,
            )
    result = {}
    for name, rows in kept.items():
        info = streams[name][0]
        ss = sc.settings.for_stream(name)
        if not rows:
            result[name] = (info, Chunk.empty(info.n_channels, sc.settings.clock_name))
            continue
        whole = concat([r[0] for r in rows])
        if ss.timestamps != "host":
            model = sc.clock_for(info)
            t = (
                np.concatenate([model.epoch_to_host(e, d) for _, d, e in rows])
                + sc.settings.reference_offset_s
            )
            t = advancing(t, -math.inf, info.rate_hz)
            whole = Chunk(whole.data, t, whole.seq, whole.clock, whole.received_s)
        result[name] = (info, whole)
    return result, sc


def _discontinuous(
    dev_first: np.ndarray,
    dev_last: np.ndarray,
    arrival: np.ndarray,
    seq_first: np.ndarray,
    seq_last: np.ndarray,
    cs: ClockSettings,
) -> bool:
    """Whether a stored stream holds anything the per-chunk path must judge: a device clock or
    sequence counter that goes back, a device clock that jumps ahead of the host, arrivals late
    enough to look like a reset, or arrivals out of order."""
    if dev_last.size < 2:
        return False
    back = dev_first[1:] < dev_last[:-1] - cs.backwards_tolerance_s
    ahead = np.diff(dev_last) - np.diff(arrival) > 0.5 * cs.reset_threshold_s
    # a run of late arrivals is a stall (a backlog read at once) unless it lasts: see ClockModel.unwrap
    delay = arrival - dev_last
    late = np.r_[False, delay - delay.min() > 0.5 * cs.reset_threshold_s, False]
    run_start, run_end = (
        np.flatnonzero(np.diff(late.astype(np.int8)) == 1),
        np.flatnonzero(np.diff(late.astype(np.int8)) == -1),
    )
    lasting = (
        (arrival[run_end - 1] - arrival[run_start] >= 0.5 * cs.reset_threshold_s).any()
        if run_start.size
        else False
    )
    return bool(
        back.any()
        or ahead.any()
        or lasting
        or (seq_first[1:] <= seq_last[:-1]).any()
        or (np.diff(arrival) < 0).any()
    )


def sync_stored(
    streams: Mapping[str, object],
    settings: TimelineSettings | None = None,
    keep: Callable[[StreamInfo], bool] | None = None,
    segments: Mapping[str, Iterable[tuple]] | None = None,
) -> tuple[dict[str, tuple[StreamInfo, Chunk]], Timeline]:
    """:func:`sync_offline` for a recording held as whole arrays, in seconds for an hour-long take.

    ``streams`` maps names to stored streams with ``info``, ``chunk`` (every sample),
    ``chunk_ends`` and ``received_s`` (one per stored chunk), as
    :class:`wearsense.io.xdf.XDFStream` has them.

    The clock models are the same; each takes the device's arrivals at once
    (:meth:`ClockModel.add_arrivals`: one fit, not one per bin, for the several million
    chunks of an hour of EMG, IMUs and pose at a chunk per packet). Loss and gaps are
    counted from the sequence numbers (:func:`sequence_gaps`); jitter is the mean (and
    SD) excess delay of every chunk over the envelope, over the whole recording.

    ``segments``: as for :func:`sync_offline`. A device with anything the per-chunk path
    must judge (a recorded segment that needs a new epoch, a clock that goes back or jumps,
    long stalls, counter wrap-around, a connection-event link, host timestamps, arrivals
    missing or out of order) goes through :func:`sync_offline`'s per-chunk path instead,
    with the same result as there.

    Returns the kept streams (default: all) in the session clock and the :class:`Timeline`.
    """
    tl = Timeline(settings)
    kept_names = [n for n, st in streams.items() if keep is None or keep(st.info)]
    result: dict[str, tuple[StreamInfo, Chunk]] = {}
    by_device: dict[str, list[str]] = {}
    for name, st in streams.items():
        by_device.setdefault(st.info.source_id or name, []).append(name)
    slow: dict[str, tuple[StreamInfo, Iterable[Chunk]]] = {}
    needs_epoch = {
        n for n, rows in (segments or {}).items() if any(len(r) < 3 or r[2] != "clock_jump" for r in rows)
    }
    for device, names in by_device.items():
        fast = not needs_epoch.intersection(names) and _sync_device_arrays(
            tl, {n: streams[n] for n in names}, kept_names, result
        )
        if not fast:
            slow.update({n: (streams[n].info, streams[n].chunks()) for n in names})
    if slow:
        mapped, slow_tl = sync_offline(
            slow,
            tl.settings,
            keep=lambda info: info.name in kept_names,
            segments={n: r for n, r in (segments or {}).items() if n in slow},
        )
        tl.clocks.update(slow_tl.clocks)
        tl.streams.update(slow_tl.streams)
        tl.infos.update(slow_tl.infos)
        result.update(mapped)
    order = {n: i for i, n in enumerate(streams)}
    tl.streams = dict(sorted(tl.streams.items(), key=lambda kv: order[kv[0]]))
    return {n: result[n] for n in streams if n in result}, tl


def _sync_device_arrays(
    tl: Timeline, streams: Mapping[str, object], kept: list[str], result: dict[str, tuple[StreamInfo, Chunk]]
) -> bool:
    """The vectorised path of :func:`sync_stored` for the streams of one device; False if it cannot apply."""
    rows = []
    for k, (name, st) in enumerate(streams.items()):
        info, c = st.info, st.chunk
        ss = tl.settings.for_stream(name)
        cs = ss.clock
        if (
            ss.timestamps != "device"
            or ss.seq_modulus
            or cs.wrap_s
            or cs.event_interval_s
            or info.metadata.get("ble_interval_s")
        ):
            return False
        ends = np.asarray(st.chunk_ends, dtype=np.int64)
        arrival = np.asarray(st.received_s, dtype=np.float64)
        starts = np.concatenate([[0], ends[:-1]]) if ends.size else ends
        full = ends > starts
        ends, starts, arrival = ends[full], starts[full], arrival[full]
        if not np.isfinite(arrival).all():
            return False
        dev_first, dev_last = c.t[starts], c.t[ends - 1] if ends.size else ends.astype(np.float64)
        if _discontinuous(
            dev_first, dev_last, arrival, c.seq[starts], c.seq[ends - 1] if ends.size else ends, cs
        ):
            return False
        rows.append((k, name, info, c, arrival, dev_last, ss))
    rows = [r for r in rows if r[4].size]
    if not rows:
        return False
    # every chunk of the device in arrival order (ties: stream, then chunk), as in_arrival_order
    arrival = np.concatenate([r[4] for r in rows])
    dev = np.concatenate([r[5] for r in rows])
    which = np.concatenate([np.full(r[4].size, r[0]) for r in rows])
    index = np.concatenate([np.arange(r[4].size) for r in rows])
    order = np.lexsort((index, which, arrival))
    arrival, dev, which, index = arrival[order], dev[order], which[order], index[order]
    first = rows[0][2]
    model = tl.clock_for(first)
    model.add_arrivals(dev, arrival)
    ref = tl.settings.reference_offset_s

    def to_session(t: np.ndarray) -> np.ndarray:
        return model.epoch_to_host(0, t) + ref

    for _, name, info, c, arr, _, _ in rows:
        st = StreamSyncState(device=info.source_id or info.name)
        tl.streams[name], tl.infos[name] = st, info
        idx, missing = sequence_gaps(c.seq)
        st.samples, st.chunks = c.n, arr.size
        st.lost = int(missing.sum())
        if idx.size:
            a, z = to_session(c.t[idx]), to_session(c.t[idx + 1])
            st.gaps = list(zip(a.tolist(), z.tolist(), missing.tolist()))
        ends_t = to_session(c.t[[0, -1]])
        st.first_t, st.last_t = float(ends_t[0]), float(ends_t[1])
        st.last_seq = st._last_raw_seq = int(c.seq[-1])
        st._last_host, st._last_dev = float(arr[-1]), float(c.t[-1])
        if name in kept:
            t = advancing(to_session(c.t), -math.inf, info.rate_hz)
            result[name] = (info, Chunk(c.data, t, c.seq, tl.settings.clock_name))
    return True


@dataclass(frozen=True)
class GridSettings:
    """Settings of a :class:`GridResampler`.

    Parameters
    ----------
    rate_hz : float
        Grid rate (Hz); grid times are whole multiples of ``1 / rate_hz`` in the session
        clock, so the grid does not depend on how the input was chunked.
    method : {"linear", "previous"}
        Linear interpolation between the samples around a grid time, or the last
        sample at or before it (zero-order hold).
    max_gap_factor : float
        Neighbouring samples further apart than this many nominal periods are a gap
        (NaN on the grid), as are sequence-number gaps.
    max_wait_s : float
        A stream that has sent nothing for this long (s) while others have is treated
        as absent (NaN) so the grid keeps moving; its late samples are dropped.
    """

    rate_hz: float = 100.0
    method: str = "linear"
    max_gap_factor: float = 2.5
    max_wait_s: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise StreamError(f"GridSettings.rate_hz must be > 0, got {self.rate_hz!r}")
        if self.method not in ("linear", "previous"):
            raise StreamError(f"GridSettings.method must be 'linear' or 'previous', got {self.method!r}")
        if not self.max_gap_factor >= 1:
            raise StreamError(f"GridSettings.max_gap_factor must be >= 1, got {self.max_gap_factor!r}")
        if not self.max_wait_s > 0:
            raise StreamError(f"GridSettings.max_wait_s must be > 0, got {self.max_wait_s!r}")


class GridResampler:
    """Several session-clock streams on one regular grid, causally.

    :meth:`push` adds a chunk of one stream; :meth:`pull` returns, per stream, a chunk
    on the grid times that every stream now covers (same ``t`` for all streams).
    Interpolation only: band-limit a stream before resampling it to a lower rate
    (EMG: resample its envelope or features, not the raw signal).
    """

    def __init__(self, infos: Sequence[StreamInfo], settings: GridSettings | None = None) -> None:
        if not infos:
            raise StreamError("GridResampler needs at least one stream")
        self.settings = settings or GridSettings()
        self.infos = {i.name: i for i in infos}
        self.reset()

    def reset(self) -> None:
        self._t = {n: np.zeros(0) for n in self.infos}
        self._x = {n: np.zeros((0, i.n_channels), np.float32) for n, i in self.infos.items()}
        self._s = {n: np.zeros(0, np.int64) for n in self.infos}
        self._k: int | None = None  # next grid index
        self.dropped = {n: 0 for n in self.infos}

    def push(self, name: str, chunk: Chunk) -> None:
        """Add a chunk (session clock) of stream ``name``."""
        if name not in self.infos:
            raise StreamError(f"GridResampler has no stream {name!r}; streams: {', '.join(self.infos)}")
        if chunk.n == 0:
            return
        t, x, s = chunk.t, chunk.data, chunk.seq
        if self._k is not None:
            # samples before the last emitted grid time came too late (see max_wait_s)
            keep = (
                t >= (self._k - 1) / self.settings.rate_hz
                if self._t[name].size == 0
                else t > self._t[name][-1]
            )
            self.dropped[name] += int(np.count_nonzero(~keep))
            t, x, s = t[keep], x[keep], s[keep]
        self._t[name] = np.concatenate([self._t[name], t])
        self._x[name] = np.concatenate([self._x[name], x])
        self._s[name] = np.concatenate([self._s[name], s])

    def pull(self) -> dict[str, Chunk]:
        """Grid rows ready now, per stream (possibly empty chunks)."""
        rate = self.settings.rate_hz
        out = {n: Chunk.empty(i.n_channels, "session") for n, i in self.infos.items()}
        if any(self._t[n].size == 0 for n in self.infos) and self._k is None:
            return out
        newest = max(self._t[n][-1] for n in self.infos if self._t[n].size)
        if self._k is None:
            self._k = int(math.ceil(max(self._t[n][0] for n in self.infos) * rate - 1e-9))
        ready = min(
            max(self._t[n][-1] if self._t[n].size else -math.inf, newest - self.settings.max_wait_s)
            for n in self.infos
        )
        k_end = int(math.floor(ready * rate + 1e-9)) + 1
        if k_end <= self._k:
            return out
        grid = np.arange(self._k, k_end) / rate
        for n, info in self.infos.items():
            out[n] = Chunk(self._sample(n, info, grid), grid, np.arange(self._k, k_end), "session")
            # keep the newest sample at or before the last grid time, and everything after
            t = self._t[n]
            j = max(0, int(np.searchsorted(t, grid[-1], side="right")) - 1)
            self._t[n], self._x[n], self._s[n] = t[j:], self._x[n][j:], self._s[n][j:]
        self._k = k_end
        return out

    def _sample(self, name: str, info: StreamInfo, grid: np.ndarray) -> np.ndarray:
        t, x, s = self._t[name], self._x[name], self._s[name]
        period = 1.0 / info.rate_hz if info.rate_hz > 0 else math.inf
        y = interpolate_to(
            t,
            x,
            grid,
            max_gap_s=self.settings.max_gap_factor * period,
            breaks=np.diff(s) != 1,
            method=self.settings.method,
        )
        return y.astype(np.float32)

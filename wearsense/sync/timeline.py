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

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import numpy as np

from wearsense.dsp.resample import interpolate_to
from wearsense.errors import StreamError
from wearsense.stream import Chunk, StreamInfo, concat
from wearsense.sync.clock import ClockModel, ClockSettings

__all__ = [
    "StreamSyncSettings",
    "TimelineSettings",
    "StreamSyncState",
    "Timeline",
    "GridSettings",
    "GridResampler",
    "sync_offline",
]

log = logging.getLogger("wearsense")

_TIMESTAMPS = ("device", "counter", "host")


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
                f"StreamSyncSettings.timestamps must be one of {', '.join(_TIMESTAMPS)}; got {self.timestamps!r}"
            )
        if self.seq_modulus < 0 or self.seq_modulus == 1:
            raise StreamError(f"StreamSyncSettings.seq_modulus must be 0 (no wrap) or >= 2, got {self.seq_modulus}")


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
            raise StreamError(f"TimelineSettings.reference_offset_s must be finite, got {self.reference_offset_s!r}")

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
        Samples whose mapped time was held at the previous one so that time never runs
        backwards (the clock estimate moved back a little between chunks).
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

    def _unwrap_seq(self, info: StreamInfo, st: StreamSyncState, raw: np.ndarray, host: float,
                    modulus: int) -> tuple[np.ndarray, bool]:
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
                dev = model.unwrap(chunk.t, host)
            after_loss = st._last_raw_seq is not None and not restarted and int(seq[0]) > st._last_raw_seq + 1
            model.add_packet(float(dev[-1]), host, after_loss)
            t = model.to_host(dev) + self.settings.reference_offset_s
        reset = restarted or model.state.epoch != epoch_before or st._epoch != model.state.epoch
        st._epoch = model.state.epoch
        if st.last_seq is not None:
            if reset:
                st.resets += 1
                # continue the numbering after the old epoch, leaving room for the samples
                # the device did not send while it was away
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
        # time never runs backwards: hold at the previous sample where the estimate moved back
        lo = np.maximum.accumulate(np.maximum(t, st.last_t))
        st.clamped += int(np.count_nonzero(lo > t))
        if st.samples == 0:
            st.first_t = float(lo[0])
        st.samples += chunk.n
        st.chunks += 1
        st.last_t = float(lo[-1])
        st.last_seq = int(out_seq[-1])
        st._last_raw_seq = int(seq[-1])
        st._last_host = host
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
                device=st.device, offset_s=cs.offset_s, start_offset_s=at_start, drift_ppm=cs.drift_ppm,
                jitter_ms=cs.jitter_s * 1e3, jitter_sd_ms=cs.jitter_sd_s * 1e3,
                link_latency_ms=cs.link_latency_s * 1e3, samples=st.samples, lost=st.lost, loss=st.loss,
                gaps=len(st.gaps), resets=st.resets, wraps=cs.wraps + st.seq_wraps, clamped=st.clamped,
                span_s=cs.span_s, first_s=st.first_t, last_s=st.last_t,
            )
        return out


def sync_offline(
    streams: Mapping[str, tuple[StreamInfo, Iterable[Chunk]]],
    settings: TimelineSettings | None = None,
    round_trips: Mapping[str, Sequence[tuple[float, float, float]]] | None = None,
) -> tuple[dict[str, tuple[StreamInfo, Chunk]], Timeline]:
    """A recording's streams in the session clock, using all of it (non-causal).

    The chunks of each stream (as they arrived, with ``received_s``) first train the
    clock models; every sample is then mapped with the fit of its device epoch over the
    whole epoch, so early samples get the same precision as late ones.

    Parameters
    ----------
    streams : mapping name -> (StreamInfo, iterable of Chunk)
        Chunks of each stream in arrival order (e.g. ``XDFStream.chunks()``).
    settings : TimelineSettings, optional
    round_trips : mapping stream name -> triples, optional
        TIME_SYNC exchanges of the device of that stream.

    Returns
    -------
    dict name -> (StreamInfo, Chunk), and the trained :class:`Timeline`.
    """
    sc = Timeline(settings)
    for name, trips in (round_trips or {}).items():
        sc.add_round_trips(streams[name][0], trips)
    kept: dict[str, list[tuple[Chunk, np.ndarray, int]]] = {}
    for name, (info, chunks) in streams.items():
        ss = sc.settings.for_stream(name)
        model = sc.clock_for(info)
        rows = kept.setdefault(name, [])
        for c in chunks:
            out, dev = sc._map(info, c)
            if out.n:
                rows.append((out, dev, model.state.epoch))
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
            t = np.concatenate([model.epoch_to_host(e, d) for _, d, e in rows]) + sc.settings.reference_offset_s
            t = np.maximum.accumulate(t)
            whole = Chunk(whole.data, t, whole.seq, whole.clock, whole.received_s)
        result[name] = (info, whole)
    return result, sc


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
            keep = t >= (self._k - 1) / self.settings.rate_hz if self._t[name].size == 0 else t > self._t[name][-1]
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
        y = interpolate_to(t, x, grid, max_gap_s=self.settings.max_gap_factor * period,
                           breaks=np.diff(s) != 1, method=self.settings.method)
        return y.astype(np.float32)

"""Online clock model of one device: device time → host time, robust to one-sided delay.

Every wearable stamps samples with its own crystal (offset, drift of tens of ppm), and
its packets reach the host after a delay that is never shorter than the link's
minimum latency but often much longer (BLE connection intervals, USB polling, OS
scheduling). A least-squares fit of arrival time against device time is biased and
noisy under such one-sided noise; the *lower envelope* is not: the earliest arrivals
lie on the line ``host = c + s · device`` shifted by the minimum latency.

Method
------
- Arrivals are reduced to the earliest one per ``bin_s`` of device time (an NTP-style
  minimum filter, Mills 1991), which keeps the work per packet O(1).
- The line is the linear-programming estimate of Moon, Skelly & Towsley (1999),
  "Estimation and removal of clock skew from network delay measurements": the line
  below every point that maximises its height at the centroid of the points, i.e. the
  lower convex hull edge spanning the centroid. Its error falls as 1/N (least squares:
  1/√N) under exponential jitter. The slope is bounded by ``max_drift_ppm``.
- TIME_SYNC round trips ``(host_send_s, device_s, host_recv_s)`` (firmware_bridge,
  :attr:`wearsense.devices.serial.BridgeState.time_sync`) bound the line from both
  sides; the intercept is the middle of the intersection of the intervals
  ``[host_send − s·device, host_recv − s·device]`` (Marzullo's intersection, as NTP),
  which needs no knowledge of the link latency and, with packets, measures it.
- Without round trips the minimum one-way latency cannot be observed; give it as
  ``ClockSettings.min_latency_s`` (it is subtracted) or accept it as a constant offset.
- Counter wrap-around: a device time that wraps every ``wrap_s`` is unwrapped by the
  number of periods that puts it closest to where the host arrival time predicts it,
  so even a gap spanning several wraps unwraps correctly.
- Device resets: a device time that goes backwards, or lies further than
  ``reset_threshold_s`` ahead of that prediction, starts a new *epoch*: the drift of the
  crystal is kept, the offset is estimated afresh. Host times stay continuous. Arrivals
  further than ``reset_threshold_s`` *behind* it start one only when they stay that
  late for ``reset_threshold_s`` of host time: a host that stalled reads a backlog late
  all at once, and the backlog catches up within the burst.
- Connection-event links (BLE, ``event_interval_s``): packets leave only at events on
  the host's side, so an arrival bounds the packet's ready time from both sides: not
  after its event, and, for a packet that opens a burst when the previous event had
  room, after the previous event. The event grid (phase by :func:`event_grid_phase`,
  then the lower envelope of event index against arrival) turns arrivals into event
  times; the line is the centroid of the polygon of lines that satisfy every bound
  (:func:`band_line`), and the polygon's extent is reported (``drift_bounds_ppm``,
  ``offset_band_s``). The bounds only tighten as the slow beat between the device's
  packet lattice and the events sweeps the interval; until it has, the drift is not
  determined by the data at all (docs/sync.md, "BLE links").

Which clock, which way: the model maps **device seconds → host seconds**,
``host = (device − offset_s) / (1 + drift_ppm·1e-6)``. ``offset_s`` is the device clock's
reading at host time 0 (the convention of :class:`wearsense.sim.ClockTruth`) and
``drift_ppm`` how much faster the device clock runs than the host's.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from wearsense.errors import StreamError
from wearsense.sync.estimators import (
    ArrivalEnvelope,
    EventBounds,
    LineEstimator,
    band_line,
    envelope_line,
    event_grid_phase,
    lower_hull,
)

__all__ = [
    "ClockSettings",
    "ClockState",
    "ClockModel",
    "lower_hull",
    "envelope_line",
    "band_line",
    "event_grid_phase",
    "unwrap_counter",
    "LineEstimator",
    "ArrivalEnvelope",
    "EventBounds",
]

log = logging.getLogger("wearsense")


@dataclass(frozen=True)
class ClockSettings:
    """Settings of one device's clock model.

    Parameters
    ----------
    bin_s : float
        Device-time width of the minimum filter (s); one point per bin enters the fit.
    window_s : float
        The online fit uses the points of the last ``window_s`` seconds of device
        time, so a slowly changing drift (temperature) is followed.
    min_latency_s : float
        Known minimum one-way link latency (s), subtracted from one-way estimates.
        Ignored once round trips set the intercept.
    max_drift_ppm : float
        Bound on the drift (ppm); crystals are within ±20–50 ppm.
    reset_threshold_s : float
        A device time this far (s) from the host's prediction starts a new epoch.
    backwards_tolerance_s : float
        A device time earlier than the previous one by more than this (s) is a reset.
    wrap_s : float
        Period (s) after which the device time counter wraps (0: never). A 32-bit µs
        counter wraps after 4294.967296 s.
    event_interval_s : float
        Connection interval (s) of a link that only delivers at connection events
        (BLE: 7.5 ms to 4 s in steps of 1.25 ms); 0: arrivals are not quantised. With
        it the model learns the event grid from the arrivals and bounds each packet's
        ready time from both sides (see the module docstring); its exact value on the
        host clock is learnt, the nominal one is enough.
    event_capacity : int
        Packets the link carries per connection event at most (BLE stacks: 4–7
        notifications); 0: learn it as the largest burst seen in at least two events
        (at least 2), which is safe but wastes bounds when a device fills every event
        with the same number of packets.
    """

    bin_s: float = 0.5
    window_s: float = 120.0
    min_latency_s: float = 0.0
    max_drift_ppm: float = 500.0
    reset_threshold_s: float = 1.0
    backwards_tolerance_s: float = 0.001
    wrap_s: float = 0.0
    event_interval_s: float = 0.0
    event_capacity: int = 0

    def __post_init__(self) -> None:
        for name in ("bin_s", "window_s", "max_drift_ppm", "reset_threshold_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise StreamError(f"ClockSettings.{name} must be a finite number > 0, got {v!r}")
        for name in ("min_latency_s", "wrap_s", "backwards_tolerance_s", "event_interval_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise StreamError(f"ClockSettings.{name} must be a finite number >= 0, got {v!r}")
        if self.window_s < 2 * self.bin_s:
            raise StreamError(
                f"ClockSettings.window_s={self.window_s} must hold at least two bins of bin_s={self.bin_s}"
            )
        if not (isinstance(self.event_capacity, int) and self.event_capacity >= 0):
            raise StreamError(
                "ClockSettings.event_capacity must be an integer >= 0 (0: learn it), "
                f"got {self.event_capacity!r}"
            )
        if self.event_interval_s and not 1e-3 <= self.event_interval_s <= 4.0:
            raise StreamError(
                f"ClockSettings.event_interval_s={self.event_interval_s} s is not a connection interval; "
                "give the link's interval in seconds (BLE: 0.0075 to 4.0), or 0 for a link without "
                "connection events"
            )
        if self.event_interval_s and self.event_interval_s > self.bin_s:
            raise StreamError(
                f"ClockSettings.bin_s={self.bin_s} s must span at least one connection event of "
                f"event_interval_s={self.event_interval_s} s"
            )
        if self.wrap_s and self.wrap_s <= 2 * self.reset_threshold_s:
            raise StreamError(
                f"ClockSettings.wrap_s={self.wrap_s} s is too short to tell wraps from resets; "
                f"it must exceed 2 x reset_threshold_s ({2 * self.reset_threshold_s} s)"
            )


@dataclass
class ClockState:
    """What the model knows; read it any time.

    Attributes
    ----------
    epoch : int
        Device boots seen (0 until the first reset).
    packets, round_trips : int
        Observations used.
    offset_s, drift_ppm : float
        Current estimate (see the module docstring for the convention); NaN before the
        first observation.
    jitter_s : float
        Mean delay of arrivals above the lower envelope (s), exponentially averaged.
    jitter_sd_s : float
        Standard deviation of that excess delay (s).
    link_latency_s : float
        Minimum one-way latency measured as the gap between the packets' envelope and
        the round-trip intercept (s); NaN without both kinds of observation.
    span_s : float
        Device time covered by the points of the current fit (s).
    resets : list of (float, float)
        ``(host_s, device_s)`` of the first arrival of each new epoch.
    wraps : int
        Counter wrap-arounds unwrapped.
    flags : list of str
        Short notes a live view can show (``"offset only: span < 2 bins"``).
    event_interval_s, event_phase_s : float
        Connection-event grid learnt from the arrivals (host s): events at
        ``event_phase_s + k · event_interval_s``; NaN without one.
    outliers : int
        Bounds dropped because they contradicted the others (a packet delayed past a
        whole connection interval is taken for the next event).
    drift_bounds_ppm : (float, float)
        Range of drifts (ppm) consistent with every two-sided bound (connection-event
        links only; NaN otherwise).
    drift_band_ppm : float
        Its width (ppm). Above a few ppm the drift is not yet determined by the data,
        whatever the estimator (docs/sync.md).
    offset_band_s : float
        Width (s) of the range of host times consistent with the bounds at the newest
        packet (connection-event links only; NaN otherwise).
    """

    epoch: int = 0
    packets: int = 0
    round_trips: int = 0
    offset_s: float = math.nan
    drift_ppm: float = math.nan
    jitter_s: float = math.nan
    jitter_sd_s: float = math.nan
    link_latency_s: float = math.nan
    span_s: float = 0.0
    resets: list[tuple[float, float]] = field(default_factory=list)
    wraps: int = 0
    flags: list[str] = field(default_factory=list)
    event_interval_s: float = math.nan
    event_phase_s: float = math.nan
    outliers: int = 0
    drift_bounds_ppm: tuple[float, float] = (math.nan, math.nan)
    drift_band_ppm: float = math.nan
    offset_band_s: float = math.nan


def unwrap_counter(raw: np.ndarray, period: float, reference: float) -> tuple[np.ndarray, int]:
    """Unwrap a counter that wraps every ``period``, anchored near ``reference``.

    The first value is shifted by the whole number of periods that brings it closest to
    ``reference`` (where the caller expects it, e.g. from the host clock); the rest
    follow by adding a period wherever the counter steps back by more than half of one.
    Returns the unwrapped values and the number of wraps inside ``raw``.
    """
    raw = np.asarray(raw, dtype=np.float64)
    if raw.size == 0:
        return raw, 0
    k0 = round((reference - raw[0]) / period)
    steps = np.diff(raw)
    wraps = np.concatenate([[0], np.cumsum(steps < -period / 2)])
    return raw + (k0 + wraps) * period, int(wraps[-1])


class ClockModel:
    """Online device→host clock model of one device (see the module docstring).

    Feed it arrivals with :meth:`add_packet` (device time of the newest sample of a
    packet, host arrival time) and round trips with :meth:`add_round_trip`; map device
    times with :meth:`to_host`. :meth:`unwrap` turns raw (wrapping) device times into
    the model's continuous device time and detects resets.

    The line through each epoch's arrivals comes from a :class:`LineEstimator`:
    :class:`ArrivalEnvelope`, or :class:`EventBounds` when
    ``settings.event_interval_s`` is set. The model itself keeps what spans epochs
    (drift prior, resets, jitter) and the round trips, which fix the intercept.
    """

    def __init__(self, settings: ClockSettings | None = None) -> None:
        self.settings = settings or ClockSettings()
        self.reset()

    def reset(self) -> None:
        """Forget everything, including the drift learnt."""
        self.state = ClockState()
        self._r2 = 0.0  # running mean square of the excess delay
        self.epoch_lines: list[tuple[float, float, float, float]] = []  # finished epochs, whole-epoch fits
        self._slope_prior = 1.0
        self._epoch_cache: tuple[tuple[int, int, int] | None, tuple[float, float, float, float]] = (
            None,
            (0, 0, 0, 0),
        )
        self._new_epoch()
        self.state.resets.clear()
        self.state.epoch = 0

    # -- epochs -------------------------------------------------------------------
    def _new_epoch(self) -> None:
        self._d0 = math.nan  # epoch reference device time
        self._h0 = math.nan  # epoch reference host time
        self._est: LineEstimator | None = None  # created with the epoch's first packet
        self._trips: deque[tuple[float, float, float]] = deque()  # (x, y_send, y_recv)
        self._c = math.nan  # y = c + s·x, x = dev - d0, y = host - h0 (one-way envelope)
        self._s = self._slope_prior
        self._c_rt = math.nan  # intercept from round trips
        self._last_dev = -math.inf
        self._late_since = math.nan  # host time of the first arrival of a run of late ones

    def _estimator(self) -> LineEstimator:
        if self._est is None:
            kind = EventBounds if self.settings.event_interval_s else ArrivalEnvelope
            self._est = kind(self.settings, self.state, self._h0)
        return self._est

    @property
    def ready(self) -> bool:
        """Whether at least one observation has arrived in the current epoch."""
        return math.isfinite(self._c) or math.isfinite(self._c_rt)

    def _slope_bounds(self) -> tuple[float, float]:
        b = self.settings.max_drift_ppm * 1e-6
        return 1.0 / (1.0 + b), 1.0 / (1.0 - b)

    # -- observations -------------------------------------------------------------
    def unwrap(self, device_s: np.ndarray, host_s: float, previous_s: float | None = None) -> np.ndarray:
        """Continuous device times from raw ones arriving at host time ``host_s``.

        Unwraps counter wrap-around (``settings.wrap_s``) and starts a new epoch when the
        device clock was reset. Call it before :meth:`add_packet` with the same packet.
        ``previous_s``: the device time of the newest sample of the same stream (current
        epoch); a device clock that goes back is judged against it, as the streams of
        one device interleave. Default: the newest device time of any stream.
        """
        dev = np.asarray(device_s, dtype=np.float64)
        if dev.size == 0:
            return dev
        st = self.settings
        predicted = self.to_device(host_s) if self.ready else math.nan
        if st.wrap_s:
            raw_last = float(dev[-1])
            ref = (
                predicted
                if math.isfinite(predicted)
                else (self._last_dev if math.isfinite(self._last_dev) else dev[0])
            )
            dev, _ = unwrap_counter(dev, st.wrap_s, ref)
            if math.isfinite(self._last_dev) and dev[0] < self._last_dev - st.wrap_s / 2:
                dev = dev + st.wrap_s * math.ceil((self._last_dev - dev[0]) / st.wrap_s)
            self.state.wraps = max(self.state.wraps, int(round((dev[-1] - raw_last) / st.wrap_s)))
        if math.isfinite(predicted):
            # the newest sample of a packet was taken before it arrived: device time must
            # not lie (much) after the prediction, nor far before it
            late = predicted - dev[-1]
            last = self._last_dev if previous_s is None else previous_s
            backwards = dev[0] < last - st.backwards_tolerance_s
            # arrivals later than the prediction are a reset only if they stay late for
            # reset_threshold_s of host time: a host that stalled (busy, swapping) reads a
            # backlog late all at once, and the backlog catches up within the burst
            if late > st.reset_threshold_s:
                if not math.isfinite(self._late_since):
                    self._late_since = host_s
            else:
                self._late_since = math.nan
            stays_late = host_s - self._late_since >= st.reset_threshold_s
            if backwards or late < -st.reset_threshold_s or stays_late:
                log.info(
                    "clock reset detected: device time %.6f s at host %.6f s (expected about %.6f s)",
                    dev[-1],
                    host_s,
                    predicted,
                )
                self._start_new_epoch(dev[-1], host_s)
        return dev

    def start_epoch(self, device_s: float, host_s: float) -> None:
        """Start a new epoch now (the caller knows the device restarted)."""
        self._start_new_epoch(device_s, host_s)

    def _start_new_epoch(self, device_s: float, host_s: float) -> None:
        self.epoch_lines.append(self._epoch_line())
        self._slope_prior = self._s if math.isfinite(self._s) else 1.0
        self._new_epoch()
        self.state.epoch += 1
        self.state.resets.append((host_s, device_s))

    def add_packet(self, device_s: float, host_s: float, after_loss: bool = False) -> None:
        """One arrival: device time of the newest sample in the packet, host arrival time (s).

        ``after_loss``: packets were lost right before this one (a sequence gap); on a
        connection-event link the model then does not take this packet as having missed
        the previous event (the lost packets may have filled it).
        """
        if not (math.isfinite(device_s) and math.isfinite(host_s)):
            return
        st = self.state
        st.packets += 1
        if not math.isfinite(self._d0):
            self._d0, self._h0 = device_s, host_s
        x, y = device_s - self._d0, host_s - self._h0
        self._last_dev = max(self._last_dev, device_s)
        if math.isfinite(self._c):
            r = y - (self._c + self._s * x)
            a = 0.02
            if math.isnan(st.jitter_s):
                st.jitter_s, self._r2 = max(r, 0.0), max(r, 0.0) ** 2
            else:
                st.jitter_s += a * (r - st.jitter_s)
                self._r2 += a * (r * r - self._r2)
            st.jitter_sd_s = math.sqrt(max(self._r2 - st.jitter_s**2, 0.0))
        est = self._estimator()
        refit = est.add(x, y, after_loss, (self._c, self._s))
        self._drop_old_trips(est.horizon)
        if refit:
            self._fit()

    def add_arrivals(self, device_s: np.ndarray, host_s: np.ndarray) -> None:
        """Offline: a whole epoch of arrivals at once, one fit instead of one per bin.

        For a fresh model on a link without connection events (else: one :meth:`add_packet`
        per arrival). Each bin keeps its earliest arrival relative to the fitted slope
        (found in two passes), where the online path uses the slope known at the time;
        the two differ by at most the drift over one bin (``bin_s``).
        """
        dev = np.asarray(device_s, dtype=np.float64)
        host = np.asarray(host_s, dtype=np.float64)
        ok = np.isfinite(dev) & np.isfinite(host)
        dev, host = dev[ok], host[ok]
        if self.settings.event_interval_s or self.state.packets or self.state.round_trips or not dev.size:
            for d, h in zip(dev.tolist(), host.tolist()):
                self.add_packet(d, h)
            return
        self._d0, self._h0 = float(dev[0]), float(host[0])
        x, y = dev - self._d0, host - self._h0
        for _ in range(2):  # bins chosen with the prior slope, then with the fitted one
            est = ArrivalEnvelope(self.settings, self.state, self._h0)
            est.load(x, y, self._s)
            self._est = est
            self._fit()
        self.state.packets += int(dev.size)
        self._last_dev = float(dev.max())
        r = y - (self._c + self._s * x)  # excess delay over the envelope, over the whole epoch
        self.state.jitter_s, self.state.jitter_sd_s = float(np.mean(r)), float(np.std(r))
        self._r2 = float(np.mean(r * r))

    def _drop_old_trips(self, horizon: float) -> None:
        while self._trips and self._trips[0][0] < horizon:
            self._trips.popleft()

    def add_round_trip(self, host_send_s: float, device_s: float, host_recv_s: float) -> None:
        """One TIME_SYNC exchange: host send time, device time at receipt, host receive time (s)."""
        if not (host_send_s <= host_recv_s) or not math.isfinite(device_s):
            raise StreamError(
                f"round trip must have host_send_s <= host_recv_s and a finite device time; got "
                f"({host_send_s!r}, {device_s!r}, {host_recv_s!r})"
            )
        self.state.round_trips += 1
        if not math.isfinite(self._d0):
            self._d0, self._h0 = device_s, 0.5 * (host_send_s + host_recv_s)
        x = device_s - self._d0
        self._trips.append((x, host_send_s - self._h0, host_recv_s - self._h0))
        self._drop_old_trips(x - self.settings.window_s)
        self._fit()

    # -- fit ----------------------------------------------------------------------
    def _fit(self) -> None:
        st = self.state
        bounds = self._slope_bounds()
        fit = (
            None
            if self._est is None
            else self._est.window_fit(bounds, self._slope_prior, self._last_dev - self._d0)
        )
        if fit is not None:
            c, s = fit.c, fit.s
            st.span_s = fit.span_s
            st.flags = list(fit.flags)
            if fit.drift_bounds_ppm is not None:
                st.drift_bounds_ppm, st.offset_band_s = fit.drift_bounds_ppm, fit.offset_band_s
                st.drift_band_ppm = st.drift_bounds_ppm[1] - st.drift_bounds_ppm[0]
        elif self._trips:
            tx = np.array([t[0] for t in self._trips])
            ty = np.array([t[2] for t in self._trips])
            order = np.argsort(tx, kind="stable")
            c, s = envelope_line(tx[order], ty[order], bounds, self._slope_prior)
            st.span_s = float(tx.max() - tx.min())
            st.flags = ["round trips only"]
        else:
            return
        self._c, self._s = c, s
        self._c_rt = math.nan
        if self._trips:
            t = np.array(self._trips)
            lo = t[:, 1] - s * t[:, 0]
            hi = t[:, 2] - s * t[:, 0]
            a, z = float(lo.max()), float(hi.min())
            if a <= z:
                self._c_rt = 0.5 * (a + z)
            else:
                # inconsistent intervals (slope error, asymmetric outliers): the middle of
                # the tightest tenth of the round trips
                w = hi - lo
                best = np.argsort(w)[: max(1, len(w) // 10)]
                self._c_rt = float(np.median(0.5 * (lo[best] + hi[best])))
            if fit is not None:
                st.link_latency_s = c - self._c_rt
        # report in the ClockTruth convention: host = (dev - offset) / rf
        c_use = self._intercept()
        st.drift_ppm = (1.0 / s - 1.0) * 1e6
        # host(dev) = h0 + c_use + s (dev - d0) = 0  ->  dev = d0 - (h0 + c_use) / s
        st.offset_s = self._d0 - (self._h0 + c_use) / s

    def _intercept(self) -> float:
        if math.isfinite(self._c_rt):
            return self._c_rt
        return self._c - self.settings.min_latency_s

    # -- mapping ------------------------------------------------------------------
    def to_host(self, device_s: np.ndarray | float) -> np.ndarray | float:
        """Host time (s) of device times of the current epoch (NaN before any observation)."""
        if not self.ready:
            return np.full(np.shape(device_s), np.nan) if np.ndim(device_s) else math.nan
        return self._h0 + self._intercept() + self._s * (np.asarray(device_s, dtype=np.float64) - self._d0)

    def to_device(self, host_s: float) -> float:
        """Device time (current epoch) that maps to host time ``host_s``."""
        if not self.ready:
            return math.nan
        return self._d0 + (host_s - self._h0 - self._intercept()) / self._s

    def residuals(self) -> tuple[np.ndarray, np.ndarray]:
        """Every closed bin of the current epoch: ``(device_s, host_s − to_host(device_s))``.

        The lower envelope of the arrival delays, for the sync-quality figure.
        """
        bins = self._est.closed_bins() if self._est is not None else []
        if not bins:
            return np.zeros(0), np.zeros(0)
        a = np.array(bins)
        return a[:, 0] + self._d0, a[:, 1] + self._h0 - self.to_host(a[:, 0] + self._d0)

    def _epoch_line(self) -> tuple[float, float, float, float]:
        """``(d0, h0, c, s)`` of the whole current epoch: host = h0 + c + s·(device − d0)."""
        line = (
            None
            if self._est is None
            else self._est.epoch_fit(self._slope_bounds(), self._slope_prior, self._last_dev - self._d0)
        )
        if line is None:
            return self._d0, self._h0, self._intercept(), self._s
        c, s = line
        if math.isfinite(self._c_rt):
            c -= self._c - self._c_rt  # the link latency the round trips measured
        else:
            c -= self.settings.min_latency_s
        return self._d0, self._h0, c, s

    def fit_epoch(self) -> tuple[float, float]:
        """Offline: ``(offset_s, drift_ppm)`` from every bin of the current epoch at once.

        The online estimate uses the last ``window_s``; this uses all of it (best when the
        drift was constant, e.g. a recording shorter than a few minutes).
        """
        d0, h0, c, s = self._epoch_line()
        return d0 - (h0 + c) / s, (1.0 / s - 1.0) * 1e6

    def epoch_to_host(self, epoch: int, device_s: np.ndarray) -> np.ndarray:
        """Offline mapping of device times of ``epoch`` with that epoch's whole-epoch fit."""
        if epoch < len(self.epoch_lines):
            d0, h0, c, s = self.epoch_lines[epoch]
        elif epoch == self.state.epoch:
            # the whole-epoch fit changes only with new observations: fit once per state
            key = (epoch, self.state.packets, self.state.round_trips)
            if self._epoch_cache[0] != key:
                self._epoch_cache = (key, self._epoch_line())
            d0, h0, c, s = self._epoch_cache[1]
        else:
            raise StreamError(f"clock model has epochs 0..{self.state.epoch}, not {epoch}")
        return h0 + c + s * (np.asarray(device_s, dtype=np.float64) - d0)

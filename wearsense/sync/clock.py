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
  ``reset_threshold_s`` from that prediction, starts a new *epoch*: the drift of the
  crystal is kept, the offset is estimated afresh. Host times stay continuous.
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
from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from wearsense.errors import StreamError

__all__ = ["ClockSettings", "ClockState", "ClockModel", "lower_hull", "envelope_line", "band_line", "event_grid_phase",
           "unwrap_counter"]

log = logging.getLogger("wearsense")

_GRID_SETTLE = 64  # arrivals needed to find the connection-event grid
_LOWER_RANK = 2  # per bin, the k-th tightest lower bound is used (one stray packet per bin is ignored)
_LOWER_KEEP = 4  # lower bounds kept per bin (spares for those dropped as inconsistent)
_MAX_REPAIRS = 3  # inconsistent bounds dropped per fit at most
_GRID_PPM = 200.0  # a BLE controller's clock within ±200 ppm of the host's (the spec allows ±50 ppm each)


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
                f"ClockSettings.event_capacity must be an integer >= 0 (0: learn it), got {self.event_capacity!r}"
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


def lower_hull(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Indices of the lower convex hull of points sorted by ``x`` (Andrew's monotone chain)."""
    hull: list[int] = []
    for i in range(x.shape[0]):
        xi, yi = x[i], y[i]
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # drop b unless it lies strictly below the segment a -> i
            if (x[b] - x[a]) * (yi - y[a]) - (y[b] - y[a]) * (xi - x[a]) <= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return np.asarray(hull, dtype=np.int64)


def envelope_line(x: np.ndarray, y: np.ndarray, slope_bounds: tuple[float, float],
                  prior_slope: float = 1.0) -> tuple[float, float]:
    """Line ``y = c + s·x`` below every point, highest at the centroid of ``x``.

    The linear-programming estimator of Moon, Skelly & Towsley (1999). ``x`` must be
    sorted. With a single distinct ``x`` the slope is ``prior_slope``. Returns
    ``(c, s)``.
    """
    lo, hi = slope_bounds
    if x.shape[0] == 1 or x[-1] - x[0] <= 0:
        s = min(max(prior_slope, lo), hi)
        return float(np.min(y - s * x)), s
    h = lower_hull(x, y)
    hx, hy = x[h], y[h]
    xc = float(np.mean(x))
    j = int(np.searchsorted(hx, xc, side="right")) - 1
    j = min(max(j, 0), hx.shape[0] - 2)
    s = float((hy[j + 1] - hy[j]) / (hx[j + 1] - hx[j]))
    s = min(max(s, lo), hi)
    return float(np.min(hy - s * hx)), s


def _clip(poly: list[tuple[float, float]], a: float, b: float, r: float) -> list[tuple[float, float]]:
    """The part of a convex polygon where ``a·u + b·v <= r`` (Sutherland–Hodgman, one edge)."""
    out = []
    for i in range(len(poly)):
        (pu, pv), (qu, qv) = poly[i], poly[(i + 1) % len(poly)]
        fp, fq = a * pu + b * pv - r, a * qu + b * qv - r
        if fp <= 0:
            out.append((pu, pv))
        if (fp < 0 < fq) or (fq < 0 < fp):
            w = fp / (fp - fq)
            out.append((pu + w * (qu - pu), pv + w * (qv - pv)))
    return out


def band_line(
    xu: np.ndarray, yu: np.ndarray, xl: np.ndarray, yl: np.ndarray, slope_bounds: tuple[float, float],
    x_eval: float | None = None,
) -> tuple[float, float, tuple[float, float], tuple[float, float]] | None:
    """Line ``y = c + s·x`` between two-sided bounds: ``yl <= c + s·xl`` and ``c + s·xu <= yu``.

    The set of lines that satisfy every bound is a convex polygon in ``(c, s)`` (a
    linear program, as in Moon, Skelly & Towsley 1999, with the second side of the
    convex-hull approach of Zhang, Liu & Xia 2002); only the lower hull of the upper
    bounds and the upper hull of the lower bounds cut it. The line returned is the
    polygon's centroid, the posterior mean for a flat prior over the consistent lines,
    so the mapping of every ``x`` is the middle of what the data allow. ``xu`` and ``xl``
    must be sorted.

    Returns
    -------
    (c, s, (s_min, s_max), (y_min, y_max)) or None
        The centroid line, the range of consistent slopes and the range of consistent
        values of the line at ``x_eval`` (default: the middle of the data); None if no
        line satisfies every bound.
    """
    lo, hi = slope_bounds
    x_mid = 0.5 * (float(min(xu[0], xl[0] if xl.size else xu[0])) + float(max(xu[-1], xl[-1] if xl.size else xu[-1])))
    scale = max(float(np.max(np.abs(xu - x_mid))), float(np.max(np.abs(xl - x_mid))) if xl.size else 0.0, 1e-9)
    # u = intercept at x_mid relative to the slope-1 line, v = (s - 1)·scale: both in seconds
    xu_n, zu = (xu - x_mid) / scale, yu - xu
    xl_n, zl = (xl - x_mid) / scale, yl - xl
    v_lo, v_hi = (lo - 1.0) * scale, (hi - 1.0) * scale
    big = abs(v_lo) + abs(v_hi) + float(np.ptp(zu)) + (float(np.ptp(zl)) + abs(float(zl[0] - zu[0])) if xl.size else 0) + 1.0
    u0 = float(zu.min())
    poly = [(u0 - big, v_lo), (u0 + big, v_lo), (u0 + big, v_hi), (u0 - big, v_hi)]
    for i in lower_hull(xu_n, zu):
        poly = _clip(poly, 1.0, float(xu_n[i]), float(zu[i]))
        if len(poly) < 3:
            return None
    if xl.size:
        for j in lower_hull(xl_n, -zl):
            poly = _clip(poly, -1.0, -float(xl_n[j]), -float(zl[j]))
            if len(poly) < 3:
                return None
    p = np.asarray(poly)
    u, v = p[:, 0], p[:, 1]
    u1, v1 = np.roll(u, -1), np.roll(v, -1)
    cross = u * v1 - u1 * v
    area = 0.5 * float(cross.sum())
    if abs(area) <= 1e-18 * max(1.0, float(np.ptp(u) * np.ptp(v))):
        uc, vc = float(u.mean()), float(v.mean())
    else:
        uc, vc = float(((u + u1) * cross).sum() / (6 * area)), float(((v + v1) * cross).sum() / (6 * area))
    # z = u + v·(x - x_mid)/scale  ->  y = x + z = (u - v·x_mid/scale) + (1 + v/scale)·x
    at = x_mid if x_eval is None else float(x_eval)
    y_at = at + u + v * (at - x_mid) / scale
    return (uc - vc * x_mid / scale, 1.0 + vc / scale, (1.0 + float(v.min()) / scale, 1.0 + float(v.max()) / scale),
            (float(y_at.min()), float(y_at.max())))


def event_grid_phase(host_s: np.ndarray, interval_s: float, min_gap: float = 0.25) -> float:
    """Host time (s) of a connection event, from arrivals that come only at events.

    Arrivals land at an event plus a one-sided delay, so their phases modulo the
    interval cluster just after the events' phase: the phase is where the widest empty
    arc of the phase circle ends. Returns NaN if that arc is shorter than ``min_gap``
    intervals (no grid visible: delays as long as the interval, or no connection events).
    """
    h = np.asarray(host_s, dtype=np.float64)
    if h.size < 2:
        return math.nan
    ph = np.sort(np.mod(h - h[0], interval_s))
    gaps = np.diff(np.concatenate([ph, [ph[0] + interval_s]]))
    k = int(np.argmax(gaps))
    if gaps[k] < min_gap * interval_s:
        return math.nan
    return float(h[0] + ph[(k + 1) % ph.size])


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


class _EventGrid:
    """Connection events on the host clock, ``E(n) = c + s·n``: the lower envelope of ``(n, arrival)``.

    The interval is learnt (a BLE controller's clock is not the host's), starting from
    the nominal one; the event index of an arrival is the grid point at or before it.
    """

    def __init__(self, interval_s: float, phase_s: float, window_s: float) -> None:
        self.nominal = interval_s
        self.c, self.s = phase_s, interval_s
        self._per_bin = max(1, round(0.5 / interval_s))
        self._window = max(2, int(window_s / interval_s))
        self._bins: deque[tuple[int, list[tuple[int, float]]]] = deque()  # (bin, two earliest (n, arrival))
        self._open: tuple[int, list[tuple[int, float]]] | None = None

    def start(self, host_s: list[float]) -> None:
        """First fit from the arrivals that found the phase (all later than it, none a whole interval late)."""
        a = np.sort(np.asarray(host_s, dtype=np.float64))
        n = np.floor((a - self.c) / self.s)
        b = _GRID_PPM * 1e-6
        c, s = envelope_line(n - n[0], a - a[0], (self.nominal * (1 - b), self.nominal * (1 + b)), self.s)
        self.c, self.s = a[0] + c - s * n[0], s

    def assign(self, host_s: float, margin: float = 0.05) -> tuple[int, float]:
        """Event index of an arrival and its delay after that event (in intervals)."""
        v = (host_s - self.c) / self.s
        n = math.floor(v + margin)
        return n, v - n

    def time(self, n: int | np.ndarray) -> float | np.ndarray:
        """Host time (s) of event ``n``."""
        return self.c + self.s * n

    def add(self, n: int, host_s: float) -> None:
        """One arrival assigned to event ``n``."""
        k = n // self._per_bin
        op = self._open
        refit = False
        if op is None or k > op[0]:
            if op is not None:
                self._bins.append(op)
                while self._bins and self._bins[0][1][0][0] < n - self._window:
                    self._bins.popleft()
                refit = True
            op = self._open = (k, [(n, host_s)])
        elif k != op[0]:
            return  # reordered: an older bin
        else:
            # the two earliest arrivals relative to the grid; the second enters the fit, so that one
            # arrival a whole interval late (taken for the next event) does not drag the grid
            low = op[1]
            low.append((n, host_s))
            low.sort(key=lambda p: p[1] - self.s * p[0])
            del low[2:]
            refit = refit or (len(low) == 2 and low[1] == (n, host_s) and host_s < self.c + self.s * n)
        if refit:
            self._fit()

    def _fit(self) -> None:
        pts = [b[1][-1] for b in self._bins] + ([self._open[1][-1]] if len(self._open[1]) == 2 else [])
        if not pts:
            return
        n = np.fromiter((p[0] for p in pts), np.float64, len(pts))
        a = np.fromiter((p[1] for p in pts), np.float64, len(pts))
        if len(pts) < 4:  # too short a span for the rate: the phase only
            self.c = float(np.min(a - self.s * n))
            return
        n0, a0 = n[0], a[0]
        b = _GRID_PPM * 1e-6
        c, s = envelope_line(n - n0, a - a0, (self.nominal * (1 - b), self.nominal * (1 + b)), self.s)
        self.c, self.s = a0 + c - s * n0, s


class ClockModel:
    """Online device→host clock model of one device (see the module docstring).

    Feed it arrivals with :meth:`add_packet` (device time of the newest sample of a
    packet, host arrival time) and round trips with :meth:`add_round_trip`; map device
    times with :meth:`to_host`. :meth:`unwrap` turns raw (wrapping) device times into
    the model's continuous device time and detects resets.
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
        self._epoch_cache: tuple[tuple[int, int, int] | None, tuple[float, float, float, float]] = (None, (0, 0, 0, 0))
        self._new_epoch(math.nan, math.nan)
        self.state.resets.clear()
        self.state.epoch = 0

    # -- epochs -------------------------------------------------------------------
    def _new_epoch(self, device_s: float, host_s: float) -> None:
        self._d0 = device_s  # epoch reference device time
        self._h0 = host_s  # epoch reference host time
        self._bins: deque[tuple[int, float, float]] = deque()  # closed bins: (index, x, y)
        self._open: tuple[int, float, float] | None = None
        self._all: list[tuple[float, float]] = []  # every closed bin of the epoch (absolute dev, host)
        self._trips: deque[tuple[float, float, float]] = deque()  # (x, y_send, y_recv)
        self._c = math.nan  # y = c + s·x, x = dev - d0, y = host - h0 (one-way envelope)
        self._s = self._slope_prior
        self._c_rt = math.nan  # intercept from round trips
        self._last_dev = -math.inf
        # connection-event links: grid, current burst, two-sided bins
        self._grid: _EventGrid | None = None
        self._pending: list[tuple[float, float, bool]] = []  # (x, host_s, after_loss) until the grid is found
        self._no_grid = False
        self._burst: tuple[int, int, bool] | None = None  # (event, packets, loss seen) of the newest event
        self._sizes: Counter[int] = Counter()  # packets per closed event
        self._ebins: deque[list] = deque()  # closed bins: [index, x_u, n_u, [(x_l, n_l), ...]]
        self._eopen: list | None = None
        self._eall: list[list] = []  # every closed bin of the epoch

    @property
    def ready(self) -> bool:
        """Whether at least one observation has arrived in the current epoch."""
        return math.isfinite(self._c) or math.isfinite(self._c_rt)

    def _slope_bounds(self) -> tuple[float, float]:
        b = self.settings.max_drift_ppm * 1e-6
        return 1.0 / (1.0 + b), 1.0 / (1.0 - b)

    # -- observations -------------------------------------------------------------
    def unwrap(self, device_s: np.ndarray, host_s: float) -> np.ndarray:
        """Continuous device times from raw ones arriving at host time ``host_s``.

        Unwraps counter wrap-around (``settings.wrap_s``) and starts a new epoch when the
        device clock was reset. Call it before :meth:`add_packet` with the same packet.
        """
        dev = np.asarray(device_s, dtype=np.float64)
        if dev.size == 0:
            return dev
        st = self.settings
        predicted = self.to_device(host_s) if self.ready else math.nan
        if st.wrap_s:
            raw_last = float(dev[-1])
            ref = predicted if math.isfinite(predicted) else (self._last_dev if math.isfinite(self._last_dev) else dev[0])
            dev, _ = unwrap_counter(dev, st.wrap_s, ref)
            if math.isfinite(self._last_dev) and dev[0] < self._last_dev - st.wrap_s / 2:
                dev = dev + st.wrap_s * math.ceil((self._last_dev - dev[0]) / st.wrap_s)
            self.state.wraps = max(self.state.wraps, int(round((dev[-1] - raw_last) / st.wrap_s)))
        if math.isfinite(predicted):
            # the newest sample of a packet was taken before it arrived: device time must
            # not lie (much) after the prediction, nor far before it
            late = predicted - dev[-1]
            backwards = dev[0] < self._last_dev - st.backwards_tolerance_s
            if backwards or late > st.reset_threshold_s or late < -st.reset_threshold_s:
                log.info("clock reset detected: device time %.6f s at host %.6f s (expected about %.6f s)",
                         dev[-1], host_s, predicted)
                self._start_new_epoch(dev[-1], host_s)
        return dev

    def start_epoch(self, device_s: float, host_s: float) -> None:
        """Start a new epoch now (the caller knows the device restarted)."""
        self._start_new_epoch(device_s, host_s)

    def _start_new_epoch(self, device_s: float, host_s: float) -> None:
        self.epoch_lines.append(self._epoch_line())
        self._slope_prior = self._s if math.isfinite(self._s) else 1.0
        self._new_epoch(math.nan, math.nan)
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
        k = int(math.floor(x / self.settings.bin_s))
        op = self._open
        refit = not math.isfinite(self._c)
        if op is None or k > op[0]:
            if op is not None:
                self._close(op)
                refit = True  # points may have left the window
            self._open = (k, x, y)
        elif k == op[0] and y - self._s * x < op[2] - self._s * op[1]:
            # keep the earliest arrival of the bin, relative to the current slope
            self._open = (k, x, y)
        # else: an arrival for an older bin (reordered) or later than the bin's earliest
        if self.settings.event_interval_s:
            refit = self._add_event_packet(x, host_s, after_loss) or refit
            if self._grid is not None:
                if refit:
                    self._fit()
                return
        # a point below the line is the only other change that moves the optimum
        if refit or y - (self._c + self._s * x) < 0:
            self._fit()

    # -- connection-event links -----------------------------------------------------
    def _add_event_packet(self, x: float, host_s: float, after_loss: bool) -> bool:
        """Feed one arrival to the event grid and the two-sided bins; True if a refit is due."""
        if self._grid is None:
            self._pending.append((x, host_s, after_loss))
            if len(self._pending) % _GRID_SETTLE:
                return False  # look for the grid every _GRID_SETTLE arrivals
            interval = self.settings.event_interval_s
            phase = event_grid_phase(np.array([p[1] for p in self._pending]), interval)
            if not math.isfinite(phase):
                if not self._no_grid:
                    log.info("clock: arrivals show no grid of %.2f ms connection events; lower envelope only",
                             interval * 1e3)
                self._no_grid = True
                del self._pending[: len(self._pending) - 3 * _GRID_SETTLE]
                return False
            # the grid's origin lies before every arrival seen
            first = min(p[1] for p in self._pending)
            phase -= interval * math.ceil((phase - first) / interval)
            self._grid = _EventGrid(interval, phase, self.settings.window_s)
            self._grid.start([p[1] for p in self._pending])
            pending, self._pending = self._pending, []
            for p in pending:
                self._event_point(*p)
            return True
        return self._event_point(x, host_s, after_loss)

    def _capacity(self) -> int:
        """Packets one event can carry: the most seen often enough not to be a merge of two events, and
        at least 2 (a link that can carry only the one packet a device sends per event is saturated)."""
        if self.settings.event_capacity:
            return self.settings.event_capacity
        total = sum(self._sizes.values())
        often = [k for k, v in self._sizes.items() if v >= max(2, 0.005 * total)]
        return max(often, default=0) if total < _GRID_SETTLE else max([2, *often])

    def _event_point(self, x: float, host_s: float, after_loss: bool) -> bool:
        g = self._grid
        n, late = g.assign(host_s)
        g.add(n, host_s)
        st = self.state
        st.event_interval_s, st.event_phase_s = g.s, g.c
        # a packet that opens a burst was not ready at the previous event, unless that event
        # was full or lost packets may have filled it
        lower = False
        b = self._burst
        if b is None or n > b[0]:
            if b is not None:
                self._sizes[b[1]] += 1
                prev_count, prev_loss = (b[1], b[2]) if b[0] == n - 1 else (0, False)
                lower = (not after_loss and not prev_loss and prev_count < self._capacity() and late < 0.5)
            self._burst = (n, 1, after_loss)
        elif n == b[0]:
            self._burst = (n, b[1] + 1, b[2] or after_loss)
        k = math.floor(x / self.settings.bin_s)
        op = self._eopen
        refit = False
        if op is None or k > op[0]:
            if op is not None:
                self._eclose(op)
                refit = True
            op = self._eopen = [k, x, n, []]
        elif k == op[0]:
            if op[2] is None or g.s * n - self._s * x < g.s * op[2] - self._s * op[1]:
                op[1], op[2] = x, n
        else:
            return refit  # reordered: an older bin
        y_u = g.time(n) - self._h0
        if y_u < self._c + self._s * x:
            refit = True
        if lower:
            lows = op[3]
            lows.append((x, n - 1))
            lows.sort(key=lambda p: g.s * p[1] - self._s * p[0], reverse=True)
            del lows[_LOWER_KEEP:]
            r = _LOWER_RANK - 1
            if len(lows) > r and lows[r] == (x, n - 1) and g.time(n - 1) - self._h0 > self._c + self._s * x:
                refit = True
        return refit

    def _eclose(self, b: list) -> None:
        self._ebins.append(b)
        self._eall.append(b)
        horizon = b[1] - self.settings.window_s
        while self._ebins and self._ebins[0][1] < horizon:
            self._ebins.popleft()

    def _event_fit(self, bins: list[list], x_now: float) -> tuple[float, float, tuple[float, float], float] | None:
        """``(c, s, (drift_lo, drift_hi) ppm, offset band s)`` of the ready-time line over event bins.

        Bounds that contradict the others (a packet taken for the wrong event) are found by
        leaving out, one at a time, the hull points that cut the polygon; the first whose
        removal makes the bounds consistent is dropped for good (``state.outliers``).
        """
        g = self._grid
        ups = sorted((b for b in bins if b[2] is not None), key=lambda b: b[1])
        if g is None or not ups:
            return None
        bounds = self._slope_bounds()
        for _ in range(_MAX_REPAIRS + 1):
            xu = np.fromiter((b[1] for b in ups), np.float64, len(ups))
            yu = g.time(np.fromiter((b[2] for b in ups), np.float64, len(ups))) - self._h0
            rank = _LOWER_RANK
            lows = sorted(((b, b[3][rank - 1]) for b in bins if len(b[3]) >= rank), key=lambda q: q[1][0])
            if not lows:
                break
            xl = np.fromiter((q[1][0] for q in lows), np.float64, len(lows))
            yl = g.time(np.fromiter((q[1][1] for q in lows), np.float64, len(lows))) - self._h0
            res = band_line(xu, yu, xl, yl, bounds, x_now)
            if res is not None:
                c, s, (s_lo, s_hi), (y_lo, y_hi) = res
                return c, s, ((1.0 / s_hi - 1.0) * 1e6, (1.0 / s_lo - 1.0) * 1e6), y_hi - y_lo
            # a lower bound is the one that can be wrong (a packet held back past an event looks
            # like one that just missed it); an upper bound only if its event was misread
            drop = None
            for j in lower_hull(xl, -yl):
                keep = np.arange(xl.size) != j
                if band_line(xu, yu, xl[keep], yl[keep], bounds) is not None:
                    drop = ("lower", lows[j], float(xl[j]))
                    break
            if drop is None:
                for i in lower_hull(xu, yu):
                    keep = np.arange(xu.size) != i
                    if band_line(xu[keep], yu[keep], xl, yl, bounds) is not None:
                        drop = ("upper", ups[i], float(xu[i]))
                        break
            if drop is None:
                break
            kind, item, x_bad = drop
            log.info("clock: dropped an inconsistent %s bound at device time %+.3f s", kind, x_bad + self._d0)
            self.state.outliers += 1
            if kind == "upper":
                item[2] = None
                ups = [b for b in ups if b is not item]
            else:
                item[0][3].remove(item[1])
        # no lower bounds yet, or inconsistent ones: the lower envelope of the event times
        xu = np.fromiter((b[1] for b in ups), np.float64, len(ups))
        yu = g.time(np.fromiter((b[2] for b in ups), np.float64, len(ups))) - self._h0
        c, s = envelope_line(xu, yu, bounds, self._slope_prior)
        return c, s, (math.nan, math.nan), math.nan

    def _close(self, b: tuple[int, float, float]) -> None:
        self._bins.append(b)
        self._all.append((b[1] + self._d0, b[2] + self._h0))
        horizon = b[1] - self.settings.window_s
        while self._bins and self._bins[0][1] < horizon:
            self._bins.popleft()
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
        horizon = x - self.settings.window_s
        while self._trips and self._trips[0][0] < horizon:
            self._trips.popleft()
        self._fit()

    # -- fit ----------------------------------------------------------------------
    def _fit(self) -> None:
        pts = list(self._bins)
        if self._open is not None:
            pts.append(self._open)
        st = self.state
        bounds = self._slope_bounds()
        if pts:
            x = np.fromiter((p[1] for p in pts), np.float64, len(pts))
            y = np.fromiter((p[2] for p in pts), np.float64, len(pts))
            order = np.argsort(x, kind="stable")
            x, y = x[order], y[order]
            c, s = envelope_line(x, y, bounds, self._slope_prior)
            st.span_s = float(x[-1] - x[0])
            st.flags = [] if len(pts) >= 2 else ["offset only: fewer than 2 bins"]
            ev = self._event_fit(list(self._ebins) + ([self._eopen] if self._eopen else []), self._last_dev - self._d0)
            if ev is not None:
                c, s, st.drift_bounds_ppm, st.offset_band_s = ev
                st.drift_band_ppm = st.drift_bounds_ppm[1] - st.drift_bounds_ppm[0]
                if not math.isfinite(st.drift_band_ppm):
                    st.flags.append("connection events: no consistent lower bounds yet")
                elif st.drift_band_ppm > 4.0:
                    st.flags.append(f"connection events: drift known to {st.drift_band_ppm:.0f} ppm only")
            elif self.settings.event_interval_s and self._grid is None:
                st.flags.append("connection events: no grid in the arrivals" if self._no_grid
                                else "connection events: finding the grid")
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
            if pts:
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
        if not self._all:
            return np.zeros(0), np.zeros(0)
        a = np.array(self._all)
        return a[:, 0], a[:, 1] - self.to_host(a[:, 0])

    def _epoch_line(self) -> tuple[float, float, float, float]:
        """``(d0, h0, c, s)`` of the whole current epoch: host = h0 + c + s·(device − d0)."""
        pts = list(self._all)
        if self._open is not None:
            pts.append((self._open[1] + self._d0, self._open[2] + self._h0))
        if not pts:
            return self._d0, self._h0, self._intercept(), self._s
        a = np.array(pts)
        x, y = a[:, 0] - self._d0, a[:, 1] - self._h0
        order = np.argsort(x, kind="stable")
        c, s = envelope_line(x[order], y[order], self._slope_bounds(), self._slope_prior)
        ev = self._event_fit(self._eall + ([self._eopen] if self._eopen else []), self._last_dev - self._d0)
        if ev is not None:
            c, s = ev[0], ev[1]
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

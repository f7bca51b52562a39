"""The two line estimators behind :class:`wearsense.sync.clock.ClockModel`, and their geometry.

One device epoch's arrivals become a line ``y = c + s·x`` (``x`` device seconds and ``y``
host seconds, both since the epoch's first observation). Two estimators share one
interface (:class:`LineEstimator`):

- :class:`ArrivalEnvelope`: the lower envelope of the arrivals, reduced to the earliest
  per ``bin_s`` of device time (Moon, Skelly & Towsley 1999). For every link.
- :class:`EventBounds`: links that deliver only at connection events (BLE): the event
  grid learnt from the arrivals bounds each packet's ready time from both sides, and the
  line is the centroid of the lines that satisfy every bound (:func:`band_line`). It
  keeps the arrival envelope as its fallback while no grid or no lower bounds exist.

The module docstring of :mod:`wearsense.sync.clock` and docs/sync.md explain the methods.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from wearsense.sync.clock import ClockSettings, ClockState

__all__ = [
    "LineFit",
    "LineEstimator",
    "ArrivalEnvelope",
    "EventBounds",
    "lower_hull",
    "envelope_line",
    "band_line",
    "event_grid_phase",
]

log = logging.getLogger("wearsense")

_GRID_SETTLE = 64  # arrivals needed to find the connection-event grid
_LOWER_RANK = 2  # per bin, the k-th tightest lower bound is used (one stray packet per bin is ignored)
_LOWER_KEEP = 4  # lower bounds kept per bin (spares for those dropped as inconsistent)
_MAX_REPAIRS = 3  # inconsistent bounds dropped per fit at most
_GRID_PPM = 200.0  # a BLE controller's clock within ±200 ppm of the host's (the spec allows ±50 ppm each)


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


def envelope_line(
    x: np.ndarray, y: np.ndarray, slope_bounds: tuple[float, float], prior_slope: float = 1.0
) -> tuple[float, float]:
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
    xu: np.ndarray,
    yu: np.ndarray,
    xl: np.ndarray,
    yl: np.ndarray,
    slope_bounds: tuple[float, float],
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
    x_mid = 0.5 * (
        float(min(xu[0], xl[0] if xl.size else xu[0])) + float(max(xu[-1], xl[-1] if xl.size else xu[-1]))
    )
    scale = max(
        float(np.max(np.abs(xu - x_mid))), float(np.max(np.abs(xl - x_mid))) if xl.size else 0.0, 1e-9
    )
    # u = intercept at x_mid relative to the slope-1 line, v = (s - 1)·scale: both in seconds
    xu_n, zu = (xu - x_mid) / scale, yu - xu
    xl_n, zl = (xl - x_mid) / scale, yl - xl
    v_lo, v_hi = (lo - 1.0) * scale, (hi - 1.0) * scale
    big = (
        abs(v_lo)
        + abs(v_hi)
        + float(np.ptp(zu))
        + (float(np.ptp(zl)) + abs(float(zl[0] - zu[0])) if xl.size else 0)
        + 1.0
    )
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
    return (
        uc - vc * x_mid / scale,
        1.0 + vc / scale,
        (1.0 + float(v.min()) / scale, 1.0 + float(v.max()) / scale),
        (float(y_at.min()), float(y_at.max())),
    )


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
        """First fit from the arrivals that found the phase (all later than it, none an interval late)."""
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


@dataclass(frozen=True)
class LineFit:
    """A line fitted by an estimator: ``y = c + s·x`` over device time span ``span_s``.

    ``drift_bounds_ppm`` and ``offset_band_s`` are set by estimators that bound the line
    from both sides (NaN otherwise); ``flags`` are notes for :attr:`ClockState.flags`.
    """

    c: float
    s: float
    span_s: float = 0.0
    flags: tuple[str, ...] = ()
    drift_bounds_ppm: tuple[float, float] | None = None
    offset_band_s: float = math.nan


class LineEstimator:
    """Interface of a line estimator of one device epoch.

    ``x`` is device time and ``y`` host time, both relative to the epoch's origin;
    ``line`` the model's current ``(c, s)``, which decides which arrival of a bin is the
    earliest and when a refit is due.
    """

    def add(self, x: float, y: float, after_loss: bool, line: tuple[float, float]) -> bool:
        """One arrival; True if the line must be refitted."""
        raise NotImplementedError

    @property
    def horizon(self) -> float:
        """Device time (relative) before which observations have left the online window."""
        raise NotImplementedError

    def window_fit(self, bounds: tuple[float, float], prior: float, x_now: float) -> LineFit | None:
        """Online fit over the last ``window_s``; None without an arrival."""
        raise NotImplementedError

    def epoch_fit(
        self, bounds: tuple[float, float], prior: float, x_now: float
    ) -> tuple[float, float] | None:
        """Offline ``(c, s)`` over the whole epoch; None without an arrival."""
        raise NotImplementedError

    def closed_bins(self) -> list[tuple[float, float]]:
        """``(x, y)`` of the earliest arrival of every closed bin of the epoch."""
        raise NotImplementedError


class ArrivalEnvelope(LineEstimator):
    """The lower envelope of arrivals: the earliest per ``bin_s`` of device time, then
    :func:`envelope_line` over the bins of the window (or of the epoch)."""

    def __init__(self, settings: ClockSettings, state: ClockState | None = None, h0: float = 0.0) -> None:
        self.settings = settings
        self._bins: deque[tuple[int, float, float]] = deque()  # closed bins of the window: (index, x, y)
        self._open: tuple[int, float, float] | None = None
        self._all: list[tuple[float, float]] = []  # every closed bin of the epoch: (x, y)
        self._horizon = -math.inf

    @property
    def horizon(self) -> float:
        return self._horizon

    def load(self, x: np.ndarray, y: np.ndarray, s: float) -> None:
        """Offline: every arrival of the epoch at once (arrays, ``x`` non-decreasing per bin
        order not needed); each bin keeps its earliest arrival relative to slope ``s``.
        The newest bin stays open, as after feeding the arrivals one by one."""
        k = np.floor(x / self.settings.bin_s).astype(np.int64)
        order = np.lexsort((y - s * x, k))  # by bin, then earliest relative to the slope
        k, x, y = k[order], x[order], y[order]
        first = np.flatnonzero(np.r_[True, k[1:] != k[:-1]])
        bins = list(zip(k[first].tolist(), x[first].tolist(), y[first].tolist()))
        *closed, self._open = bins
        self._all = [(b[1], b[2]) for b in closed]
        if closed:
            self._horizon = closed[-1][1] - self.settings.window_s
        self._bins = deque(b for b in closed if b[1] >= self._horizon)

    def _bin(self, x: float, y: float, s: float) -> bool:
        """Keep the earliest arrival of each bin; True when a bin closed (points may leave the window)."""
        k = int(math.floor(x / self.settings.bin_s))
        op = self._open
        if op is None or k > op[0]:
            closed = op is not None
            if closed:
                self._close(op)
            self._open = (k, x, y)
            return closed
        if k == op[0] and y - s * x < op[2] - s * op[1]:
            # keep the earliest arrival of the bin, relative to the current slope
            self._open = (k, x, y)
        # else: an arrival for an older bin (reordered) or later than the bin's earliest
        return False

    def _close(self, b: tuple[int, float, float]) -> None:
        self._bins.append(b)
        self._all.append((b[1], b[2]))
        self._horizon = b[1] - self.settings.window_s
        while self._bins and self._bins[0][1] < self._horizon:
            self._bins.popleft()

    def add(self, x: float, y: float, after_loss: bool, line: tuple[float, float]) -> bool:
        c, s = line
        refit = self._bin(x, y, s) or not math.isfinite(c)
        # a point below the line is the only other change that moves the optimum
        return refit or y - (c + s * x) < 0

    def window_fit(self, bounds: tuple[float, float], prior: float, x_now: float) -> LineFit | None:
        pts = list(self._bins)
        if self._open is not None:
            pts.append(self._open)
        if not pts:
            return None
        x = np.fromiter((p[1] for p in pts), np.float64, len(pts))
        y = np.fromiter((p[2] for p in pts), np.float64, len(pts))
        order = np.argsort(x, kind="stable")
        x, y = x[order], y[order]
        c, s = envelope_line(x, y, bounds, prior)
        flags = () if len(pts) >= 2 else ("offset only: fewer than 2 bins",)
        return LineFit(c, s, float(x[-1] - x[0]), flags)

    def epoch_fit(
        self, bounds: tuple[float, float], prior: float, x_now: float
    ) -> tuple[float, float] | None:
        pts = list(self._all)
        if self._open is not None:
            pts.append((self._open[1], self._open[2]))
        if not pts:
            return None
        a = np.array(pts)
        order = np.argsort(a[:, 0], kind="stable")
        return envelope_line(a[order, 0], a[order, 1], bounds, prior)

    def closed_bins(self) -> list[tuple[float, float]]:
        return self._all


class EventBounds(ArrivalEnvelope):
    """Connection-event links: two-sided bounds of each packet's ready time from the event grid.

    Packets leave only at connection events on the host's side, so an arrival bounds the
    packet's ready time from both sides: not after its event, and, for a packet that
    opens a burst when the previous event had room, after the previous event. Until the
    grid is found, and while no consistent lower bounds exist, the arrival envelope
    (the base class) gives the line.
    """

    def __init__(self, settings: ClockSettings, state: ClockState, h0: float = 0.0) -> None:
        super().__init__(settings, state, h0)
        self.state = state
        self._h0 = h0  # host time of the epoch's origin: events are kept on the absolute host clock
        self._line = (math.nan, 1.0)
        self._grid: _EventGrid | None = None
        self._pending: list[tuple[float, float, bool]] = []  # (x, host_s, after_loss) until the grid is found
        self._no_grid = False
        self._burst: tuple[int, int, bool] | None = None  # (event, packets, loss seen) of the newest event
        self._sizes: Counter[int] = Counter()  # packets per closed event
        self._ebins: deque[list] = deque()  # closed bins: [index, x_u, n_u, [(x_l, n_l), ...]]
        self._eopen: list | None = None
        self._eall: list[list] = []  # every closed bin of the epoch

    def add(self, x: float, y: float, after_loss: bool, line: tuple[float, float]) -> bool:
        c, s = line
        self._line = line
        refit = self._bin(x, y, s) or not math.isfinite(c)
        refit = self._add_event_packet(x, y + self._h0, after_loss) or refit
        if self._grid is not None:
            return refit
        return refit or y - (c + s * x) < 0

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
                    log.info(
                        "clock: arrivals show no grid of %.2f ms connection events; lower envelope only",
                        interval * 1e3,
                    )
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
        c, s = self._line
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
                lower = not after_loss and not prev_loss and prev_count < self._capacity() and late < 0.5
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
            if op[2] is None or g.s * n - s * x < g.s * op[2] - s * op[1]:
                op[1], op[2] = x, n
        else:
            return refit  # reordered: an older bin
        y_u = g.time(n) - self._h0
        if y_u < c + s * x:
            refit = True
        if lower:
            lows = op[3]
            lows.append((x, n - 1))
            lows.sort(key=lambda p: g.s * p[1] - s * p[0], reverse=True)
            del lows[_LOWER_KEEP:]
            r = _LOWER_RANK - 1
            if len(lows) > r and lows[r] == (x, n - 1) and g.time(n - 1) - self._h0 > c + s * x:
                refit = True
        return refit

    def _eclose(self, b: list) -> None:
        self._ebins.append(b)
        self._eall.append(b)
        horizon = b[1] - self.settings.window_s
        while self._ebins and self._ebins[0][1] < horizon:
            self._ebins.popleft()

    def _event_fit(
        self, bins: list[list], bounds: tuple[float, float], prior: float, x_now: float
    ) -> tuple[float, float, tuple[float, float], float] | None:
        """``(c, s, (drift_lo, drift_hi) ppm, offset band s)`` of the ready-time line over event bins.

        Bounds that contradict the others (a packet taken for the wrong event) are found by
        leaving out, one at a time, the hull points that cut the polygon; the first whose
        removal makes the bounds consistent is dropped for good (``state.outliers``).
        """
        g = self._grid
        ups = sorted((b for b in bins if b[2] is not None), key=lambda b: b[1])
        if g is None or not ups:
            return None
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
            log.info(
                "clock: dropped an inconsistent %s bound at device time %+.3f s after the epoch's start",
                kind,
                x_bad,
            )
            self.state.outliers += 1
            if kind == "upper":
                item[2] = None
                ups = [b for b in ups if b is not item]
            else:
                item[0][3].remove(item[1])
        # no lower bounds yet, or inconsistent ones: the lower envelope of the event times
        xu = np.fromiter((b[1] for b in ups), np.float64, len(ups))
        yu = g.time(np.fromiter((b[2] for b in ups), np.float64, len(ups))) - self._h0
        c, s = envelope_line(xu, yu, bounds, prior)
        return c, s, (math.nan, math.nan), math.nan

    def window_fit(self, bounds: tuple[float, float], prior: float, x_now: float) -> LineFit | None:
        fit = super().window_fit(bounds, prior, x_now)
        if fit is None:
            return None
        flags = list(fit.flags)
        ev = self._event_fit(list(self._ebins) + ([self._eopen] if self._eopen else []), bounds, prior, x_now)
        if ev is None:
            if self._grid is None:
                flags.append(
                    "connection events: no grid in the arrivals"
                    if self._no_grid
                    else "connection events: finding the grid"
                )
            return LineFit(fit.c, fit.s, fit.span_s, tuple(flags))
        c, s, drift_bounds, band = ev
        width = drift_bounds[1] - drift_bounds[0]
        if not math.isfinite(width):
            flags.append("connection events: no consistent lower bounds yet")
        elif width > 4.0:
            flags.append(f"connection events: drift known to {width:.0f} ppm only")
        return LineFit(c, s, fit.span_s, tuple(flags), drift_bounds, band)

    def epoch_fit(
        self, bounds: tuple[float, float], prior: float, x_now: float
    ) -> tuple[float, float] | None:
        line = super().epoch_fit(bounds, prior, x_now)
        if line is None:
            return None
        ev = self._event_fit(self._eall + ([self._eopen] if self._eopen else []), bounds, prior, x_now)
        return line if ev is None else (ev[0], ev[1])

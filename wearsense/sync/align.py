"""IMU ⇄ pose alignment: the offset left between inside-out and camera streams.

Once every device is on the session clock (:mod:`wearsense.sync.timeline`), a camera or
mocap pose stream is still late by its pipeline latency (30–100 ms for camera
keypoints), which no clock model can see: the camera stamps frames when they leave the
pipeline. This module measures that offset from the movement itself:

- **continuous** (``method="xcorr"``): the angular speed of each IMU (gyroscope
  magnitude, deg/s) is cross-correlated with the angular speed of the same body segment
  derived from pose (the rate of turn of the line between two keypoints of the segment).
  Both are put on one grid and low-passed by the same zero-phase filter (so the filter
  adds no lag), and the normalised cross-correlations of all IMU–segment pairs are
  pooled; the peak, refined by a parabola, is the lag.
- **sync gesture** (``method="gesture"``): the same comparison restricted to a few
  seconds around each clap, found in pose as both hands approaching each other (hand
  distance dropping by more than ``clap_drop_m``), as a calibration protocol asks the
  mover to do at the start of a session.

Confidence: the recording is cut into windows (fixed tiles, or one per clap), the
pooled correlation sums are bootstrapped over windows (seeded), and ``confidence`` is
the fraction of bootstrap peaks within ``tolerance_s`` of the estimate; ``ci95_s`` is
the bootstrap 2.5–97.5 % interval.

Sign: ``lag_s`` > 0 means pose timestamps are **late**; subtract ``lag_s`` from pose
times (``Alignment.apply``) to put pose on the IMU's time axis.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import signal

from wearsense.dsp.resample import interpolate_to
from wearsense.errors import AlignmentError, StreamError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = [
    "AlignSettings",
    "Alignment",
    "AlignmentError",
    "SEGMENT_KEYPOINTS",
    "align_imu_pose",
    "imu_angular_speed",
    "pose_angular_speed",
    "find_claps",
]

log = logging.getLogger("wearsense")

#: Samples handled at a time where a full-length float64 temporary is not needed.
_BLOCK = 1 << 16

#: Windows whose lagged sums one FFT pass of :func:`_lag_sums` computes together.
_BATCH = 16

#: Body segment -> two keypoints fixed on it (proximal, distal), OpenPose/MediaPipe-like names.
SEGMENT_KEYPOINTS: dict[str, tuple[str, str]] = {
    **{f"upper_arm_{s}": (f"shoulder_{s}", f"elbow_{s}") for s in "rl"},
    **{f"forearm_{s}": (f"elbow_{s}", f"wrist_{s}") for s in "rl"},
    **{f"hand_{s}": (f"wrist_{s}", f"hand_{s}") for s in "rl"},
    **{f"thigh_{s}": (f"hip_{s}", f"knee_{s}") for s in "rl"},
    **{f"shank_{s}": (f"knee_{s}", f"ankle_{s}") for s in "rl"},
    **{f"foot_{s}": (f"ankle_{s}", f"toe_{s}") for s in "rl"},
    "trunk": ("pelvis", "neck"),
    "head": ("neck", "head"),
    "pelvis": ("hip_r", "hip_l"),
}


@dataclass(frozen=True)
class AlignSettings:
    """Settings of :func:`align_imu_pose`.

    Parameters
    ----------
    rate_hz : float
        Grid on which both signals are compared (Hz).
    lowpass_hz : float
        Cut-off of the zero-phase low-pass applied to both signals (Hz): pose-derived
        speeds are noisy (1–3 cm keypoint noise), movement lies below ~5 Hz.
    max_lag_s : float
        Lags searched: ±this (s).
    window_s : float
        Window length for the bootstrap (continuous method), s.
    gesture_half_s : float
        Half-width of the window around each clap (gesture method), s.
    clap_drop_m : float
        A clap: hand distance falls at least this far (m) below its median.
    tolerance_s : float
        Bootstrap peaks within this of the estimate count as agreeing (s); default half
        a frame at 60 Hz.
    n_boot : int
        Bootstrap replicates.
    min_windows : int
        Fewest tiles of ``window_s`` with movement for a continuous (xcorr) estimate: a
        bootstrap over fewer has no spread to measure, and would report a one-window lag
        with a zero-width interval and full confidence. Below it the recording is too
        short: :class:`AlignmentError` says how long it must be. The gesture method needs
        two claps (each clap is a sharp event of its own).
    seed : int
        Seed of the bootstrap.
    segment_keypoints : mapping
        Segment -> (proximal keypoint, distal keypoint); IMUs name their segment in
        ``StreamInfo.metadata["segment"]``.
    """

    rate_hz: float = 200.0
    lowpass_hz: float = 4.0
    max_lag_s: float = 0.5
    window_s: float = 10.0
    gesture_half_s: float = 1.5
    clap_drop_m: float = 0.1
    tolerance_s: float = 1.0 / 120.0
    n_boot: int = 300
    min_windows: int = 3
    seed: int = 0
    segment_keypoints: Mapping[str, tuple[str, str]] = field(default_factory=lambda: dict(SEGMENT_KEYPOINTS))

    def __post_init__(self) -> None:
        for name in ("rate_hz", "lowpass_hz", "max_lag_s", "window_s", "gesture_half_s", "tolerance_s"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise StreamError(f"AlignSettings.{name} must be a finite number > 0, got {v!r}")
        if not (isinstance(self.min_windows, int) and self.min_windows >= 2):
            raise StreamError(f"AlignSettings.min_windows must be an integer >= 2, got {self.min_windows!r}")
        if self.lowpass_hz >= self.rate_hz / 2:
            raise StreamError(
                f"AlignSettings.lowpass_hz={self.lowpass_hz} must be below half of rate_hz={self.rate_hz}"
            )


@dataclass(frozen=True)
class Alignment:
    """Result of :func:`align_imu_pose`.

    Attributes
    ----------
    lag_s : float
        How late pose timestamps are relative to the IMUs (s); subtract it from pose times.
    ci95_s : (float, float)
        Bootstrap 95 % interval of ``lag_s``.
    confidence : float
        Fraction of bootstrap peaks within ``tolerance_s`` of ``lag_s`` (0..1).
    peak_corr : float
        Pooled normalised cross-correlation at the peak (−1..1).
    method : str
        ``"xcorr"`` or ``"gesture"``.
    n_windows : int
        Windows (tiles or claps) that held movement.
    pairs : tuple of str
        The IMU streams used, with their segments.
    lags_s, corr : ndarray
        The pooled correlation curve (for the figure).
    events_s : ndarray
        Clap times (session clock, pose time) for the gesture method.
    """

    lag_s: float
    ci95_s: tuple[float, float]
    confidence: float
    peak_corr: float
    method: str
    n_windows: int
    pairs: tuple[str, ...]
    lags_s: np.ndarray
    corr: np.ndarray
    events_s: np.ndarray

    def apply(self, pose: Chunk) -> Chunk:
        """``pose`` with ``lag_s`` taken out of its timestamps."""
        return pose.with_time(pose.t - self.lag_s, pose.clock)


def _columns(info: StreamInfo, word: str) -> list[int]:
    return [i for i, c in enumerate(info.channels) if word in c.lower()]


def imu_angular_speed(info: StreamInfo, chunk: Chunk) -> np.ndarray:
    """Gyroscope magnitude (deg/s) of an IMU chunk (channels containing ``gyro``)."""
    cols = _columns(info, "gyro")
    if len(cols) != 3:
        raise AlignmentError(
            f"stream {info.name!r}: needs 3 gyroscope channels (labels containing 'gyro'), found "
            f"{[info.channels[c] for c in cols]}"
        )
    rad = info.units[cols[0]] in ("rad/s", "rad s-1")
    out = np.empty(chunk.n)
    for i in range(0, chunk.n, _BLOCK):  # in blocks: no full-length float64 copy of the gyro
        g = chunk.data[i : i + _BLOCK, cols].astype(np.float64)
        out[i : i + _BLOCK] = np.linalg.norm(np.rad2deg(g) if rad else g, axis=1)
    return out


def _keypoint(info: StreamInfo, chunk: Chunk, name: str) -> np.ndarray:
    try:
        cols = [info.index(f"{name}_{a}") for a in "xyz"]
    except StreamError:
        raise AlignmentError(
            f"pose stream {info.name!r} has no keypoint {name!r} (channels {name}_x/_y/_z); "
            "give AlignSettings.segment_keypoints for your skeleton"
        ) from None
    return chunk.data[:, cols].astype(np.float64)


def pose_angular_speed(info: StreamInfo, chunk: Chunk, a: str, b: str, lowpass_hz: float) -> np.ndarray:
    """Rate of turn (deg/s) of the line from keypoint ``a`` to ``b``, on the pose's own samples.

    Keypoints are low-passed (zero-phase Butterworth, order 2) before differentiating;
    occluded samples (NaN) are bridged for the filter and NaN again in the result.
    """
    u = _keypoint(info, chunk, b) - _keypoint(info, chunk, a)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    bad = ~np.isfinite(u).all(axis=1)
    t = chunk.t
    if bad.all() or chunk.n < 16:
        return np.full(chunk.n, np.nan)
    if bad.any():
        for k in range(3):
            u[bad, k] = np.interp(t[bad], t[~bad], u[~bad, k])
    rate = (chunk.n - 1) / (t[-1] - t[0])
    sos = signal.butter(2, min(lowpass_hz, 0.4 * rate), fs=rate, output="sos")
    u = signal.sosfiltfilt(sos, u, axis=0)
    du = np.gradient(u, t, axis=0)
    speed = np.rad2deg(np.linalg.norm(du, axis=1))
    speed[bad] = np.nan
    return speed


def find_claps(
    info: StreamInfo,
    chunk: Chunk,
    drop_m: float = 0.1,
    hands: tuple[str, str] = ("wrist_r", "wrist_l"),
    approach_s: float = 0.5,
) -> np.ndarray:
    """Times (pose clock, s) where both hands come together: the sync gesture.

    Local minima of the distance between the hands that lie more than ``drop_m`` below
    its median, at least 1 s apart, where *each* hand moved at least ``drop_m / 2`` in
    the ``approach_s`` before (a one-handed reach across the body is not a clap).
    """
    hr, hl = _keypoint(info, chunk, hands[0]), _keypoint(info, chunk, hands[1])
    d = np.linalg.norm(hr - hl, axis=1)
    ok = np.isfinite(d)
    if ok.sum() < 16:
        return np.zeros(0)
    t = chunk.t[ok]
    hr, hl = hr[ok], hl[ok]
    rate = (t.size - 1) / (t[-1] - t[0])
    sos = signal.butter(2, min(3.0, 0.4 * rate), fs=rate, output="sos")
    d = signal.sosfiltfilt(sos, d[ok])
    hr, hl = signal.sosfiltfilt(sos, hr, axis=0), signal.sosfiltfilt(sos, hl, axis=0)
    peaks, _ = signal.find_peaks(-d, prominence=drop_m, distance=max(1, int(rate)))
    peaks = peaks[d[peaks] < np.median(d) - drop_m]
    back = np.maximum(peaks - int(round(approach_s * rate)), 0)
    both = (np.linalg.norm(hr[peaks] - hr[back], axis=1) >= drop_m / 2) & (
        np.linalg.norm(hl[peaks] - hl[back], axis=1) >= drop_m / 2
    )
    return t[peaks[both]]


def _on_grid(t: np.ndarray, x: np.ndarray, grid: np.ndarray, max_gap_s: float) -> np.ndarray:
    ok = np.isfinite(x)
    if np.count_nonzero(ok) < 2:
        return np.full(grid.size, np.nan)
    t, x = t[ok], x[ok]
    out = np.empty(grid.size)
    for g0 in range(0, grid.size, _BLOCK):  # in blocks of the grid: interpolate_to's temporaries stay small
        g = grid[g0 : g0 + _BLOCK]
        # the source samples around the block: the newest at or before its first time to
        # the first after its last (and that one's repeats), so each grid time sees the
        # same neighbours as on the whole recording
        a = max(int(np.searchsorted(t, g[0], side="right")) - 1, 0)
        b = int(np.searchsorted(t, g[-1], side="right"))
        b = int(np.searchsorted(t, t[b], side="right")) if b < t.size else t.size
        out[g0 : g0 + g.size] = interpolate_to(t[a:b], x[a:b], g, max_gap_s=max_gap_s)[:, 0]
    return out


def _factors(v: np.ndarray, i0: int, i1: int, side: str) -> np.ndarray:
    """The six factors of :func:`_lag_sums` on ``v[i0:i1]`` (zeros outside ``[0, v.size)``).

    x side: (1, x, 1, x², 1, x); y side: (1, 1, y, 1, y², y), each 0 where ``v`` is not
    finite: (6, i1 - i0) float64.
    """
    out = np.zeros((6, max(i1 - i0, 1)))
    a, b = max(i0, 0), min(i1, v.size)
    if b > a:
        seg = v[a:b]
        m = np.isfinite(seg)
        z = np.where(m, seg, 0.0)
        mf = m.astype(np.float64)
        rows = (mf, z, mf, z * z, mf, z) if side == "x" else (mf, mf, z, mf, z * z, z)
        for k, r in enumerate(rows):
            out[k, a - i0 : b - i0] = r
    return out


def _lag_sums(x: np.ndarray, y: np.ndarray, lags: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per lag and window, the sums (n, Σx, Σy, Σx², Σy², Σxy) of pairs x[i], y[i + lag].

    Window ``w`` holds the ``i`` in ``[edges[w], edges[w + 1])``; a pair counts where both
    values are finite. ``lags`` must be consecutive integers. Each sum is a
    cross-correlation of a masked ``x`` term with a masked ``y`` term, computed per window
    by FFT (O(N log N), where a loop over lags costs O(N · lags): minutes on an hour).
    """
    lags = np.asarray(lags)
    n, n_lag, lo = x.size, lags.size, int(lags[0])
    starts, stops = np.clip(edges[:-1], 0, n), np.clip(edges[1:], 0, n)
    width = int(max(1, (stops - starts).max())) if starts.size else 1
    span = width + n_lag - 1
    nfft = 1 << (span - 1).bit_length()
    out = np.zeros((lags.size, edges.size - 1, 6))
    cols = np.arange(width)
    # A batch of windows at a time, the factors built from that batch's stretch of x and y
    # only: memory stays bounded by the batch, never a full-length copy of the recording.
    for b in range(0, starts.size, _BATCH):
        s0, s1 = starts[b : b + _BATCH], stops[b : b + _BATCH]
        x0, x1 = int(s0.min()), int(max(s1.max(), s0.min() + 1))
        left = _factors(x, x0, x1, "x")  # the x-side factor of each sum, on [x0, x1)
        inside = cols[None, :] < (s1 - s0)[:, None]
        ia = np.minimum(s0[:, None] + cols[None, :], max(n - 1, 0)) - x0
        ia = np.clip(ia, 0, left.shape[1] - 1)
        a = np.where(inside[None], left[:, ia], 0.0)  # (6, windows, width)
        del left, inside, ia
        y0 = int(s0.min()) + lo
        y1 = int(s0.max()) + lo + span
        right = _factors(y, y0, y1, "y")  # the y-side factor, zeros outside [0, n)
        ib = (s0 + lo - y0)[:, None] + np.arange(span)[None, :]
        bb = right[:, ib]  # (6, windows, span)
        del right, ib
        fa = np.fft.rfft(a, nfft, axis=-1)
        del a
        fb = np.fft.rfft(bb, nfft, axis=-1)
        del bb
        fb *= np.conj(fa)
        del fa
        c = np.fft.irfft(fb, nfft, axis=-1)[..., :n_lag]  # c[l] = sum_j a[j] b[j + l]
        del fb
        out[:, b : b + _BATCH, :] = np.moveaxis(c, (0, 1, 2), (2, 1, 0))
        del c
    out[..., 0] = np.rint(out[..., 0])  # counts are whole numbers
    return out


def _ncc(s: np.ndarray) -> np.ndarray:
    """Pearson correlation from sums (..., 6)."""
    n, sx, sy, sxx, syy, sxy = np.moveaxis(s, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / n
        vx, vy = sxx - sx * sx / n, syy - sy * sy / n
        r = cov / np.sqrt(vx * vy)
    return np.where(n > 10, r, np.nan)


def _peak(lags_s: np.ndarray, r: np.ndarray) -> tuple[float, float]:
    if not np.isfinite(r).any():
        return math.nan, math.nan
    k = int(np.nanargmax(r))
    if 0 < k < r.size - 1 and np.isfinite(r[k - 1 : k + 2]).all():
        a, b, c = r[k - 1], r[k], r[k + 1]
        den = a - 2 * b + c
        frac = 0.5 * (a - c) / den if den < 0 else 0.0
        step = lags_s[1] - lags_s[0]
        return float(lags_s[k] + frac * step), float(b - 0.25 * (a - c) * frac)
    return float(lags_s[k]), float(r[k])


def align_imu_pose(
    imus: Sequence[tuple[StreamInfo, Chunk]],
    pose: tuple[StreamInfo, Chunk],
    settings: AlignSettings | None = None,
    method: str = "xcorr",
) -> Alignment:
    """Estimate how late the pose stream is relative to the IMUs (see the module docstring).

    Parameters
    ----------
    imus : sequence of (StreamInfo, Chunk)
        IMU streams in the session clock, each naming its body segment in
        ``metadata["segment"]``.
    pose : (StreamInfo, Chunk)
        Pose keypoints (``<name>_x/_y/_z`` channels, metres) in the session clock.
    settings : AlignSettings, optional
    method : {"xcorr", "gesture"}

    Raises
    ------
    AlignmentError
        No IMU on a segment the pose stream has keypoints for, no overlap in time, no
        clap found (gesture method), or no movement to align on.
    """
    s = settings or AlignSettings()
    if method not in ("xcorr", "gesture"):
        raise StreamError(f"align_imu_pose: method must be 'xcorr' or 'gesture', got {method!r}")
    pinfo, pchunk = pose
    if pinfo.modality not in (Modality.POSE, Modality.MARKER):
        raise AlignmentError(f"stream {pinfo.name!r} is {pinfo.modality.value}, not a pose stream")
    pairs = []
    for info, chunk in imus:
        seg = info.metadata.get("segment")
        if seg in s.segment_keypoints and chunk.n > 16:
            a, b = s.segment_keypoints[seg]
            if f"{a}_x" in pinfo.channels and f"{b}_x" in pinfo.channels:
                pairs.append((info, chunk, a, b))
    if not pairs:
        raise AlignmentError(
            "no IMU sits on a segment the pose stream has keypoints for: IMUs need "
            "metadata['segment'] (e.g. 'forearm_r') listed in AlignSettings.segment_keypoints"
        )
    t0 = max(pchunk.t[0], max(p[1].t[0] for p in pairs))
    t1 = min(pchunk.t[-1], min(p[1].t[-1] for p in pairs))
    if t1 - t0 < 4 * s.max_lag_s:
        raise AlignmentError(
            f"IMU and pose overlap for {max(0.0, t1 - t0):.2f} s only; need at least {4 * s.max_lag_s:.1f} s"
        )
    grid = np.arange(math.ceil(t0 * s.rate_hz), math.floor(t1 * s.rate_hz) + 1) / s.rate_hz
    sos = signal.butter(2, s.lowpass_hz, fs=s.rate_hz, output="sos")
    pose_gap = 3.0 / pinfo.rate_hz if pinfo.rate_hz > 0 else 0.2
    max_lag = int(round(s.max_lag_s * s.rate_hz))
    lags = np.arange(-max_lag, max_lag + 1)
    lags_s = lags / s.rate_hz

    events = np.zeros(0)
    if method == "gesture":
        events = find_claps(pinfo, pchunk, s.clap_drop_m)
        events = events[(events - s.gesture_half_s >= grid[0]) & (events + s.gesture_half_s <= grid[-1])]
        if events.size == 0:
            raise AlignmentError(
                "no clap found in the pose stream (both hands coming together); record the sync "
                "gesture (calibration protocol 'sync') or use method='xcorr'"
            )
        centres = np.searchsorted(grid, events)
        half = int(round(s.gesture_half_s * s.rate_hz))
        edges = np.stack([centres - half, centres + half], 1)
    else:
        w = int(round(s.window_s * s.rate_hz))
        starts = np.arange(0, grid.size, w)
        edges = np.stack([starts, np.minimum(starts + w, grid.size)], 1)

    total = np.zeros((lags.size, edges.shape[0], 6))
    for info, chunk, a, b in pairs:
        xi = _on_grid(chunk.t, imu_angular_speed(info, chunk), grid, 3.0 / max(info.rate_hz, 1e-9))
        yp = _on_grid(pchunk.t, pose_angular_speed(pinfo, pchunk, a, b, s.lowpass_hz), grid, pose_gap)
        for v in (xi, yp):
            ok = np.isfinite(v)
            if ok.sum() > 16:
                v[ok] = signal.sosfiltfilt(sos, v[ok])  # same zero-phase filter on both: no lag added
        if method == "xcorr":  # adjacent tiles: one pass
            total += _lag_sums(xi, yp, lags, np.r_[edges[:, 0], edges[-1, 1]])
        else:  # windows may overlap (claps close together): each on its own
            for j, (a0, z0) in enumerate(edges):
                total[:, j] += _lag_sums(xi, yp, lags, np.array([a0, z0]))[:, 0]
    # windows with movement: the IMU speed varies there
    n, sx, sxx = total[max_lag, :, 0], total[max_lag, :, 1], total[max_lag, :, 3]
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.sqrt(np.maximum(sxx / n - (sx / n) ** 2, 0.0))
    moving = np.flatnonzero(np.nan_to_num(sd) > 2.0)  # deg/s
    if moving.size == 0:
        raise AlignmentError("no movement in the recording to align IMU and pose on (IMU speed SD < 2 deg/s)")
    if method == "gesture" and moving.size < 2:
        raise AlignmentError(
            "one sync gesture gives no interval for the IMU-pose lag: record the sync gesture (a clap) at "
            "least twice, or use method='xcorr' on a recording with movement"
        )
    if method == "xcorr" and moving.size < s.min_windows:
        raise AlignmentError(
            f"recording too short to estimate the IMU-pose lag: {moving.size} window(s) of {s.window_s:g} s "
            f"with movement, need at least {s.min_windows} (at least {s.min_windows * s.window_s:g} s of "
            "movement seen by both IMU and pose)"
        )
    r = _ncc(total[:, moving].sum(axis=1))
    lag, peak = _peak(lags_s, r)
    rng = np.random.default_rng(s.seed)
    boots = np.empty(s.n_boot)
    for i in range(s.n_boot):
        pick = rng.choice(moving, moving.size, replace=True)
        boots[i] = _peak(lags_s, _ncc(total[:, pick].sum(axis=1)))[0]
    boots = boots[np.isfinite(boots)]
    confidence = float(np.mean(np.abs(boots - lag) <= s.tolerance_s)) if boots.size else 0.0
    ci = (
        (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)))
        if boots.size
        else (math.nan, math.nan)
    )
    names = tuple(f"{info.name} ({info.metadata.get('segment')})" for info, *_ in pairs)
    log.info(
        "IMU-pose alignment (%s): lag %.1f ms, CI95 %.1f..%.1f ms, confidence %.2f, r=%.2f",
        method,
        lag * 1e3,
        ci[0] * 1e3,
        ci[1] * 1e3,
        confidence,
        peak,
    )
    return Alignment(lag, ci, confidence, peak, method, int(moving.size), names, lags_s, r, events)

"""The measures under the Effort factors, as pure functions of arrays (units in each).

- co-contraction of an antagonist pair of EMG envelopes: :func:`cocontraction`
  (Rudolph et al. 2000; Falconer & Winter 1985), "invalid" below the noise floor;
- path straightness: :func:`straightness` (path length over chord; Benhamou 2004
  calls its inverse the straightness index) and, for an IMU alone,
  :func:`direction_consistency` of the angular velocity;
- smoothness: :func:`sparc` (spectral arc length; Balasubramanian et al. 2012, 2015)
  and :func:`log_dimensionless_jerk` (Hogan & Sternad 2009);
- :func:`kinetic_energy` of body points with segment masses (Winter 2009, table 4.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from wearsense.errors import StreamError

__all__ = [
    "CoContraction",
    "cocontraction",
    "straightness",
    "stroke_straightness",
    "axis_linearity",
    "direction_consistency",
    "sparc",
    "log_dimensionless_jerk",
    "kinetic_energy",
    "KEYPOINT_MASS_FRACTION",
]


@dataclass(frozen=True)
class CoContraction:
    """Co-contraction of one antagonist pair over a window.

    Attributes
    ----------
    rudolph : float
        Mean over samples of (lower / higher) × (lower + higher) of the two envelopes
        (Rudolph, Axe & Snyder-Mackler 2000), in the envelopes' unit (fraction of MVC
        when normalised): 0 when one muscle is silent, 2·a when both are at a.
    falconer_winter : float
        2 · Σ min(a, b) / Σ (a + b) (Falconer & Winter 1985), 0..1: the share of the
        two muscles' activity they have in common; 1 when they are equal.
    valid : bool
        False when both muscles stayed below the noise floor (both indices are then
        NaN: the ratio of two noise levels says nothing about co-contraction).
    """

    rudolph: float
    falconer_winter: float
    valid: bool


def cocontraction(a: np.ndarray, b: np.ndarray, floor: float) -> CoContraction:
    """Co-contraction of envelopes ``a`` and ``b`` (same shape, same unit, ≥ 0).

    ``floor`` is the noise floor in the envelopes' unit: the pair is invalid unless the
    mean of ``a`` or ``b`` exceeds it.
    """
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    if a.shape != b.shape:
        raise StreamError(f"co-contraction needs envelopes of one shape, got {a.shape} and {b.shape}")
    if a.size == 0 or max(float(a.mean()), float(b.mean())) <= floor:
        return CoContraction(float("nan"), float("nan"), False)
    a = np.maximum(a, 0.0)
    b = np.maximum(b, 0.0)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    ratio = np.divide(lo, hi, out=np.zeros_like(lo), where=hi > 0)
    rud = float(np.mean(ratio * (lo + hi)))
    total = float(np.sum(a + b))
    fw = 2.0 * float(np.sum(lo)) / total if total > 0 else float("nan")
    return CoContraction(rud, fw, True)


def straightness(path: np.ndarray, min_chord_m: float = 0.0) -> float:
    """Path length over chord (≥ 1; 1 for a straight line) of ``path`` (n, 3) metres.

    NaN when fewer than two finite points or the chord is at most ``min_chord_m``
    (a point that did not travel has no direction). Rows with NaN (occluded) are skipped.
    """
    p = np.asarray(path, float)
    p = p[np.isfinite(p).all(axis=1)]
    if p.shape[0] < 2:
        return float("nan")
    chord = float(np.linalg.norm(p[-1] - p[0]))
    if chord <= max(min_chord_m, 1e-12):
        return float("nan")
    return float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum() / chord)


def stroke_straightness(path: np.ndarray, lag: int = 1, min_chord_m: float = 0.0) -> float:
    """Σ path length / Σ chord over the strokes of ``path`` (n, 3) m: the path is cut
    where it turns back (two successive ``lag``-sample displacements at more than 120°),
    so an out-and-back reach is two straight strokes (1), not one path with no chord.
    Strokes with a chord of at most ``min_chord_m`` are left out; NaN when none is left."""
    p = np.asarray(path, float)
    p = p[np.isfinite(p).all(axis=1)]
    if p.shape[0] < 2 * lag + 1:
        return straightness(p, min_chord_m)
    d = p[lag:] - p[:-lag]
    n = np.linalg.norm(d, axis=1)
    u = np.divide(d, n[:, None], out=np.zeros_like(d), where=n[:, None] > 0)
    cos = (u[lag:] * u[:-lag]).sum(axis=1)
    cuts = np.flatnonzero((cos < -0.5) & (n[lag:] > 0) & (n[:-lag] > 0)) + lag
    # one cut per turn: keep the first of each run of cut points
    if cuts.size:
        cuts = cuts[np.r_[True, np.diff(cuts) > lag]]
    bounds = np.r_[0, cuts, p.shape[0] - 1]
    length = chord = 0.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        seg = p[a : b + 1]
        c = float(np.linalg.norm(seg[-1] - seg[0]))
        if seg.shape[0] >= 2 and c > max(min_chord_m, 1e-12):
            length += float(np.linalg.norm(np.diff(seg, axis=0), axis=1).sum())
            chord += c
    return length / chord if chord > 0 else float("nan")


def direction_consistency(omega: np.ndarray) -> float:
    """|Σ ω| / Σ |ω| of angular velocities ``omega`` (n, 3): 1 for rotation about one
    fixed axis in one sense, lower as the axis wanders. Invariant to a fixed rotation of
    the sensor on its segment. NaN with no rotation."""
    w = np.asarray(omega, float)
    total = float(np.linalg.norm(w, axis=1).sum()) if w.size else 0.0
    if total <= 0:
        return float("nan")
    return float(np.linalg.norm(w.sum(axis=0)) / total)


def axis_linearity(vectors: np.ndarray) -> tuple[float, float]:
    """(mean |v|, σ₁² / Σσ²) of vectors ``vectors`` (n, 3): the share of their energy
    along their principal axis (1 when all lie on one line, either sense; 1/3 when
    spread evenly in 3-D; NaN with fewer than 3 or all zero). Invariant to a fixed
    rotation of the frame (an IMU's mount). Used on a hand's displacements and an
    IMU's angular velocity."""
    v = np.asarray(vectors, float)
    v = v[np.isfinite(v).all(axis=1)] if v.ndim == 2 else v.reshape(0, 3)
    if v.shape[0] < 3:
        return (float(np.linalg.norm(v, axis=1).mean()) if v.size else 0.0), float("nan")
    sv2 = np.linalg.svd(v, compute_uv=False) ** 2
    total = float(sv2.sum())
    return float(np.linalg.norm(v, axis=1).mean()), (float(sv2[0] / total) if total > 0 else float("nan"))


def sparc(
    speed: np.ndarray,
    rate_hz: float,
    cutoff_hz: float = 10.0,
    amp_threshold: float = 0.05,
    pad_level: int = 4,
) -> float:
    """Spectral arc length of a speed profile (Balasubramanian et al. 2012; the
    adaptive cut-off of Balasubramanian, Melendez-Calderon, Roby-Brami & Burdet 2015).

    The arc length of the normalised Fourier magnitude spectrum of ``speed`` (zero-padded
    to 2^(ceil(log2 n) + ``pad_level``) points) from 0 Hz up to the last frequency below
    ``cutoff_hz`` where the magnitude is above ``amp_threshold``, as
    −Σ sqrt((Δf/f_c)² + ΔV²). Negative; closer to 0 is smoother (a single bell ≈ −1.4).
    NaN for a profile with no motion.
    """
    v = np.asarray(speed, float)
    v = v[np.isfinite(v)]
    if v.size < 4 or not np.any(v > 0):
        return float("nan")
    nfft = int(2 ** (np.ceil(np.log2(v.size)) + pad_level))
    f = np.arange(nfft) * rate_hz / nfft
    mag = np.abs(np.fft.fft(v, nfft))
    mag = mag / mag.max()
    keep = f <= cutoff_hz
    f_sel, m_sel = f[keep], mag[keep]
    above = np.flatnonzero(m_sel >= amp_threshold)
    if above.size == 0:
        return float("nan")
    f_sel, m_sel = f_sel[: above[-1] + 1], m_sel[: above[-1] + 1]
    if f_sel.size < 2:
        return float("nan")
    df = np.diff(f_sel) / (f_sel[-1] - f_sel[0])
    return float(-np.sum(np.sqrt(df**2 + np.diff(m_sel) ** 2)))


def log_dimensionless_jerk(speed: np.ndarray, rate_hz: float) -> float:
    """−ln( (T³ / v_peak²) ∫ (d²v/dt²)² dt ) of a speed profile (Hogan & Sternad 2009;
    Balasubramanian et al. 2012): closer to 0 is smoother. NaN with no motion."""
    v = np.asarray(speed, float)
    if v.size < 5 or not np.nanmax(v) > 0:
        return float("nan")
    dt = 1.0 / rate_hz
    duration = (v.size - 1) * dt
    jerk = np.diff(v, 2) / dt**2
    dj = duration**3 / float(np.nanmax(v)) ** 2 * float(np.nansum(jerk**2) * dt)
    return float(-np.log(dj)) if dj > 0 else float("nan")


#: Share of body mass carried by each pose keypoint (Winter 2009, table 4.1: each
#: segment's mass split between the keypoints at its ends; sums to 1 over the
#: 20-point skeleton of the sim and most camera models).
KEYPOINT_MASS_FRACTION: dict[str, float] = {
    "pelvis": 0.142,
    "thorax": 0.216,
    "neck": 0.04,
    "head": 0.041,
    "shoulder_r": 0.014,
    "elbow_r": 0.022,
    "wrist_r": 0.011,
    "hand_r": 0.006,
    "shoulder_l": 0.014,
    "elbow_l": 0.022,
    "wrist_l": 0.011,
    "hand_l": 0.006,
    "hip_r": 0.05,
    "knee_r": 0.073,
    "ankle_r": 0.033,
    "toe_r": 0.008,
    "hip_l": 0.05,
    "knee_l": 0.073,
    "ankle_l": 0.033,
    "toe_l": 0.008,
}


def kinetic_energy(velocities: np.ndarray, masses_kg: np.ndarray) -> np.ndarray:
    """½ Σ m_i |v_i|² (J) per row of ``velocities`` (n, k, 3) m/s with ``masses_kg`` (k,).
    Occluded points (NaN) count as still."""
    v = np.asarray(velocities, float)
    sq = np.nan_to_num((v * v).sum(axis=-1), nan=0.0)
    return 0.5 * sq @ np.asarray(masses_kg, float)

"""Baselines every motion-model number is read against (numpy only, no torch).

- :func:`zero_velocity` — repeat the newest pose frame the camera delivered (the frame
  that has *arrived*, with its capture time; occluded frames skipped);
- :func:`constant_velocity` — extrapolate the last two arrived frames, using their
  capture times, to ``t + h``;
- :class:`RidgeBaseline` — ridge regression from the same windows of inputs a
  condition sees (camera history, IMU, EMG envelope and pre-activation events) to the
  pose at every horizon, fitted on the training split with its penalty chosen on the
  validation split.

The camera delivers keypoints (sim, XDF) or joint angles (emg2pose). Where it delivers
keypoints, the zero- and constant-velocity *joint angles* are the true angles at the
capture times of those frames: an ideal inverse kinematics of a noise-free camera with
the real latency, a stronger reference than any real camera gives (skill against it is
conservative). Their keypoints are the camera's own (noisy) keypoints.

Every baseline returns :class:`Prediction` (``angles`` (K, H, J) deg, ``kp`` (K, H, Q, 3)
m or None), the fields :meth:`FusionModel.predict_take` returns, so the evaluation scores
both the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from wearsense.errors import ConfigError
from wearsense.fusion.deadband import apply_deadband, fit_deadbands
from wearsense.fusion.frames import CONDITIONS, Take

__all__ = [
    "Prediction",
    "CameraFrames",
    "camera_frames",
    "zero_velocity",
    "constant_velocity",
    "ridge_features",
    "RidgeBaseline",
    "output_groups",
    "group_errors",
    "choose_per_group",
    "pooled_by_vector",
    "pose_is_angles",
    "RunningFill",
    "GaussianFill",
]

#: step lags (in steps) of the differences the ridge features hold
RIDGE_LAGS = (3, 6, 12)
#: capture times closer than this (s) are one frame (pose_age is float32)
_SAME_FRAME_S = 5e-4
#: penalties tried on the validation split (relative to each feature's variance)
RIDGE_ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


@dataclass
class Prediction:
    """Predicted pose at every horizon: ``angles`` (K, H, J) deg, ``kp`` (K, H, Q, 3) m or None."""

    angles: np.ndarray
    kp: np.ndarray | None = None
    surprise: np.ndarray | None = None


def pose_is_angles(take: Take) -> bool:
    """Whether the take's pose frames are joint angles (the targets' own channels) rather
    than keypoints."""
    names = take.names or {}
    if names.get("pose") is not None and names.get("pose") == names.get("joints"):
        return True
    return take.y_kp is None and take.pose.shape[1] == take.y_angles.shape[2]


def _pose_as_kp(take: Take) -> bool:
    if take.y_kp is None or pose_is_angles(take):
        return False
    return take.pose.shape[1] == 3 * take.y_kp.shape[2]


@dataclass
class CameraFrames:
    """The newest and the previous *usable* camera frames at every step.

    ``capture`` (K,) and ``prev_capture`` (K,) are capture times (s, host clock; NaN:
    none yet); ``pose``/``prev_pose`` (K, D) their values, forward-filled over occluded
    steps. Before the first frame arrives, the first frame is used (a take's first
    steps only).
    """

    capture: np.ndarray
    pose: np.ndarray
    prev_capture: np.ndarray
    prev_pose: np.ndarray


def camera_frames(take: Take, until_s: float | None = None) -> CameraFrames:
    """The camera frames a live system holds at each step (optionally only those seen by ``until_s``)."""
    k = len(take)
    cap = take.t - take.pose_age.astype(np.float64)
    ok = take.pose_ok.copy()
    if until_s is not None:
        ok &= take.t <= until_s
    out_c = np.full(k, np.nan)
    out_p = np.zeros(take.pose.shape, dtype=np.float64)
    prev_c = np.full(k, np.nan)
    prev_p = np.zeros(take.pose.shape, dtype=np.float64)
    cur_c, cur_p = np.nan, None
    pc, pp = np.nan, None
    for i in range(k):
        # a new frame: its capture time differs by more than pose_age's float32 rounding
        if ok[i] and not abs(cap[i] - cur_c) <= _SAME_FRAME_S:
            if cur_p is not None:
                pc, pp = cur_c, cur_p
            cur_c, cur_p = cap[i], take.pose[i].astype(np.float64)
        if cur_p is not None:
            out_c[i], out_p[i] = cur_c, cur_p
            if pp is not None:
                prev_c[i], prev_p[i] = pc, pp
    first = np.flatnonzero(np.isfinite(out_c))
    if len(first) == 0:
        raise ConfigError(
            f"take {take.name!r}: no usable camera frame (pose_ok is false everywhere); "
            "the pose baselines need at least one"
        )
    f = first[0]
    out_c[:f], out_p[:f] = out_c[f], out_p[f]
    return CameraFrames(out_c, out_p, prev_c, prev_p)


def _truth_at(take: Take, when: np.ndarray, what: str) -> np.ndarray:
    """True angles (K, J) or keypoints (K, Q, 3) at times ``when`` (interpolated on the step grid)."""
    h0 = take.horizon_index(0)
    if what == "angles":
        y = np.unwrap(take.y_angles[:, h0].astype(np.float64), period=360.0, axis=0)
    else:
        y = take.y_kp[:, h0].reshape(len(take), -1).astype(np.float64)
    w = np.clip(when, take.t[0], take.t[-1])
    out = np.empty((len(w), y.shape[1]))
    for j in range(y.shape[1]):
        out[:, j] = np.interp(w, take.t, y[:, j])
    if what == "angles":
        return (out + 180.0) % 360.0 - 180.0
    return out.reshape(len(w), *take.y_kp.shape[2:])


def _extrapolate(
    take: Take, p1: np.ndarray, c1: np.ndarray, p0: np.ndarray | None, c0: np.ndarray | None
) -> np.ndarray:
    """``p1 + v (t + h - c1)`` per horizon (v = 0 without p0), shape (K, H, ...)."""
    h_s = np.asarray(take.spec.horizons_ms, dtype=np.float64) / 1000.0
    extra = (1,) * (p1.ndim - 1)
    out = np.repeat(p1[:, None], len(h_s), axis=1)
    if p0 is None:
        return out
    gap = c1 - c0
    have = np.isfinite(gap) & (gap > 0)
    v = np.zeros_like(p1)
    diff = p1 - p0
    v[have] = diff[have] / gap[have].reshape(-1, *extra)
    ahead = (take.t[:, None] + h_s[None, :]) - c1[:, None]  # (K, H), s
    return out + v[:, None] * ahead.reshape(*ahead.shape, *extra)


def _velocity_baseline(take: Take, moving: bool, frames: CameraFrames | None = None) -> Prediction:
    fr = frames if frames is not None else camera_frames(take)
    c1 = fr.capture
    c0 = fr.prev_capture if moving else None
    if pose_is_angles(take):
        p1 = fr.pose
        p0 = fr.prev_pose if moving else None
        ang = _extrapolate(take, p1, c1, p0, c0)
    else:
        p1 = _truth_at(take, c1, "angles")
        p0 = _truth_at(take, np.where(np.isfinite(fr.prev_capture), fr.prev_capture, c1), "angles")
        # unwrap the pair so a step across +-180 deg is a small velocity
        p0 = p1 - ((p1 - p0 + 180.0) % 360.0 - 180.0)
        ang = _extrapolate(take, p1, c1, p0 if moving else None, c0)
    ang = (ang + 180.0) % 360.0 - 180.0
    kp = None
    if take.y_kp is not None:
        q = take.y_kp.shape[2]
        if _pose_as_kp(take):
            k1 = fr.pose.reshape(len(take), q, 3)
            k0 = fr.prev_pose.reshape(len(take), q, 3)
        else:
            k1 = _truth_at(take, c1, "kp")
            k0 = _truth_at(take, np.where(np.isfinite(fr.prev_capture), fr.prev_capture, c1), "kp")
        kp = _extrapolate(take, k1, c1, k0 if moving else None, c0)
    return Prediction(ang.astype(np.float32), None if kp is None else kp.astype(np.float32))


def zero_velocity(take: Take) -> Prediction:
    """Repeat the newest usable camera frame at every horizon (see the module docstring)."""
    return _velocity_baseline(take, moving=False)


def constant_velocity(take: Take) -> Prediction:
    """Extrapolate the last two usable camera frames (velocity from their capture times) to ``t + h``."""
    return _velocity_baseline(take, moving=True)


def _lagged(x: np.ndarray, lag: int) -> np.ndarray:
    """``x[k] - x[k - lag]`` (zero for the first ``lag`` steps)."""
    out = np.zeros_like(x)
    if lag < len(x):
        out[lag:] = x[lag:] - x[:-lag]
    return out


#: every feature block, in the order of the feature vector
BLOCKS = ("one", "camera", "start_pose", "imu_motion", "imu_level", "emg", "events")


def _blocks_of(condition: str, imu_level: bool = True) -> tuple[str, ...]:
    """The feature blocks a condition sees, in order (``imu_level``: with the IMUs' tilt
    and accelerometer levels, not only their motion)."""
    if condition not in CONDITIONS:
        raise ConfigError(f"condition {condition!r}: choose from {', '.join(CONDITIONS)}")
    sees = CONDITIONS[condition]
    names = ["one", "camera" if "pose" in sees else "start_pose"]
    if "imu" in sees:
        names += ["imu_motion"] + (["imu_level"] if imu_level else [])
    names += [m for m in ("emg", "events") if m in sees]
    return tuple(names)


def _feature_blocks(take: Take, names: Iterable[str]) -> dict[str, np.ndarray]:
    """The named feature blocks (K, F_block) of a take (see :func:`ridge_features`)."""
    k = len(take)
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name == "one":
            out[name] = np.ones((k, 1))
        elif name == "camera":
            fr = camera_frames(take)
            age = (take.t - fr.capture)[:, None]
            out[name] = np.concatenate([fr.pose, age] + [_lagged(fr.pose, lag) for lag in RIDGE_LAGS], axis=1)
        elif name == "start_pose":
            out[name] = camera_frames(take, until_s=take.t[0] + take.spec.pose_start_s).pose
        elif name in ("imu_motion", "imu_level"):
            inv = np.where(take.imu_ok[:, :, None], _imu_invariant(take.imu), np.nan)
            if name == "imu_level":  # tilt and accelerometer: where each sensor is (mount-dependent)
                out[name] = inv[:, :, [0, 1, 2, 6, 7, 8]].reshape(k, -1)
            else:  # gyro and every feature's changes: how each sensor moves
                flat = inv.reshape(k, -1)
                out[name] = np.concatenate([inv[:, :, 3:6].reshape(k, -1)]
                                           + [_lagged(flat, lag) for lag in RIDGE_LAGS], axis=1)
        elif name == "emg":
            emg = np.where(take.emg_ok[:, :, None], take.emg, np.nan).astype(np.float64)
            mean, last = emg.mean(axis=2), emg[:, :, -1]
            out[name] = np.concatenate([mean, last] + [_lagged(mean, lag) for lag in RIDGE_LAGS], axis=1)
        elif name == "events":
            c = take.emg.shape[1]
            trace = np.zeros((k, c))
            if take.events.shape[1]:
                ch = take.events[:, :, 0].astype(int)
                w = np.where(take.events_ok, np.exp(-take.events[:, :, 1] / 0.1), 0.0)
                for e in range(take.events.shape[1]):
                    valid = take.events_ok[:, e] & (ch[:, e] >= 0) & (ch[:, e] < c)
                    rows = np.flatnonzero(valid)
                    np.add.at(trace, (rows, ch[rows, e]), w[rows, e])
            out[name] = trace
    return out


class RunningFill:
    """Mean imputation of missing feature values (NaN) while fitting in one streaming pass.

    A sensor that is not there (``imu_ok``/``emg_ok`` false: unplugged, out of range,
    not worn) is *unknown*, not zero: a raw zero is far outside anything seen (an
    accelerometer reading no gravity, a sensor tilted nowhere) and drives a linear map
    far off. Missing values are replaced by the feature's mean over the training steps
    where it was present, so a missing sensor contributes what an average step of it
    would. While fitting, that mean is the running one (the takes so far and the current
    one); :attr:`mean` is the final one, used at prediction time.
    """

    def __init__(self) -> None:
        self.sum: np.ndarray | None = None
        self.count: np.ndarray | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x`` (N, F) with NaN where missing → a copy with the running means filled in."""
        seen = np.isfinite(x)
        if self.sum is None:
            self.sum, self.count = np.zeros(x.shape[1]), np.zeros(x.shape[1])
        self.sum += np.where(seen, x, 0.0).sum(axis=0)
        self.count += seen.sum(axis=0)
        if seen.all():
            return x
        return np.where(seen, x, self.mean)

    @property
    def mean(self) -> np.ndarray:
        """Per feature, the mean over present values so far (0 where never present)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 0, self.sum / np.maximum(self.count, 1), 0.0)


class GaussianFill:
    """Missing features filled with their conditional mean given the present ones.

    Filling a lost sensor with its training mean is right when a few are lost, and
    wrong when most are: a map fitted on twelve IMUs, with eleven at their mean, leans
    on signals that say nothing, and does worse than the camera alone. Under a Gaussian
    model of the standardised features (mean 0, precision ``P``, from the training
    covariance) the best linear guess of the missing ones ``m`` from the present ones
    ``o`` is ``E[z_m | z_o] = -P_mm^-1 P_mo z_o``; a linear map applied to it equals the
    map refitted on the present features alone (for least squares on the training
    population), without refitting. The solve is done once per pattern of missing
    features and cached (a sensor lost for a while is one pattern; its return, a dozen).
    ``precision``: (F, F), ``inv(corr + ridge I)`` of the standardised features (the
    ridge keeps it well conditioned, and shrinks the guesses a little towards the mean).
    """

    #: added to the standardised covariance's diagonal before inverting it
    RIDGE = 0.05

    def __init__(self, precision: np.ndarray) -> None:
        self.precision = np.asarray(precision, dtype=np.float64)
        self._cache: dict[bytes, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    @classmethod
    def from_covariance(cls, corr: np.ndarray) -> "GaussianFill":
        """From the covariance of the standardised features (a correlation-like matrix)."""
        a = np.asarray(corr, dtype=np.float64)
        return cls(np.linalg.inv(a + cls.RIDGE * np.eye(len(a))))

    def __call__(self, z: np.ndarray, use: np.ndarray | None = None) -> np.ndarray:
        """``z`` (N, F) standardised, NaN where missing → a copy with the missing values
        among ``use`` (bool (F,); default all) filled from the present values among
        ``use``. Features outside ``use`` are neither filled nor conditioned on."""
        use = np.ones(z.shape[1], bool) if use is None else np.asarray(use, bool)
        miss = ~np.isfinite(z) & use
        rows = np.flatnonzero(miss.any(axis=1))
        if not len(rows):
            return z
        out = z.copy()
        sub = miss[rows]
        # runs of rows with one pattern (a sensor stays lost for a while): O(N F), no sorting
        new = np.ones(len(rows), bool)
        new[1:] = (np.diff(rows) != 1) | (sub[1:] != sub[:-1]).any(axis=1)
        starts = np.flatnonzero(new)
        for a, b in zip(starts, np.append(starts[1:], len(rows))):
            pat = sub[a]
            key = np.packbits(pat).tobytes() + np.packbits(use).tobytes()
            if key not in self._cache:
                if len(self._cache) > 256:
                    self._cache.clear()
                o = np.flatnonzero(use & ~pat)
                rest = np.flatnonzero(~(use & ~pat))  # everything not conditioned on
                w = -np.linalg.solve(self.precision[np.ix_(rest, rest)], self.precision[np.ix_(rest, o)])
                m = np.flatnonzero(pat)
                self._cache[key] = (o, m, w[np.searchsorted(rest, m)])
            o, m, w = self._cache[key]
            r = rows[a:b]
            out[np.ix_(r, m)] = z[np.ix_(r, o)] @ w.T
        return out


def pooled_by_vector(var: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Each feature's variance replaced by the mean over the features of its vector.

    The ridge penalises every feature relative to its variance. Per axis of a sensor,
    that favours the axes that barely moved in training: in segment axes a trunk hardly
    rolls in everyday movement, so its roll rate gets a small penalty and a large
    weight, and a movement family that does roll (a spiral turn) is then extrapolated far.
    One variance per vector (the three axes of a gyro, an accelerometer, an up
    direction, or of their changes) makes the penalty, and so the fit, turn with the
    sensor: it no longer depends on how the sensor's axes are turned.
    ``vectors``: a label per feature (the features of one vector share it).
    """
    _, inv = np.unique(vectors, return_inverse=True)
    return (np.bincount(inv, weights=var) / np.bincount(inv))[inv]


def _imu_invariant(imu: np.ndarray) -> np.ndarray:
    """IMU features that do not depend on the mover's heading in the room: (..., 9).

    The orientation quaternion (w, x, y, z; sensor to world) becomes the direction of
    "up" in the sensor frame (its tilt; the heading about the vertical is dropped, as the
    pelvis-relative keypoints drop it), beside the gyro and the accelerometer.
    """
    q = imu[..., :4].astype(np.float64)
    w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    up = np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], axis=-1)
    return np.concatenate([up, imu[..., 4:].astype(np.float64)], axis=-1)


def ridge_features(take: Take, condition: str, imu_level: bool = True) -> np.ndarray:
    """Input features (K, F) the ridge baseline sees under ``condition`` (causal: step k uses steps <= k).

    Camera (``pose``): the newest usable frame, its age and its changes over
    :data:`RIDGE_LAGS` steps; conditions without the camera get the frame held from the
    first ``pose_start_s`` instead (the posture to start from), as the model does.
    IMU (nothing that depends on the heading): its *motion* — the gyro and the changes
    of tilt, gyro and accelerometer over the lags — and, with ``imu_level``, its *level*
    — the newest tilt and accelerometer. The level depends on how each sensor sits on
    its segment (a few degrees that differ from mover to mover); the motion much less.
    EMG: the envelope patch's mean and newest value per channel, their changes, and
    per channel an ``exp(-age / 0.1 s)`` trace of the pre-activation events. Missing
    (not ok) IMU and EMG values are NaN, and so is a change with a missing end: the
    fit fills them with the training mean (:class:`RunningFill`), the prediction with
    their conditional mean given the features present (:class:`GaussianFill`).
    The first column is a constant 1.
    """
    names = _blocks_of(condition, imu_level)
    blocks = _feature_blocks(take, names)
    return np.concatenate([blocks[n] for n in names], axis=1)


def _filled(x: np.ndarray, fill: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Features with missing values (NaN) replaced by ``fill``, clipped to [lo, hi]."""
    return np.clip(np.where(np.isfinite(x), x, fill), lo, hi)


def output_groups(n_h: int, n_j: int, n_q: int) -> list[np.ndarray]:
    """Columns of the flattened outputs (angles (H, J), then keypoints (H, Q, 3)) per
    group: a joint's angles at every horizon, or, without joint angles, a keypoint's
    coordinates at every horizon."""
    if n_j:
        return [np.arange(n_h) * n_j + g for g in range(n_j)]
    return [(np.arange(n_h)[:, None] * n_q * 3 + g * 3 + np.arange(3)[None, :]).ravel() for g in range(n_q)]


def group_errors(col_err: np.ndarray, angles: bool) -> np.ndarray:
    """Per-group mean absolute errors from per-column ones at one horizon (a joint's angle
    column, or the mean of a keypoint's three coordinate columns)."""
    return col_err if angles else col_err.reshape(-1, 3).mean(axis=1)


def choose_per_group(errs: np.ndarray, groups: list[np.ndarray], *per_candidate: list[np.ndarray]
                     ) -> tuple[int, np.ndarray, list[np.ndarray]]:
    """Per output group, the candidate with the lowest validation error.

    ``errs`` (candidates, groups); each of ``per_candidate`` a list (one per candidate) of
    arrays with the outputs on the last axis. Returns the candidate best on average (it
    fills the columns outside every group), the best candidate per group, and each of
    ``per_candidate`` assembled column by column.
    """
    overall = int(np.argmin(errs.mean(axis=1)))
    best = errs.argmin(axis=0)
    out = []
    for arrays in per_candidate:
        a = arrays[overall].copy()
        for g, cols in enumerate(groups):
            a[..., cols] = arrays[best[g]][..., cols]
        out.append(a)
    return overall, best, out


def _targets(take: Take) -> tuple[np.ndarray, np.ndarray]:
    """Flattened targets (K, H*J [+ H*Q*3]) and the rows where every target exists."""
    k = len(take)
    ang = np.unwrap(take.y_angles.astype(np.float64), period=360.0, axis=0).reshape(k, -1)
    parts = [ang]
    if take.y_kp is not None:
        parts.append(take.y_kp.reshape(k, -1).astype(np.float64))
    return np.concatenate(parts, axis=1), take.y_ok.all(axis=1)


class RidgeBaseline:
    """Ridge regression from :func:`ridge_features` to the pose at every horizon, one per condition.

    Fitted in one streaming pass over the training takes (sufficient statistics only),
    features standardised with the training statistics. Chosen on the validation split
    (lowest error at the 100 ms horizon), never on test, **per joint** (per keypoint where
    the data has no joint angles): the penalty among :data:`RIDGE_ALPHAS`, for conditions
    with IMUs whether to use their level beside their motion (``imu_level``; see
    :func:`ridge_features`), and for conditions with the camera and wearables whether
    the joint is better served by the camera's features alone — a joint no sensor sees
    gains nothing from the wearables and can lose by them on new movers. ``choices``
    holds the pick per joint. Inputs are clipped to the range seen in training, so a
    posture never met there (a sensor tilted as no training mover's was) cannot drive
    the linear prediction far outside the training poses. A sensor that is missing (its
    ``ok`` false) reads as its conditional mean given the features present
    (:class:`GaussianFill`), never as zero. The predicted motion from horizon 0 passes a
    deadband chosen on the validation takes (:mod:`~wearsense.fusion.deadband`):
    ``deadband`` holds its thresholds, angles (H, J) deg and keypoints (H, Q) m.
    """

    def __init__(self, condition: str) -> None:
        if condition not in CONDITIONS:
            raise ConfigError(f"condition {condition!r}: choose from {', '.join(CONDITIONS)}")
        self.condition = condition
        self.alpha: float | None = None
        self.imu_level = True
        self.coef: np.ndarray | None = None
        self.intercept: np.ndarray | None = None
        self.lo: np.ndarray | None = None
        self.hi: np.ndarray | None = None
        self.fill: np.ndarray | None = None  # a missing (NaN) feature's value: its training mean
        self.scale: np.ndarray | None = None  # the features' training scales (one per sensor vector)
        self.gauss: GaussianFill | None = None  # missing features from the present ones
        self.deadband: dict[str, np.ndarray | None] = {"angles": None, "kp": None}
        self._shape: tuple | None = None

    def fit(self, train: Iterable[Take], val: Iterable[Take] = ()) -> "RidgeBaseline":
        """Fit on the training takes; choose the penalty and the IMU features on the validation takes."""
        self.__dict__.update(RidgeBaseline.fit_many([self.condition], train, val)[self.condition].__dict__)
        return self

    @staticmethod
    def fit_many(conditions: Iterable[str], train: Iterable[Take], val: Iterable[Take] = ()
                 ) -> dict[str, "RidgeBaseline"]:
        """One ridge per condition from a single pass over the takes.

        Every condition's features are a subset of the union of their blocks, so the
        sufficient statistics of the union (and its per-feature range) are gathered once
        and each condition's are sub-matrices of them.
        """
        conditions = list(conditions)
        variants = {c: [_blocks_of(c, lv) for lv in ((True, False) if "imu" in CONDITIONS[c] else (True,))]
                    for c in conditions}
        union = [n for n in BLOCKS if any(n in v for vs in variants.values() for v in vs)]
        g = b = lo = hi = None
        n = 0
        shape = None
        spans: dict[str, slice] = {}
        fill = RunningFill()
        for take in train:
            blocks = _feature_blocks(take, union)
            if not spans:
                at = 0
                for name in union:
                    spans[name] = slice(at, at + blocks[name].shape[1])
                    at += blocks[name].shape[1]
            y, rows = _targets(take)
            x = fill(np.concatenate([blocks[name] for name in union], axis=1)[rows])
            y = y[rows]
            if not len(x):
                continue
            if g is None:
                g, b = np.zeros((x.shape[1], x.shape[1])), np.zeros((x.shape[1], y.shape[1]))
                lo, hi = np.full(x.shape[1], np.inf), np.full(x.shape[1], -np.inf)
                shape = (take.y_angles.shape[1:], None if take.y_kp is None else take.y_kp.shape[1:])
            g += x.T @ x
            b += x.T @ y
            lo, hi = np.minimum(lo, x.min(axis=0)), np.maximum(hi, x.max(axis=0))
            n += len(x)
        if g is None or n < 10:
            raise ConfigError("RidgeBaseline.fit: the training split holds no usable steps; check the data")
        # the three axes of one sensor's vector share a variance (so one penalty): see pooled_by_vector
        vectors = np.arange(g.shape[0])
        for name in ("imu_motion", "imu_level"):
            if name in spans:
                sl = spans[name]
                vectors[sl] = sl.start + np.arange(sl.stop - sl.start) // 3 * 3
        val = list(val)
        val_x = None
        if val:
            vb = [_feature_blocks(t, union) for t in val]
            val_x = [_filled(np.concatenate([blk[name] for name in union], axis=1), fill.mean, lo, hi)
                     for blk in vb]
        out = {}
        for c in conditions:
            full = _blocks_of(c, True)
            fidx = np.concatenate([np.arange(spans[name].start, spans[name].stop) for name in full])
            model = RidgeBaseline(c)
            model._shape = shape
            model.imu_level = "imu_level" in full
            model.lo, model.hi = lo[fidx[1:]], hi[fidx[1:]]
            model.fill = fill.mean[fidx[1:]]
            # the conditional fill of missing sensors, from the covariance of all the condition's features
            cf = fidx[1:]
            mu_c = g[0, cf] / n
            cov = g[np.ix_(cf, cf)] / n - np.outer(mu_c, mu_c)
            sd_c = np.sqrt(pooled_by_vector(np.maximum(np.diag(cov), 1e-12), vectors[cf]))
            model.scale = sd_c
            model.gauss = GaussianFill.from_covariance(cov / np.outer(sd_c, sd_c))
            where = {int(i): k for k, i in enumerate(fidx)}
            cands = list(variants[c])
            if "pose" in CONDITIONS[c] and c != "camera":
                cands.append(_blocks_of("camera"))  # a joint may do best with the camera alone
            val_full = None if val_x is None else [x[:, fidx] for x in val_x]
            val_xy = model._val_data(val, val_full)
            fits = []
            for names in cands:
                idx = np.concatenate([np.arange(spans[name].start, spans[name].stop) for name in names])
                gc, bc = g[np.ix_(idx, idx)], b[idx]
                mu = gc[0, 1:] / n
                ybar = bc[0] / n
                sxx = gc[1:, 1:] - n * np.outer(mu, mu)
                sxy = bc[1:] - n * np.outer(mu, ybar)
                var = pooled_by_vector(np.maximum(np.diag(sxx) / n, 1e-12), vectors[idx[1:]])
                rows = np.array([where[int(i)] - 1 for i in idx[1:]])
                for alpha in (RIDGE_ALPHAS if val_xy is not None else (RIDGE_ALPHAS[1],)):
                    a = sxx + alpha * n * np.diag(var)
                    a[np.diag_indices_from(a)] += 1e-9 * n
                    coef = np.zeros((len(fidx) - 1, sxy.shape[1]))
                    coef[rows] = np.linalg.solve(a, sxy)
                    intercept = ybar - mu @ coef[rows]
                    err = model._val_errors(coef, intercept, *val_xy) if val_xy is not None else None
                    fits.append((names, alpha, coef, intercept, err))
            model._assemble(fits, val_xy)
            model._fit_deadband(val)
            out[c] = model
        return out

    def _fit_deadband(self, val: list[Take]) -> None:
        """The motion deadband's thresholds, from the predictions on the validation takes."""
        if not val:
            return
        tau_angles, tau_kp = fit_deadbands([self.predict_take(t) for t in val], val)
        self.deadband = {"angles": tau_angles, "kp": tau_kp}

    def _assemble(self, fits: list, val_xy) -> None:
        """Per output group (see :func:`output_groups`), the candidate — feature set and
        penalty — with the lowest validation error at 100 ms; the other outputs (keypoints
        beside angles) take the candidate best on average."""
        if val_xy is None:
            names, alpha, coef, intercept, _ = fits[0]
            self.coef, self.intercept, self.alpha, self.choices = coef, intercept, alpha, {}
            return
        (hj, kq) = self._shape
        groups = output_groups(hj[0], hj[1], kq[1] if kq is not None else 0)
        overall, best, (coef, intercept) = choose_per_group(
            np.array([f[4] for f in fits]), groups, [f[2] for f in fits], [f[3] for f in fits])
        self.choices = {g: ("+".join(n for n in fits[b][0] if n != "one"), fits[b][1])
                        for g, b in enumerate(best)}
        self.coef, self.intercept, self.alpha = coef, intercept, fits[overall][1]

    @staticmethod
    def _val_errors(coef, intercept, x, y, cols, angles) -> np.ndarray:
        """Mean absolute validation error at 100 ms per output group (joint, or keypoint)."""
        d = x @ coef[:, cols] + intercept[cols] - y
        d = np.abs((d + 180.0) % 360.0 - 180.0) if angles else np.abs(d)
        return group_errors(d.mean(axis=0), angles)

    def _val_data(self, val: list[Take], features: list[np.ndarray] | None = None):
        """Validation features, 100 ms targets, their columns, whether those are angles (None: no val).

        The joint angles at 100 ms, or the keypoints where the data has no joint angles.
        """
        if not val:
            return None
        h = val[0].horizon_index(100)
        n_h, j = val[0].y_angles.shape[1:]
        xs, ys = [], []
        for i, take in enumerate(val):
            ok = take.y_ok[:, h]
            x = features[i] if features is not None else ridge_features(take, self.condition, self.imu_level)
            xs.append(x[ok, 1:])
            ys.append((take.y_angles[ok, h] if j else take.y_kp[ok, h].reshape(int(ok.sum()), -1))
                      .astype(np.float64))
        y = np.concatenate(ys)
        w = j if j else y.shape[1]
        cols = slice(h * w, (h + 1) * w)  # angles first; without angles the keypoints start at 0
        return np.concatenate(xs), y, cols, bool(j)

    def predict_take(self, take: Take, condition: str | None = None) -> Prediction:
        """Predictions for every step of ``take`` (``condition`` must be the one fitted)."""
        if self.coef is None:
            raise ConfigError("RidgeBaseline.predict_take before fit(); fit it on the training takes first")
        if condition is not None and condition != self.condition:
            raise ConfigError(f"this ridge baseline was fitted for {self.condition!r}, not {condition!r}")
        x = ridge_features(take, self.condition, self.imu_level)[:, 1:]
        if self.gauss is not None and not np.isfinite(x).all():
            x = self.gauss((x - self.fill) / self.scale) * self.scale + self.fill
        if self.lo is not None:
            x = _filled(x, self.fill, self.lo, self.hi)
        y = x @ self.coef + self.intercept
        (hj, kq) = self._shape
        k = len(take)
        n_ang = int(np.prod(hj))
        ang = apply_deadband(y[:, :n_ang].reshape(k, *hj), self.deadband["angles"], angles=True)
        ang = (ang + 180.0) % 360.0 - 180.0
        kp = y[:, n_ang:].reshape(k, *kq) if kq is not None else None
        if kp is not None:
            kp = apply_deadband(kp, self.deadband["kp"], angles=False)
        return Prediction(ang.astype(np.float32), None if kp is None else kp.astype(np.float32))

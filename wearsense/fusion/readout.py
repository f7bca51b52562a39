"""The fusion model's linear read-out: a ridge regression inside the model, fitted in closed form.

A deep model trained for minutes on a CPU does not reach, on its own, what a linear
map of the same inputs gives exactly (the evaluation showed it: see docs/fusion.md).
So the model's outputs are a linear read-out of a few causal features plus what the
transformer adds: the read-out is fitted first, in closed form (ridge, per condition),
and the transformer's heads start at zero, so training begins from the linear answer
and only has to learn what the linear one cannot.

Features per step (normalised units; a value the condition does not see is 0; a sensor
that is missing reads as its conditional mean given the features present, from the
training covariance: :class:`~wearsense.fusion.baselines.GaussianFill`):

- camera: the newest pose frame and its age;
- IMU *level*: each sensor's tilt (the direction of up in its axes) and accelerometer;
- IMU *motion*: each sensor's gyro;
- EMG: the envelope patch's mean and newest value per channel;
- and the changes of all of these over 3, 6 and 12 steps (a history of 12 steps
  travels in the stream's cache, so live steps see what offline steps see).

Per condition and per joint (per keypoint without joint angles), chosen on the
validation takes by the error at 100 ms: the penalty, whether to use the IMU level (how
each sensor sits on its segment differs from mover to mover; its motion much less) and,
for conditions with the camera and wearables, whether the joint is better served by the
camera's features alone (a joint no sensor sees gains nothing from the wearables and can
lose by them on new movers). Features are standardised with one scale per sensor vector
(its three axes share it: :func:`~wearsense.fusion.baselines.pooled_by_vector`), so the
penalty does not favour an axis that barely moved in training. Inputs are clipped to the
range seen in training. Same choices, same features as
:class:`wearsense.fusion.baselines.RidgeBaseline`, computed in torch on the model's
inputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from wearsense.errors import ConfigError
from wearsense.fusion.baselines import (
    GaussianFill,
    RunningFill,
    choose_per_group,
    group_errors,
    output_groups,
    pooled_by_vector,
)
from wearsense.fusion.frames import CONDITIONS, Take

__all__ = ["LinearReadout", "LAGS", "ALPHAS"]

#: step lags of the changes in the features
LAGS = (3, 6, 12)
#: penalties tried on the validation takes (relative to each feature's variance)
ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)
_CONDITION_NAMES = tuple(CONDITIONS)


def condition_index(condition: str) -> int:
    return _CONDITION_NAMES.index(condition)


class LinearReadout(nn.Module):
    """``features(fr, cache)`` → (B, L, F); ``forward(x, cond)`` → (B, L, O) normalised outputs.

    Buffers (they travel in the checkpoint): per condition ``coef`` (n_cond, F, O),
    ``intercept`` (n_cond, O) and the feature ``mask`` (n_cond, F); ``mean``/``std``
    standardise the features, ``lo``/``hi`` clip them.
    """

    def __init__(self, dims: Mapping[str, int], n_out: int):
        super().__init__()
        d, s, c = dims["D"], dims["S"], dims["C"]
        # base blocks, in order: (name, width, modality)
        self.blocks = [("pose", d + 1, "pose"), ("imu_level", 6 * s, "imu"), ("imu_gyro", 3 * s, "imu"),
                       ("emg", 2 * c, "emg")]
        self.n_base = sum(w for _, w, _ in self.blocks)
        self.n_feat = self.n_base * (1 + len(LAGS))
        n_cond = len(_CONDITION_NAMES)
        self.register_buffer("coef", torch.zeros(n_cond, self.n_feat, n_out))
        self.register_buffer("intercept", torch.zeros(n_cond, n_out))
        self.register_buffer("mask", torch.zeros(n_cond, self.n_feat))
        self.register_buffer("mean", torch.zeros(self.n_feat))
        self.register_buffer("std", torch.ones(self.n_feat))
        self.register_buffer("lo", torch.full((self.n_feat,), -torch.inf))
        self.register_buffer("hi", torch.full((self.n_feat,), torch.inf))
        self.register_buffer("fitted", torch.zeros(n_cond, dtype=torch.bool))
        # precision of the standardised features: missing sensors are filled with their
        # conditional mean given the present ones (GaussianFill); identity = the training mean
        self.register_buffer("precision", torch.eye(self.n_feat))
        self._gauss: GaussianFill | None = None

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the conditional fill have no precision: they fill the mean
        state_dict.setdefault(prefix + "precision", torch.eye(self.n_feat))
        self._gauss = None
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # -- features ---------------------------------------------------------------------

    def _base(self, fr: Mapping[str, Tensor], norm) -> Tensor:
        pose_ok = fr["pose_ok"].unsqueeze(-1).float()
        pose = torch.cat([norm.norm("pose", fr["pose"]), fr["pose_age"].float().unsqueeze(-1)], -1)
        pose = torch.nan_to_num(pose) * pose_ok
        missing = torch.tensor(float("nan"), device=pose.device)  # forward fills it from the present ones
        imu = fr["imu"].float()
        q = imu[..., 0:4]
        w, x, y, z = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
        up = torch.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1)
        imu_ok = fr["imu_ok"].unsqueeze(-1).bool()
        level = torch.where(imu_ok, torch.nan_to_num(torch.cat([up, imu[..., 7:10]], -1)), missing)
        gyro = torch.where(imu_ok, torch.nan_to_num(imu[..., 4:7]), missing)
        emg = norm.norm("emg", fr["emg"])
        emg_ok = fr["emg_ok"].unsqueeze(-1).bool()
        emg = torch.cat([emg.mean(-1, keepdim=True), emg[..., -1:]], -1)
        emg = torch.where(emg_ok, torch.nan_to_num(emg), missing)
        lead = pose.shape[:-1]
        parts = [pose, level.reshape(*lead, -1), gyro.reshape(*lead, -1), emg.reshape(*lead, -1)]
        return torch.cat(parts, -1)

    def features(self, fr: Mapping[str, Tensor], norm, cache: dict | None = None) -> Tensor:
        """Raw features (B, L, F) of a block of steps; ``cache`` (a dict) carries the last
        ``max(LAGS)`` base rows between blocks (None: the block is the whole past; before
        the first step, the first step is repeated, so changes start at 0)."""
        base = self._base(fr, norm)
        m = max(LAGS)
        hist = cache.get("hist") if cache is not None else None
        if hist is None:
            hist = base[:, :1].expand(-1, m, -1)
        full = torch.cat([hist, base], 1)
        n = base.shape[1]
        parts = [base] + [base - full[:, m - lag:m - lag + n] for lag in LAGS]
        if cache is not None:
            cache["hist"] = full[:, -m:].detach()
        return torch.cat(parts, -1)

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """Normalised outputs (B, L, O) of features ``x`` (B, L, F) under conditions ``cond`` (B,).

        A missing feature the condition reads (NaN: its sensor not there, or a change
        with a missing end) is filled with its conditional mean given the present ones
        (:meth:`_fill_missing`), never read as a raw zero."""
        z = (torch.minimum(torch.maximum(x, self.lo), self.hi) - self.mean) / self.std
        use = self.mask[cond.reshape(-1)] > 0  # (B, F): the features each condition reads
        if bool((torch.isnan(z) & use.unsqueeze(1)).any()):
            z = self._fill_missing(z, use)
        z = torch.nan_to_num(z)
        if cond.numel() == 1 or bool((cond == cond[0]).all()):  # one condition: views, no copies
            c = int(cond.reshape(-1)[0])
            return (z * self.mask[c]) @ self.coef[c] + self.intercept[c]
        z = z * self.mask[cond].unsqueeze(1)
        return torch.einsum("blf,bfo->blo", z, self.coef[cond]) + self.intercept[cond].unsqueeze(1)

    def _fill_missing(self, z: Tensor, use: Tensor) -> Tensor:
        """Missing features a condition reads, filled with their conditional mean given
        the present ones it reads (:class:`~wearsense.fusion.baselines.GaussianFill`)."""
        if self._gauss is None:
            self._gauss = GaussianFill(self.precision.double().cpu().numpy())
        if use.shape[0] != z.shape[0]:
            use = use.expand(z.shape[0], -1)
        out = z.detach().double().cpu().numpy()
        for b in range(z.shape[0]):
            out[b] = self._gauss(out[b], use[b].cpu().numpy())
        return torch.as_tensor(out, dtype=z.dtype, device=z.device)

    # -- the closed-form fit ----------------------------------------------------------

    def _vectors(self) -> np.ndarray:
        """A label per feature: the three axes of one IMU vector (up, accelerometer, gyro,
        and their changes) share one; every other feature has its own."""
        labels = np.arange(self.n_feat)
        at = 0
        for _ in range(1 + len(LAGS)):
            for _, width, modality in self.blocks:
                if modality == "imu":
                    labels[at:at + width] = at + np.arange(width) // 3 * 3
                at += width
        return labels

    def _feature_mask(self, condition: str, imu_level: bool) -> np.ndarray:
        sees = CONDITIONS[condition]
        one = []
        for name, width, modality in self.blocks:
            seen = modality in sees and (imu_level or name != "imu_level")
            one.append(np.full(width, 1.0 if seen else 0.0))
        lagged = []
        for _, width, modality in self.blocks:
            lagged.append(np.full(width, 1.0 if modality in sees else 0.0))
        return np.concatenate([np.concatenate(one)] + [np.concatenate(lagged)] * len(LAGS))

    @torch.no_grad()
    def fit(self, model, train: Iterable[Take], val: Sequence[Take] = (),
            conditions: Sequence[str] = _CONDITION_NAMES) -> dict[str, dict]:
        """Fit every condition's read-out on the training takes (one pass: each condition's
        features are the "all" features under its mask); choose penalty and IMU level on
        ``val``, per joint (without validation takes: the penalty 0.01 with the level).
        Returns the choices per condition and joint."""
        g = b = lo = hi = None
        n = 0
        fill = RunningFill()
        for take in train:
            x, y, ok = self._take_xy(model, take)
            x, y = fill(x[ok]), y[ok]
            if not len(x):
                continue
            x1 = np.concatenate([np.ones((len(x), 1)), x], 1)
            if g is None:
                g, b = np.zeros((x1.shape[1],) * 2), np.zeros((x1.shape[1], y.shape[1]))
                lo, hi = np.full(x.shape[1], np.inf), np.full(x.shape[1], -np.inf)
            g += x1.T @ x1
            b += x1.T @ y
            lo, hi = np.minimum(lo, x.min(0)), np.maximum(hi, x.max(0))
            n += len(x)
        if g is None or n < 10:
            raise ConfigError("the linear read-out has no training steps to fit; check the training takes")
        mu = g[0, 1:] / n
        ybar = b[0] / n
        sxx = g[1:, 1:] - n * np.outer(mu, mu)
        sxy = b[1:] - n * np.outer(mu, ybar)
        # one scale per sensor vector (its three axes), so the penalty turns with the sensor
        sd = np.sqrt(pooled_by_vector(np.maximum(np.diag(sxx) / n, 1e-12), self._vectors()))
        self.mean.copy_(torch.as_tensor(mu, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(sd, dtype=torch.float32))
        self.lo.copy_(torch.as_tensor(lo, dtype=torch.float32))
        self.hi.copy_(torch.as_tensor(hi, dtype=torch.float32))
        # standardised normal equations (features scaled by sd)
        czz = sxx / np.outer(sd, sd)
        czy = sxy / sd[:, None]
        gauss = GaussianFill.from_covariance(czz / n)
        # float16, as checkpoints store it (the model in memory is the model read back)
        self.precision.copy_(torch.as_tensor(gauss.precision, dtype=torch.float32).half().float())
        self._gauss = None
        h100 = list(model.spec.horizons_ms).index(100) if 100 in model.spec.horizons_ms else 0
        val_data = [self._take_xy(model, t) for t in val]
        val_z = [(np.nan_to_num((np.clip(x[ok], lo, hi) - mu) / sd), y[ok]) for x, y, ok in val_data]
        choices = {}
        for cond in conditions:
            ci = condition_index(cond)
            sees = CONDITIONS[cond]
            cands = [(self._feature_mask(cond, level), f"level={level}")
                     for level in ((True, False) if "imu" in sees else (True,))]
            if "pose" in sees and cond != "camera":  # a joint may do best with the camera alone
                cands.append((self._feature_mask("camera", True), "camera only"))
            fits = []
            for fm, label in cands:
                idx = np.flatnonzero(fm)
                for alpha in (ALPHAS if val_z else (1e-2,)):
                    a = czz[np.ix_(idx, idx)] + alpha * n * np.eye(len(idx))
                    coef = np.zeros((len(sd), czy.shape[1]))
                    coef[idx] = np.linalg.solve(a, czy[idx])
                    errs = self._group_errors(model, coef, ybar, val_z, h100) if val_z else None
                    fits.append((fm, f"{label}, alpha={alpha:g}", coef, errs))
            coef, mask, picks = self._assemble(model, fits)
            # rounded to float16 (how checkpoints store them: half the size, and the model
            # in memory is the model read back; predictions move by < 0.1 deg)
            self.coef[ci] = torch.as_tensor(coef, dtype=torch.float32).half().float()
            self.intercept[ci] = torch.as_tensor(ybar, dtype=torch.float32)
            self.mask[ci] = torch.as_tensor(mask, dtype=torch.float32)
            self.fitted[ci] = True
            choices[cond] = picks
        return choices

    @staticmethod
    def _group_errors(model, coef, ybar, val_z, h100) -> np.ndarray:
        """Mean absolute validation error at 100 ms per group (deg for joints, m for keypoints)."""
        j, q = model.dims["J"], model.dims["Q"]
        if j:
            cols = np.arange(h100 * j, (h100 + 1) * j)
            scale = model.norm.angles_std.double().numpy()
        else:
            cols = np.arange(h100 * q * 3, (h100 + 1) * q * 3)
            scale = model.norm.kp_std.double().numpy().reshape(-1)
        tot, cnt = np.zeros(len(cols)), 0
        for z, y in val_z:
            d = (z @ coef[:, cols] + ybar[cols] - y[:, cols]) * scale
            if j:
                d = (d + 180.0) % 360.0 - 180.0
            tot += np.abs(d).sum(axis=0)
            cnt += len(z)
        return group_errors(tot / max(cnt, 1), bool(j))

    def _assemble(self, model, fits) -> tuple[np.ndarray, np.ndarray, dict]:
        """Per group the candidate (features, penalty) lowest on validation; columns outside
        the groups (keypoints beside angles) take the candidate best on average."""
        if fits[0][3] is None:
            fm, label, coef, _ = fits[0]
            return coef, fm, {"all outputs": label}
        groups = output_groups(model.dims["H"], model.dims["J"], model.dims["Q"])
        errs = np.array([f[3] for f in fits])
        overall, best, (coef,) = choose_per_group(errs, groups, [f[2] for f in fits])
        mask = np.max([fits[i][0] for i in {overall, *best.tolist()}], axis=0)  # features any choice reads
        names = model.names.get("joints") if model.dims["J"] else model.names.get("keypoints")
        picks = {"other outputs": fits[overall][1]}
        for g, b in enumerate(best):
            picks[names[g] if names and g < len(names) else str(g)] = fits[b][1]
        return coef, mask, picks

    def _take_xy(self, model, take: Take) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A take's features under "all" (K, F), normalised targets (K, O) and usable rows (K,)."""
        fr, _ = model.frames_of(take, "all")
        x = self.features(fr, model.norm)[0].double().numpy()
        ang = np.unwrap(take.y_angles.astype(np.float64), period=360.0, axis=0)
        y = [model.norm.norm("angles", torch.as_tensor(ang)).reshape(len(take), -1).numpy()]
        if take.y_kp is not None and model.dims["Q"]:
            y.append(model.norm.norm("kp", torch.as_tensor(take.y_kp.astype(np.float64)))
                     .reshape(len(take), -1).numpy())
        ok = take.y_ok.all(axis=1)  # NaN features: missing sensors, filled by the fit
        return x, np.concatenate(y, 1), ok

"""Tokens: what one step of a :class:`~wearsense.fusion.frames.Take` becomes for the model.

Per step, every modality gets tokens of its own:

- one token per **EMG channel** (its ``P`` envelope sub-samples of the last step, plus
  the channel's embedding);
- one token per **IMU** (orientation quaternion, gyro, accel, plus the IMU's embedding);
- one token per **pre-activation event** slot (the muscle's embedding plus Fourier
  features of the event's age in seconds);
- one **pose** token (the newest arrived pose frame plus Fourier features of its age:
  a frame 80 ms old is not a frame 20 ms old). The pose token feeds the motion model;
  the others feed the fusion encoder (:mod:`wearsense.fusion.encoder`).

Time enters from real timestamps, never indices: ages within a step as Fourier
features of seconds, and the position of each step by rotary embeddings of its time in
seconds (:class:`RotaryTime`), so streams at different rates and with gaps share one
sequence. Whatever is absent — a channel that delivered nothing, an occluded pose
frame, a modality the condition does not see, an empty event slot — becomes a
**learned mask token** of that modality; a zero is never passed off as data.

:func:`apply_condition` decides what a condition sees (also the modality dropout of
training); :class:`Normalizer` holds the training-set statistics every input and
target is scaled with (they travel in the checkpoint; test data never sets them).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from wearsense.errors import ConfigError
from wearsense.fusion.frames import CONDITIONS, Take

__all__ = ["apply_condition", "check_condition", "fourier_time", "RotaryTime", "Normalizer", "StepTokenizer",
           "FRAME_FIELDS"]

#: The per-step input fields of a Take (a live frame has exactly these).
FRAME_FIELDS = ("t", "emg", "emg_ok", "imu", "imu_ok", "pose", "pose_age", "pose_ok", "events", "events_ok")
_OK_OF = {"emg": "emg_ok", "imu": "imu_ok", "events": "events_ok", "pose": "pose_ok"}


def check_condition(condition: str) -> frozenset[str]:
    """The modalities ``condition`` sees; a clear error for an unknown name."""
    try:
        return CONDITIONS[condition]
    except KeyError:
        raise ConfigError(f"condition {condition!r} is unknown; choose one of {sorted(CONDITIONS)}") from None


def apply_condition(frames: Mapping[str, Any], condition: str, since_start_s: Any,
                    pose_start_s: float) -> dict:
    """``frames`` with the ``*_ok`` flags cleared for what ``condition`` does not see.

    Works on numpy arrays and torch tensors alike (any leading shape). A condition
    without ``"pose"`` still sees the pose frames of the first ``pose_start_s`` seconds
    of the take (``since_start_s``: time since the take's first step, s, shaped like
    ``frames["t"]``): the posture to start from. Values are left as they are; the model
    replaces every cleared position by its mask token.
    """
    seen = check_condition(condition)
    out = dict(frames)
    for modality, ok in _OK_OF.items():
        if modality in seen:
            continue
        if modality == "pose":
            out[ok] = frames[ok] & (since_start_s <= pose_start_s)
        else:
            out[ok] = frames[ok] & False
    return out


def fourier_time(age_s: Tensor, n: int, min_period_s: float = 0.02, max_period_s: float = 2.0) -> Tensor:
    """Fourier features of a time in seconds: ``(..., 2n)`` sines and cosines at ``n``
    periods spaced geometrically from ``min_period_s`` to ``max_period_s``."""
    periods = torch.logspace(math.log10(min_period_s), math.log10(max_period_s), n, dtype=torch.float32)
    ang = age_s.float().unsqueeze(-1) * (2 * math.pi / periods)
    return torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1)


class RotaryTime:
    """Rotary position embeddings (Su et al. 2021, RoFormer) of a time in **seconds**.

    Attention scores then depend only on time differences, so a cache of rotated keys
    keeps working however long a stream runs. Angles are computed in float64 from
    times relative to the take's (or stream's) first step, then rounded to float32.
    """

    def __init__(self, head_dim: int, min_period_s: float = 1 / 30, max_period_s: float = 8.0):
        if head_dim % 2:
            raise ConfigError(f"attention head size {head_dim} must be even for rotary time embeddings")
        periods = np.geomspace(min_period_s, max_period_s, head_dim // 2)
        self.omega = torch.tensor(2 * np.pi / periods, dtype=torch.float64)

    def angles(self, t_rel: Tensor) -> tuple[Tensor, Tensor]:
        """``cos, sin`` of shape ``(B, 1, L, head_dim/2)`` for times ``(B, L)`` (float64 s)."""
        ang = t_rel.to(torch.float64).unsqueeze(-1) * self.omega
        return torch.cos(ang).float().unsqueeze(1), torch.sin(ang).float().unsqueeze(1)

    @staticmethod
    def rotate(x: Tensor, cs: tuple[Tensor, Tensor]) -> Tensor:
        """Rotate ``x`` (B, heads, L, head_dim) pairwise (first half with second half)."""
        cos, sin = cs
        a, b = x.chunk(2, dim=-1)
        return torch.cat([a * cos - b * sin, a * sin + b * cos], dim=-1)


class Normalizer(nn.Module):
    """Mean and standard deviation of every input and target, from the training takes only.

    Buffers (so they travel in the model's state dict and its checkpoint): ``emg`` per
    channel, ``imu`` per IMU × feature, ``pose`` per value, ``angles`` per joint, ``kp``
    per keypoint × axis. Statistics use only valid samples (``*_ok``/``y_ok``); a
    standard deviation below ``floor`` is raised to it.
    """

    def __init__(self, dims: Mapping[str, int]):
        super().__init__()
        shapes = {"emg": (dims["C"], 1), "imu": (dims["S"], dims["F"]), "pose": (dims["D"],),
                  "angles": (dims["J"],), "kp": (max(dims["Q"], 1), 3)}
        for name, shape in shapes.items():
            self.register_buffer(f"{name}_mean", torch.zeros(shape))
            self.register_buffer(f"{name}_std", torch.ones(shape))

    @torch.no_grad()
    def fit(self, takes: Iterable[Take], floor: float = 1e-3) -> "Normalizer":
        sums: dict[str, list] = {}

        def add(name, x, ok, axis):
            x = np.where(ok, x, 0.0).astype(np.float64)
            n = np.broadcast_to(ok, x.shape).sum(axis=axis)
            s = x.sum(axis=axis)
            ss = (x * x).sum(axis=axis)
            acc = sums.setdefault(name, [0, 0, 0])
            acc[0] = acc[0] + n
            acc[1] = acc[1] + s
            acc[2] = acc[2] + ss

        seen = False
        for take in takes:
            seen = True
            add("emg", take.emg, take.emg_ok[:, :, None], (0, 2))
            add("imu", take.imu, take.imu_ok[:, :, None], 0)
            add("pose", take.pose, take.pose_ok[:, None], 0)
            add("angles", take.y_angles, take.y_ok[:, :, None], (0, 1))
            if take.y_kp is not None:
                add("kp", take.y_kp, take.y_ok[:, :, None, None], (0, 1))
        if not seen:
            raise ConfigError("no training takes to compute the normalisation statistics from")
        for name, (n, s, ss) in sums.items():
            n = np.maximum(n, 1)
            mean = s / n
            std = np.sqrt(np.maximum(ss / n - mean**2, 0.0))
            std = np.maximum(std, floor)
            buf_mean = getattr(self, f"{name}_mean")
            buf_mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(buf_mean.shape))
            std_t = torch.as_tensor(std, dtype=torch.float32).reshape(buf_mean.shape)
            getattr(self, f"{name}_std").copy_(std_t)
        return self

    def norm(self, name: str, x: Tensor) -> Tensor:
        return (x - getattr(self, f"{name}_mean")) / getattr(self, f"{name}_std")

    def denorm(self, name: str, x: Tensor) -> Tensor:
        return x * getattr(self, f"{name}_std") + getattr(self, f"{name}_mean")


class StepTokenizer(nn.Module):
    """Turns a block of steps into tokens: ``(B, L, N_enc, d)`` for the encoder (EMG
    channels, IMUs, event slots) and ``(B, L, d)`` pose tokens for the motion model.

    Inputs are raw frame fields (shapes of :class:`~wearsense.fusion.frames.Take` with
    leading ``(B, L)``); normalisation happens here, with the :class:`Normalizer`.
    """

    def __init__(self, dims: Mapping[str, int], d: int, n_time: int, norm: Normalizer):
        super().__init__()
        self.norm = norm
        c, p, s, f, dd, e = dims["C"], dims["P"], dims["S"], dims["F"], dims["D"], dims["E"]
        self.emg_in = nn.Linear(p, d)
        self.emg_chan = nn.Parameter(torch.randn(c, d) * 0.02)
        self.emg_mask = nn.Parameter(torch.randn(d) * 0.02)
        self.imu_in = nn.Linear(f, d)
        self.imu_id = nn.Parameter(torch.randn(s, d) * 0.02)
        self.imu_mask = nn.Parameter(torch.randn(d) * 0.02)
        self.n_time = n_time
        self.event_muscle = nn.Embedding(max(c, 1), d)
        self.event_age = nn.Linear(2 * n_time, d)
        self.event_mask = nn.Parameter(torch.randn(d) * 0.02)
        self.event_slot = nn.Parameter(torch.randn(max(e, 1), d) * 0.02)
        self.pose_in = nn.Linear(dd, d)
        self.pose_age = nn.Linear(2 * n_time, d)
        self.pose_mask = nn.Parameter(torch.randn(d) * 0.02)
        self.n_events = e
        self.n_channels = c

    def forward(self, fr: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        z = self.norm
        emg_ok = fr["emg_ok"].unsqueeze(-1)
        emg = torch.where(emg_ok, z.norm("emg", fr["emg"]), 0.0)
        emg_tok = torch.where(emg_ok, self.emg_in(emg), self.emg_mask) + self.emg_chan
        imu_ok = fr["imu_ok"].unsqueeze(-1)
        imu = torch.where(imu_ok, z.norm("imu", fr["imu"]), 0.0)
        imu_tok = torch.where(imu_ok, self.imu_in(imu), self.imu_mask) + self.imu_id
        parts = [emg_tok, imu_tok]
        if self.n_events:
            ev_ok = fr["events_ok"].unsqueeze(-1)
            ev = torch.where(ev_ok, fr["events"], 0.0)
            chan = ev[..., 0].long().clamp(0, self.n_channels - 1)
            ev_tok = self.event_muscle(chan) + self.event_age(fourier_time(ev[..., 1], self.n_time))
            parts.append(torch.where(ev_ok, ev_tok, self.event_mask) + self.event_slot)
        pose_ok = fr["pose_ok"].unsqueeze(-1)
        pose = torch.where(pose_ok, z.norm("pose", fr["pose"]), 0.0)
        age = torch.where(fr["pose_ok"], fr["pose_age"], 0.0)
        pose_tok = self.pose_in(pose) + self.pose_age(fourier_time(age, self.n_time))
        pose_tok = torch.where(pose_ok, pose_tok, self.pose_mask)
        return torch.cat(parts, dim=-2), pose_tok

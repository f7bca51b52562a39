"""The fusion motion model: a GPT-style causal transformer over pose frames, conditioned
on the fusion encoder, with direct multi-horizon heads and a forward-model head.

One step of the model reads one step frame (see :mod:`wearsense.fusion.frames`):

1. :class:`~wearsense.fusion.tokens.StepTokenizer` makes tokens (EMG channels, IMUs,
   event slots; one pose token), masked where absent;
2. the fusion encoder (:mod:`wearsense.fusion.encoder`) pools each step's inside-out
   tokens and runs a causal transformer over steps;
3. the **motion model**, a causal transformer over the pose tokens, is conditioned on
   the encoder's output by cross-attention or by adaLN (``ModelConfig.conditioning``);
4. heads read its last hidden state: future **joint angles** (deg) and **keypoints**
   (m, pelvis-relative) at every horizon of the FeatureSpec *directly* — all horizons
   in one forward pass, so nothing is rolled out (no compounding drift, and one step
   costs one forward: the latency budget) — and the **forward model**: the next step's
   IMU features and EMG envelope. Its normalised error once that step arrives is the
   step's **surprise** (RMS of the z-scored error over the IMU/EMG values the condition
   sees; NaN where there is nothing to compare);
5. each horizon's predicted motion from the horizon-0 output passes a **deadband**
   chosen on the validation takes after training (:mod:`wearsense.fusion.deadband`):
   trained by a Huber loss (squared for the small errors that dominate), the heads give
   about the mean motion, and scored by absolute error the best answer, where the motion
   is uncertain, is to hold.

All attention is causal with a sliding window of ``ModelConfig.window`` steps and
rotary embeddings of time in seconds, so :meth:`FusionModel.stream` keeps a rolling
key/value cache that runs for ever, and :meth:`FusionModel.predict_take` (blocks of
steps through the same cache) gives the same numbers as stepping (tested).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from wearsense.errors import ConfigError
from wearsense.fusion.deadband import apply_deadband, fit_deadbands
from wearsense.fusion.encoder import Block, StepPool, TemporalEncoder
from wearsense.fusion.frames import CONDITIONS, FeatureSpec, Take
from wearsense.fusion.tokens import FRAME_FIELDS, Normalizer, RotaryTime, StepTokenizer, apply_condition, \
    check_condition

__all__ = ["ModelConfig", "FusionModel", "TakePrediction", "StepOutput", "FusionStream", "dims_of"]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture settings (they travel in the checkpoint)."""

    d_model: int = 64
    heads: int = 4
    enc_layers: int = 1
    motion_layers: int = 2
    mlp_ratio: int = 2
    #: steps each attention reaches back, the step itself included (120 = 2 s at 60 Hz)
    window: int = 120
    #: how the encoder conditions the motion model: "adaln" or "cross"
    conditioning: str = "adaln"
    #: Fourier features (sine + cosine pairs) of ages in seconds
    time_features: int = 8
    #: a linear read-out fitted in closed form before training (ridge per condition, see
    #: :mod:`wearsense.fusion.readout`); the transformer's heads then learn the residual
    readout: bool = False

    def __post_init__(self) -> None:
        if self.conditioning not in ("adaln", "cross"):
            raise ConfigError(f"model.conditioning={self.conditioning!r}: choose 'adaln' or 'cross'")
        if self.window < 2:
            raise ConfigError(f"model.window={self.window}: must be >= 2 steps")
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ConfigError(f"model.d_model={self.d_model} must be a multiple of 2 x heads={self.heads}")
        for name in ("d_model", "heads", "enc_layers", "motion_layers", "mlp_ratio", "time_features"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name}={getattr(self, name)}: must be >= 1")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"unknown [model] setting(s) {unknown}; known: {sorted(known)}")
        return cls(**d)


def dims_of(take: Take) -> dict[str, int]:
    """The array sizes a model is built for, from one take."""
    return {"C": take.emg.shape[1], "P": take.emg.shape[2], "S": take.imu.shape[1], "F": take.imu.shape[2],
            "D": take.pose.shape[1], "E": take.events.shape[1], "H": take.y_angles.shape[1],
            "J": take.y_angles.shape[2], "Q": 0 if take.y_kp is None else take.y_kp.shape[2]}


@dataclass
class TakePrediction:
    """Predictions for every step of a take: ``angles`` (K, H, J) deg, ``kp`` (K, H, Q, 3)
    m pelvis-relative or None, ``surprise`` (K,) (NaN at the first step and wherever the
    condition sees neither IMU nor EMG); ``horizons_ms`` (H,)."""

    angles: np.ndarray
    kp: np.ndarray | None
    surprise: np.ndarray
    horizons_ms: tuple[int, ...]
    condition: str


@dataclass
class StepOutput:
    """One live step: ``angles`` (H, J) deg, ``kp`` (H, Q, 3) m or None, ``surprise``
    (float, NaN when nothing to compare), ``latency`` (s spent in :meth:`FusionStream.step`)."""

    t: float
    angles: np.ndarray
    kp: np.ndarray | None
    surprise: float
    latency: float


class FusionModel(nn.Module):
    """Encoder + motion model + heads. Build with :meth:`build` (dimensions from a take,
    normalisation from the training takes) or load with
    :func:`wearsense.fusion.checkpoint.load_checkpoint`."""

    def __init__(self, cfg: ModelConfig, spec: FeatureSpec, dims: Mapping[str, int],
                 names: Mapping[str, list[str]] | None = None):
        super().__init__()
        self.cfg, self.spec, self.dims = cfg, spec, dict(dims)
        self.names = {k: list(v) for k, v in (names or {}).items()}
        d = cfg.d_model
        self.norm = Normalizer(dims)
        self.tokens = StepTokenizer(dims, d, cfg.time_features, self.norm)
        self.pool = StepPool(d, cfg.heads, cfg.mlp_ratio)
        self.encoder = TemporalEncoder(d, cfg.heads, cfg.enc_layers, cfg.mlp_ratio)
        self.motion = nn.ModuleList(Block(d, cfg.heads, cfg.mlp_ratio, cfg.conditioning)
                                    for _ in range(cfg.motion_layers))
        self.out_ln = nn.LayerNorm(d, elementwise_affine=cfg.conditioning != "adaln")
        if cfg.conditioning == "adaln":
            self.out_ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))
            nn.init.zeros_(self.out_ada[1].weight)
            nn.init.zeros_(self.out_ada[1].bias)
        h, j, q = dims["H"], dims["J"], dims["Q"]
        self.head_angles = nn.Linear(d, h * j)
        self.head_kp = nn.Linear(d, h * q * 3) if q else None
        # the newest pose frame straight to the outputs (normalised units): a linear
        # "repeat what the camera saw" path the transformer only has to correct
        self.skip_angles = nn.Linear(dims["D"], h * j, bias=False)
        self.skip_kp = nn.Linear(dims["D"], h * q * 3, bias=False) if q else None
        for skip in (self.skip_angles, self.skip_kp):
            if skip is not None:
                nn.init.zeros_(skip.weight)
        self.readout = None
        if cfg.readout:
            from wearsense.fusion.readout import LinearReadout

            self.readout = LinearReadout(dims, h * j + h * q * 3)
            for head in (self.head_angles, self.head_kp):
                if head is not None:  # start from the read-out's answer
                    nn.init.zeros_(head.weight)
                    nn.init.zeros_(head.bias)
        self.n_fwd_imu = dims["S"] * dims["F"]
        self.head_forward = nn.Linear(d, self.n_fwd_imu + dims["C"] * dims["P"])
        self.rotary = RotaryTime(d // cfg.heads)
        # per condition, the motion deadband's thresholds (deg; m), chosen on validation
        # after training (see wearsense.fusion.deadband; zeros: outputs as the heads give them)
        n_cond = len(CONDITIONS)
        self.register_buffer("deadband_angles", torch.zeros(n_cond, h, j))
        self.register_buffer("deadband_kp", torch.zeros(n_cond, h, q))
        self.history: list[dict] = []

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints written before the deadband have none: their outputs are kept as they are
        for name in ("deadband_angles", "deadband_kp"):
            state_dict.setdefault(prefix + name, torch.zeros_like(getattr(self, name)))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @classmethod
    def build(cls, cfg: ModelConfig, takes: list[Take]) -> "FusionModel":
        """A new model sized for ``takes`` (the training takes), its normalisation fitted on them."""
        if not takes:
            raise ConfigError("no training takes: give at least one Take to build a model for")
        first = takes[0]
        model = cls(cfg, first.spec, dims_of(first), first.names)
        for take in takes[1:]:
            if dims_of(take) != model.dims:
                raise ConfigError(f"take {take.name!r} has sizes {dims_of(take)}; the first take has "
                                  f"{model.dims}: train on takes of one layout")
        model.norm.fit(takes)
        return model

    def describe(self) -> dict[str, Any]:
        """Plain metadata (what a checkpoint stores beside the weights)."""
        return {"model": asdict(self.cfg), "spec": self.spec.to_dict(), "dims": dict(self.dims),
                "names": dict(self.names)}

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # -- the forward pass -------------------------------------------------------------

    def new_cache(self) -> dict[str, Any]:
        return {"encoder": self.encoder.new_cache(), "motion": [b.new_cache() for b in self.motion],
                "readout": {}}

    def forward(self, fr: Mapping[str, Tensor], t_rel: Tensor,
                cache: dict[str, Any] | None = None, condition: Tensor | None = None) -> dict[str, Tensor]:
        """Normalised outputs for a block of steps.

        ``fr``: frame fields with leading ``(B, L)`` (``*_ok`` already conditioned);
        ``t_rel`` (B, L) float64 s since the take's first step; ``cache`` from
        :meth:`new_cache` continues a stream (None: the block is the whole past);
        ``condition`` (B,) the conditions' indices in :data:`~wearsense.fusion.frames.CONDITIONS`
        (needed by a model with a read-out).
        Returns ``angles`` (B, L, H, J), ``kp`` (B, L, H, Q, 3) or absent, ``forward``
        (B, L, S*F + C*P), all in normalised units.
        """
        w = self.cfg.window
        rot = self.rotary.angles(t_rel)
        enc_tokens, x = self.tokens(fr)
        pose = torch.where(fr["pose_ok"].unsqueeze(-1), self.norm.norm("pose", fr["pose"]), 0.0)
        cond = self.encoder(self.pool(enc_tokens), rot, w, cache["encoder"] if cache is not None else None)
        for i, block in enumerate(self.motion):
            x = block(x, rot, w, cond, cache["motion"][i] if cache is not None else None)
        x = self.out_ln(x)
        if self.cfg.conditioning == "adaln":
            shift, scale = self.out_ada(cond).chunk(2, dim=-1)
            x = x * (1 + scale) + shift
        b, n = x.shape[:2]
        dims = self.dims
        ang = self.head_angles(x) + self.skip_angles(pose)
        kp = None if self.head_kp is None else self.head_kp(x) + self.skip_kp(pose)
        if self.readout is not None:
            if condition is None:
                raise ConfigError("this model has a linear read-out: call it with condition= (indices)")
            lin = self.readout(self.readout.features(fr, self.norm, cache["readout"] if cache is not None
                                                     else None), condition)
            n_ang = dims["H"] * dims["J"]
            ang = ang + lin[..., :n_ang]
            if kp is not None:
                kp = kp + lin[..., n_ang:]
        out = {"angles": ang.view(b, n, dims["H"], dims["J"]), "forward": self.head_forward(x)}
        if kp is not None:
            out["kp"] = kp.view(b, n, dims["H"], dims["Q"], 3)
        return out

    def cond_index(self, conditions: str | list[str], n: int = 1) -> Tensor:
        """Condition indices (B,) for :meth:`forward` (one name repeated ``n`` times, or a list)."""
        names = [conditions] * n if isinstance(conditions, str) else list(conditions)
        order = list(CONDITIONS)
        return torch.as_tensor([order.index(c) for c in names], dtype=torch.long)

    def forward_targets(self, fr: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """What the forward head predicts for a frame, normalised, and which values are
        valid: ``(B, L, S*F + C*P)`` each (IMU features, then EMG envelope)."""
        b, n = fr["imu"].shape[:2]
        imu = self.norm.norm("imu", fr["imu"]).reshape(b, n, -1)
        emg = self.norm.norm("emg", fr["emg"]).reshape(b, n, -1)
        imu_ok = fr["imu_ok"].unsqueeze(-1).expand(fr["imu"].shape).reshape(b, n, -1)
        emg_ok = fr["emg_ok"].unsqueeze(-1).expand(fr["emg"].shape).reshape(b, n, -1)
        return torch.cat([imu, emg], dim=-1), torch.cat([imu_ok, emg_ok], dim=-1)

    def surprise(self, prev_forward: Tensor, fr: Mapping[str, Tensor]) -> Tensor:
        """RMS normalised error of the forward prediction made one step before each frame
        (``prev_forward`` (B, L, ·), aligned with ``fr``), over the values ``fr`` marks
        valid (conditioned flags); NaN where none are."""
        target, ok = self.forward_targets(fr)
        err = torch.where(ok, (prev_forward - target) ** 2, 0.0).sum(-1)
        n = ok.sum(-1)
        return torch.where(n > 0, (err / n.clamp(min=1)).sqrt(), torch.nan)

    def decode(self, out: Mapping[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """Angles (deg) and keypoints (m) from normalised outputs (before the deadband)."""
        angles = self.norm.denorm("angles", out["angles"])
        kp = self.norm.denorm("kp", out["kp"]) if "kp" in out else None
        return angles, kp

    def deadbanded(self, angles: np.ndarray, kp: np.ndarray | None, condition: str
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        """Decoded outputs (..., H, J) and (..., H, Q, 3) with the condition's motion
        deadband applied (:mod:`wearsense.fusion.deadband`)."""
        c = int(self.cond_index(condition))
        angles = apply_deadband(angles, self.deadband_angles[c].numpy(), angles=True)
        if kp is not None:
            kp = apply_deadband(kp, self.deadband_kp[c].numpy(), angles=False)
        return angles, kp

    @torch.no_grad()
    def fit_deadband(self, takes: Sequence[Take], conditions: Sequence[str]) -> None:
        """Choose each condition's deadband on ``takes`` (the validation takes)."""
        takes = list(takes)
        if not takes:
            return
        for cond in conditions:
            c = int(self.cond_index(cond))
            self.deadband_angles[c] = 0.0
            self.deadband_kp[c] = 0.0
            tau_angles, tau_kp = fit_deadbands([self.predict_take(t, cond) for t in takes], takes)
            if tau_angles is not None:
                self.deadband_angles[c] = torch.as_tensor(tau_angles, dtype=torch.float32)
            if tau_kp is not None:
                self.deadband_kp[c] = torch.as_tensor(tau_kp, dtype=torch.float32)

    # -- offline and live inference ---------------------------------------------------

    def frames_of(self, take: Take, condition: str) -> tuple[dict[str, Tensor], Tensor]:
        """A take's frame fields as tensors ``(1, K, ...)``, conditioned, and its times
        relative to its first step."""
        t = np.asarray(take.t, dtype=np.float64)
        since = t - t[0]
        raw = _typed({name: getattr(take, name) for name in FRAME_FIELDS if name != "t"})
        fr = apply_condition(raw, condition, since, self.spec.pose_start_s)
        tensors = {k: torch.as_tensor(v).unsqueeze(0) for k, v in fr.items()}
        return tensors, torch.as_tensor(since).unsqueeze(0)

    def check_take(self, take: Take) -> None:
        if dims_of(take) != self.dims:
            raise ConfigError(f"take {take.name!r} has sizes {dims_of(take)}; this model was trained on "
                              f"{self.dims}: prepare the data with the model's FeatureSpec and channels")
        if take.spec.step_hz != self.spec.step_hz:
            raise ConfigError(f"take {take.name!r} has step_hz={take.spec.step_hz}; the model expects "
                              f"{self.spec.step_hz}")

    @torch.inference_mode()
    def predict_take(self, take: Take, condition: str = "all", block: int = 512) -> TakePrediction:
        """Causal predictions for every step of ``take`` as the condition would see it
        live (blocks of ``block`` steps through the key/value cache: the same numbers
        as :meth:`stream`)."""
        check_condition(condition)
        self.check_take(take)
        was_training = self.training
        self.eval()
        fr, t_rel = self.frames_of(take, condition)
        cache = self.new_cache()
        outs: list[dict[str, Tensor]] = []
        for s in range(0, len(take), block):
            part = {k: v[:, s:s + block] for k, v in fr.items()}
            outs.append(self(part, t_rel[:, s:s + block], cache, condition=self.cond_index(condition)))
        self.train(was_training)
        out = {k: torch.cat([o[k] for o in outs], dim=1) for k in outs[0]}
        angles, kp = self.deadbanded(*self._numpy(self.decode(out)), condition)
        fwd = out["forward"]
        prev = torch.cat([torch.full_like(fwd[:, :1], torch.nan), fwd[:, :-1]], dim=1)
        surprise = self.surprise(prev, fr)
        return TakePrediction(angles=angles[0], kp=None if kp is None else kp[0],
                              surprise=surprise[0].numpy(), horizons_ms=tuple(self.spec.horizons_ms),
                              condition=condition)

    @staticmethod
    def _numpy(decoded: tuple[Tensor, Tensor | None]) -> tuple[np.ndarray, np.ndarray | None]:
        angles, kp = decoded
        return angles.numpy(), None if kp is None else kp.numpy()

    def stream(self, condition: str = "all") -> "FusionStream":
        """A live predictor: feed one step frame at a time to :meth:`FusionStream.step`."""
        return FusionStream(self, condition)


def _typed(fields_: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Frame fields as float32 values and bool flags (what the model's layers take)."""
    return {k: np.asarray(v, dtype=bool if k.endswith("_ok") else np.float32) for k, v in fields_.items()}


class FusionStream:
    """Streaming state of one take (rolling key/value cache of ``window`` steps).

    ``step(frame)`` takes one step frame — a mapping with the fields of
    :data:`~wearsense.fusion.tokens.FRAME_FIELDS` for one step (``t`` float s, ``emg``
    (C, P), ``emg_ok`` (C,), ``imu`` (S, F), ``imu_ok`` (S,), ``pose`` (D,), ``pose_age``
    float s, ``pose_ok`` bool, ``events`` (E, 2), ``events_ok`` (E,)), as
    ``StepFeaturizer.advance`` emits them — and returns a :class:`StepOutput`.
    """

    def __init__(self, model: FusionModel, condition: str):
        check_condition(condition)
        self.model = model.eval()
        self.condition = condition
        self.reset()

    def reset(self) -> None:
        self.cache = self.model.new_cache()
        self.cond = self.model.cond_index(self.condition)
        self.t0: float | None = None
        self.prev_forward: Tensor | None = None
        self.steps = 0

    @torch.inference_mode()
    def step(self, frame: Mapping[str, Any]) -> StepOutput:
        start = time.perf_counter()
        model = self.model
        t = float(frame["t"])
        if self.t0 is None:
            self.t0 = t
        since = t - self.t0
        fr = apply_condition(_typed({k: frame[k] for k in FRAME_FIELDS if k != "t"}),
                             self.condition, since, model.spec.pose_start_s)
        tens = {k: torch.as_tensor(v).reshape((1, 1) + np.shape(v)) for k, v in fr.items()}
        out = model(tens, torch.tensor([[since]], dtype=torch.float64), self.cache, condition=self.cond)
        angles, kp = model.deadbanded(*model._numpy(model.decode(out)), self.condition)
        if self.prev_forward is None:
            surprise = float("nan")
        else:
            surprise = float(model.surprise(self.prev_forward, tens)[0, 0])
        self.prev_forward = out["forward"]
        self.steps += 1
        return StepOutput(t=t, angles=angles[0, 0], kp=None if kp is None else kp[0, 0],
                          surprise=surprise, latency=time.perf_counter() - start)

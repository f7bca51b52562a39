"""Training, validation and per-mover fine-tuning of the fusion model.

:func:`train` fits a :class:`~wearsense.fusion.model.FusionModel` on step-frame takes:

- **batches** of random crops of ``seq_len`` steps (a share ``start_prob`` of them from
  a take's first step, so the "pose only at the start" conditions are trained as they
  are evaluated); every crop gets its own **condition**, drawn from ``conditions``
  (modality dropout: one model runs camera-only, inside-out or with everything);
- **loss**: Huber loss of the normalised joint angles and keypoints at every horizon
  (valid targets only) plus ``loss.forward`` × that of the forward model's next-step
  IMU and EMG; normalisation from the training takes only;
- AdamW, linear warm-up then cosine decay, gradient clipping, seeded and deterministic:
  the batch of step ``i`` is drawn from ``seed`` and ``i`` alone, so a resumed run is
  the uninterrupted one (tested);
- validation every ``val_every`` steps on fixed crops of the validation takes, per
  condition: loss, joint-angle MAE (deg) and keypoint error (mm) per horizon;
- after the last step (and the best step kept), each trained condition's **motion
  deadband** is chosen on the validation takes (:meth:`FusionModel.fit_deadband`);
- **DDP**: under ``torchrun`` (``WORLD_SIZE`` > 1) each process takes its share of the
  same global batch and gradients are averaged, with the loss normalised by the
  global count of valid targets, so N processes follow the one-process run (tested with
  2 gloo processes). Rank 0 validates and writes checkpoints.

Settings are a typed :class:`TrainConfig`, read from TOML (:func:`load_config`; presets
``tiny``, ``eval``, ``ship``, ``finetune`` in ``wearsense/fusion/configs/``).
"""

from __future__ import annotations

import copy
import math
import os
import time
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from wearsense.errors import ConfigError
from wearsense.fusion.checkpoint import read_checkpoint, save_checkpoint
from wearsense.fusion.featurize import turn_mounts
from wearsense.fusion.frames import CONDITIONS, FeatureSpec, Take
from wearsense.fusion.model import FusionModel, ModelConfig, dims_of
from wearsense.fusion.tokens import FRAME_FIELDS, apply_condition, check_condition

__all__ = ["TrainConfig", "LossWeights", "DataConfig", "TrainResult", "train", "finetune", "load_config",
           "PRESETS", "angle_errors", "split_minutes", "plot_history", "init_distributed"]

CONFIG_DIR = Path(__file__).resolve().parent / "configs"
PRESETS = ("tiny", "eval", "ship", "finetune")


@dataclass(frozen=True)
class LossWeights:
    angles: float = 1.0
    kp: float = 1.0
    forward: float = 0.2


@dataclass(frozen=True)
class DataConfig:
    """Where ``wearsense train`` reads its takes (the library's :func:`train` takes Takes).

    ``source``: ``"sim"`` (shards of ``wearsense sim generate`` in ``path``), ``"store"``
    (a prepared TakeStore in ``path``) or ``"make_sim"`` (generate a sim dataset into
    ``path`` first, ``movers`` × ``minutes``, then read it).
    """

    source: str = "make_sim"
    path: str = "fusion-data"
    train_split: str = "train"
    val_split: str = "val"
    movers: int = 6
    minutes: float = 4.0
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (it is stored in the checkpoint)."""

    seed: int = 0
    steps: int = 600
    batch_size: int = 16
    seq_len: int = 120
    lr: float = 2e-3
    min_lr_ratio: float = 0.05
    warmup_steps: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    start_prob: float = 0.25
    #: augmentation: every training crop turns each IMU on its segment by a random
    #: rotation of up to this angle (deg; uniform axis), as a different mover would wear
    #: it, so the model cannot lean on how the training movers' sensors happened to sit
    #: (0: off). The validation crops are never turned.
    mount_jitter_deg: float = 0.0
    #: end on the weights with the lowest validation loss (validated at step 0 too, so a
    #: model whose read-out alone is best keeps it): early stopping on the validation
    #: movers, never on test. Without validation takes it has no effect.
    keep_best: bool = False
    conditions: tuple[str, ...] = tuple(CONDITIONS)
    val_conditions: tuple[str, ...] = ("all", "camera_imu", "inside_out", "camera")
    val_every: int = 100
    val_sequences: int = 48
    checkpoint_every: int = 0
    #: torch threads for this run (0: leave as they are)
    threads: int = 0
    #: train only parameters whose names start with one of these (empty: all); e.g.
    #: ["tokens."] adapts only the input tokenizer when fine-tuning
    train_only: tuple[str, ...] = ()
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    data: DataConfig = field(default_factory=DataConfig)
    spec: FeatureSpec = field(default_factory=FeatureSpec)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "seq_len", "val_sequences"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)}: must be >= 1")
        if not self.lr > 0 or not 0 <= self.start_prob <= 1 or self.grad_clip < 0:
            raise ConfigError("lr must be > 0, start_prob within 0..1 and grad_clip >= 0")
        if not self.conditions:
            raise ConfigError("conditions is empty; name at least one of " + ", ".join(CONDITIONS))
        for c in (*self.conditions, *self.val_conditions):
            check_condition(c)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["spec"] = self.spec.to_dict()
        d["conditions"], d["val_conditions"] = list(self.conditions), list(self.val_conditions)
        d["train_only"] = list(self.train_only)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "config") -> "TrainConfig":
        d = dict(d)
        nested = {"model": ModelConfig, "loss": LossWeights, "data": DataConfig, "spec": FeatureSpec}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown setting(s) {unknown}; known: {sorted(known)}")
        for key, kind in nested.items():
            if key in d:
                sub = d[key]
                if not isinstance(sub, Mapping):
                    raise ConfigError(f"{where}: [{key}] must be a table of settings, got {sub!r}")
                sub_known = {f.name for f in fields(kind)}
                bad = sorted(set(sub) - sub_known)
                if bad:
                    raise ConfigError(f"{where}: unknown [{key}] setting(s) {bad}; "
                                      f"known: {sorted(sub_known)}")
                d[key] = kind.from_dict(sub) if kind is FeatureSpec else kind(
                    **{k: tuple(v) if isinstance(v, list) else v for k, v in sub.items()})
        for key in ("conditions", "val_conditions", "train_only"):
            if key in d:
                d[key] = tuple(d[key])
        try:
            return cls(**d)
        except TypeError as e:
            raise ConfigError(f"{where}: {e}") from None


def load_config(name_or_path: str | os.PathLike, **overrides: Any) -> TrainConfig:
    """A :class:`TrainConfig` from a TOML file, or a preset name (``tiny``: seconds, for
    tests; ``eval``: about a minute or two on two cores; ``ship``: the shipped
    checkpoint; ``finetune``: per-mover fine-tuning). ``overrides`` replace top-level keys."""
    path = Path(name_or_path)
    if str(name_or_path) in PRESETS:
        path = CONFIG_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ConfigError(f"training config {str(name_or_path)!r} is neither a file nor a preset; "
                          f"presets: {', '.join(PRESETS)}")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e}); "
                          "see wearsense/fusion/configs/ for examples") from None
    raw.update(overrides)
    return TrainConfig.from_dict(raw, where=str(path))


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained ``model`` (eval mode, with ``history``),
    the ``history`` of logged steps and the wall time in seconds."""

    model: FusionModel
    history: list[dict]
    seconds: float
    checkpoint: Path | None = None


# -- batches ---------------------------------------------------------------------------

_TARGETS = ("y_angles", "y_kp", "y_ok")


def _crop(take: Take, start: int, length: int) -> dict[str, np.ndarray]:
    """Steps ``start .. start+length`` (one extra for the forward target), padded past the
    end with invalid steps (flags False, times continuing on the grid)."""
    end = min(start + length + 1, len(take))
    out: dict[str, np.ndarray] = {}
    for name in (*FRAME_FIELDS, *_TARGETS):
        a = getattr(take, name)
        if a is None:
            continue
        part = a[start:end]
        pad = length + 1 - len(part)
        if pad:
            if name == "t":
                part = np.concatenate([part, part[-1] + np.arange(1, pad + 1) / take.spec.step_hz])
            else:
                part = np.concatenate([part, np.zeros((pad,) + a.shape[1:], a.dtype)])
        out[name] = part
    return out


def mount_rotations(rng: np.random.Generator, n: int, max_deg: float) -> np.ndarray:
    """``n`` random rotations as unit quaternions (n, 4), scalar first: a uniform axis, an
    angle uniform in 0..``max_deg``."""
    axis = rng.standard_normal((n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    half = np.deg2rad(rng.uniform(0.0, max_deg, n)) / 2
    return np.concatenate([np.cos(half)[:, None], np.sin(half)[:, None] * axis], axis=1)


def _batch(takes: Sequence[Take], starts: Sequence[tuple[int, int]], conditions: Sequence[str],
           length: int, pose_start_s: float, mounts: np.ndarray | None = None) -> dict[str, torch.Tensor]:
    crops = [_crop(takes[i], s, length) for i, s in starts]
    stacked = {k: np.stack([c[k] for c in crops]) for k in crops[0]}
    if mounts is not None and stacked["imu"].shape[2]:  # (B, S, 4): one turn per crop and IMU
        stacked["imu"] = turn_mounts(stacked["imu"], mounts[:, None])
    t0 = np.array([takes[i].t[0] for i, _ in starts])[:, None]
    since = stacked["t"] - t0
    frames = {k: stacked[k] for k in FRAME_FIELDS if k != "t"}
    seen = [apply_condition({k: v[b] for k, v in frames.items()}, c, since[b], pose_start_s)
            for b, c in enumerate(conditions)]
    batch = {k: torch.as_tensor(np.stack([s[k] for s in seen])[:, :length]) for k in frames}
    for k in frames:  # the raw next step: forward-model targets (every modality, conditioned or not)
        batch["next_" + k] = torch.as_tensor(frames[k][:, 1:])
    batch["t_rel"] = torch.as_tensor(stacked["t"][:, :length] - stacked["t"][:, :1])
    batch["cond"] = torch.as_tensor([list(CONDITIONS).index(c) for c in conditions], dtype=torch.long)
    for k in _TARGETS:
        if k in stacked:
            batch[k] = torch.as_tensor(stacked[k][:, :length])
    return batch


def _rows(batch: Mapping[str, torch.Tensor], rows: slice) -> dict[str, torch.Tensor]:
    return {k: v[rows] for k, v in batch.items()}


def _sample(takes: Sequence[Take], cfg: TrainConfig, rng: np.random.Generator, n: int
            ) -> tuple[list[tuple[int, int]], list[str]]:
    lengths = np.array([len(t) for t in takes], dtype=float)
    which = rng.choice(len(takes), size=n, p=lengths / lengths.sum())
    starts = []
    for i in which:
        room = max(len(takes[i]) - cfg.seq_len, 0)
        s = 0 if (rng.random() < cfg.start_prob or room == 0) else int(rng.integers(0, room + 1))
        starts.append((int(i), s))
    conds = [cfg.conditions[j] for j in rng.integers(0, len(cfg.conditions), size=n)]
    return starts, conds


# -- loss --------------------------------------------------------------------------------

def _terms(model: FusionModel, out: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor]
           ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per loss term: (sum of Huber losses over valid values, count of valid values)."""
    ok = batch["y_ok"]
    y = model.norm.norm("angles", batch["y_angles"])
    m = ok.unsqueeze(-1).expand_as(y)
    terms = {"angles": _masked(out["angles"], y, m)}
    if "kp" in out and "y_kp" in batch:
        yk = model.norm.norm("kp", batch["y_kp"])
        mk = ok[..., None, None].expand_as(yk)
        terms["kp"] = _masked(out["kp"], yk, mk)
    nxt = {k[5:]: v for k, v in batch.items() if k.startswith("next_")}
    target, tok = model.forward_targets(nxt)
    terms["forward"] = _masked(out["forward"], target, tok)
    return terms


def _masked(pred: torch.Tensor, target: torch.Tensor, ok: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of Huber losses where ``ok``, and how many (invalid targets may hold anything)."""
    loss = F.smooth_l1_loss(pred, torch.where(ok, target, pred.detach()), reduction="none")
    return (loss * ok).sum(), ok.sum()


def _counts(batch: Mapping[str, torch.Tensor], model: FusionModel) -> dict[str, float]:
    d = model.dims
    ok = batch["y_ok"].sum().item()
    counts = {"angles": ok * d["J"]}
    if d["Q"]:
        counts["kp"] = ok * d["Q"] * 3
    counts["forward"] = (batch["next_imu_ok"].sum().item() * d["F"]
                         + batch["next_emg_ok"].sum().item() * d["P"])
    return {k: max(v, 1.0) for k, v in counts.items()}


# -- validation --------------------------------------------------------------------------

@torch.no_grad()
def _validate(model: FusionModel, takes: Sequence[Take], plan: list[tuple[int, int]], cfg: TrainConfig
              ) -> dict[str, Any]:
    was = model.training
    model.eval()
    res: dict[str, Any] = {}
    for cond in cfg.val_conditions:
        sums: dict[str, float] = {}
        ang_err = np.zeros(model.dims["H"])
        kp_err = np.zeros(model.dims["H"])
        n_ok = np.zeros(model.dims["H"])
        for s in range(0, len(plan), cfg.batch_size):
            part = plan[s:s + cfg.batch_size]
            batch = _batch(takes, part, [cond] * len(part), cfg.seq_len, model.spec.pose_start_s)
            out = model(batch, batch["t_rel"], condition=batch["cond"])
            for k, (v, n) in _terms(model, out, batch).items():
                sums[k] = sums.get(k, 0.0) + v.item()
                sums["n_" + k] = sums.get("n_" + k, 0.0) + n.item()
            angles, kp = model.decode(out)
            ok = batch["y_ok"].numpy()
            e = (angles - batch["y_angles"]).abs().mean(-1).numpy()
            ang_err += (e * ok).sum((0, 1))
            n_ok += ok.sum((0, 1))
            if kp is not None:
                ek = (kp - batch["y_kp"]).norm(dim=-1).mean(-1).numpy() * 1000
                kp_err += (ek * ok).sum((0, 1))
        n_ok = np.maximum(n_ok, 1)
        loss = sum(w * sums[k] / max(sums["n_" + k], 1) for k, w in asdict(cfg.loss).items() if k in sums)
        res[cond] = {"loss": loss, "angle_mae_deg": (ang_err / n_ok).round(3).tolist(),
                     "kp_mm": (kp_err / n_ok).round(2).tolist() if model.dims["Q"] else None}
    model.train(was)
    return res


def angle_errors(model: FusionModel, takes: Iterable[Take], condition: str = "all") -> np.ndarray:
    """Joint-angle mean absolute error (deg) per horizon of ``model.predict_take`` over
    ``takes`` (valid targets only): the quick score fine-tuning reports."""
    err = np.zeros(model.dims["H"])
    n = np.zeros(model.dims["H"])
    for take in takes:
        p = model.predict_take(take, condition)
        e = np.abs(p.angles - take.y_angles).mean(-1)
        err += (e * take.y_ok).sum(0)
        n += take.y_ok.sum(0)
    return err / np.maximum(n, 1)


def _slice(take: Take, part: slice, suffix: str) -> Take:
    arrays = {name: getattr(take, name)[part] for name in (*FRAME_FIELDS, "y_angles", "y_ok")}
    return replace(take, name=take.name + suffix, **arrays,
                   y_kp=None if take.y_kp is None else take.y_kp[part],
                   labels={k: v[part] for k, v in take.labels.items()})


def split_minutes(takes: Sequence[Take], minutes: float) -> tuple[list[Take], list[Take]]:
    """The first ``minutes`` of ``takes`` (in order; the last one cut where the time runs
    out) and everything after: fine-tuning data and the held-out rest of one mover.
    A piece shorter than 2 s is dropped rather than kept as a sliver."""
    left = int(round(minutes * 60 * takes[0].spec.step_hz)) if takes else 0
    tune, rest = [], []
    min_steps = int(2 * takes[0].spec.step_hz) if takes else 0
    for take in takes:
        if left >= len(take):
            tune.append(take)
            left -= len(take)
        elif left > 0:
            if left >= min_steps:
                tune.append(_slice(take, slice(0, left), "[tune]"))
            if len(take) - left >= min_steps:
                rest.append(_slice(take, slice(left, None), "[rest]"))
            left = 0
        else:
            rest.append(take)
    return tune, rest


# -- the training loop -------------------------------------------------------------------

def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    span = max(cfg.steps - cfg.warmup_steps, 1)
    frac = min((step - cfg.warmup_steps) / span, 1.0)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac)))


def init_distributed() -> tuple[int, int]:
    """(rank, world size); starts the gloo/nccl process group when run under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return dist.get_rank(), dist.get_world_size()


def barrier() -> None:
    """Wait for every process of the torchrun group (nothing when not distributed)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def finish_distributed() -> None:
    """End the torchrun process group started by :func:`init_distributed` (if any)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _optimizer(model: FusionModel, cfg: TrainConfig) -> torch.optim.Optimizer:
    if cfg.train_only:
        for n, p in model.named_parameters():
            p.requires_grad_(n.startswith(tuple(cfg.train_only)))
        if not any(p.requires_grad for p in model.parameters()):
            raise ConfigError(f"train_only={list(cfg.train_only)} matches no parameter; names start with "
                              f"{sorted({n.split('.')[0] + '.' for n, _ in model.named_parameters()})}")
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in params if p.ndim >= 2 and "emb" not in n]
    other = [p for n, p in params if not (p.ndim >= 2 and "emb" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": other, "weight_decay": 0.0}], lr=cfg.lr)


def train(cfg: TrainConfig, train_takes: Iterable[Take], val_takes: Iterable[Take] = (),
          out: str | os.PathLike | None = None, *, init: FusionModel | None = None, resume: bool = False,
          progress: bool = False) -> TrainResult:
    """Train a fusion model (see the module docstring).

    ``out``: a folder for ``last.pt`` (every ``checkpoint_every`` steps and at the end,
    with optimiser state) and ``model.pt`` (the final weights, for inference).
    ``init``: start from this model (its normalisation kept; fine-tuning). ``resume``:
    continue from ``out/last.pt`` when it exists. ``progress``: a tqdm bar on stderr.
    """
    takes = list(train_takes)
    val = list(val_takes)
    if not takes:
        raise ConfigError("no training takes: the data source gave none; check its path and split")
    rank, world = init_distributed()
    if cfg.batch_size % world:
        raise ConfigError(f"batch_size={cfg.batch_size} must be a multiple of the {world} processes")
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.use_deterministic_algorithms(True)
    try:
        return _train(cfg, takes, val, Path(out) if out is not None else None, init, resume, progress,
                      rank, world)
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)


def _train(cfg, takes, val, out, init, resume, progress, rank, world) -> TrainResult:
    t_start = time.perf_counter()
    torch.manual_seed(cfg.seed)
    if init is not None:
        model = copy.deepcopy(init)
        model.requires_grad_(True)
        for take in takes[:1]:
            model.check_take(take)
        model.history = []
    else:
        model = FusionModel.build(cfg.model, takes)
        if model.readout is not None:  # the closed-form part first (the same on every rank)
            conds = list(dict.fromkeys([*cfg.conditions, *cfg.val_conditions]))
            model.readout_choices = model.readout.fit(model, takes, val, conds)
    model.train()
    opt = _optimizer(model, cfg)
    first = 0
    history: list[dict] = []
    best: dict | None = None  # {"step", "val_loss", "state"} with keep_best
    last = out / "last.pt" if out is not None else None
    if out is not None and rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    if resume and last is not None and last.is_file():
        payload = read_checkpoint(last)
        model.load_state_dict(payload["state_dict"])
        opt.load_state_dict(payload["resume"]["optimizer"])
        first = int(payload["resume"]["step"])
        history = list(payload.get("history", []))
        best = payload["resume"].get("best")
    net: torch.nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model)
    plan_rng = np.random.default_rng([cfg.seed, 7])
    val_plan = _sample(val, replace(cfg, start_prob=0.0), plan_rng, cfg.val_sequences)[0] if val else []
    mine = slice(rank, None, world)
    running: list[float] = []
    bar = tqdm(total=cfg.steps, initial=first, disable=not progress or rank != 0, desc="train", unit="step")

    def save(step: int) -> None:
        if last is None or rank != 0:
            return
        model.history = history
        save_checkpoint(model, last, train=cfg.to_dict(),
                        resume={"step": step, "optimizer": opt.state_dict(), "best": best})

    def remember(step: int, val_loss: float) -> None:
        nonlocal best
        if best is None or val_loss < best["val_loss"]:
            best = {"step": step, "val_loss": val_loss,
                    "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}

    keep = cfg.keep_best and bool(val) and rank == 0
    if keep and first == 0:
        v0 = _validate(model, val, val_plan, cfg)
        remember(0, float(np.mean([r["loss"] for r in v0.values()])))

    for step in range(first, cfg.steps):
        lr = _lr(cfg, step)
        for g in opt.param_groups:
            g["lr"] = lr
        rng = np.random.default_rng([cfg.seed, step])
        starts, conds = _sample(takes, cfg, rng, cfg.batch_size)
        mounts = None
        if cfg.mount_jitter_deg > 0 and model.dims["S"]:
            mounts = mount_rotations(rng, cfg.batch_size * model.dims["S"], cfg.mount_jitter_deg)
            mounts = mounts.reshape(cfg.batch_size, model.dims["S"], 4)
        batch = _batch(takes, starts, conds, cfg.seq_len, model.spec.pose_start_s, mounts)
        counts = _counts(batch, model)
        local = _rows(batch, mine)
        outputs = net(local, local["t_rel"], condition=local["cond"])
        terms = _terms(model, outputs, local)
        loss = sum(getattr(cfg.loss, k) * s / counts[k] for k, (s, _) in terms.items()) * world
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        logged = loss.detach() / world
        if world > 1:
            import torch.distributed as dist

            dist.all_reduce(logged)
        running.append(float(logged))
        bar.update(1)
        done = step + 1
        if done % cfg.val_every == 0 or done == cfg.steps:
            entry = {"step": done, "lr": lr, "train_loss": float(np.mean(running)),
                     "seconds": round(time.perf_counter() - t_start, 2)}
            running = []
            if val and rank == 0:
                v = _validate(model, val, val_plan, cfg)
                entry["val_loss"] = float(np.mean([r["loss"] for r in v.values()]))
                entry["val"] = v
                bar.set_postfix(train=f"{entry['train_loss']:.3f}", val=f"{entry['val_loss']:.3f}")
                if keep:
                    remember(done, entry["val_loss"])
            history.append(entry)
        if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < cfg.steps:
            save(done)
    bar.close()
    model.history = history
    if keep and best is not None:
        model.load_state_dict(best["state"])
        model.best_step = int(best["step"])
        if history:
            history[-1]["kept_step"] = model.best_step
    model.eval()
    if val:  # the motion deadband of every condition trained, on the validation takes
        model.fit_deadband(val, list(dict.fromkeys([*cfg.conditions, *cfg.val_conditions])))
    saved = None
    if out is not None and rank == 0:
        save(cfg.steps)
        saved = save_checkpoint(model, out / "model.pt", train=cfg.to_dict())
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return TrainResult(model=model, history=history, seconds=time.perf_counter() - t_start, checkpoint=saved)


def finetune(model: FusionModel, takes: Iterable[Take], cfg: TrainConfig | None = None,
             val_takes: Iterable[Take] = (), out: str | os.PathLike | None = None, *,
             progress: bool = False) -> TrainResult:
    """Fine-tune a trained model on a few minutes of one mover (``cfg`` default: the
    ``finetune`` preset). The model's architecture and normalisation are kept; the
    original is not changed."""
    cfg = cfg or load_config("finetune")
    cfg = replace(cfg, model=model.cfg)
    takes = list(takes)
    for take in takes:
        if dims_of(take) != model.dims:
            model.check_take(take)
    return train(cfg, takes, val_takes, out, init=model, progress=progress)


def plot_history(history: Sequence[Mapping[str, Any]], title: str = "fusion model training"):
    """The training curve: train and validation loss per logged step (left), validation
    joint-angle MAE per condition at 0 and the longest horizon (right). Returns a
    :class:`matplotlib.figure.Figure` made without pyplot (no backend is chosen)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax_loss, ax_err = fig.subplots(1, 2)
    steps = [h["step"] for h in history]
    ax_loss.plot(steps, [h["train_loss"] for h in history], "o-", label="train")
    val = [h for h in history if "val_loss" in h]
    if val:
        ax_loss.plot([h["step"] for h in val], [h["val_loss"] for h in val], "s-", label="validation")
        for cond in val[-1]["val"]:
            errs = [h["val"][cond]["angle_mae_deg"] for h in val]
            line, = ax_err.plot([h["step"] for h in val], [e[0] for e in errs], "o-", label=f"{cond}, 0 ms")
            ax_err.plot([h["step"] for h in val], [e[-1] for e in errs], "s--", color=line.get_color(),
                        label=f"{cond}, longest horizon")
        ax_err.legend(fontsize=7)
    ax_loss.set(xlabel="step", ylabel="loss (normalised Huber)", title=title)
    ax_loss.legend()
    ax_err.set(xlabel="step", ylabel="joint-angle MAE (deg)", title="validation movers")
    return fig

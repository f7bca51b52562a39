"""The fusion encoder: per-step cross-modal pooling, then a causal transformer over steps.

Building blocks shared with the motion model (:mod:`wearsense.fusion.model`):

- :class:`Attention` — multi-head attention with rotary time embeddings in seconds
  (:class:`~wearsense.fusion.tokens.RotaryTime`) and a **sliding window** of ``window``
  steps (the step itself and the ``window - 1`` before it). A :class:`KVCache` holds
  the last ``window - 1`` rotated keys and values, so a block of new steps (one step
  live, hundreds offline) attends exactly as the whole sequence would: streaming,
  chunked offline prediction and training all run this one code path.
- :class:`Block` — a pre-LayerNorm transformer block, optionally conditioned on a
  second sequence by **cross-attention** or by **adaLN** (adaptive LayerNorm with
  zero-initialised gates, "adaLN-Zero", Peebles & Xie 2023, DiT).

The encoder itself: :class:`StepPool` lets a learned query attend over one step's
tokens (EMG channels, IMUs, event slots — mask tokens included, so the encoder knows
what is missing) and returns one vector per step; :class:`TemporalEncoder` runs causal
blocks over those vectors. Its output at step ``k`` summarises the inside-out signals
up to ``k`` and conditions the motion model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from wearsense.errors import ConfigError
from wearsense.fusion.tokens import RotaryTime

__all__ = ["KVCache", "Attention", "Block", "StepPool", "TemporalEncoder", "window_mask"]


@dataclass
class KVCache:
    """Rotated keys and values of the last ``window - 1`` steps of one attention layer."""

    k: Tensor | None = None
    v: Tensor | None = None


def window_mask(past: int, new: int, window: int) -> Tensor | None:
    """Which keys each of ``new`` queries may see, after ``past`` cached steps: itself
    and the ``window - 1`` steps before, never a later one. ``None`` when all may."""
    if new == 1 and past < window:
        return None
    i = torch.arange(new).unsqueeze(1) + past
    j = torch.arange(past + new).unsqueeze(0)
    return (j <= i) & (i - j < window)


class Attention(nn.Module):
    """Sliding-window attention from ``x`` to ``src`` (self-attention when ``src is x``),
    both on the same steps, with rotary embeddings of the step times."""

    def __init__(self, d: int, heads: int):
        super().__init__()
        if d % heads:
            raise ConfigError(f"d_model={d} must be a multiple of heads={heads}")
        self.heads, self.dh = heads, d // heads
        self.q = nn.Linear(d, d)
        self.kv = nn.Linear(d, 2 * d)
        self.o = nn.Linear(d, d)

    def forward(self, x: Tensor, src: Tensor, rot: tuple[Tensor, Tensor], window: int,
                cache: KVCache | None = None) -> Tensor:
        b, n, d = x.shape
        q = RotaryTime.rotate(self.q(x).view(b, n, self.heads, self.dh).transpose(1, 2), rot)
        k, v = self.kv(src).view(b, n, 2, self.heads, self.dh).permute(2, 0, 3, 1, 4)
        k = RotaryTime.rotate(k, rot)
        past = 0
        if cache is not None:
            if cache.k is not None:
                past = cache.k.shape[2]
                k = torch.cat([cache.k, k], dim=2)
                v = torch.cat([cache.v, v], dim=2)
            drop = max(k.shape[2] - (window - 1), 0)
            cache.k, cache.v = k[:, :, drop:], v[:, :, drop:]
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=window_mask(past, n, window))
        return self.o(y.transpose(1, 2).reshape(b, n, d))


def _mlp(d: int, ratio: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d, ratio * d), nn.GELU(approximate="tanh"), nn.Linear(ratio * d, d))


class Block(nn.Module):
    """Pre-LN transformer block over steps; ``conditioning`` is ``None``, ``"cross"``
    (attend to the condition sequence) or ``"adaln"`` (the condition of each step
    shifts, scales and gates that step's LayerNorms and branches)."""

    def __init__(self, d: int, heads: int, mlp_ratio: int, conditioning: str | None = None):
        super().__init__()
        if conditioning not in (None, "cross", "adaln"):
            raise ConfigError(f"conditioning={conditioning!r}: choose 'cross' or 'adaln'")
        self.conditioning = conditioning
        adaln = conditioning == "adaln"
        self.ln1 = nn.LayerNorm(d, elementwise_affine=not adaln)
        self.attn = Attention(d, heads)
        self.ln2 = nn.LayerNorm(d, elementwise_affine=not adaln)
        self.mlp = _mlp(d, mlp_ratio)
        if conditioning == "cross":
            self.lnx = nn.LayerNorm(d)
            self.xattn = Attention(d, heads)
        if adaln:
            self.ada = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))
            nn.init.zeros_(self.ada[1].weight)
            nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: Tensor, rot: tuple[Tensor, Tensor], window: int, cond: Tensor | None = None,
                cache: list[KVCache] | None = None) -> Tensor:
        self_cache = cache[0] if cache is not None else None
        if self.conditioning == "adaln":
            s1, c1, g1, s2, c2, g2 = self.ada(cond).chunk(6, dim=-1)
            h = self.ln1(x) * (1 + c1) + s1
            x = x + g1 * self.attn(h, h, rot, window, self_cache)
            return x + g2 * self.mlp(self.ln2(x) * (1 + c2) + s2)
        h = self.ln1(x)
        x = x + self.attn(h, h, rot, window, self_cache)
        if self.conditioning == "cross":
            x = x + self.xattn(self.lnx(x), cond, rot, window, cache[1] if cache is not None else None)
        return x + self.mlp(self.ln2(x))

    def new_cache(self) -> list[KVCache]:
        return [KVCache(), KVCache()] if self.conditioning == "cross" else [KVCache()]


class StepPool(nn.Module):
    """Cross-modal fusion within one step: a learned query attends over the step's
    tokens ``(B, L, N, d)`` and an MLP follows; returns ``(B, L, d)``."""

    def __init__(self, d: int, heads: int, mlp_ratio: int):
        super().__init__()
        self.heads, self.dh = heads, d // heads
        self.query = nn.Parameter(torch.randn(d) * 0.02)
        self.kv = nn.Linear(d, 2 * d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = _mlp(d, mlp_ratio)

    def forward(self, tokens: Tensor) -> Tensor:
        b, n, m, d = tokens.shape
        k, v = self.kv(tokens).view(b * n, m, 2, self.heads, self.dh).permute(2, 0, 3, 1, 4)
        q = self.query.view(1, self.heads, 1, self.dh).expand(b * n, -1, -1, -1)
        x = self.o(F.scaled_dot_product_attention(q, k, v).reshape(b, n, d)) + self.query
        return x + self.mlp(self.ln2(x))


class TemporalEncoder(nn.Module):
    """Causal transformer over the per-step fusion vectors (sliding window, rotary time)."""

    def __init__(self, d: int, heads: int, layers: int, mlp_ratio: int):
        super().__init__()
        self.blocks = nn.ModuleList(Block(d, heads, mlp_ratio) for _ in range(layers))
        self.ln = nn.LayerNorm(d)

    def forward(self, x: Tensor, rot: tuple[Tensor, Tensor], window: int,
                cache: list[list[KVCache]] | None = None) -> Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x, rot, window, cache=cache[i] if cache is not None else None)
        return self.ln(x)

    def new_cache(self) -> list[list[KVCache]]:
        return [b.new_cache() for b in self.blocks]

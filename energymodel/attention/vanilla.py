"""Vanilla (ANN) multi-head self-attention, the baseline of the comparison table."""

from __future__ import annotations

import torch
from torch import nn

from ._common import check_dims, merge_heads, split_heads

__all__ = ["VanillaSelfAttention"]


class VanillaSelfAttention(nn.Module):
    """``proj(softmax(Q Kᵀ / sqrt(d)) V)`` with analog ``Q, K, V = LN(x) W``.

    The ViT pre-norm LayerNorm sits inside the module (``norm``), so the linears always see an
    analog input, as in a ViT, even when the module is fed the same spike tensor as the
    spiking mechanisms: every product here is a multiply-accumulate,
    ``4 N D² + 2 N² D`` MACs per timestep.

    Args:
        dim: channels D. heads: H (D must be divisible by H).
        qkv_bias: biases on the Q, K, V linears (ViT default: True).
        pre_norm: keep the LayerNorm (False: the caller normalises).

    Input and output ``[T, B, N, D]``; T is folded into the batch (T = 1 for an ANN).
    """

    def __init__(self, dim: int, heads: int = 8, qkv_bias: bool = True, pre_norm: bool = True) -> None:
        super().__init__()
        check_dims(dim, heads)
        self.dim, self.heads = dim, heads
        self.scale = (dim // heads) ** -0.5
        self.norm = nn.LayerNorm(dim, eps=1e-6) if pre_norm else nn.Identity()
        self.q_linear = nn.Linear(dim, dim, bias=qkv_bias)
        self.k_linear = nn.Linear(dim, dim, bias=qkv_bias)
        self.v_linear = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj_linear = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        q = split_heads(self.q_linear(h), self.heads)
        k = split_heads(self.k_linear(h), self.heads)
        v = split_heads(self.v_linear(h), self.heads)
        attn = q @ k.transpose(-2, -1)
        attn = attn * self.scale
        attn = attn.softmax(dim=-1)
        out = attn @ v
        return self.proj_linear(merge_heads(out))

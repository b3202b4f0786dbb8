"""Spike-Driven Self-Attention (SDSA) of the Spike-driven Transformer (Yao et al., NeurIPS 2023,
arXiv 2307.01694), in the form of its official code."""

from __future__ import annotations

import torch
from torch import nn

from ..lif import LIF
from ._common import add_spiking_projections, check_dims, linear_bn, merge_heads, spiking_projection

__all__ = ["SpikeDrivenSelfAttention"]


class SpikeDrivenSelfAttention(nn.Module):
    """``BN(Linear(Q ⊙ SN(Σ_tokens (K ⊙ V))))`` with spike ``Q, K, V = SN(BN(x W))``.

    The official code form (the paper's first version writes ``SN(Σ_tokens(Q ⊙ K)) ⊙ V``):
    ``K ⊙ V`` is a mask, the sum over the N tokens of each head channel is an accumulation of
    its non-zeros, ``talking_heads_lif`` (threshold 0.5) turns the ``[T, B, H, 1, d]`` column
    sums into spikes, and ``Q ⊙ that`` is a second mask. No multiplication anywhere; the cost
    is linear in N. The projection ends in BatchNorm without a neuron: the block adds it to the
    membrane shortcut and the next neuron fires on the sum.

    Args:
        dim, heads: D and H. attn_threshold: threshold of ``talking_heads_lif``. tau: of every
            neuron. qkv_bias: biases on the Q, K, V linears (official: none).

    Input ``[T, B, N, D]`` spikes, output ``[T, B, N, D]`` analog (membrane contribution).
    """

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        qkv_bias: bool = False,
        attn_threshold: float = 0.5,
        tau: float = 2.0,
    ) -> None:
        super().__init__()
        check_dims(dim, heads)
        self.dim, self.heads = dim, heads
        add_spiking_projections(self, ("q", "k", "v"), dim, qkv_bias, tau)
        self.talking_heads_lif = LIF(tau=tau, v_threshold=attn_threshold)
        self.proj_linear = nn.Linear(dim, dim)
        self.proj_bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = spiking_projection(self, "q", x, self.heads)
        k = spiking_projection(self, "k", x, self.heads)
        v = spiking_projection(self, "v", x, self.heads)
        kv = k * v  # mask
        kv = kv.sum(dim=-2, keepdim=True)  # column sum over tokens: [T, B, H, 1, d]
        kv = self.talking_heads_lif(kv)
        out = q * kv  # mask
        return linear_bn(merge_heads(out), self.proj_linear, self.proj_bn)

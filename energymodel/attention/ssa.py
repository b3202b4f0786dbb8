"""Spiking Self-Attention (SSA) of Spikformer (Zhou et al., ICLR 2023, arXiv 2209.15425)."""

from __future__ import annotations

import torch
from torch import nn

from ..lif import LIF
from ._common import add_spiking_projections, check_dims, linear_bn, merge_heads, spiking_projection

__all__ = ["SpikingSelfAttention"]


class SpikingSelfAttention(nn.Module):
    """``SN(Q Kᵀ V * s)`` with spike ``Q, K, V = SN(BN(x W))``, no softmax.

    Layout of the official Spikformer code: ``q_linear, q_bn, q_lif`` (likewise k, v), the
    attention neuron ``attn_lif`` with threshold 0.5, scale ``s = 0.125``, then the projection
    ``proj_linear, proj_bn, proj_lif``. The output is binary spikes.

    Without softmax the product is associative, and the two official codes differ in order:

    * ``order="qk_v"`` (default; the paper's form and the official CIFAR code): ``(Q Kᵀ) V``.
      ``Q Kᵀ`` is spike x spike (accumulates where both are 1), its integer ``N x N`` result
      then selects and sums rows of V: quadratic in N.
    * ``order="q_kv"`` (the official ImageNet code): ``Q (Kᵀ V)``. ``Kᵀ V`` is spike x spike over
      the tokens, its integer ``d x d`` result is read by Q's events: linear in N.

    Same output either way (integer sums, exact in floating point); different op counts.
    The scale is applied to the ``[N, d]`` product in both orders, as the ImageNet code does;
    the CIFAR code scales the ``N x N`` map before ``@ V`` (same output, ``N² H`` instead of
    ``N D`` scale element ops per timestep, ZK-Zhou/spikformer@6212689 cifar10/model.py).

    Args:
        dim, heads: D and H. qkv_bias: biases on the Q, K, V linears (the ImageNet code has
            none, the CIFAR code has them). scale: s. attn_threshold: threshold of ``attn_lif``.
        tau: membrane time constant of every neuron.

    Input ``[T, B, N, D]`` spikes (binary or small integers), output ``[T, B, N, D]`` spikes.
    """

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        qkv_bias: bool = False,
        scale: float = 0.125,
        attn_threshold: float = 0.5,
        tau: float = 2.0,
        order: str = "qk_v",
    ) -> None:
        super().__init__()
        check_dims(dim, heads)
        if order not in ("qk_v", "q_kv"):
            raise ValueError(f"order must be 'qk_v' or 'q_kv' (got {order!r})")
        self.dim, self.heads, self.scale, self.order = dim, heads, scale, order
        add_spiking_projections(self, ("q", "k", "v"), dim, qkv_bias, tau)
        self.attn_lif = LIF(tau=tau, v_threshold=attn_threshold)
        self.proj_linear = nn.Linear(dim, dim)
        self.proj_bn = nn.BatchNorm1d(dim)
        self.proj_lif = LIF(tau=tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = spiking_projection(self, "q", x, self.heads)
        k = spiking_projection(self, "k", x, self.heads)
        v = spiking_projection(self, "v", x, self.heads)
        if self.order == "qk_v":
            attn = q @ k.transpose(-2, -1)  # [T, B, H, N, N], integer-valued
            out = attn @ v
        else:
            kv = k.transpose(-2, -1) @ v  # [T, B, H, d, d], integer-valued
            out = q @ kv
        out = out * self.scale
        out = self.attn_lif(merge_heads(out))
        return self.proj_lif(linear_bn(out, self.proj_linear, self.proj_bn))

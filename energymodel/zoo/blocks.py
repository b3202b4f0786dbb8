"""Transformer blocks of the reference models, token-major ``[T, B, N, D]``.

Two residual styles, as published:

* Spikformer (:class:`SpikformerBlock`): spike residual. The attention and the MLP end in a
  neuron, their spikes are added to the block input, so blocks pass on small integers.
* Spike-driven Transformer (:class:`SDTBlock`) and SAFormer (:class:`SAFormerBlock`): membrane
  shortcut. The residual stream is analog (membrane potential); each branch starts with a
  neuron (``shortcut_lif``, ``fc1_lif``, ...) so every synaptic layer sees binary spikes.

The ViT baseline (:class:`ViTBlock`) is the pre-norm ANN block.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..attention import (
    SpikeAggregatedSelfAttention,
    SpikeDrivenSelfAttention,
    SpikingSelfAttention,
    VanillaSelfAttention,
)
from ..attention._common import linear_bn
from ..lif import LIF

__all__ = [
    "SpikingMLP",
    "MembraneMLP",
    "DepthwiseConvModule",
    "SpikformerBlock",
    "SDTBlock",
    "SAFormerBlock",
    "ViTBlock",
    "square_grid",
]


def square_grid(n: int) -> tuple[int, int]:
    """``(h, w)`` of a square token grid of ``n`` tokens; error when ``n`` is not a square."""
    h = math.isqrt(n)
    if h * h != n:
        raise ValueError(f"{n} tokens do not form a square grid; pass grid=(h, w)")
    return h, h


class SpikingMLP(nn.Module):
    """Spikformer MLP: ``SN(BN(Linear(SN(BN(Linear(x))))))``, spikes in, spikes out."""

    def __init__(self, dim: int, hidden: int, tau: float = 2.0) -> None:
        super().__init__()
        self.fc1_linear = nn.Linear(dim, hidden)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc1_lif = LIF(tau=tau)
        self.fc2_linear = nn.Linear(hidden, dim)
        self.fc2_bn = nn.BatchNorm1d(dim)
        self.fc2_lif = LIF(tau=tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc1_lif(linear_bn(x, self.fc1_linear, self.fc1_bn))
        return self.fc2_lif(linear_bn(x, self.fc2_linear, self.fc2_bn))


class MembraneMLP(nn.Module):
    """Spike-driven Transformer MLP: ``BN(Linear(SN(BN(Linear(SN(u))))))``, membrane in,
    membrane contribution out (the caller adds the shortcut). When ``hidden == dim`` the
    hidden membrane gets its own shortcut, as in the official code."""

    def __init__(self, dim: int, hidden: int, tau: float = 2.0) -> None:
        super().__init__()
        self.fc1_lif = LIF(tau=tau)
        self.fc1_linear = nn.Linear(dim, hidden)
        self.fc1_bn = nn.BatchNorm1d(hidden)
        self.fc2_lif = LIF(tau=tau)
        self.fc2_linear = nn.Linear(hidden, dim)
        self.fc2_bn = nn.BatchNorm1d(dim)
        self.hidden_shortcut = hidden == dim

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        h = linear_bn(self.fc1_lif(u), self.fc1_linear, self.fc1_bn)
        if self.hidden_shortcut:
            h = h + u
        return linear_bn(self.fc2_lif(h), self.fc2_linear, self.fc2_bn)


class DepthwiseConvModule(nn.Module):
    """SAFormer's depthwise-convolution module (DWC), **our reading** (the abstract names it,
    the body was not available): ``BN(DWConv3x3(SN(u)))`` over the token grid, membrane in,
    membrane contribution out, one 3x3 filter per channel, no bias.

    Args:
        dim: channels. kernel_size: of the depthwise filter. grid: ``(h, w)`` of the token
            grid; ``None`` infers a square grid from N at run time.
    """

    def __init__(
        self, dim: int, kernel_size: int = 3, grid: tuple[int, int] | None = None, tau: float = 2.0
    ) -> None:
        super().__init__()
        self.grid = grid
        self.dwc_lif = LIF(tau=tau)
        self.dwc_conv = nn.Conv2d(
            dim, dim, kernel_size, padding=kernel_size // 2, groups=dim, bias=False
        )
        self.dwc_bn = nn.BatchNorm2d(dim)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        T, B, N, D = u.shape
        h, w = self.grid if self.grid is not None else square_grid(N)
        if h * w != N:
            raise ValueError(f"DWC grid {h}x{w} does not hold {N} tokens")
        s = self.dwc_lif(u)
        s = s.flatten(0, 1).transpose(1, 2).reshape(T * B, D, h, w)
        y = self.dwc_bn(self.dwc_conv(s))
        return y.reshape(T, B, D, N).transpose(2, 3)


class SpikformerBlock(nn.Module):
    """``x = x + SSA(x); x = x + MLP(x)`` on spikes (the sums are integer spikes)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = False,
        tau: float = 2.0,
        ssa_order: str = "qk_v",
    ) -> None:
        super().__init__()
        self.attn = SpikingSelfAttention(dim, heads, qkv_bias=qkv_bias, tau=tau, order=ssa_order)
        self.mlp = SpikingMLP(dim, int(dim * mlp_ratio), tau=tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.mlp(x)


class SDTBlock(nn.Module):
    """Membrane-shortcut block: ``u = u + SDSA(SN(u)); u = u + MLP(u)``."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, tau: float = 2.0) -> None:
        super().__init__()
        self.shortcut_lif = LIF(tau=tau)
        self.attn = SpikeDrivenSelfAttention(dim, heads, tau=tau)
        self.mlp = MembraneMLP(dim, int(dim * mlp_ratio), tau=tau)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = u + self.attn(self.shortcut_lif(u))
        return u + self.mlp(u)


class SAFormerBlock(nn.Module):
    """Our reading of the SAFormer block: the SDT membrane-shortcut layout with SASA in place of
    SDSA and the DWC module between attention and MLP:
    ``u = u + SASA(SN(u)); u = u + DWC(u); u = u + MLP(u)``."""

    def __init__(
        self,
        dim: int,
        heads: int,
        mlp_ratio: float = 4.0,
        grid: tuple[int, int] | None = None,
        tau: float = 2.0,
    ) -> None:
        super().__init__()
        self.shortcut_lif = LIF(tau=tau)
        self.attn = SpikeAggregatedSelfAttention(dim, heads, tau=tau)
        self.dwc = DepthwiseConvModule(dim, grid=grid, tau=tau)
        self.mlp = MembraneMLP(dim, int(dim * mlp_ratio), tau=tau)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        u = u + self.attn(self.shortcut_lif(u))
        u = u + self.dwc(u)
        return u + self.mlp(u)


class ViTBlock(nn.Module):
    """Pre-norm ANN block: ``x = x + Attn(LN(x)); x = x + MLP(LN(x))`` (GELU MLP); the first
    LayerNorm is inside :class:`VanillaSelfAttention`."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0, qkv_bias: bool = True) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.attn = VanillaSelfAttention(dim, heads, qkv_bias=qkv_bias, pre_norm=True)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(x)
        return x + self.fc2(self.act(self.fc1(self.norm2(x))))

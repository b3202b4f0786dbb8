"""Reference models in their published shapes: Spikformer, the Spike-driven Transformer (SDT),
SAFormer (our reading) and a vanilla ViT baseline.

Every model takes images ``[B, C, H, W]`` (or an event tensor ``[T, B, C, H, W]``), repeats a
static image over its T timesteps, and returns logits ``[B, classes]`` averaged over T.

Module and parameter names follow the official code where it has them (``patch_embed``,
``block``, ``head``; ``proj_conv1``; ``q_bn``, ``talking_heads_lif``), so that official
checkpoints map onto ours with a short, explicit translation (:mod:`.checkpoint`).
"""

from __future__ import annotations

import torch
from torch import nn

from ..lif import LIF
from .blocks import SAFormerBlock, SDTBlock, SpikformerBlock, ViTBlock

__all__ = ["SpikingPatchSplitting", "Spikformer", "SpikeDrivenTransformer", "SAFormer", "ViT"]


def _over_time(x: torch.Tensor, T: int) -> torch.Tensor:
    """``[B, C, H, W]`` -> ``[T, B, C, H, W]`` (static image repeated); 5-D input passes."""
    if x.dim() == 4:
        return x.unsqueeze(0).repeat(T, 1, 1, 1, 1)
    if x.dim() == 5:
        return x
    raise ValueError(f"expected images [B, C, H, W] or events [T, B, C, H, W], got {tuple(x.shape)}")


class SpikingPatchSplitting(nn.Module):
    """Spiking patch splitting (SPS): four 3x3 conv-BN-LIF stages widening to D/8, D/4, D/2, D,
    a 3x3 max-pool (stride 2) after the stages marked ``"1"`` in ``pooling``, then the relative
    position embedding (a 3x3 conv-BN on the last stage's output) added to it.

    ``style="spikformer"``: each stage pools its spikes; the position embedding ends in a LIF and
    the output is the (integer) sum of two spike maps.
    ``style="sdt"``: the last stage pools its membrane before firing, the position embedding has
    no LIF and its BN output is added to that membrane (membrane shortcut); the output is analog.

    Input ``[T, B, C, H, W]``, output tokens ``[T, B, N, D]`` with ``N = (H / 2^p)(W / 2^p)``,
    ``p`` the number of pooled stages.
    """

    def __init__(
        self,
        in_channels: int,
        dim: int,
        pooling: str = "1111",
        style: str = "spikformer",
        tau: float = 2.0,
    ) -> None:
        super().__init__()
        if len(pooling) != 4 or set(pooling) - {"0", "1"}:
            raise ValueError(f"pooling must be 4 characters of 0/1 (got {pooling!r})")
        if style not in ("spikformer", "sdt"):
            raise ValueError(f"style must be 'spikformer' or 'sdt' (got {style!r})")
        if dim % 8:
            raise ValueError(f"SPS needs dim divisible by 8 (got {dim})")
        self.pooling, self.style = pooling, style
        widths = [in_channels, dim // 8, dim // 4, dim // 2, dim]
        for i in range(4):
            sfx = "" if i == 0 else str(i)
            setattr(self, f"proj_conv{sfx}", nn.Conv2d(widths[i], widths[i + 1], 3, 1, 1, bias=False))
            setattr(self, f"proj_bn{sfx}", nn.BatchNorm2d(widths[i + 1]))
            setattr(self, f"proj_lif{sfx}", LIF(tau=tau))
            if pooling[i] == "1":
                setattr(self, f"maxpool{sfx}", nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
        self.rpe_conv = nn.Conv2d(dim, dim, 3, 1, 1, bias=False)
        self.rpe_bn = nn.BatchNorm2d(dim)
        if style == "spikformer":
            self.rpe_lif = LIF(tau=tau)

    def _stage(self, i: int, x: torch.Tensor, T: int) -> torch.Tensor:
        """conv-BN of stage i on ``[TB, C, H, W]``; returns ``[TB, C', H, W]`` (analog)."""
        sfx = "" if i == 0 else str(i)
        return getattr(self, f"proj_bn{sfx}")(getattr(self, f"proj_conv{sfx}")(x))

    def _fire(self, i: int, x: torch.Tensor, T: int) -> torch.Tensor:
        sfx = "" if i == 0 else str(i)
        lif = getattr(self, f"proj_lif{sfx}")
        return lif(x.reshape(T, -1, *x.shape[1:])).flatten(0, 1)

    def _pool(self, i: int, x: torch.Tensor) -> torch.Tensor:
        sfx = "" if i == 0 else str(i)
        return getattr(self, f"maxpool{sfx}")(x) if self.pooling[i] == "1" else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B = x.shape[:2]
        x = x.flatten(0, 1)
        for i in range(3):
            x = self._pool(i, self._fire(i, self._stage(i, x, T), T))
        x = self._stage(3, x, T)
        if self.style == "spikformer":
            x = self._pool(3, self._fire(3, x, T))
            feat = x
            y = self.rpe_bn(self.rpe_conv(x))
            x = self.rpe_lif(y.reshape(T, B, *y.shape[1:])).flatten(0, 1) + feat
        else:
            x = self._pool(3, x)
            feat = x
            x = self.rpe_bn(self.rpe_conv(self._fire(3, x, T))) + feat
        TB, D, h, w = x.shape
        return x.reshape(T, B, D, h * w).transpose(2, 3)


class _SpikingTransformer(nn.Module):
    """Shared frame: SPS -> blocks -> mean over tokens -> head, averaged over T."""

    style = "spikformer"

    def __init__(
        self,
        *,
        depth: int,
        dim: int,
        heads: int,
        mlp_ratio: float = 4.0,
        img_size: int = 224,
        in_channels: int = 3,
        num_classes: int = 1000,
        T: int = 4,
        pooling: str = "1111",
        tau: float = 2.0,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        if T < 1:
            raise ValueError(f"T must be >= 1 (got {T})")
        self.T, self.dim = T, dim
        side = img_size // 2 ** pooling.count("1")
        self.grid = (side, side)
        self.patch_embed = SpikingPatchSplitting(in_channels, dim, pooling, self.style, tau)
        self.block = nn.ModuleList(
            [self._make_block(dim, heads, mlp_ratio, tau, qkv_bias) for _ in range(depth)]
        )
        self.head = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def _make_block(self, dim, heads, mlp_ratio, tau, qkv_bias) -> nn.Module:  # pragma: no cover
        raise NotImplementedError

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, D]``: the token mean after the last block."""
        x = self.patch_embed(_over_time(x, self.T))
        for blk in self.block:
            x = blk(x)
        return x.mean(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean(0))


class Spikformer(_SpikingTransformer):
    """Spikformer (Zhou et al., ICLR 2023): SPS + :class:`~.blocks.SpikformerBlock` (SSA), spike
    residuals, linear head on the time-averaged token mean. ``ssa_order``: ``"qk_v"`` (paper,
    CIFAR code) or ``"q_kv"`` (official ImageNet code); see :class:`SpikingSelfAttention`."""

    style = "spikformer"

    def __init__(self, *, ssa_order: str = "qk_v", **kwargs) -> None:
        self.ssa_order = ssa_order  # read by _make_block during the base constructor
        super().__init__(**kwargs)

    def _make_block(self, dim, heads, mlp_ratio, tau, qkv_bias):
        return SpikformerBlock(dim, heads, mlp_ratio, qkv_bias=qkv_bias, tau=tau,
                               ssa_order=self.ssa_order)


class SpikeDrivenTransformer(_SpikingTransformer):
    """Spike-driven Transformer (Yao et al., NeurIPS 2023): membrane-shortcut SPS and blocks
    (SDSA), a LIF on the token-mean membrane before the head (``head_lif``)."""

    style = "sdt"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.head_lif = LIF(tau=kwargs.get("tau", 2.0))

    def _make_block(self, dim, heads, mlp_ratio, tau, qkv_bias):
        return SDTBlock(dim, heads, mlp_ratio, tau=tau)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.head_lif(self.features(x))).mean(0)


class SAFormer(SpikeDrivenTransformer):
    """SAFormer in **our reading** of its abstract (arXiv 2412.13553): the SDT frame with
    :class:`~.blocks.SAFormerBlock` (SASA + depthwise-convolution module)."""

    def _make_block(self, dim, heads, mlp_ratio, tau, qkv_bias):
        return SAFormerBlock(dim, heads, mlp_ratio, grid=self.grid, tau=tau)


class ViT(nn.Module):
    """Vanilla ViT baseline (ANN): patch embedding, class token, learned position embedding,
    pre-norm blocks with softmax attention, LayerNorm, linear head on the class token.
    Internally one timestep (``[1, B, N, D]``), so its attention is shape-compatible with the
    spiking ones."""

    def __init__(
        self,
        *,
        depth: int,
        dim: int,
        heads: int,
        mlp_ratio: float = 4.0,
        img_size: int = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        num_classes: int = 1000,
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        self.T = 1
        n = (img_size // patch_size) ** 2
        self.patch_embed = nn.Conv2d(in_channels, dim, patch_size, patch_size)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        self.block = nn.ModuleList(
            [ViTBlock(dim, heads, mlp_ratio, qkv_bias=qkv_bias) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, num_classes) if num_classes > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 4:
            raise ValueError(f"ViT expects images [B, C, H, W], got {tuple(x.shape)}")
        x = self.patch_embed(x).flatten(2).transpose(1, 2)  # [B, N, D]
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = x.unsqueeze(0)  # [1, B, N+1, D]
        for blk in self.block:
            x = blk(x)
        return self.head(self.norm(x[0, :, 0]))

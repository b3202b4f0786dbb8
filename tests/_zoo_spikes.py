"""Test helpers: seeded spike inputs and capture of every LIF output of a module."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from energymodel.lif import LIF


def spikes(shape, rate: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < rate).float()


def capture_lif(module: nn.Module) -> tuple[dict[str, torch.Tensor], list]:
    """Register hooks that store each LIF's output under its module path."""
    out: dict[str, torch.Tensor] = {}
    handles = []
    for name, m in module.named_modules():
        if isinstance(m, LIF):
            handles.append(m.register_forward_hook(
                lambda mod, i, o, name=name: out.__setitem__(name, o.detach().clone())))
    return out, handles


def column_rates(s: torch.Tensor, heads: int) -> np.ndarray:
    """``[T, B, N, D]`` spikes -> ``[T, B, H, d]`` fraction of tokens firing per head channel."""
    T, B, N, D = s.shape
    return s.reshape(T, B, N, heads, D // heads).mean(2).double().numpy()


def column_spikes(s: torch.Tensor) -> np.ndarray:
    """``[T, B, H, 1, d]`` spikes of a column-sum neuron -> ``[T, B, H, d]``."""
    return s[:, :, :, 0, :].double().numpy()


def lively(module: nn.Module, x: torch.Tensor, shift: float = 0.5) -> nn.Module:
    """Calibrate BatchNorm on ``x`` with a bias shift, so that a random module fires at
    trained-network-like rates (10-30 %) instead of a few percent."""
    from energymodel.attention import calibrate_bn

    return calibrate_bn(module, x, shift=shift)


def per_sample(prof) -> dict[str, dict[str, float]]:
    """``Profile`` rows as ``{site: {column: value / samples}}``."""
    df = prof.layers.set_index("site")
    return {site: {c: float(v) / prof.samples if isinstance(v, (int, float)) else v
                   for c, v in row.items()} for site, row in df.iterrows()}

"""Shared pieces of the attention modules: token-major linear + BatchNorm, head split/merge,
and BatchNorm calibration for randomly initialised models.

Every attention module takes ``x`` of shape ``[T, B, N, D]`` (timesteps, batch, tokens,
channels) and returns the same shape. Heads are split as ``[T, B, H, N, d]`` with ``d = D / H``.
"""

from __future__ import annotations

import torch
from torch import nn

from ..lif import LIF

__all__ = [
    "linear_bn", "split_heads", "merge_heads", "calibrate_bn", "check_dims", "add_spiking_projections",
    "spiking_projection",
]


def check_dims(dim: int, heads: int) -> None:
    if dim <= 0 or heads <= 0:
        raise ValueError(f"dim and heads must be positive (got dim={dim}, heads={heads})")
    if dim % heads:
        raise ValueError(f"dim {dim} is not divisible by heads {heads}")


def add_spiking_projections(
    module: nn.Module, names: tuple[str, ...], dim: int, bias: bool, tau: float
) -> None:
    """Give ``module`` the spiking projections ``SN(BN(Linear(x)))`` of the official code, one per
    name: attributes ``<name>_linear``, ``<name>_bn``, ``<name>_lif`` (names kept so official
    checkpoints load)."""
    for name in names:
        setattr(module, f"{name}_linear", nn.Linear(dim, dim, bias=bias))
        setattr(module, f"{name}_bn", nn.BatchNorm1d(dim))
        setattr(module, f"{name}_lif", LIF(tau=tau))


def spiking_projection(module: nn.Module, name: str, x: torch.Tensor, heads: int) -> torch.Tensor:
    """Run the projection ``<name>`` made by :func:`add_spiking_projections`: ``SN(BN(Linear(x)))``
    on ``[T, B, N, D]``, split into heads ``[T, B, H, N, D/H]``."""
    lin, bn, lif = (getattr(module, f"{name}_{part}") for part in ("linear", "bn", "lif"))
    return split_heads(lif(linear_bn(x, lin, bn)), heads)


def linear_bn(x: torch.Tensor, linear: nn.Linear, bn: nn.BatchNorm1d) -> torch.Tensor:
    """``BN(Linear(x))`` on ``[T, B, N, Din]`` -> ``[T, B, N, Dout]``, the BatchNorm running over
    the channel dimension (as the reference code does with ``BatchNorm1d`` on ``[TB, C, N]``)."""
    T, B, N, _ = x.shape
    y = linear(x.flatten(0, 1))  # [TB, N, Dout]
    y = bn(y.transpose(1, 2)).transpose(1, 2)
    return y.reshape(T, B, N, y.shape[-1])


def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[T, B, N, D]`` -> ``[T, B, H, N, D/H]``."""
    T, B, N, D = x.shape
    return x.reshape(T, B, N, heads, D // heads).permute(0, 1, 3, 2, 4)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """``[T, B, H, N, d]`` -> ``[T, B, N, H*d]``."""
    T, B, H, N, d = x.shape
    return x.permute(0, 1, 3, 2, 4).reshape(T, B, N, H * d)


@torch.no_grad()
def calibrate_bn(model: nn.Module, *inputs: torch.Tensor, shift: float = 0.0) -> nn.Module:
    """Set every BatchNorm's running statistics from one forward pass on ``inputs`` and return
    the model in eval mode.

    A randomly initialised spiking model in eval mode has BatchNorm running statistics of
    (0, 1), so its pre-activations are far below threshold and most neurons never fire; its
    op counts would then say nothing about a trained network. Calibrating the statistics on a
    representative input brings the firing rates into a plausible range without training.
    Only the BatchNorm buffers change, and, when ``shift`` is non-zero, the BatchNorm biases:
    ``shift`` is added to each (in units of the normalised pre-activation), raising the firing
    rates of the neurons behind them (a calibrated LIF with tau = 2 fires at a few percent;
    ``shift=0.5`` gives roughly 10 to 30 %, nearer trained spiking transformers).
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [(m, m.momentum) for m in bns]
    was_training = model.training
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average over the calibration pass
        model.train()
        model(*inputs)
    finally:
        for m, mom in saved:
            m.momentum = mom
        model.train(was_training)
    if shift:
        for m in bns:
            if m.bias is not None:
                m.bias.add_(shift)
    return model.eval()

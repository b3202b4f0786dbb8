"""The ANN twin of a spiking network: the same network with every recognised spiking neuron
replaced by a quantized ReLU, run once (T = 1) on the same inputs, and profiled.

Yan, Bai, Tang and Wong ("Reconsidering the energy efficiency of spiking neural networks",
arXiv 2409.08290) set an SNN run for T steps against the functionally equivalent quantized
network whose activations have ``ceil(log2(T + 1))`` bits: a neuron that can fire 0..T times
carries as much information as an activation of that many bits. That is the default here.

The twin is derived, never written by the user: :func:`ann_twin` copies the model, swaps each
neuron for :class:`QuantReLU`, sets a zoo model's ``T`` to 1, and runs the profiler. Its weight
layers then read analog activations, so they count dense MACs (equal to fvcore's on the same
network written as an ANN), and the zeros its ReLUs make are measured (``in_nnz``), so a
zero-skipping accelerator can be priced too.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn

from ..common.errors import UserError
from .neurons import find_adapter

__all__ = ["QuantReLU", "ann_twin", "twin_bits", "PRECISION_OF"]

#: a twin's activation width -> the arithmetic precision it is priced at (the nearest cited
#: precision at or above it in hwprofiles/cmos45nm.yaml)
PRECISION_OF = {"int8": "int8", "fp16": "fp16", "fp32": "fp32"}


def twin_bits(T: int) -> int:
    """``ceil(log2(T + 1))``: the bits of an activation that carries what T steps of one
    spiking neuron can (Yan et al. 2024)."""
    return max(1, math.ceil(math.log2(int(T) + 1)))


def precision_for(bits: int | str) -> str:
    """The arithmetic precision a twin of ``bits`` is priced at: an integer width up to 8 bits
    is int8 (the narrowest integer arithmetic cited), ``"fp16"`` / ``"fp32"`` as named."""
    if isinstance(bits, str):
        return PRECISION_OF[bits]
    if bits <= 8:
        return "int8"
    if bits <= 16:
        return "fp16"
    return "fp32"


class QuantReLU(nn.Module):
    """ReLU quantized to ``bits`` bits on [0, 1] (``2**bits - 1`` levels above zero); ``None``
    bits (fp16 / fp32 twins): a plain ReLU."""

    def __init__(self, bits: int | None) -> None:
        super().__init__()
        self.bits = bits
        self.levels = None if bits is None else float(2 ** int(bits) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.levels is None:
            return torch.relu(x)
        return torch.round(torch.clamp(x, 0.0, 1.0) * self.levels) / self.levels

    def extra_repr(self) -> str:
        return f"bits={self.bits}"


def _swap_neurons(model: nn.Module, bits: int | None) -> list[str]:
    """Replace every recognised neuron module (in place) by :class:`QuantReLU`; the names."""
    swapped: list[str] = []
    for name, m in list(model.named_modules()):
        if not name or any(name.startswith(s + ".") for s in swapped):
            continue
        if find_adapter(m) is None:
            continue
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        try:
            setattr(parent, leaf, QuantReLU(bits))
        except Exception as e:  # noqa: BLE001 - a container that refuses the swap
            raise UserError(f"ann_twin: neuron '{name}' ({type(m).__name__}) cannot be swapped "
                            f"for a ReLU: {type(e).__name__}: {e}") from None
        swapped.append(name)
    return swapped


def ann_twin(model: nn.Module, inputs: Any, bits: int | str | None = None, *,
             timesteps: int | None = None, batch_dim: int | None = 0) -> Any:
    """The :class:`~energymodel.Profile` of ``model``'s ANN twin on ``inputs``.

    ``bits``: the twin's activation width; default ``ceil(log2(T + 1))`` of the SNN's T
    (``timesteps``, else the model's ``T`` attribute); ``"int8"``, ``"fp16"``, ``"fp32"``
    accepted. The twin runs once: a model with a ``T`` attribute (the zoo) is set to ``T = 1``;
    otherwise give ``inputs`` as for one step. Its ``model_info`` records ``twin_bits``,
    ``twin_precision``, ``twin_of_T`` and the swapped neurons. A model without recognised
    neurons, or that fails at T = 1, is one :class:`UserError`."""
    from .profiler import profile  # noqa: PLC0415

    T = int(timesteps or getattr(model, "T", 0) or 0)
    if bits is None:
        if T < 1:
            raise UserError("ann_twin: the SNN's T is unknown (give timesteps= or bits=)")
        bits = twin_bits(T)
    if isinstance(bits, str):
        if bits not in PRECISION_OF:
            raise UserError(f"ann_twin: bits must be a whole number from 1 to 32 or one of "
                            f"{', '.join(PRECISION_OF)}, got {bits!r}")
        qbits = 8 if bits == "int8" else None
    else:
        if isinstance(bits, bool) or not 1 <= int(bits) <= 32:
            raise UserError(f"ann_twin: bits must be a whole number from 1 to 32, got {bits!r}")
        qbits = int(bits) if int(bits) <= 16 else None
    twin = copy.deepcopy(model)
    swapped = _swap_neurons(twin, qbits)
    if not swapped:
        raise UserError("ann_twin: no recognised spiking neuron in the model, nothing to swap "
                        "(register the neuron class with em.register_neuron)")
    if hasattr(twin, "T"):
        try:
            twin.T = 1
        except Exception:  # noqa: BLE001 - a read-only T: run as given
            pass
    twin.eval()
    try:
        prof = profile(twin, inputs, batch_dim=batch_dim)
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - the twin does not run at T = 1
        raise UserError(f"ann_twin: the twin (neurons {', '.join(swapped[:3])}"
                        f"{', ...' if len(swapped) > 3 else ''} swapped for ReLUs) does not run "
                        f"once (T = 1) on these inputs: {type(e).__name__}: {e}") from None
    prof.model_info.update(twin_bits=bits, twin_precision=precision_for(bits),
                           twin_of_T=T or None, twin_swapped=swapped)
    return prof

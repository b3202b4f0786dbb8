"""The four attention mechanisms of the comparison table, multi-step (T leading), with heads
and our own LIF neuron. Every module maps ``[T, B, N, D] -> [T, B, N, D]``.

* ``vanilla``: :class:`VanillaSelfAttention`, softmax attention, analog (ViT);
* ``ssa``: :class:`SpikingSelfAttention`, Spikformer (arXiv 2209.15425);
* ``sdsa``: :class:`SpikeDrivenSelfAttention`, Spike-driven Transformer (arXiv 2307.01694);
* ``sasa``: :class:`SpikeAggregatedSelfAttention`, SAFormer (arXiv 2412.13553), **our reading
  of its abstract** (see :mod:`.sasa`).

:func:`calibrate_bn` makes a randomly initialised module fire at plausible rates;
:func:`energymodel.report.compare.compare_mechanisms` runs all four on one input for the
comparison table (the models themselves know nothing of counting or pricing).
"""

from __future__ import annotations

from torch import nn

from ._common import calibrate_bn
from .sasa import SpikeAggregatedSelfAttention
from .sdsa import SpikeDrivenSelfAttention
from .ssa import SpikingSelfAttention
from .vanilla import VanillaSelfAttention

#: mechanism name -> class (the names :mod:`energymodel.counting.analytic` uses).
MECHANISMS: dict[str, type[nn.Module]] = {
    "vanilla": VanillaSelfAttention,
    "ssa": SpikingSelfAttention,
    "sdsa": SpikeDrivenSelfAttention,
    "sasa": SpikeAggregatedSelfAttention,
}


def build_attention(mechanism: str, dim: int, heads: int = 8, **kwargs) -> nn.Module:
    """One attention module by mechanism name (``vanilla``, ``ssa``, ``sdsa``, ``sasa``)."""
    try:
        cls = MECHANISMS[mechanism.lower()]
    except KeyError:
        raise ValueError(
            f"unknown attention mechanism {mechanism!r}; known: {', '.join(MECHANISMS)}"
        ) from None
    return cls(dim, heads, **kwargs)


__all__ = [
    "MECHANISMS",
    "build_attention",
    "calibrate_bn",
    "VanillaSelfAttention",
    "SpikingSelfAttention",
    "SpikeDrivenSelfAttention",
    "SpikeAggregatedSelfAttention",
]

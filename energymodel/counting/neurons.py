"""Recognising spiking neurons: a table of adapters, tried in order.

A neuron module is recorded as one ``neuron`` op per call (neuron updates, output spikes, per
timestep); the arithmetic inside it (leak, threshold, reset) is not counted op by op. Adapters are
matched by class name and module path strings, so no SNN framework is imported here.

An adapter answers three questions about a module: is it a neuron, which op name it gets
(``lif``, ``if``, ``plif``, ``leaky``...), and whether a call covers several timesteps (and how
many). The last adapter is the behavioural fallback: any module that keeps a membrane state
(``v`` / ``mem``) and can ``reset()`` it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["NeuronAdapter", "NEURON_ADAPTERS", "register_neuron_adapter", "find_adapter"]


def _class_names(m: nn.Module) -> list[str]:
    return [c.__name__ for c in type(m).__mro__]


def _op_name(m: nn.Module) -> str:
    name = type(m).__name__.lower()
    for key, op in (
        ("parametriclif", "plif"),
        ("plif", "plif"),
        ("lif", "lif"),
        ("leaky", "leaky"),
        ("ifnode", "if"),
        ("synaptic", "synaptic_neuron"),
        ("alpha", "alpha_neuron"),
    ):
        if key in name:
            return op
    return "neuron"


def _multistep_from_step_mode(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int | None:
    """T when the call ran several timesteps: spikingjelly / our ``step_mode='m'``, or the old
    clock_driven ``MultiStep*`` classes; ``None`` for single-step calls."""
    if getattr(m, "step_mode", None) == "m" or type(m).__name__.startswith("MultiStep"):
        return int(output.shape[0]) if output.dim() > 0 else None
    return None


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


@dataclass(frozen=True)
class NeuronAdapter:
    """How to read one family of neurons.

    Attributes:
        name: the family, shown in diagnostics.
        matches: module -> is it this family.
        op: module -> op name for the table.
        spikes: the module's call output -> the spike tensor (e.g. snntorch returns
            ``(spk, mem)``).
        timesteps: (module, inputs, spike tensor) -> T when one call covers T steps along the
            leading dim, else ``None``.
        reset: module -> None, clears its state between samples (``None``: not resettable).
    """

    name: str
    matches: Callable[[nn.Module], bool]
    op: Callable[[nn.Module], str] = _op_name
    spikes: Callable[[Any], torch.Tensor | None] = _first_tensor
    timesteps: Callable[[nn.Module, tuple, torch.Tensor], int | None] = _multistep_from_step_mode
    reset: Callable[[nn.Module], None] | None = None


def _has_state_protocol(m: nn.Module) -> bool:
    return callable(getattr(m, "reset", None)) and any(
        hasattr(m, a) for a in ("v", "mem", "membrane_potential")
    )


def _call_reset(m: nn.Module) -> None:
    m.reset()


#: Tried in order; the first match wins.
NEURON_ADAPTERS: list[NeuronAdapter] = [
    NeuronAdapter(
        name="energymodel",
        matches=lambda m: type(m).__module__ == "energymodel.neurons",
        reset=_call_reset,
    ),
    NeuronAdapter(
        name="spikingjelly",
        matches=lambda m: type(m).__module__.startswith("spikingjelly")
        and any(n in ("BaseNode", "MemoryModule") for n in _class_names(m))
        and hasattr(m, "v_threshold"),
        reset=_call_reset,
    ),
    NeuronAdapter(
        name="stateful (behavioural fallback)",
        matches=_has_state_protocol,
        reset=_call_reset,
    ),
]


def register_neuron_adapter(adapter: NeuronAdapter, first: bool = True) -> None:
    """Add an adapter (before the built-in ones by default, so it wins)."""
    if first:
        NEURON_ADAPTERS.insert(0, adapter)
    else:
        NEURON_ADAPTERS.insert(len(NEURON_ADAPTERS) - 1, adapter)


def find_adapter(m: nn.Module) -> NeuronAdapter | None:
    for a in NEURON_ADAPTERS:
        try:
            if a.matches(m):
                return a
        except Exception:  # a matcher must never break profiling
            continue
    return None

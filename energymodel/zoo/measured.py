"""Networks of published chip measurements, at their published sizes, with a set activity.

The measured cases of ``hwprofiles/validation/measured.yaml`` name one of these builders. The
papers publish sizes and (sometimes) mean firing rates, never weights, so the neurons here are
stand-ins that fire a set fraction of their units every step (:class:`FixedRateNeuron`): the
counts are exact for that activity, and a case without a measured activity is run at both ends
of its bracket.

Every builder returns ``(model, inputs, timesteps)``; inputs are ``[T, 1, ...]`` spike tensors
of the same activity (batch dimension 1).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

__all__ = ["FixedRateNeuron", "BUILDERS", "build", "spike_pattern",
           "blouw_keyword_spotter", "blouw_scaled", "blouw_scaled_ann", "truenorth_sweep"]


def spike_pattern(T: int, shape: tuple[int, ...], rate: float) -> torch.Tensor:
    """``[T, *shape]`` of 0 / 1 where exactly ``round(rate x n)`` of the n units fire at every
    step, a different set each step (a rotating window: every unit fires at the same mean rate)."""
    n = 1
    for s in shape:
        n *= int(s)
    k = int(round(rate * n))
    idx = torch.arange(n)
    shift = max(1, n // max(T, 1))
    rows = [((idx + t * shift) % n < k) for t in range(T)]
    return torch.stack(rows).to(torch.float32).reshape(T, *shape)


class FixedRateNeuron(nn.Module):
    """A multi-step neuron population that fires exactly ``round(rate x n)`` of its ``n`` units
    at every step, whatever its input (``[T, B, ...]`` in, 0 / 1 spikes out). It keeps its last
    input as ``v`` and clears it with :meth:`reset`, so the profiler counts it as a neuron: one
    update per unit and step, one spike per 1."""

    step_mode = "m"

    def __init__(self, rate: float) -> None:
        super().__init__()
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"FixedRateNeuron: rate must be in [0, 1], got {rate}")
        self.rate = float(rate)
        self.v: torch.Tensor | None = None

    def reset(self) -> None:
        self.v = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B = int(x.shape[0]), int(x.shape[1])
        s = spike_pattern(T, tuple(x.shape[2:]), self.rate).to(device=x.device, dtype=x.dtype)
        self.v = x[-1]
        return s.unsqueeze(1).expand(T, B, *x.shape[2:]).contiguous()


class _Branches(nn.Module):
    """Input layer -> N parallel branches of L layers -> concatenation -> output layers.
    ``rate`` None: the non-spiking original (ReLU layers, a linear read-out)."""

    def __init__(self, n_in: int, width: int, n_branches: int, depth: int, n_out: int,
                 rate: float | None) -> None:
        super().__init__()

        def act() -> nn.Module:
            return nn.ReLU() if rate is None else FixedRateNeuron(rate)

        self.inp = nn.Sequential(nn.Linear(n_in, width), act())
        self.branches = nn.ModuleList(
            nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width), act())])
            for _ in range(n_branches))
        self.out = nn.Sequential(nn.Linear(width * max(n_branches, 1), width), act())
        self.head = nn.Sequential(nn.Linear(width, n_out),
                                  *(() if rate is None else (FixedRateNeuron(rate),)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        if len(self.branches):
            h = torch.cat([b(h) for b in self.branches], dim=-1)
        return self.head(self.out(h))


def blouw_keyword_spotter(rate: float, timesteps: int = 10) -> tuple[nn.Module, torch.Tensor, int]:
    """Blouw et al. 2019's keyword spotter as run on Loihi (nengo-loihi's example): 390 inputs,
    two layers of 256 neurons, 29 outputs; one inference is 10 steps of 1 ms."""
    return blouw_scaled(rate, 0, timesteps)


def blouw_scaled(rate: float, n_branches: int = 0, timesteps: int = 10, depth: int = 10
                 ) -> tuple[nn.Module, torch.Tensor, int]:
    """Blouw et al. 2019's scaled network (their Fig. 7; ``models.ScaledModel`` of
    abr/power_benchmarks): the keyword spotter with ``n_branches`` parallel branches of
    ``depth`` layers of 256 neurons between its two hidden layers, joined by concatenation
    (``n_branches=0``: the keyword spotter itself)."""
    model = _Branches(390, 256, int(n_branches), int(depth) if n_branches else 0, 29, rate)
    x = spike_pattern(timesteps, (1, 390), rate)
    return model, x, timesteps


def blouw_scaled_ann(rate: float | None = None, n_branches: int = 0, depth: int = 10
                     ) -> tuple[nn.Module, torch.Tensor, int]:
    """The TensorFlow network Blouw et al. 2019 ran on the conventional devices
    (``models.ScaledModel`` of abr/power_benchmarks; ``n_branches=0``: the keyword spotter's
    shape, 390 -> 256 -> 256 -> 29): ReLU layers, a linear read-out, one pass per inference
    (T = 1), batch 1. Not spiking, so ``rate`` is ignored: every synapse slot is computed."""
    del rate
    model = _Branches(390, 256, int(n_branches), int(depth) if n_branches else 0, 29, None)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 1, 390, generator=g)   # [T = 1, B = 1, 390] analog features
    return model, x, 1


def truenorth_sweep(rate: float, ticks: int = 10) -> tuple[nn.Module, torch.Tensor, int]:
    """Akopyan et al. 2015's power sweep on one TrueNorth chip: 1,048,576 neurons (4,096 cores
    of 256) firing ``rate`` spikes per neuron and tick (mean rate in Hz x the 1 ms tick), each
    spike reaching 128 synapses. The recurrent network is unrolled: its spikes at one tick are
    the input of the next, so the input is a spike tensor of 8,192 groups of 128 neurons at
    that rate, and one 128 -> 128 layer per group gives every spike a fan-out of 128."""
    model = nn.Sequential(nn.Linear(128, 128, bias=False), FixedRateNeuron(rate))
    x = spike_pattern(ticks, (1, 8192, 128), rate)
    return model, x, ticks


#: builder name (as the measured cases name it) -> function(activity, **args) returning
#: (model, inputs [T, 1, ...], T); activity in spikes per neuron per step
BUILDERS: dict[str, Callable[..., tuple[nn.Module, torch.Tensor, int]]] = {
    "blouw_keyword_spotter": blouw_keyword_spotter,
    "blouw_scaled": blouw_scaled,
    "blouw_scaled_ann": blouw_scaled_ann,
    "truenorth_sweep": truenorth_sweep,
}


#: builders of non-spiking networks: their cases carry no activity (``activity: dense``)
DENSE_BUILDERS = frozenset({"blouw_scaled_ann"})


def build(name: str, activity: float | None, args: dict[str, Any]
          ) -> tuple[nn.Module, torch.Tensor, int]:
    """Build the named network at ``activity`` (spikes per neuron per step; None for a
    non-spiking network)."""
    return BUILDERS[name](activity, **args)

"""NeuroBench 2.3's workload metrics as a view of a :class:`~energymodel.Profile`.

NeuroBench (Yik et al., "The neurobench framework for benchmarking neuromorphic computing
algorithms and systems", Nature Communications 16, 2025; package ``neurobench`` 2.3.0) reports
per sample, averaged over the data set:

==================  =====================================================================
metric              NeuroBench's definition (``neurobench/metrics``) and where we read it
==================  =====================================================================
SynapticOperations  ``workload/synaptic_operations.py`` + ``utils/layers/macs.py``: for each
                    connection layer (``nn.Linear``, ``nn.Conv1d/2d/3d``) and each call, the
                    input and the weights are binarised (non-zero -> 1) and the layer run
                    again without bias; the sum of its output is the effective op count,
                    ``Effective_ACs`` when the input held only {-1, 0, 1}, else
                    ``Effective_MACs``. ``Dense``: the same with every input and weight set
                    to 1 (zero padding stays 0, so a padded convolution's border taps are not
                    counted). Ours: columns ``nb_acs``, ``nb_macs``, ``nb_dense``, counted
                    per call by the same rules (``counting/rules.py``), on every weight layer.
ActivationSparsity  ``workload/activation_sparsity.py``: zeros / elements of every spiking
                    neuron's output (and ``nn.ReLU`` / ``nn.Sigmoid`` outputs), over layers,
                    timesteps and samples. Ours: ``1 - sum(out_nnz) / sum(out_elems)`` over
                    neuron sites.
MembraneUpdates     ``workload/membrane_updates.py``: per neuron layer and batch, every neuron
                    on the first call, then the neurons whose membrane potential changed
                    (``count_nonzero(mem_before - mem_after)``). Ours: column
                    ``state_changes``, recorded by the profiler the same way (first call of a
                    sample: all neurons).
Footprint           ``static/footprint.py``: bytes of all parameters and buffers. Ours:
                    :func:`model_statistics` when profiling began, persistent buffers only
                    (snntorch's membrane buffers are non-persistent: empty on a fresh model,
                    as NeuroBench measures it, the last batch's size after a run).
ConnectionSparsity  ``static/connection_sparsity.py``: zero weights / weights of the connection
                    layers (recurrent layers with their biases). Ours: the same, from
                    :func:`model_statistics`.
==================  =====================================================================

Where our exact counts and NeuroBench's differ by convention (``convention="energymodel"``
gives ours; the default gives theirs):

* **bias**: NeuroBench leaves the bias out of synaptic operations (a comment in ``macs.py``
  says a flag may add it later); so do ``macs``/``acs``. ``bias=True`` adds one op per output
  element of a layer with a bias (our ``bias_reads``) to Effective and Dense.
* **integer inputs**: NeuroBench calls an input spiking only when it holds {-1, 0, 1}; an
  input of small integers (SEW residual sums, multi-level spikes) is charged as MACs, one per
  non-zero element. We charge an integer spike k as k accumulates (``acs``). A ternary input
  (-1 values) is analog here (MACs) and spiking for NeuroBench (ACs).
* **analog inputs**: NeuroBench's Effective_MACs skip zero inputs (a ReLU output's zeros);
  our ``macs`` are the dense count (``dense_macs``, fvcore's convention, padding taps
  included).
* **zero weights**: NeuroBench skips (input, zero-weight) pairs; we count every weight an event
  reaches (an event-driven chip fetches it). Exact only for models without zero weights: a
  note says when the model has some.
* **which layers**: NeuroBench hooks ``nn.Linear`` / ``nn.Conv*`` modules only; we count
  every weight layer, also ``F.linear`` inside a ``forward``. Products of two activations
  (attention) are no NeuroBench connection layer: left out unless ``include_attention``.
* **what counts as an activation**: spiking neurons' outputs; the outputs of ReLU / Sigmoid
  modules (which NeuroBench adds) are not scanned here: a note says when the model ran some.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:  # pragma: no cover
    from .profile import Profile

__all__ = ["model_statistics", "neurobench_metrics", "CONVENTIONS"]

#: ``neurobench``: NeuroBench 2.3's definitions; ``energymodel``: our exact counts.
CONVENTIONS = ("neurobench", "energymodel")

_CONNECTION = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _connection_tensors(m: nn.Module) -> list:
    """The tensors NeuroBench's ConnectionSparsity reads from one leaf module."""
    if isinstance(m, _CONNECTION):
        return [m.weight]
    if isinstance(m, nn.RNNBase):
        names = []
        for i in range(m.num_layers):
            for sfx in ("", "_reverse") if m.bidirectional else ("",):
                base = ["weight_ih_l{}{}", "weight_hh_l{}{}"]
                if m.bias:
                    base += ["bias_ih_l{}{}", "bias_hh_l{}{}"]
                if getattr(m, "proj_size", 0) > 0:
                    base += ["weight_hr_l{}{}"]
                names += [b.format(i, sfx) for b in base]
        return [getattr(m, n) for n in names]
    if isinstance(m, nn.RNNCellBase):
        names = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if m.bias else [])
        return [getattr(m, n) for n in names]
    return []


def model_statistics(model: nn.Module, *, lazy: bool = False) -> dict[str, Any]:
    """What NeuroBench's static metrics read from a model, measured now.

    Returns ``param_bytes`` and ``buffer_bytes`` (Footprint: every parameter and persistent
    buffer, numel x element size; NeuroBench counts every buffer, which equals this on a fresh
    model: snntorch's membrane buffers are non-persistent and empty until the model runs), ``parameters`` (count), ``connection_weights`` and ``connection_zeros``
    (ConnectionSparsity: leaf ``nn.Linear`` / ``nn.Conv1d-3d`` weights, recurrent layers'
    weights and biases).

    ``lazy=True``: the zero counts stay on the weights' devices (no host read, as the profiler
    requires while a model may run); :func:`finish_statistics` reads them back."""
    params = list(model.parameters())
    # persistent buffers only: snntorch keeps each neuron's membrane in a non-persistent buffer
    # whose size follows the last batch; NeuroBench measures it on a fresh model (empty)
    buffers = list({id(b): b for m in model.modules() for k, b in m._buffers.items()
                    if b is not None and k not in m._non_persistent_buffers_set}.values())
    weights = 0
    zeros: list = []
    for m in model.modules():
        if next(iter(m.children()), None) is not None:
            continue  # NeuroBench reads leaves only
        for t in _connection_tensors(m):
            weights += t.numel()
            # = (t == 0).sum(), without a bool temporary: 5x faster, and asked on every entry
            zeros.append(t.numel() - torch.count_nonzero(t.detach()))
    stats = {
        "param_bytes": float(sum(p.numel() * p.element_size() for p in params)),
        "buffer_bytes": float(sum(b.numel() * b.element_size() for b in buffers)),
        "parameters": float(sum(p.numel() for p in params)),
        "connection_weights": float(weights),
        "connection_zeros": zeros,
    }
    return stats if lazy else finish_statistics(stats)


def finish_statistics(stats: dict[str, Any]) -> dict[str, float]:
    """Read back the device-side zero counts of ``model_statistics(..., lazy=True)``."""
    out = dict(stats)
    z = out["connection_zeros"]
    out["connection_zeros"] = float(sum(int(t) for t in z)) if isinstance(z, list) else float(z)
    return out


def neurobench_metrics(
    prof: "Profile",
    *,
    convention: str = "neurobench",
    bias: bool = False,
    include_attention: bool = False,
) -> dict[str, Any]:
    """NeuroBench's workload and static metrics from a profile, per sample.

    Args:
        prof: the profile (counts over every sample it saw).
        convention: ``"neurobench"`` (their definitions, see the module docstring) or
            ``"energymodel"`` (our exact counts: ``macs``, ``acs``, ``dense_macs``,
            ``neuron_updates``).
        bias: add one op per output element of layers with a bias (NeuroBench leaves it out).
        include_attention: add the products of two activations (attention matmuls, spike
            sums), which NeuroBench does not hook.

    Returns:
        ``{"SynapticOperations": {"Effective_MACs", "Effective_ACs", "Dense"},
        "ActivationSparsity", "MembraneUpdates", "Footprint" (bytes; ``None`` when the
        profile carries no model statistics), "ConnectionSparsity" (``None`` likewise, or
        when the model has no connection layer), "convention", "notes"}``; ops and updates
        per sample (one inference of one input, all timesteps).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"neurobench: convention must be one of {CONVENTIONS} (got {convention!r})")
    if prof.samples <= 0:
        raise ValueError("neurobench: the profile covers no samples")
    raw = prof.layers
    n = float(prof.samples)
    notes: list[str] = []
    syn = raw[raw["kind"] == "synaptic"]
    att = raw[raw["kind"] == "attention"]
    neu = raw[raw["kind"] == "neuron"]

    if convention == "neurobench":
        mac, ac, dense = syn["nb_macs"].sum(), syn["nb_acs"].sum(), syn["nb_dense"].sum()
    else:
        mac, ac, dense = syn["macs"].sum(), syn["acs"].sum(), syn["dense_macs"].sum()
    if bias:
        b = syn["bias_reads"]
        binary = syn["in_binary_calls"] / syn["calls"].where(syn["calls"] > 0, 1)
        ac += (b * binary).sum()
        mac += (b * (1 - binary)).sum()
        dense += b.sum()
    extra = att["acs"].sum() + att["macs"].sum()
    if include_attention:
        ac, mac, dense = ac + att["acs"].sum(), mac + att["macs"].sum(), dense + att["dense_macs"].sum()
    elif extra > 0:
        notes.append(f"attention (activation x activation) ops left out, as NeuroBench does: "
                     f"{extra / n:.6g} per sample (include_attention=True adds them)")
    if convention == "neurobench":
        integer = syn[(syn["in_spike_calls"] > syn["in_binary_calls"])]
        if len(integer):
            notes.append("integer-spike inputs (" + ", ".join(integer["layer"].astype(str))
                         + ") are NeuroBench MACs, one per non-zero; ours count value k as k ACs")
    if (raw["op"] == "activation").any():
        notes.append("ReLU/Sigmoid outputs ran but are not scanned: NeuroBench's "
                     "ActivationSparsity also counts those of nn.ReLU / nn.Sigmoid modules")

    elems = neu["out_elems"].sum()
    sparsity = 1.0 - neu["out_nnz"].sum() / elems if elems > 0 else 0.0
    updates = (neu["state_changes"] if convention == "neurobench" else neu["neuron_updates"]).sum()

    st = prof.model_stats
    footprint = conn = None
    if st is None:
        notes.append("no model statistics in this profile: Footprint and ConnectionSparsity "
                     "unknown")
    else:
        footprint = int(st["param_bytes"] + st["buffer_bytes"])
        if st["connection_weights"] > 0:
            conn = st["connection_zeros"] / st["connection_weights"]
        if st["connection_zeros"] > 0:
            notes.append(f"the model has {int(st['connection_zeros'])} zero connection weights: "
                         "NeuroBench skips (input, zero weight) pairs, these synaptic ops count "
                         "them (exact for dense weights only)")
    return {
        "SynapticOperations": {
            "Effective_MACs": float(mac) / n,
            "Effective_ACs": float(ac) / n,
            "Dense": float(dense) / n,
        },
        "ActivationSparsity": float(sparsity),
        "MembraneUpdates": float(updates) / n,
        "Footprint": footprint,
        "ConnectionSparsity": None if conn is None or math.isnan(conn) else float(conn),
        "convention": convention,
        "notes": notes,
    }

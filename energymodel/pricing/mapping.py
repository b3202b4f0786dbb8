"""Hardware cost, an ESTIMATE: does a profiled network fit on a chip, how many cores and chips
it takes, how long one inference lasts, and the static energy the chips burn meanwhile.

Reads the Profile's columns (never counts) and the hardware profile's optional, cited
``capacity:``, ``timing:`` and ``power:`` sections (never prices dynamic energy: that is
:mod:`energymodel.pricing.energy`). A chip without those sections gets no mapping, and the notes say
which check is unavailable; ``cmos45nm`` is a technology, not a chip, and is never mapped.

The rule (deterministic; every assumption is named in ``notes`` next to the numbers)
------------------------------------------------------------------------------------
Layers. Every weight tensor is one layer (``Profile.layer_of_site``: the call sites of a layer
run once per step add up), in execution order; the layer graph the profiler traced
(``Profile.layer_edges``) says which feeds which. Per sample and timestep a layer has
``units = out_elems / T`` output neurons (one compartment each: the neuron that integrates the
layer's current; neurons fed by a residual sum are not counted separately), ``C_out =
out_channels`` channels,
``fan_in = weight_elems / out_channels`` synapses per unit (C_in/groups x kernel) and
``positions = units / C_out`` output positions (tokens, pixels). Activation x activation
products (attention) have no fixed synapses and are not mapped on neuromorphic chips;
analog-input layers (the pixel encoder) run on the chip's host (``flags.host``) and are not
mapped either. Both are counted in the notes.

Packing one layer (units ordered position-major: a core holds whole positions, all channels of
a position share their inputs):

1. fan-in split: where ``axons_per_core`` (A) is known and fan_in > A, the inputs are split in
   ``s = ceil(fan_in / A)`` groups; each group's partial sums need their own neurons
   (``units x s`` partial-sum neurons), and a combine stage of ``units`` neurons with fan-in
   ``s`` (packed by the same rule, recursively, each output with its own s inputs) adds them:
   one more pipeline stage.
2. units per core ``m = min(neurons_per_core, axon limit, memory limit)``:
   axon limit ``C_out x floor(A / f)`` (f = fan-in per group; a convolution's neighbouring
   positions share inputs, which this ignores: an under-estimate of the units per core);
   memory limit ``floor(M / (f x w))`` with M = ``synaptic_memory_per_core`` and w =
   ``weight_bits``. With ``weight_sharing``, a kernel used at several positions (a
   convolution, or a linear layer over several tokens: a 1x1 convolution) is packed
   channel-major instead: a core holds all positions of the ``floor(M / (f x w))`` kernels it
   stores once, so the memory limit is ``positions x floor(M / (f x w))`` units.
   m < 1 (one neuron's synapses exceed a core): the layer does not fit, whatever the chips.
   ``cores = ceil(units x s / m)``; the limit that set m is the layer's limiting resource.
3. fan-out: where ``targets_per_neuron`` (F) is known, each input neuron is read by
   ``r = ceil(C_out / min(m, C_out))`` cores; when r > F it needs r splitter neurons
   (one copy per reading core), on ``ceil(inputs x r / neurons_per_core)`` extra cores, and one
   more pipeline stage.

Cores are summed over layers; ``chips = ceil(cores / cores_per_chip)``. ``fits`` is False when
a layer cannot be placed or more than ``max_chips`` chips are needed (the note then reads "does
not fit on N chip(s)" and names the limiting resource of the layer that needs the most cores);
None where the profile lists no capacity. ``memory_bits`` is the synaptic memory the weights
take at the chip's weight precision (``weight_bits``; synapse headers are not counted).

Depth: the most pipeline stages on any path through the layer graph (one per mapped layer,
plus its combine and splitter stages; parallel branches side by side, a residual or
concatenation join waits for its longest input). A profile without a graph puts the layers in
series (an upper bound) and says so.

Time. One timestep (a *step*):
  tick-driven (``timing.tick``): one tick;
  per-op times (``timing.synaptic_op`` ...): the longer of the busiest core's work,
  ``sops per core x t_sop + units per core x t_neuron`` (t_neuron: active / inactive by the
  measured firing rate) plus ``barrier_sync`` and one ``tile_hop``, and the host's time per
  step ``host_step + host_step_per_input_core x input cores`` where cited (spike I/O and step
  control; an input-core count outside the fitted range is marked UNCERTAIN in the notes);
  throughput (``timing.synaptic_ops_per_second``, an accelerator without sparsity
  acceleration): dense synapse-timestep slots / throughput for the whole inference.
``latency_s`` = ``(T + depth - 1)`` steps (one inference alone); ``period_s`` = T steps (the time
between inferences that follow each other; the throughput model: the latency).

Dense accelerators (``kind: accelerator``, e.g. ``movidius-ncs``): one device runs every
weight layer, analog or spike input, and computes every synapse slot, so no packing applies
(one chip; memory capacity not checked) and ``latency_s`` = ``period_s`` =
``timing.inference_overhead`` (the host call and transfers, which do not overlap the compute)
+ dense synapse slots (attention products included) / ``timing.synaptic_ops_per_second``.

Energy beside the dynamic one: static ``(power.static_per_chip x chips + power.static_per_core x
cores) x period`` and running ``power.running_per_chip x chips x period`` (power drawn above idle
while the chip runs). Both are added in ``mode="full"``; in ``mode="paper"`` (the literature's
dynamic-only convention) ``total_pj`` stays dynamic and they are shown beside it. The low / high
band takes every ranged constant at its end. ``edp`` = total_pj x latency_s (pJ s). Every
energy is per sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..counting.profile import Profile
from .hardware import COST_KEYS, COST_UNITS, HardwareProfile, measured_results

__all__ = ["COST_COLUMNS", "ChipMapping", "cost_value", "map_network", "hardware_cost"]

#: Columns of ``EnergyReport.hardware_cost`` (one row per chip; energies pJ per sample).
COST_COLUMNS = ["hardware", "cores", "chips", "memory_bits", "fits", "latency_s", "period_s",
                "static_pj", "running_pj", "dynamic_pj", "total_pj", "total_low_pj",
                "total_high_pj", "edp", "notes"]


def cost_value(hw: HardwareProfile, section: str, key: str, which: str = "nominal") -> Any:
    """A ``capacity`` / ``timing`` / ``power`` constant in base units (count, bits, s, ops/s,
    W; a flag as bool), or None where the profile does not list it."""
    e = (hw.data.get(section) or {}).get(key)
    if e is None:
        return None
    dim = COST_KEYS[section][key]
    if dim == "flag":
        return bool(e["value"])
    v = e["value"] if which == "nominal" else e.get(which, e["value"])
    return float(v) * COST_UNITS[dim][e["unit"]]


@dataclass
class ChipMapping:
    """The packing of one network on one chip (see the module docstring for the rule)."""

    hardware: str
    layers: pd.DataFrame            # one row per mapped layer
    cores: int | None
    chips: int | None
    memory_bits: float
    fits: bool | None
    limiting: str
    depth: int
    latency_s: float
    notes: list[str] = field(default_factory=list)
    period_s: float = float("nan")      # streaming: one inference every period (T steps)
    period_band_s: tuple[float, float] = (float("nan"), float("nan"))  # timing at low / high
    step_s: float = float("nan")        # one timestep: max(busiest core, host per step)
    host_bound: bool = False            # the host's time per step set the step
    input_cores: int | None = None      # cores that receive the input from the host


def _weight_layers(df: pd.DataFrame) -> pd.Series:
    """The rows of a layer table that are weight-layer call sites."""
    return (df["kind"] == "synaptic") & (df["weight_elems"] > 0) & (df["out_channels"] > 0)


def _layers(df: pd.DataFrame, T: int, layer_of: dict[str, str] | None = None) -> pd.DataFrame:
    """Weight layers of a per-sample layer table, in execution order, with sizes per timestep.
    Sites that used one weight tensor (``layer_of``: a layer calling its op once per step) are
    one layer: their outputs, inputs and operations add up, under the first site's name."""
    w = df[_weight_layers(df)]
    if layer_of:
        w = w.assign(site=[layer_of.get(s, s) for s in w["site"]])
        spike = w["in_kind"].isin(("binary", "integer"))
        w = w.assign(_spike=spike).groupby("site", sort=False).agg(
            op=("op", "first"), out_elems=("out_elems", "sum"), in_elems=("in_elems", "sum"),
            out_channels=("out_channels", "first"), weight_elems=("weight_elems", "first"),
            acs=("acs", "sum"), dense_macs=("dense_macs", "sum"), _spike=("_spike", "all"),
        ).reset_index()
        w["in_kind"] = np.where(w["_spike"], "binary", "analog")
    out = pd.DataFrame({
        "site": w["site"].to_numpy(),
        "op": w["op"].astype(str).to_numpy(),
        "spike_in": w["in_kind"].isin(("binary", "integer")).to_numpy(),
        "units": (w["out_elems"] / T).to_numpy(),
        "inputs": (w["in_elems"] / T).to_numpy(),
        "c_out": w["out_channels"].to_numpy(),
        "fan_in": (w["weight_elems"] / w["out_channels"]).to_numpy(),
        "sops_step": (w["acs"] / T).to_numpy(),
        "dense_step": (w["dense_macs"] / T).to_numpy(),
    })
    out["units"] = np.ceil(out["units"] - 1e-9)
    out["inputs"] = np.ceil(out["inputs"] - 1e-9)
    return out.reset_index(drop=True)


@dataclass
class _Cap:
    N: float | None
    A: float | None
    M: float | None
    w: float | None
    share: bool
    F: float | None


def _pack(units: float, c_out: float, fan_in: float, shareable: bool, cap: _Cap) -> dict[str, Any]:
    """Pack ``units`` neurons of fan-in ``fan_in`` (one layer, or a combine stage)."""
    shared = bool(shareable and cap.share)
    positions = max(1.0, units / c_out)
    s = math.ceil(fan_in / cap.A) if cap.A and fan_in > cap.A else 1
    f = math.ceil(fan_in / s)
    u1 = units * s
    limits: dict[str, float] = {"neurons per core": cap.N}
    if cap.A:
        limits["axons (fan-in) per core"] = c_out * math.floor(cap.A / f)
    wb = cap.w if cap.w else None
    if cap.M and wb:
        kernels = math.floor(cap.M / (f * wb))  # one neuron's (or one shared kernel's) synapses
        # shared: channel-major, a core holds all positions of the kernels it stores
        limits["synaptic memory per core"] = kernels * positions if shared and kernels else kernels
    limiting = min(limits, key=lambda k: limits[k])
    m = limits[limiting]
    out: dict[str, Any] = {"split": s, "partial_neurons": u1 if s > 1 else 0.0, "per_core": m,
                           "limiting": limiting, "placeable": m >= 1}
    if m < 1:
        out.update(cores=0, neurons=u1, memory_bits=u1 * f * (wb or 0), depth=1, combine_cores=0)
        return out
    cores = math.ceil(u1 / m)
    per_core_kernels = math.ceil(min(m, u1) / positions) if shared else m
    mem = (min(cores * per_core_kernels, u1) if shared else u1) * f * (wb or 0.0)
    out.update(cores=cores, neurons=u1, memory_bits=mem, depth=1, combine_cores=0)
    if s > 1:  # the combine stage adds the s partial sums of every output unit
        comb = _pack(units, 1, s, False, cap)  # each output: its own s partial inputs
        out["cores"] += comb["cores"]
        out["combine_cores"] = comb["cores"]
        out["neurons"] += comb["neurons"]
        out["memory_bits"] += comb["memory_bits"]
        out["depth"] += comb["depth"]
        out["placeable"] = out["placeable"] and comb["placeable"]
    return out


def _capacity(hw: HardwareProfile) -> _Cap:
    return _Cap(
        N=cost_value(hw, "capacity", "neurons_per_core"),
        A=cost_value(hw, "capacity", "axons_per_core"),
        M=cost_value(hw, "capacity", "synaptic_memory_per_core"),
        w=cost_value(hw, "capacity", "weight_bits"),
        share=bool(cost_value(hw, "capacity", "weight_sharing")),
        F=cost_value(hw, "capacity", "targets_per_neuron"),
    )


def map_network(profile: Profile, hw: HardwareProfile, timesteps: int | None = None,
                max_chips: int = 1, input_cores: int | None = None) -> ChipMapping:
    """Pack a profiled network on ``hw`` and estimate its latency and streaming period per
    sample (seconds).

    ``timesteps``: T (default: the largest ``timesteps`` of the profile's neuron sites, else 1).
    ``input_cores``: how many cores receive the input from the host (default: the cores of the
    mapped layers the input reaches first; a published placement may differ).
    A capacity violation is reported (``fits=False`` and a note), never raised."""
    if max_chips < 1:
        raise ValueError(f"map_network: max_chips must be >= 1, got {max_chips}")
    df = profile.per_sample().reset_index(drop=True)
    if timesteps is None:
        tcol = df.loc[df["kind"] == "neuron", "timesteps"]
        timesteps = int(tcol.max()) if len(tcol) and tcol.max() > 0 else 1
    T = int(timesteps)
    notes: list[str] = []
    if hw.kind == "digital":
        return ChipMapping(hw.name, pd.DataFrame(), None, None, float("nan"), None, "", 0,
                           float("nan"), [f"{hw.name} is a technology, not a chip: no mapping"])
    layer_of = profile.layer_of_site()
    lay = _layers(df, T, layer_of)
    weight_sites = lay["site"]
    edges = profile.layer_edges()
    if edges is not None and layer_of:
        edges = [(layer_of.get(a, a), layer_of.get(b, b)) for a, b in edges]
        edges = [(a, b) for a, b in dict.fromkeys(edges) if a != b]
    merged = int(_weight_layers(df).sum()) - len(lay)
    if merged > 0:
        notes.append(f"{merged} call site(s) reuse the weight of an earlier one (a layer run "
                     "once per step, or a shared layer): mapped once per weight tensor")
    if hw.kind == "accelerator":
        return _map_dense(df, hw, T, layer_of, notes)
    neuromorphic = hw.kind == "neuromorphic"
    att = df[(df["kind"] == "attention") & (df["calls"] > 0)]
    n_red = int(att["op"].isin(("sum", "mean")).sum())
    n_att = len(att) - n_red
    if n_att and neuromorphic:
        notes.append(f"{n_att} activation x activation site(s) (attention products) have no "
                     "fixed synapses: not mapped")
    if n_red and neuromorphic:
        notes.append(f"{n_red} reduction(s) over activations (sums over time or tokens) have "
                     "no fixed synapses: not mapped")
    if neuromorphic:
        hosted = lay[~lay["spike_in"]]
        if len(hosted):
            notes.append(f"{len(hosted)} analog-input layer(s) run on the host "
                         f"({hw.host or 'none declared'}): not mapped")
        lay = lay[lay["spike_in"]].reset_index(drop=True)
    cap = _capacity(hw)
    per_chip = cost_value(hw, "capacity", "cores_per_chip")
    has_capacity = cap.N is not None and per_chip is not None
    rows: list[dict[str, Any]] = []
    if has_capacity:
        if cap.A is None:
            notes.append("no cited fan-in limit (axons per core): fan-in split not checked")
        if cap.M is None or cap.w is None:
            notes.append("no cited synaptic memory / weight precision: memory not checked")
        if cap.F is None:
            notes.append("no cited fan-out limit: splitter neurons not counted")
        for r in lay.itertuples(index=False):
            # weights shared across positions: a convolution, or a linear over tokens (1x1 conv)
            shareable = r.op.startswith("conv") or r.units > r.c_out
            p = _pack(r.units, r.c_out, r.fan_in, shareable, cap)
            split_cores, splitters = 0, 0.0
            if cap.F is not None and p["placeable"]:
                readers = math.ceil(r.c_out / max(1, min(p["per_core"], r.c_out)))
                if readers > cap.F:
                    splitters = r.inputs * readers
                    split_cores = math.ceil(splitters / cap.N)
                    p["depth"] += 1
            rows.append({"site": r.site, "units": r.units, "fan_in": r.fan_in, "split": p["split"],
                         "partial_neurons": p["partial_neurons"], "splitter_neurons": splitters,
                         "per_core": p["per_core"], "cores": p["cores"] + split_cores,
                         "combine_cores": p["combine_cores"], "splitter_cores": split_cores,
                         "memory_bits": p["memory_bits"], "limiting": p["limiting"],
                         "placeable": p["placeable"], "depth": p["depth"],
                         "sops_step": r.sops_step, "dense_step": r.dense_step})
    else:
        for r in lay.itertuples(index=False):
            rows.append({"site": r.site, "units": r.units, "fan_in": r.fan_in, "split": 1,
                         "partial_neurons": 0.0, "splitter_neurons": 0.0, "per_core": np.nan,
                         "cores": np.nan, "combine_cores": 0, "splitter_cores": 0,
                         "memory_bits": r.units * r.fan_in * (cap.w or 0) if cap.w else np.nan,
                         "limiting": "", "placeable": True, "depth": 1,
                         "sops_step": r.sops_step, "dense_step": r.dense_step})
        notes.append("no cited core capacity: cores, chips and fit not checked")
    layers = pd.DataFrame(rows, columns=["site", "units", "fan_in", "split", "partial_neurons",
                                         "splitter_neurons", "per_core", "cores",
                                         "combine_cores", "splitter_cores", "memory_bits",
                                         "limiting", "placeable", "depth", "sops_step",
                                         "dense_step"])
    depth, roots = _longest_path(list(weight_sites), layers, edges, notes)
    if input_cores is None and has_capacity and roots:
        input_cores = int(layers.loc[layers["site"].isin(roots), "cores"].sum())
    memory_bits = float(layers["memory_bits"].sum(min_count=1)) if len(layers) else 0.0
    cores = chips = None
    fits: bool | None = None
    limiting = ""
    if has_capacity:
        cores = int(layers["cores"].sum()) if len(layers) else 0
        chips = math.ceil(cores / per_chip) if cores else 0
        bad = layers[~layers["placeable"].astype(bool)]
        if len(bad):
            fits = False
            limiting = str(bad["limiting"].iloc[0])
            notes.append(f"does not fit: one neuron of {bad['site'].iloc[0]} exceeds a core's "
                         f"{limiting}")
        else:
            limiting = str(layers.loc[layers["cores"].idxmax(), "limiting"]) if len(layers) else ""
            fits = chips <= max_chips
            if not fits:
                notes.append(f"does not fit on {max_chips} chip(s): needs {chips} chips "
                             f"({cores} cores); limiting resource: {limiting}")
        if (layers["split"] > 1).any():
            notes.append(f"fan-in split: {int(layers['partial_neurons'].sum())} partial-sum "
                         "neurons")
        if layers["splitter_neurons"].sum() > 0:
            notes.append(f"fan-out: {int(layers['splitter_neurons'].sum())} splitter neurons")
    tm = _timing(df, hw, layers, T, depth, input_cores, notes)
    unused = sorted(set(hw.data.get("timing") or {}) - set(tm["used"]))
    if unused and len(layers):
        notes.append(f"timing entries not used by this chip's timing model: "
                     f"{', '.join('timing.' + k for k in unused)}")
    band = tuple(_timing(df, hw, layers, T, depth, input_cores, [], w)["period"]
                 for w in ("low", "high"))
    return ChipMapping(hw.name, layers, cores, chips, memory_bits, fits, limiting, depth,
                       tm["latency"], notes, period_s=tm["period"], step_s=tm["step"],
                       host_bound=tm["host_bound"], input_cores=input_cores,
                       period_band_s=band)  # type: ignore[arg-type]


def _map_dense(df: pd.DataFrame, hw: HardwareProfile, T: int, layer_of: dict[str, str],
               notes: list[str]) -> ChipMapping:
    """A dense accelerator (``kind: accelerator``): one device runs every weight layer, spike
    input or analog, and computes every synapse slot. Time per inference: the cited
    ``inference_overhead`` (host call, input and output transfer; it does not overlap the
    compute) + dense slots / ``synaptic_ops_per_second``; latency = period (one inference at
    a time). No packing rule applies: one chip, memory capacity not checked."""
    lay = _layers(df, T, layer_of)
    layers = pd.DataFrame({"site": lay["site"], "units": lay["units"], "fan_in": lay["fan_in"],
                           "sops_step": lay["sops_step"], "dense_step": lay["dense_step"]})
    notes.append("a dense accelerator: one device runs every layer (analog and spike input) "
                 "and computes every synapse slot; its memory capacity is not checked")
    unused = [f"{sec}.{k}" for sec, keys in (("capacity", COST_KEYS["capacity"]),
                                             ("timing", COST_KEYS["timing"]))
              for k in (hw.data.get(sec) or {})
              if f"{sec}.{k}" not in ("capacity.weight_bits", "timing.synaptic_ops_per_second",
                                      "timing.inference_overhead")]
    if unused:
        notes.append(f"not used for a dense accelerator: {', '.join(unused)}")
    att = df[(df["kind"] == "attention") & (df["calls"] > 0)]
    slots_att = float(att["dense_macs"].sum()) if len(att) else 0.0
    if slots_att:
        notes.append("activation x activation products (attention) timed as dense slots too")

    def period(which: str) -> float:
        rate = cost_value(hw, "timing", "synaptic_ops_per_second", which)
        over = cost_value(hw, "timing", "inference_overhead", which) or 0.0
        if rate is None:
            return float("nan")
        return over + (float(lay["dense_step"].sum()) * T + slots_att) / rate

    p = period("nominal")
    if math.isnan(p):
        notes.append("no cited throughput (timing.synaptic_ops_per_second): latency unavailable")
    else:
        notes.append("latency = period: the fixed time per inference (inference_overhead) + "
                     "dense synapse slots / throughput")
    memory_bits = float("nan")
    w = cost_value(hw, "capacity", "weight_bits")
    if w is not None:
        memory_bits = float((lay["c_out"] * lay["fan_in"]).sum()) * w   # each weight once
    return ChipMapping(hw.name, layers, None, 1, memory_bits, None, "", len(lay) and 1, p,
                       notes, period_s=p, step_s=p / T if T else p, host_bound=False,
                       input_cores=None,
                       period_band_s=(period("low"), period("high")))  # type: ignore[arg-type]


def _longest_path(sites: list[str], layers: pd.DataFrame,
                  edges: list[tuple[str, str]] | None, notes: list[str]) -> tuple[int, list[str]]:
    """Pipeline depth: the most stages on any path through the layer graph (branches run in
    parallel; a residual or concatenation join waits for its longest input). ``sites``: every
    weight layer in execution order (unmapped ones, e.g. analog-input layers on the host, pass
    their inputs on with no stage of their own). Returns the depth and the mapped layers with
    no mapped layer before them (the ones the input reaches first)."""
    stage = dict(zip(layers["site"], layers["depth"].astype(int))) if len(layers) else {}
    if not stage:
        return 0, []
    if edges is None:
        notes.append("layer graph unknown (a profile from before 0.3): stages counted in "
                     "series, an upper bound on the depth")
        return int(sum(stage.values())), [str(layers["site"].iloc[0])]
    order = {s: i for i, s in enumerate(sites)}
    preds: dict[str, list[str]] = {s: [] for s in sites}
    for a, b in edges:
        if a in order and b in order and order[a] < order[b]:  # a later layer feeding an
            preds[b].append(a)                                  # earlier one: a recurrence
    best: dict[str, int] = {}
    mapped_before: dict[str, bool] = {}
    for s in sites:
        best[s] = stage.get(s, 0) + max((best[a] for a in preds[s]), default=0)
        mapped_before[s] = any(a in stage or mapped_before[a] for a in preds[s])
    roots = [s for s in stage if not mapped_before[s]]
    return max(best.values()), roots


def _timing(df: pd.DataFrame, hw: HardwareProfile, layers: pd.DataFrame, T: int, depth: int,
            input_cores: int | None, notes: list[str], which: str = "nominal") -> dict[str, Any]:
    """Step, latency and streaming period (seconds; see the module docstring), with the timing
    constants at ``which``."""
    out: dict[str, Any] = {"step": float("nan"), "latency": float("nan"),
                           "period": float("nan"), "host_bound": False, "used": ()}
    tick = cost_value(hw, "timing", "tick", which)
    t_sop = cost_value(hw, "timing", "synaptic_op", which)
    rate = cost_value(hw, "timing", "synaptic_ops_per_second", which)
    if not len(layers):
        notes.append("no layer mapped on the chip: latency not estimated")
        return out
    stages = max(depth, 1)
    if tick is not None:
        notes.append(f"latency: (T + {depth} stages - 1) ticks of {tick * 1e3:g} ms; period: "
                     "T ticks")
        out.update(step=tick, latency=(T + stages - 1) * tick, period=T * tick,
                   used=("tick",))
        return out
    if t_sop is not None and len(layers) and layers["cores"].notna().all():
        neu = df[df["kind"] == "neuron"]
        upd = float(neu["neuron_updates"].sum())
        fire = float(neu["spikes_out"].sum()) / upd if upd > 0 else 0.0
        t_act = cost_value(hw, "timing", "neuron_update_active", which)
        t_in = cost_value(hw, "timing", "neuron_update_inactive", which)
        t_act = t_act if t_act is not None else (t_in or 0.0)
        t_in = t_in if t_in is not None else t_act
        t_nu = fire * t_act + (1.0 - fire) * t_in
        cores = layers["cores"] - layers["combine_cores"] - layers["splitter_cores"]
        cores = cores.where(cores > 0, 1)
        work = layers["sops_step"] / cores * t_sop + np.minimum(layers["per_core"],
                                                                layers["units"]) * t_nu
        sync = cost_value(hw, "timing", "barrier_sync", which) or 0.0
        hop = cost_value(hw, "timing", "tile_hop", which) or 0.0
        compute = float(work.max()) + sync + hop
        h0 = cost_value(hw, "timing", "host_step", which)
        h1 = cost_value(hw, "timing", "host_step_per_input_core", which)
        host = None
        if h0 is not None or h1 is not None:
            host = (h0 or 0.0) + (h1 or 0.0) * float(input_cores or 0)
            seen = ((hw.data.get("timing") or {}).get("host_step_per_input_core") or {}).get(
                "fitted_over", {}).get("input_cores")
            if h1 is not None and seen and not seen[0] <= (input_cores or 0) <= seen[1]:
                notes.append(f"UNCERTAIN: the host's time per step is fitted on {seen[0]:g} to "
                             f"{seen[1]:g} input cores; this network has {input_cores or 0}, so "
                             "it is extrapolated linearly (latency, period, static and running "
                             "energy carry that uncertainty)")
        step = compute if host is None else max(compute, host)
        out.update(step=step, latency=(T + stages - 1) * step, period=T * step,
                   host_bound=host is not None and host >= compute,
                   used=("synaptic_op", "neuron_update_active", "neuron_update_inactive",
                         "barrier_sync", "tile_hop", "host_step", "host_step_per_input_core"))
        what = (f"steps of {step * 1e9:.4g} ns (busiest core + barrier sync + one hop)"
                if host is None or compute > host else
                f"steps of {step * 1e6:.4g} us, set by the host's time per step "
                f"({input_cores or 0} input core(s); the chip's compute takes "
                f"{compute * 1e6:.3g} us)")
        notes.append(f"latency: (T + {depth} stages - 1) {what}; period: T steps"
                     + ("; host I/O time not cited: not modelled" if host is None else ""))
        return out
    if rate is not None:
        slots = float(layers["dense_step"].sum()) * T
        notes.append("latency: dense synapse-timestep slots / throughput (no sparsity "
                     "acceleration); period = latency (one sample at a time)")
        lat = slots / rate
        out.update(step=lat / T if T else lat, latency=lat, period=lat,
                   used=("synaptic_ops_per_second",))
        return out
    notes.append("no cited timing: latency unavailable")
    return out


def _fitted_keys(hw: HardwareProfile) -> list[str]:
    """The constants of ``hw`` fitted to measured cases (entries with ``fitted``)."""
    out = []
    for section in ("events", "capacity", "timing", "power"):
        for k, e in (hw.data.get(section) or {}).items():
            if isinstance(e, dict) and "fitted" in e:
                out.append(f"{section}.{k}")
    return out


def _checked_note(hw: HardwareProfile) -> str:
    """What was fitted to a measurement and what is predicted, and how far the predictions
    landed from the measured chip (``hwprofiles/validation/measured.yaml``)."""
    r = measured_results(hw)
    fitted = _fitted_keys(hw)
    fit = f"fitted to measurements: {', '.join(fitted)}" if fitted else "no constant fitted"
    if r is None:
        return (f"not checked against a measured chip (no held-out case of "
                f"hwprofiles/validation/measured.yaml for this profile); {fit}")
    act = f"; activity: {r['activity']}" if r.get("activity") else ""
    return (f"checked against {r['held_out_cases']} held-out measured case(s) ({r['source']}"
            f"{act}): "
            f"predicted / measured {r['ratio_low']:.2f} to {r['ratio_high']:.2f}, "
            f"{r['within_2x']} of {r['checks']} within 2x; {fit}; a network unlike those "
            "cases is a prediction outside what was tested")


def hardware_cost(profile: Profile, hardware: Sequence[HardwareProfile],
                  dynamic_pj: Mapping[str, float], mode: str = "paper",
                  timesteps: int | None = None, max_chips: int = 1,
                  input_cores: int | None = None,
                  dynamic_band_pj: Mapping[str, tuple[float, float]] | None = None
                  ) -> pd.DataFrame:
    """The hardware-cost table: one row per chip (:data:`COST_COLUMNS`), energies in pJ per
    sample, latency and period in seconds per sample, ``edp`` in pJ s (total x latency).

    ``dynamic_pj``: each chip's dynamic (per-op) energy per sample from the energy report.
    ``static_pj`` (idle power of the chips and cores) and ``running_pj`` (power drawn above
    idle while the chip runs: management cores, host link) are each power x the streaming
    period, the time one inference occupies the chips when inferences follow each other, as in
    the measurements the constants were fitted to. ``mode="full"`` adds both to ``total_pj``;
    ``"paper"`` keeps ``total_pj`` dynamic and shows them beside it.

    ``total_low_pj`` / ``total_high_pj``: the same total with every constant that has a range
    at its low / high end (``dynamic_band_pj``: each chip's (low, high) dynamic energy; the
    power and timing ranges of the profile)."""
    rows = []
    for hw in hardware:
        mp = map_network(profile, hw, timesteps, max_chips, input_cores)
        notes = ["estimate"] + list(mp.notes)
        dyn = float(dynamic_pj.get(hw.name, float("nan")))
        p_chip = cost_value(hw, "power", "static_per_chip")
        p_core = cost_value(hw, "power", "static_per_core")
        p_run = cost_value(hw, "power", "running_per_chip")
        static = running = float("nan")
        if hw.kind == "digital":
            pass
        elif p_chip is None and p_core is None:
            notes.append("no cited static power: static energy unavailable"
                         + (" (an all-in profile's per-op energy already holds it)"
                            if hw.all_in and hw.kind == "fpga" else ""))
        elif (p_chip is not None and mp.chips is None) or (p_core is not None and mp.cores is None):
            notes.append("static power needs the chip/core count: static energy unavailable")
        elif not math.isnan(mp.period_s):
            watts = (p_chip or 0.0) * (mp.chips or 0) + (p_core or 0.0) * (mp.cores or 0)
            static = watts * mp.period_s * 1e12
        if hw.kind != "digital":
            if p_run is None:
                if hw.kind == "neuromorphic":
                    notes.append("no cited running (management) power: not modelled")
            elif mp.chips is not None and not math.isnan(mp.period_s):
                running = p_run * mp.chips * mp.period_s * 1e12
        if not math.isnan(static) or not math.isnan(running):
            notes.append("static and running energy over the streaming period (a lone "
                         "inference holds the chips for the latency)")
        if hw.kind != "digital":
            notes.append(_checked_note(hw))
        total = dyn
        extra = [v for v in (static, running) if not math.isnan(v)]
        if mode == "full" and extra:
            total = dyn + sum(extra)
        elif mode == "paper" and extra:
            notes.append("paper convention: static and running shown, not added")
        band = []
        for k, w in enumerate(("low", "high")):
            d = (dynamic_band_pj or {}).get(hw.name, (dyn, dyn))[k]
            if mode == "full" and extra and mp.chips is not None:
                per = mp.period_band_s[k]
                watts = ((cost_value(hw, "power", "static_per_chip", w) or 0.0) * mp.chips
                         + (cost_value(hw, "power", "static_per_core", w) or 0.0) * (mp.cores or 0)
                         + (cost_value(hw, "power", "running_per_chip", w) or 0.0) * mp.chips)
                d = d + watts * per * 1e12
            band.append(float(d))
        rows.append({"hardware": hw.name, "cores": mp.cores, "chips": mp.chips,
                     "memory_bits": mp.memory_bits, "fits": mp.fits, "latency_s": mp.latency_s,
                     "period_s": mp.period_s, "static_pj": static, "running_pj": running,
                     "dynamic_pj": dyn, "total_pj": total, "total_low_pj": band[0],
                     "total_high_pj": band[1], "edp": total * mp.latency_s,
                     "notes": "; ".join(notes)})
    return pd.DataFrame(rows, columns=COST_COLUMNS)

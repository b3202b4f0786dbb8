"""Pricing: a :class:`~energymodel.counting.Profile` (what ran) x hardware profiles (what each
action costs) -> :class:`EnergyReport` (joules per sample, per layer and in total).

Prices never count: every count comes from the Profile's columns, every energy from a
:class:`~energymodel.pricing.hardware.HardwareProfile`. Two named conventions:

``paper`` (Spikformer, Spike-driven Transformer, SAFormer and peers)
    E = E_MAC x MACs + E_AC x SOPs over synaptic and attention sites, where MACs are the
    ``macs`` column (both operands analog: the pixel-encoding layer) and SOPs are ``acs``
    (``sops="exact"``: counted on the real spikes), ``acs_rate`` (``sops="rate"``: firing
    rate x dense ops, the literature's estimate) or the Lemaire fan-out estimate
    (``sops="lemaire"``). BN, element-wise ops and neuron dynamics are not charged.
    Digital profiles: E_MAC = mult + add, E_AC = add at ``precision`` (cmos45nm fp32: 4.6 and
    0.9 pJ). Event-driven chips (``events.synaptic_op``): E_AC = their synaptic-op energy;
    E_MAC = their ``events.mac`` if they have one, otherwise analog MACs are priced on the
    chip's declared ``flags.host`` profile (the report's ``mac_priced_on`` says where), or,
    with ``mac_host=None``, refused with an error. A MAC is never silently priced at 0.

``full`` (memory-aware, after Lemaire et al., ICONIP 2022, arXiv:2210.13107)
    compute: MACs x (mult + add) + SOPs x add + one add per bias read;
    addressing: spike-driven sites one add per weight fetched (+ one MAC per input spike to
    locate a convolution's first output), analog sites one add per input and output element
    (+ C_out x kernel size once per sample for convolutions);
    neuron: leaky neurons one MAC per update (leak) and, all neurons, one add per spike (reset);
    chips with ``events.neuron_update*`` use those (active = updates that emitted a spike);
    memory: every access one word of ``word_bits`` (default: the precision's width) priced
    from the profile's SRAM by the capacity of the buffer it hits
    (``HardwareProfile.sram_read_pj``): weights and biases read per synaptic event from a
    parameter buffer of the layer's weights and biases; input spikes read and output spikes
    written through FIFOs of ``fifo_words`` words; membrane potentials read and written per
    synaptic event and per neuron update in a buffer of one timestep's outputs; analog
    inputs read per MAC (convolution) or once (linear) from a buffer of the whole input;
    analog outputs written only when the model has no neurons.
    routing: output spikes x (``events.spike`` + ``hops`` x ``events.tile_hop``) where the
    profile has them. ``flags.includes_memory`` drops the memory term (the chip's event
    energies contain it); ``flags.all_in`` keeps only the event energies.
    Element-wise ops (the ``elementwise_ops`` column: residual adds, scales, BN, softmax,
    analog reductions) cost one mult each for mul/scale/div, one mult + add for batch_norm /
    layer_norm, one add otherwise (``charge_elementwise``; softmax's exponentials are thus
    under-priced). The Lemaire model has no such ops.

Agreement with an independent implementation: on a 4-layer conv SNN (spikingjelly
``layer.Conv2d`` / ``LIFNode`` or ``IFNode``, T = 4, batch 1) ``full`` with cmos45nm int32
equals spikingjelly 2.0.0's ``estimate_lemaire_energy`` to 1e-9 with ``sops="lemaire"`` and
within 0.25 % with exact SOPs (their conv fan-out ignores borders). Their buffers are sized
from a call's whole tensor, batch included; ours per sample (energy per sample does not
change with the batch size). See ``tests/test_lemaire_oracle.py``.

Every energy is per sample (one inference of one input, all timesteps): counts are divided
by ``profile.samples``. Where a profile gives low / high for a constant, the whole estimate
is also made at the low and at the high ends (``total_low_*``, ``total_high_*``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..common import formatting as _tables
from . import mapping
from ..counting.profile import Profile
from .hardware import PRECISION_BITS, HardwareProfile, load_hardware

__all__ = ["estimate", "EnergyReport", "MODES", "SOPS"]

MODES = ("paper", "full")
SOPS = ("exact", "rate", "lemaire")
COMPONENTS = ("compute_pj", "addressing_pj", "neuron_pj", "memory_pj", "routing_pj")
_LEAKY = ("lif", "plif", "leaky", "neuron", "alif", "klif")
_MULT_LIKE = ("mul", "scale", "div")          # one multiply per element op
_MAC_LIKE = ("batch_norm", "layer_norm")      # one multiply-add (affine) per element op
_WHICH = ("nominal", "low", "high")


@dataclass
class EnergyReport:
    """Energy per sample, per layer (``layers``) and in total (``totals``), for one or more
    hardware profiles under one named convention."""

    layers: pd.DataFrame
    totals: pd.DataFrame
    mode: str
    precision: str
    sops: str
    options: dict[str, Any] = field(default_factory=dict)
    hardware: list[HardwareProfile] = field(default_factory=list)
    #: ops that ran without a count rule (name -> calls; not counted, so not priced) and the
    #: profile's plausibility warnings (:meth:`Profile.diagnostics`): every output lists them
    unrecognized: dict[str, int] = field(default_factory=dict)
    diagnostics: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["level", "site", "message", "check"]))

    def not_counted(self) -> str:
        """``"not counted: N op(s) without a count rule (exp x1, ...)"``, or ``""``."""
        if not self.unrecognized:
            return ""
        ops = ", ".join(f"{k} x{v}" for k, v in sorted(self.unrecognized.items()))
        return f"not counted: {len(self.unrecognized)} op(s) without a count rule ({ops})"

    def _csv_not_counted(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` plus one row per op without a rule (kind ``no_rule``, energies empty)."""
        if not self.unrecognized:
            return df
        extra = pd.DataFrame([{"site": f"(no rule) {k} x{v}", "op": k, "kind": "no_rule"}
                              for k, v in sorted(self.unrecognized.items())])
        return pd.concat([df, extra], ignore_index=True)
    #: per chip: cores, chips, memory_bits, fits, latency_s, static_pj, dynamic_pj, total_pj,
    #: edp, notes (an estimate; :mod:`energymodel.pricing.mapping` states the rule)
    hardware_cost: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=mapping.COST_COLUMNS))
    #: the SNN against its ANN twin (``estimate(..., vs_ann=twin)``;
    #: :mod:`energymodel.pricing.baseline`), ``None`` when not asked for
    break_even: pd.DataFrame | None = None

    # ------------------------------------------------------------------ text
    def convention(self) -> str:
        """One line naming the convention, for table captions."""
        what = {
            "paper": "paper convention: E_MAC x MACs + E_AC x SOPs, BN and neurons not charged",
            "full": "full convention (after Lemaire et al. 2022): compute + addressing + neuron "
            "+ memory + routing",
        }[self.mode]
        sops = {"exact": "exact SOPs (counted on the spikes)",
                "rate": "rate-estimated SOPs (firing rate x dense ops)",
                "lemaire": "Lemaire fan-out SOPs"}[self.sops]
        text = f"{what}; {sops}; precision {self.precision}; energy per sample"
        ints = self.options.get("integer_spikes")
        if ints:
            text += ("; integer spike inputs (residual sums) as k accumulates per value k"
                     if ints == "acs" else
                     "; integer spike inputs (residual sums) as one MAC per non-zero element")
        t = self.totals
        hosted = t[(t["mac_priced_on"] != t["hardware"]) & (t["macs"] > 0)]
        for h, on in zip(hosted["hardware"], hosted["mac_priced_on"]):
            text += f"; analog-input MACs of {h} priced on {on}"
            if self.mode == "full":  # the host's arithmetic only: its memory traffic is not added
                text += " (arithmetic only, without the host's memory and addressing)"
        for h in self.hardware:
            if h.kind == "accelerator":
                text += (f"; {h.name} is a dense accelerator: every synapse slot priced as one "
                         "MAC, spike or not")
        return text

    def summary(self) -> pd.DataFrame:
        """Totals in mJ per sample, one row per hardware (the shape of a paper's energy table);
        printed at three significant figures (the values keep full precision)."""
        t = self.totals
        out = pd.DataFrame({"hardware": t["hardware"]})
        for c in COMPONENTS:
            out[c.replace("_pj", "_mj")] = t[c] / 1e9
        out["total_mj"] = t["total_mj"]
        if (t["total_low_mj"] != t["total_mj"]).any() or (t["total_high_mj"] != t["total_mj"]).any():
            out["total_low_mj"] = t["total_low_mj"]
            out["total_high_mj"] = t["total_high_mj"]
        keep = [c for c in out.columns if c in ("hardware", "total_mj", "total_low_mj",
                                                "total_high_mj") or (out[c] != 0).any()]
        return _tables.SigFrame(out[keep])   # prints at 3 significant figures, values exact

    def human_totals(self, unit: str | None = None) -> tuple[pd.DataFrame, str]:
        """Totals per hardware for people: non-zero components and the total (with its low-high
        band when the profile gives one) in ONE readable unit picked for the table (``unit``
        forces one), headers naming it; returns ``(table, unit)``."""
        t = self.totals.copy()
        t["total_low_pj"] = t["total_low_mj"] * 1e9
        t["total_high_pj"] = t["total_high_mj"] * 1e9
        keep = ["hardware"] + [c for c in COMPONENTS if (t[c] != 0).any()] + ["total_pj"]
        if (t["total_low_mj"] != t["total_mj"]).any() or (t["total_high_mj"] != t["total_mj"]).any():
            keep += ["total_low_pj", "total_high_pj"]
        nice = {"hardware": "Hardware", "compute_pj": "Compute", "addressing_pj": "Addressing",
                "neuron_pj": "Neuron", "memory_pj": "Memory", "routing_pj": "Routing",
                "total_pj": "Total", "total_low_pj": "Low", "total_high_pj": "High"}
        return _tables.energy_columns(t[keep], nice, unit=unit)

    def human_hardware_cost(self, unit: str | None = None) -> tuple[pd.DataFrame, str]:
        """:attr:`hardware_cost` for people, per sample (an estimate, see
        :mod:`energymodel.pricing.mapping`): cores, chips, fits (yes / NO / -), latency in one readable
        time unit, the streaming period in the same unit, static / running / dynamic / total
        energy in ONE readable energy unit (``unit`` forces one) and the energy-delay product in
        their product, headers naming them; the notes are left out (print them apart). In the
        ``paper`` convention the total and the EDP are the dynamic energy's, and their headers
        say so ("Total (dynamic only)", "EDP (dynamic)"); technologies (``cmos45nm``), which have
        no mapping, are left out. Returns ``(table, energy unit)``."""
        c = self.hardware_cost
        tech = {h.name for h in self.hardware if h.kind == "digital"}
        c = c[~c["hardware"].isin(tech)].reset_index(drop=True)  # technologies: no mapping
        lat_u, lat_f = _tables.pick_time_unit(c["latency_s"].to_numpy(dtype=float))
        t = pd.DataFrame({
            "hardware": c["hardware"].to_numpy(),
            "cores": _tables.whole(c["cores"]).array,
            "chips": _tables.whole(c["chips"]).array,
            "fits": [("-" if v is None or v != v else ("yes" if v else "NO")) for v in c["fits"]],
            "latency": c["latency_s"].to_numpy(dtype=float) / lat_f,
            "period": c["period_s"].to_numpy(dtype=float) / lat_f,
            "static_pj": c["static_pj"].to_numpy(dtype=float),
            "running_pj": c["running_pj"].to_numpy(dtype=float),
            "dynamic_pj": c["dynamic_pj"].to_numpy(dtype=float),
            "total_pj": c["total_pj"].to_numpy(dtype=float),
            "total_low_pj": c["total_low_pj"].to_numpy(dtype=float),
            "total_high_pj": c["total_high_pj"].to_numpy(dtype=float),
        })
        out, u = _tables.energy_columns(t, {"hardware": "Hardware", "cores": "Cores",
                                            "chips": "Chips", "fits": "Fits",
                                            "latency": f"Latency ({lat_u})",
                                            "period": f"Period ({lat_u})", "static_pj": "Static",
                                            "running_pj": "Running",
                                            "dynamic_pj": "Dynamic",
                                            "total_pj": "Total" if self.mode == "full" else
                                            "Total (dynamic only)",
                                            "total_low_pj": "Low", "total_high_pj": "High"},
                                        unit=unit)
        f = dict(_tables.ENERGY_UNITS)[u]
        edp = "EDP" if self.mode == "full" else "EDP (dynamic)"
        out[f"{edp} ({u} {lat_u})"] = c["edp"].to_numpy(dtype=float) / f / lat_f
        return out, u

    def hardware_files(self) -> str:
        """The file each chip's constants came from, compactly: ``cmos45nm:
        hwprofiles/cmos45nm.yaml; mychip: /path/mychip.yaml``."""
        return "; ".join(f"{h.name}: {getattr(h, 'origin', h.path)}" for h in self.hardware)

    def to_markdown(self, layers: bool = False, digits: int = _tables.SIG) -> str:
        """Totals (and per layer, and the hardware-cost estimate) as Markdown, one readable
        unit per table, stated in it; the hardware files, ops without a count rule and the
        run's warnings are listed."""
        s, u = self.human_totals()
        text = f"Energy per sample ({u}); {self.convention()}.\n\n"
        if self.hardware:
            text += f"Hardware files: {self.hardware_files()}.\n\n"
        text += _tables.to_markdown(s, digits=digits)
        nc = self.not_counted()
        if nc:
            text += f"\n**{nc[:1].upper() + nc[1:]}.**\n"
        if len(self.diagnostics):
            text += "\nWarnings:\n\n" + "".join(f"- {m}\n" for m in self.diagnostics["message"])
        if layers:
            cols = ["hardware", "layer", "op", "kind", *COMPONENTS, "total_pj"]
            lay, lu = _tables.energy_columns(self.layers[cols])
            text += f"\nPer layer ({lu}):\n\n" + _tables.to_markdown(lay, digits=digits)
        if len(self.hardware_cost):
            hc, hu = self.human_hardware_cost()
            text += (f"\nHardware cost (estimate; per sample, energies in {hu}; see "
                     "energymodel.pricing.mapping):\n\n" + _tables.to_markdown(hc, digits=digits))
            notes = [(h, n) for h, n in zip(self.hardware_cost["hardware"],
                                            self.hardware_cost["notes"]) if isinstance(n, str) and n]
            if notes:
                text += "\n" + "".join(f"- {h}: {n}\n" for h, n in notes)
        if self.break_even is not None and len(self.break_even):
            be, bu = _tables.human_frame(self.break_even.drop(
                columns=["mode", "snn_rate0_pj", "snn_rate1_pj"]), {
                "hw": "Hardware", "twin_bits": "Twin bits", "twin_precision": "Twin precision",
                "measured_rate": "Measured rate", "break_even_rate": "Break-even rate",
                "ann_over_snn": "Twin / SNN"})
            text += (f"\nAgainst the ANN twin ({self.mode} convention; per sample, energies in "
                     f"{bu}; energymodel.pricing.baseline):\n\n"
                     + _tables.to_markdown(be, digits=digits))
        return text

    def to_latex(self, path: str | os.PathLike | None = None, caption: str | None = None,
                 label: str | None = "tab:energy", digits: int = _tables.SIG) -> str:
        """A booktabs table, hardware as rows, energy per sample in one readable unit named in
        the headers (``path``: also write it atomically); a ``% hardware files`` comment line
        names the file of each chip."""
        s, u = self.human_totals()
        caption = caption or (f"Energy per sample ({u}); "
                              f"{self.convention().replace('; energy per sample', '')}.")
        nc = self.not_counted()
        if nc:
            caption += f" {nc[:1].upper() + nc[1:]}."
        text = _tables.to_latex(s, caption=caption, label=label, digits=digits)
        if self.hardware:
            text = f"% hardware files: {self.hardware_files()}\n" + text
        if path is not None:
            _tables.write(path, text)
        return text

    def to_csv(self, path: str | os.PathLike, table: str = "layers") -> None:
        """Write ``layers`` (default) or ``totals`` as CSV, atomically. ``layers`` ends with one
        row per op without a count rule (kind ``no_rule``, energies empty: not counted) and,
        with an ANN twin, one row per chip of kind ``break_even``."""
        if table not in ("layers", "totals"):
            raise ValueError(f"table must be 'layers' or 'totals', got {table!r}")
        df = getattr(self, table)
        files = {h.name: getattr(h, "origin", h.path) for h in self.hardware}
        if files:  # the file each chip came from, one column at the end
            df = df.assign(hardware_file=df["hardware"].map(files))
        if table == "layers":
            df = self._csv_break_even(self._csv_not_counted(df))
        _tables.write(path, _tables.to_csv_text(df))

    def _csv_break_even(self, df: pd.DataFrame) -> pd.DataFrame:
        """``df`` plus one row per chip of :attr:`break_even` (kind ``break_even``: ``total_pj``
        the SNN's energy, and the columns ``ann_pj``, ``measured_rate``, ``break_even_rate``,
        ``twin_bits``, ``twin_precision``, ``break_even_reason``, empty on the other rows)."""
        if self.break_even is None or not len(self.break_even):
            return df
        be = self.break_even
        extra = pd.DataFrame({
            "hardware": be["hw"], "site": "(vs ANN twin)", "kind": "break_even",
            "total_pj": be["snn_pj"], "ann_pj": be["ann_pj"],
            "measured_rate": be["measured_rate"], "break_even_rate": be["break_even_rate"],
            "twin_bits": be["twin_bits"], "twin_precision": be["twin_precision"],
            "break_even_reason": be["reason"]})
        return pd.concat([df, extra], ignore_index=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "energymodel.energy/1",
            "mode": self.mode,
            "precision": self.precision,
            "sops": self.sops,
            "convention": self.convention(),
            "options": self.options,
            "hardware": {h.name: {"path": h.path, "file": getattr(h, "origin", h.path),
                                  "sources": h.sources} for h in self.hardware},
            "totals": self.totals,
            "layers": self.layers,
            "unrecognized": dict(self.unrecognized),
            "diagnostics": self.diagnostics,
            "hardware_cost": self.hardware_cost,
            **({"break_even": self.break_even} if self.break_even is not None else {}),
        }

    def to_json(self, path: str | os.PathLike | None = None) -> str:
        """JSON with the convention, totals and layers (``path``: also write it atomically)."""
        text = _tables.to_json_text(self.to_dict())
        if path is not None:
            _tables.write(path, text)
        return text

    def _repr_html_(self) -> str:
        """The report in a notebook: its convention, the totals and the hardware cost, in the
        terminal's units and significant figures."""
        tot, u = self.human_totals()
        out = _tables.to_html(tot, f"{self.convention()}; totals per sample, energy in {u}")
        if len(self.hardware_cost):
            hc, hu = self.human_hardware_cost()
            if len(hc):
                out += _tables.to_html(hc, f"hardware cost per sample (an estimate); energy in {hu}")
        return out

    def __repr__(self) -> str:
        parts = ", ".join(f"{h}={v:.4g} mJ" for h, v in zip(self.totals["hardware"], self.totals["total_mj"]))
        return f"EnergyReport(mode={self.mode!r}, precision={self.precision!r}, {parts})"


# ---------------------------------------------------------------------------- helpers
def _as_profiles(hardware: Any) -> list[HardwareProfile]:
    if isinstance(hardware, (str, os.PathLike, HardwareProfile)):
        hardware = [hardware]
    out = [load_hardware(h) for h in hardware]
    if not out:
        raise ValueError("estimate: give at least one hardware profile")
    return out


def _sops(df: pd.DataFrame, how: str) -> pd.Series:
    if how == "exact":
        return df["acs"]
    if how == "rate":
        return df["acs_rate"]
    # Lemaire's fan-out estimate: each input spike reaches C_out/groups x prod(ceil(k/s))
    # outputs (borders ignored) = weight fetches x stride_elems / kernel_elems.
    conv = df["op"].astype(str).str.startswith("conv") & (df["kernel_elems"] > 0)
    ratio = np.where(conv, df["stride_elems"] / df["kernel_elems"].where(df["kernel_elems"] > 0, 1), 1.0)
    spike = df["in_kind"].isin(("binary", "integer"))
    return pd.Series(np.where(spike, df["weight_reads"] * ratio, df["acs"]), index=df.index)


@dataclass
class _Prices:
    """The energies (pJ) one hardware profile gives one estimate, at one range end."""

    e_ac: float
    e_mac: float | None  # None: the chip cannot do analog MACs and no host was given
    e_add: float | None
    e_neuron_mac: float | None
    mac_on: str


def _resolve_prices(hw: HardwareProfile, precision: str, which: str, mac_host: Any,
                    need_mac: bool) -> _Prices:
    has_arith = bool(hw.data.get("arithmetic"))
    e_add = e_mult_add = None
    if has_arith:
        if not hw.has("add", precision) or not hw.has("mult", precision):
            field_ = f"arithmetic.{'add' if not hw.has('add', precision) else 'mult'}.{precision}"
            raise hw.missing(field_, f"profile {hw.name!r} has no {precision} arithmetic "
                             f"(it has: {', '.join(hw.precisions()) or 'none'})")
        e_add = hw.energy("add", precision, which)
        e_mult_add = hw.energy("mac", precision, which)
    if hw.has_event("synaptic_op"):
        e_ac = hw.event("synaptic_op", which)
    elif hw.kind == "accelerator":  # dense: a synapse slot is a MAC slot, spike or not
        e_ac = hw.event("mac", which)
    elif e_add is not None:
        e_ac = e_add
    else:  # pragma: no cover - the validator requires one of the two
        raise hw.missing("events.synaptic_op", "no synaptic-op energy and no arithmetic")
    mac_on = hw.name
    if hw.has_event("mac"):
        e_mac: float | None = hw.event("mac", which)
    elif e_mult_add is not None:
        e_mac = e_mult_add
    else:
        host = hw.host if mac_host == "profile" else mac_host
        e_mac = None
        if host is not None:
            h = load_hardware(host)
            if not h.has("add", precision) or not h.has("mult", precision):
                raise h.missing(f"arithmetic.mult.{precision}",
                                f"host profile {h.name!r} has no {precision} arithmetic")
            e_mac = h.energy("mac", precision, which)
            mac_on = h.name
        elif need_mac:
            raise hw.missing(
                "events.mac",
                f"profile {hw.name!r} cannot multiply analog inputs (no events.mac, no "
                "arithmetic) and the profile has analog-input MACs to price; declare "
                "flags.host in the profile or pass mac_host='cmos45nm' to price them on a host",
            )
    return _Prices(e_ac=e_ac, e_mac=e_mac, e_add=e_add, e_neuron_mac=e_mult_add, mac_on=mac_on)


def _price(df: pd.DataFrame, hw: HardwareProfile, mode: str, precision: str, sops: str,
           which: str, o: dict[str, Any]) -> tuple[pd.DataFrame, str]:
    """Component energies (pJ per sample) of every site on one profile at one range end."""
    syn = df["kind"].isin(("synaptic", "attention")).to_numpy()
    neu = (df["kind"] == "neuron").to_numpy()
    macs = np.where(syn, df["macs"].to_numpy(), 0.0)
    sop = np.where(syn, _sops(df, sops).to_numpy(), 0.0)
    p = _resolve_prices(hw, precision, which, o["mac_host"], need_mac=bool(macs.sum() > 0))
    e_mac = p.e_mac if p.e_mac is not None else 0.0
    n = len(df)
    comp = {c: np.zeros(n) for c in COMPONENTS}
    comp["compute_pj"] = macs * e_mac + sop * p.e_ac
    if hw.kind == "accelerator":
        # a dense accelerator computes every synapse slot, spike or not (no sparsity): each
        # slot is one MAC at the profile's all-in energy, in either convention
        comp["compute_pj"] = np.where(syn, df["dense_macs"].to_numpy(), 0.0) * e_mac
        return pd.DataFrame(comp, index=df.index), p.mac_on
    if mode == "paper":
        return pd.DataFrame(comp, index=df.index), p.mac_on

    # ------------------------------------------------------------------ full
    spike_in = df["in_kind"].isin(("binary", "integer")).to_numpy()
    analog_in = syn & ~spike_in
    conv = df["op"].astype(str).str.startswith("conv").to_numpy()
    e_add = p.e_add
    if hw.all_in:
        return pd.DataFrame(comp, index=df.index), p.mac_on
    if e_add is None and not hw.includes_memory:
        raise hw.missing("arithmetic.add", "the full convention needs add energies for biases, "
                         "addressing and memory-bound steps")

    # compute extras: bias adds, element-wise ops
    if e_add is not None:
        comp["compute_pj"] = comp["compute_pj"] + np.where(syn, df["bias_reads"], 0.0) * e_add
        if o["charge_elementwise"] and p.e_neuron_mac is not None:
            op = df["op"].astype(str)
            e_mult = p.e_neuron_mac - e_add
            per_op = np.where(op.isin(_MULT_LIKE), e_mult,
                              np.where(op.isin(_MAC_LIKE), p.e_neuron_mac, e_add))
            comp["compute_pj"] = comp["compute_pj"] + df["elementwise_ops"].to_numpy() * per_op
        if o["addressing"] and not hw.includes_memory:
            addr_spike = df["weight_reads"] * e_add + np.where(conv, 2.0 * df["spike_reads"], 0.0) * (p.e_neuron_mac or 0.0)
            addr_analog = (df["in_elems"] + df["out_elems"]
                           + np.where(conv, df["out_channels"] * df["kernel_elems"], 0.0)) * e_add
            comp["addressing_pj"] = np.where(syn & spike_in, addr_spike, 0.0) + np.where(analog_in, addr_analog, 0.0)

    # neurons
    upd = np.where(neu, df["neuron_updates"], 0.0)
    spk = np.where(neu, df["spikes_out"], 0.0)
    leaky = df["op"].astype(str).str.lower().isin(_LEAKY).to_numpy()
    if hw.has_event("neuron_update_active") and hw.has_event("neuron_update_inactive"):
        active = np.minimum(spk, upd)
        comp["neuron_pj"] = (active * hw.event("neuron_update_active", which)
                             + (upd - active) * hw.event("neuron_update_inactive", which))
    elif hw.has_event("neuron_update"):
        comp["neuron_pj"] = upd * hw.event("neuron_update", which)
    elif e_add is not None and p.e_neuron_mac is not None:
        comp["neuron_pj"] = np.where(leaky, upd, 0.0) * p.e_neuron_mac + spk * e_add
    elif upd.sum() > 0:
        raise hw.missing("events.neuron_update", f"profile {hw.name!r} prices no neuron update")

    # memory
    if not hw.includes_memory:
        if not hw.has_sram():
            raise hw.missing("sram", "the full convention prices memory accesses from SRAM entries")
        wb = o["word_bits"]
        word_bytes = wb / 8.0
        T = o["timesteps"]

        def cost(capacity_words: np.ndarray) -> np.ndarray:
            cap = np.asarray(capacity_words, dtype=float) * word_bytes
            return np.array([hw.sram_read_pj(c, wb, which, o["width_rule"]) for c in cap])

        fifo = float(hw.sram_read_pj(o["fifo_words"] * word_bytes, wb, which, o["width_rule"]))
        params_cap = np.where(df["weight_elems"] > 0, df["weight_elems"] + df["bias_elems"], df["in2_elems"])
        in_reads = np.where(spike_in, df["spike_reads"] * fifo, 0.0)
        analog_reads = np.where(conv, df["macs"], df["in_elems"])
        in_reads = in_reads + np.where(analog_in, analog_reads * cost(df["in_elems"]), 0.0)
        param_reads = (df["weight_reads"] + df["bias_reads"]).to_numpy() * cost(params_cap)
        pot_cost = cost(df["out_elems"] / T)
        pot = (df["state_reads"] + df["state_writes"]).to_numpy() * pot_cost
        mem_syn = in_reads + param_reads + np.where(spike_in, pot, 0.0)
        if not neu.any():
            mem_syn = mem_syn + np.where(analog_in, df["out_elems"] * cost(df["out_elems"]), 0.0)
        mem_neu = pot + df["spike_writes"].to_numpy() * fifo
        comp["memory_pj"] = np.where(syn, mem_syn, 0.0) + np.where(neu, mem_neu, 0.0)

    # routing
    if hw.has_event("spike") or hw.has_event("tile_hop"):
        per_spike = (hw.event("spike", which) if hw.has_event("spike") else 0.0) + (
            o["hops"] * hw.event("tile_hop", which) if hw.has_event("tile_hop") else 0.0)
        comp["routing_pj"] = spk * per_spike
    return pd.DataFrame(comp, index=df.index), p.mac_on


# ---------------------------------------------------------------------------- estimate
def check_options(
    mode: str = "paper", sops: str = "exact", precision: str = "fp32", width_rule: str = "access"
) -> None:
    """Raise ``ValueError`` naming an unknown convention, SOP source, precision or width rule
    (callers may check before anything runs)."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
    if sops not in SOPS:
        raise ValueError(f"unknown sops {sops!r}; use one of {', '.join(SOPS)}")
    if precision not in PRECISION_BITS:
        raise ValueError(f"unknown precision {precision!r}; use one of {', '.join(PRECISION_BITS)}")
    if width_rule not in ("access", "bits"):
        raise ValueError(f"unknown width_rule {width_rule!r}; use 'access' or 'bits'")


def estimate(
    profile: Profile,
    hardware: "str | HardwareProfile | Sequence[str | HardwareProfile]",
    mode: str = "paper",
    *,
    precision: str = "fp32",
    sops: str = "exact",
    word_bits: int | None = None,
    width_rule: str = "access",
    fifo_words: int = 1000,
    hops: float = 1.0,
    timesteps: int | None = None,
    mac_host: Any = "profile",
    addressing: bool = True,
    charge_elementwise: bool = True,
    max_chips: int = 1,
) -> EnergyReport:
    """Price a profile on one or more hardware profiles (names, paths or loaded profiles).

    Args:
        mode: ``"paper"`` or ``"full"`` (see the module docstring for both conventions).
        precision: arithmetic precision (``fp32``, ``fp16``, ``int8``, ``int32``, ...).
        sops: ``"exact"`` (``acs``), ``"rate"`` (``acs_rate``) or ``"lemaire"`` (fan-out
            estimate, spike inputs x C_out/groups x prod(ceil(k/s)), borders ignored).
        word_bits: width of one memory word in ``full`` (default: the precision's width).
        width_rule: how SRAM entries scale to ``word_bits`` (``"access"`` or ``"bits"``; see
            :meth:`HardwareProfile.sram_read_pj`).
        fifo_words: capacity of the spike FIFOs in words (Lemaire et al.: 1000).
        hops: mean mesh hops per spike, for profiles with ``events.tile_hop``.
        timesteps: T used to size membrane buffers (default: the largest ``timesteps`` of the
            profile's neuron sites, else 1).
        mac_host: where chips without analog MACs price them: ``"profile"`` (their
            ``flags.host``), a profile name / object, or ``None`` to refuse with an error.
        addressing: charge Lemaire's addressing operations in ``full``.
        charge_elementwise: charge the ``elementwise_ops`` column in ``full`` (see above).
        max_chips: chips available to the hardware-cost mapping (``hardware_cost.fits``).

    Returns an :class:`EnergyReport`; every energy is per sample.
    """
    check_options(mode, sops, precision, width_rule)
    if not isinstance(profile, Profile):
        raise TypeError(f"estimate expects an energymodel Profile, got {type(profile).__name__}")
    if profile.samples <= 0:
        raise ValueError("estimate: the profile covers no samples (samples = 0); nothing to "
                         "divide the counts by")
    if fifo_words <= 0 or hops < 0:
        raise ValueError("estimate: fifo_words must be > 0 and hops >= 0")
    hws = _as_profiles(hardware)
    df = profile.per_sample().reset_index(drop=True)
    if timesteps is None:
        tcol = df.loc[df["kind"] == "neuron", "timesteps"]
        timesteps = int(tcol.max()) if len(tcol) and tcol.max() > 0 else 1
    if timesteps <= 0:
        raise ValueError(f"estimate: timesteps must be > 0, got {timesteps}")
    opts = {
        "word_bits": int(word_bits or PRECISION_BITS[precision]),
        "width_rule": width_rule,
        "fifo_words": int(fifo_words),
        "hops": float(hops),
        "timesteps": int(timesteps),
        "mac_host": mac_host if isinstance(mac_host, (str, type(None))) else getattr(mac_host, "name", str(mac_host)),
        "addressing": bool(addressing),
        "charge_elementwise": bool(charge_elementwise),
        "samples": profile.samples,
    }
    if "in_kind" in df and (df["in_kind"] == "integer").any():  # say how they were counted
        opts["integer_spikes"] = str(profile.model_info.get("integer_spikes", "acs"))
    priced_opts = dict(opts, mac_host=mac_host)
    layer_frames, total_rows = [], []
    ids = df[["layer", "site", "op", "kind", "in_kind"]]
    for hw in hws:
        runs = {}
        mac_on = hw.name
        for which in _WHICH:
            comp, mac_on_w = _price(df, hw, mode, precision, sops, which, priced_opts)
            comp["total_pj"] = comp[list(COMPONENTS)].sum(axis=1)
            runs[which] = comp
            if which == "nominal":
                mac_on = mac_on_w
        lay = ids.copy()
        lay.insert(0, "hardware", hw.name)
        lay["macs"] = np.where(df["kind"].isin(("synaptic", "attention")), df["macs"], 0.0)
        lay["sops"] = np.where(df["kind"].isin(("synaptic", "attention")), _sops(df, sops), 0.0)
        lay["neuron_updates"] = df["neuron_updates"]
        lay["spikes_out"] = df["spikes_out"]
        for c in [*COMPONENTS, "total_pj"]:
            lay[c] = runs["nominal"][c].to_numpy()
        lay["total_low_pj"] = runs["low"]["total_pj"].to_numpy()
        lay["total_high_pj"] = runs["high"]["total_pj"].to_numpy()
        layer_frames.append(lay)
        row = {"hardware": hw.name}
        for c in [*COMPONENTS, "total_pj"]:
            row[c] = float(lay[c].sum())
        row["total_mj"] = row["total_pj"] / 1e9
        row["total_low_mj"] = float(lay["total_low_pj"].sum()) / 1e9
        row["total_high_mj"] = float(lay["total_high_pj"].sum()) / 1e9
        row["macs"] = float(lay["macs"].sum())
        row["sops"] = float(lay["sops"].sum())
        row.update(mode=mode, precision=precision, sops_source=sops, mac_priced_on=mac_on,
                   technology_node_nm=hw.technology_node_nm)
        total_rows.append(row)
    layers = pd.concat(layer_frames, ignore_index=True)
    totals = pd.DataFrame(total_rows)
    band = {h: (lo * 1e9, hi * 1e9) for h, lo, hi in
            zip(totals["hardware"], totals["total_low_mj"], totals["total_high_mj"])}
    cost = mapping.hardware_cost(profile, hws, dict(zip(totals["hardware"], totals["total_pj"])),
                                 mode=mode, timesteps=timesteps, max_chips=max_chips,
                                 dynamic_band_pj=band)
    diag = profile.diagnostics()
    notes = mac_share_notes(layers)
    if notes:
        diag = pd.concat([diag, pd.DataFrame(notes, columns=diag.columns)], ignore_index=True)
    return EnergyReport(layers=layers, totals=totals, mode=mode, precision=precision, sops=sops,
                        options=opts, hardware=hws, unrecognized=dict(profile.unrecognized),
                        diagnostics=diag, hardware_cost=cost)


#: a note says how much of a chip's energy is priced as MACs from this share on
MAC_SHARE_NOTE = 0.2


def mac_share_notes(layers: pd.DataFrame, top: int = 3) -> list[dict[str, str]]:
    """One ``note`` per chip whose energy comes for at least :data:`MAC_SHARE_NOTE` from
    layers priced as MACs (analog inputs: the pixel encoder, but also convolutions chained with
    no neuron between them), naming the largest such layers and their shares."""
    out = []
    for hw, lay in layers.groupby("hardware", sort=False):
        total = float(lay["total_pj"].sum())
        mac = lay[(lay["macs"] > 0) & (lay["sops"] == 0)]
        share = float(mac["total_pj"].sum()) / total if total > 0 else 0.0
        if share < MAC_SHARE_NOTE:
            continue
        big = mac.sort_values("total_pj", ascending=False).head(top)
        names = ", ".join(f"{s} ({e / total:.0%})" for s, e in zip(big["site"], big["total_pj"]))
        out.append({"level": "note", "site": str(hw), "check": "mac_share",
                    "message": f"{share:.0%} of the energy on {hw} is priced as MACs (layers "
                               f"with analog inputs, e.g. convolutions with no neuron before "
                               f"them), {len(mac)} layer(s); largest: {names}"})
    return out

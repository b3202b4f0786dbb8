"""``energymodel compare``: the four attention mechanisms at one shape, measured on the same
seeded spike input, profiled, priced on several chips, one row per mechanism.

:func:`compare_mechanisms` measures (counts, rates and the closed-form cross-check, one
Profile per mechanism); :func:`compare_attention` prices those profiles into the table.

>>> from energymodel.report.compare import compare_attention
>>> df = compare_attention(196, 512, 8, 4, ["cmos45nm", "loihi"], rate=0.2)
>>> print(df.attrs["caption"])

Input of the comparison (the choice, stated in every caption):

* SSA, SDSA and SASA run all ``timesteps`` steps on one Bernoulli spike tensor
  ``[T, 1, N, D]`` of firing ``rate`` (seeded), exactly as
  :func:`compare_mechanisms` (below) builds it;
* the vanilla (ANN) block runs **one step on the analog version of that input**: its mean over
  the T steps, the value the spike train encodes (an ANN sees a real-valued activation once;
  fed the binary tensor itself, its projections would be counted as accumulates, which no ANN
  accelerator does). With ``T = 1`` the mean is the binary tensor itself.

Weights are random (seeded); BatchNorm statistics of the spiking blocks are calibrated on the
input (``bn_shift``), so their neurons fire at plausible rates; the measured rates are in the
table. Energy is per sample (one input, all steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import torch

from ..common import formatting as _tables
from ..counting import analytic
from ..attention import MECHANISMS, build_attention, calibrate_bn
from ..counting import profile as _profile
from ..lif import LIF
from ..pricing.energy import MODES
from ..common.errors import UserError
from ..pricing.hardware import HardwareProfile
from ..workflow import check_pricing, load_hardware_list, price

__all__ = ["compare_mechanisms", "Comparison", "compare_attention", "paper_view",
           "rates_view", "counts_view", "energy_view",
           "MECHANISM_ORDER", "COMPARE_DEFAULTS"]

MECHANISM_ORDER = ("vanilla", "ssa", "sdsa", "sasa")
COMPARE_DEFAULTS = dict(tokens=196, dim=512, heads=8, timesteps=4, rate=0.2, seed=0)


#: table columns, per sample
COUNT_COLUMNS = ("macs", "acs", "acs_rate", "dense_macs", "elementwise_ops", "neuron_updates",
                 "spikes_out")


@dataclass
class Comparison:
    """Result of :func:`compare_mechanisms`."""

    table: pd.DataFrame
    profiles: dict[str, Any]
    rates: dict[str, dict[str, float]]
    settings: dict[str, Any] = field(default_factory=dict)


def _rates_of(mech: str, x: torch.Tensor, outs: dict[str, torch.Tensor], heads: int) -> dict:
    """Column rates of the module's neurons for :func:`analytic.attention_ops`."""

    def cols(s: torch.Tensor):
        T, B, N, D = s.shape
        return s.reshape(T, B, N, heads, D // heads).mean(2).double().cpu().numpy()

    def colspikes(s: torch.Tensor):
        return s[:, :, :, 0, :].double().cpu().numpy()

    r: dict[str, Any] = {"x": x.float().mean().item(), "q": cols(outs["q_lif"]),
                         "k": cols(outs["k_lif"])}
    if mech in ("ssa", "sdsa"):
        r["v"] = cols(outs["v_lif"])
    if mech == "ssa":
        r["attn"] = cols(outs["attn_lif"])
        r["proj"] = outs["proj_lif"].float().mean().item()
    elif mech == "sdsa":
        r["attn"] = colspikes(outs["talking_heads_lif"])
        r["kv"] = (outs["k_lif"] * outs["v_lif"]).float().mean().item()
    else:
        r["attn"] = colspikes(outs["attn_lif"])
        r["qk"] = (outs["q_lif"] * outs["k_lif"]).float().mean().item()
    return r


def compare_mechanisms(
    tokens: int = 196,
    dim: int = 512,
    heads: int = 8,
    timesteps: int = 4,
    rate: float = 0.2,
    *,
    batch: int = 1,
    seed: int = 0,
    mechanisms: Iterable[str] = tuple(MECHANISMS),
    bn_shift: float = 0.5,
    vanilla_timesteps: int = 1,
    device: str | torch.device = "cpu",
) -> Comparison:
    """Build each mechanism at ``(tokens, dim, heads)``, feed all of them the same Bernoulli
    spike input of firing ``rate`` (``[timesteps, batch, tokens, dim]``, seeded), profile, and
    tabulate per-sample counts, firing rates and the closed-form counts for the same rates.

    Table columns: ``mechanism, timesteps, input_rate, q_rate, k_rate, v_rate, attn_rate``
    (mean firing rates; blank where a mechanism has no such tensor), ``macs, acs, acs_rate,
    dense_macs, elementwise_ops, neuron_updates, spikes_out`` (per sample, whole module),
    ``spike_rate`` (all the module's neurons: spikes_out / neuron_updates),
    ``attention_acs, attention_macs`` (the attention products / sums only), ``analytic_macs,
    analytic_acs`` (from :func:`energymodel.counting.analytic.attention_ops` with the measured column
    rates; equal to the measured ones up to float rounding). Energies and ratios to vanilla are
    added by :func:`with_energy`.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be within [0, 1] (got {rate})")
    for label, v in (("tokens", tokens), ("timesteps", timesteps), ("batch", batch),
                     ("vanilla_timesteps", vanilla_timesteps)):
        if int(v) != v or v < 1:
            raise ValueError(f"{label} must be a positive integer (got {v!r})")
    if vanilla_timesteps > timesteps:
        raise ValueError(f"vanilla_timesteps ({vanilla_timesteps}) exceeds timesteps ({timesteps})")
    mechs = [m.lower() for m in mechanisms]
    unknown = [m for m in mechs if m not in MECHANISMS]
    if unknown:
        raise ValueError(f"unknown mechanisms {unknown}; known: {', '.join(MECHANISMS)}")
    g = torch.Generator(device="cpu").manual_seed(seed)
    x = (torch.rand((timesteps, batch, tokens, dim), generator=g) < rate).float().to(device)

    rows, profiles, all_rates = [], {}, {}
    for mech in mechs:
        torch.manual_seed(seed)
        module = build_attention(mech, dim, heads).to(device)
        xin = x[:vanilla_timesteps] if mech == "vanilla" else x
        T = xin.shape[0]
        if mech == "vanilla":
            module.eval()
        else:
            calibrate_bn(module, xin, shift=bn_shift)
        outs: dict[str, torch.Tensor] = {}
        handles = [
            m.register_forward_hook(lambda mod, i, o, n=n: outs.__setitem__(n, o.detach()))
            for n, m in module.named_modules() if isinstance(m, LIF)
        ]
        try:
            prof = _profile(module, (xin,), batch_dim=1)
        finally:
            for h in handles:
                h.remove()
        profiles[mech] = prof
        rates = {} if mech == "vanilla" else _rates_of(mech, xin, outs, heads)
        all_rates[mech] = {k: float(np.mean(v)) for k, v in rates.items()}
        ana = analytic.attention_ops(mech, T, tokens, dim, heads, rates)
        df = prof.layers
        n = prof.samples
        row: dict[str, Any] = {"mechanism": mech, "timesteps": T, "input_rate": float(xin.mean())}
        for key in ("q", "k", "v", "attn"):
            row[f"{key}_rate"] = all_rates[mech].get(key, float("nan"))
        for c in COUNT_COLUMNS:
            row[c] = float(df[c].sum()) / n
        row["spike_rate"] = row["spikes_out"] / row["neuron_updates"] if row["neuron_updates"] else float("nan")
        att = df[df["kind"] == "attention"]
        row["attention_acs"] = float(att["acs"].sum()) / n
        row["attention_macs"] = float(att["macs"].sum()) / n
        row["analytic_macs"] = ana["macs"]
        row["analytic_acs"] = ana["acs"]
        rows.append(row)
        del module
    settings = dict(tokens=tokens, dim=dim, heads=heads, timesteps=timesteps, rate=rate,
                    batch=batch, seed=seed, bn_shift=bn_shift,
                    vanilla_timesteps=vanilla_timesteps, weights="random (seeded)")
    return Comparison(pd.DataFrame(rows), profiles, all_rates, settings)


def _spike_input(timesteps: int, tokens: int, dim: int, rate: float, seed: int) -> torch.Tensor:
    # identical to compare_mechanisms' input (same generator, same draw)
    g = torch.Generator(device="cpu").manual_seed(seed)
    return (torch.rand((timesteps, 1, tokens, dim), generator=g) < rate).float()


def _check(tokens: int, dim: int, heads: int, timesteps: int, rate: float, mode: str) -> None:
    if tokens < 1 or dim < 1 or heads < 1 or timesteps < 1:
        raise UserError(f"tokens, dim, heads and timesteps must be >= 1 (got {tokens}, {dim}, "
                        f"{heads}, {timesteps})")
    if dim % heads:
        raise UserError(f"dim {dim} is not divisible by heads {heads}")
    if not 0.0 <= rate <= 1.0:
        raise UserError(f"rate must be within [0, 1] (got {rate})")
    if mode not in MODES:
        raise UserError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")


def compare_attention(
    tokens: int = 196,
    dim: int = 512,
    heads: int = 8,
    timesteps: int = 4,
    hardware: Sequence[str | HardwareProfile] = ("cmos45nm",),
    rate: float = 0.2,
    seed: int = 0,
    mode: str = "paper",
    *,
    bn_shift: float = 0.5,
    mechanisms: Sequence[str] = MECHANISM_ORDER,
    sops: str = "exact",
    precision: str = "fp32",
) -> pd.DataFrame:
    """Measure, price and tabulate the attention mechanisms at ``(tokens, dim, heads)``.

    One row per mechanism; columns: ``mechanism, timesteps, input_rate, q_rate, k_rate,
    v_rate, attn_rate`` (measured firing rates, ``NaN`` where a block has no such neurons),
    ``macs, acs`` (per sample, whole block: projections + attention), ``attention_macs,
    attention_acs`` (the attention products and sums only), ``analytic_macs, analytic_acs``
    (closed form with the measured rates: a cross-check, spiking blocks only), and per hardware
    ``energy_pj[hw]`` (whole block), ``vanilla_over_x[hw]`` (E_vanilla / E: how many times
    less than vanilla, the direction papers print), ``core_pj[hw]`` (attention products and
    sums only, the ``f(Q, K, V)`` row of the SDT paper's Table 1) and
    ``core_vanilla_over_x[hw]``.

    ``df.attrs`` holds ``caption`` (the input choice, the convention) and ``settings``.
    """
    _check(tokens, dim, heads, timesteps, rate, mode)
    check_pricing(mode, sops=sops, precision=precision)
    hws = load_hardware_list(hardware)
    mechs = [m.lower() for m in mechanisms]
    unknown = [m for m in mechs if m not in MECHANISM_ORDER]
    if unknown:
        raise UserError(f"unknown mechanisms {unknown}; known: {', '.join(MECHANISM_ORDER)}")

    spiking = [m for m in mechs if m != "vanilla"]
    profiles: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    if spiking:
        cmp = compare_mechanisms(tokens=tokens, dim=dim, heads=heads, timesteps=timesteps,
                                 rate=rate, seed=seed, mechanisms=spiking, bn_shift=bn_shift)
        for r in cmp.table.to_dict(orient="records"):
            rows[r["mechanism"]] = r
        profiles.update(cmp.profiles)
    if "vanilla" in mechs:
        x = _spike_input(timesteps, tokens, dim, rate, seed)
        xin = x.mean(0, keepdim=True)
        torch.manual_seed(seed)
        module = build_attention("vanilla", dim, heads).eval()
        prof = _profile(module, (xin,), batch_dim=1)
        df = prof.layers
        n = prof.samples
        att = df[df["kind"] == "attention"]
        rows["vanilla"] = {
            "mechanism": "vanilla", "timesteps": 1, "input_rate": float((xin != 0).float().mean()),
            "q_rate": float("nan"), "k_rate": float("nan"), "v_rate": float("nan"),
            "attn_rate": float("nan"),
            "macs": float(df["macs"].sum()) / n, "acs": float(df["acs"].sum()) / n,
            "attention_macs": float(att["macs"].sum()) / n,
            "attention_acs": float(att["acs"].sum()) / n,
            "analytic_macs": float("nan"), "analytic_acs": float("nan"),
        }
        profiles["vanilla"] = prof

    keep = ["mechanism", "timesteps", "input_rate", "q_rate", "k_rate", "v_rate", "attn_rate",
            "macs", "acs", "attention_macs", "attention_acs", "analytic_macs", "analytic_acs"]
    table = pd.DataFrame([{k: rows[m].get(k, float("nan")) for k in keep} for m in mechs])
    convention, hosted = "", []
    for hw in hws:
        e_all, e_core = [], []
        for m in mechs:
            rep = price(profiles[m], [hw], mode=mode, sops=sops, precision=precision)
            convention = convention or rep.convention().split("; analog-input")[0]
            t = rep.totals.iloc[0]
            if t["macs"] > 0 and t["mac_priced_on"] != hw.name:
                hosted.append(f"{m} on {hw.name}: analog MACs priced on {t['mac_priced_on']}")
            e_all.append(float(rep.totals["total_pj"].iloc[0]))
            lay = rep.layers
            e_core.append(float(lay.loc[lay["kind"] == "attention", "total_pj"].sum()))
        table[f"energy_pj[{hw.name}]"] = e_all
        table[f"core_pj[{hw.name}]"] = e_core
    if "vanilla" in mechs:
        van = table.index[table["mechanism"] == "vanilla"][0]
        for hw in hws:
            for what, col in (("vanilla_over_x", "energy_pj"), ("core_vanilla_over_x", "core_pj")):
                c = f"{col}[{hw.name}]"
                base = table.at[van, c]
                table[f"{what}[{hw.name}]"] = (base / table[c].where(table[c] > 0)
                                               if base else float("nan"))
    order = keep + [f"{c}[{hw.name}]" for hw in hws
                    for c in ("energy_pj", "vanilla_over_x", "core_pj", "core_vanilla_over_x")
                    if f"{c}[{hw.name}]" in table.columns]
    table = table[order]
    settings = dict(tokens=tokens, dim=dim, heads=heads, timesteps=timesteps, rate=rate,
                    seed=seed, mode=mode, sops=sops, precision=precision, bn_shift=bn_shift, hardware=[h.name for h in hws],
                    weights="random (seeded)", vanilla_input="time-average of the spike input, "
                    "one step (analog)")
    table = ComparisonTable(table)
    table.attrs["settings"] = settings
    table.attrs["labels"] = {h.name: h.label for h in hws}
    table.attrs["caption"] = (
        f"Attention blocks at N={tokens} tokens, D={dim}, H={heads}. SSA/SDSA/SASA: T={timesteps} "
        f"steps on one seeded Bernoulli spike input of rate {rate:g} (seed {seed}); vanilla: one "
        f"step on the analog time-average of that same input. Random seeded weights, BatchNorm "
        f"calibrated on the input (shift {bn_shift:g}). Counts and energy per sample; block: "
        f"Q/K/V/output projections + attention, core: attention products and sums only; "
        f"vanilla / x = E_vanilla / E (times less energy than vanilla). {convention[:1].upper() + convention[1:]}"
        + (f"; {'; '.join(hosted)} (the chip has no multiplier)" if hosted else "") + "."
    )
    return table


class ComparisonTable(pd.DataFrame):
    """The :func:`compare_attention` table: a DataFrame that still answers the 0.1 column names
    ``ratio_to_vanilla[hw]`` and ``core_ratio_to_vanilla[hw]`` (E / E_vanilla, the inverse of
    today's ``vanilla_over_x``) with a ``DeprecationWarning``, until 0.4."""

    _RENAMED = {"ratio_to_vanilla[": "vanilla_over_x[",
                "core_ratio_to_vanilla[": "core_vanilla_over_x["}

    @property
    def _constructor(self):
        return pd.DataFrame   # derived frames are plain DataFrames

    def __getitem__(self, key):
        if isinstance(key, str) and key not in self.columns:
            for old, new in self._RENAMED.items():
                if key.startswith(old):
                    import warnings  # noqa: PLC0415

                    warnings.warn(f"compare_attention column {key!r} is deprecated (goes in "
                                  f"0.4): use {new + key[len(old):]!r}, its inverse "
                                  "(E_vanilla / E)", DeprecationWarning, stacklevel=2)
                    return 1.0 / super().__getitem__(new + key[len(old):])
        return super().__getitem__(key)


MECHANISM_NAMES = {"vanilla": "Vanilla", "ssa": "SSA", "sdsa": "SDSA", "sasa": "SASA"}


def _hardware(table: pd.DataFrame) -> list[str]:
    return [c[len("energy_pj["):-1] for c in table.columns if c.startswith("energy_pj[")]


def _label(table: pd.DataFrame, hw: str) -> str:
    return table.attrs.get("labels", {}).get(hw, hw)


def _mech(table: pd.DataFrame) -> pd.Series:
    return table["mechanism"].map(MECHANISM_NAMES).fillna(table["mechanism"])


def rates_view(table: pd.DataFrame) -> pd.DataFrame:
    """Firing rates of :func:`compare_attention`'s table for people (one row per mechanism)."""
    return pd.DataFrame({
        "Mechanism": _mech(table), "T": table["timesteps"].astype(int),
        "Input rate": table["input_rate"], "Q rate": table["q_rate"], "K rate": table["k_rate"],
        "V rate": table["v_rate"], "Attention rate": table["attn_rate"],
    })


def counts_view(table: pd.DataFrame) -> pd.DataFrame:
    """Counts per sample for people: each count column in its own readable scale (k, M, G),
    named in the header; the closed-form cross-check where present."""
    out = pd.DataFrame({"Mechanism": _mech(table), "T": table["timesteps"].astype(int),
                        "Input rate": table["input_rate"]})
    names = [("macs", "MACs"), ("acs", "ACs"), ("attention_macs", "Core MACs"),
             ("attention_acs", "Core ACs"), ("analytic_acs", "Closed-form ACs")]
    for col, head in names:
        if col not in table.columns or table[col].isna().all():
            continue
        sc, f = _tables.pick_count_scale(table[col].to_numpy())
        out[f"{head} ({sc})" if sc else head] = table[col] / f
    return out


def energy_view(table: pd.DataFrame, core: bool = True, unit: str | None = None,
                labels: bool = True) -> pd.DataFrame:
    """Energies for people, one row per (chip, mechanism): block energy and ``vanilla / x``
    (how many times less than vanilla), and with ``core`` the attention core's; one energy unit
    for the whole table, named in the headers."""
    hws = _hardware(table)
    e = [table[f"energy_pj[{h}]"] for h in hws] + ([table[f"core_pj[{h}]"] for h in hws]
                                                     if core else [])
    u, f = _tables.pick_energy_unit(pd.concat(e).to_numpy() if e else [], prefer=unit)
    rows = []
    for h in hws:
        for i, m in enumerate(_mech(table)):
            r: dict[str, Any] = {"Chip": _label(table, h) if labels else h, "Mechanism": m,
                                 f"Block ({u})": table[f"energy_pj[{h}]"].iloc[i] / f}
            if f"vanilla_over_x[{h}]" in table.columns:
                r["Vanilla / x"] = table[f"vanilla_over_x[{h}]"].iloc[i]
            if core:
                r[f"Core ({u})"] = table[f"core_pj[{h}]"].iloc[i] / f
                if f"core_vanilla_over_x[{h}]" in table.columns:
                    r["Core vanilla / x"] = table[f"core_vanilla_over_x[{h}]"].iloc[i]
            rows.append(r)
    return pd.DataFrame(rows)


def paper_view(table: pd.DataFrame) -> pd.DataFrame:
    """The columns of :func:`compare_attention`'s table a paper prints, one row per mechanism:
    T, input rate, MACs and ACs (readable scale in the header), and per chip the block energy
    (one unit for the table) and ``vanilla / x``. Wide with many chips: its LaTeX is split by
    :func:`energymodel.common.formatting.to_latex`; :func:`energy_view` is the long form."""
    hws = _hardware(table)
    out = counts_view(table)[lambda d: [c for c in d.columns
                                        if not c.startswith(("Core", "Closed"))]]
    u, f = _tables.pick_energy_unit(pd.concat([table[f"energy_pj[{h}]"] for h in hws]).to_numpy()
                                    if hws else [])
    for h in hws:
        out[f"{_label(table, h)} ({u})"] = table[f"energy_pj[{h}]"] / f
        if f"vanilla_over_x[{h}]" in table.columns:
            out[f"{_label(table, h)} vanilla / x"] = table[f"vanilla_over_x[{h}]"]
    return out

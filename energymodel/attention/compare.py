"""The mechanism comparison behind ``energymodel compare``: the four attention modules built at
one shape, run on the same seeded spike input, profiled, and summarised one row per mechanism.

>>> from energymodel.attention.compare import compare_mechanisms
>>> cmp = compare_mechanisms(tokens=196, dim=512, heads=8, timesteps=4, rate=0.2)
>>> cmp.table            # counts per sample, firing rates, the analytic cross-check
>>> cmp.profiles["sdsa"] # the full per-site Profile of one mechanism

Pricing is applied by the caller (``em.estimate(cmp.profiles[m], hardware)``); see
:func:`with_energy`. Conventions of the run, all recorded in ``cmp.settings``:

* the weights are random (seeded); BatchNorm statistics are calibrated on the input with a bias
  ``bn_shift`` (see :func:`energymodel.attention.calibrate_bn`) so the neurons fire at plausible
  rates; the measured rates are in the table, next to the counts they produce;
* the vanilla (ANN) module runs ``vanilla_timesteps`` steps (default 1: an ANN sees the input
  once; the spiking modules run all ``timesteps``), on the first step(s) of the same input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import analytic
from ..neurons import LIF
from . import MECHANISMS, build_attention
from ._common import calibrate_bn

__all__ = ["Comparison", "compare_mechanisms", "with_energy"]

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
    analytic_acs`` (from :func:`energymodel.analytic.attention_ops` with the measured column
    rates; equal to the measured ones up to float rounding). Energies and ratios to vanilla are
    added by :func:`with_energy`.
    """
    from ..counting import profile  # local: the counting package is not needed to build modules

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
            prof = profile(module, (xin,), batch_dim=1)
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


def with_energy(cmp: Comparison, hardware: Iterable[Any], mode: str = "paper") -> pd.DataFrame:
    """``cmp.table`` with one ``energy_pj[<hardware>]`` column per hardware profile and its
    ratio to vanilla (``ratio_to_vanilla[<hardware>]``; vanilla = 1), priced with
    ``energymodel.estimate`` (per sample) in convention ``mode``."""
    import energymodel as em

    hws = [em.load_hardware(h) if isinstance(h, str) else h for h in hardware]
    table = cmp.table.copy()
    for hw in hws:
        name = getattr(hw, "name", str(hw))
        col = f"energy_pj[{name}]"
        energies = []
        for mech in table["mechanism"]:
            rep = em.estimate(cmp.profiles[mech], [hw], mode=mode)
            energies.append(float(rep.totals["total_pj"].iloc[0]))
        table[col] = energies
        if "vanilla" in set(table["mechanism"]):
            base = table.loc[table["mechanism"] == "vanilla", col].iloc[0]
            table[f"ratio_to_vanilla[{name}]"] = table[col] / base if base else float("nan")
    return table

"""Firing rates <-> energy in the literature's convention: price a profile at given firing rates
(``energymodel profile --rates FILE``) and solve the uniform firing rate a published energy
implies (``energymodel audit MODEL --published 4.50mJ``).

The literature convention (Spikformer, Spike-driven Transformer and peers; the ``paper`` mode of
:func:`energymodel.estimate` with ``sops="rate"``):

    E = E_MAC x MACs(analog-input layers, the encoder) + E_AC x sum_l r_l x dense_ops_l

where ``dense_ops_l`` is what a dense layer of that shape does over all T timesteps (the
``dense_macs`` column) of every spike-driven synaptic and attention site, and ``r_l`` its input
firing rate. Encoder MACs (the first analog-input synaptic layer, :func:`encoder_site`) are charged as
measured: on every timestep the encoder ran (the zoo's models and the official codes run the
pixel-encoding convolution on all T copies of the image), or, with ``encoder="once"``, divided
by T (an encoder charged once per image). Other analog-input MACs (a head reading averaged
membranes) are charged as measured in both. E is affine in a
uniform rate r, so the rate a published E implies is exact: r = (E - E(0)) / (E(1) - E(0)).

Only the counting (:class:`~energymodel.Profile`) and pricing (:func:`energymodel.estimate`)
layers are used here; the report and the command line use this module, never the reverse.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..counting.profile import Profile
from .energy import EnergyReport, estimate
from ..common.errors import UserError
from ..common.files import read_user_text
from .hardware import HardwareProfile, load_hardware

__all__ = [
    "RateRule",
    "read_rates",
    "uniform_rate",
    "RatedProfile",
    "apply_rates",
    "price_at_rates",
    "parse_energy",
    "implied_rate",
    "measured_rate",
    "audit",
    "encoder_site",
    "published_table",
    "ENCODER",
]

#: encoder conventions: MACs of analog-input layers as measured (all T steps) or divided by T
ENCODER = ("all", "once")
_SPIKE_KINDS = ("binary", "integer")
_UNITS_MJ = {"j": 1e3, "mj": 1.0, "uj": 1e-3, "µj": 1e-3, "μj": 1e-3, "nj": 1e-6, "pj": 1e-9}


@dataclass
class RateRule:
    """One row of a rates file: a regular expression (matched in full against a site key such
    as ``block.0.attn.q_conv:conv1d#0`` or its layer ``block.0.attn.q_conv``) and the input
    firing rate in [0, 1] the matching sites are priced at. ``row``: 1-based line number."""

    pattern: re.Pattern
    rate: float
    row: int = 0
    source: str = ""

    def matches(self, site: str, layer: str) -> bool:
        return bool(self.pattern.fullmatch(site) or self.pattern.fullmatch(layer))


def uniform_rate(rate: float) -> list[RateRule]:
    """One rule pricing every spike-driven site at ``rate``."""
    if not 0.0 <= float(rate) <= 1.0:
        raise UserError(f"rate {rate} outside [0, 1]")
    return [RateRule(re.compile(".*"), float(rate), 0, "uniform")]


#: limits on a rate pattern: its length, its group nesting and any repeat count
MAX_PATTERN_CHARS = 500
MAX_PATTERN_NESTING = 20
MAX_PATTERN_REPEAT = 1000
#: a quantified group that ends in a quantifier, like (a+)+ or (\d*)*: exponential
#: backtracking on a near miss (a group closed by a literal, like (\d+\.)+, is left alone)
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[+*}]\??\)[+*{]")


def compile_pattern(pat: str, where: str) -> "re.Pattern[str]":
    """A rate pattern compiled under limits (length, nesting, repeat counts, no nested
    quantifier, whose matching time can explode); one :class:`UserError` naming ``where``
    otherwise. Site keys and layer names are short, so a pattern within these limits matches
    in bounded time."""
    if len(pat) > MAX_PATTERN_CHARS:
        raise UserError(f"{where}: pattern of {len(pat)} characters (at most {MAX_PATTERN_CHARS})")
    depth = top = 0
    escaped = False
    for ch in pat:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == "(":
            depth += 1
            top = max(top, depth)
        elif ch == ")":
            depth -= 1
    if top > MAX_PATTERN_NESTING:
        raise UserError(f"{where}: pattern nested {top} groups deep (at most "
                        f"{MAX_PATTERN_NESTING})")
    for m in re.finditer(r"\{(\d+)(?:,(\d*))?\}", pat):
        if any(g and int(g) > MAX_PATTERN_REPEAT for g in m.groups()):
            raise UserError(f"{where}: repeat count {m.group(0)} above {MAX_PATTERN_REPEAT}")
    if _NESTED_QUANTIFIER.search(pat):
        raise UserError(f"{where}: pattern {pat!r} repeats a repeated group (like (a+)+), whose "
                        "matching time can explode; write it without the nested repeat")
    try:
        return re.compile(pat)
    except (re.error, RecursionError, OverflowError, ValueError) as e:
        raise UserError(f"{where}: bad regular expression {pat!r}: {e}") from None


def read_rates(path: str | os.PathLike) -> list[RateRule]:
    """Read a rates file: one ``pattern,rate`` row per line (the rate after the last comma, so a
    pattern may hold commas; a pattern may be quoted), ``#`` comments and blank lines skipped,
    an optional header ``pattern,rate``. Patterns are Python regular expressions matched in full
    against site keys or layer names; the first matching row wins. A bad regular expression, a
    rate that is not a number in [0, 1] or a row without a comma raises :class:`UserError`
    naming the file and the row."""
    lines = read_user_text(path, "rates file").splitlines()
    rules: list[RateRule] = []
    for i, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        pat, comma, val = s.rpartition(",")
        pat, val = pat.strip(), val.strip()
        if not comma or not pat:
            raise UserError(f"rates file {str(path)!r}, row {i}: expected 'pattern,rate', got {s!r}")
        if len(pat) >= 2 and pat[0] == pat[-1] and pat[0] in "\"'":
            pat = pat[1:-1]
        if not rules and pat.lower() == "pattern" and val.lower() == "rate":
            continue  # header
        try:
            rate = float(val)
        except ValueError:
            raise UserError(f"rates file {str(path)!r}, row {i}: rate {val!r} is not a number") from None
        if not (0.0 <= rate <= 1.0) or math.isnan(rate):
            raise UserError(f"rates file {str(path)!r}, row {i}: rate {val} outside [0, 1]")
        rx = compile_pattern(pat, f"rates file {str(path)!r}, row {i}")
        rules.append(RateRule(rx, rate, i, str(path)))
    if not rules:
        raise UserError(f"rates file {str(path)!r} holds no 'pattern,rate' rows")
    return rules


@dataclass
class RatedProfile:
    """A profile re-counted at given rates. ``profile``: spike-driven sites carry the given
    input rate (``in_nnz``, ``acs``, ``acs_rate`` = rate x their dense counts); ``rates``: one
    row per spike-driven site (``site, layer, dense_ops, measured_rate, rate, row``; ``row``
    0 and the measured rate where no pattern matched); ``unmatched``: those sites;
    ``unused``: rules that priced no site (``shadowed``: those because earlier rows matched
    first); ``encoder``: the encoder convention."""

    profile: Profile
    rates: pd.DataFrame
    unmatched: list[str] = field(default_factory=list)
    unused: list[RateRule] = field(default_factory=list)
    encoder: str = "all"
    timesteps: int = 1
    shadowed: list[RateRule] = field(default_factory=list)

    def warnings(self) -> list[str]:
        out = []
        if self.unmatched:
            shown = ", ".join(self.unmatched[:5]) + (", ..." if len(self.unmatched) > 5 else "")
            out.append(f"{len(self.unmatched)} spike-driven site(s) match no rate pattern and keep "
                       f"their measured rate: {shown}")
        for r in self.unused:
            why = ("only sites an earlier row already matched (first match wins)"
                   if any(r is x for x in self.shadowed) else "no spike-driven site")
            out.append(f"rate pattern {r.pattern.pattern!r} (row {r.row}) matches {why}")
        return out


def _timesteps(profile: Profile, timesteps: int | None) -> int:
    if timesteps is not None:
        if int(timesteps) < 1:
            raise UserError(f"timesteps must be >= 1 (got {timesteps})")
        return int(timesteps)
    lay = profile.layers
    t = lay.loc[lay["kind"] == "neuron", "timesteps"]
    return int(t.max()) if len(t) and t.max() > 0 else 1


def _spike_driven(lay: pd.DataFrame) -> pd.Series:
    return lay["kind"].isin(("synaptic", "attention")) & lay["in_kind"].isin(_SPIKE_KINDS)


def encoder_site(profile: Profile) -> str | None:
    """The encoder: the first synaptic site (in execution order) doing analog MACs, the
    pixel-encoding layer of an SNN; ``None`` when there is none. Later analog-input sites (a
    head on time-averaged membranes) are charged as measured in both encoder conventions."""
    lay = profile.layers
    enc = lay[lay["kind"].isin(("synaptic", "attention")) & ~_spike_driven(lay) & (lay["macs"] > 0)]
    return str(enc["site"].iloc[0]) if len(enc) else None


def apply_rates(profile: Profile, rules: Sequence[RateRule], *, encoder: str = "all",
                timesteps: int | None = None) -> RatedProfile:
    """The profile with every spike-driven synaptic / attention site at the rate of the first
    rule that matches it (unmatched sites keep their measured rate): its input non-zeros, ACs
    and rate-estimated SOPs, and the ``full`` convention's event counts (weight, membrane and
    spike reads and writes, in proportion to the input events). ``encoder="once"`` also
    divides the MACs of the encoder (:func:`encoder_site`) by T (``timesteps``, default the
    profile's): it ran on all T copies of the input, the convention charges it once."""
    if encoder not in ENCODER:
        raise UserError(f"unknown encoder convention {encoder!r}; use one of {', '.join(ENCODER)}")
    T = _timesteps(profile, timesteps)
    lay = profile.layers
    d = profile.to_dict()
    raw = pd.DataFrame(d["layers"])
    assert list(raw["site"]) == list(lay["site"])
    spike = _spike_driven(lay).to_numpy()
    dense = dense_ops(lay).to_numpy()
    rows, unmatched = [], []
    used: set[int] = set()
    for i in np.flatnonzero(spike):
        site, layer = str(lay.at[i, "site"]), str(lay.at[i, "layer"])
        dense_i = float(dense[i])
        measured = float(lay.at[i, "acs_rate"] / dense_i) if dense_i > 0 else math.nan
        k = next((j for j, r in enumerate(rules) if r.matches(site, layer)), None)
        if k is None:
            unmatched.append(site)
            rate, row = measured, 0
        else:
            used.add(k)
            rate, row = rules[k].rate, rules[k].row
            # the event counts of the full convention follow the input events: weight reads and
            # membrane reads / writes one per synaptic event (rate x dense ops), spike reads one
            # per input spike (rate x input elements), as the profiler books them (Lemaire)
            # (scaled from the measured counts; a site that saw no input has none to scale, and
            # gets one event per dense op / input element at the new rate)
            elems = float(raw.at[i, "in_elems"])
            in_rate = float(raw.at[i, "in_nnz"]) / elems if elems > 0 else 0.0
            for col, base, meas in (("weight_reads", dense_i, measured),
                                    ("state_reads", dense_i, measured),
                                    ("state_writes", dense_i, measured),
                                    ("spike_reads", elems, in_rate)):
                if col in raw:
                    raw.at[i, col] = (float(raw.at[i, col]) * rate / meas if meas > 0
                                      else rate * base)
            raw.at[i, "in_nnz"] = rate * raw.at[i, "in_elems"]
            raw.at[i, "acs"] = rate * dense[i]
            raw.at[i, "acs_rate"] = rate * dense[i]
        rows.append({"site": site, "layer": layer, "dense_ops": float(dense[i]),
                     "measured_rate": measured, "rate": rate, "row": row})
    enc = encoder_site(profile)
    if encoder == "once" and enc is not None:
        i = int(np.flatnonzero(lay["site"].to_numpy() == enc)[0])
        raw.at[i, "macs"] = raw.at[i, "macs"] / T
    d["layers"] = raw.to_dict(orient="list")
    rated = Profile.from_dict(d)
    table = pd.DataFrame(rows, columns=["site", "layer", "dense_ops", "measured_rate", "rate", "row"])
    unused = [r for j, r in enumerate(rules) if j not in used]
    sites = [(str(lay.at[i, "site"]), str(lay.at[i, "layer"])) for i in np.flatnonzero(spike)]
    shadowed = [r for r in unused if any(r.matches(a, b) for a, b in sites)]
    return RatedProfile(rated, table, unmatched, unused, encoder, T, shadowed)


def price_at_rates(profile: Profile, rules: Sequence[RateRule],
                   hardware: "str | HardwareProfile | Sequence[str | HardwareProfile]",
                   *, encoder: str = "all", precision: str = "fp32",
                   timesteps: int | None = None) -> tuple[EnergyReport, RatedProfile]:
    """Energy per sample at the given rates, literature convention (``paper`` mode, rate x dense
    SOPs); returns the report and the :class:`RatedProfile` it priced."""
    rp = apply_rates(profile, rules, encoder=encoder, timesteps=timesteps)
    try:
        rep = estimate(rp.profile, hardware, mode="paper", sops="rate", precision=precision)
    except ValueError as e:  # HardwareError is a ValueError too
        raise UserError(" ".join(str(e).split())) from None
    return rep, rp


def parse_energy(text: str | float) -> float:
    """``"4.50mJ"``, ``"4.5 mJ"``, ``"4500uJ"``, ``"0.0045J"`` or a bare number (mJ) -> mJ."""
    if isinstance(text, (int, float)):
        v = float(text)
    else:
        m = re.fullmatch(r"\s*([0-9.eE+-]+)\s*([a-zA-Zµμ]*)\s*", str(text))
        unit = (m.group(2).lower() if m else "") or "mj"
        if not m or unit not in _UNITS_MJ:
            raise UserError(f"bad energy {text!r}: expected a number with a unit, e.g. 4.50mJ "
                            "(J, mJ, uJ, nJ, pJ)")
        try:
            v = float(m.group(1)) * _UNITS_MJ[unit]
        except ValueError:
            raise UserError(f"bad energy {text!r}: {m.group(1)!r} is not a number") from None
    if not v > 0 or math.isinf(v):
        raise UserError(f"bad energy {text!r}: must be a positive number")
    return v


def _totals_mj(rep: EnergyReport) -> dict[str, float]:
    return dict(zip(rep.totals["hardware"], rep.totals["total_mj"]))


def implied_rate(profile: Profile, published_mj: float,
                 hardware: "str | HardwareProfile" = "cmos45nm", *, encoder: str = "all",
                 precision: str = "fp32", timesteps: int | None = None) -> float:
    """The uniform input firing rate r at which the literature convention gives
    ``published_mj`` (mJ per sample) on ``hardware``: the exact inverse of
    :func:`price_at_rates` with :func:`uniform_rate` (E is affine in r). May fall outside
    [0, 1] when no rate reproduces the figure (returned as is: the caller says so)."""
    e0 = _totals_mj(price_at_rates(profile, uniform_rate(0.0), [hardware], encoder=encoder,
                                   precision=precision, timesteps=timesteps)[0])
    e1 = _totals_mj(price_at_rates(profile, uniform_rate(1.0), [hardware], encoder=encoder,
                                   precision=precision, timesteps=timesteps)[0])
    (a,), (b,) = e0.values(), e1.values()
    if not b > a:
        raise UserError("the profile has no spike-driven synaptic ops: no firing rate changes "
                        "its energy in the literature convention")
    return (float(published_mj) - a) / (b - a)


def dense_ops(lay: pd.DataFrame) -> pd.Series:
    """Dense ops of each site in the literature convention: ``dense_macs`` of a synaptic or
    product site; for a sum of spikes (SDSA/SASA's token sums, which have no weights and no
    ``dense_macs``) the elements it adds, so the rate convention charges it rate x elements
    as its ``acs_rate`` does."""
    is_sum = (lay["op"].astype(str) == "sum") & (lay["dense_macs"] <= 0)
    return pd.Series(np.where(is_sum, lay["in_elems"], lay["dense_macs"]), index=lay.index)


def measured_rate(profile: Profile) -> float:
    """The uniform rate equivalent to what was measured: sum over spike-driven sites of
    rate-estimated SOPs (input rate x dense ops) / sum of their dense ops."""
    lay = profile.layers
    s = lay[_spike_driven(lay)]
    dense = float(dense_ops(s).sum())
    return float(s["acs_rate"].sum()) / dense if dense > 0 else math.nan


def audit(profile: Profile, published_mj: float,
          hardware: "Sequence[str | HardwareProfile]" = ("cmos45nm",), *,
          precision: str = "fp32", timesteps: int | None = None) -> pd.DataFrame:
    """What a published energy implies, per hardware profile: one row each with the encoder's
    MACs (:func:`encoder_site`; other analog-input MACs apart, charged as measured) and the
    spike-driven dense ops (per sample, all timesteps, and per step), the implied
    uniform rate with the encoder on all T steps (``implied_rate``) and charged once
    (``implied_rate_encoder_once``), the measured equivalent rate, and the measured energy
    (literature convention at the measured rates, and with exact SOPs), all per sample.
    ``integer_input_share``: the fraction of those dense ops whose input is integer spikes
    (sums of spikes, e.g. Spikformer's residuals); the rate convention counts one op per
    non-zero input there, the exact count k ops for a value k, so the two energies part."""
    T = _timesteps(profile, timesteps)
    per = profile.per_sample()
    syn = per["kind"].isin(("synaptic", "attention"))
    spike = _spike_driven(per)
    enc = encoder_site(profile)
    enc_macs = float(per.loc[per["site"] == enc, "macs"].sum()) if enc else 0.0
    other_macs = float(per.loc[syn & ~spike, "macs"].sum()) - enc_macs
    dense = float(dense_ops(per.loc[spike]).sum())
    integer = float(dense_ops(per.loc[spike & (per["in_kind"] == "integer")]).sum())
    r_meas = measured_rate(profile)
    rows = []
    for hw in hardware:
        if load_hardware(hw).kind == "accelerator":   # a profile object is returned as is
            # a dense device prices every synapse slot, spike or not: no rate is implied
            r_all = r_once = math.nan
        else:
            r_all = implied_rate(profile, published_mj, hw, encoder="all", precision=precision,
                                 timesteps=T)
            r_once = implied_rate(profile, published_mj, hw, encoder="once",
                                  precision=precision, timesteps=T)
        rep_rate = estimate(profile, [hw], mode="paper", sops="rate", precision=precision)
        rep_exact = estimate(profile, [hw], mode="paper", sops="exact", precision=precision)
        rows.append({
            "hardware": str(rep_rate.totals["hardware"].iloc[0]),
            "published_mj": float(published_mj),
            "T": T,
            "encoder": enc or "",
            "encoder_macs": enc_macs,
            "encoder_macs_per_step": enc_macs / T,
            "other_analog_macs": other_macs,
            "dense_ops": dense,
            "dense_ops_per_step": dense / T,
            "implied_rate": r_all,
            "implied_rate_encoder_once": r_once,
            "measured_rate": r_meas,
            "measured_mj_rate": float(rep_rate.totals["total_mj"].iloc[0]),
            "measured_mj_exact": float(rep_exact.totals["total_mj"].iloc[0]),
            "measured_spike_rate": float(profile.totals()["spike_rate"]),
            "integer_input_share": integer / dense if dense > 0 else math.nan,
        })
    return pd.DataFrame(rows)


def published_table(measured: Mapping[str, tuple[Profile, int | None]],
                    published: Mapping[str, tuple[float, str]],
                    hardware: "str | HardwareProfile" = "cmos45nm",
                    precision: str = "fp32") -> pd.DataFrame:
    """The published reference table, one row per entry of ``published`` (name -> (mJ per
    image, source)): the figure and its source and, for models in ``measured`` (name ->
    (profile, T)), the uniform rate it implies on ``hardware`` (encoder on all T steps, and
    charged once), the rate we measured and our energy (with exact SOPs, and in the literature
    convention at the measured rates), mJ per sample; NaN for models not measured."""
    rows = []
    for name, (mj, source) in published.items():
        row: dict[str, Any] = {"model": name, "T": math.nan, "published_mj": float(mj),
                               "source": source}
        if name in measured:
            prof, T = measured[name]
            a = audit(prof, mj, [hardware], precision=precision, timesteps=T).iloc[0]
            row.update(T=int(a["T"]), implied_rate=a["implied_rate"],
                       implied_rate_encoder_once=a["implied_rate_encoder_once"],
                       measured_rate=a["measured_rate"], measured_mj=a["measured_mj_exact"],
                       measured_mj_rate=a["measured_mj_rate"])
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", "T", "published_mj", "source", "implied_rate",
                                       "implied_rate_encoder_once", "measured_rate", "measured_mj",
                                       "measured_mj_rate"])

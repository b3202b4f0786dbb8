"""Tables for people: the per-layer energy table of one model on several chips, and writing any
table as CSV, JSON, Markdown or LaTeX by file suffix (terminal text: :mod:`.terminal`).

Nothing here computes an energy: every number comes from a :class:`~energymodel.Profile` or an
:class:`~energymodel.EnergyReport`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from ..common import formatting as _tables
from ..common.errors import UserError
from ..counting import Profile
from ..pricing.energy import EnergyReport

__all__ = [
    "layer_energy_table",
    "totals_table",
    "HumanTable",
    "human_text",
    "table_text",
    "write_table",
    "write_energy_report",
    "format_of",
    "check_output_path",
]

_SUFFIX = {".csv": "csv", ".json": "json", ".md": "markdown", ".markdown": "markdown",
           ".tex": "latex", ".latex": "latex"}


def format_of(path: str | os.PathLike) -> str:
    """``csv`` | ``json`` | ``markdown`` | ``latex`` from the suffix of ``path``."""
    fmt = _SUFFIX.get(Path(path).suffix.lower())
    if fmt is None:
        raise UserError(f"cannot write {str(path)!r}: unknown file type "
                        f"{Path(path).suffix or '(none)'!r}; use one of {', '.join(sorted(_SUFFIX))}")
    return fmt


def check_output_path(path: str | os.PathLike | None) -> str | None:
    """The format for ``path`` (see :func:`format_of`), checked before any work is done: an
    unknown suffix or a missing folder raises :class:`UserError`."""
    if path is None:
        return None
    if Path(path).is_dir():
        raise UserError(f"cannot write {str(path)!r}: it is a directory; give a file name")
    fmt = format_of(path)
    folder = Path(path).parent
    if not folder.is_dir():
        raise UserError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    from ..common.files import check_writable  # noqa: PLC0415  (a directory, a read-only folder)

    check_writable(path)
    return fmt


def layer_energy_table(profile: Profile, report: EnergyReport, energy_unit: str = "pJ") -> pd.DataFrame:
    """One row per op site, per sample: ``site, layer, op, kind, in_kind, in_rate, out_rate,
    macs, acs, neuron_updates`` (``acs``: the SOPs the report priced, i.e. the rate or Lemaire
    estimate when ``report.sops`` is not ``exact``) and one ``energy_<unit>[<hardware>]`` column per hardware
    profile (``energy_unit``: ``pJ``, ``nJ`` or ``uJ``)."""
    scale = {"pJ": 1.0, "nJ": 1e3, "uJ": 1e6}[energy_unit]
    df = profile.per_sample()
    out = df[["site", "layer", "op", "kind", "in_kind", "in_rate", "out_rate", "macs", "acs",
              "neuron_updates"]].copy()
    lay = report.layers
    if report.sops != "exact" and len(lay):  # the SOPs priced (rate / lemaire), not exact ACs
        first = lay[lay["hardware"] == lay["hardware"].iloc[0]].set_index("site")["sops"]
        out["acs"] = out["site"].map(first).fillna(out["acs"]).to_numpy()
    for hw in report.totals["hardware"]:
        e = lay.loc[lay["hardware"] == hw].set_index("site")["total_pj"]
        out[f"energy_{energy_unit}[{hw}]"] = out["site"].map(e).fillna(0.0).to_numpy() / scale
    return out.reset_index(drop=True)


def totals_table(report: EnergyReport) -> pd.DataFrame:
    """Totals per hardware, per sample: components and total in mJ, MACs and SOPs."""
    s = report.summary()
    t = report.totals.set_index("hardware")
    s["macs"] = s["hardware"].map(t["macs"]).to_numpy()
    s["sops"] = s["hardware"].map(t["sops"]).to_numpy()
    s["mac_priced_on"] = s["hardware"].map(t["mac_priced_on"]).to_numpy()
    return s


@dataclass
class HumanTable:
    """One table for people inside a Markdown / LaTeX file: ``df`` has human headers and
    numbers already in the unit its headers name; ``title`` heads it (Markdown) or ends its
    caption (LaTeX); the first ``key_columns`` columns are repeated when LaTeX splits it."""

    df: pd.DataFrame
    title: str | None = None
    key_columns: int = 1


def human_text(parts: Sequence[HumanTable | pd.DataFrame], fmt: str, caption: str | None = None,
               label: str | None = None, digits: int = _tables.SIG) -> str:
    """Several human tables as one Markdown (caption, then each table under its title) or
    LaTeX text (one booktabs table each, at most eight columns; the first carries ``caption``
    and ``label``, the next ones ``label-2``...)."""
    parts = [p if isinstance(p, HumanTable) else HumanTable(p) for p in parts]
    if fmt == "markdown":
        out = [f"{caption}\n"] if caption else []
        for p in parts:
            if p.title and len(parts) > 1:
                out.append(f"**{p.title}**\n")
            out.append(_tables.to_markdown(p.df, digits=digits))
        return "\n".join(out)
    if fmt == "latex":
        out = []
        first = (caption or "").split(". ")[0].rstrip(".")
        for i, p in enumerate(parts):
            if i == 0:
                cap = caption
                if p.title and len(parts) > 1:
                    cap = f"{p.title}. {caption}" if caption else p.title
            else:
                cap = f"{first}: {p.title}." if p.title else f"{first} (continued)."
            lab = None if label is None else (label if i == 0 else f"{label}-{i + 1}")
            out.append(_tables.to_latex(p.df, caption=cap, label=lab, digits=digits,
                                        key_columns=p.key_columns))
        return "\n".join(out)
    raise UserError(f"unknown table format {fmt!r}")


def table_text(df: pd.DataFrame, fmt: str, caption: str | None = None,
               label: str | None = None, meta: dict[str, Any] | None = None,
               digits: int = _tables.SIG,
               human: Sequence[HumanTable | pd.DataFrame] | None = None) -> str:
    """``df`` as text in ``fmt``: CSV (data only, full precision: site keys hold ``#``, so no
    comment lines), JSON (``{"caption", "meta", "rows"}``), Markdown (caption above) or
    booktabs LaTeX (at most eight columns a table). ``human``: the tables people read in the
    Markdown and LaTeX files instead of ``df`` (human headers, one unit a table)."""
    if fmt == "csv":
        return _tables.to_csv_text(df)
    if fmt == "json":
        return _tables.to_json_text({"caption": caption, "meta": meta or {}, "rows": df})
    if fmt in ("markdown", "latex"):
        return human_text(list(human) if human is not None else [df], fmt, caption=caption,
                          label=label, digits=digits)
    raise UserError(f"unknown table format {fmt!r}")


def write_table(df: pd.DataFrame, path: str | os.PathLike, caption: str | None = None,
                label: str | None = None, meta: dict[str, Any] | None = None,
                digits: int = _tables.SIG,
                human: Sequence[HumanTable | pd.DataFrame] | None = None) -> Path:
    """Write ``df`` in the format the suffix of ``path`` names (``.csv .json .md .tex``),
    atomically: the whole file or none. ``human``: see :func:`table_text`."""
    text = table_text(df, format_of(path), caption=caption, label=label, meta=meta, digits=digits,
                      human=human)
    _tables.write(path, text)
    return Path(path)


def write_energy_report(report: EnergyReport, path: str | os.PathLike,
                        caption: str | None = None, meta: dict[str, Any] | None = None) -> Path:
    """Write an :class:`EnergyReport` by suffix with its own writers: ``.csv`` the per-layer
    table (every hardware, pJ per sample), ``.json`` convention + totals + layers, ``.md``
    totals and the per-layer table, ``.tex`` the paper table (hardware rows); Markdown and
    LaTeX in one readable unit per table, named in the headers. ``meta`` (e.g. ``inputs``,
    ``samples``, ``batches``): top-level JSON entries, and lines above the Markdown tables
    (scalars) and tables after them (DataFrames, for people: one unit, human headers)."""
    fmt = format_of(path)
    meta = meta or {}
    if fmt == "csv":
        report.to_csv(path)
    elif fmt == "json":
        _tables.write(path, _tables.to_json_text({**meta, **report.to_dict()}))
    elif fmt == "markdown":
        head = "".join(f"- {k}: {v}\n" for k, v in meta.items() if not isinstance(v, (dict, pd.DataFrame)))
        tail = ""
        for k, v in meta.items():
            if isinstance(v, dict):
                v = v.get("totals")
                if isinstance(v, pd.DataFrame) and "measured_mj" in v.columns:  # --rates
                    tail += f"\n{k} ({meta[k].get('file', '')}):\n\n" + _tables.to_markdown(
                        at_rates_view(v))
                    continue
            if isinstance(v, pd.DataFrame):
                hv, hu = _tables.human_frame(v)
                tail += f"\n{k}:\n\n" + _tables.to_markdown(hv)
        _tables.write(path, (head + "\n" if head else "") + report.to_markdown(layers=True) + tail)
    else:
        report.to_latex(path, caption=caption)
    return Path(path)


def layer_unit(report: EnergyReport) -> str:
    """``pJ`` when every per-layer energy is below 10^5 pJ, else ``uJ`` (readable columns)."""
    m = float(report.layers["total_pj"].abs().max()) if len(report.layers) else 0.0
    return "pJ" if m < 1e5 else "uJ"


def terminal_rows(layer_table: pd.DataFrame) -> pd.DataFrame:
    """The rows worth printing: sites that cost energy on some chip, do synaptic work, or are
    neurons (their firing rates)."""
    e = [c for c in layer_table.columns if c.startswith("energy_")]
    keep = (layer_table[e].abs().sum(axis=1) > 0) | (layer_table["kind"] == "neuron") | (
        layer_table["macs"] + layer_table["acs"] > 0)
    return layer_table[keep].reset_index(drop=True)


def transpose(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """Rows become columns named by ``df[key]`` (a wide comparison read top to bottom)."""
    t = df.set_index(key).T
    t.insert(0, "quantity", t.index.astype(str))
    t = t.reset_index(drop=True)
    t.columns.name = None
    for c in t.columns[1:]:
        t[c] = pd.to_numeric(t[c], errors="coerce")
    return t


def hardware_cost_table(report: EnergyReport) -> pd.DataFrame:
    """``report.hardware_cost`` for people, per sample (:meth:`EnergyReport.human_hardware_cost`:
    cores, chips, fits, latency and energies each in one readable unit named in the headers,
    EDP; notes left out: print them apart)."""
    return report.human_hardware_cost()[0]


def at_rates_view(totals: pd.DataFrame, scale_counts: bool = True) -> pd.DataFrame:
    """The at-rates totals of ``profile --rates`` for people: per chip the energy at the rates
    of the file and the measured one in one readable unit, MACs and SOPs per sample (in the
    scale their header names, e.g. ``MACs (k)``, unless ``scale_counts`` is false).
    ``totals``: :func:`totals_table` with a ``measured_mj`` column."""
    t = pd.DataFrame({"hardware": totals["hardware"], "at_rates_mj": totals["total_mj"],
                      "measured_mj": totals["measured_mj"]})
    t = _tables.human_frame(t, {"hardware": "Chip", "at_rates_pj": "At the rates",
                                "measured_pj": "Measured"})[0]
    for name, col in (("MACs", "macs"), ("SOPs", "sops")):
        v = totals[col].astype(float).to_numpy()
        s, f = _tables.pick_count_scale(v) if scale_counts else ("", 1.0)
        t[f"{name} ({s})" if s else name] = v / f
    return t


def audit_view(df: pd.DataFrame) -> pd.DataFrame:
    """The ``audit`` table for people: per chip the uniform rate the published energy implies
    (encoder on all T steps / charged once), the measured rate, and our energy at the measured
    rates and with exact SOPs in one readable unit."""
    t = df[["hardware", "implied_rate", "implied_rate_encoder_once", "measured_rate",
            "measured_mj_rate", "measured_mj_exact"]].rename(
        columns={"measured_mj_rate": "at_rate_mj", "measured_mj_exact": "exact_mj"})
    return _tables.human_frame(t, {"hardware": "Chip", "implied_rate": "Implied rate",
                                   "implied_rate_encoder_once": "Implied, encoder once",
                                   "measured_rate": "Measured rate",
                                   "at_rate_pj": "At measured rate",
                                   "exact_pj": "Exact SOPs"})[0]


def published_view(df: pd.DataFrame) -> list[HumanTable]:
    """The published-rates table for people (the sources go to the caption), as two tables
    keyed by model: the rates (T, the uniform rates the published energy implies, the one
    measured) and the energies per image (published, ours with exact SOPs, ours at the
    measured rates) in one readable unit."""
    t = df[["model", "T", "published_mj", "implied_rate", "implied_rate_encoder_once",
            "measured_rate", "measured_mj", "measured_mj_rate"]].rename(
        columns={"measured_mj_rate": "at_rate_mj"})
    t["T"] = _tables.whole(t["T"]).array  # whole steps; "-" where the model was not run
    h, _ = _tables.human_frame(t, {"model": "Model", "published_pj": "Published",
                                   "implied_rate": "Implied rate",
                                   "implied_rate_encoder_once": "Implied, encoder once",
                                   "measured_rate": "Measured rate", "measured_pj": "Measured",
                                   "at_rate_pj": "At measured rate"})
    energy = [c for c in h.columns if c.endswith("J)")]
    rates = [c for c in h.columns if c not in energy]
    return [HumanTable(h[rates], "Firing rates"), HumanTable(h[["Model", *energy]],
                                                             "Energy per image")]


#: names moved to :mod:`energymodel.report.terminal` in 0.3 (terminal text is drawn there; the
#: two modules imported each other). Kept here, with a DeprecationWarning, until 0.4.
_MOVED_TO_TERMINAL = ("format_si", "format_terminal")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_TERMINAL:
        from ..common.deprecation import moved  # noqa: PLC0415

        return moved(f"{__name__}.{name}", "energymodel.report.terminal", name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

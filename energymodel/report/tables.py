"""Tables for people: the per-layer energy table of one model on several chips, a fixed-width
terminal rendering, and writing any table as CSV, JSON, Markdown or LaTeX by file suffix.

Nothing here computes an energy: every number comes from a :class:`~energymodel.Profile` or an
:class:`~energymodel.EnergyReport`.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from .. import _tables
from ..counting import Profile
from ..energy import EnergyReport
from ..errors import UserError

__all__ = [
    "layer_energy_table",
    "totals_table",
    "format_si",
    "format_terminal",
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
    from .._io import check_writable  # noqa: PLC0415  (a directory, a read-only folder)

    check_writable(path)
    return fmt


def layer_energy_table(profile: Profile, report: EnergyReport, energy_unit: str = "pJ") -> pd.DataFrame:
    """One row per op site, per sample: ``site, layer, op, kind, in_kind, in_rate, out_rate,
    macs, acs, neuron_updates`` and one ``energy_<unit>[<hardware>]`` column per hardware
    profile (``energy_unit``: ``pJ``, ``nJ`` or ``uJ``)."""
    scale = {"pJ": 1.0, "nJ": 1e3, "uJ": 1e6}[energy_unit]
    df = profile.per_sample()
    out = df[["site", "layer", "op", "kind", "in_kind", "in_rate", "out_rate", "macs", "acs",
              "neuron_updates"]].copy()
    lay = report.layers
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


def format_si(x: Any, digits: int = 3) -> str:
    """``1234567`` -> ``1.23M`` (k, M, G, T); small numbers as they are; NaN as ``-``."""
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "-"
    if v == 0:
        return "0"
    a = abs(v)
    for div, suf in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{v / div:.{digits}g}{suf}"
    if a < 1e-3:
        return f"{v:.2e}"
    return f"{v:.{digits}g}"


def _cell(col: str, v: Any) -> str:
    if isinstance(v, str):
        return v
    if col.endswith("rate"):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{float(v):.3f}"
    return format_si(v)


def format_terminal(df: pd.DataFrame, max_col: int = 44, width: int | None = None) -> str:
    """A fixed-width text table: numbers right-aligned with SI suffixes, rates to three
    decimals, long text cut from the left (``...ck.0.attn``) to ``max_col`` characters. Columns
    that do not fit ``width`` (default: the terminal's) are dropped from the right, and said so."""
    width = width or shutil.get_terminal_size((160, 24)).columns
    cols = [str(c) for c in df.columns]
    cells = []
    for row in df.itertuples(index=False, name=None):
        r = []
        for c, v in zip(cols, row):
            s = _cell(c, v)
            if len(s) > max_col:
                s = "..." + s[-(max_col - 3):]
            r.append(s)
        cells.append(r)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    keep, used = [], 0
    for i, w in enumerate(widths):
        if used + w + 2 > width and keep:
            break
        keep.append(i)
        used += w + 2

    def line(vals: Sequence[str]) -> str:
        return "  ".join(vals[i].rjust(widths[i]) if numeric[i] else vals[i].ljust(widths[i])
                         for i in keep).rstrip()

    out = [line(cols), "  ".join("-" * widths[i] for i in keep)]
    out += [line(r) for r in cells]
    if len(keep) < len(cols):
        out.append(f"({len(cols) - len(keep)} column(s) not shown for width: "
                   f"{', '.join(cols[i] for i in range(len(cols)) if i not in keep)})")
    return "\n".join(out) + "\n"


def table_text(df: pd.DataFrame, fmt: str, caption: str | None = None,
               label: str | None = None, meta: dict[str, Any] | None = None,
               digits: int = 4) -> str:
    """``df`` as text in ``fmt``: CSV (data only: site keys hold ``#``, so no comment lines), JSON
    (``{"caption", "meta", "rows"}``), Markdown (caption above) or a booktabs LaTeX table."""
    if fmt == "csv":
        return _tables.to_csv_text(df)
    if fmt == "json":
        return _tables.to_json_text({"caption": caption, "meta": meta or {}, "rows": df})
    if fmt == "markdown":
        return (f"{caption}\n\n" if caption else "") + _tables.to_markdown(df, digits=digits)
    if fmt == "latex":
        return _tables.to_latex(df, caption=caption, label=label, digits=digits)
    raise UserError(f"unknown table format {fmt!r}")


def write_table(df: pd.DataFrame, path: str | os.PathLike, caption: str | None = None,
                label: str | None = None, meta: dict[str, Any] | None = None,
                digits: int = 4) -> Path:
    """Write ``df`` in the format the suffix of ``path`` names (``.csv .json .md .tex``),
    atomically: the whole file or none."""
    text = table_text(df, format_of(path), caption=caption, label=label, meta=meta, digits=digits)
    _tables.write(path, text)
    return Path(path)


def write_energy_report(report: EnergyReport, path: str | os.PathLike,
                        caption: str | None = None, meta: dict[str, Any] | None = None) -> Path:
    """Write an :class:`EnergyReport` by suffix with its own writers: ``.csv`` the per-layer
    table (every hardware, pJ per sample), ``.json`` convention + totals + layers, ``.md``
    totals (mJ) and the per-layer table, ``.tex`` the paper table (hardware rows, mJ).
    ``meta`` (e.g. ``inputs``, ``samples``, ``batches``): top-level JSON entries, and lines
    above the Markdown tables (scalars) and tables after them (DataFrames)."""
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
            if isinstance(v, pd.DataFrame):
                tail += f"\n{k}:\n\n" + _tables.to_markdown(v)
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
    """``report.hardware_cost`` for display, per sample: cores, chips, fits, latency in ms,
    static / dynamic / total energy in mJ, EDP in mJ ms (notes left out: print them apart)."""
    c = report.hardware_cost
    return pd.DataFrame({
        "hardware": c["hardware"],
        "cores": c["cores"],
        "chips": c["chips"],
        "fits": c["fits"].map(lambda v: "-" if v is None or v != v else ("yes" if v else "NO")),
        "latency_ms": c["latency_s"] * 1e3,
        "static_mj": c["static_pj"] / 1e9,
        "dynamic_mj": c["dynamic_pj"] / 1e9,
        "total_mj": c["total_pj"] / 1e9,
        "edp_mj_ms": c["edp"] / 1e9 * 1e3,
    })

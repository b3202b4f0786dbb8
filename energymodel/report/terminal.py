"""Tables on the terminal, drawn with rich: readable at 80 columns, energy never dropped.

:func:`render` draws any table for people (human headers, numbers at three significant
figures, counts with k / M / G suffixes, rates to three decimals). When the table is wider than
the terminal, it first shortens the name column in the middle, keeping every name unique
(``block.0…q_linear:linear#0``), then
drops the columns listed in ``drop`` in that order, and says which; columns in ``keep`` (the
energies) are never dropped. Other commands' tables (hardware cost, diagnostics, metrics) plug
in by building a DataFrame and calling :func:`render`.

:func:`layer_view` and :func:`totals_view` turn a profile and its energy report into the
per-layer and totals tables of ``energymodel profile``; ``depth`` groups the sites by module
depth (like torchinfo's ``depth``), ``top`` keeps the K most expensive.
"""

from __future__ import annotations

import io
import math
from typing import Any, Callable, Sequence

import pandas as pd

from ..common import formatting as _tables
from ..common.text import terminal_width, wrap

__all__ = ["render", "format_count", "format_rate", "format_si", "format_terminal", "layer_view",
           "totals_view", "hardware_cost_view", "neurobench_view", "terminal_width"]


def format_count(x: Any) -> str:
    """``1234567`` -> ``1.23M`` (three significant figures, k / M / G / T); ``-`` for NaN."""
    if x is None or isinstance(x, str):
        return "-" if x is None else x
    v = float(x)
    if math.isnan(v):
        return "-"
    s, f = _tables.pick_count_scale([v])
    return _tables.format_sig(v / f) + s if f > 1 else _tables.format_sig(
        int(v) if v == int(v) else v)


def format_rate(x: Any) -> str:
    """A firing rate to three decimals; ``-`` when not defined."""
    if x is None:
        return "-"
    v = float(x)
    return "-" if math.isnan(v) else f"{v:.3f}"


def _middle_cut(s: str, n: int) -> str:
    """``s`` in at most ``n`` characters, cut in the middle: the start (where in the model) and
    the end (which op) stay; ``block.0.attn.proj_conv1:conv2d#0`` -> ``block.0…conv1:conv2d#0``."""
    if len(s) <= n:
        return s
    if n < 4:
        return s[:n]
    tail = (n - 1) * 3 // 5
    return s[: n - 1 - tail] + "…" + s[-tail:]


def shorten_names(names: Sequence[str], n: int) -> list[str]:
    """Every name in at most ``n`` characters, cut in the middle, and still unique: where two
    cut names would read alike, the cut moves until they differ (or the names stay whole)."""
    out = [_middle_cut(s, n) for s in names]
    seen: dict[str, list[int]] = {}
    for i, s in enumerate(out):
        seen.setdefault(s, []).append(i)
    for idx in (v for v in seen.values() if len(v) > 1):
        for tail_share in (4, 5, 2, 1):   # keep more of the end, then more of the start
            cut = []
            for i in idx:
                s = names[i]
                tail = max(1, (n - 1) * tail_share // 6)
                cut.append(s if len(s) <= n else s[: max(0, n - 1 - tail)] + "…" + s[-tail:])
            if len(set(cut)) == len(cut):
                break
        else:
            cut = [names[i] for i in idx]   # cannot tell them apart in n: keep them whole
        for i, c in zip(idx, cut):
            out[i] = c
    return out


def render(
    df: pd.DataFrame,
    *,
    title: str | None = None,
    note: str | None = None,
    width: int | None = None,
    keep: Sequence[str] = (),
    drop: Sequence[str] = (),
    name_column: str | None = None,
    formats: dict[str, Callable[[Any], str]] | None = None,
    min_name: int = 14,
) -> str:
    """``df`` as plain text drawn by rich, fitting ``width`` columns (default: the terminal).

    ``formats``: column -> formatter (default :func:`energymodel.common.formatting.format_sig`, so three
    significant figures). ``keep``: columns never dropped. ``drop``: columns dropped, in this
    order, while the table is too wide after ``name_column`` (default: the first text column)
    has been shortened to ``min_name`` characters. Returns the text (ends with a newline)."""
    from rich import box  # noqa: PLC0415
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    width = terminal_width(width)
    formats = formats or {}
    cols = [str(c) for c in df.columns]
    data = df.copy()
    data.columns = cols
    cells = {c: [formats.get(c, _tables.format_sig)(v) for v in data[c].tolist()] for c in cols}
    numeric = {c: pd.api.types.is_numeric_dtype(data[c]) for c in cols}
    if name_column is None:
        name_column = next((c for c in cols if not numeric[c]), None)

    def head_w(c: str) -> int:
        return max(len(p) for p in c.split("\n"))

    def col_w(c: str) -> int:
        return max([head_w(c)] + [len(v) for v in cells[c]])

    def total(cs: list[str], name_w: int | None = None) -> int:
        ws = [min(col_w(c), name_w) if (c == name_column and name_w) else col_w(c) for c in cs]
        return sum(ws) + 3 * max(0, len(cs) - 1)  # " " pad, separator, " " pad between columns

    shown = list(cols)
    dropped: list[str] = []
    for c in drop:
        if total(shown, min_name) <= width:
            break
        if c in shown and c not in keep and c != name_column:
            shown.remove(c)
            dropped.append(c)
    if name_column in shown:
        room = width - total([c for c in shown if c != name_column]) - 3
        n = max(min(min_name, col_w(name_column)), min(col_w(name_column), room))
        cells[name_column] = shorten_names(cells[name_column], n)

    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left", show_edge=False,
                  pad_edge=False, padding=(0, 1), caption=None)
    for c in shown:
        table.add_column(c, justify="right" if numeric[c] else "left", no_wrap=True,
                         overflow="ellipsis" if c != name_column else "fold",
                         min_width=min(col_w(c), head_w(c)) if c in keep else None)
    for i in range(len(data)):
        table.add_row(*(cells[c][i] for c in shown))
    buf = io.StringIO()
    console = Console(file=buf, width=max(width, 40), color_system=None, force_terminal=False,
                      highlight=False, soft_wrap=False, emoji=False)
    console.print(table)
    text = "\n".join(ln.rstrip() for ln in buf.getvalue().splitlines())
    notes = []
    if dropped:
        notes.append(f"(not shown for width {width}: {', '.join(c.replace(chr(10), ' ') for c in dropped)}"
                     "; widen the terminal or set COLUMNS)")
    if note:
        notes.append(note)
    notes = [wrap(n, width, " ") for n in notes]
    return text.rstrip("\n") + "\n" + "".join(n + "\n" for n in notes)


# ------------------------------------------------------------------ energymodel profile views
def _energy_cols(layer_table: pd.DataFrame) -> list[str]:
    return [c for c in layer_table.columns if c.startswith("energy_")]


def _group_key(layer: str, depth: int) -> str:
    parts = [p for p in str(layer).split(".") if p]
    if not parts:
        return "(root)"
    return ".".join(parts[:depth]) if depth > 0 else "(model)"


def layer_view(
    profile: Any,
    report: Any,
    *,
    depth: int | None = None,
    top: int | None = None,
    labels: dict[str, str] | None = None,
    sort_by: str | None = None,
) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """The per-layer table of ``energymodel profile`` for people, per sample.

    Rows: op sites that cost energy, do synaptic work or are neurons; with ``depth`` one row per
    module prefix of that many dotted parts (``depth=1``: ``patch_embed``, ``block``, ``head``;
    counts and energies summed, ``spike rate`` = spikes / neuron updates of the group); with
    ``top`` only the K rows that cost most on chip ``sort_by`` (default: the first chip), most
    expensive first.
    Energy columns ``<chip> (<unit>)``: one unit for all of them, picked for the table.

    Returns ``(table, unit, render_kwargs)`` for :func:`render`."""
    from .tables import layer_energy_table, terminal_rows  # noqa: PLC0415

    lt = layer_energy_table(profile, report, energy_unit="pJ")
    # the synaptic ops that were priced: exact ACs, or the SOP estimate the report used
    ac = "ACs" if report.sops == "exact" else f"SOPs\n({report.sops})"
    lt["spikes_out"] = profile.per_sample()["spikes_out"].to_numpy()
    ecols = _energy_cols(lt)
    hws = [c.split("[", 1)[1].rstrip("]") for c in ecols]
    unit, per = _tables.pick_energy_unit(lt[ecols].to_numpy())
    labels = labels or {}  # short chip names suit the terminal; labels where given
    ehead = {c: f"{labels.get(h, h)}\n({unit})" for c, h in zip(ecols, hws)}
    if depth is not None:
        lt = lt.copy()
        lt["group"] = [_group_key(x, depth) for x in lt["layer"].fillna("")]
        g = lt.groupby("group", sort=False)
        out = pd.DataFrame({
            "module": g.size().index.to_list(),  # first-seen order (sort=False)
            "sites": g.size().to_numpy(),
            "MACs": g["macs"].sum().to_numpy(),
            ac: g["acs"].sum().to_numpy(),
            "updates": g["neuron_updates"].sum().to_numpy(),
        })
        upd = out["updates"].to_numpy()
        sp = g["spikes_out"].sum().to_numpy()
        out["spike\nrate"] = [s / u if u > 0 else float("nan") for s, u in zip(sp, upd)]
        for c in ecols:
            out[ehead[c]] = g[c].sum().to_numpy() / per
        busy = (out[["MACs", ac, "updates", *ehead.values()]].abs().sum(axis=1) > 0)
        out = out[busy].reset_index(drop=True)  # modules that did nothing (pure containers)
        name, drop = "module", ["sites", "updates", "spike\nrate", ac, "MACs"]
    else:
        lt = terminal_rows(lt)
        out = pd.DataFrame({
            "site": lt["site"].to_numpy(),
            "op": lt["op"].to_numpy(),
            "in\nrate": lt["in_rate"].to_numpy(),
            "out\nrate": lt["out_rate"].to_numpy(),
            "MACs": lt["macs"].to_numpy(),
            ac: lt["acs"].to_numpy(),
            "updates": lt["neuron_updates"].to_numpy(),
        })
        for c in ecols:
            out[ehead[c]] = lt[c].to_numpy() / per
        name, drop = "site", ["op", "in\nrate", "updates", "out\nrate", "MACs", ac]
    energy = list(ehead.values())
    if top is not None:
        if sort_by is not None and sort_by not in hws:
            raise ValueError(f"--sort-by {sort_by!r} is not among the chips priced "
                             f"({', '.join(hws)})")
        key = ehead[ecols[hws.index(sort_by or hws[0])]] if energy else None
        cost = out[key] if key else pd.Series(0.0, index=out.index)
        out = out.loc[cost.sort_values(ascending=False, kind="stable").index[:top]]
        out = out.reset_index(drop=True)
    fmts: dict[str, Callable[[Any], str]] = {c: format_count for c in ("MACs", ac, "updates")}
    fmts.update({c: format_rate for c in ("in\nrate", "out\nrate", "spike\nrate")})
    return out, unit, dict(keep=energy, drop=drop, name_column=name, formats=fmts)


def totals_view(report: Any, labels: dict[str, str] | None = None,
                unit: str | None = None) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """Totals per chip for people: energy components and total in one readable unit, the
    low-high band where the profile gives one, MACs and SOPs per sample, and where analog MACs
    were priced. Returns ``(table, unit, render_kwargs)``."""
    t, u = report.human_totals(unit=unit)
    labels = labels or {}
    tot = report.totals.set_index("hardware")
    t.insert(0, "chip", [labels.get(h, h) for h in t["Hardware"]])
    hw = t.pop("Hardware")
    t["MACs"] = hw.map(tot["macs"]).to_numpy()
    t["SOPs"] = hw.map(tot["sops"]).to_numpy()
    t["MACs priced on"] = hw.map(tot["mac_priced_on"]).to_numpy()
    t.columns = [c.replace(" (", "\n(") for c in t.columns]
    energy = [c for c in t.columns if c.endswith(f"({u})")]
    fmts = {"MACs": format_count, "SOPs": format_count}
    return t, u, dict(keep=energy, drop=["MACs priced on", "SOPs", "MACs"], name_column="chip",
                      formats=fmts)


def hardware_cost_view(report: Any, labels: dict[str, str] | None = None,
                       unit: str | None = None) -> tuple[pd.DataFrame, str, dict[str, Any]]:
    """The hardware-cost estimate per chip for people
    (:meth:`~energymodel.EnergyReport.human_hardware_cost`): cores, chips, fits, latency and
    static / dynamic / total energy, each in one readable unit, and the EDP; the energies are
    never dropped for width. Returns ``(table, energy unit, render_kwargs)``."""
    t, u = report.human_hardware_cost(unit=unit)
    labels = labels or {}
    t.insert(0, "chip", [labels.get(h, h) for h in t.pop("Hardware")])
    t.columns = [c.replace(" (", "\n(") for c in t.columns]
    energy = [c for c in t.columns if c.endswith(f"({u})")]
    edp = [c for c in t.columns if c.startswith("EDP")]
    period = [c for c in t.columns if c.startswith("Period")]
    band = [c for c in t.columns if c.startswith(("Low", "High"))]
    energy = [c for c in energy if c not in band]
    return t, u, dict(keep=energy, drop=[*edp, *band[::-1], "Chips", *period, "Cores"],
                      name_column="chip")


def at_rates_view(totals: pd.DataFrame, labels: dict[str, str] | None = None
                  ) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``profile --rates`` on the terminal: per chip the energy at the rates of the file next
    to the measured one (one unit), MACs and SOPs. ``totals``: :func:`tables.totals_table`
    with ``measured_mj``. Returns ``(table, render_kwargs)``."""
    from .tables import at_rates_view as _view  # noqa: PLC0415

    t = _view(totals, scale_counts=False)
    t["Chip"] = [(labels or {}).get(h, h) for h in t["Chip"]]
    t.columns = [c.replace(" (", "\n(") for c in t.columns]
    energy = [c for c in t.columns if c.endswith("J)")]
    return t, dict(keep=energy, drop=["SOPs", "MACs"], name_column="Chip",
                   formats={"MACs": format_count, "SOPs": format_count})


def audit_view(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``energymodel audit`` on the terminal (:func:`tables.audit_view`): rates to three
    decimals, energies in one unit. Returns ``(table, render_kwargs)``."""
    from .tables import audit_view as _view  # noqa: PLC0415

    t = _view(df)
    rates = [c for c in t.columns if c != "Chip" and not c.endswith("J)")]
    t.columns = [c.replace(" (", "\n(").replace(", ", ",\n") for c in t.columns]
    rates = [c.replace(" (", "\n(").replace(", ", ",\n") for c in rates]
    energy = [c for c in t.columns if c.endswith("J)")]
    return t, dict(keep=energy + rates, name_column="Chip",
                   formats={c: format_rate for c in rates})


def neurobench_view(nb: dict) -> tuple[pd.DataFrame, dict[str, Any]]:
    """NeuroBench's workload metrics (:meth:`~energymodel.Profile.neurobench`) as a two-column
    table, one metric a row: operation and update counts with k / M / G, sparsities at three
    significant figures, the footprint in bytes; ``unknown`` where NeuroBench's definition
    does not apply. Returns ``(table, render_kwargs)``."""
    rows = [(f"SynapticOperations.{k}", format_count(v))
            for k, v in nb["SynapticOperations"].items()]
    for k in ("ActivationSparsity", "MembraneUpdates", "Footprint", "ConnectionSparsity"):
        v = nb[k]
        if v is None:
            text = "unknown"
        elif k in ("MembraneUpdates", "Footprint"):
            text = format_count(v)
        else:
            text = _tables.format_sig(float(v))
        rows.append((f"{k} (bytes)" if k == "Footprint" else k, text))
    t = pd.DataFrame(rows, columns=["metric", "per sample"])
    return t, dict(keep=["per sample"], name_column="metric", min_name=34)


def show_comparison(table: pd.DataFrame, width: int | None = None) -> str:
    """``energymodel compare`` on the terminal: counts per mechanism, then energy per chip and
    mechanism with ``vanilla / x`` (one unit for the table)."""
    from .compare import counts_view, energy_view  # noqa: PLC0415

    c = counts_view(table)
    e = energy_view(table, labels=False)  # short chip ids suit the terminal
    cf = {k: (lambda v: format_rate(v)) for k in c.columns if "rate" in k}
    out = render(c, title="counts per sample", width=width, formats=cf, name_column="Mechanism",
                 drop=[k for k in c.columns if k.startswith("Closed")]
                 + [k for k in c.columns if k.startswith("Core")])
    unit = next((k.split("(")[1].rstrip(")") for k in e.columns if k.startswith("Block")), "")
    out += "\n" + render(e, title=f"energy per sample ({unit}); vanilla / x: times less than "
                         "vanilla", width=width, keep=list(e.columns[1:]), name_column="Chip",
                         min_name=8)
    return out


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


def format_terminal(df: pd.DataFrame, width: int | None = None, **kwargs: Any) -> str:
    """Any table as terminal text (see :func:`render`): columns
    whose name holds ``energy``, ``J)`` or ``vanilla`` are never dropped for width."""
    keep = [str(c) for c in df.columns
            if any(k in str(c) for k in ("energy", "J)", "J]", "vanilla", "Vanilla"))]
    kwargs.setdefault("keep", keep)
    kwargs.setdefault("drop", [str(c) for c in reversed(df.columns) if str(c) not in keep][:-1])
    if "max_col" in kwargs:  # older keyword: the longest a name may print
        kwargs["min_name"] = kwargs.pop("max_col")
    fmts: dict[str, Any] = {}
    for c in df.columns:
        low = str(c).lower()
        if low.endswith("rate"):
            fmts[str(c)] = format_rate
        elif low in _COUNTS or low.startswith(("macs", "acs", "sops")):
            fmts[str(c)] = format_count
    kwargs["formats"] = {**fmts, **kwargs.get("formats", {})}
    return render(df, width=width, **kwargs)


_COUNTS = {"macs", "acs", "sops", "neuron_updates", "updates", "spikes_out", "dense_macs",
           "elementwise_ops", "acs_rate"}

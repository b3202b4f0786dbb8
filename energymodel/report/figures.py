"""Paper-style figures (matplotlib, Agg), each written as PNG and PDF.

Every function takes a table that is already computed (a comparison, an energy report's layers,
a profile's per-timestep rates) and only draws it: a plot never computes an energy. Colours are
the Okabe-Ito palette (distinguishable with the common colour-vision deficiencies), bars also
carry hatches, and every axis names its unit.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..common.files import write_bytes_atomic  # noqa: E402

__all__ = [
    "OKABE_ITO",
    "plot_validation",
    "plot_vs_ann",
    "save_figure",
    "plot_attention_by_hardware",
    "plot_layer_breakdown",
    "plot_firing_heatmap",
    "plot_energy_vs_tokens",
    "plot_reference_models",
    "layer_groups",
]

#: Okabe & Ito (2008), "Color Universal Design": orange, sky blue, bluish green, yellow, blue,
#: vermillion, reddish purple, black.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]
#: series colours: the palette with yellow last (thin lines and small bars in yellow are hard to
#: see on white)
SERIES = ["#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#000000", "#F0E442"]
HATCHES = ["", "//", "..", "xx", "\\\\", "oo", "--", "++"]
MECH_LABEL = {"vanilla": "Vanilla (ANN)", "ssa": "SSA (Spikformer)", "sdsa": "SDSA (SDT)",
              "sasa": "SASA (SAFormer, our reading)"}

plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.labelsize": 9,
                     "legend.fontsize": 8, "figure.dpi": 100, "savefig.dpi": 150,
                     "axes.spines.top": False, "axes.spines.right": False,
                     "pdf.fonttype": 42, "svg.hashsalt": "energymodel"})


_CAPTURE: list[list[dict]] = []


def figure_summary(fig: "plt.Figure") -> dict:
    """What a reader sees on a figure, as text: titles (figure and axes), axis labels, tick
    labels, legend entries and free text, per axes."""
    axes = []
    for ax in fig.axes:
        leg = ax.get_legend()
        axes.append({
            "title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
            "xticks": [t.get_text() for t in ax.get_xticklabels()],
            "yscale": ax.get_yscale(),
            "legend": [t.get_text() for t in leg.get_texts()] if leg else [],
            "lines": [(ln.get_label(), np.asarray(ln.get_xdata(), dtype=float).tolist(),
                   np.asarray(ln.get_ydata(), dtype=float).tolist())
                      for ln in ax.get_lines()],
        })
    return {"suptitle": fig._suptitle.get_text() if fig._suptitle else "",
            "legends": [t.get_text() for lg in fig.legends for t in lg.get_texts()],
            "texts": [t.get_text() for t in fig.texts], "axes": axes}


class capture:
    """``with capture() as got:`` collects :func:`figure_summary` of every figure saved inside
    (with its ``stem``), for tests."""

    def __enter__(self) -> list[dict]:
        self.got: list[dict] = []
        _CAPTURE.append(self.got)
        return self.got

    def __exit__(self, *exc: object) -> None:
        _CAPTURE.remove(self.got)


def save_figure(fig: "plt.Figure", stem: str | os.PathLike) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` atomically (each whole or not at all); close the
    figure. PDFs carry no creation date, so regenerating gives the same bytes. Figures carry no
    title: captions live in ``reports/README.md`` (and the paper)."""
    for got in _CAPTURE:
        got.append(dict(figure_summary(fig), stem=Path(stem).name))
    paths = []
    for ext in ("png", "pdf"):
        buf = io.BytesIO()
        meta = {"CreationDate": None} if ext == "pdf" else {"Software": None}
        fig.savefig(buf, format=ext, bbox_inches="tight", metadata=meta)
        paths.append(write_bytes_atomic(f"{stem}.{ext}", buf.getvalue()))
    plt.close(fig)
    return paths


def _hw_columns(df: pd.DataFrame, prefix: str) -> list[str]:
    return [c[len(prefix) + 1:-1] for c in df.columns if c.startswith(prefix + "[")]


def plot_attention_by_hardware(cmp: pd.DataFrame, stem: str | os.PathLike,
                               column: str = "energy_pj", title: str | None = None,
                               note: str = "", labels: dict[str, str] | None = None) -> list[Path]:
    """Figure 1: energy of each attention mechanism (bars) per hardware profile (groups, named
    by their YAML ``label``), log scale, from
    :func:`~energymodel.report.compare.compare_attention`'s table. ``title`` and ``note`` are
    not drawn (captions belong to the text); kept for compatibility."""
    from ..common.formatting import format_sig, pick_energy_unit  # noqa: PLC0415

    hws = _hw_columns(cmp, column)
    labels = {**cmp.attrs.get("labels", {}), **(labels or {})}
    mechs = list(cmp["mechanism"])
    unit, per = pick_energy_unit(cmp[[f"{column}[{h}]" for h in hws]].to_numpy())
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    width = 0.8 / len(mechs)
    x = np.arange(len(hws))
    for i, m in enumerate(mechs):
        vals = [float(cmp.loc[cmp["mechanism"] == m, f"{column}[{h}]"].iloc[0]) / per for h in hws]
        bars = ax.bar(x + (i - (len(mechs) - 1) / 2) * width, vals, width,
                      label=MECH_LABEL.get(m, m), color=SERIES[i % 8],
                      hatch=HATCHES[i % 8], edgecolor="black", linewidth=0.5)
        for b, v in zip(bars, vals):
            ax.annotate(format_sig(v), (b.get_x() + b.get_width() / 2, v), ha="center",
                        va="bottom", fontsize=6, rotation=90, xytext=(0, 2),
                        textcoords="offset points")
    ax.set_yscale("log")
    ax.set_xticks(x, [labels.get(h, h) for h in hws])
    ax.set_xlabel("hardware")
    ax.set_ylabel(f"energy per sample ({unit}, log scale)")
    ax.margins(y=0.15)
    ax.grid(axis="y", which="major", alpha=0.3)
    handles, legl = ax.get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(handles, legl, ncol=len(mechs), frameon=False, loc="lower center",
               bbox_to_anchor=(0.5, 0.0), fontsize=7)
    return save_figure(fig, stem)


def _short(name: str, depth: int = 2) -> str:
    parts = name.split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            return ".".join(parts[: i + depth])
    return name


def _prefix(name: str) -> str:
    parts = name.split(".")
    for i, p in enumerate(parts):
        if p.isdigit():
            return ".".join(parts[: i + 1])
    return parts[0]


def layer_groups(layers: pd.DataFrame) -> pd.Series:
    """Group op sites into the "layers" of a paper figure, in execution order: every synaptic
    site opens (or continues) a group named by its module (``patch_embed.proj_conv1``; inside
    numbered blocks ``block.3.attn`` / ``block.3.mlp``), and the normalisation, neuron, pooling
    and element-wise sites after it join it; sites that run before the first synaptic site of
    their block (``block.3.shortcut_lif``, the head's neuron) join the next group."""
    names = layers["layer"].fillna("").astype(str).tolist()
    kinds = layers["kind"].astype(str).tolist()
    out: list[str | None] = [None] * len(names)
    pending: list[int] = []
    current: str | None = None
    for i, (name, kind) in enumerate(zip(names, kinds)):
        if kind in ("synaptic",):
            current = _short(name) or "(root)"
            for j in pending:
                out[j] = current
            pending = []
            out[i] = current
        elif current is not None and name and _prefix(name) == _prefix(current):
            out[i] = current
        else:
            pending.append(i)
    for j in pending:
        out[j] = current or "(root)"
    return pd.Series(out, index=layers.index)


def plot_layer_breakdown(layers: pd.DataFrame, hardware: str, stem: str | os.PathLike,
                         title: str = "") -> list[Path]:
    """Figure 2: per-layer energy of one model on one chip, stacked by component: compute
    (arithmetic and addressing), neuron (state updates) and memory (SRAM accesses and spike
    routing). ``layers``: :attr:`EnergyReport.layers` (``full`` convention for all three)."""
    d = layers[layers["hardware"] == hardware].copy()
    d["group"] = layer_groups(d)
    comp = {
        "compute (arithmetic + addressing)": d["compute_pj"] + d.get("addressing_pj", 0.0),
        "neuron updates": d["neuron_pj"],
        "memory (SRAM + routing)": d["memory_pj"] + d.get("routing_pj", 0.0),
    }
    from ..common.formatting import pick_energy_unit  # noqa: PLC0415

    g = pd.DataFrame(comp).groupby(d["group"], sort=False).sum()
    g = g[g.sum(axis=1) > 0]
    colors = [OKABE_ITO[4], OKABE_ITO[0], OKABE_ITO[2]]
    # memory dwarfs compute on CMOS (SRAM reads per synaptic event): two panels, each on its
    # own scale, so the compute and neuron bars stay readable
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(max(5.5, 0.42 * len(g) + 2.0), 5.6),
                                  sharex=True, gridspec_kw={"height_ratios": [1, 1]})
    x = np.arange(len(g))
    top_cols = [c for c in g.columns if not c.startswith("memory")]
    mem_cols = [c for c in g.columns if c.startswith("memory")]
    # ONE unit for both panels (their scales differ, their units must not: memory is often
    # 100x compute and would look smaller in a larger unit)
    unit, per = pick_energy_unit(g.sum(axis=1).to_numpy())
    for a, cs, off in ((ax, top_cols, 0), (ax2, mem_cols, len(top_cols))):
        bottom = np.zeros(len(g))
        for i, c in enumerate(cs):
            a.bar(x, g[c].to_numpy() / per, 0.7, bottom=bottom, label=c,
                  color=colors[off + i], hatch=HATCHES[off + i], edgecolor="black",
                  linewidth=0.4)
            bottom += g[c].to_numpy() / per
        a.grid(axis="y", alpha=0.3)
        a.set_ylabel(f"{'memory' if cs is mem_cols else 'compute + neuron'}\n"
                     f"per sample ({unit}, own scale)")
        a.legend(frameon=False, fontsize=7, loc="upper right")
    ax2.set_xticks(x, g.index, rotation=45, ha="right", fontsize=7)
    ax2.set_xlabel("layer (module)")
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_firing_heatmap(steps: pd.DataFrame, stem: str | os.PathLike, title: str = "") -> list[Path]:
    """Figure 3: firing rate of every neuron layer (rows, in execution order) at every timestep
    (columns), from :meth:`Profile.timesteps`."""
    order = list(pd.unique(steps["site"]))
    piv = steps.pivot_table(index="site", columns="t", values="rate", sort=False).reindex(order)
    labels = [s.split(":")[0] or "(root)" for s in piv.index]
    fig, ax = plt.subplots(figsize=(max(3.6, 0.6 * piv.shape[1] + 3.2), 0.22 * len(piv) + 1.4))
    im = ax.imshow(piv.to_numpy(), aspect="auto", cmap="viridis", vmin=0.0,
                   vmax=max(0.05, float(np.nanmax(piv.to_numpy()))), interpolation="nearest")
    ax.set_yticks(np.arange(len(labels)), labels, fontsize=6)
    ax.set_xticks(np.arange(piv.shape[1]), [str(int(t)) for t in piv.columns])
    ax.set_xlabel("timestep t")
    ax.set_ylabel("neuron layer")
    cb = fig.colorbar(im, ax=ax)
    cb.set_label("firing rate (spikes per neuron per step)")
    return save_figure(fig, stem)


def plot_energy_vs_tokens(sweep: pd.DataFrame, hardware: str, stem: str | os.PathLike,
                          title: str = "") -> list[Path]:
    """Figure 4: attention energy against the number of tokens N, log-log, one line per
    mechanism: left the attention core (products and sums: quadratic for vanilla, linear for
    SDSA and SASA), right the whole block. ``sweep``: compare tables stacked with a
    ``tokens`` column."""
    from ..common.formatting import pick_energy_unit  # noqa: PLC0415

    fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.4))
    markers = ["o", "s", "^", "D"]
    unit, per = pick_energy_unit(sweep[[f"core_pj[{hardware}]", f"energy_pj[{hardware}]"]]
                                 .to_numpy())
    for ax, col, what in ((axes[0], "core_pj", "attention core"),
                          (axes[1], "energy_pj", "whole block")):
        for i, (m, d) in enumerate(sweep.groupby("mechanism", sort=False)):
            d = d.sort_values("tokens")
            y = d[f"{col}[{hardware}]"].to_numpy() / per
            ok = y > 0
            ax.plot(d["tokens"].to_numpy()[ok], y[ok], marker=markers[i % 4],
                    color=SERIES[i % 8], label=MECH_LABEL.get(m, m), linewidth=1.4,
                    markersize=4)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ticks = sorted(sweep["tokens"].unique())
        ax.set_xticks(ticks, [str(int(t)) for t in ticks])
        ax.set_xlabel("tokens N (log scale)")
        ax.set_ylabel(f"{what}\nenergy per sample ({unit}, log scale)")
        ax.grid(which="major", alpha=0.3)
    n = np.array(sorted(sweep["tokens"].unique()), dtype=float)
    if len(n) > 1:
        # slope guides kept off the data: the N² guide runs 3x above every core point (scaled
        # as N² from the first N), the N guide 3x below every one (scaled as N), so neither
        # lies on a line (vanilla's core grows exactly as N²)
        core = sweep[["tokens", f"core_pj[{hardware}]"]].to_numpy(dtype=float)
        core = core[core[:, 1] > 0]
        if len(core):
            r = core[:, 0] / n[0]
            y2 = 3.0 * float(np.max(core[:, 1] / per / r ** 2))
            y1 = float(np.min(core[:, 1] / per / r)) / 3.0
            axes[0].plot(n, y2 * (n / n[0]) ** 2, ":", color="grey", linewidth=1, label="∝ N²")
            axes[0].plot(n, y1 * (n / n[0]), "--", color="grey", linewidth=1, label="∝ N")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=7)
    return save_figure(fig, stem)


def plot_reference_models(table: pd.DataFrame, hardware: Sequence[str], stem: str | os.PathLike,
                          title: str = "", labels: dict[str, str] | None = None) -> list[Path]:
    """Figure 5: whole-model energy per sample (mJ, log scale) of the reference models
    (groups) on each hardware profile (bars). ``table``: one row per model with
    ``energy_mj[<hw>]`` columns; a ``published_mj`` column, where given, is drawn as a black
    tick (the paper's 45 nm figure)."""
    models = list(table["model"])
    fig, ax = plt.subplots(figsize=(max(6.0, 0.9 * len(models) + 2.0), 3.8))
    width = 0.8 / len(hardware)
    x = np.arange(len(models))
    for i, h in enumerate(hardware):
        ax.bar(x + (i - (len(hardware) - 1) / 2) * width, table[f"energy_mj[{h}]"].to_numpy(),
               width, label=(labels or {}).get(h, h), color=SERIES[i % 8], hatch=HATCHES[i % 8],
               edgecolor="black", linewidth=0.4)
    if "published_mj" in table.columns and table["published_mj"].notna().any():
        pub = table["published_mj"].to_numpy(dtype=float)
        ok = ~np.isnan(pub)
        i45 = list(hardware).index("cmos45nm") if "cmos45nm" in hardware else (len(hardware) - 1) / 2
        xp = x + (i45 - (len(hardware) - 1) / 2) * width  # over the 45 nm bar
        ax.scatter(xp[ok], pub[ok], marker="_", s=250, color="black", linewidths=2.5,
                   label="published (45 nm, trained)", zorder=3)
    ax.set_yscale("log")
    ax.set_xticks(x, models, rotation=30, ha="right")
    ax.set_ylabel("energy per sample (mJ, log scale)")
    ax.set_xlabel("model")
    ax.legend(frameon=False, ncol=min(5, len(hardware) + 1), loc="upper left")
    ax.margins(y=0.3)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, stem)


def plot_hardware_cost(table: pd.DataFrame, stem: str | os.PathLike, title: str = "",
                       labels: dict[str, str] | None = None) -> list[Path]:
    """Figure 6: the reference models mapped on each chip (an estimate, see
    :mod:`energymodel.pricing.mapping`): cores, latency per inference, and energy per inference with
    the static and running parts stacked on the dynamic one (log scales). ``table``: one row per
    (model, chip) with ``model, hardware, cores, latency_ms, dynamic_mj, static_mj`` (and
    ``running_mj``); a missing value
    (no cited figure) leaves its bar out. No title (``title`` is kept for callers: drawn only
    when given; the caption belongs in the report's README); chips by ``labels``."""
    chips = list(dict.fromkeys(table["hardware"]))
    models = list(dict.fromkeys(table["model"]))
    # three panels stacked, sharing the model axis: a paper's full text width (7 in)
    fig, axes = plt.subplots(3, 1, figsize=(7.0, 7.6), sharex=True)
    width = 0.8 / max(1, len(chips))
    x = np.arange(len(models))
    for i, h in enumerate(chips):
        d = table[table["hardware"] == h].set_index("model").reindex(models)
        off = x + (i - (len(chips) - 1) / 2) * width
        style = dict(color=SERIES[i % 8], hatch=HATCHES[i % 8], edgecolor="black", linewidth=0.4)
        axes[0].bar(off, d["cores"].astype(float).to_numpy(), width, label=(labels or {}).get(h, h),
                    **style)
        axes[1].bar(off, d["latency_ms"].astype(float).to_numpy(), width, **style)
        dyn = d["dynamic_mj"].astype(float).to_numpy()
        sta = np.nan_to_num(d["static_mj"].astype(float).to_numpy())
        if "running_mj" in d:
            sta = sta + np.nan_to_num(d["running_mj"].astype(float).to_numpy())
        axes[2].bar(off, dyn, width, **style)
        axes[2].bar(off, sta, width, bottom=dyn, color="white", edgecolor=SERIES[i % 8],
                    hatch="xx", linewidth=0.6)
    for ax, col in zip(axes, ("cores", "latency_ms", "dynamic_mj")):
        v = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        v = v[np.isfinite(v) & (v > 0)]
        if len(v):
            ax.set_ylim(bottom=float(v.min()) / 2)
    for ax, lab in zip(axes, ("cores (log)", "latency per inference (ms, log)",
                              "energy per inference (mJ, log);\nwhite hatched: static + running")):
        ax.set_yscale("log")
        ax.set_ylabel(lab, fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[-1].set_xticks(x, models, rotation=30, ha="right", fontsize=7)
    if title:
        fig.suptitle(title)
    handles, names = axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.04, 1, 1))  # the chip legend below the panels, clear of bars
    fig.legend(handles, names, loc="lower center", ncol=len(names), frameon=False, fontsize=7)
    return save_figure(fig, stem)


def plot_validation(table: pd.DataFrame, stem: str | os.PathLike,
                    labels: dict[str, str] | None = None) -> list[Path]:
    """Figure 7: the hardware-cost estimate against measured chips, log-log, one point per
    (case, quantity, activity) in the unit the case reports (s, J or W; ``table`` is
    :func:`energymodel.pricing.validation.validate`'s). Filled markers: held-out cases
    (predictions); hollow: cases a constant was fitted to; marker shape: the quantity. A
    vertical bar joins the two ends of an activity bracket. Grey band: within 2x. One colour
    per chip."""
    chips = list(dict.fromkeys(table["chip"]))
    marks = {"period_s": "o", "dynamic_j": "s", "total_j": "D", "power_w": "^"}
    names = {"period_s": "period", "dynamic_j": "energy above idle", "total_j": "total energy",
             "power_w": "power"}
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    lo = float(table["measured"].min()) / 3
    hi = float(table["measured"].max()) * 3
    xs = np.array([lo, hi])
    ax.fill_between(xs, xs / 2, xs * 2, color="0.88", zorder=0, label="within 2x")
    ax.plot(xs, xs, color="0.5", lw=0.8, zorder=1)
    for i, chip in enumerate(chips):
        col = OKABE_ITO[[4, 5, 2, 0, 6, 1][i % 6]]
        d = table[table["chip"] == chip]
        for (case, q), g in d.groupby(["case", "quantity"], sort=False):
            m = float(g["measured"].iloc[0])
            p = g["predicted"].to_numpy(dtype=float)
            held = g["role"].iloc[0] == "held_out"
            if len(p) > 1:
                ax.plot([m, m], [p.min(), p.max()], color=col, lw=1.0, zorder=2)
            ax.scatter(np.full(len(p), m), p, marker=marks.get(q, "o"), s=22, zorder=3,
                       facecolors=col if held else "white", edgecolors=col, linewidths=0.9)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("measured (s, J or W, as the case reports)", fontsize=8)
    ax.set_ylabel("estimate (same unit)", fontsize=8)
    ax.grid(alpha=0.3, which="both", lw=0.3)
    from matplotlib.lines import Line2D  # noqa: PLC0415

    handles = [Line2D([], [], ls="", marker="o", color=OKABE_ITO[[4, 5, 2, 0, 6, 1][i % 6]],
                      label=(labels or {}).get(c, c)) for i, c in enumerate(chips)]
    handles += [Line2D([], [], ls="", marker=marks[q], color="black", mfc="white",
                       label=names[q]) for q in marks if q in set(table["quantity"])]
    handles += [Line2D([], [], ls="", marker="o", color="black", label="held out (filled)"),
                Line2D([], [], ls="", marker="o", color="black", mfc="white",
                       label="fitted (hollow)")]
    ax.legend(handles=handles, fontsize=7, loc="upper left", frameon=False, ncol=2)
    fig.tight_layout()
    return save_figure(fig, stem)


def plot_vs_ann(be: pd.DataFrame, stem: str | os.PathLike, model: str = "",
                labels: dict[str, str] | None = None) -> list[Path]:
    """Figure 8: energy per sample against the uniform input firing rate of the spike-driven
    layers, per chip: the SNN (a line: its energy is affine in the rate) and its ANN twin
    (dashed, flat), the measured rate (grey) and the break-even rate p* (a dot) marked; log
    energy axis. ``be``: :attr:`EnergyReport.break_even`."""
    from ..common.formatting import pick_energy_unit  # noqa: PLC0415

    allv = np.concatenate([be["snn_rate0_pj"], be["snn_rate1_pj"], be["ann_pj"]]).astype(float)
    unit, per = pick_energy_unit(allv)
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    p = np.linspace(0, 1, 101)
    for i, r in enumerate(be.itertuples(index=False)):
        col = SERIES[i % 8]
        e = (r.snn_rate0_pj + p * (r.snn_rate1_pj - r.snn_rate0_pj)) / per
        name = (labels or {}).get(r.hw, r.hw)
        ax.plot(p, e, color=col, lw=1.6, label=f"{name}: SNN")
        ax.axhline(r.ann_pj / per, color=col, lw=1.2, ls="--",
                   label=f"{name}: ANN twin ({r.twin_bits}-bit, {r.twin_precision})")
        if r.break_even_rate == r.break_even_rate:
            ax.plot([r.break_even_rate], [r.ann_pj / per], "o", color=col, ms=5)
    m = float(be["measured_rate"].iloc[0])
    if m == m:
        ax.axvline(m, color="0.5", lw=0.8, ls=":")
        ax.annotate("measured", (m, ax.get_ylim()[0]), rotation=90, fontsize=7, color="0.4",
                    xytext=(3, 3), textcoords="offset points", va="bottom")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_xlabel("input firing rate of the spike-driven layers (uniform)", fontsize=8)
    ax.set_ylabel(f"energy per sample ({unit}, log scale)", fontsize=8)
    ax.grid(alpha=0.3, which="both", lw=0.3)
    ax.legend(fontsize=6.5, frameon=False, ncol=2, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, stem)

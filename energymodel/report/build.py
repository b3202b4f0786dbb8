"""``energymodel report``: regenerate every paper-style table and figure from scratch.

>>> from energymodel.report.build import build_reports
>>> files = build_reports("reports/")          # a few minutes on 2 CPU cores
>>> files = build_reports(tmp, quick=True)     # tiny shapes and models, seconds (tests)

What is made (``quick`` only shrinks shapes, models and the token sweep; the files are the same):

1. ``fig1_attention_by_hardware``: the four attention blocks at N=196, D=512, H=8, T=4 on every
   shipped hardware profile (grouped bars, log scale); table ``attention_compare``.
2. ``fig2_layer_breakdown``: per-layer energy of one model on cmos45nm, ``full`` convention,
   stacked compute / neuron / memory; table ``layers``.
3. ``fig3_firing_rates``: firing rate per neuron layer and timestep of the same model.
4. ``fig4_attention_vs_tokens``: attention energy against N on cmos45nm (log-log); table
   ``attention_vs_tokens``.
5. ``fig5_reference_models``: whole-model energy of the reference models on every profile;
   table ``reference_models`` (paper-table style, with the published 45 nm figures).

Every model is measured, none is estimated analytically: ImageNet-size models run one image
(batch 1) under the profiler (a few seconds each on a CPU core). Weights are random (seeded)
with BatchNorm statistics calibrated on the input, so firing rates are plausible but not those
of trained networks; every caption says so. Every file is written whole or not at all.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..common import formatting as _tables
from ..pricing.energy import estimate
from ..pricing.hardware import list_hardware, load_hardware
from ..workflow import DEFAULT_BN_SHIFT, load_hardware_list, load_model, profile_model
from . import figures
from .compare import compare_attention, counts_view, energy_view, rates_view
from .cost import write_hardware_cost
from .tables import HumanTable, published_view, write_table

__all__ = ["build_reports", "REFERENCE_MODELS", "PUBLISHED_MJ", "report_plan"]

#: reference models of figure 5 / table ``reference_models`` (all measured, batch 1)
REFERENCE_MODELS = (
    "spikformer-8-384", "spikformer-8-512", "spikformer-8-768",
    "sdt-8-384", "sdt-8-512", "sdt-8-768",
    "saformer-8-512", "vit-8-512",
    "spikformer-4-384-cifar", "sdt-2-512-cifar100", "saformer-4-384-cifar", "vit-4-384-cifar",
)
QUICK_MODELS = ("sdt-1-64-tiny", "spikformer-1-64-tiny", "saformer-1-64-tiny", "vit-1-64-tiny")

#: published energy per image on 45 nm CMOS (paper convention, T = 4, trained weights)
PUBLISHED_MJ = {
    "spikformer-8-512": (11.58, "Spikformer, ICLR 2023, Table 3"),
    "spikformer-8-768": (21.48, "Spikformer, ICLR 2023, Table 3"),
    "sdt-8-384": (3.90, "Spike-driven Transformer, official README"),
    "sdt-6-512": (3.56, "Spike-driven Transformer, official README"),
    "sdt-8-512": (4.50, "Spike-driven Transformer, official README"),
    "sdt-10-512": (5.53, "Spike-driven Transformer, official README"),
    "sdt-8-768": (6.09, "Spike-driven Transformer, official README"),
}


def report_plan(quick: bool = False) -> dict[str, Any]:
    """The shapes and models each part uses."""
    if quick:
        return dict(compare=dict(tokens=16, dim=32, heads=4, timesteps=2), sweep_dim=32,
                    sweep_heads=4, sweep_tokens=(8, 16, 32), breakdown_model="sdt-1-64-tiny",
                    breakdown_batches=1, models=QUICK_MODELS)
    return dict(compare=dict(tokens=196, dim=512, heads=8, timesteps=4), sweep_dim=512,
                sweep_heads=8, sweep_tokens=(16, 49, 196, 576, 1024),
                breakdown_model="sdt-2-512-cifar", breakdown_batches=2, models=REFERENCE_MODELS)


def _tables_all(df: pd.DataFrame, stem: Path, caption: str, label: str,
                meta: dict | None = None, human: list | None = None) -> list[Path]:
    """CSV and JSON: ``df`` at full precision (the API's columns); Markdown and LaTeX: the
    ``human`` tables (human headers, one unit a table, three significant figures)."""
    return [write_table(df, f"{stem}.{ext}", caption=caption, label=label, meta=meta,
                        human=human) for ext in ("csv", "md", "tex", "json")]


def sweep_view(sweep: pd.DataFrame, hardware: str) -> pd.DataFrame:
    """The token sweep for people: tokens, mechanism, core and block energy (one unit for the
    table) and ``vanilla / x`` of each."""
    from ..common import formatting as T  # noqa: PLC0415
    from .compare import MECHANISM_NAMES  # noqa: PLC0415

    u, f = T.pick_energy_unit(sweep[[f"core_pj[{hardware}]", f"energy_pj[{hardware}]"]].to_numpy())
    return pd.DataFrame({
        "Tokens N": sweep["tokens"].astype(int),
        "Mechanism": sweep["mechanism"].map(MECHANISM_NAMES).fillna(sweep["mechanism"]),
        f"Core ({u})": sweep[f"core_pj[{hardware}]"] / f,
        "Core vanilla / x": sweep[f"core_vanilla_over_x[{hardware}]"],
        f"Block ({u})": sweep[f"energy_pj[{hardware}]"] / f,
        "Block vanilla / x": sweep[f"vanilla_over_x[{hardware}]"],
    })


def reference_views(ref: pd.DataFrame, hw_names: list[str],
                    labels: dict[str, str]) -> list[HumanTable]:
    """The reference-model table for people, as two tables of at most eight columns: the
    models (T, input, parameters, spike rate, MACs, SOPs) and their energy per chip next to the
    published 45 nm figure (one unit for the table)."""
    from ..common import formatting as T  # noqa: PLC0415

    a = pd.DataFrame({"Model": ref["model"], "T": ref["T"].astype(int), "Input": ref["input"],
                      "Params (M)": ref["params_M"], "Spike rate": ref["spike_rate"],
                      "MACs (G)": ref["gmacs"], "SOPs (G)": ref["gsops"]})
    ecols = [f"energy_mj[{h}]" for h in hw_names] + ["published_mj"]
    u, f = T.pick_energy_unit(ref[ecols].to_numpy(dtype=float) * 1e9)
    b = pd.DataFrame({"Model": ref["model"]})
    for h in hw_names:
        b[f"{labels.get(h, h)} ({u})"] = ref[f"energy_mj[{h}]"] * 1e9 / f
    b[f"Published, 45 nm ({u})"] = ref["published_mj"] * 1e9 / f
    return [HumanTable(a, "Models"), HumanTable(b, "Energy per image")]


def _seeded_model(name: str, seed: int):
    """``load_model(name)`` with its random weights drawn from ``seed``, as ``energymodel profile
    NAME --seed SEED`` draws them: every row of the reports is reproducible on its own, whatever
    ran before it."""
    import torch  # noqa: PLC0415

    torch.manual_seed(int(seed))
    return load_model(name)


def default_report_hardware() -> list[str]:
    """The profiles the report prices by default: every one on the search path except dense
    accelerators (``kind: accelerator``), which would price the SNNs at their dense MACs."""
    return [n for n in list_hardware() if load_hardware_list([n])[0].kind != "accelerator"]


def build_reports(out_dir: str | os.PathLike = "reports", quick: bool = False,
                  hardware: list[str] | None = None, rate: float = 0.2, seed: int = 0,
                  log: Callable[[str], None] | None = None) -> list[Path]:
    """Regenerate every table and figure in ``out_dir`` (created) and its ``README.md`` index;
    return the paths written. ``hardware``: the profiles priced (default: every shipped one
    except dense accelerators, which would price the SNNs at their dense MACs; the measured
    cases of every chip are in the validation table and figure whatever this lists)."""
    log = log or (lambda m: None)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    hw_names = list(hardware or default_report_hardware())
    hws = load_hardware_list(hw_names)
    labels = {h.name: h.label for h in hws}
    plan = report_plan(quick)
    files: list[Path] = []
    index: list[tuple[str, str]] = []
    t0 = time.time()

    # 1. attention mechanisms per hardware
    c = plan["compare"]
    log(f"[1/7] attention comparison N={c['tokens']} D={c['dim']} on {', '.join(hw_names)}")
    cmp = compare_attention(c["tokens"], c["dim"], c["heads"], c["timesteps"], hws, rate=rate,
                            seed=seed)
    counts = counts_view(cmp)
    files += _tables_all(cmp, out / "attention_compare", cmp.attrs["caption"], "tab:attention",
                         cmp.attrs["settings"],
                         human=[HumanTable(rates_view(cmp), "Firing rates"),
                                HumanTable(counts, "Counts per sample"),
                                HumanTable(energy_view(cmp), "Energy per sample", 2)])
    paper_counts = counts[[k for k in counts.columns if not k.startswith(("Core", "Closed"))]]
    files += [write_table(cmp, out / f"attention_compare_paper.{ext}",
                          caption=cmp.attrs["caption"], label="tab:attention-paper",
                          human=[HumanTable(paper_counts, "Counts per sample"),
                                 HumanTable(energy_view(cmp, core=False), "Energy per sample", 2)])
              for ext in ("md", "tex")]
    files += figures.plot_attention_by_hardware(cmp, out / "fig1_attention_by_hardware")
    hosted = [labels[h.name] for h in hws if h.host and h.name != h.host]
    host_txt = (f" {', '.join(hosted)} have no multiplier (an all-in synaptic-op energy for the "
                "FPGA): they price vanilla's analog MACs on their host profile "
                f"({', '.join(sorted({h.host for h in hws if h.host}))}), hence equal vanilla "
                "bars.") if hosted else ""
    index += [("fig1_attention_by_hardware.png", "Energy per sample of the four attention blocks "
               f"(N={c['tokens']}, D={c['dim']}, H={c['heads']}, T={c['timesteps']}, input rate "
               f"{rate:g}) on every hardware profile, log scale; paper convention, fp32. Same "
               "seeded spike input for SSA/SDSA/SASA (T steps); vanilla: one step on its analog "
               "time-average." + host_txt),
              ("attention_compare.{csv,md,tex,json}", cmp.attrs["caption"]),
              ("attention_compare_paper.{md,tex}", "The same comparison in the columns a paper "
               "prints: MACs and ACs, and per chip the block energy and vanilla / x (times less "
               "energy than vanilla).")]

    # 4. energy against tokens (cmos45nm)
    log(f"[2/7] attention energy against tokens N in {plan['sweep_tokens']}")
    sweep_hw = "cmos45nm" if "cmos45nm" in hw_names else hw_names[0]
    parts = []
    for n in plan["sweep_tokens"]:
        d = compare_attention(n, plan["sweep_dim"], plan["sweep_heads"], c["timesteps"],
                              [sweep_hw], rate=rate, seed=seed)
        d.insert(0, "tokens", n)
        parts.append(d)
        sweep_caption = d.attrs["caption"].replace(f"N={n} tokens", "N tokens (column tokens)")
    sweep = pd.concat(parts, ignore_index=True)
    files += _tables_all(sweep, out / "attention_vs_tokens", sweep_caption, "tab:tokens",
                         human=[HumanTable(sweep_view(sweep, sweep_hw), None, 2)])
    files += figures.plot_energy_vs_tokens(sweep, sweep_hw, out / "fig4_attention_vs_tokens")
    index += [("fig4_attention_vs_tokens.png", "Attention energy per sample against the number of "
               f"tokens N on {labels[sweep_hw]} (D={plan['sweep_dim']}, T={c['timesteps']}, "
               f"input rate {rate:g}), log-log: left the attention core (vanilla Q Kᵀ and A V "
               "grow as N², SDSA/SASA column sums as N), right the whole block. Grey guides: "
               "slopes N² and N, drawn clear of the data."),
              ("attention_vs_tokens.{csv,md,tex,json}", "The sweep behind figure 4, one "
               "comparison table per N.")]

    # 2 + 3. one model in detail
    name = plan["breakdown_model"]
    log(f"[3/7] per-layer breakdown and firing rates of {name}")
    ms = _seeded_model(name, seed)
    prof = profile_model(ms.model, ms.input_shape, batch_size=1,
                         batches=plan["breakdown_batches"], timesteps=ms.timesteps, seed=seed,
                         calibrate=True)
    bd_hw = sweep_hw
    rep = estimate(prof, [bd_hw], mode="full")
    cols = ["hardware", "layer", "site", "op", "kind", "macs", "sops", "neuron_updates",
            "compute_pj", "addressing_pj", "neuron_pj", "memory_pj", "routing_pj", "total_pj"]
    lay_caption = (f"{name}: energy per sample and layer on {bd_hw}, {rep.convention()}. "
                   f"Random seeded weights, BatchNorm calibrated on the input (shift "
                   f"{DEFAULT_BN_SHIFT:g}); {prof.samples} random images.")
    files.append(write_table(rep.layers[cols], out / "layers.csv", caption=lay_caption))
    files.append(write_table(rep.layers[cols], out / "layers.json", caption=lay_caption))
    files.append(_write(out / "layers_totals.tex", rep.to_latex(caption=lay_caption,
                                                                 label="tab:layers")))
    files += figures.plot_layer_breakdown(rep.layers, bd_hw, out / "fig2_layer_breakdown")
    steps = prof.timesteps()
    files.append(write_table(steps, out / "firing_rates.csv",  # data only (CSV)
                             caption=f"{name}: neuron firing rate per layer and timestep "
                             f"(random weights, calibrated BatchNorm)."))
    files += figures.plot_firing_heatmap(steps, out / "fig3_firing_rates")
    index += [("fig2_layer_breakdown.png", f"Energy per layer of {name} on {labels[bd_hw]} "
               "(full convention): top, compute (arithmetic + addressing) and neuron updates "
               "stacked; bottom, memory (SRAM accesses + routing) on its own scale, since it "
               "dominates the total."),
              ("layers.{csv,json}, layers_totals.tex", lay_caption),
              ("fig3_firing_rates.png", f"Firing rate of every neuron layer of {name} at every "
               "timestep (heat map)."),
              ("firing_rates.csv", "The rates behind figure 3.")]

    # 5. reference models
    log(f"[4/7] reference models: {', '.join(plan['models'])}")
    rows, measured = [], {}
    costs: list[pd.DataFrame] = []  # hardware cost of each model (energymodel.report.cost)
    for m in plan["models"]:
        t = time.time()
        ms = _seeded_model(m, seed)
        prof = profile_model(ms.model, ms.input_shape, batch_size=1, batches=1,
                             timesteps=ms.timesteps, seed=seed, calibrate=True)
        r = estimate(prof, hws, mode="paper")
        costs.append(r.hardware_cost.assign(model=m))
        tot = r.totals.set_index("hardware")
        pt = prof.totals()
        row: dict[str, Any] = {"model": m, "T": ms.timesteps,
                               "input": "x".join(str(s) for s in ms.input_shape),
                               "params_M": sum(p.numel() for p in ms.model.parameters()) / 1e6,
                               "spike_rate": float(pt["spike_rate"]),
                               "gmacs": float(tot["macs"].iloc[0]) / 1e9,
                               "gsops": float(tot["sops"].iloc[0]) / 1e9}
        for h in hw_names:
            row[f"energy_mj[{h}]"] = float(tot.loc[h, "total_mj"])
        pub = PUBLISHED_MJ.get(m)
        row["published_mj"] = pub[0] if pub else float("nan")
        rows.append(row)
        if pub:
            measured[m] = (prof, ms.timesteps)
        log(f"      {m}: {time.time() - t:.1f} s")
        del ms, prof
    ref = pd.DataFrame(rows)
    ref_caption = ("Whole-model energy per image (mJ), paper convention (E_MAC x MACs + E_AC x "
                   "SOPs, exact SOPs, fp32); every model measured by the profiler on one random "
                   "image (batch 1), none estimated analytically. Random seeded weights with "
                   f"BatchNorm calibrated on the input (shift {DEFAULT_BN_SHIFT:g}): firing rates "
                   "are plausible, not those of trained networks, so the energies "
                   "differ from the published ones (trained weights, 45 nm; "
                   + "; ".join(sorted({v[1] for k, v in PUBLISHED_MJ.items()
                                       if k in set(plan['models'])}) or ["none"])
                   + "). Chips without multipliers price the analog MACs of the first layer "
                   "on their host profile." + _hypothetical_note(plan["models"]))
    files += _tables_all(ref, out / "reference_models", ref_caption, "tab:models",
                         human=reference_views(ref, hw_names, labels))
    files += figures.plot_reference_models(ref, hw_names, out / "fig5_reference_models",
                                           labels=labels)
    index += [("fig5_reference_models.png", "Whole-model energy per image of the reference "
               "models on every hardware profile (log scale; paper convention, random weights "
               "with calibrated BatchNorm), with the published 45 nm figures as black ticks."),
              ("reference_models.{csv,md,tex,json}", ref_caption)]
    cost_files, cost_index = write_hardware_cost(costs, out, labels=labels)
    files += cost_files
    index += cost_index
    pub_files, pub_caption = _published_tables(measured, out, hw_names, quick, seed, log)
    files += pub_files
    index.append(("published_rates.{csv,md,tex,json}", pub_caption))

    # 8. against an ANN: the twin of each CIFAR reference model, the break-even rate
    log("[5/7] against the ANN twin")
    files_a, index_a = _vs_ann_outputs(out, plan, hw_names, labels, seed)
    files += files_a
    index += index_a

    # 7. the hardware-cost estimate against measured chips
    log("[6/7] hardware cost against measured chips")
    files_v, index_v = _validation_outputs(out, labels)
    files += files_v
    index += index_v

    # index
    log("[7/7] README.md")
    lines = ["# Reports", "",
             "Generated by `energymodel report --out-dir reports/`"
             f"{' (quick plan)' if quick else ''} in about a minute on 2 CPU cores; do not edit "
             "by hand: the same command gives the same files. Every figure is also a PDF of the same name; every table is "
             "CSV, Markdown, LaTeX (booktabs) and JSON with its caption.", "",
             "| file | what it shows |", "|---|---|"]
    for f, what in index:
        lines.append(f"| `{f}` | {' '.join(what.split()).replace('|', '/')} |")
    lines += ["", "## Figures", "", "Figures carry no title; their captions are these."]
    for f, what in sorted((f, w) for f, w in index if f.endswith(".png")):
        lines += ["", f"![{f}]({f})", "", f"**Figure {int(f[3])}.** {' '.join(what.split())}"]
    files.append(_write(out / "README.md", "\n".join(lines) + "\n"))
    log(f"done in {time.time() - t0:.0f} s")
    return files


#: the models set against their ANN twin in reports/ (CIFAR sizes: quick to run twice)
VS_ANN_MODELS = ("sdt-2-512-cifar", "spikformer-4-384-cifar", "saformer-4-384-cifar")


def _vs_ann_outputs(out: Path, plan: dict, hw_names: list[str], labels: dict[str, str],
                    seed: int) -> tuple[list[Path], list[tuple[str, str]]]:
    """``vs_ann.{csv,md,tex,json}`` (every model x chip) and figure 8 (the first model)."""
    from ..workflow import profile_model_spec  # noqa: PLC0415

    models = [plan["breakdown_model"]] if plan["models"] is QUICK_MODELS else list(VS_ANN_MODELS)
    parts = []
    for m in models:
        run = profile_model_spec(m, hw_names, seed=seed, vs_ann=True)
        parts.append(run.report.break_even.assign(model=m))
    be = pd.concat(parts, ignore_index=True)
    caption = ("Each model against its ANN twin (every spiking neuron a ReLU quantized to "
               "ceil(log2(T + 1)) bits, run once, after Yan, Bai, Tang and Wong 2024), paper "
               "convention, per sample: the SNN (fp32, its energy at the measured input rate of "
               "its spike-driven layers, rate convention) and the twin (int8 arithmetic); "
               "break-even rate: the uniform input rate at which they cost the same (empty, "
               "with a reason, where the SNN loses even at rate 0 or wins even at rate 1). "
               "Chips without multipliers price the twin's MACs on their host. Random seeded "
               f"weights, BatchNorm calibrated (shift {DEFAULT_BN_SHIFT:g}): rates are not those "
               "of trained networks.")
    table = be[["model", "hw", "twin_bits", "twin_precision", "measured_rate", "break_even_rate",
                "snn_pj", "ann_pj", "ann_over_snn", "reason"]]
    view = pd.DataFrame({"Model": table["model"], "Chip": [labels.get(h, h) for h in table["hw"]],
                         "Measured rate": table["measured_rate"],
                         "Break-even rate": table["break_even_rate"],
                         "SNN (uJ)": table["snn_pj"] / 1e6, "Twin (uJ)": table["ann_pj"] / 1e6,
                         "Twin / SNN": table["ann_over_snn"]})
    files = [write_table(table, out / f"vs_ann.{ext}", caption=caption, label="tab:vs-ann",
                         human=[HumanTable(view, None, 2)]) for ext in ("csv", "md", "tex", "json")]
    first = be[be["model"] == models[0]]
    files += figures.plot_vs_ann(first, out / "fig8_vs_ann", models[0], labels=labels)
    index = [("fig8_vs_ann.png", f"{models[0]} against its ANN twin: energy per sample against "
              "the uniform input firing rate of the spike-driven layers, per chip (solid: the "
              "SNN, affine in the rate; dashed: the twin), the measured rate (dotted) and the "
              "break-even rate (dots); paper convention, log scale."),
             ("vs_ann.{csv,md,tex,json}", caption)]
    return files, index


def _hypothetical_note(models: list[str]) -> str:
    """A caption sentence naming the zoo configurations without a published counterpart."""
    from .. import zoo  # noqa: PLC0415

    hyp = [m for m in models if zoo.config(m).get("hypothetical")]
    if not hyp:
        return ""
    return (f" {', '.join(hyp)}: hypothetical configuration(s), no published counterpart "
            f"(SAFormer is evaluated on {zoo.configs.SAFORMER_EVALUATED}, not ImageNet).")


def _validation_outputs(out: Path, labels: dict[str, str]
                        ) -> tuple[list[Path], list[tuple[str, str]]]:
    """``validation.{csv,md,tex,json}`` and figure 7: every measured case of
    ``hwprofiles/validation/measured.yaml`` against its estimate."""
    from ..pricing import validation  # noqa: PLC0415

    cases = validation.load_cases()
    df = validation.validate(cases)
    held = df[df["role"] == "held_out"]
    caption = (f"The hardware-cost estimate against {len(cases)} measured cases on "
               f"{df['chip'].nunique()} chips (hwprofiles/validation/measured.yaml: Blouw et al. "
               "2019's keyword spotter and scaled networks on Loihi and on the Movidius Neural "
               "Compute Stick, recomputed from their power logs; Akopyan et al. 2015's "
               "TrueNorth power sweep). Each network runs at its published size; an activity "
               "the source does not give is run at both ends of its bracket (0.05 and 0.2 "
               "spikes per neuron per step); the Movidius networks are not spiking (dense: "
               "every synapse slot computed). Role fit: a constant of "
               "the chip's profile was fitted to the case (no test); held_out: a prediction. "
               f"Held out: {held['case'].nunique()} cases, predicted / measured "
               f"{held['ratio'].min():.2f} to {held['ratio'].max():.2f}, "
               f"{int(held['within'].sum())} of {len(held)} within 2x.")
    view = pd.DataFrame({
        "Case": df["case"], "Role": df["role"].str.replace("_", " "),
        "Activity": [("dense" if a != a else a) for a in df["activity"]],
        "Quantity": df["quantity"].map(
            {"period_s": "period (s)", "dynamic_j": "above idle (J)", "total_j": "total (J)",
             "power_w": "power (W)"}),
        "Measured": df["measured"], "Estimate": df["predicted"], "Ratio": df["ratio"]})
    files = [write_table(df, out / f"validation.{ext}", caption=caption, label="tab:validation",
                         human=[HumanTable(view, None, 1)])
             for ext in ("csv", "md", "tex", "json")]
    labels = {**{c: load_hardware(c).label for c in df["chip"].unique()}, **labels}
    files += figures.plot_validation(df, out / "fig7_validation", labels=labels)
    index = [("fig7_validation.png", "The hardware-cost estimate against measured chips, "
              "log-log (s, J or W as each case reports): filled markers held-out cases, hollow "
              "the cases a constant was fitted to, a bar joining the two ends of an activity "
              "bracket; grey: within 2x. " + caption.split(". Each network")[0] + "."),
             ("validation.{csv,md,tex,json}", caption)]
    return files, index


def _published_tables(measured: dict, out: Path, hw_names: list[str], quick: bool, seed: int,
                      log: Callable[[str], None]) -> tuple[list[Path], str]:
    """Table ``published_rates``: each published energy, the uniform firing rate it implies on
    cmos45nm, and the rate and energy we measured (:func:`energymodel.pricing.audit.published_table`).
    Published models outside the plan are profiled here too (not in the quick plan, whose rows
    then carry the published figures only)."""
    from ..pricing.audit import published_table  # noqa: PLC0415

    for m in PUBLISHED_MJ:
        if m not in measured and not quick:
            t = time.time()
            ms = _seeded_model(m, seed)
            measured[m] = (profile_model(ms.model, ms.input_shape, batch_size=1, batches=1,
                                         timesteps=ms.timesteps, seed=seed, calibrate=True),
                           ms.timesteps)
            log(f"      {m} (published figure): {time.time() - t:.1f} s")
    hw = "cmos45nm" if "cmos45nm" in hw_names else hw_names[0]
    df = published_table(measured, PUBLISHED_MJ, hw)
    caption = (f"Published energies per image (trained weights, 45 nm) and the uniform firing "
               f"rate each implies on {hw} in the literature convention (E_MAC x encoder MACs + "
               "E_AC x rate x dense ops of the spike-driven layers, fp32): Implied rate "
               "(implied_rate) with the encoder on all T steps, Implied, encoder once "
               "(implied_rate_encoder_once) with it charged once. Measured rate: the dense-op "
               "weighted input firing rate we measured (random weights, calibrated BatchNorm, "
               "one random image); Measured (measured_mj): our energy with exact SOPs; At "
               "measured rate (measured_mj_rate): in the literature convention at the measured "
               "rates. Empty cells (-): model not run in this plan. Sources: "
               + "; ".join(sorted(set(df["source"]))) + ".")
    return _tables_all(df, out / "published_rates", caption, "tab:published",
                       human=published_view(df)), caption


def _write(path: Path, text: str) -> Path:
    _tables.write(path, text)
    return path


# ------------------------------------------------------------------ the set, whole or not at all
_build_reports_in_place = build_reports


def build_reports(out_dir: str | os.PathLike = "reports", quick: bool = False,  # noqa: F811
                  **kwargs: Any) -> list[Path]:
    """Regenerate every table and figure in ``out_dir`` (created) and its ``README.md`` index;
    return the paths written. The set is built in a hidden sibling folder and swapped in whole
    (:func:`energymodel.common.files.atomic_directory`): a failure or a kill leaves the old set, never a
    mix; other files already in ``out_dir`` are kept."""
    from ..common.files import atomic_directory  # noqa: PLC0415

    out = Path(out_dir)
    with atomic_directory(out) as tmp:
        files = _build_reports_in_place(tmp, quick=quick, **kwargs)
    return [out / Path(f).relative_to(tmp) for f in files]

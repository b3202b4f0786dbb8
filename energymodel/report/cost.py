"""The hardware-cost part of ``energymodel report``: the reference models on each chip
(cores, chips, latency, energy with static), as a table and figure 6. The numbers are
:mod:`energymodel.pricing.mapping`'s estimate, carried by every ``EnergyReport.hardware_cost``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..common import formatting as _tables
from . import figures
from .tables import HumanTable, write_table

__all__ = ["reference_cost_table", "reference_cost_views", "write_hardware_cost"]


def reference_cost_table(costs: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per (model, chip) from ``EnergyReport.hardware_cost`` frames that carry a
    ``model`` column; chips without a mapping (technologies) are left out. Energies in mJ per
    inference, latency and streaming period in ms; ``total_mj`` = dynamic + static + running
    where they are known."""
    if not costs:
        return pd.DataFrame()
    c = pd.concat(costs, ignore_index=True)
    c = c[~c["notes"].str.contains("technology, not a chip", regex=False)]
    out = pd.DataFrame({
        "model": c["model"], "hardware": c["hardware"], "cores": c["cores"], "chips": c["chips"],
        "fits_1_chip": c["fits"], "latency_ms": c["latency_s"] * 1e3,
        "period_ms": c["period_s"] * 1e3,
        "dynamic_mj": c["dynamic_pj"] / 1e9, "static_mj": c["static_pj"] / 1e9,
        "running_mj": c["running_pj"] / 1e9,
    })
    out["total_mj"] = (out["dynamic_mj"] + out["static_mj"].fillna(0.0)
                       + out["running_mj"].fillna(0.0))
    out["notes"] = c["notes"]
    return out.reset_index(drop=True)


def reference_cost_views(table: pd.DataFrame,
                         labels: dict[str, str] | None = None) -> list[HumanTable]:
    """:func:`reference_cost_table` for people, as two tables of at most eight columns keyed by
    model and chip (the chip's ``label``): the mapping (cores, chips, fits on one chip, latency
    in one readable time unit) and the energy per inference (dynamic, static, total in one
    readable energy unit). The notes stay in the CSV / JSON."""
    labels = labels or {}
    key = pd.DataFrame({"Model": table["model"].to_numpy(),
                        "Chip": [labels.get(h, h) for h in table["hardware"]]})
    lu, lf = _tables.pick_time_unit(table["latency_ms"].to_numpy(dtype=float) * 1e-3)
    a = key.assign(**{"Cores": _tables.whole(table["cores"]).array,
                      "Chips": _tables.whole(table["chips"]).array,
                      "Fits 1 chip": [("-" if v is None or v != v else ("yes" if v else "no"))
                                      for v in table["fits_1_chip"]],
                      f"Latency ({lu})": table["latency_ms"].to_numpy(dtype=float) * 1e-3 / lf,
                      f"Period ({lu})": table["period_ms"].to_numpy(dtype=float) * 1e-3 / lf})
    e = key.assign(dynamic_pj=table["dynamic_mj"].to_numpy(dtype=float) * 1e9,
                   static_pj=table["static_mj"].to_numpy(dtype=float) * 1e9,
                   running_pj=table["running_mj"].to_numpy(dtype=float) * 1e9,
                   total_pj=table["total_mj"].to_numpy(dtype=float) * 1e9)
    e, _ = _tables.energy_columns(e, {"dynamic_pj": "Dynamic", "static_pj": "Static",
                                      "running_pj": "Running", "total_pj": "Total"})
    return [HumanTable(a, "Mapping", 2), HumanTable(e, "Energy per inference", 2)]


def write_hardware_cost(costs: list[pd.DataFrame], out: Path, dynamic: str = "paper",
                        labels: dict[str, str] | None = None
                        ) -> tuple[list[Path], list[tuple[str, str]]]:
    """Write ``hardware_cost.{csv,md,tex,json}`` (CSV / JSON: the full-precision table;
    Markdown / LaTeX: :func:`reference_cost_views`) and ``fig6_hardware_cost.{png,pdf}`` (no
    title; chips by their ``label``); return the files and the README index entries."""
    table = reference_cost_table(costs)
    if table.empty:
        return [], []
    caption = ("Reference models on each chip, an estimate (energymodel.pricing.mapping: "
               "layer-to-core packing under the chip's cited limits; depth = the longest path "
               "through the layer graph; a step lasts as long as the busiest core or the host's "
               "time per step, whichever is longer; latency = T + depth - 1 steps, period = T "
               "steps). Per inference (batch 1); dynamic = the "
               f"{dynamic} convention; static (idle power) and running (power above idle while "
               "the chip runs: management cores, host link) = power x period x chips where "
               "cited; total = their sum. The host time and running power of Loihi and the "
               "fixed power of TrueNorth are fitted to measured chips (hwprofiles/validation/"
               "measured.yaml, figure 7). Fits 1 chip: does the network fit on one chip (cores "
               "and chips are what it needs). Attention products and the analog-input layer are "
               "not mapped on neuromorphic chips; the notes column of the CSV / JSON names every "
               "check that is unavailable. Random seeded weights, calibrated BatchNorm.")
    files = [write_table(table, out / f"hardware_cost.{ext}", caption=caption,
                         label="tab:hardware_cost", human=reference_cost_views(table, labels))
             for ext in ("csv", "md", "tex", "json")]
    files += figures.plot_hardware_cost(table, out / "fig6_hardware_cost", labels=labels)
    index = [("fig6_hardware_cost.png", "The reference models mapped on each chip (an "
              "estimate, energymodel.pricing.mapping): top cores needed, middle latency per "
              "inference, bottom energy per inference with the static and running parts (white, "
              "hatched) stacked on the dynamic one (paper convention); log scales, random "
              "weights with calibrated BatchNorm."),
             ("hardware_cost.{csv,md,tex,json}", caption)]
    return files, index

"""The hardware-cost part of ``energymodel report``: the reference models on each chip
(cores, chips, latency, energy with static), as a table and figure 6. The numbers are
:mod:`energymodel.mapping`'s estimate, carried by every ``EnergyReport.hardware_cost``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from . import figures
from .tables import write_table

__all__ = ["reference_cost_table", "write_hardware_cost"]


def reference_cost_table(costs: list[pd.DataFrame]) -> pd.DataFrame:
    """One row per (model, chip) from ``EnergyReport.hardware_cost`` frames that carry a
    ``model`` column; chips without a mapping (technologies) are left out. Energies in mJ per
    inference, latency in ms; ``total_mj`` = dynamic + static where the static is known."""
    if not costs:
        return pd.DataFrame()
    c = pd.concat(costs, ignore_index=True)
    c = c[~c["notes"].str.contains("technology, not a chip", regex=False)]
    out = pd.DataFrame({
        "model": c["model"], "hardware": c["hardware"], "cores": c["cores"], "chips": c["chips"],
        "fits_1_chip": c["fits"], "latency_ms": c["latency_s"] * 1e3,
        "dynamic_mj": c["dynamic_pj"] / 1e9, "static_mj": c["static_pj"] / 1e9,
    })
    out["total_mj"] = out["dynamic_mj"] + out["static_mj"].fillna(0.0)
    out["notes"] = c["notes"]
    return out.reset_index(drop=True)


def write_hardware_cost(costs: list[pd.DataFrame], out: Path, dynamic: str = "paper"
                        ) -> tuple[list[Path], list[tuple[str, str]]]:
    """Write ``hardware_cost.{csv,md,tex,json}`` and ``fig6_hardware_cost.{png,pdf}``; return
    the files and the README index entries."""
    table = reference_cost_table(costs)
    if table.empty:
        return [], []
    caption = ("Reference models on each chip, an estimate (energymodel.mapping: layer-to-core "
               "packing under the chip's cited limits, latency from its tick or per-op times, "
               "static power x latency x chips). Per inference (batch 1): latency in ms, "
               f"energy in mJ; dynamic = the {dynamic} convention, total = dynamic + static "
               "where a static power is cited. fits_1_chip: does the network fit on one chip "
               "(cores and chips are what it needs). Attention products and the analog-input "
               "layer are not mapped on neuromorphic chips; the notes column names every check "
               "that is unavailable. Random seeded weights, calibrated BatchNorm.")
    files = [write_table(table, out / f"hardware_cost.{ext}", caption=caption,
                         label="tab:hardware_cost") for ext in ("csv", "md", "tex", "json")]
    files += figures.plot_hardware_cost(table, out / "fig6_hardware_cost",
                                        title="Reference models on each chip (estimate): "
                                        "cores, latency, energy with static")
    index = [("fig6_hardware_cost.png", "The reference models mapped on each chip (an "
              "estimate): cores needed, latency per inference and energy per inference with "
              "the static part stacked on the dynamic one (log scales)."),
             ("hardware_cost.{csv,md,tex,json}", caption)]
    return files, index

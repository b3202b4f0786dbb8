"""Plausibility checks of a :class:`~energymodel.counting.Profile`: the warnings a careful
researcher wants before an energy goes into a paper (``Profile.diagnostics()``).

Every check reads the profile only (its counts and what the profiler noted about the model in
``Profile.model_info``); none prices, none runs the model. Each finding is one row
``(level, site, message, check)``:

====================  =========================================================================
check                 fires when
====================  =========================================================================
silent_network        no neuron site emitted a spike (every firing rate is 0)
silent_layer          a neuron site's rate is :data:`SILENT_RATE` (while others fire)
saturated_layer       a neuron site's rate is >= :data:`SATURATED_RATE`
integer_inputs        (a note) every layer that read integer spikes, once, with its share of
                      SOPs and the convention that counted them
no_rule               an op that computes ran and has no count rule (not counted)
uncalibrated          a BatchNorm layer still had its initial running statistics (mean 0,
                      var 1) when profiling began: random weights, never calibrated
neuron_never_ran      a recognised neuron module of the model never ran under the profiler
unrecognised_neuron   threshold-like ops (``gt``, ``ge``, ``lt``, ``le``, ``heaviside``) ran in
                      a module outside every recognised neuron (named: register it)
no_neuron             the model holds no recognised neuron at all (one line)
timesteps_disagree    neuron sites ran different numbers of steps per call (named)
late_neuron           a neuron module created during the profiled forward: attached to the
                      model, it is hooked then and counted (a note); never attached where the
                      profiler sees it, it is not counted (a warning, named)
weight_only           (a note, not a warning) an op without a rule ran on weights, buffers or
                      constants only (a ``sqrt`` of a parameter): listed apart
====================  =========================================================================
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from .columns import EDGE_SEP

if TYPE_CHECKING:  # pragma: no cover  (a view of the Profile: no runtime import, no cycle)
    from .profile import Profile

__all__ = [
    "SILENT_RATE",
    "SATURATED_RATE",
    "GROUP_AFTER",
    "COLUMNS",
    "diagnose",
    "warning_lines",
    "seen_timesteps",
]

#: a neuron site whose firing rate (spikes_out / neuron_updates) equals this is silent
SILENT_RATE: float = 0.0
#: a neuron site firing at this rate or above is saturated (nearly every neuron, every step)
SATURATED_RATE: float = 0.95
#: :func:`warning_lines` prints one line per finding up to this many of one check, then one
#: grouped line for that check
GROUP_AFTER: int = 3
#: columns of :func:`diagnose`'s table
COLUMNS = ["level", "site", "message", "check"]

#: grouped-line wording per check: "<n> <label>: site, site, ..."
_LABELS = {
    "silent_layer": "neuron layers never spiked (rate 0)",
    "saturated_layer": f"neuron layers fire at rate >= {SATURATED_RATE:g}",
    "no_rule": "ops without a count rule ran (not counted)",
    "uncalibrated": "BatchNorm layers at initial statistics (mean 0, var 1): random, "
    "uncalibrated weights",
    "neuron_never_ran": "neuron modules never ran",
    "unrecognised_neuron": "modules with threshold ops outside every recognised neuron",
}


def diagnose(profile: Profile) -> pd.DataFrame:
    """The findings on ``profile``: ``DataFrame(level, site, message, check)``, one row each,
    empty when nothing is implausible. ``level`` is ``warning`` for every check here."""
    rows: list[dict[str, Any]] = []

    def warn(check: str, site: str, message: str, level: str = "warning") -> None:
        rows.append({"level": level, "site": site, "message": message, "check": check})

    lay = profile.layers
    neu = lay[(lay["kind"] == "neuron") & (lay["neuron_updates"] > 0)]
    if len(neu) and (neu["spikes_out"] == 0).all():
        warn("silent_network", "", f"no neuron spiked: all {len(neu)} neuron site(s) have rate "
             "0, so no spike-driven work is counted; check the input scale, the weights "
             "(random? calibrated?) and the thresholds")
    else:
        for r in neu.itertuples(index=False):
            rate = r.spikes_out / r.neuron_updates
            if rate <= SILENT_RATE:
                warn("silent_layer", r.site, f"neuron site '{r.site}' never spiked (rate 0)")
            elif rate >= SATURATED_RATE:
                warn("saturated_layer", r.site, f"neuron site '{r.site}' fires at rate "
                     f"{rate:.3f} (>= {SATURATED_RATE:g}): nearly every neuron, every step")
    ints = lay[(lay["in_kind"] == "integer") & (lay["kind"].isin(("synaptic", "attention")))] \
        if "in_kind" in lay else lay.iloc[0:0]
    if len(ints):
        total = float(lay["acs"].sum())
        how = ("a value k costs k accumulates; --integer-spikes mac / "
               "CountOptions(integer_spikes='mac') counts one MAC per non-zero element instead"
               if profile.model_info.get("integer_spikes", "acs") == "acs" else
               "counted as one MAC per non-zero element (integer_spikes='mac')")
        parts = ", ".join(f"{r.site} ({(r.acs / total if total > 0 else 0):.0%} of SOPs)"
                          for r in ints.itertuples(index=False))
        warn("integer_inputs", "", f"{len(ints)} layer(s) read integer spikes (residual sums: "
             f"values 0, 1, 2...): {parts}; {how}", level="note")
    info = profile.model_info
    thresholds: dict[str, list[str]] = {}
    for e in info.get("threshold_ops", []):
        module, op, n = e.split(EDGE_SEP)
        thresholds.setdefault(module, []).append(f"'{op}' {n} time(s)")
    for module, ops in thresholds.items():
        warn("unrecognised_neuron", module, f"no neuron recognised in '{module}': threshold "
             f"op(s) {', '.join(ops)} ran there outside every known neuron, so its spikes and "
             "updates are not counted; register its class with em.register_neuron(cls, ...)")
    if not info.get("neurons") and not info.get("created_neurons") and "neurons" in info \
            and len(lay):
        warn("no_neuron", "", "no neuron recognised in this model: no firing rate, no neuron "
             "update and no spike-driven accumulate can be told apart; if it is a spiking "
             "network, register its neuron class with em.register_neuron(cls, ...)")
    for e in info.get("weight_only_ops", []):
        op, n = e.split(EDGE_SEP)
        warn("weight_only", op, f"op '{op}' ran {n} time(s) on weights, buffers or constants "
             "only (no activation): not counted, and not a per-sample cost", level="note")
    for name, n in sorted(profile.unrecognized.items()):
        warn("no_rule", name, f"op '{name}' ran {n} time(s) and has no count rule: not counted "
             "(add one with energymodel.counting.rules.set_rule)")
    for name in info.get("uncalibrated_bn", []):
        warn("uncalibrated", name, f"BatchNorm '{name}' had its initial running statistics "
             "(mean 0, var 1): the weights look random and uncalibrated; load a checkpoint or "
             "calibrate (energymodel profile --calibrate)")
    given = info.get("timesteps")
    roots, cps = int(info.get("root_calls", 0) or 0), int(info.get("calls_per_sample", 1) or 1)
    if given and roots:
        single = lay[(lay["kind"] == "neuron") & (lay["single_step"] > 0)]
        for r in single.itertuples(index=False):
            steps = r.calls * cps / roots
            if abs(steps - given) > 1e-9:
                warn("timesteps", r.site, f"timesteps={given} was given, but single-step neuron "
                     f"site '{r.site}' ran {steps:g} step(s) per sample: the model does not loop "
                     "over time by itself, so its counts and per-timestep rates are for "
                     f"{steps:g} step(s), not {given}")
    steps = lay.loc[(lay["kind"] == "neuron") & (lay["timesteps"] > 0), ["site", "timesteps"]]
    if steps["timesteps"].nunique() > 1:
        usual = steps["timesteps"].mode().iloc[0]
        for r in steps[steps["timesteps"] != usual].itertuples(index=False):
            warn("timesteps_disagree", r.site, f"layers disagree on T: neuron site '{r.site}' "
                 f"ran {r.timesteps:g} steps per call where the other neuron sites ran "
                 f"{usual:g} (a neuron run over T x B instead of T leaks state between samples; "
                 "check its input layout)")
    for name in info.get("late_neurons", []):
        warn("late_neuron", name, f"neuron module '{name}' was created during the profiled "
             "forward and never attached where the profiler saw it: its spikes and updates are "
             "not counted (its ops ran op by op); create it in __init__")
    for name in info.get("created_neurons", []):
        warn("late_neuron", name, f"neuron module '{name}' was created during the profiled "
             "forward: hooked when attached and counted from its first call", level="note")
    ran = set(lay.loc[lay["kind"] == "neuron", "layer"])
    for name in list(info.get("neurons", [])) + list(info.get("created_neurons", [])):
        if name not in ran:
            warn("neuron_never_ran", name, f"neuron module '{name}' is in the model but never "
                 "ran (or emitted no spike tensor) while profiled")
    return pd.DataFrame(rows, columns=COLUMNS)


def warning_lines(diag: pd.DataFrame, group_after: int = GROUP_AFTER) -> list[str]:
    """One ``warning: ...`` line per finding; a check with more than ``group_after`` findings
    gets one grouped line naming its sites instead."""
    lines: list[str] = []
    for check, g in diag.groupby("check", sort=False):
        if len(g) <= group_after or check not in _LABELS:
            lines += [f"{lvl}: {msg}" for lvl, msg in zip(g["level"], g["message"])]
        else:
            sites = [s for s in g["site"] if s] or ["(model)"]
            shown = ", ".join(sites[:group_after])
            more = f", ... ({len(sites) - group_after} more)" if len(sites) > group_after else ""
            lines.append(f"{g['level'].iloc[0]}: {len(g)} {_LABELS[check]}: {shown}{more}")
    return lines


def seen_timesteps(profile: Profile) -> int | None:
    """The T the profiler saw on the neurons (largest over neuron sites): a multi-step site's
    leading dimension (or the ``timesteps`` given), else, for single-step neurons run in a loop,
    their calls per sample. ``None`` when no neuron ran."""
    lay = profile.layers
    neu = lay[lay["kind"] == "neuron"]
    if not len(neu):
        return None
    roots = int(profile.model_info.get("root_calls", 0) or 0)
    cps = int(profile.model_info.get("calls_per_sample", 1) or 1)
    best = 0.0
    for st, calls, single in zip(neu["timesteps"], neu["calls"], neu["single_step"]):
        t = float(st)
        if (single or t <= 1) and roots > 0:
            t = calls * cps / roots  # a single-step neuron: one step per call
        best = max(best, t)
    return int(round(best)) if best > 0 else None

"""The hardware-cost estimate against measured chips: the cases of
``hwprofiles/validation/measured.yaml``, each run through the real flow (a network at its
published size -> profiler -> :func:`~energymodel.pricing.energy.estimate` -> mapping) and set
beside its measurement.

A case's ``role`` says whether it set a constant of the chip's profile (``fit``: it tests
nothing) or is a prediction (``held_out``). A non-spiking network's case (``activity:
dense``) has no activity to set. Activity the source measured is used as given;
otherwise the case runs at both ends of its ``low`` / ``high`` bracket, and a held-out case
passes only when both ends land within 2x.

Predicted quantities (per inference, energies in J):

* ``period_s``: the mapping's streaming period (T steps of max(busiest core, host per step));
* ``dynamic_j``: energy above idle, the per-op energy (``full`` convention) + running power x
  period, as the measurements subtract the idle power;
* ``total_j``: ``dynamic_j`` + static power x period;
* ``power_w``: ``total_j`` / ``period_s``.

A bad row (a missing or unknown field, a value out of range, a citation naming no source) is
one :class:`~energymodel.pricing.hardware.HardwareError` naming the file, the row and the field.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .hardware import HardwareError, _cites, _is_number, _parse, _read_text, _Unreadable, \
    hardware_search_path, is_hardware_path, list_hardware

__all__ = ["SCHEMA", "QUANTITIES", "MeasuredCase", "default_cases_path", "load_cases",
           "predict", "validate", "RATIO_LIMIT", "DENSE", "ARG_LIMITS"]

SCHEMA = "energymodel.validation/1"
#: a held-out prediction passes within this factor of its measurement (both ways)
RATIO_LIMIT = 2.0
#: quantity -> (unit, plausible upper bound): larger values are unit mistakes
QUANTITIES: dict[str, tuple[str, float]] = {
    "period_s": ("s", 3600.0),
    "dynamic_j": ("J", 1e3),
    "total_j": ("J", 1e3),
    "power_w": ("W", 1e4),
}
_ROLES = ("fit", "held_out")
_CASE_KEYS = {"id", "chip", "role", "source", "network", "args", "input_cores", "activity",
              "measured", "note"}


#: the activity of a non-spiking network's case (``activity: dense``): it has no spikes, every
#: synapse slot is computed; shown as "dense"
DENSE = float("nan")


@dataclass(frozen=True)
class MeasuredCase:
    """One measured run of a network on a chip (see the module docstring)."""

    id: str
    chip: str
    role: str
    source: str
    network: str
    args: dict[str, Any]
    activity: tuple[float, ...]        # one value (measured) or (low, high); (DENSE,)
    activity_measured: bool
    measured: dict[str, float]
    input_cores: int | None = None
    note: str = ""
    file: str = ""


#: largest value of a builder argument in a case file (memory: the networks are built here)
ARG_LIMITS: dict[str, int] = {"n_branches": 64, "depth": 64, "timesteps": 100, "ticks": 100}


def _builder_args(fn: Any) -> list[str]:
    import inspect  # noqa: PLC0415

    ps = list(inspect.signature(fn).parameters.values())[1:]   # the first is the activity
    return [p.name for p in ps if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def default_cases_path() -> Path:
    """The shipped ``hwprofiles/validation/measured.yaml`` (first one found on the hardware
    search path)."""
    for folder in hardware_search_path():
        p = folder / "validation" / "measured.yaml"
        if p.is_file():
            return p
    return hardware_search_path()[-1] / "validation" / "measured.yaml"


def _fail(file: str, row: str, fld: str, msg: str) -> HardwareError:
    return HardwareError(f"{file}: {row}: {fld}: {msg}")


def load_cases(path: str | Path | None = None) -> list[MeasuredCase]:
    """Read and check every case of a validation file (default: the shipped one)."""
    from ..zoo.measured import BUILDERS, DENSE_BUILDERS  # noqa: PLC0415  (models sit below pricing)

    p = Path(path) if path is not None else default_cases_path()
    file = str(p)
    try:
        text = _read_text(p)
    except (_Unreadable, FileNotFoundError) as e:
        raise HardwareError(f"{file}: <file>: cannot read: {e}") from None
    data, _lines, problems = _parse(text, file)
    if problems:
        pr = problems[0]
        raise HardwareError(f"{file}: {pr.field}: {pr.message}")
    if not isinstance(data, dict):
        raise _fail(file, "<file>", "<yaml>", "a mapping with schema, sources and cases expected")
    if data.get("schema") != SCHEMA:
        raise _fail(file, "<file>", "schema", f"must be {SCHEMA!r}, got {data.get('schema')!r}")
    sources = data.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise _fail(file, "<file>", "sources", "a mapping of source keys to references expected")
    rows = data.get("cases")
    if not isinstance(rows, list) or not rows:
        raise _fail(file, "<file>", "cases", "a list of cases expected")
    out: list[MeasuredCase] = []
    seen: set[str] = set()
    for i, r in enumerate(rows):
        row = f"case {i + 1}"
        if not isinstance(r, dict):
            raise _fail(file, row, "<case>", "a mapping expected")
        if isinstance(r.get("id"), str) and r["id"].strip():
            row = f"case {i + 1} ({r['id']})"
        for k in r:
            if k not in _CASE_KEYS:
                raise _fail(file, row, str(k), f"unknown field (known: {', '.join(sorted(_CASE_KEYS))})")
        for k in ("id", "chip", "role", "source", "network", "activity", "measured"):
            if k not in r:
                raise _fail(file, row, k, "missing")
        for k in ("id", "chip", "source", "network"):
            if not isinstance(r[k], str) or not r[k].strip():
                raise _fail(file, row, k, "must be non-empty text")
        if r["id"] in seen:
            raise _fail(file, row, "id", f"{r['id']!r} appears twice")
        seen.add(r["id"])
        if not is_hardware_path(r["chip"]) and r["chip"] not in list_hardware():
            raise _fail(file, row, "chip", f"unknown hardware profile {r['chip']!r} (known: "
                        f"{', '.join(list_hardware())}, or a path to a .yaml file)")
        if r["role"] not in _ROLES:
            raise _fail(file, row, "role", f"must be one of {', '.join(_ROLES)}, got {r['role']!r}")
        if not any(_cites(r["source"], k) for k in sources):
            raise _fail(file, row, "source", f"names no key of 'sources' ({', '.join(sources)})")
        if r["network"] not in BUILDERS:
            raise _fail(file, row, "network", f"unknown builder {r['network']!r} (known: "
                        f"{', '.join(sorted(BUILDERS))})")
        args = r.get("args", {}) or {}
        if not isinstance(args, dict) or not all(
                isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 4096
                for v in args.values()):
            raise _fail(file, row, "args", "a mapping of whole numbers from 0 to 4096 expected")
        known = _builder_args(BUILDERS[r["network"]])
        for k, v in args.items():
            if k not in known:
                raise _fail(file, row, f"args.{k}", f"{r['network']!r} takes no such argument "
                            f"(known: {', '.join(known) or 'none'})")
            top = ARG_LIMITS.get(k)
            if top is not None and v > top:
                raise _fail(file, row, f"args.{k}", f"at most {top} (a network this size would "
                            f"not fit in memory here), got {v}")
        ic = r.get("input_cores")
        if ic is not None and (not isinstance(ic, int) or isinstance(ic, bool) or not 1 <= ic <= 1 << 20):
            raise _fail(file, row, "input_cores", f"a whole number >= 1 expected, got {ic!r}")
        act = r["activity"]
        dense_net = r["network"] in DENSE_BUILDERS
        if dense_net or act == "dense":
            if act != "dense":
                raise _fail(file, row, "activity", f"{r['network']!r} is not spiking: its "
                            "activity is 'dense'")
            if not dense_net:
                raise _fail(file, row, "activity", "'dense' belongs to a non-spiking network "
                            f"({', '.join(sorted(DENSE_BUILDERS))})")
            act = None
        elif not isinstance(act, dict):
            raise _fail(file, row, "activity", "a mapping with value, or low and high, expected")
        for k in (act or {}):
            if k not in ("value", "low", "high", "measured"):
                raise _fail(file, row, f"activity.{k}", "unknown field (known: value, low, high, measured)")
        keys = () if act is None else ("value",) if "value" in act else ("low", "high")
        for k in keys:
            v = act.get(k)
            if not _is_number(v) or not 0.0 < float(v) <= 1.0:
                raise _fail(file, row, f"activity.{k}", f"spikes per neuron per step in (0, 1] "
                            f"expected, got {v!r}")
        if act is not None and "value" not in act and float(act["low"]) > float(act["high"]):
            raise _fail(file, row, "activity.low", "above activity.high")
        measured_act = act is None or bool(act.get("measured", False))
        if act is not None and measured_act and "value" not in act:
            raise _fail(file, row, "activity.measured", "a measured activity is one value")
        meas = r["measured"]
        if not isinstance(meas, dict) or not meas:
            raise _fail(file, row, "measured", f"a mapping of quantities expected ({', '.join(QUANTITIES)})")
        vals: dict[str, float] = {}
        for k, v in meas.items():
            if k not in QUANTITIES:
                raise _fail(file, row, f"measured.{k}", f"unknown quantity (known: {', '.join(QUANTITIES)})")
            unit, top = QUANTITIES[k]
            if not _is_number(v) or not 0.0 < float(v) <= top:
                raise _fail(file, row, f"measured.{k}", f"a number in (0, {top:g}] {unit} expected, "
                            f"got {v!r}")
            vals[k] = float(v)
        out.append(MeasuredCase(
            id=r["id"], chip=r["chip"], role=r["role"], source=r["source"], network=r["network"],
            args=dict(args),
            activity=(DENSE,) if act is None else tuple(float(act[k]) for k in keys),
            activity_measured=measured_act, measured=vals, input_cores=ic,
            note=str(r.get("note", "")), file=file))
    return out


def predict(case: MeasuredCase, activity: float, hardware: Any = None) -> dict[str, float]:
    """The estimate of one case at one activity: the quantities of :data:`QUANTITIES` plus
    ``latency_s``, ``cores``, ``chips`` and ``depth``."""
    from ..counting import profile  # noqa: PLC0415
    from ..zoo.measured import build  # noqa: PLC0415
    from . import mapping  # noqa: PLC0415
    from .energy import estimate  # noqa: PLC0415
    from .hardware import load_hardware  # noqa: PLC0415

    hw = hardware if hardware is not None else load_hardware(case.chip)
    model, x, T = build(case.network, None if math.isnan(activity) else activity, case.args)
    prof = profile(model, x, batch_dim=1)
    rep = estimate(prof, [hw], mode="full", timesteps=T)
    dyn = float(rep.totals["total_pj"].iloc[0])
    mp = mapping.map_network(prof, hw, T, input_cores=case.input_cores)
    cost = mapping.hardware_cost(prof, [hw], {hw.name: dyn}, mode="full", timesteps=T,
                                 input_cores=case.input_cores).iloc[0]
    run = 0.0 if math.isnan(cost["running_pj"]) else float(cost["running_pj"])
    static = 0.0 if math.isnan(cost["static_pj"]) else float(cost["static_pj"])
    period = float(cost["period_s"])
    dynamic_j = (dyn + run) * 1e-12
    total_j = dynamic_j + static * 1e-12
    return {"period_s": period, "latency_s": float(cost["latency_s"]), "dynamic_j": dynamic_j,
            "total_j": total_j, "power_w": total_j / period if period > 0 else float("nan"),
            "cores": math.nan if mp.cores is None else float(mp.cores),
            "chips": math.nan if mp.chips is None else float(mp.chips), "depth": float(mp.depth)}


def validate(cases: Sequence[MeasuredCase] | None = None) -> "Any":
    """Every case at every activity it is run at, beside its measurements: a DataFrame with
    one row per (case, activity, quantity): ``case, chip, role, activity, activity_measured,
    quantity, measured, predicted, ratio`` (predicted / measured) and ``within`` (the ratio
    within :data:`RATIO_LIMIT` either way)."""
    import pandas as pd  # noqa: PLC0415

    cases = load_cases() if cases is None else list(cases)
    rows = []
    for c in cases:
        for a in c.activity:
            pred = predict(c, a)
            for q, m in c.measured.items():
                p = pred[q]
                ratio = p / m
                rows.append({"case": c.id, "chip": c.chip, "role": c.role, "activity": a,
                             "activity_measured": c.activity_measured, "quantity": q,
                             "measured": m, "predicted": p, "ratio": ratio,
                             "within": bool(1 / RATIO_LIMIT <= ratio <= RATIO_LIMIT),
                             "cores": pred["cores"], "depth": pred["depth"]})
    return pd.DataFrame(rows)


_UNIT_SCALE = {"period_s": ("ms", 1e3), "dynamic_j": ("uJ", 1e6), "total_j": ("uJ", 1e6),
               "power_w": ("mW", 1e3)}


def summary_text(df: "Any", width: int = 80) -> str:
    """The validation table as plain text within ``width`` columns: per chip a heading line,
    then one line per case, activity and quantity; and a closing line per role (wrapped): how
    many cases, and the range of predicted / measured."""
    import textwrap  # noqa: PLC0415

    from ..common.formatting import format_sig  # noqa: PLC0415

    head = (f"{'case':<24}{'role':<5}{'activity':>8}  {'quantity':<9}"
            f"{'measured':>10}{'predicted':>11}{'ratio':>6}  2x")
    lines = [head, "-" * len(head)]
    for chip in dict.fromkeys(df["chip"]):
        lines.append(f"[{chip}]")
        for r in df[df["chip"] == chip].itertuples(index=False):
            unit, f = _UNIT_SCALE[r.quantity]
            act = "dense" if math.isnan(r.activity) else (
                f"{r.activity:g}" + ("" if r.activity_measured else "*"))
            role = "fit" if r.role == "fit" else "held"
            lines.append(f"{r.case:<24}{role:<5}{act:>8}  {r.quantity:<9}"
                         f"{format_sig(r.measured * f) + ' ' + unit:>10}"
                         f"{format_sig(r.predicted * f) + ' ' + unit:>11}{r.ratio:>6.2f}  "
                         f"{'yes' if r.within else 'NO'}")
    notes = ["* activity not measured: a bracket end (spikes per neuron per step); dense: a "
             "non-spiking network; held: held out (a prediction), fit: a constant was fitted "
             "to the case (no test)"]
    for role in ("held_out", "fit"):
        d = df[df["role"] == role]
        if not len(d):
            continue
        chips = ", ".join(sorted(set(d["chip"])))
        word = "predicted (held out)" if role == "held_out" else "fitted (set constants; no test)"
        notes.append(f"{word}: {d['case'].nunique()} case(s) on {chips}; predicted / measured "
                     f"{d['ratio'].min():.2f} to {d['ratio'].max():.2f}; within {RATIO_LIMIT:g}x: "
                     f"{int(d['within'].sum())} of {len(d)}")
    for n in notes:
        lines += textwrap.wrap(n, width=max(40, width), subsequent_indent="  ")
    return "\n".join(lines)

"""Against what? An SNN priced beside its ANN twin (:func:`energymodel.counting.twin.ann_twin`),
and the input firing rate at which it stops saving energy.

The SNN's energy per sample is affine in a uniform input firing rate p of its spike-driven
sites (every synaptic and attention site with spike inputs priced at p x its dense ops, the
literature's rate convention: :func:`energymodel.pricing.audit.apply_rates`):
``E_snn(p) = E_snn(0) + p (E_snn(1) - E_snn(0))``, so the break-even rate
``p* = (E_ann - E_snn(0)) / (E_snn(1) - E_snn(0))`` is exact within the convention. The twin is
priced at its own precision (a k-bit twin at the narrowest cited integer arithmetic that holds
it: int8 for k <= 8), with the same convention (``paper`` or ``full``) and chip; a chip without
multipliers prices the twin's MACs on its declared host, and the report's notes say so.

In ``full``, the rate re-prices the synaptic operations and the memory events that follow them
(weight, membrane and input-spike reads and writes, in proportion to the input events:
:func:`~energymodel.pricing.audit.apply_rates`); the neurons' own updates and output spikes
(their routing) stay as measured, so p* is the input rate at which the synaptic side makes up
the difference.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import pandas as pd

from ..common.errors import UserError
from ..counting.profile import Profile
from .audit import apply_rates, measured_rate, uniform_rate
from .energy import EnergyReport, _as_profiles
from .energy import estimate as _estimate
from .hardware import HardwareProfile

__all__ = ["BREAK_EVEN_COLUMNS", "break_even", "estimate"]

#: columns of ``EnergyReport.break_even`` (energies pJ per sample)
BREAK_EVEN_COLUMNS = ["hw", "mode", "twin_bits", "twin_precision", "measured_rate",
                      "break_even_rate", "snn_pj", "ann_pj", "ann_over_snn", "reason",
                      "snn_rate0_pj", "snn_rate1_pj"]


def _totals_pj(rep: EnergyReport) -> dict[str, float]:
    """Each chip's total energy per sample (pJ), in the report's order."""
    return {str(h): float(v) for h, v in zip(rep.totals["hardware"], rep.totals["total_pj"])}


def _check_twin_ran_once(snn: Profile, twin: Profile) -> None:
    """A twin runs one step: its dense MACs per sample are the SNN's over T (each weight layer
    once instead of T times). A twin with many more ran its input's time steps (a model whose
    input carries T): refuse rather than price T passes as one ANN inference."""
    T = twin.model_info.get("twin_of_T")
    snn_d = float(snn.totals()["dense_macs"]) / max(snn.samples, 1)
    tw_d = float(twin.totals()["dense_macs"]) / max(twin.samples, 1)
    if T and snn_d > 0 and tw_d > 1.5 * snn_d / T:
        raise UserError(f"the ANN twin did not run once: {tw_d / (snn_d / T):.2g} x the SNN's "
                        f"dense MACs per step (T = {T}); give it inputs for one step")


def break_even(snn: Profile, twin: Profile, hardware: "Sequence[str | HardwareProfile]",
               mode: str = "paper", precision: str = "fp32") -> pd.DataFrame:
    """Per chip: the twin's energy, the SNN's at its measured rate, and the break-even rate p*
    (:data:`BREAK_EVEN_COLUMNS`; ``break_even_rate`` NaN, with a ``reason``, where the SNN costs
    more even at rate 0 or less even at rate 1). Energies are pJ per sample; ``snn_rate0_pj`` /
    ``snn_rate1_pj``: the SNN at input rate 0 and 1 (its energy line)."""
    bits = twin.model_info.get("twin_bits")
    tprec = twin.model_info.get("twin_precision", "fp32")
    _check_twin_ran_once(snn, twin)
    p_meas = measured_rate(snn)
    # three pricings in all (not three per chip): the twin, and the SNN at rates 0 and 1
    ann = _totals_pj(_estimate(twin, hardware, mode=mode, precision=tprec))
    e0, e1 = (_totals_pj(_estimate(apply_rates(snn, uniform_rate(p)).profile, hardware,
                                   mode=mode, sops="rate", precision=precision))
              for p in (0.0, 1.0))
    kinds = {h.name: h.kind for h in _as_profiles(hardware)}
    rows = []
    for name in ann:
        a, b = e0[name], e1[name] - e0[name]
        snn_at = a + b * (p_meas if not math.isnan(p_meas) else 0.0)
        star, reason = math.nan, ""
        if b <= 0:
            reason = ("a dense accelerator: it computes every synapse slot, so the SNN's energy "
                      "does not depend on its rate" if kinds.get(name) == "accelerator" else
                      "the SNN's energy does not grow with its rate (no spike-driven work)")
        else:
            star = (ann[name] - a) / b
            if star < 0:
                reason = "the SNN costs more than its twin even at rate 0"
                star = math.nan
            elif star > 1:
                reason = "the SNN costs less than its twin even at rate 1"
                star = math.nan
        rows.append({"hw": name, "mode": mode, "twin_bits": bits, "twin_precision": tprec,
                     "measured_rate": p_meas, "break_even_rate": star, "snn_pj": snn_at,
                     "ann_pj": ann[name],
                     "ann_over_snn": ann[name] / snn_at if snn_at > 0 else math.nan,
                     "reason": reason, "snn_rate0_pj": e0[name], "snn_rate1_pj": e1[name]})
    return pd.DataFrame(rows, columns=BREAK_EVEN_COLUMNS)


def estimate(profile: Profile, hardware: Any, mode: str = "paper", *,
             vs_ann: Profile | None = None, **options: Any) -> EnergyReport:
    """:func:`energymodel.pricing.energy.estimate`, and with ``vs_ann`` (an ANN twin's
    profile, :func:`energymodel.ann_twin`) also ``rep.break_even`` (:func:`break_even`, at the
    report's chips, convention and precision)."""
    rep = _estimate(profile, hardware, mode, **options)
    if vs_ann is not None:
        rep.break_even = break_even(profile, vs_ann, rep.hardware, mode,
                                    precision=options.get("precision", "fp32"))
    return rep

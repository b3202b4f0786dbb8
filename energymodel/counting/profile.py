"""``Profile``: what a model did, as summed counts per op site, with several views.

A Profile holds sums only (counts over every call and sample the profiler saw); rates and
per-sample figures are derived when read. That makes :meth:`Profile.merge` exact: the profile of
two batches equals the merge of the profiles of each.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable

import numpy as np
import pandas as pd

from .columns import (
    EDGE_SEP,
    ALL_COLUMNS,
    COUNT_COLUMNS,
    ID_COLUMNS,
    INPUT_KIND_COLUMN,
    RATE_COLUMNS,
    STATIC_COLUMNS,
    STEP_COLUMNS,
)

__all__ = ["Profile"]

_STEP_SUMS = ("neuron_updates", "spikes_out")


def _input_kind(row: pd.Series) -> str:
    calls, spike, binary = row["calls"], row["in_spike_calls"], row["in_binary_calls"]
    if row["in_elems"] == 0 or calls == 0:
        return "none"
    if spike == 0:
        return "analog"
    if spike < calls:
        return "mixed"
    return "binary" if binary == calls else "integer"


class Profile:
    """Counts recorded by the profiler, one row per executed op site.

    Args:
        raw: one row per site with the id, count and static columns of
            :mod:`energymodel.counting.columns` (counts are sums over everything seen).
        samples: how many input samples the counts cover (batch size x calls).
        steps: per-timestep sums of neuron sites (columns ``site, layer, t, neuron_updates,
            spikes_out``), or ``None``.
        unrecognized: aten ops that ran, do compute, and have no count rule: name -> calls.
            They are listed, never silently counted as zero.
        batch_rates: optional per-batch firing rates (``batch, site, rate``) for spread statistics.
        model_stats: what the model held when profiling began (parameter and buffer bytes,
            connection weights and zeros: :func:`energymodel.counting.neurobench.model_statistics`),
            for NeuroBench's Footprint and ConnectionSparsity; ``None`` when unknown.
        model_info: what the profiler noted about the model, for :meth:`diagnostics`:
            ``neurons`` (recognised neuron modules), ``uncalibrated_bn`` (BatchNorm layers whose
            running statistics were still their initial values), ``root_calls`` (model calls
            counted), ``calls_per_sample``, ``layer_edges`` (the layer graph: see
            :meth:`layer_edges`).
    """

    def __init__(
        self,
        raw: pd.DataFrame,
        samples: int,
        steps: pd.DataFrame | None = None,
        unrecognized: dict[str, int] | None = None,
        batch_rates: pd.DataFrame | None = None,
        model_stats: dict[str, float] | None = None,
        model_info: dict[str, Any] | None = None,
    ) -> None:
        missing = [c for c in list(ID_COLUMNS) + list(COUNT_COLUMNS) if c not in raw.columns]
        if missing:
            raise ValueError(f"Profile: raw table lacks columns {missing}")
        raw = raw.copy()
        for c in STATIC_COLUMNS:
            if c not in raw.columns:
                raw[c] = 0
        for c in list(COUNT_COLUMNS) + list(STATIC_COLUMNS):
            raw[c] = pd.to_numeric(raw[c]).astype("float64")
        if raw["site"].duplicated().any():
            dup = raw.loc[raw["site"].duplicated(), "site"].tolist()
            raise ValueError(f"Profile: duplicate op sites {dup}")
        self._raw = raw.reset_index(drop=True)[list(ID_COLUMNS) + list(COUNT_COLUMNS) + list(STATIC_COLUMNS)]
        self.samples = int(samples)
        if steps is None:
            steps = pd.DataFrame(columns=["site", "layer", "t", *_STEP_SUMS])
        self._steps = steps.reset_index(drop=True)
        self.unrecognized: dict[str, int] = dict(unrecognized or {})
        self._batch_rates = batch_rates
        self.model_stats: dict[str, float] | None = dict(model_stats) if model_stats else None
        self.model_info: dict[str, Any] = dict(model_info or {})

    _TABLES = ("_raw", "_steps", "_batch_rates")

    @classmethod
    def deferred(
        cls,
        build: "Callable[[], tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None]]",
        samples: int,
        unrecognized: dict[str, int] | None = None,
        model_stats: dict[str, float] | None = None,
        model_info: dict[str, Any] | None = None,
    ) -> "Profile":
        """A Profile whose tables ``(raw, steps, batch_rates)`` are made by ``build()`` when
        first read (checked as :class:`Profile` checks them). ``samples``, ``unrecognized``,
        ``model_stats`` and ``model_info`` are known at once."""
        self = cls.__new__(cls)
        self.samples = int(samples)
        self.unrecognized = dict(unrecognized or {})
        self.model_stats = dict(model_stats) if model_stats else None
        self.model_info = dict(model_info or {})
        self._build = build
        return self

    def __getattr__(self, name: str) -> Any:
        # only reached for attributes not set: the tables of a deferred profile
        if name in Profile._TABLES:
            build = self.__dict__.pop("_build", None)
            if build is not None:
                raw, steps, br = build()
                samples, unrec = self.samples, self.unrecognized
                Profile.__init__(self, raw, samples, steps, unrec, br,
                                 model_stats=self.model_stats, model_info=self.model_info)
                return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # ----------------------------------------------------------------- views
    @property
    def layers(self) -> pd.DataFrame:
        """One row per op site: ids, input kind, summed counts, derived rates, static sizes.

        Counts are totals over all samples; see :meth:`per_sample`."""
        df = self._raw.copy()
        df[INPUT_KIND_COLUMN] = (
            df.apply(_input_kind, axis=1) if len(df) else pd.Series(dtype="object")
        )
        for name, (num, den) in RATE_COLUMNS.items():
            with np.errstate(divide="ignore", invalid="ignore"):
                df[name] = np.where(df[den] > 0, df[num] / df[den].where(df[den] > 0, 1), np.nan)
        # outputs are measured for neurons only (synaptic outputs are analog currents)
        df.loc[df["kind"] != "neuron", "out_rate"] = np.nan
        return df[ALL_COLUMNS]

    def per_sample(self) -> pd.DataFrame:
        """:attr:`layers` with every count divided by :attr:`samples` (one inference of one
        input, all timesteps). Rates and static sizes unchanged."""
        df = self.layers
        if self.samples <= 0:
            raise ValueError("Profile.per_sample: the profile covers no samples")
        for c in COUNT_COLUMNS:
            if c != "calls":
                df[c] = df[c] / self.samples
        return df

    def totals(self) -> pd.Series:
        """Summed counts over all sites (totals over all samples), plus ``samples``, the overall
        neuron firing rate ``spike_rate`` (spikes_out / neuron_updates) and the op-weighted
        input rate of spike-driven synaptic and attention ops ``synaptic_in_rate``.

        Two accumulate totals, by name: ``acs`` is every accumulate counted at any site,
        pooling (an average pool's additions) included; ``sops`` is the synaptic operations
        only, the accumulates of synaptic and attention sites: what the CLI's "SOPs" column
        shows and what the energy conventions price as E_AC x SOPs."""
        raw = self._raw
        s = raw[list(COUNT_COLUMNS)].sum()
        s["samples"] = self.samples
        s["sops"] = float(raw.loc[raw["kind"].isin(("synaptic", "attention")), "acs"].sum())
        s["spike_rate"] = (
            s["spikes_out"] / s["neuron_updates"] if s["neuron_updates"] > 0 else math.nan
        )
        syn = raw[raw["kind"].isin(("synaptic", "attention")) & (raw["in_spike_calls"] > 0)]
        s["synaptic_in_rate"] = (
            syn["in_nnz"].sum() / syn["in_elems"].sum() if syn["in_elems"].sum() > 0 else math.nan
        )
        return s

    def timesteps(self) -> pd.DataFrame:
        """Per-timestep neuron counts: ``site, layer, t, neuron_updates, spikes_out, rate``
        (sums over samples; ``rate`` = spikes_out / neuron_updates)."""
        df = self._steps.copy()
        if len(df):
            df["rate"] = df["spikes_out"] / df["neuron_updates"].where(df["neuron_updates"] > 0)
        else:
            df["rate"] = pd.Series(dtype="float64")
        return df[list(STEP_COLUMNS)]

    def rate_spread(self) -> pd.DataFrame:
        """Per-site spread of the output firing rate over the batches profiled:
        ``site, layer, batches, rate_min, rate_mean, rate_max`` (neuron sites; empty when the
        profiler did not keep per-batch rates)."""
        cols = ["site", "layer", "batches", "rate_min", "rate_mean", "rate_max"]
        br = self._batch_rates
        if br is None or not len(br):
            return pd.DataFrame(columns=cols)
        g = br.groupby("site", sort=False)["rate"]
        out = pd.DataFrame(
            {
                "batches": g.count(),
                "rate_min": g.min(),
                "rate_mean": g.mean(),
                "rate_max": g.max(),
            }
        ).reset_index()
        layer = self._raw.set_index("site")["layer"]
        out["layer"] = out["site"].map(layer)
        return out[cols]

    # ----------------------------------------------------------------- combine
    def merge(self, other: "Profile") -> "Profile":
        """Exact combination: counts and samples add; sites are matched by key."""
        if not isinstance(other, Profile):
            raise TypeError(f"Profile.merge expects a Profile, got {type(other).__name__}")
        a, b = self._raw, other._raw
        both = pd.concat([a, b], ignore_index=True)
        order = pd.unique(both["site"])
        ids = both.drop_duplicates("site").set_index("site")[[c for c in ID_COLUMNS if c != "site"]]
        counts = both.groupby("site", sort=False)[list(COUNT_COLUMNS)].sum()
        static = both.groupby("site", sort=False)[list(STATIC_COLUMNS)].max()
        raw = ids.join(counts).join(static).loc[order].reset_index()
        steps = pd.concat([self._steps, other._steps], ignore_index=True)
        if len(steps):
            steps = steps.groupby(["site", "layer", "t"], sort=False, as_index=False)[
                list(_STEP_SUMS)
            ].sum()
        unrec = dict(self.unrecognized)
        for k, v in other.unrecognized.items():
            unrec[k] = unrec.get(k, 0) + v
        br = None
        if self._batch_rates is not None or other._batch_rates is not None:
            parts = [x for x in (self._batch_rates, other._batch_rates) if x is not None]
            offset = 0
            shifted = []
            for p in parts:
                p = p.copy()
                p["batch"] = p["batch"] + offset
                offset = int(p["batch"].max()) + 1 if len(p) else offset
                shifted.append(p)
            br = pd.concat(shifted, ignore_index=True)
        return Profile(raw, self.samples + other.samples, steps, unrec, br,
                       model_info=_merge_info(self.model_info, other.model_info),
                       model_stats=self.model_stats or other.model_stats)

    def neurobench(self, **options: Any) -> dict[str, Any]:
        """NeuroBench 2.3's workload metrics, per sample, from these counts:
        ``SynapticOperations`` (``Effective_MACs``, ``Effective_ACs``, ``Dense``),
        ``ActivationSparsity``, ``MembraneUpdates``, ``Footprint`` (bytes) and
        ``ConnectionSparsity``. Options and the conventions where ours differ:
        :func:`energymodel.counting.neurobench.neurobench_metrics`."""
        from .neurobench import neurobench_metrics  # noqa: PLC0415  (a view of the counts)

        return neurobench_metrics(self, **options)

    def __add__(self, other: "Profile") -> "Profile":
        return self.merge(other)

    # ----------------------------------------------------------------- serialise
    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict holding everything needed to rebuild the profile exactly."""
        d: dict[str, Any] = {
            "format": "energymodel.profile/1",
            "samples": self.samples,
            "layers": self._raw.to_dict(orient="list"),
            "steps": self._steps.to_dict(orient="list"),
            "unrecognized": self.unrecognized,
            "model_info": self.model_info,
        }
        if self._batch_rates is not None:
            d["batch_rates"] = self._batch_rates.to_dict(orient="list")
        if self.model_stats is not None:
            d["model_stats"] = self.model_stats
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Profile":
        if d.get("format") != "energymodel.profile/1":
            raise ValueError(f"not an energymodel profile (format={d.get('format')!r})")
        br = d.get("batch_rates")
        return cls(
            pd.DataFrame(d["layers"]),
            d["samples"],
            pd.DataFrame(d["steps"]),
            d.get("unrecognized"),
            pd.DataFrame(br) if br is not None else None,
            model_info=d.get("model_info"),
            model_stats=d.get("model_stats"),
        )

    def to_json(self, path: str | None = None) -> str:
        """Serialise (and, given a path, write it atomically)."""
        text = json.dumps(self.to_dict())
        if path is not None:
            from ..common.files import write_text_atomic

            write_text_atomic(path, text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str) -> "Profile":
        s = text_or_path
        if not s.lstrip().startswith("{"):
            with open(s, encoding="utf-8") as f:
                s = f.read()
        return cls.from_dict(json.loads(s))

    def layer_edges(self) -> list[tuple[str, str]] | None:
        """The executed layer graph: ``(a, b)`` for every weight layer ``a`` (a site with
        ``weight_elems > 0``) whose output reaches weight layer ``b``'s input through the ops in
        between (neurons, residual sums, concatenations, attention products), as the profiler
        traced it tensor by tensor. A layer reading its own earlier output (a recurrence) has
        no edge to itself. ``None`` where the profile holds no graph (a profile written before
        0.3, or built by hand): the mapping then puts the layers in series and says so."""
        edges = self.model_info.get("layer_edges")
        if edges is None:
            return None
        return [tuple(e.split(EDGE_SEP, 1)) for e in edges]  # type: ignore[misc]

    def layer_of_site(self) -> dict[str, str]:
        """Weight-layer site -> the layer it belongs to: the first site (in execution order)
        that used the same weight tensor. A layer whose ``forward`` calls ``F.conv2d`` once per
        timestep makes T sites (``conv2d#0`` ... ``#T-1``) of one layer; the hardware mapping
        counts it once. Sites whose weight is unknown map to themselves."""
        out: dict[str, str] = {}
        first: dict[str, str] = {}
        for e in self.model_info.get("site_weights", []):
            site, w = e.split(EDGE_SEP, 1)
            out[site] = first.setdefault(w, site)
        return out

    def diagnostics(self) -> pd.DataFrame:
        """Plausibility warnings: ``DataFrame(level, site, message, check)``, one row each
        (silent or saturated layers, ACs above dense MACs, ops without a rule, uncalibrated
        random weights, neurons that never ran). See :mod:`energymodel.counting.diagnostics`."""
        from .diagnostics import diagnose  # noqa: PLC0415  (the checks read this profile)

        return diagnose(self)

    def _repr_html_(self) -> str:
        """The profile in a notebook: one row per site, per sample, numbers at three
        significant figures (counts in full, rates as fractions)."""
        from ..common.formatting import to_html  # noqa: PLC0415

        d = self.per_sample()
        cols = [c for c in ("site", "op", "kind", "in_rate", "out_rate", "macs", "acs",
                            "neuron_updates", "spikes_out", "timesteps") if c in d]
        t = self.totals()
        cap = (f"Profile: {len(d)} sites, {self.samples} sample(s); per sample: "
               f"{t['macs'] / max(self.samples, 1):.3g} MACs, {t['sops'] / max(self.samples, 1):.3g} "
               f"SOPs, spike rate {t['spike_rate']:.3g}")
        return to_html(d[cols], cap)

    def __repr__(self) -> str:
        t = self.totals()
        return (
            f"Profile(sites={len(self._raw)}, samples={self.samples}, "
            f"dense_macs={t['dense_macs']:.4g}, macs={t['macs']:.4g}, acs={t['acs']:.4g}, "
            f"neuron_updates={t['neuron_updates']:.4g}, spike_rate={t['spike_rate']:.4g})"
        )


def _merge_info(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Union of name lists (order kept), sums of ``root_calls``; other keys from ``a`` first."""
    out = dict(b)
    out.update(a)
    for k in set(a) | set(b):
        va, vb = a.get(k), b.get(k)
        if isinstance(va, list) or isinstance(vb, list):
            out[k] = list(dict.fromkeys(list(va or []) + list(vb or [])))
        elif k == "root_calls":
            out[k] = int(va or 0) + int(vb or 0)
    return out

"""Hardware profiles as data: YAML files of cited energy constants, loaded and validated.

A profile (``hwprofiles/<name>.yaml``, schema ``energymodel.hardware/1``, described in
``hwprofiles/README.md``) lists the energy of each component action with its unit, width,
range and citation. This module reads and checks those files and answers typed questions in
pJ; it never counts and never prices a model (that is :mod:`energymodel.pricing.energy`).

Shipped profiles live in ``hwprofiles/`` at the repository top; folders named in the
environment variable ``ENERGYMODEL_HWPROFILES`` (``os.pathsep``-separated) are searched first.
"""

from __future__ import annotations

import functools
import math
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import yaml

from ..common.files import read_regular_bytes

__all__ = [
    "HardwareError",
    "HardwareProfile",
    "Problem",
    "PRECISION_BITS",
    "list_hardware",
    "measured_results",
    "load_hardware",
    "validate_hardware_file",
    "hardware_search_path",
    "is_hardware_path",
    "read_hardware_bytes",
    "MAX_FILE_BYTES",
]

SCHEMA = "energymodel.hardware/1"

#: Known precisions and their widths in bits.
PRECISION_BITS: dict[str, int] = {
    "int4": 4,
    "int8": 8,
    "int16": 16,
    "int32": 32,
    "fp8": 8,
    "fp16": 16,
    "bf16": 16,
    "fp32": 32,
    "fp64": 64,
}

#: Accepted units and their factor to pJ.
UNITS_TO_PJ: dict[str, float] = {"fJ": 1e-3, "pJ": 1.0, "nJ": 1e3, "uJ": 1e6}

_TOP_KEYS = {
    "schema": True,
    "name": True,
    "label": False,
    "description": True,
    "kind": True,
    "technology_node_nm": True,
    "sources": True,
    "flags": False,
    "arithmetic": False,
    "sram": False,
    "dram": False,
    "events": False,
    "capacity": False,   # hardware cost (energymodel.pricing.mapping): see _check_cost_sections
    "timing": False,
    "power": False,
}
#: digital: a technology (per-op energies, never mapped); neuromorphic: an event-driven chip;
#: fpga: an FPGA accelerator; accelerator: a dense digital accelerator (a VPU, an NPU) that
#: computes every synapse slot, spike or not, priced per MAC slot (``events.mac``)
_KINDS = ("digital", "neuromorphic", "fpga", "accelerator")
_FLAG_KEYS = {"all_in": bool, "includes_memory": bool, "host": str}
_ARITH_OPS = ("add", "mult")
_EVENTS = (
    "synaptic_op",
    "mac",
    "synaptic_update",
    "neuron_update",
    "neuron_update_active",
    "neuron_update_inactive",
    "spike",
    "tile_hop",
)
_ENTRY_KEYS = {
    "value",
    "unit",
    "citation",
    "low",
    "high",
    "width_bits",
    "interpolated",
    "derivation",
    "note",
    # which measured cases (hwprofiles/validation/measured.yaml ids) set this value: a fitted
    # constant is not a prediction on those cases
    "fitted",
}
_WHICH = ("nominal", "low", "high")


class HardwareError(ValueError):
    """A hardware profile is missing, unreadable or invalid, or lacks a needed entry.

    ``problems`` lists every :class:`Problem` found (file, line, field, message)."""

    def __init__(self, message: str, problems: "list[Problem] | None" = None) -> None:
        super().__init__(message)
        self.problems: list[Problem] = list(problems or [])


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a hardware file."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}"


# --------------------------------------------------------------------------- YAML with lines
class _DuplicateKeyLoader(yaml.SafeLoader):
    """SafeLoader that composes nodes only; mappings are turned into Python by
    :func:`_plain`, which reports duplicate keys instead of silently keeping the last."""


# YAML 1.1 reads ``1e3`` (no dot) and ``1E-3`` as text; every other reader takes them as
# numbers, and so do we (only for this loader, not for yaml.SafeLoader itself).
_DuplicateKeyLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

#: Largest hardware file read (bytes); a profile is a few kB.
MAX_FILE_BYTES = 1 << 20
#: Plausible ranges. An energy above 1 mJ per operation, a width outside 1 bit .. 1 Mibit or a
#: node outside 0.1 nm .. 10 um is a typo (or a unit slip), and would let products overflow.
MAX_ENERGY_PJ = 1e9
WIDTH_BITS_RANGE = (1.0, float(1 << 20))
MAX_CAPACITY_BYTES = float(1 << 50)
NODE_NM_RANGE = (0.1, 1e4)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


_MAX_NODES = 100_000  # a hardware file has hundreds of nodes; aliases must not blow it up


class _TooLarge(Exception):
    pass


def _plain(node: yaml.Node, loader: yaml.SafeLoader, path: str, lines: dict[str, int],
           problems: list[tuple[int | None, str, str]], depth: int = 0,
           budget: list[int] | None = None) -> Any:
    """Turn a composed node into plain Python, recording the line of every field path.
    Alias expansion is bounded (``_MAX_NODES``), so 'billion laughs' text cannot hang it."""
    if budget is None:
        budget = [_MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise _TooLarge
    if depth > 50:
        problems.append((node.start_mark.line + 1, path or "<root>", "nested too deeply"))
        return None
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                problems.append((knode.start_mark.line + 1, path or "<root>",
                                 "a key must be a plain scalar"))
                continue
            key = loader.construct_object(knode)
            if isinstance(key, (list, dict)) or key is None:
                key = str(knode.value)
            sub = f"{path}.{key}" if path else str(key)
            if key in out:
                problems.append((knode.start_mark.line + 1, sub,
                                 f"duplicate key {key!r} (first at line {lines.get(sub, '?')})"))
                continue
            lines[sub] = knode.start_mark.line + 1
            out[key] = _plain(vnode, loader, sub, lines, problems, depth + 1, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _plain(v, loader, f"{path}[{i}]", lines, problems, depth + 1, budget)
            for i, v in enumerate(node.value)
        ]
    return loader.construct_object(node)


def _parse(text: str, file: str) -> tuple[Any, dict[str, int], list[Problem]]:
    """Parse YAML text; never raises. Returns (data, field -> line, problems)."""
    lines: dict[str, int] = {}
    raw: list[tuple[int | None, str, str]] = []
    try:
        loader = _DuplicateKeyLoader(text)
        try:
            node = loader.get_single_node()
            data = None if node is None else _plain(node, loader, "", lines, raw)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else None
        msg = " ".join(str(x) for x in (e.context, e.problem) if x) or "invalid YAML"
        return None, lines, [Problem(file, line, "<yaml>", f"not valid YAML: {msg}")]
    except _TooLarge:
        return None, lines, [Problem(file, None, "<yaml>",
                                     f"too large: more than {_MAX_NODES} nodes once aliases are expanded")]
    except RecursionError:
        return None, lines, [Problem(file, None, "<yaml>", "not valid YAML: nested too deeply")]
    except Exception as e:  # YAMLError, bad timestamps, odd scalars: all are file problems
        return None, lines, [Problem(file, None, "<yaml>", f"not valid YAML: {e}")]
    return data, lines, [Problem(file, ln, f, m) for ln, f, m in raw]


# --------------------------------------------------------------------------- validation
def _is_number(x: Any) -> bool:
    """A finite int or float (not a bool); an int too large for a float is not a number."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def _cites(citation: str, key: Any) -> bool:
    """Whether ``citation`` names the source ``key`` as a word (``horowitz2014, Fig. 1``)."""
    k = str(key)
    return bool(k) and re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", citation) is not None


class _Checker:
    """Collects problems; ``entry`` checks one energy entry and is reused by every section.
    ``sources`` (the profile's ``sources`` keys) is set by :func:`_check` before any entry."""

    def __init__(self, file: str, lines: dict[str, int]) -> None:
        self.file = file
        self.lines = lines
        self.problems: list[Problem] = []
        self.sources: list[str] | None = None  # None: no usable sources mapping

    def line_of(self, field: str) -> int | None:
        f = field
        while f:
            if f in self.lines:
                return self.lines[f]
            f = f.rsplit(".", 1)[0] if "." in f else ""
        return self.lines.get("")

    def add(self, field: str, message: str) -> None:
        self.problems.append(Problem(self.file, self.line_of(field), field, message))

    def mapping(self, value: Any, field: str) -> bool:
        if not isinstance(value, dict):
            self.add(field, f"must be a mapping, got {type(value).__name__}")
            return False
        return True

    def number_in(self, value: Any, field: str, lo: float, hi: float, what: str = "") -> bool:
        """``value`` is a finite number within [lo, hi]; else one problem. True when valid."""
        if not _is_number(value):
            self.add(field, f"must be a number, got {_short(value)}")
            return False
        if not lo <= value <= hi:
            self.add(field, f"{what or 'must be'} within [{lo:g}, {hi:g}], got {value:g}")
            return False
        return True

    def entry(self, value: Any, field: str, extra: Iterable[str] = (), *,
              dimension: str = "energy") -> None:
        """One cited constant: ``value``, ``unit`` and ``citation`` required, the unit one of
        the ``dimension``'s (``energy``: :data:`UNITS_TO_PJ`; the cost sections' dimensions:
        :data:`COST_UNITS`), the value (and ``low``/``high``) within the dimension's plausible
        range (:data:`PLAUSIBLE`) so that no product of constants overflows, ``flag``
        entries true or false."""
        if not self.mapping(value, field):
            return
        allowed = (_ENTRY_KEYS if dimension == "energy" else _COST_ENTRY_KEYS) | set(extra)
        for k in value:
            if k not in allowed:
                self.add(f"{field}.{k}", f"unknown key {_short(k)} (known: {', '.join(sorted(allowed))})")
        for k in ("value", "unit", "citation"):
            if k not in value:
                self.add(f"{field}.{k}", f"missing required key {k!r}")
        units = UNITS_TO_PJ if dimension == "energy" else COST_UNITS[dimension]
        unit = value.get("unit")
        factor = units.get(unit) if isinstance(unit, str) else None
        if "unit" in value and factor is None:
            self.add(f"{field}.unit", f"unknown unit {_short(unit)} (use one of "
                     f"{', '.join(units)}{'' if dimension == 'energy' else ': a ' + dimension + ' unit'})")
        lo_ok, hi_ok = PLAUSIBLE[dimension]
        for k in ("value", "low", "high"):
            if k in value:
                v = value[k]
                if dimension == "flag":
                    if not isinstance(v, bool):
                        self.add(f"{field}.{k}", f"must be true or false, got {_short(v)}")
                elif not _is_number(v):
                    self.add(f"{field}.{k}", f"must be a number, got {_short(v)}")
                elif v < 0 or (v == 0 and dimension != "energy"):
                    self.add(f"{field}.{k}", f"{dimension} must be "
                             f"{'>= 0' if dimension == 'energy' else '> 0'}, got {v:g}")
                elif factor is not None and v * factor < lo_ok and dimension != "energy":
                    self.add(f"{field}.{k}", f"implausible {dimension} {v:g} {unit} (below "
                             f"{lo_ok:g}{(' ' + PLAUSIBLE_UNIT[dimension]) if PLAUSIBLE_UNIT[dimension] else ''}; "
                             "check the unit)")
                elif factor is not None and v * factor > hi_ok:
                    self.add(f"{field}.{k}", f"implausible {dimension} {v:g} {unit} (above "
                             f"{hi_ok:g} {PLAUSIBLE_UNIT[dimension]}; check the unit)")
        if dimension == "flag":
            return
        v, lo, hi = value.get("value"), value.get("low"), value.get("high")
        if _is_number(v) and _is_number(lo) and lo > v:
            self.add(f"{field}.low", f"low ({lo:g}) is above value ({v:g})")
        if _is_number(v) and _is_number(hi) and hi < v:
            self.add(f"{field}.high", f"high ({hi:g}) is below value ({v:g})")
        if "citation" in value:
            cit = value["citation"]
            if not isinstance(cit, str) or not cit.strip():
                self.add(f"{field}.citation", "must be non-empty text naming the source")
            elif self.sources is not None and not any(_cites(cit, k) for k in self.sources):
                self.add(f"{field}.citation", f"names no key of 'sources' "
                         f"({', '.join(self.sources) or 'none'}): {_short(cit)}")
        if "width_bits" in value:
            self.number_in(value["width_bits"], f"{field}.width_bits", *WIDTH_BITS_RANGE)
        if "capacity_bytes" in value:
            self.number_in(value["capacity_bytes"], f"{field}.capacity_bytes", 1.0,
                           MAX_CAPACITY_BYTES)
        for k in ("derivation", "note", "fitted"):
            if k in value and not isinstance(value[k], str):
                self.add(f"{field}.{k}", f"must be text, got {type(value[k]).__name__}")
        if "fitted_over" in value:  # {driver: [low, high]}: the range the fit saw
            fo = value["fitted_over"]
            ok = isinstance(fo, dict) and fo and all(
                isinstance(k, str) and isinstance(v, list) and len(v) == 2
                and all(_is_number(x) and x > 0 for x in v) and v[0] <= v[1]
                for k, v in fo.items())
            if not ok:
                self.add(f"{field}.fitted_over", "a mapping of a name to [low, high] (positive "
                         "numbers) expected, e.g. {input_cores: [2, 8]}")
        if "interpolated" in value and not isinstance(value["interpolated"], bool):
            self.add(f"{field}.interpolated", "must be true or false")
        if value.get("interpolated") is True and "derivation" not in value:
            self.add(f"{field}.derivation", "an interpolated value must say how (derivation)")


def _short(x: Any, limit: int = 60) -> str:
    """``repr`` of a value cut to ``limit`` characters (a message stays one short line)."""
    try:
        r = repr(x)
    except Exception:  # noqa: BLE001 - a value we cannot even print
        r = f"<{type(x).__name__}>"
    return r if len(r) <= limit else r[: limit - 3] + "..."


def _check(data: Any, file: str, lines: dict[str, int]) -> list[Problem]:
    c = _Checker(file, lines)
    if not isinstance(data, dict):
        c.add("<root>", "the file must hold a mapping of profile fields "
              f"(got {type(data).__name__})")
        return c.problems
    for k in data:
        if k not in _TOP_KEYS:
            c.add(str(k), f"unknown key {_short(k)} (known: {', '.join(_TOP_KEYS)})")
    for k, required in _TOP_KEYS.items():
        if required and k not in data:
            c.add(k, f"missing required key {k!r}")
    if "schema" in data and data["schema"] != SCHEMA:
        c.add("schema", f"must be {SCHEMA!r}, got {_short(data['schema'])}")
    for k in ("name", "label", "description"):
        if k in data and (not isinstance(data[k], str) or not data[k].strip()):
            c.add(k, "must be non-empty text")
    if isinstance(data.get("name"), str) and data["name"].strip() and not _NAME_RE.match(data["name"]):
        c.add("name", f"must be a short identifier (letters, digits, '_', '.', '-'; at most "
              f"64 characters, the file's stem by convention), got {_short(data['name'])}")
    if "kind" in data and data["kind"] not in _KINDS:
        c.add("kind", f"unknown kind {_short(data['kind'])} (use one of {', '.join(_KINDS)})")
    if "technology_node_nm" in data:
        c.number_in(data["technology_node_nm"], "technology_node_nm", *NODE_NM_RANGE)
    if "sources" in data and c.mapping(data["sources"], "sources"):
        c.sources = [str(k) for k in data["sources"]]
        if not data["sources"]:
            c.add("sources", "must list at least one source")
        for k, v in data["sources"].items():
            if not isinstance(v, str) or not v.strip():
                c.add(f"sources.{k}", "must be the full reference as text")
    if "flags" in data and data["flags"] is not None and c.mapping(data["flags"], "flags"):
        for k, v in data["flags"].items():
            if k not in _FLAG_KEYS:
                c.add(f"flags.{k}", f"unknown flag {_short(k)} (known: {', '.join(_FLAG_KEYS)})")
            elif not isinstance(v, _FLAG_KEYS[k]):
                c.add(f"flags.{k}", f"must be {_FLAG_KEYS[k].__name__}, got {_short(v)}")
            elif k == "host" and not _NAME_RE.match(v):
                c.add("flags.host", f"must name a profile (not a path), got {_short(v)}")
    if "arithmetic" in data and c.mapping(data["arithmetic"], "arithmetic"):
        for op, table in data["arithmetic"].items():
            f = f"arithmetic.{op}"
            if op not in _ARITH_OPS:
                c.add(f, f"unknown operation {_short(op)} (known: {', '.join(_ARITH_OPS)})")
                continue
            if c.mapping(table, f):
                for prec, e in table.items():
                    if prec not in PRECISION_BITS:
                        c.add(f"{f}.{prec}", f"unknown precision {_short(prec)} "
                              f"(known: {', '.join(PRECISION_BITS)})")
                        continue
                    c.entry(e, f"{f}.{prec}")
    if "sram" in data:
        if not isinstance(data["sram"], list) or not data["sram"]:
            c.add("sram", "must be a non-empty list of entries")
        else:
            for i, e in enumerate(data["sram"]):
                f = f"sram[{i}]"
                c.entry(e, f, extra=("capacity_bytes",))
                if isinstance(e, dict):
                    for k in ("capacity_bytes", "width_bits"):
                        if k not in e:
                            c.add(f"{f}.{k}", f"missing required key {k!r}")
    if "dram" in data:
        c.entry(data["dram"], "dram")
        if isinstance(data["dram"], dict) and "width_bits" not in data["dram"]:
            c.add("dram.width_bits", "missing required key 'width_bits'")
    if "events" in data and c.mapping(data["events"], "events"):
        for k, e in data["events"].items():
            if k not in _EVENTS:
                c.add(f"events.{k}", f"unknown event {_short(k)} (known: {', '.join(_EVENTS)})")
                continue
            c.entry(e, f"events.{k}")
    _check_cost_sections(c, data)
    has_arith = isinstance(data.get("arithmetic"), dict) and data["arithmetic"]
    has_sop = isinstance(data.get("events"), dict) and "synaptic_op" in data["events"]
    if not has_arith and not has_sop and data.get("kind") != "accelerator":
        c.add("arithmetic", "a profile needs 'arithmetic' (add/mult) or 'events.synaptic_op'")
    if data.get("kind") == "accelerator" and not (
            isinstance(data.get("events"), dict) and "mac" in data["events"]):
        c.add("events.mac", "an accelerator prices every synapse slot as one MAC: it needs "
              "'events.mac'")
    if data.get("kind") == "accelerator" and not (
            isinstance(data.get("flags"), dict) and data["flags"].get("all_in") is True):
        c.add("flags.all_in", "an accelerator's MAC energy must be all-in (flags.all_in: true): "
              "its dense compute has no spike-driven memory model to add")
    return c.problems


def read_hardware_bytes(path: str | os.PathLike, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a hardware file: a regular file of at most ``limit`` bytes
    (:func:`energymodel.common.files.read_regular_bytes`; ``OSError`` with a one-line reason)."""
    return read_regular_bytes(path, limit)


def _read_text(path: str | os.PathLike) -> str:
    """Text of a hardware file; ``_Unreadable`` with a one-line reason otherwise."""
    try:
        data = read_hardware_bytes(path)
    except IsADirectoryError:
        raise _Unreadable("a directory, not a regular file") from None
    except OSError as e:
        raise _Unreadable(e.strerror or str(e)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _Unreadable(f"not UTF-8 text (byte {e.start})") from None


class _Unreadable(Exception):
    pass


# --------------------------------------------------------------------------- cost sections
#: Optional ``capacity:`` / ``timing:`` / ``power:`` sections read by
#: :mod:`energymodel.pricing.mapping` (cores, chips, latency, static energy). Each key -> its units and
#: the factor to the base unit (count, bits, seconds, ops/s, watts; ``flag``: true/false).
COST_UNITS: dict[str, dict[str, float]] = {
    "count": {"cores": 1.0, "neurons": 1.0, "axons": 1.0, "targets": 1.0},
    "bits": {"bits": 1.0, "bytes": 8.0, "KiB": 8192.0},
    "time": {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9},
    "rate": {"ops/s": 1.0, "Gops/s": 1e9},
    "power": {"W": 1.0, "mW": 1e-3, "uW": 1e-6},
    "flag": {"flag": 1.0},
}
COST_KEYS: dict[str, dict[str, str]] = {
    "capacity": {
        "cores_per_chip": "count",
        "neurons_per_core": "count",
        "axons_per_core": "count",
        "synaptic_memory_per_core": "bits",
        "weight_bits": "bits",
        "state_bits": "bits",
        "targets_per_neuron": "count",
        "weight_sharing": "flag",
    },
    "timing": {
        "tick": "time",
        "synaptic_op": "time",
        "neuron_update_active": "time",
        "neuron_update_inactive": "time",
        "tile_hop": "time",
        "barrier_sync": "time",
        "synaptic_ops_per_second": "rate",
        # the host / management processors' time per timestep (spike I/O, step control): a
        # fixed part and a part per core that receives the input (energymodel.pricing.mapping)
        "host_step": "time",
        "host_step_per_input_core": "time",
        # a dense accelerator's fixed time per inference that does not overlap its compute
        # (the host call, the input and output transfer): added to slots / throughput
        "inference_overhead": "time",
    },
    "power": {
        "static_per_chip": "power",
        "static_per_core": "power",
        # drawn above idle whenever the chip runs (management cores, host link), per chip
        "running_per_chip": "power",
    },
}


#: keys of a cost-section entry (no widths, capacities or interpolation there)
_COST_ENTRY_KEYS = {"value", "unit", "citation", "low", "high", "note", "derivation", "fitted",
                    "fitted_over"}
#: plausible range of a constant in its dimension's base unit (energy: pJ per operation; count;
#: bits; seconds; ops/s; watts): wider values are unit mistakes, and would overflow products
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "energy": (0.0, MAX_ENERGY_PJ),
    "count": (1.0, 1e12),          # at least one core, neuron, axon, target
    "bits": (1.0, 8.0 * MAX_CAPACITY_BYTES),
    "time": (1e-15, 1e3),          # a femtosecond to a quarter hour
    "rate": (1.0, 1e21),           # at least one op per second
    "power": (1e-12, 1e6),         # a picowatt to a megawatt
    "flag": (0.0, 1.0),
}
PLAUSIBLE_UNIT = {"energy": "pJ = 1 mJ per operation", "count": "", "bits": "bits",
                  "time": "s", "rate": "ops/s", "power": "W", "flag": ""}


def _check_cost_sections(c: "_Checker", data: dict[str, Any]) -> None:
    """Check the optional ``capacity`` / ``timing`` / ``power`` sections: known keys, each a
    cited entry of its key's dimension (:meth:`_Checker.entry`, which every section shares)."""
    for section, keys in COST_KEYS.items():
        if section not in data:
            continue
        if not c.mapping(data[section], section):
            continue
        if not data[section]:
            c.add(section, "must list at least one entry (or be left out)")
        for k, e in data[section].items():
            f = f"{section}.{k}"
            if k not in keys:
                c.add(f, f"unknown key {_short(k)} (known: {', '.join(keys)})")
                continue
            c.entry(e, f, dimension=keys[k])


def validate_hardware_file(path: str | os.PathLike) -> list[Problem]:
    """Every problem in a hardware file (empty list: valid). An unreadable file (missing, not
    a regular file, over 1 MiB, not UTF-8) gives one problem with field ``<file>``; this
    function never raises for file content."""
    file = str(path)
    try:
        text = _read_text(path)
    except _Unreadable as e:
        return [Problem(file, None, "<file>", f"cannot read: {e}")]
    return validate_hardware_text(text, file)


def validate_hardware_text(text: str, file: str = "<text>") -> list[Problem]:
    """Every problem in YAML text (see :func:`validate_hardware_file`)."""
    data, lines, problems = _parse(text, file)
    if problems and data is None:
        return problems
    return problems + _check(data, file, lines)


# --------------------------------------------------------------------------- the profile
def _to_pj(entry: dict[str, Any], which: str) -> float:
    f = UNITS_TO_PJ[entry["unit"]]
    if which == "nominal":
        return float(entry["value"]) * f
    return float(entry.get(which, entry["value"])) * f


class HardwareProfile:
    """A validated hardware profile. Every energy accessor returns pJ.

    ``which`` selects ``"nominal"`` (the value), ``"low"`` or ``"high"`` (the range ends; the
    value itself where the source gives no range)."""

    def __init__(self, data: dict[str, Any], path: str | None = None,
                 lines: dict[str, int] | None = None) -> None:
        self.data = data
        self.path = path or "<memory>"
        self._lines = lines or {}
        flags = data.get("flags") or {}
        self.name: str = data["name"]
        self.description: str = data["description"]
        self.kind: str = data["kind"]
        self.technology_node_nm: float = data["technology_node_nm"]
        self.sources: dict[str, str] = dict(data["sources"])
        self.all_in: bool = bool(flags.get("all_in", False))
        self.includes_memory: bool = bool(flags.get("includes_memory", False)) or self.all_in
        self.host: str | None = flags.get("host")

    @property
    def label(self) -> str:
        """Display name for figures and tables (the YAML's ``label``; the ``name`` without)."""
        return str(self.data.get("label") or self.name)

    # ------------------------------------------------------------ provenance
    @property
    def origin(self) -> str:
        """The file this profile came from, compactly: ``hwprofiles/<file>`` for a shipped
        profile, the path as loaded otherwise (``<memory>`` / ``<text>`` for no file)."""
        p = Path(self.path)
        if p.parent.name == "hwprofiles":
            try:
                shipped = hardware_search_path()[-2:]
                if any(p.resolve().parent == f.resolve() for f in shipped):
                    return f"hwprofiles/{p.name}"
            except OSError:
                pass
        return self.path

    def __repr__(self) -> str:
        return f"HardwareProfile({self.name!r}, {self.technology_node_nm} nm, {self.path})"

    def line(self, field: str) -> int | None:
        """Line of ``field`` (dotted path) in the file, when known."""
        return self._lines.get(field)

    def missing(self, field: str, why: str) -> HardwareError:
        """The error to raise when a pricing mode needs an entry this profile lacks."""
        p = Problem(self.path, None, field, f"missing: {why}")
        return HardwareError(str(p), [p])

    def entry(self, field: str) -> dict[str, Any]:
        """The raw entry at a dotted path (``arithmetic.add.fp32``, ``events.spike``)."""
        cur: Any = self.data
        for part in field.split("."):
            if not isinstance(cur, dict) or part not in cur:
                raise self.missing(field, f"profile {self.name!r} has no entry {field!r}")
            cur = cur[part]
        return cur

    def citation(self, field: str) -> str:
        return str(self.entry(field)["citation"])

    # ------------------------------------------------------------ arithmetic and events
    def precisions(self) -> list[str]:
        """Precisions with both an add and a mult entry."""
        ar = self.data.get("arithmetic") or {}
        add, mult = ar.get("add") or {}, ar.get("mult") or {}
        return [p for p in PRECISION_BITS if p in add and p in mult]

    def has(self, op: str, precision: str = "fp32") -> bool:
        return precision in ((self.data.get("arithmetic") or {}).get(op) or {})

    def energy(self, op: str, precision: str = "fp32", which: str = "nominal") -> float:
        """pJ of one arithmetic ``op`` (``add``, ``mult``, or ``mac`` = mult + add) at
        ``precision``."""
        _check_which(which)
        if precision not in PRECISION_BITS:
            raise ValueError(f"unknown precision {precision!r} (known: {', '.join(PRECISION_BITS)})")
        if op == "mac":
            return self.energy("mult", precision, which) + self.energy("add", precision, which)
        if op not in _ARITH_OPS:
            raise ValueError(f"unknown arithmetic op {op!r} (known: add, mult, mac)")
        return _to_pj(self.entry(f"arithmetic.{op}.{precision}"), which)

    def has_event(self, name: str) -> bool:
        return name in (self.data.get("events") or {})

    def event(self, name: str, which: str = "nominal") -> float:
        """pJ of one event (``synaptic_op``, ``spike``, ``tile_hop``, ...)."""
        _check_which(which)
        return _to_pj(self.entry(f"events.{name}"), which)

    # ------------------------------------------------------------ memory
    def has_sram(self) -> bool:
        return bool(self.data.get("sram"))

    def sram_read_pj(self, capacity_bytes: float, width_bits: float = 64,
                     which: str = "nominal", width_rule: str = "access") -> float:
        """pJ of one access of ``width_bits`` to an SRAM of ``capacity_bytes``.

        Width: each entry is first brought to ``width_bits``: ``width_rule="access"``: an
        access no wider than the entry costs the entry's energy, a wider one
        ceil(width / entry width) entries; ``"bits"``: energy scales linearly with the bits.
        Capacity: piecewise linear between the listed capacities, linear from 0 pJ at 0 bytes
        below the smallest (the rule of Lemaire et al. 2022), held at the largest above it.
        """
        _check_which(which)
        if width_rule not in ("access", "bits"):
            raise ValueError(f"unknown width_rule {width_rule!r} (use 'access' or 'bits')")
        if not self.has_sram():
            raise self.missing("sram", f"profile {self.name!r} lists no SRAM entries")
        if not (capacity_bytes >= 0) or not (width_bits > 0):
            raise ValueError(f"sram_read_pj: need capacity >= 0 and width > 0, got "
                             f"{capacity_bytes}, {width_bits}")
        pts: dict[float, float] = {}
        for e in self.data["sram"]:
            w = float(e["width_bits"])
            scale = math.ceil(width_bits / w) if width_rule == "access" else width_bits / w
            pts[float(e["capacity_bytes"])] = _to_pj(e, which) * scale
        xs = sorted(pts)
        x = float(capacity_bytes)
        if x >= xs[-1]:
            return pts[xs[-1]]
        x0, y0 = 0.0, 0.0
        for x1 in xs:
            y1 = pts[x1]
            if x <= x1:
                return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
            x0, y0 = x1, y1
        return pts[xs[-1]]  # pragma: no cover

    def dram_pj(self, width_bits: float = 64, which: str = "nominal") -> float:
        """pJ of one DRAM access of ``width_bits`` (scaled linearly from the entry's width)."""
        e = self.entry("dram")
        return _to_pj(e, which) * width_bits / float(e["width_bits"])

    # ------------------------------------------------------------ views
    def has_ranges(self) -> bool:
        return any(r["low"] != r["value"] or r["high"] != r["value"] for r in self._rows())

    def _rows(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []

        def add(section: str, name: str, precision: str, field: str, e: dict[str, Any]) -> None:
            f = UNITS_TO_PJ[e["unit"]]
            rows.append({
                "section": section,
                "name": name,
                "precision": precision,
                "value": float(e["value"]),
                "unit": e["unit"],
                "value_pj": float(e["value"]) * f,
                "low": float(e.get("low", e["value"])),
                "high": float(e.get("high", e["value"])),
                "width_bits": e.get("width_bits", PRECISION_BITS.get(precision)),
                "capacity_bytes": e.get("capacity_bytes"),
                "interpolated": bool(e.get("interpolated", False)),
                "citation": e["citation"],
                "line": self._lines.get(field),
            })

        for op, table in (self.data.get("arithmetic") or {}).items():
            for prec, e in table.items():
                add("arithmetic", op, prec, f"arithmetic.{op}.{prec}", e)
        for i, e in enumerate(self.data.get("sram") or []):
            add("sram", "access", "", f"sram[{i}]", e)
        if "dram" in self.data:
            add("dram", "access", "", "dram", self.data["dram"])
        for k, e in (self.data.get("events") or {}).items():
            add("events", k, "", f"events.{k}", e)
        return rows

    def constants(self):
        """Every constant as a DataFrame (section, name, precision, value, unit, value_pj, low,
        high, width_bits, capacity_bytes, interpolated, citation, line)."""
        import pandas as pd

        return pd.DataFrame(self._rows())


def _check_which(which: str) -> None:
    if which not in _WHICH:
        raise ValueError(f"unknown value selector {which!r} (use one of {', '.join(_WHICH)})")


# --------------------------------------------------------------------------- finding files
def hardware_search_path() -> list[Path]:
    """Folders searched for ``<name>.yaml``: those in ``ENERGYMODEL_HWPROFILES`` first, then
    the shipped ``hwprofiles/``."""
    out: list[Path] = []
    extra = os.environ.get("ENERGYMODEL_HWPROFILES", "")
    for part in extra.split(os.pathsep):
        if part.strip():
            out.append(Path(part.strip()).expanduser())
    out.append(Path(__file__).resolve().parents[2] / "hwprofiles")  # source tree / editable
    out.append(Path(sys.prefix) / "share" / "energymodel" / "hwprofiles")  # wheel install
    return out


def measured_results(hw: "HardwareProfile") -> dict[str, Any] | None:
    """How the shipped measured cases (``hwprofiles/validation/measured.yaml``, its
    ``results`` section, which ``tests/test_validation.py`` recomputes) rate this profile's
    hardware cost: ``held_out_cases``, ``checks``, ``within_2x``, ``ratio_low`` /
    ``ratio_high`` (predicted / measured) and ``source``. None when no case checks a profile of
    this name, or when this profile's file differs from the one checked (its SHA-256)."""
    for folder in hardware_search_path()[-2:]:   # the shipped folders only
        f = folder / "validation" / "measured.yaml"
        try:
            st = f.stat()
        except OSError:
            continue
        r = _results_section(str(f), st.st_mtime_ns, st.st_size).get(hw.name)
        if not isinstance(r, dict):
            return None
        try:
            p = Path(hw.path)
            pst = p.stat()
        except OSError:
            return None
        digest = _file_digest(str(p), pst.st_mtime_ns, pst.st_size)
        return dict(r) if r.get("profile_sha256") == digest else None
    return None


@functools.lru_cache(maxsize=8)
def _results_section(path: str, mtime_ns: int, size: int) -> dict[str, Any]:
    """The ``results`` mapping of a validation file (cached per file version)."""
    try:
        data, _lines, problems = _parse(_read_text(path), path)
    except _Unreadable:
        return {}
    res = data.get("results") if isinstance(data, dict) and not problems else None
    return res if isinstance(res, dict) else {}


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, mtime_ns: int, size: int) -> str:
    """First 16 hex digits of the SHA-256 of a file (cached per file version)."""
    import hashlib  # noqa: PLC0415

    try:
        return hashlib.sha256(read_hardware_bytes(path)).hexdigest()[:16]
    except OSError:
        return ""


def list_hardware() -> list[str]:
    """Names of the profiles found on the search path (shipped ones included), sorted."""
    names: set[str] = set()
    for folder in hardware_search_path():
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def is_hardware_path(name_or_path: str | os.PathLike) -> bool:
    """Whether a ``--hw`` argument names a file: it holds a path separator or ends in
    ``.yaml`` / ``.yml``. Anything else is a profile name, looked up on
    :func:`hardware_search_path` only (a file named ``cmos45nm`` in the current folder never
    replaces the shipped profile)."""
    s = os.fspath(name_or_path)
    return (os.sep in s or "/" in s or (os.altsep or "/") in s
            or s.lower().endswith((".yaml", ".yml")))


def _resolve(name_or_path: str | os.PathLike) -> Path:
    s = os.fspath(name_or_path)
    if not isinstance(name_or_path, str) or is_hardware_path(s):  # a Path object is a file
        p = Path(s).expanduser()
        if not os.path.lexists(p):
            raise HardwareError(f"{s}: <file>: no such hardware file",
                                [Problem(s, None, "<file>", "no such hardware file")])
        return p
    if not _NAME_RE.match(s):
        raise HardwareError(f"{s}: <file>: not a profile name (give a name from "
                            "'energymodel hw list' or a path to a .yaml file)",
                            [Problem(s, None, "<file>", "not a profile name")])
    for folder in hardware_search_path():
        for ext in (".yaml", ".yml"):
            cand = folder / f"{s}{ext}"
            if os.path.lexists(cand):  # a FIFO or folder here is refused by the reader
                return cand
    known = ", ".join(list_hardware()) or "none"
    raise HardwareError(f"{s}: <file>: unknown hardware profile (known: {known})",
                        [Problem(s, None, "<file>", f"unknown hardware profile (known: {known})")])


def load_hardware(name_or_path: "str | os.PathLike | HardwareProfile") -> HardwareProfile:
    """Load a shipped profile by name (``"cmos45nm"``, searched in ``ENERGYMODEL_HWPROFILES``
    and ``hwprofiles/``) or any YAML file by path (an argument with a path separator or a
    ``.yaml`` / ``.yml`` suffix).

    Raises :class:`HardwareError` (and nothing else for file content) listing every problem
    with file, line and field."""
    if isinstance(name_or_path, HardwareProfile):
        return name_or_path
    path = _resolve(name_or_path)
    file = str(path)
    try:
        text = _read_text(path)
    except _Unreadable as e:
        p = Problem(file, None, "<file>", f"cannot read: {e}")
        raise HardwareError(str(p), [p]) from None
    return load_hardware_text(text, file)


def load_hardware_text(text: str, file: str = "<text>") -> HardwareProfile:
    """Load a profile from YAML text (see :func:`load_hardware`)."""
    data, lines, problems = _parse(text, file)
    if data is not None or not problems:
        problems = problems + _check(data, file, lines)
    if problems:
        head = str(problems[0])
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise HardwareError(f"invalid hardware profile: {head}{more}", problems)
    return HardwareProfile(data, file, lines)

"""energymodel: measured op counts and hardware-priced energy for spiking neural networks.

Flow (one direction): model + inputs -> counting -> Profile -> pricing x HardwareProfile ->
EnergyReport -> tables / plots / CLI. One folder per stage (docs/architecture.md):
``common/`` -> models (``lif.py``, ``attention/``, ``zoo/``) -> ``counting/`` -> ``interop/``
-> ``pricing/`` -> ``workflow.py`` -> ``report/`` -> ``cli.py``.

The names below are loaded on first use (PEP 562 ``__getattr__``), so ``import
energymodel.pricing.hardware`` and the command line's ``--help`` / ``hw`` commands start
without importing torch, pandas or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

from .common.deprecation import MovedModules

__version__ = "0.3.0"

#: public name -> (module, attribute; None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "Profile": (".counting", "Profile"),
    "Profiler": (".counting", "Profiler"),
    "profile": (".counting", "profile"),
    "profile_loader": (".counting", "profile_loader"),
    "CountOptions": (".counting.operands", "CountOptions"),
    "register_neuron": (".counting.neurons", "register_neuron"),
    "unregister_neuron": (".counting.neurons", "unregister_neuron"),
    "EnergyReport": (".pricing.energy", "EnergyReport"),
    "estimate": (".pricing.baseline", "estimate"),  # pricing.energy.estimate (+ vs_ann=)
    "ann_twin": (".counting.twin", "ann_twin"),
    "break_even": (".pricing.baseline", "break_even"),
    "HardwareError": (".pricing.hardware", "HardwareError"),
    "HardwareProfile": (".pricing.hardware", "HardwareProfile"),
    "list_hardware": (".pricing.hardware", "list_hardware"),
    "load_hardware": (".pricing.hardware", "load_hardware"),
    "LIF": (".lif", "LIF"),
    "reset_states": (".lif", "reset_states"),
    "analytic": (".counting.analytic", None),
    "attention": (".attention", None),
    "zoo": (".zoo", None),
    "nir": (".interop.nir", None),  # NIR graphs in; the nir / nirtorch packages load when used
    "profile_nir": (".interop.nir", "profile_nir"),
}

#: module paths of 0.2 -> their home since 0.3 (importable, with a DeprecationWarning, until 0.4)
MOVED_MODULES: dict[str, str] = {
    f"{__name__}.{old}": f"{__name__}.{new}" for old, new in {
        "errors": "common.errors",
        "checks": "common.checks",
        "_io": "common.files",
        "_tables": "common.formatting",
        "neurons": "lif",
        "diagnostics": "counting.diagnostics",
        "neurobench": "counting.neurobench",
        "inputs": "interop.inputs",
        "hardware": "pricing.hardware",
        "energy": "pricing.energy",
        "mapping": "pricing.mapping",
        "audit": "pricing.audit",
    }.items()
}
#: public short paths that stay: ``import energymodel.nir`` is ``em.nir`` (no warning)
MODULE_ALIASES: dict[str, str] = {f"{__name__}.analytic": f"{__name__}.counting.analytic",
                                  f"{__name__}.nir": f"{__name__}.interop.nir"}
MovedModules.install(MOVED_MODULES)
MovedModules.install(MODULE_ALIASES, warn=False)

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    """Import a public name on first access (PEP 562) and cache it in the module."""
    if f"{__name__}.{name}" in MOVED_MODULES:  # an old module path
        return importlib.import_module(f"{__name__}.{name}")  # warns (common.deprecation)
    try:
        mod, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'energymodel' has no attribute {name!r}") from None
    value = importlib.import_module(mod, __name__)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))

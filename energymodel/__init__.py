"""energymodel: measured op counts and hardware-priced energy for spiking neural networks.

Flow (one direction): model + inputs -> counting -> Profile -> pricing x HardwareProfile ->
EnergyReport -> tables / plots / CLI.

The names below are loaded on first use (PEP 562 ``__getattr__``), so ``import
energymodel.hardware`` and the command line's ``--help`` / ``hw`` commands start without
importing torch, pandas or matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> (module, attribute; None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "Profile": (".counting", "Profile"),
    "Profiler": (".counting", "Profiler"),
    "profile": (".counting", "profile"),
    "profile_loader": (".counting", "profile_loader"),
    "CountOptions": (".counting.operands", "CountOptions"),
    "EnergyReport": (".energy", "EnergyReport"),
    "estimate": (".energy", "estimate"),
    "HardwareError": (".hardware", "HardwareError"),
    "HardwareProfile": (".hardware", "HardwareProfile"),
    "list_hardware": (".hardware", "list_hardware"),
    "load_hardware": (".hardware", "load_hardware"),
    "LIF": (".neurons", "LIF"),
    "reset_states": (".neurons", "reset_states"),
    "analytic": (".analytic", None),
    "attention": (".attention", None),
    "zoo": (".zoo", None),
    "nir": (".nir", None),  # NIR graphs in; the nir / nirtorch packages load when used
    "profile_nir": (".nir", "profile_nir"),
}

__all__ = [*_LAZY, "__version__"]


def __getattr__(name: str) -> Any:
    """Import a public name on first access (PEP 562) and cache it in the module."""
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

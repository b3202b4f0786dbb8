"""energymodel: measured op counts and hardware-priced energy for spiking neural networks.

Flow (one direction): model + inputs -> counting -> Profile -> pricing x HardwareProfile ->
EnergyReport -> tables / plots / CLI.
"""

from __future__ import annotations

from .counting import Profile, Profiler, profile, profile_loader
from .counting.operands import CountOptions
from .energy import EnergyReport, estimate
from .hardware import HardwareError, HardwareProfile, list_hardware, load_hardware
from .neurons import LIF, reset_states

from . import analytic, attention, zoo  # noqa: E402  (models and closed forms; the profiler knows none of them)
from . import nir  # noqa: E402  (NIR graphs in; the nir / nirtorch packages load when used)
from .nir import profile_nir  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Profile",
    "Profiler",
    "profile",
    "profile_loader",
    "CountOptions",
    "EnergyReport",
    "estimate",
    "HardwareError",
    "HardwareProfile",
    "list_hardware",
    "load_hardware",
    "LIF",
    "reset_states",
    "analytic",
    "attention",
    "zoo",
    "nir",
    "profile_nir",
    "__version__",
]

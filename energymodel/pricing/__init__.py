"""Pricing: counts -> energy and hardware cost. Hardware profiles as cited data
(:mod:`.hardware`, one YAML per chip under ``hwprofiles/``), the two energy conventions
(:mod:`.energy`: :func:`~.energy.estimate` -> :class:`~.energy.EnergyReport`), the layer-to-core
mapping with latency and static energy (:mod:`.mapping`), and published energies re-priced at
their reported rates (:mod:`.audit`). Never counts: it reads a Profile.

Submodules load on use, so ``energymodel.pricing.hardware`` starts without torch or pandas."""

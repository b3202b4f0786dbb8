"""Interop: what comes in from outside energymodel. The user's data (:mod:`.inputs`: ``.pt``,
``.npy``, ``.npz``, folders, ``module:callable``) and NIR graphs (:mod:`.nir`, read with the
optional nir / nirtorch packages and profiled by the counting stage)."""

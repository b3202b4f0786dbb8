"""Reference models: ``names()`` lists them, ``build(name)`` makes one.

>>> import energymodel as em
>>> model = em.zoo.build("sdt-1-64-tiny")     # random init
>>> model = em.zoo.build("sdt-8-512", checkpoint="sdt_8_512.pth")

Models are randomly initialised unless a checkpoint is given. A random model's BatchNorm
statistics make neurons almost silent; :func:`energymodel.attention.calibrate_bn` sets them from
one input so that firing rates (and op counts) are plausible.
"""

from __future__ import annotations

import os
from typing import Any

from torch import nn

from ..attention import calibrate_bn
from . import blocks, models
from .checkpoint import CheckpointError, load_checkpoint
from .configs import CONFIGS, FAMILIES

__all__ = [
    "names",
    "build",
    "config",
    "published_params",
    "count_params",
    "calibrate_bn",
    "load_checkpoint",
    "CheckpointError",
    "CONFIGS",
    "blocks",
    "models",
]

_META = ("family", "published_params", "source", "sources", "hypothetical")


def names(family: str | None = None) -> list[str]:
    """Model names, optionally of one family (``spikformer``, ``sdt``, ``saformer``, ``vit``)."""
    if family is not None and family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    return [n for n, c in CONFIGS.items() if family is None or c["family"] == family]


def config(name: str) -> dict[str, Any]:
    """A copy of ``name``'s configuration (including ``family`` and, where one exists,
    ``published_params`` and its ``source``)."""
    try:
        return dict(CONFIGS[name])
    except KeyError:
        close = [n for n in CONFIGS if name.split("-")[0] in n][:6]
        hint = f"; did you mean one of {close}" if close else ""
        raise KeyError(f"unknown zoo model {name!r}{hint} (see energymodel.zoo.names())") from None


def published_params(name: str) -> float | None:
    """The parameter count the paper reports for ``name`` (two decimals of millions), or None."""
    return config(name).get("published_params")


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def build(name: str, *, checkpoint: str | os.PathLike | None = None, **overrides: Any) -> nn.Module:
    """Build zoo model ``name`` (random init), optionally loading ``checkpoint``.

    ``overrides`` replace configuration entries (``T``, ``num_classes``, ``img_size``, ``heads``,
    ...); an unknown key is an error. The model is returned in eval mode.
    """
    cfg = config(name)
    family = cfg["family"]
    unknown = set(overrides) - (set(cfg) - set(_META))
    if unknown:
        raise TypeError(f"{name}: unknown config keys {sorted(unknown)}; known: "
                        f"{sorted(set(cfg) - set(_META))}")
    cfg.update(overrides)
    kwargs = {k: v for k, v in cfg.items() if k not in _META}
    if family != "vit":
        kwargs.setdefault("qkv_bias", False)
    model = getattr(models, FAMILIES[family])(**kwargs)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint)
    return model.eval()

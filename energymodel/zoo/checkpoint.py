"""Loading checkpoints into zoo models, ours or the official releases'.

Accepted files: a raw ``state_dict``, or a dict holding it under ``"model"``, ``"state_dict"``
or ``"state_dict_ema"``; a ``"module."`` prefix (DistributedDataParallel) is stripped.

Official Spikformer / Spike-driven Transformer checkpoints differ from our modules in three
known, mechanical ways, translated here and nowhere else:

* 1x1 convolutions where we use ``nn.Linear`` (``q_conv`` -> ``q_linear``, ``fc1_conv`` ->
  ``fc1_linear``, ...; weights ``[out, in, 1(, 1)]`` -> ``[out, in]``);
* parameters the official models create but never use in ``forward`` (Spikformer's
  ``norm1`` / ``norm2`` LayerNorms, SDT's ``talking_heads`` convolution): dropped;
* everything else must match exactly, or loading fails naming the file and the keys.
"""

from __future__ import annotations

import os
import re

import torch
from torch import nn

__all__ = ["load_checkpoint", "CheckpointError"]

_UNUSED = re.compile(r"(^|\.)(norm1|norm2|talking_heads)\.")
_NESTED = ("model", "state_dict", "state_dict_ema")


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model it is loaded into."""


def _extract(obj, path: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in _NESTED:
            if key in obj and isinstance(obj[key], dict):
                return _extract(obj[key], path)
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise CheckpointError(
        f"{path}: no state_dict found (expected a dict of tensors, or one under "
        f"{', '.join(repr(k) for k in _NESTED)})"
    )


def _translate(sd: dict[str, torch.Tensor], target: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key.startswith("module."):
            key = key[len("module."):]
        if key not in target:
            alt = key.replace("_conv.", "_linear.")
            if alt in target and alt != key:
                key = alt
            elif _UNUSED.search(key):
                continue
        want = target.get(key)
        if want is not None and value.shape != want.shape and value.numel() == want.numel():
            value = value.reshape(want.shape)
        out[key] = value
    return out


def load_checkpoint(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load ``path`` into ``model`` (strict, after the translation above); returns the model."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # unreadable, or pickled objects beyond tensors
        raise CheckpointError(f"{path}: cannot be read as a weights-only checkpoint ({exc})") from exc
    target = model.state_dict()
    sd = _translate(_extract(obj, path), target)
    missing = sorted(set(target) - set(sd))
    unexpected = sorted(set(sd) - set(target))
    shapes = sorted(
        f"{k}: file {tuple(sd[k].shape)} vs model {tuple(target[k].shape)}"
        for k in set(sd) & set(target)
        if sd[k].shape != target[k].shape
    )
    if missing or unexpected or shapes:
        parts = []
        for label, items in (("missing", missing), ("unexpected", unexpected), ("shape", shapes)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{label}: {', '.join(items[:5])}{more}")
        raise CheckpointError(f"{path} does not fit {type(model).__name__}: " + "; ".join(parts))
    model.load_state_dict(sd, strict=True)
    return model

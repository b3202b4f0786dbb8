"""Loading checkpoints into zoo models, ours or the official releases'.

Accepted files: a raw ``state_dict``, or a dict holding it under ``"model"``, ``"state_dict"``
or ``"state_dict_ema"`` (timm's training checkpoints, which the official Spikformer and
Spike-driven Transformer ``train.py`` write, also hold the run's ``argparse.Namespace`` under
``"args"``: read as plain data, nothing else of the pickle is trusted); a ``"module."`` prefix
(DistributedDataParallel) is stripped.

Official Spikformer / Spike-driven Transformer checkpoints differ from our modules in three
known, mechanical ways, translated here and nowhere else:

* 1x1 convolutions where we use ``nn.Linear`` (``q_conv`` -> ``q_linear``, ``fc1_conv`` ->
  ``fc1_linear``, ...; weights ``[out, in, 1]`` or ``[out, in, 1, 1]`` <-> ``[out, in]``). This
  is the only reshape: any other shape difference (a transposed ``fc1`` weight, a ``[D, D]``
  read as ``[D/2, 2D]``) is an error naming the key and both shapes, even when the element
  counts agree;
* parameters the official models create but never use in ``forward`` (Spikformer's
  ``norm1`` / ``norm2`` LayerNorms, SDT's ``talking_heads`` convolution): dropped;
* everything else must match exactly, or loading fails naming the file and the keys.

Heads. The number of attention heads changes no weight shape, so a state dict alone cannot say
how many heads it was trained with: a 12-head Spikformer-8-768 checkpoint loads into an 8-head
model and computes another network. Where the file says it, loading checks it: timm training
checkpoints carry ``args.num_heads`` (the official SDT and Spikformer-CIFAR ``train.py`` have
that option; the official Spikformer ImageNet ``train.py`` has none, its heads are fixed in the
model file), and a checkpoint may carry ``{"config": {"heads": H}}``. A mismatch is a
:class:`CheckpointError`. For a bare state dict, pass the head count the checkpoint was trained
with (``zoo.build(name, heads=H, checkpoint=...)``); the zoo's defaults and their sources are
in :mod:`.configs`.
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

import torch
from torch import nn

__all__ = ["load_checkpoint", "checkpoint_heads", "model_heads", "CheckpointError"]

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


def checkpoint_heads(obj: Any) -> int | None:
    """The attention head count a loaded checkpoint object records, or None: ``args.num_heads``
    (a timm training checkpoint's argparse Namespace, or a dict) or ``config["heads"]``."""
    if not isinstance(obj, dict):
        return None
    args = obj.get("args")
    if isinstance(args, argparse.Namespace):
        args = vars(args)
    config = obj.get("config")
    for src, key in ((args, "num_heads"), (config, "heads")):
        if isinstance(src, dict) and isinstance(src.get(key), int) and not isinstance(
                src.get(key), bool):
            return int(src[key])
    return None


def model_heads(model: nn.Module) -> set[int]:
    """Head counts of the attention modules in ``model`` (modules with an integer ``heads``)."""
    return {int(m.heads) for m in model.modules()
            if isinstance(getattr(m, "heads", None), int) and m is not model}


def _conv_linear(value: torch.Tensor, want: torch.Tensor) -> torch.Tensor | None:
    """The one reshape allowed: 1x1 conv ``[out, in, 1(, 1)]`` <-> linear ``[out, in]``."""
    for a, b in ((value, want), (want, value)):
        if a.dim() in (3, 4) and b.dim() == 2 and all(s == 1 for s in a.shape[2:]) \
                and tuple(a.shape[:2]) == tuple(b.shape):
            return value.reshape(want.shape)
    return None


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
        if want is not None and value.shape != want.shape:
            fitted = _conv_linear(value, want)
            value = fitted if fitted is not None else value  # else: reported as a shape error
        out[key] = value
    return out


def _read(path: str) -> Any:
    try:  # timm checkpoints pickle the run's argparse.Namespace beside the tensors
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, weights_only=True, map_location="cpu")
    except Exception as exc:  # unreadable, or pickled objects beyond tensors
        raise CheckpointError(f"{path}: cannot be read as a weights-only checkpoint ({exc})") from exc


def load_checkpoint(model: nn.Module, path: str | os.PathLike) -> nn.Module:
    """Load ``path`` into ``model`` (strict, after the translation above); returns the model.

    Raises :class:`CheckpointError` naming the file and, for each problem, the keys (and for a
    shape difference both shapes), or the head counts when the file records its own."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    obj = _read(path)
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
        for label, items in (("shape", shapes), ("missing", missing), ("unexpected", unexpected)):
            if items:
                more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
                parts.append(f"{label}: {', '.join(items[:5])}{more}")
        raise CheckpointError(f"{path} does not fit {type(model).__name__}: " + "; ".join(parts))
    heads, have = checkpoint_heads(obj), model_heads(model)
    if heads is not None and have and have != {heads}:
        raise CheckpointError(
            f"{path} was trained with {heads} attention heads, the {type(model).__name__} has "
            f"{'/'.join(str(h) for h in sorted(have))}: same weight shapes, another network "
            f"(build it with heads={heads})")
    model.load_state_dict(sd, strict=True)
    return model

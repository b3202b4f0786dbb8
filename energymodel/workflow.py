"""The one-call path behind ``energymodel profile``: a model named by the user (a zoo name or a
``module:callable``), optional weights, a small seeded input generator, the profiler over
several batches, and pricing on several hardware profiles.

>>> from energymodel.workflow import profile_model_spec
>>> run = profile_model_spec("sdt-1-64-tiny", ["cmos45nm", "loihi"], timesteps=2, batches=2)
>>> run.report.totals        # energy per sample on each chip
>>> run.profile.layers       # what ran

Everything the user can get wrong raises :class:`~energymodel.errors.UserError` with a one-line
reason (the command line prints it and exits with code 2).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch import nn

from .counting import Profile, Profiler
from .energy import EnergyReport, check_options, estimate
from .errors import UserError
from .hardware import HardwareError, HardwareProfile, list_hardware, load_hardware

__all__ = [
    "ModelSpec",
    "load_model",
    "parse_input_shape",
    "input_batches",
    "profile_model",
    "load_hardware_list",
    "ProfileRun",
    "profile_model_spec",
    "INPUT_KINDS",
    "check_pricing",
    "price",
]

#: input generators: ``random`` uniform [0, 1) images, ``normal`` N(0, 1) (normalised images),
#: ``spikes:R`` Bernoulli spikes of rate R (event inputs).
INPUT_KINDS = ("random", "normal", "spikes:RATE")

#: BatchNorm shift used when calibrating a random zoo model (see ``attention.calibrate_bn``)
DEFAULT_BN_SHIFT = 0.5


@dataclass
class ModelSpec:
    """A loaded model and what we know about it."""

    model: nn.Module
    name: str
    source: str  # "zoo" | "callable"
    input_shape: tuple[int, ...] | None  # one sample, batch excluded
    timesteps: int | None
    checkpoint: str | None = None


def _zoo():
    from . import zoo  # noqa: PLC0415  (models are one source of inputs; the profiler knows none)

    return zoo


def _zoo_names() -> list[str]:
    return list(_zoo().names())


def _check_checkpoint(path: str | os.PathLike | None) -> str | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise UserError(f"checkpoint {str(path)!r} does not exist")
    return str(p)


def _load_state(model: nn.Module, path: str) -> None:
    """``torch.load(path, weights_only=True)`` into ``model`` (strict); a dict holding the weights
    under ``state_dict`` / ``model`` / ``module`` is unwrapped."""
    try:
        obj = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as e:  # noqa: BLE001 - anything unreadable is the user's file
        raise UserError(f"checkpoint {path!r} cannot be read as a weights-only checkpoint: "
                        f"{_one_line(e)}") from None
    for key in ("state_dict", "model", "module", "net"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise UserError(f"checkpoint {path!r} holds a {type(obj).__name__}, not a state dict")
    try:
        model.load_state_dict(obj, strict=True)
    except Exception as e:  # noqa: BLE001
        raise UserError(f"checkpoint {path!r} does not fit the model: {_one_line(e)}") from None


def _one_line(e: BaseException, limit: int = 300) -> str:
    s = " ".join(str(e).split())
    return s if len(s) <= limit else s[: limit - 3] + "..."


def load_model(
    spec: str,
    checkpoint: str | os.PathLike | None = None,
    timesteps: int | None = None,
    nir_dt: float | None = None,
) -> ModelSpec:
    """Build the model ``spec`` names: a zoo name (``sdt-8-512``, see ``em.zoo.names()``) or
    ``package.module:callable`` (a function or class returning an ``nn.Module``, called without
    arguments). ``checkpoint``: weights loaded with ``torch.load(..., weights_only=True)``.
    ``timesteps``: T for zoo spiking models (their default otherwise).

    The model's input shape for one sample is taken from the zoo configuration, or from an
    ``input_shape`` attribute of the module (``None`` when it has none)."""
    ckpt = _check_checkpoint(checkpoint)
    if timesteps is not None and int(timesteps) < 1:
        raise UserError(f"timesteps must be >= 1 (got {timesteps})")
    if str(spec).lower().endswith(".nir"):
        return _load_nir(spec, ckpt, timesteps, nir_dt)
    if ":" in spec:
        return _load_callable(spec, ckpt, timesteps)
    names = _zoo_names()
    if spec in names:
        z = _zoo()
        cfg = z.config(spec)
        overrides: dict[str, Any] = {}
        if timesteps is not None and "T" in cfg:
            overrides["T"] = int(timesteps)
        try:
            model = z.build(spec, checkpoint=ckpt, **overrides)
        except (FileNotFoundError, ValueError) as e:  # CheckpointError is a ValueError
            raise UserError(f"{spec}: {_one_line(e)}") from None
        shape = (int(cfg.get("in_channels", 3)), int(cfg["img_size"]), int(cfg["img_size"]))
        T = int(getattr(model, "T", cfg.get("T", 1)) or 1)
        return ModelSpec(model, spec, "zoo", shape, T, ckpt)
    close = [n for n in names if spec.split("-")[0] and n.startswith(spec.split("-")[0])][:5]
    hint = f"; zoo models like it: {', '.join(close)}" if close else (
        f"; zoo models: {', '.join(names[:6])}, ..." if names else "")
    raise UserError(f"unknown model {spec!r}: give a zoo name or 'package.module:callable'{hint}")


def _load_nir(spec: str, ckpt: str | None, timesteps: int | None,
              nir_dt: float | None) -> ModelSpec:
    """A ``.nir`` graph (:func:`energymodel.nir.load`); ``input_shape`` is one step of one
    sample (``None`` when the graph has no input type)."""
    if ckpt is not None:
        raise UserError(f"{spec}: a NIR graph carries its own weights; --checkpoint does not apply")
    from . import nir as _nir  # noqa: PLC0415  (nir and nirtorch are optional)

    model = _nir.load(spec, dt=nir_dt)
    return ModelSpec(model, spec, "nir", model.input_shape, timesteps)


def _load_callable(spec: str, ckpt: str | None, timesteps: int | None) -> ModelSpec:
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise UserError(f"bad model spec {spec!r}: expected 'package.module:callable'")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # a user's module in the current folder
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise UserError(f"bad model spec {spec!r}: cannot import module {mod_name!r} "
                        f"({_one_line(e)})") from None
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"bad model spec {spec!r}: module {mod_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    if isinstance(obj, nn.Module):
        model = obj
    elif callable(obj):
        try:
            model = obj()
        except Exception as e:  # noqa: BLE001 - the user's constructor failed
            raise UserError(f"bad model spec {spec!r}: calling {attr}() failed: "
                            f"{_one_line(e)}") from None
    else:
        raise UserError(f"bad model spec {spec!r}: {attr!r} is not callable")
    if not isinstance(model, nn.Module):
        raise UserError(f"bad model spec {spec!r}: {attr}() returned a {type(model).__name__}, "
                        "not a torch.nn.Module")
    if ckpt is not None:
        _load_state(model, ckpt)
    shape = getattr(model, "input_shape", None)
    shape = tuple(int(s) for s in shape) if shape is not None else None
    T = timesteps if timesteps is not None else getattr(model, "T", None)
    return ModelSpec(model.eval(), spec, "callable", shape, int(T) if T else None, ckpt)


def parse_input_shape(text: str | None) -> tuple[int, ...] | None:
    """``"3,224,224"`` (or ``3x224x224``) -> ``(3, 224, 224)``: one sample, batch excluded."""
    if text is None or str(text).strip() == "":
        return None
    parts = str(text).replace("x", ",").replace(" ", "").strip("()[]").split(",")
    try:
        shape = tuple(int(p) for p in parts if p != "")
    except ValueError:
        raise UserError(f"bad input shape {text!r}: expected comma-separated integers such as "
                        "3,224,224") from None
    if not shape or any(s <= 0 for s in shape):
        raise UserError(f"bad input shape {text!r}: every size must be a positive integer")
    return shape


def _parse_kind(kind: str) -> tuple[str, float]:
    k = kind.strip().lower()
    if k in ("random", "normal"):
        return k, 0.0
    if k.startswith("spikes"):
        _, _, r = k.partition(":")
        try:
            rate = float(r) if r else 0.2
        except ValueError:
            raise UserError(f"bad input {kind!r}: expected spikes:RATE, e.g. spikes:0.2") from None
        if not 0.0 <= rate <= 1.0:
            raise UserError(f"bad input {kind!r}: the spike rate must be within [0, 1]")
        return "spikes", rate
    raise UserError(f"unknown input generator {kind!r}; use one of {', '.join(INPUT_KINDS)}")


def input_batches(
    shape: Sequence[int],
    batch_size: int = 1,
    batches: int = 1,
    kind: str = "random",
    seed: int = 0,
) -> Iterator[torch.Tensor]:
    """``batches`` seeded tensors ``[batch_size, *shape]``: ``random`` (uniform [0, 1), images),
    ``normal`` (standard normal) or ``spikes:R`` (Bernoulli spikes of rate R). The same seed
    gives the same inputs."""
    k, rate = _parse_kind(kind)
    if batch_size < 1 or batches < 1:
        raise UserError(f"batch size and number of batches must be >= 1 (got {batch_size}, "
                        f"{batches})")
    g = torch.Generator().manual_seed(int(seed))
    size = (int(batch_size), *(int(s) for s in shape))
    for _ in range(int(batches)):
        if k == "random":
            yield torch.rand(size, generator=g)
        elif k == "normal":
            yield torch.randn(size, generator=g)
        else:
            yield (torch.rand(size, generator=g) < rate).float()


def profile_model(
    model: nn.Module,
    input_shape: Sequence[int],
    *,
    batch_size: int = 1,
    batches: int = 1,
    input: str = "random",
    timesteps: int | None = None,
    seed: int = 0,
    calibrate: bool = False,
    bn_shift: float = DEFAULT_BN_SHIFT,
    progress: bool = False,
) -> Profile:
    """Run ``model`` on ``batches`` generated batches under one :class:`~energymodel.Profiler`
    (counts are sums over all batches, rates averages) and return the :class:`Profile`.

    ``calibrate``: first set the BatchNorm statistics from the first batch (for randomly
    initialised models, whose neurons are otherwise almost silent; see
    ``energymodel.attention.calibrate_bn``). ``progress``: a tqdm bar over batches on stderr.
    A forward that fails on the generated input (wrong input shape) raises :class:`UserError`.
    """
    kind, _ = _parse_kind(input)
    if batch_size < 1 or batches < 1:
        raise UserError(f"batch size and number of batches must be >= 1 (got {batch_size}, "
                        f"{batches})")
    data = input_batches(input_shape, batch_size, batches, input, seed)
    first = next(data)
    shape_txt = "[" + ", ".join(str(s) for s in first.shape) + "]"
    model.eval()
    if calibrate:
        from .attention import calibrate_bn  # noqa: PLC0415

        try:
            calibrate_bn(model, first, shift=bn_shift)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"the model does not run on input {shape_txt}: "
                            f"{type(e).__name__}: {_one_line(e)} (check --input-shape)") from None

    def all_batches() -> Iterator[torch.Tensor]:
        yield first
        yield from data

    from tqdm import tqdm  # noqa: PLC0415

    bar = tqdm(all_batches(), total=batches, desc="batches", unit="batch", file=sys.stderr,
               disable=not progress, leave=False)
    try:
        with Profiler(model, batch_dim=0, timesteps=timesteps, reset=True) as p:
            with torch.no_grad():
                for i, x in enumerate(bar):
                    try:
                        model(x)
                    except Exception as e:  # noqa: BLE001
                        if i == 0:
                            raise UserError(f"the model does not run on input {shape_txt}: "
                                            f"{type(e).__name__}: {_one_line(e)} (check "
                                            "--input-shape and --timesteps)") from None
                        raise
    finally:
        bar.close()
    return p.result()


def load_hardware_list(names: Sequence[str | HardwareProfile]) -> list[HardwareProfile]:
    """Load every named (or YAML-path) hardware profile; an unknown name raises
    :class:`UserError` listing the shipped ones."""
    if not names:
        raise UserError("give at least one hardware profile (--hw NAME or --hw path.yaml)")
    out = []
    for n in names:
        if isinstance(n, HardwareProfile):
            out.append(n)
            continue
        s = str(n)
        looks_like_path = os.sep in s or "/" in s or s.endswith((".yaml", ".yml"))
        if not looks_like_path and s not in list_hardware():
            raise UserError(f"unknown hardware {s!r}; known: {', '.join(list_hardware())} "
                            "(or give a path to a YAML profile)")
        try:
            out.append(load_hardware(s))
        except HardwareError as e:
            raise UserError(f"hardware {s!r}: {_one_line(e)}") from None
    return out


def check_pricing(mode: str = "paper", sops: str = "exact", precision: str = "fp32",
                  **_: Any) -> None:
    """Refuse an unknown convention, SOP source or precision before anything runs."""
    try:
        check_options(mode, sops, precision)
    except ValueError as e:
        raise UserError(str(e)) from None


def price(prof: Profile, hardware: Sequence[HardwareProfile], mode: str = "paper",
          **options: Any) -> EnergyReport:
    """:func:`energymodel.estimate` with the user's choices; a chip that cannot price what was
    asked (no such precision, no multiplier and no host) raises :class:`UserError`."""
    check_pricing(mode, **options)
    try:
        return estimate(prof, hardware, mode=mode, **options)
    except (HardwareError, ValueError) as e:
        raise UserError(_one_line(e)) from None


@dataclass
class ProfileRun:
    """What :func:`profile_model_spec` measured and priced."""

    spec: ModelSpec
    profile: Profile
    report: EnergyReport
    settings: dict[str, Any] = field(default_factory=dict)


def profile_model_spec(
    spec: str,
    hardware: Sequence[str | HardwareProfile],
    *,
    checkpoint: str | os.PathLike | None = None,
    input_shape: Sequence[int] | str | None = None,
    input: str = "random",
    timesteps: int | None = None,
    batch_size: int = 1,
    batches: int = 1,
    mode: str = "paper",
    seed: int = 0,
    calibrate: bool | None = None,
    progress: bool = False,
    estimate_options: dict[str, Any] | None = None,
    nir_dt: float | None = None,
) -> ProfileRun:
    """Load, profile and price one model: the whole of ``energymodel profile``.

    ``calibrate=None`` calibrates BatchNorm statistics only for zoo models without a checkpoint
    (random weights). Hardware and options are checked before the model runs."""
    check_pricing(mode, **(estimate_options or {}))
    hws = load_hardware_list(hardware)
    _parse_kind(input)
    shape = parse_input_shape(input_shape) if isinstance(input_shape, str) else (
        tuple(int(s) for s in input_shape) if input_shape is not None else None)
    torch.manual_seed(int(seed))  # random-initialised weights are part of the seeded run
    ms = load_model(spec, checkpoint, timesteps, nir_dt=nir_dt)
    if ms.source == "nir":  # runs step by step: input [batch, T, *one step]
        if timesteps is None:
            raise UserError(f"{spec}: a NIR graph runs step by step; give the number of steps "
                            "with --timesteps / -T")
        if shape and ms.input_shape and tuple(shape) != tuple(ms.input_shape):
            raise UserError(f"{spec}: --input-shape {','.join(map(str, shape))} does not match "
                            f"the graph's input type {tuple(ms.input_shape)}")
        step = shape or ms.input_shape
        if step is None:
            raise UserError(f"{spec}: the graph has no input type; give --input-shape (one step "
                            "of one sample, e.g. 2,34,34)")
        shape = (int(timesteps), *step)
    shape = shape or ms.input_shape
    if shape is None:
        raise UserError(f"{spec}: no input shape known; give --input-shape (e.g. 3,224,224) or "
                        "set an input_shape attribute on the model")
    if calibrate is None:
        calibrate = ms.source == "zoo" and ms.checkpoint is None
    T = timesteps
    if ms.source == "zoo" and T is not None and getattr(ms.model, "T", T) != T:
        T = None  # the ViT baseline: one step whatever is asked
    prof = profile_model(ms.model, shape, batch_size=batch_size, batches=batches, input=input,
                         timesteps=T, seed=seed, calibrate=calibrate, progress=progress)
    rep = price(prof, hws, mode=mode, **(estimate_options or {}))
    settings = dict(model=spec, checkpoint=ms.checkpoint, input_shape=list(shape), input=input,
                    timesteps=ms.timesteps, batch_size=batch_size, batches=batches, mode=mode,
                    seed=seed, calibrated_bn=bool(calibrate),
                    hardware=[h.name for h in hws])
    if ms.source == "nir":
        settings.update(nir_dt=ms.model.dt, nir_dt_source=ms.model.dt_source)
    return ProfileRun(ms, prof, rep, settings)

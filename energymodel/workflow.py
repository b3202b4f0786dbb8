"""The one-call path behind ``energymodel profile``: a model named by the user (a zoo name or a
``module:callable``), optional weights, a small seeded input generator, the profiler over
several batches, and pricing on several hardware profiles.

>>> from energymodel.workflow import profile_model_spec
>>> run = profile_model_spec("sdt-1-64-tiny", ["cmos45nm", "loihi"], timesteps=2, batches=2)
>>> run.report.totals        # energy per sample on each chip
>>> run.profile.layers       # what ran

Everything the user can get wrong raises :class:`~energymodel.common.errors.UserError` with a one-line
reason (the command line prints it and exits with code 2).
"""

from __future__ import annotations

import ast
import importlib
import itertools
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import torch
from torch import nn

from .common import checks as _checks
from .common.errors import UserError
from .common.files import read_user_text
from .counting import Profile, Profiler
from .counting.operands import CountOptions
from .counting.profiler import _default_forward
from .lif import reset_states
from .pricing.energy import EnergyReport, check_options, estimate
from .pricing.hardware import HardwareError, HardwareProfile, is_hardware_path, list_hardware, load_hardware

if TYPE_CHECKING:
    from .interop.inputs import DataSource

__all__ = [
    "ModelSpec",
    "load_model",
    "parse_input_shape",
    "input_batches",
    "profile_model",
    "load_hardware_list",
    "ProfileRun",
    "profile_model_spec",
    "parse_model_args",
    "profile_data",
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
        raise UserError(f"checkpoint {str(path)!r} {_not_a_file(p)}")
    return str(p)


def _not_a_file(p: Path) -> str:
    """Why ``p`` is not a readable regular file, as the end of a sentence."""
    import stat  # noqa: PLC0415

    try:
        m = p.stat().st_mode
    except FileNotFoundError:
        return "does not exist"
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(m):
            return f"is {what}, not a file"
    return "is not a regular file"


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
    model_kwargs: dict[str, Any] | None = None,
    nir_dt: float | None = None,
    memory_budget: int | None = None,
) -> ModelSpec:
    """Build the model ``spec`` names: a zoo name (``sdt-8-512``, see ``em.zoo.names()``) or
    ``package.module:callable`` (a function or class returning an ``nn.Module``, called without
    arguments). ``checkpoint``: weights loaded with ``torch.load(..., weights_only=True)``.
    ``timesteps``: T for zoo spiking models (their default otherwise). ``model_kwargs``: keyword
    arguments of the callable, or configuration overrides of a zoo model (``--model-arg``; see
    :func:`parse_model_args`). A ``.nir`` file is a NIR graph (:func:`energymodel.interop.nir.load`;
    ``nir_dt``: its step in seconds when the graph's metadata has none).

    The model's input shape for one sample is taken from the zoo configuration, or from an
    ``input_shape`` attribute of the module (``None`` when it has none). ``memory_budget``
    (bytes): a NIR file's declared arrays are checked against it before they are loaded."""
    ckpt = _check_checkpoint(checkpoint)
    if timesteps is not None and int(timesteps) < 1:
        raise UserError(f"timesteps must be >= 1 (got {timesteps})")
    if nir_dt is not None and not str(spec).lower().endswith(".nir"):
        raise UserError(f"--nir-dt applies to NIR graphs (.nir files), not to {spec!r}")
    if str(spec).lower().endswith(".nir"):
        if model_kwargs:
            raise UserError(f"{spec}: a NIR graph is built from the file; --model-arg "
                            f"{', '.join(sorted(model_kwargs))} does not apply")
        return _load_nir(spec, ckpt, timesteps, nir_dt, memory_budget)
    if ":" in spec:
        return _load_callable(spec, ckpt, timesteps, model_kwargs or {})
    names = _zoo_names()
    if spec in names:
        z = _zoo()
        cfg = z.config(spec)
        overrides: dict[str, Any] = {}
        if timesteps is not None and "T" in cfg:
            overrides["T"] = int(timesteps)
        overrides.update(model_kwargs or {})
        try:
            model = z.build(spec, checkpoint=ckpt, **overrides)
        except (FileNotFoundError, ValueError) as e:  # CheckpointError is a ValueError
            raise UserError(f"{spec}: {_one_line(e)}") from None
        except TypeError as e:  # an override the zoo configuration does not have
            raise UserError(f"{spec}: --model-arg {', '.join(sorted(model_kwargs or {}))} "
                            f"rejected: {_one_line(e)}") from None
        shape = (int(cfg.get("in_channels", 3)), int(cfg["img_size"]), int(cfg["img_size"]))
        T = int(getattr(model, "T", cfg.get("T", 1)) or 1)
        return ModelSpec(model, spec, "zoo", shape, T, ckpt)
    close = [n for n in names if spec.split("-")[0] and n.startswith(spec.split("-")[0])][:5]
    hint = f"; zoo models like it: {', '.join(close)}" if close else (
        f"; zoo models: {', '.join(names[:6])}, ..." if names else "")
    raise UserError(f"unknown model {spec!r}: give a zoo name or 'package.module:callable'{hint}")


def _load_nir(spec: str, ckpt: str | None, timesteps: int | None,
              nir_dt: float | None, memory_budget: int | None = None) -> ModelSpec:
    """A ``.nir`` graph (:func:`energymodel.interop.nir.load`); ``input_shape`` is one step of one
    sample (``None`` when the graph has no input type)."""
    if ckpt is not None:
        raise UserError(f"{spec}: a NIR graph carries its own weights; --checkpoint does not apply")
    from .interop import nir as _nir  # noqa: PLC0415  (nir and nirtorch are optional)

    model = _nir.load(spec, dt=nir_dt, memory_budget=memory_budget)
    return ModelSpec(model, spec, "nir", model.input_shape, timesteps)


def _load_callable(spec: str, ckpt: str | None, timesteps: int | None,
                   kwargs: dict[str, Any] | None = None) -> ModelSpec:
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
    except SystemExit as e:
        raise UserError(f"bad model spec {spec!r}: importing {mod_name!r} called "
                        f"sys.exit({e.code!r})") from None
    obj: Any = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise UserError(f"bad model spec {spec!r}: module {mod_name!r} has no {attr!r}")
        obj = getattr(obj, part)
    kwargs = kwargs or {}
    if isinstance(obj, nn.Module):
        if kwargs:
            raise UserError(f"--model-arg {', '.join(sorted(kwargs))}: {spec!r} is a module "
                            "instance, not a constructor")
        model = obj
    elif callable(obj):
        try:
            model = obj(**kwargs)
        except Exception as e:  # noqa: BLE001 - the user's constructor failed
            given = f" with --model-arg {', '.join(sorted(kwargs))}" if kwargs else ""
            raise UserError(f"bad model spec {spec!r}: calling {attr}(){given} failed: "
                            f"{type(e).__name__}: {_one_line(e)}") from None
        except SystemExit as e:  # a constructor that exits is no model either
            raise UserError(f"bad model spec {spec!r}: calling {attr}() called "
                            f"sys.exit({e.code!r}) instead of returning a model") from None
    else:
        raise UserError(f"bad model spec {spec!r}: {attr!r} is not callable")
    if not isinstance(model, nn.Module):
        raise UserError(f"bad model spec {spec!r}: {attr}() returned a {type(model).__name__}, "
                        "not a torch.nn.Module")
    _checks.check_not_scripted(model, spec)
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
    if k == "spikes" or k.startswith("spikes:"):
        _, _, r = k.partition(":")
        try:
            rate = 0.2 if k == "spikes" else float(r or "x")
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
    options: CountOptions | None = None,
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

        if progress:  # one forward pass, may take a while on a large model: say so (TTY only)
            print(f"calibrating BatchNorm on the first batch {shape_txt} ...", file=sys.stderr,
                  flush=True)
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
        with Profiler(model, batch_dim=0, timesteps=timesteps, reset=True, options=options) as p:
            with torch.no_grad():
                for i, x in enumerate(bar):
                    try:
                        model(x)
                    except SystemExit as e:
                        raise UserError(f"the model called sys.exit({e.code!r}) in its forward "
                                        f"on input {shape_txt}") from None
                    except Exception as e:  # noqa: BLE001
                        if isinstance(e, MemoryError) or "can't allocate memory" in str(e):
                            raise UserError(f"out of memory running the model on input "
                                            f"{shape_txt}; lower --batch-size") from None
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
        if not is_hardware_path(s) and s not in list_hardware():
            raise UserError(f"unknown hardware {s!r}; known: {', '.join(list_hardware())} "
                            "(or give a path to a YAML profile)")
        try:
            out.append(load_hardware(s))
        except HardwareError as e:
            raise UserError(f"hardware {s!r}: {_one_line(e)}") from None
    return _checks.unique_hardware(out)


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
        rep = estimate(prof, hardware, mode=mode, **options)
    except (HardwareError, ValueError) as e:
        raise UserError(_one_line(e)) from None
    _checks.check_finite(rep.totals, "energy totals")
    _checks.check_finite(rep.layers, "per-layer energy")
    return rep


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
    batches: int | None = 1,
    mode: str = "paper",
    seed: int = 0,
    calibrate: bool | None = None,
    progress: bool = False,
    estimate_options: dict[str, Any] | None = None,
    memory_budget: float | None = None,
    data: str | os.PathLike | None = None,
    normalize: str | None = None,
    time_major: bool = False,
    model_kwargs: dict[str, Any] | None = None,
    nir_dt: float | None = None,
    count_options: CountOptions | None = None,
    vs_ann: int | str | bool | None = None,
) -> ProfileRun:
    """Load, profile and price one model: the whole of ``energymodel profile``.

    ``calibrate=None`` calibrates BatchNorm statistics only for zoo models without a checkpoint
    (random weights). Hardware and options are checked before the model runs, and so is the
    size of one input batch against ``memory_budget`` (GiB; default: see
    :func:`energymodel.common.checks.default_memory_budget`). ``data``: the
    user's data (see :func:`energymodel.interop.inputs.open_data`; ``batches=None``: all of it) instead
    of the ``input`` generator. ``model_kwargs``: see :func:`load_model`. ``settings`` records
    ``inputs`` (the data source, or the generator and its seed), ``samples`` and ``batches``.
    ``count_options``: how operands are classified (e.g. ``CountOptions(integer_spikes='mac')``).
    ``vs_ann``: also profile the ANN twin (``True``: ``ceil(log2(T + 1))`` bits; a number of bits
    or ``"int8"`` / ``"fp16"`` / ``"fp32"``) on the first generated batch, and give
    ``report.break_even`` (:mod:`energymodel.pricing.baseline`)."""
    _checks.check_positive(batch_size=batch_size, batches=batches, timesteps=timesteps)
    _checks.check_seed(seed)
    budget = _checks.budget_bytes(memory_budget)
    check_pricing(mode, **(estimate_options or {}))
    hws = load_hardware_list(hardware)
    _parse_kind(input)
    shape = parse_input_shape(input_shape) if isinstance(input_shape, str) else (
        tuple(int(s) for s in input_shape) if input_shape is not None else None)
    if shape is not None:
        _checks.check_memory(_checks.input_bytes(shape, batch_size),
                             f"an input batch of {batch_size} x {shape}", budget)
    torch.manual_seed(int(seed))  # random-initialised weights are part of the seeded run
    if data is None and (normalize or time_major):
        raise UserError(f"{'--normalize' if normalize else '--time-major'} applies to --data; "
                        "the generated inputs have neither")
    if data is not None and input != "random":
        raise UserError(f"give --data or --input {input!r}, not both")
    if vs_ann not in (None, False) and (data is not None or str(spec).lower().endswith(".nir")):
        # the twin runs once on a generated batch; a data source or a NIR graph (input [batch,
        # T, ...], stepped by the graph) would not give it a one-step input
        raise UserError("--vs-ann runs on the generated inputs of a zoo model or a "
                        "module:callable; it does not apply to --data or a .nir graph yet")
    ms = load_model(spec, checkpoint, timesteps, model_kwargs, nir_dt=nir_dt,
                    memory_budget=budget)
    if ms.source == "nir":  # runs step by step: input [batch, T, *one step]
        shape = _nir_input_shape(spec, ms, shape, timesteps, time_major)
    if data is not None:
        run = _profile_spec_on_data(ms, hws, data, shape, batch_size, batches, mode, calibrate,
                                    progress, estimate_options, normalize, time_major, timesteps,
                                    count_options, budget)
        run.settings["seed"] = seed  # of the random initialisation, where weights are random
        if ms.source == "nir":
            run.settings.update(nir_dt=ms.model.dt, nir_dt_source=ms.model.dt_source)
        return _with_caveats(run)
    batches = 1 if batches is None else batches
    shape = shape or ms.input_shape
    if shape is None:
        raise UserError(f"{spec}: no input shape known; give --input-shape (e.g. 3,224,224) or "
                        "set an input_shape attribute on the model")
    _checks.check_memory(_checks.input_bytes(shape, batch_size),
                         f"an input batch of {batch_size} x {tuple(shape)}", budget)
    if _checks.input_bytes(shape, batch_size) > _checks.PROBE_ABOVE_BYTES:
        _checks.check_memory(batch_size * _checks.activation_bytes_per_sample(ms.model, shape, reset_states),
                             f"the model at batch size {batch_size}", budget)
    if calibrate is None:
        calibrate = ms.source == "zoo" and ms.checkpoint is None
    T = timesteps
    if ms.source == "zoo" and T is not None and getattr(ms.model, "T", T) != T:
        T = None  # the ViT baseline: one step whatever is asked
    prof = profile_model(ms.model, shape, batch_size=batch_size, batches=batches, input=input,
                         timesteps=T, seed=seed, calibrate=calibrate, progress=progress,
                         options=count_options)
    rep = price(prof, hws, mode=mode, **(estimate_options or {}))
    from .counting.diagnostics import seen_timesteps  # noqa: PLC0415

    settings = dict(model=spec, checkpoint=ms.checkpoint, input_shape=list(shape), input=input,
                    timesteps=seen_timesteps(prof) or ms.timesteps, batch_size=batch_size, batches=batches, mode=mode,
                    seed=seed, **_calibration(calibrate, ms.model),
                    hardware=[h.name for h in hws], samples=prof.samples,
                    inputs=f"generator {input}, seed {seed}")
    if ms.source == "nir":
        settings.update(nir_dt=ms.model.dt, nir_dt_source=ms.model.dt_source)
    run = _with_caveats(ProfileRun(ms, prof, rep, settings))
    if vs_ann not in (None, False):
        _add_twin(run, shape, batch_size, input, seed, vs_ann, mode,
                  (estimate_options or {}).get("precision", "fp32"))
    return run


def _nir_input_shape(spec: str, ms: ModelSpec, shape: tuple[int, ...] | None,
                     timesteps: int | None, time_major: bool) -> tuple[int, ...]:
    """One sample's input to a NIR graph, ``(T, *one step)``: the graph runs step by step on
    ``[batch, T, *one step]`` (so the user's data is batch-first, never time-major)."""
    if timesteps is None:
        raise UserError(f"{spec}: a NIR graph runs step by step; give the number of steps "
                        "with --timesteps / -T")
    if time_major:
        raise UserError(f"{spec}: a NIR graph takes [batch, T, *input_type]; --time-major "
                        "data does not apply (give the samples as [N, T, ...])")
    if shape and ms.input_shape and tuple(shape) != tuple(ms.input_shape):
        raise UserError(f"{spec}: --input-shape {','.join(map(str, shape))} does not match "
                        f"the graph's input type {tuple(ms.input_shape)}")
    step = shape or ms.input_shape
    if step is None:
        raise UserError(f"{spec}: the graph has no input type; give --input-shape (one step "
                        "of one sample, e.g. 2,34,34)")
    return (int(timesteps), *step)


# ------------------------------------------------------------------ the user's model and data
_OBJ_REF = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_][\w.]*)(\(\))?$")


def parse_model_value(text: str, arg: str = "") -> Any:
    """One ``--model-arg`` value: ``pkg.mod:name`` -> that object, ``pkg.mod:name()`` -> the
    result of calling it, a Python literal (``3``, ``0.5``, ``'m'``, ``(1, 2)``, ``None``) ->
    its value, any other word -> the string itself (``step_mode=m``)."""
    t = str(text).strip()
    m = _OBJ_REF.match(t)
    if m:
        mod_name, attr, call = m.groups()
        try:
            obj: Any = importlib.import_module(mod_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except (ImportError, AttributeError) as e:
            raise UserError(f"--model-arg {arg or t!r}: cannot resolve {mod_name}:{attr} "
                            f"({_one_line(e)})") from None
        if call:
            try:
                obj = obj()
            except Exception as e:  # noqa: BLE001 - the user's factory failed
                raise UserError(f"--model-arg {arg or t!r}: calling {mod_name}:{attr}() failed: "
                                f"{type(e).__name__}: {_one_line(e)}") from None
        return obj
    try:
        return ast.literal_eval(t)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return t


def parse_model_args(items: Sequence[str] = (), kwargs_file: str | os.PathLike | None = None,
                     ) -> dict[str, Any]:
    """Constructor keyword arguments from ``--model-kwargs FILE`` (a JSON or YAML mapping) and
    ``--model-arg key=value`` items (which win); string values are read by
    :func:`parse_model_value`."""
    out: dict[str, Any] = {}
    if kwargs_file is not None:
        path = Path(kwargs_file)
        text = read_user_text(path, "--model-kwargs", limit=64 << 10)  # a regular file, 64 KiB
        try:
            if path.suffix.lower() == ".json":
                obj = json.loads(text)
            else:
                import yaml  # noqa: PLC0415

                obj = yaml.safe_load(text)
        except Exception as e:  # noqa: BLE001 - unreadable user file
            raise UserError(f"--model-kwargs {str(path)!r} cannot be read: {_one_line(e)}") from None
        if not isinstance(obj, dict) or not all(isinstance(k, str) for k in obj):
            raise UserError(f"--model-kwargs {str(path)!r}: expected a mapping of argument names "
                            f"to values, got {type(obj).__name__}")
        for k, v in obj.items():
            out[k] = parse_model_value(v, f"{k}={v}") if isinstance(v, str) else v
    for item in items:
        key, eq, value = str(item).partition("=")
        key = key.strip()
        if not eq or not key.isidentifier():
            raise UserError(f"bad --model-arg {item!r}: expected key=value, e.g. step_mode=m")
        out[key] = parse_model_value(value, str(item))
    return out


def profile_data(
    model: nn.Module,
    source: "DataSource",
    *,
    timesteps: int | None = None,
    calibrate: bool = False,
    bn_shift: float = DEFAULT_BN_SHIFT,
    progress: bool = False,
    expected_shape: Sequence[int] | None = None,
    options: CountOptions | None = None,
) -> tuple[Profile, int]:
    """Profile ``model`` over the batches of ``source`` through
    :meth:`energymodel.Profiler.run` (the API's loader path: counts summed over the batches,
    rates averaged, per-batch spread kept; neuron states reset after every batch). Returns the
    profile and the number of batches run.

    ``expected_shape``: the model's input for one sample; data whose samples differ raises
    :class:`UserError` naming both shapes. ``calibrate``: BatchNorm statistics from the first
    batch (random weights)."""
    from .interop.inputs import first_tensor  # noqa: PLC0415

    it = iter(source.batches)
    try:
        first = next(it)
    except StopIteration:
        raise UserError(f"data {source.description} gave no batches") from None
    x0 = first_tensor(first)
    if x0 is None:
        raise UserError(f"data {source.description}: a batch is a {type(first).__name__}, with no "
                        "input tensor")
    got = tuple(int(s) for s in x0.shape[source.batch_dim + 1:])
    if expected_shape is not None and got != tuple(int(s) for s in expected_shape):
        raise UserError(f"data {source.description} has samples of shape {got}, but the model "
                        f"takes {tuple(int(s) for s in expected_shape)} (--input-shape or the "
                        "model's input_shape)")
    model.eval()
    if calibrate:
        from .attention import calibrate_bn  # noqa: PLC0415

        try:
            calibrate_bn(model, x0, shift=bn_shift)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"the model does not run on data {source.description} (batch "
                            f"{tuple(x0.shape)}): {type(e).__name__}: {_one_line(e)}") from None
    count = [0]

    def counted() -> Iterator[Any]:
        count[0] = 1
        yield first
        while True:
            try:
                b = next(it)
            except StopIteration:
                return
            except UserError:
                raise
            except Exception as e:  # noqa: BLE001 - the user's data source raised
                raise UserError(f"data {source.description}, batch {count[0] + 1}: "
                                f"{type(e).__name__}: {_one_line(e)}") from e
            count[0] += 1
            x = first_tensor(b)
            shape = None if x is None else tuple(int(s) for s in x.shape[source.batch_dim + 1:])
            if shape != got:
                raise UserError(f"data {source.description}, batch {count[0]}: samples of "
                                f"shape {shape}, but the first batch's were {got}")
            yield b

    def forward(m: nn.Module, batch: Any) -> Any:
        try:
            return _default_forward(m, batch)
        except Exception as e:  # noqa: BLE001
            if count[0] == 1:
                raise UserError(f"the model does not run on data {source.description} (batch "
                                f"{tuple(x0.shape)}): {type(e).__name__}: {_one_line(e)} "
                                "(check --input-shape, --time-major and --timesteps)") from None
            raise UserError(f"the model failed on data {source.description}, batch {count[0]}: "
                            f"{type(e).__name__}: {_one_line(e)}") from e

    p = Profiler(model, batch_dim=source.batch_dim, timesteps=timesteps, reset=True,
                 options=options)
    prof = p.run(counted(), forward=forward, progress=progress, total=source.total,
                 desc="batches")
    return prof, count[0]


def _profile_spec_on_data(ms: ModelSpec, hws: list[HardwareProfile], data: Any,
                          shape: tuple[int, ...] | None, batch_size: int, batches: int | None,
                          mode: str, calibrate: bool | None, progress: bool,
                          estimate_options: dict[str, Any] | None, normalize: str | None,
                          time_major: bool, timesteps: int | None,
                          count_options: CountOptions | None = None,
                          budget: int | None = None) -> ProfileRun:
    """:func:`profile_model_spec` on the user's data."""
    from .interop.inputs import open_data  # noqa: PLC0415

    expected = shape or ms.input_shape
    src = open_data(data, batch_size=batch_size, batches=batches, input_shape=expected,
                    normalize=normalize, time_major=time_major, memory_budget=budget)
    if src.sample_shape is not None and expected is not None and src.sample_shape != tuple(expected):
        raise UserError(f"data {src.description} has samples of shape {src.sample_shape}, but "
                        f"the model takes {tuple(expected)} (--input-shape or the model's "
                        "input_shape)")
    T = timesteps
    if src.timesteps is not None:
        if timesteps is not None and int(timesteps) != src.timesteps:
            raise UserError(f"data {src.description} is time-major with T={src.timesteps}, but "
                            f"--timesteps {timesteps} was given")
        T = src.timesteps
    elif ms.source == "zoo" and T is not None and getattr(ms.model, "T", T) != T:
        T = None  # the ViT baseline: one step whatever is asked
    if calibrate is None:
        calibrate = ms.source == "zoo" and ms.checkpoint is None
    prof, n = profile_data(ms.model, src, timesteps=T, calibrate=calibrate, progress=progress,
                           expected_shape=expected, options=count_options)
    rep = price(prof, hws, mode=mode, **(estimate_options or {}))
    settings = dict(model=ms.name, checkpoint=ms.checkpoint,
                    input_shape=list(expected or src.sample_shape or ()), input="data",
                    timesteps=T or ms.timesteps, batch_size=batch_size, batches=n, mode=mode,
                    seed=None, **_calibration(calibrate, ms.model),
                    hardware=[h.name for h in hws],
                    samples=prof.samples, inputs=src.description)
    return ProfileRun(ms, prof, rep, settings)


def _calibration(calibrate: bool | None, model: Any) -> dict[str, bool]:
    """The settings that say what ``--calibrate`` did: ``calibrated_bn`` (BatchNorm statistics
    set), ``calibrate_nothing`` (asked for, but the model has no BatchNorm to calibrate)."""
    has_bn = isinstance(model, nn.Module) and any(
        isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    return {"calibrated_bn": bool(calibrate) and has_bn,
            "calibrate_nothing": bool(calibrate) and not has_bn}


def _with_caveats(run: ProfileRun) -> ProfileRun:
    """Record in ``settings["hypothetical"]`` when a zoo configuration has no published
    counterpart (SAFormer at ImageNet sizes), so every output can say so."""
    if run.spec.source == "zoo":
        from . import zoo  # noqa: PLC0415

        note = zoo.config(run.spec.name).get("hypothetical")
        if note:
            run.settings["hypothetical"] = note
    return run


def _add_twin(run: ProfileRun, shape: Sequence[int], batch_size: int, input: str, seed: int,
              vs_ann: int | str | bool, mode: str, precision: str) -> None:
    """The ANN twin on the first batch of the same seeded inputs, and the break-even table."""
    from .counting.twin import ann_twin  # noqa: PLC0415
    from .pricing.baseline import break_even  # noqa: PLC0415

    x = next(input_batches(shape, batch_size, 1, input, seed))
    bits = None if vs_ann is True else vs_ann
    T = run.settings.get("timesteps") or getattr(run.spec.model, "T", None)
    twin = ann_twin(run.spec.model, x, bits, timesteps=T, batch_dim=0)
    run.settings["twin"] = {"bits": twin.model_info["twin_bits"],
                            "precision": twin.model_info["twin_precision"]}
    run.report.break_even = break_even(run.profile, twin, run.report.hardware, mode,
                                       precision=precision)

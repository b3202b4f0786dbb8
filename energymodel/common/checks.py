"""Up-front checks of what the user asked for, so that a bad request fails in one line before
any work instead of in a traceback after it: seeds, sizes against a memory budget, repeated
hardware, models the profiler cannot see into, and non-finite results.

Every check raises :class:`~energymodel.common.errors.UserError` (one line; the CLI prints it and
exits with code 2).
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Iterable, Sequence

from .errors import UserError

__all__ = [
    "SEED_RANGE",
    "default_memory_budget",
    "check_seed",
    "check_positive",
    "check_memory",
    "input_bytes",
    "attention_bytes",
    "check_finite",
    "check_not_scripted",
    "scripted_parts",
    "unique_hardware",
]

#: seeds torch accepts everywhere (``torch.Generator.manual_seed`` takes a signed 64-bit value)
SEED_RANGE = (0, 2**63 - 1)
_GIB = 1 << 30


def default_memory_budget() -> int:
    """Bytes a run may plan for: ``ENERGYMODEL_MEMORY_GB`` (GiB) if set, else half of the
    machine's physical memory (8 GiB where that is unknown)."""
    env = os.environ.get("ENERGYMODEL_MEMORY_GB", "").strip()
    if env:
        try:
            gb = float(env)
        except ValueError:
            raise UserError(f"ENERGYMODEL_MEMORY_GB={env!r} is not a number of GiB") from None
        if not (gb > 0 and math.isfinite(gb)):
            raise UserError(f"ENERGYMODEL_MEMORY_GB={env!r} must be a positive number of GiB")
        return int(gb * _GIB)
    try:
        return int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2)
    except (AttributeError, ValueError, OSError):
        return 8 * _GIB


def budget_bytes(memory_gb: float | None) -> int:
    """The budget in bytes for a ``--memory-budget`` value in GiB (``None``: the default)."""
    if memory_gb is None:
        return default_memory_budget()
    if not (isinstance(memory_gb, (int, float)) and math.isfinite(memory_gb) and memory_gb > 0):
        raise UserError(f"--memory-budget must be a positive number of GiB (got {memory_gb})")
    return int(memory_gb * _GIB)


def check_seed(seed: Any) -> int:
    """``seed`` as an int within :data:`SEED_RANGE`, else :class:`UserError`."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"--seed must be an integer (got {seed!r})")
    lo, hi = SEED_RANGE
    if not lo <= seed <= hi:
        raise UserError(f"--seed must be within [{lo}, 2**63 - 1] (got {seed})")
    return seed


def check_positive(**values: Any) -> None:
    """Each named value is an integer >= 1 (``None`` is skipped): ``check_positive(batch_size=0)``
    raises ``UserError("--batch-size must be >= 1 (got 0)")``."""
    for name, v in values.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise UserError(f"--{name.replace('_', '-')} must be an integer >= 1 (got {v!r})")


def input_bytes(shape: Sequence[int], batch_size: int, itemsize: int = 4) -> int:
    """Bytes of one float32 input batch ``[batch_size, *shape]``."""
    n = int(batch_size) * itemsize
    for s in shape:
        n *= int(s)
    return n


def attention_bytes(tokens: int, dim: int, heads: int, timesteps: int) -> int:
    """Bytes the largest tensors of ``energymodel compare`` take at once, float32: the
    ``T x H x N x N`` attention map plus eight ``T x N x D`` activations (input, Q, K, V,
    their spikes, output)."""
    T, N, D, H = int(timesteps), int(tokens), int(dim), int(heads)
    return 4 * (T * H * N * N + 8 * T * N * D)


#: an input batch above this size is first run as one sample to measure its activations
PROBE_ABOVE_BYTES = 64 << 20


def activation_bytes_per_sample(model: Any, shape: Sequence[int],
                                reset_states: Callable[[Any], None]) -> int:
    """Rough peak bytes one sample takes in ``model``: three times the largest output of any
    module (its input, its output and a temporary), measured by running one zero sample under
    ``no_grad``. Neuron states are cleared afterwards with ``reset_states(model)`` (passed in:
    this module sits below the neurons). A model that fails here is left to the real run,
    which reports its error."""
    import torch  # noqa: PLC0415

    peak = [0]

    def size(x: Any) -> int:
        if isinstance(x, torch.Tensor):
            return x.numel() * x.element_size()
        if isinstance(x, (list, tuple)):
            return sum(size(v) for v in x)
        if isinstance(x, dict):
            return sum(size(v) for v in x.values())
        return 0

    def hook(_m: Any, _inp: Any, out: Any) -> None:
        peak[0] = max(peak[0], size(out))

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model(torch.zeros((1, *(int(s) for s in shape))))
    except Exception:  # noqa: BLE001
        return 0
    finally:
        for h in handles:
            h.remove()
        reset_states(model)
    return 3 * peak[0]


def check_memory(needed: int, what: str, budget: int, flag: str = "--memory-budget") -> None:
    """Refuse a run whose planned tensors (``needed`` bytes) exceed ``budget`` bytes."""
    if needed > budget:
        raise UserError(f"{what} needs about {_human(needed)}, more than the memory budget of "
                        f"{_human(budget)}; make it smaller, or raise the budget with {flag} GIB "
                        "(or ENERGYMODEL_MEMORY_GB)")


def _human(n: float) -> str:
    for unit, f in (("TiB", 1 << 40), ("GiB", _GIB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= f:
            return f"{n / f:.3g} {unit}"
    return f"{int(n)} B"


def check_finite(frame: Any, what: str) -> None:
    """Every number of a DataFrame is finite (NaN allowed only where a column is all-optional
    text): an infinite energy is refused before anything is written."""
    import numpy as np  # noqa: PLC0415

    num = frame.select_dtypes(include=[np.number])
    bad = ~np.isfinite(num.to_numpy(dtype=float)) & ~np.isnan(num.to_numpy(dtype=float))
    if bad.any():
        col = num.columns[bad.any(axis=0)][0]
        raise UserError(f"{what}: column {col!r} holds an infinite value (a hardware constant "
                        "or a count too large); nothing written")


def scripted_parts(model: Any) -> list[str]:
    """Names of the TorchScript parts of ``model`` (``torch.jit.ScriptModule`` /
    ``ScriptFunction``): ``["(the model)"]`` for a scripted or traced model, else its scripted
    submodules (RWKV-style code scripts blocks inside an eager model); empty when none."""
    import torch  # noqa: PLC0415

    scripted = (torch.jit.ScriptModule, torch.jit.ScriptFunction)
    if isinstance(model, scripted):
        return ["(the model)"]
    if not isinstance(model, torch.nn.Module):
        return []
    out: list[str] = []
    for n, m in model.named_modules():
        if isinstance(m, scripted) and not any(n.startswith(p + ".") for p in out):
            out.append(n or "(the model)")   # the outermost scripted module, not its parts
    return out


def check_not_scripted(model: Any, spec: str) -> None:
    """Refuse a model with TorchScript parts in one line naming them and the workaround: their
    ops run as one compiled graph that the profiler cannot see into. Used by the API
    (:class:`~energymodel.Profiler`) and the CLI alike."""
    parts = scripted_parts(model)
    if not parts:
        return
    shown = ", ".join(parts[:5]) + (f" ... ({len(parts) - 5} more)" if len(parts) > 5 else "")
    raise UserError(f"{spec}: TorchScript part(s) {shown} (torch.jit.script / trace) cannot be "
                    "profiled: their layers and neurons run as one compiled graph; set "
                    "PYTORCH_JIT=0 before Python starts (torch.jit.script then keeps the eager "
                    "module), or give the original nn.Module")


def unique_hardware(profiles: Iterable[Any]) -> list[Any]:
    """Profiles with repeats dropped (the same name from the same file, e.g. ``--hw cmos45nm
    --hw cmos45nm``); two different files with the same ``name`` raise :class:`UserError`,
    since every table keys chips by name."""
    out: list[Any] = []
    seen: dict[str, Any] = {}
    for p in profiles:
        prev = seen.get(p.name)
        if prev is None:
            seen[p.name] = p
            out.append(p)
            continue
        same = prev is p or _same_file(prev.path, p.path)
        if not same:
            raise UserError(f"two hardware profiles are named {p.name!r}: {prev.path} and "
                            f"{p.path}; rename one (its 'name' field)")
    return out


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a == b

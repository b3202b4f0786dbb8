"""Recognising spiking neurons: a table of adapters, tried in order.

A neuron module is recorded as one ``neuron`` op per call (neuron updates, output spikes, per
timestep); the arithmetic inside it (leak, threshold, reset) is not counted op by op. Adapters are
matched by class name and module path strings, so no SNN framework is imported here: none of them
is a dependency of energymodel.

An adapter answers four questions about a module: is it a neuron, which op name it gets
(``lif``, ``if``, ``plif``, ``leaky``...), which part of its output is the spike tensor, whether a
call covers several timesteps (and how many), and how its state is cleared between samples.

Built-in families (first match wins):

=====================  ==========================================  ==============  ===========
family                 recognised by                               T per call      reset
=====================  ==========================================  ==============  ===========
energymodel            ``energymodel.lif`` classes                 ``step_mode``   ``reset()``
spikingjelly 2.x       ``spikingjelly.activation_based.*``,        ``step_mode``   ``reset()``
(activation_based)     ``BaseNode`` or ``PSN`` family in the MRO   ``'m'``: dim 0
spikingjelly <= 0.14   ``spikingjelly.clock_driven.*``,            ``MultiStep*``  ``reset()``
(clock_driven)         ``BaseNode`` in the MRO                     class: dim 0
snntorch               ``snntorch.*``, ``SpikingNeuron`` in the    one step (the   ``reset_mem()``
                       MRO; output ``spk`` or ``(spk, mem, ...)``  ``StateLeaky``
                                                                   family: dim 0)
fallback               any module with a callable ``reset()`` and  ``step_mode``   ``reset()``
                       a ``v`` / ``mem`` / ``membrane_potential``
=====================  ==========================================  ==============  ===========

Multi-step ``v``: spikingjelly's multi-step neurons (``step_mode='m'`` and the old
``MultiStep*`` classes) keep in ``v`` only the *last* step's potential (shape ``[B, ...]``, the
full ``[T, B, ...]`` sequence goes to ``v_seq`` when asked for); neither class resets ``v`` at
the start of a call. The neuron count is therefore read from the spike output (``T x B x
neurons``), never from the state, and states carried between samples are cleared only by a
reset (``Profiler(reset=True)``, the default, resets every recognised neuron through its
adapter before every sample).

Read-out nodes that emit a potential instead of spikes (spikingjelly's ``NonSpiking*``) are not
neurons here: their arithmetic is counted op by op.

Binary by construction: an adapter may answer ``binary(module) -> True`` when the module's spike
output can only hold 0 and 1 (a Heaviside step on the membrane). The profiler then takes only
the output's sum per timestep (non-zeros = sum for 0 / 1) instead of the full binary / integer /
analog scan. Claimed for our ``LIF``; spikingjelly's ``IFNode``, ``LIFNode``,
``ParametricLIFNode``, ``QIFNode``, ``EIFNode``, ``IzhikevichNode`` (and the old
``MultiStep*`` forms) whose surrogate is one of spikingjelly's own in spiking mode; snntorch's
``Leaky``, ``Synaptic``, ``RLeaky``, ``RSynaptic``, ``Lapicque``, ``Alpha`` with one of
snntorch's own surrogates and ``graded_spikes_factor == 1``. Never for subclasses, ternary or
graded neurons, or the behavioural fallback. ``CountOptions(verify=True)`` scans in full and
raises when a claimed neuron emits anything but 0 and 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

__all__ = ["NeuronAdapter", "NEURON_ADAPTERS", "register_neuron_adapter", "find_adapter",
           "register_neuron", "unregister_neuron"]


def _class_names(m: nn.Module) -> list[str]:
    return [c.__name__ for c in type(m).__mro__]


def _module_path(m: nn.Module) -> str:
    return type(m).__module__ or ""


def _op_name(m: nn.Module) -> str:
    name = type(m).__name__.lower()
    if name.startswith("multistep"):  # "multisteplif" would read as "...plif"
        name = name[len("multistep"):]
    for key, op in (
        ("parametriclif", "plif"),
        ("plif", "plif"),
        ("lif", "lif"),
        ("linearleaky", "leaky"),  # "linearleaky" holds "rleaky"
        ("rleaky", "rleaky"),
        ("leaky", "leaky"),
        ("ifnode", "if"),
        ("rsynaptic", "rsynaptic"),
        ("synaptic", "synaptic_neuron"),
        ("alpha", "alpha_neuron"),
        ("lapicque", "lapicque"),
        ("psn", "psn"),
    ):
        if key in name:
            return op
    return "neuron"


def _multistep_from_step_mode(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int | None:
    """T when the call ran several timesteps: spikingjelly / our ``step_mode='m'``, or the old
    clock_driven ``MultiStep*`` classes; ``None`` for single-step calls."""
    if getattr(m, "step_mode", None) == "m" or type(m).__name__.startswith("MultiStep"):
        return int(output.shape[0]) if output.dim() > 0 else None
    return None


def _first_tensor(output: Any) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _membrane(m: nn.Module) -> torch.Tensor | None:
    """The membrane-potential tensor a neuron holds now (``mem``, ``v`` or
    ``membrane_potential``), or ``None`` when it holds none (after a reset to a number)."""
    for a in ("mem", "v", "membrane_potential"):
        v = getattr(m, a, None)
        if isinstance(v, torch.Tensor) and not isinstance(v, nn.Module):
            return v
    return None


@dataclass(frozen=True)
class NeuronAdapter:
    """How to read one family of neurons.

    Attributes:
        name: the family, shown in diagnostics.
        matches: module -> is it this family.
        op: module -> op name for the table.
        spikes: the module's call output -> the spike tensor (e.g. snntorch returns
            ``(spk, mem)``); ``None``: this call emitted no spikes to record.
        timesteps: (module, inputs, spike tensor) -> T when one call covers T steps along the
            leading dim, else ``None``.
        reset: module -> None, clears its state between samples (``None``: not resettable).
        binary: module -> whether its spike output holds only 0 and 1 by construction (asked
            once per module and profiling session; ``None``: never claimed). A wrong ``True``
            makes counts wrong: ``CountOptions(verify=True)`` checks it.
        state: module -> its membrane-potential tensor now (``None``: none held); compared
            before and after a single-step call for NeuroBench's MembraneUpdates.
        time_major: (module, spikes) -> the same spikes with time leading (``[T, B, ...]``),
            for families whose layout is batch-major (sinabs: ``[B, T, ...]`` or squeezed
            ``[B*T, ...]``); ``None``: already time-major (or single-step).
    """

    name: str
    matches: Callable[[nn.Module], bool]
    op: Callable[[nn.Module], str] = _op_name
    spikes: Callable[[Any], torch.Tensor | None] = _first_tensor
    timesteps: Callable[[nn.Module, tuple, torch.Tensor], int | None] = _multistep_from_step_mode
    reset: Callable[[nn.Module], None] | None = None
    binary: Callable[[nn.Module], bool] | None = None
    state: Callable[[nn.Module], torch.Tensor | None] = _membrane
    time_major: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None


def _has_state_protocol(m: nn.Module) -> bool:
    """A callable ``reset()`` and a membrane state: ``v`` / ``mem`` / ``membrane_potential``
    holding a tensor, a number or ``None`` (not a submodule: an attention block with a ``v``
    projection and a ``reset()`` that resets its neurons is not itself a neuron)."""
    if not callable(getattr(m, "reset", None)):
        return False
    for a in ("v", "mem", "membrane_potential"):
        if a in m._modules:
            continue
        if hasattr(m, a) and not isinstance(getattr(m, a), nn.Module):
            return True
    return False


def _call_reset(m: nn.Module) -> None:
    m.reset()


# ------------------------------------------------------------------------- spikingjelly
_SJ_PSN = ("PSN", "MaskedPSN", "SlidingPSN")


def _sj_node(m: nn.Module, package: str) -> bool:
    if not _module_path(m).startswith(package):
        return False
    names = _class_names(m)
    if type(m).__name__.startswith(("NonSpiking", "NoisyNonSpiking")):
        return False
    return "BaseNode" in names or any(n in _SJ_PSN for n in names)


def _sj_timesteps(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int | None:
    """``step_mode='m'``, the old ``MultiStep*`` classes, or a multi-step-only module (the PSN
    family derives from ``MultiStepModule`` and has no ``step_mode``): T is the leading dim."""
    if "MultiStepModule" in _class_names(m) and output.dim() > 0:
        return int(output.shape[0])
    return _multistep_from_step_mode(m, inputs, output)


#: spikingjelly neurons whose output is ``surrogate_function(v - v_threshold)`` (Heaviside in
#: spiking mode), read in spikingjelly 2.0.0 ``activation_based/neuron/*.py`` and 0.0.0.0.14
#: ``clock_driven/neuron.py``; the same class names in both generations
_SJ_HEAVISIDE = (
    "IFNode", "LIFNode", "ParametricLIFNode", "QIFNode", "EIFNode", "IzhikevichNode",
    "MultiStepIFNode", "MultiStepLIFNode", "MultiStepParametricLIFNode",
)


def _sj_binary(package: str) -> Callable[[nn.Module], bool]:
    """Exact class (no subclass) in the list above, with one of spikingjelly's own surrogate
    functions in spiking mode (``spiking=False`` fires the primitive function: analog)."""

    def binary(m: nn.Module) -> bool:
        sg = getattr(m, "surrogate_function", None)
        return (
            type(m).__name__ in _SJ_HEAVISIDE
            and _module_path(m).startswith(package)
            and type(sg).__module__ == f"{package}.surrogate"
            and getattr(sg, "spiking", False) is True
        )

    return binary


def _sj_reset(m: nn.Module) -> None:
    # MemoryModule.reset (both API generations) restores every registered memory (v, v_seq...)
    reset = getattr(m, "reset", None)
    if callable(reset):
        reset()


# ------------------------------------------------------------------------- snntorch
#: snntorch neurons that take the whole sequence ``[T, B, ...]`` in one call
_SNN_MULTISTEP = ("StateLeaky", "LinearLeaky")


def _snn_neuron(m: nn.Module) -> bool:
    if not (_module_path(m).startswith("snntorch") and "SpikingNeuron" in _class_names(m)):
        return False
    # StateLeaky(output=False) returns the membrane only: no spikes, not a neuron here
    return not (any(n in _SNN_MULTISTEP for n in _class_names(m)) and not getattr(m, "output", True))


def _snn_spikes(output: Any) -> torch.Tensor | None:
    # Leaky & co: ``spk`` (init_hidden=True), ``(spk, mem)`` (init_hidden=False or output=True),
    # Synaptic ``(spk, syn, mem)``, StateLeaky ``(spk, mem)``: the spikes come first
    return _first_tensor(output)


def _snn_timesteps(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int | None:
    if any(n in _SNN_MULTISTEP for n in _class_names(m)):
        return int(output.shape[0]) if output.dim() > 0 else None
    return None


#: snntorch neurons whose output is ``fire(mem)``: ``spike_grad(mem - threshold)`` (Heaviside
#: forward in every ``snntorch.surrogate`` function) times ``graded_spikes_factor``
#: (snntorch 1.0.0 ``_neurons/neurons.py``, ``SpikingNeuron.fire``)
_SNN_HEAVISIDE = ("Leaky", "Synaptic", "RLeaky", "RSynaptic", "Lapicque", "Alpha")


def _snn_binary(m: nn.Module) -> bool:
    if type(m).__name__ not in _SNN_HEAVISIDE or getattr(m, "inhibition", False):
        return False
    sg = getattr(m, "spike_grad", None)
    if not (getattr(sg, "__module__", None) == "snntorch.surrogate"
            or getattr(sg, "__name__", None) == "_surrogate_bypass"):
        return False
    g = getattr(m, "graded_spikes_factor", 1.0)
    if isinstance(g, torch.Tensor):
        # a buffer, read once per profiling session (a host read, never per call)
        return g.numel() == 1 and float(g.detach().cpu()) == 1.0
    return g == 1.0


def _snn_reset(m: nn.Module) -> None:
    """snntorch 1.x: ``reset_mem()`` zeroes every hidden state (mem, syn, spk...); it replaces
    the deprecated ``init_leaky()`` / ``init_synaptic()``, which in older releases returned fresh
    zeros without touching the module. Without ``reset_mem`` the known state tensors are zeroed."""
    fn = getattr(m, "reset_mem", None)
    if callable(fn):
        fn()
        return
    for a in ("mem", "syn", "spk", "syn_exc", "syn_inh"):
        v = getattr(m, a, None)
        if isinstance(v, torch.Tensor):
            setattr(m, a, torch.zeros_like(v))


# ------------------------------------------------------------------------- sinabs
def _sinabs_neuron(m: nn.Module) -> bool:
    """A sinabs layer that spikes (``IAF``, ``LIF``, ``ALIF``, their ``Squeeze`` and
    ``Recurrent`` forms: a ``StatefulLayer`` with a ``spike_fn``); ``ExpLeak`` integrates
    without spiking and is left to the op-by-op count."""
    return (_module_path(m).startswith("sinabs") and "StatefulLayer" in _class_names(m)
            and getattr(m, "spike_fn", None) is not None)


def _sinabs_squeezed(m: nn.Module) -> bool:
    return "SqueezeMixin" in _class_names(m)


def _sinabs_timesteps(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int | None:
    """sinabs runs every call over all its steps: ``[B, T, ...]``, or ``[B*T, ...]`` for the
    ``Squeeze`` layers (T = ``num_timesteps``, or the leading size / ``batch_size``)."""
    if _sinabs_squeezed(m):
        n = int(output.shape[0])
        T = int(getattr(m, "num_timesteps", -1) or -1)
        if T <= 0:
            b = int(getattr(m, "batch_size", -1) or -1)
            T = n // b if b > 0 else 1
        return T
    return int(output.shape[1]) if output.dim() > 1 else None


def _sinabs_time_major(m: nn.Module, spk: torch.Tensor) -> torch.Tensor:
    """``[B, T, ...]`` (``[B*T, ...]`` unflattened batch-major, as sinabs' ``SqueezeMixin``
    packs it) -> ``[T, B, ...]``."""
    if _sinabs_squeezed(m):
        T = _sinabs_timesteps(m, (), spk) or 1
        spk = spk.reshape(spk.shape[0] // T, T, *spk.shape[1:])
    return spk.transpose(0, 1)


def _sinabs_reset(m: nn.Module) -> None:
    fn = getattr(m, "reset_states", None)
    if callable(fn):
        fn()


def _sinabs_binary(m: nn.Module) -> bool:
    """Only with ``SingleSpike`` (one spike at most per step); sinabs' default ``MultiSpike``
    emits as many spikes per step as the membrane holds thresholds: integer outputs, scanned."""
    fn = getattr(m, "spike_fn", None)
    return getattr(fn, "__name__", "") == "SingleSpike" and \
        getattr(fn, "__module__", "").startswith("sinabs.activation")


# ------------------------------------------------------------------------- norse
#: norse modules that emit a potential, not spikes (leaky integrators): not neurons here
_NORSE_NON_SPIKING = ("LI", "LICell", "LIBox", "LIBoxCell", "LILinearCell", "LIBoxLinearCell")


def _norse_neuron(m: nn.Module) -> bool:
    """A norse spiking module: ``SNN`` (a whole sequence ``[T, B, ...]`` per call: ``LIF``,
    ``LIFBox``, ``LSNN`` ...) or ``SNNCell`` (one step: ``LIFCell``, ``LIFBoxCell`` ...); the
    leaky integrators (``LI*``) are not."""
    if not _module_path(m).startswith("norse"):
        return False
    names = _class_names(m)
    return ("SNN" in names or "SNNCell" in names) and type(m).__name__ not in _NORSE_NON_SPIKING


def _norse_timesteps(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int | None:
    if "SNN" in _class_names(m) and output.dim() > 0:
        return int(output.shape[0])
    return None


#: Tried in order; the first match wins.
NEURON_ADAPTERS: list[NeuronAdapter] = [
    NeuronAdapter(
        name="energymodel",
        matches=lambda m: _module_path(m) == "energymodel.lif",
        reset=_call_reset,
        # LIF fires (h - v_threshold >= 0).to(dtype): 0 or 1 (energymodel/lif.py)
        binary=lambda m: type(m).__name__ == "LIF",
    ),
    NeuronAdapter(
        name="spikingjelly.activation_based",
        matches=lambda m: _sj_node(m, "spikingjelly.activation_based"),
        timesteps=_sj_timesteps,
        reset=_sj_reset,
        binary=_sj_binary("spikingjelly.activation_based"),
    ),
    NeuronAdapter(
        name="spikingjelly.clock_driven",
        matches=lambda m: _sj_node(m, "spikingjelly.clock_driven"),
        reset=_sj_reset,
        binary=_sj_binary("spikingjelly.clock_driven"),
    ),
    NeuronAdapter(
        name="spikingjelly (other)",
        matches=lambda m: _module_path(m).startswith("spikingjelly")
        and any(n in ("BaseNode", "MemoryModule") for n in _class_names(m))
        and hasattr(m, "v_threshold"),
        reset=_sj_reset,
    ),
    NeuronAdapter(
        name="snntorch",
        matches=_snn_neuron,
        spikes=_snn_spikes,
        timesteps=_snn_timesteps,
        reset=_snn_reset,
        binary=_snn_binary,
    ),
    NeuronAdapter(
        name="sinabs",
        matches=_sinabs_neuron,
        timesteps=_sinabs_timesteps,
        time_major=_sinabs_time_major,
        reset=_sinabs_reset,
        binary=_sinabs_binary,
        state=lambda m: getattr(m, "v_mem", None) if isinstance(getattr(m, "v_mem", None),
                                                                 torch.Tensor) else None,
    ),
    NeuronAdapter(
        name="norse",
        matches=_norse_neuron,
        timesteps=_norse_timesteps,
        reset=lambda m: None,  # norse returns its state to the caller: the module holds none
        state=lambda m: None,
    ),
    NeuronAdapter(
        name="stateful (behavioural fallback)",
        matches=_has_state_protocol,
        reset=_call_reset,
    ),
]


def register_neuron_adapter(adapter: NeuronAdapter, first: bool = True) -> None:
    """Add an adapter (before the built-in ones by default, so it wins; otherwise just before
    the behavioural fallback)."""
    if first:
        NEURON_ADAPTERS.insert(0, adapter)
    else:
        NEURON_ADAPTERS.insert(len(NEURON_ADAPTERS) - 1, adapter)


def find_adapter(m: nn.Module) -> NeuronAdapter | None:
    for a in NEURON_ADAPTERS:
        try:
            if a.matches(m):
                return a
        except Exception:  # a matcher must never break profiling
            continue
    return None


def register_neuron(
    cls: type,
    *,
    state: str | Callable[[nn.Module], torch.Tensor | None] | None = "v",
    reset: str | Callable[[nn.Module], None] | None = "reset",
    timesteps: str | int | Callable[[nn.Module, tuple, torch.Tensor], int | None] | None = None,
    spikes: Callable[[Any], torch.Tensor | None] | None = None,
    binary: bool = False,
    op: str | None = None,
    name: str | None = None,
) -> NeuronAdapter:
    """Count instances of your own neuron class ``cls`` (and its subclasses) as neurons,
    without changing energymodel. Registered adapters are tried before the built-in ones.

    Args:
        state: the attribute holding the membrane potential (``"v"``), or a function of the
            module returning it (``None``: the module keeps none, e.g. a state passed in and out).
        reset: the method that clears the state between samples (``"reset"``), or a function of
            the module (``None``: nothing to clear).
        timesteps: how many steps one call covers: ``None`` (one step per call, the model loops
            over time), ``"leading"`` (``[T, B, ...]``: T is dim 0), an int (T along that dim:
            ``1`` for ``[B, T, ...]``), or a function ``(module, inputs, spikes) -> T``.
        spikes: the call's output -> the spike tensor (default: the output, or its first
            element when it returns a tuple).
        binary: ``True`` only when the output can hold nothing but 0 and 1 (a Heaviside step):
            the profiler then sums instead of scanning; ``CountOptions(verify=True)`` checks it.
        op: the op name in the tables (default: from the class name, else ``"neuron"``).
        name: the family name shown in diagnostics (default: the class's qualified name).

    Returns the adapter (pass it to :func:`unregister_neuron` to remove it).

    Example::

        class MyLIF(nn.Module):          # membrane in self.mem, cleared by self.clear()
            ...
        em.register_neuron(MyLIF, state="mem", reset="clear", timesteps="leading")
    """
    if not isinstance(cls, type) or not issubclass(cls, nn.Module):
        raise TypeError(f"register_neuron: cls must be an nn.Module subclass, got {cls!r}")

    def _state(m: nn.Module) -> torch.Tensor | None:
        if callable(state):
            return state(m)
        v = getattr(m, state, None) if state else None
        return v if isinstance(v, torch.Tensor) and not isinstance(v, nn.Module) else None

    def _reset(m: nn.Module) -> None:
        if callable(reset):
            reset(m)
        elif reset:
            getattr(m, reset)()

    if timesteps is None:
        ts: Callable[[nn.Module, tuple, torch.Tensor], int | None] = lambda m, i, s: None  # noqa: E731
        major = None
    elif callable(timesteps):
        ts, major = timesteps, None
    else:
        dim = 0 if timesteps == "leading" else timesteps
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 0:
            raise ValueError(f"register_neuron: timesteps must be None, 'leading', a dim >= 0 "
                             f"or a function, got {timesteps!r}")
        ts = lambda m, i, s: int(s.shape[dim]) if s.dim() > dim else None  # noqa: E731
        major = None if dim == 0 else (lambda m, s: s.movedim(dim, 0))
    for attr, val in (("state", state), ("reset", reset)):
        if isinstance(val, str) and not val.isidentifier():
            raise ValueError(f"register_neuron: {attr} must name an attribute, got {val!r}")
    adapter = NeuronAdapter(
        name=name or f"{cls.__module__}.{cls.__qualname__} (registered)",
        matches=lambda m: isinstance(m, cls),
        op=(lambda m: op) if op else _op_name,
        spikes=spikes or _first_tensor,
        timesteps=ts,
        reset=_reset if reset is not None else (lambda m: None),
        binary=(lambda m: True) if binary else None,
        state=_state,
        time_major=major,
    )
    register_neuron_adapter(adapter, first=True)
    return adapter


def unregister_neuron(adapter: NeuronAdapter) -> None:
    """Remove an adapter added by :func:`register_neuron` (a no-op when it is not there)."""
    if adapter in NEURON_ADAPTERS:
        NEURON_ADAPTERS.remove(adapter)

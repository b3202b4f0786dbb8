"""NIR graphs in: a ``.nir`` file (Neuromorphic Intermediate Representation, Pedersen et al.,
Nature Communications 15, 2024) becomes a torch module that the profiler counts like any other.

The file is read with the ``nir`` package and wired with ``nirtorch.nir_to_torch``, but every
primitive is mapped by our own table (:data:`PRIMITIVES`), so the neurons are ours: binary
spikes, a membrane ``v`` and ``reset()``, recognised by the profiler (neuron updates, output
spikes, MembraneUpdates). Both packages are optional: ``pip install 'energymodel[nir]'``.

Time. NIR's neurons are continuous-time ODEs; each step of length ``dt`` (seconds) is one
forward-Euler step, taken from the graph's metadata (``metadata["dt"]``) when it has one, else
from the ``dt`` argument (``--nir-dt``). With ``a = dt / tau``:

=========  ===================================================================================
LIF        ``v <- v + a (v_leak - v) + a r I``; spike ``z = v > v_threshold``; where ``z``:
           ``v <- v_reset`` (snntorch's ``Leaky(reset_mechanism="zero", reset_delay=False)``
           exported with ``tau = dt / (1 - beta)``, ``r = tau / dt`` is exactly
           ``v <- beta v + I``)
CubaLIF    ``i <- i + (dt / tau_syn) (w_in S - i)``, then the LIF update with ``I = i``
IF         ``v <- v + dt r I``; spike and reset as LIF
LI, CubaLI the LIF / CubaLIF update, no spike: the output is ``v`` (analog, counted op by op)
I          ``v <- v + dt r I`` (analog)
Threshold  ``z = x > threshold`` (stateless; a neuron site: one update per element and step)
Delay      ``y[t] = x[t - round(delay / dt)]`` (zeros before the first input); a delay that is
           not a whole number of steps is refused
Affine,    ``nn.Linear``; Conv1d / Conv2d: ``nn.Conv1d/2d`` with NIR's stride, padding,
Linear...  dilation, groups; SumPool2d: a window sum (``avg_pool2d`` with divisor 1);
           AvgPool2d; Flatten (NIR dims exclude the batch); Scale: ``x * scale``
=========  ===================================================================================

A graph runs step by step: :class:`NIRModule` takes ``[batch, T, *input_type]`` and returns
``[batch, T, *output_type]``, starting every call from a reset state (one call = one sample's
whole sequence). Recurrent edges carry the previous step's output (nirtorch's convention; the
recurrent projection of the last step is computed, so it is counted, although no later step
reads it).
"""

from __future__ import annotations

import importlib
import math
import os
import re
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from energymodel.common.errors import UserError

__all__ = [
    "NIRModule", "load", "read_graph", "profile_nir", "PRIMITIVES", "INSTALL_HINT",
]

INSTALL_HINT = ("reading NIR graphs needs the packages nir and nirtorch: "
                "pip install 'energymodel[nir]' (or pip install nir nirtorch)")

#: NIR primitives we map (type name -> what it becomes; see the module docstring).
PRIMITIVES: dict[str, str] = {
    "Input": "identity", "Output": "identity", "NIRGraph": "subgraph",
    "Affine": "nn.Linear (bias)", "Linear": "nn.Linear (no bias)",
    "Conv1d": "nn.Conv1d", "Conv2d": "nn.Conv2d",
    "SumPool2d": "window sum", "AvgPool2d": "nn.AvgPool2d", "Flatten": "nn.Flatten",
    "Scale": "x * scale", "Delay": "step delay",
    "Threshold": "spike: x > threshold", "IF": "spiking", "LIF": "spiking",
    "CubaLIF": "spiking", "LI": "analog", "CubaLI": "analog", "I": "analog",
}

#: primitives whose update depends on dt
_TIMED = ("IF", "LIF", "CubaLIF", "LI", "CubaLI", "I", "Delay")


def _packages() -> tuple[Any, Any]:
    """The real ``nir`` and ``nirtorch`` (imported by absolute name: this module is
    ``energymodel.nir`` and must not shadow them)."""
    try:
        return importlib.import_module("nir"), importlib.import_module("nirtorch")
    except ImportError as e:
        raise UserError(f"{INSTALL_HINT} ({e})") from None


def _t(a: Any) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a, dtype=np.float64)).to(torch.float32)


# ------------------------------------------------------------------------- neuron modules
class _NIRNeuron(nn.Module):
    """A spiking NIR neuron: one step per call, membrane ``v`` (a plain attribute, not in the
    state dict), cleared by :meth:`reset`. Output: binary spikes (0.0 / 1.0)."""

    op = "neuron"

    def __init__(self, v_threshold: Any, v_reset: Any) -> None:
        super().__init__()
        self.register_buffer("v_threshold", _t(v_threshold))
        self.register_buffer("v_reset", _t(v_reset))
        self.v: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the membrane (and synaptic) state: the next call starts from rest."""
        self.v = None

    def _rest(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x) if self.v is None or self.v.shape != x.shape else self.v

    def _fire(self, v: torch.Tensor) -> torch.Tensor:
        z = (v > self.v_threshold).to(v.dtype)
        self.v = torch.where(z > 0, self.v_reset.expand_as(v), v)
        return z


class LIF(_NIRNeuron):
    """NIR ``LIF``: ``v <- (1 - a) v + a v_leak + a r I``, ``a = dt / tau``; spike where
    ``v > v_threshold``, then ``v <- v_reset``."""

    op = "lif"

    def __init__(self, tau: Any, r: Any, v_leak: Any, v_threshold: Any, v_reset: Any,
                 dt: float) -> None:
        super().__init__(v_threshold, v_reset)
        a = dt / np.asarray(tau, dtype=np.float64)
        self.register_buffer("decay", _t(1.0 - a))
        self.register_buffer("leak", _t(a * np.asarray(v_leak, dtype=np.float64)))
        self.register_buffer("gain", _t(a * np.asarray(r, dtype=np.float64)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fire(self.decay * self._rest(x) + self.leak + self.gain * x)


class IF(_NIRNeuron):
    """NIR ``IF``: ``v <- v + dt r I``; spike where ``v > v_threshold``, then ``v_reset``."""

    op = "if"

    def __init__(self, r: Any, v_threshold: Any, v_reset: Any, dt: float) -> None:
        super().__init__(v_threshold, v_reset)
        self.register_buffer("gain", _t(dt * np.asarray(r, dtype=np.float64)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fire(self._rest(x) + self.gain * x)


def _cuba_buffers(m: nn.Module, tau_syn: Any, tau_mem: Any, r: Any, v_leak: Any, w_in: Any,
                  dt: float) -> None:
    """The forward-Euler constants of a current-based (Cuba) node, as buffers of ``m``:
    synaptic decay and gain (``dt / tau_syn``), membrane decay, leak and gain (``dt / tau_mem``)."""
    a_s = dt / np.asarray(tau_syn, dtype=np.float64)
    a_m = dt / np.asarray(tau_mem, dtype=np.float64)
    m.register_buffer("syn_decay", _t(1.0 - a_s))
    m.register_buffer("syn_gain", _t(a_s * np.asarray(w_in, dtype=np.float64)))
    m.register_buffer("decay", _t(1.0 - a_m))
    m.register_buffer("leak", _t(a_m * np.asarray(v_leak, dtype=np.float64)))
    m.register_buffer("gain", _t(a_m * np.asarray(r, dtype=np.float64)))


class CubaLIF(_NIRNeuron):
    """NIR ``CubaLIF``: synaptic current ``i <- (1 - dt/tau_syn) i + (dt/tau_syn) w_in S``,
    then the LIF update with ``I = i``."""

    op = "cubalif"

    def __init__(self, tau_syn: Any, tau_mem: Any, r: Any, v_leak: Any, v_threshold: Any,
                 v_reset: Any, w_in: Any, dt: float) -> None:
        super().__init__(v_threshold, v_reset)
        _cuba_buffers(self, tau_syn, tau_mem, r, v_leak, w_in, dt)
        self.i: torch.Tensor | None = None

    def reset(self) -> None:
        super().reset()
        self.i = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        i = torch.zeros_like(x) if self.i is None or self.i.shape != x.shape else self.i
        self.i = self.syn_decay * i + self.syn_gain * x
        return self._fire(self.decay * self._rest(x) + self.leak + self.gain * self.i)


class Threshold(_NIRNeuron):
    """NIR ``Threshold``: ``z = x > threshold``, no state."""

    op = "threshold"

    def __init__(self, threshold: Any) -> None:
        super().__init__(threshold, np.zeros_like(np.asarray(threshold, dtype=np.float64)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x > self.v_threshold).to(x.dtype)


class _Integrator(nn.Module):
    """An analog NIR node with state (LI, CubaLI, I): output = its potential. Not a neuron for
    the profiler (no spikes): its arithmetic is counted op by op. State ``u``."""

    def __init__(self) -> None:
        super().__init__()
        self.u: torch.Tensor | None = None
        self.i: torch.Tensor | None = None

    def reset(self) -> None:
        self.u = self.i = None

    @staticmethod
    def _get(s: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x) if s is None or s.shape != x.shape else s


class LI(_Integrator):
    """NIR ``LI``: ``u <- (1 - a) u + a v_leak + a r I``, output ``u``."""

    def __init__(self, tau: Any, r: Any, v_leak: Any, dt: float) -> None:
        super().__init__()
        a = dt / np.asarray(tau, dtype=np.float64)
        self.register_buffer("decay", _t(1.0 - a))
        self.register_buffer("leak", _t(a * np.asarray(v_leak, dtype=np.float64)))
        self.register_buffer("gain", _t(a * np.asarray(r, dtype=np.float64)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.u = self.decay * self._get(self.u, x) + self.leak + self.gain * x
        return self.u


class CubaLI(_Integrator):
    """NIR ``CubaLI``: the CubaLIF update without spikes, output ``u``."""

    def __init__(self, tau_syn: Any, tau_mem: Any, r: Any, v_leak: Any, w_in: Any,
                 dt: float) -> None:
        super().__init__()
        _cuba_buffers(self, tau_syn, tau_mem, r, v_leak, w_in, dt)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.i = self.syn_decay * self._get(self.i, x) + self.syn_gain * x
        self.u = self.decay * self._get(self.u, x) + self.leak + self.gain * self.i
        return self.u


class Integrator(_Integrator):
    """NIR ``I``: ``u <- u + dt r I``, output ``u``."""

    def __init__(self, r: Any, dt: float) -> None:
        super().__init__()
        self.register_buffer("gain", _t(dt * np.asarray(r, dtype=np.float64)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.u = self._get(self.u, x) + self.gain * x
        return self.u


class Delay(_Integrator):
    """NIR ``Delay``: ``y[t] = x[t - d]``, ``d = delay / dt`` steps per element (zeros before
    the first input)."""

    def __init__(self, delay: Any, dt: float, name: str) -> None:
        super().__init__()
        steps = np.asarray(delay, dtype=np.float64) / dt
        d = np.rint(steps)
        if not np.allclose(steps, d, rtol=0, atol=1e-6) or (d < 0).any():
            raise UserError(f"NIR node '{name}' (Delay): delay / dt = {steps.ravel()[:4]} is not "
                            "a whole number of steps; give a --nir-dt that divides the delay")
        self.register_buffer("steps", torch.as_tensor(d, dtype=torch.long))
        self.depth = int(d.max()) if d.size else 0
        self.history: list[torch.Tensor] = []

    def reset(self) -> None:
        super().reset()
        self.history = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.history = (self.history + [x])[-(self.depth + 1):]
        past = [torch.zeros_like(x)] * (self.depth + 1 - len(self.history)) + self.history
        stack = torch.stack(past[::-1])  # [depth+1, ...]: index k = k steps ago
        idx = self.steps.expand_as(x).unsqueeze(0)
        return torch.gather(stack, 0, idx).squeeze(0)


class SumPool2d(nn.Module):
    """NIR ``SumPool2d``: the sum over each window (``avg_pool2d`` with divisor 1)."""

    def __init__(self, kernel_size: Any, stride: Any, padding: Any) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, divisor_override=1)


class Scale(nn.Module):
    """NIR ``Scale``: ``x * scale`` element-wise."""

    def __init__(self, scale: Any) -> None:
        super().__init__()
        self.register_buffer("scale", _t(scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _register_adapter() -> None:
    """Our spiking NIR neurons as one family of the profiler's neuron adapters (op name =
    the NIR primitive)."""
    from energymodel.counting.neurons import NEURON_ADAPTERS, NeuronAdapter, register_neuron_adapter

    if any(a.name == "energymodel.nir" for a in NEURON_ADAPTERS):
        return
    register_neuron_adapter(NeuronAdapter(
        name="energymodel.nir",
        matches=lambda m: isinstance(m, _NIRNeuron),
        op=lambda m: m.op,
        reset=lambda m: m.reset(),
    ))


_register_adapter()


# ------------------------------------------------------------------------- mapping
def _ints(v: Any, n: int) -> tuple[int, ...] | int | str:
    if isinstance(v, (str, bytes)):
        return v.decode() if isinstance(v, bytes) else v
    a = np.atleast_1d(np.asarray(v)).astype(int).ravel()
    if a.size == 1:
        return (int(a[0]),) * n
    return tuple(int(x) for x in a)


def _conv(node: Any, nd: int) -> nn.Module:
    w = np.asarray(node.weight, dtype=np.float32)
    groups = int(np.asarray(node.groups))
    cls = nn.Conv1d if nd == 1 else nn.Conv2d
    m = cls(w.shape[1] * groups, w.shape[0], tuple(w.shape[2:]), stride=_ints(node.stride, nd),
            padding=_ints(node.padding, nd), dilation=_ints(node.dilation, nd), groups=groups,
            bias=node.bias is not None)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w))
        if node.bias is not None:
            b = np.broadcast_to(np.asarray(node.bias, dtype=np.float32), (w.shape[0],))
            m.bias.copy_(torch.from_numpy(np.array(b)))
    return m


def _linear(weight: Any, bias: Any | None) -> nn.Linear:
    w = np.asarray(weight, dtype=np.float32)
    if w.ndim != 2:
        raise UserError(f"NIR Linear/Affine with a {w.ndim}-d weight is not supported (2-d only)")
    m = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w))
        if bias is not None:
            m.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32).reshape(-1)))
    return m


def _flatten(node: Any) -> nn.Flatten:
    s, e = int(node.start_dim), int(node.end_dim)  # NIR's dims exclude the batch
    return nn.Flatten(s + 1 if s >= 0 else s, e + 1 if e >= 0 else e)


def _vr(node: Any) -> Any:
    return node.v_reset if node.v_reset is not None else np.zeros_like(node.v_threshold)


def _node_map(nir: Any, dt: float | None) -> dict:
    def need_dt() -> float:
        assert dt is not None  # checked before mapping
        return dt

    def delay(node: Any) -> nn.Module:
        return Delay(node.delay, need_dt(), getattr(node, "_em_name", "?"))

    return {
        nir.Affine: lambda n: _linear(n.weight, n.bias),
        nir.Linear: lambda n: _linear(n.weight, None),
        nir.Conv1d: lambda n: _conv(n, 1),
        nir.Conv2d: lambda n: _conv(n, 2),
        nir.SumPool2d: lambda n: SumPool2d(_ints(n.kernel_size, 2), _ints(n.stride, 2),
                                           _ints(n.padding, 2)),
        nir.AvgPool2d: lambda n: nn.AvgPool2d(_ints(n.kernel_size, 2), _ints(n.stride, 2),
                                              _ints(n.padding, 2)),
        nir.Flatten: _flatten,
        nir.Scale: lambda n: Scale(n.scale),
        nir.Delay: delay,
        nir.Threshold: lambda n: Threshold(n.threshold),
        nir.IF: lambda n: IF(n.r, n.v_threshold, _vr(n), need_dt()),
        nir.LIF: lambda n: LIF(n.tau, n.r, n.v_leak, n.v_threshold, _vr(n), need_dt()),
        nir.CubaLIF: lambda n: CubaLIF(n.tau_syn, n.tau_mem, n.r, n.v_leak, n.v_threshold,
                                       _vr(n), n.w_in, need_dt()),
        nir.LI: lambda n: LI(n.tau, n.r, n.v_leak, need_dt()),
        nir.CubaLI: lambda n: CubaLI(n.tau_syn, n.tau_mem, n.r, n.v_leak, n.w_in, need_dt()),
        nir.I: lambda n: Integrator(n.r, need_dt()),
        nir.Input: lambda n: nn.Identity(),
        nir.Output: lambda n: nn.Identity(),
    }


# ------------------------------------------------------------------------- reading
#: how deep NIR graphs may nest (subgraphs in subgraphs)
MAX_NIR_DEPTH = 64


def _scan_file_types(path: str, budget: int | None = None) -> None:
    """Before ``nir.read`` (which fails on an unknown type with a bare assertion, recurses
    without a limit and loads every array): name the first node whose type we do not map,
    refuse a graph nested more than :data:`MAX_NIR_DEPTH` deep, and refuse arrays whose
    declared sizes add up to more than ``budget`` bytes, all from the file's structure."""
    import h5py  # noqa: PLC0415  (nir's own dependency)

    try:
        f = h5py.File(path, "r")
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's
        raise UserError(f"{path}: not a readable NIR file (HDF5): {_one_line(e)}") from None
    with f:
        if "node" not in f:
            raise UserError(f"{path}: not a NIR file (no 'node' group)")
        total = 0
        stack: list[tuple[Any, str, int]] = [(f["node"], "", 0)]
        while stack:
            group, where, depth = stack.pop()
            if depth > MAX_NIR_DEPTH:
                raise UserError(f"{path}: node '{where}' is nested more than {MAX_NIR_DEPTH} "
                                "graphs deep")
            if "type" not in group:
                raise UserError(f"{path}: node '{where or '<root>'}' has no type: not a NIR file")
            typ = group["type"][()]
            typ = typ.decode() if isinstance(typ, bytes) else str(typ)
            if typ not in PRIMITIVES:
                raise UserError(f"{path}: node '{where or '<root>'}' has type {typ!r}, which "
                                f"energymodel does not map (supported: {', '.join(PRIMITIVES)})")
            for k in group:
                item = group[k]
                if isinstance(item, h5py.Dataset):
                    total += int(item.size) * int(item.dtype.itemsize)
                    if budget is not None and total > budget:
                        raise UserError(f"{path}: node '{where or '<root>'}' declares array "
                                        f"{k!r} of shape {tuple(item.shape)}: the graph's arrays "
                                        f"take more than the memory budget of "
                                        f"{budget / 2**30:.3g} GiB (--memory-budget); checked "
                                        "before loading")
            if typ == "NIRGraph" and "nodes" in group:
                for k in group["nodes"]:
                    stack.append((group["nodes"][k], f"{where}.{k}" if where else k, depth + 1))


def _one_line(e: BaseException, limit: int = 240) -> str:
    s = " ".join(str(e).split()) or type(e).__name__
    return s if len(s) <= limit else s[: limit - 3] + "..."


def read_graph(source: Any, budget: int | None = None) -> tuple[Any, bool]:
    """Read a NIR graph: a path to a ``.nir`` file or a ``nir.NIRGraph``. Returns the graph and
    whether its types are complete and consistent (then the input type is known).

    A malformed file, an unknown primitive or inconsistent shapes between nodes raise
    :class:`UserError` naming the file and node."""
    nir, _ = _packages()
    if isinstance(source, nir.NIRGraph):
        graph, name = source, "<graph>"
    else:
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise UserError(f"NIR file {path!r} does not exist")
        _scan_file_types(path, budget)
        name = path
        try:
            graph = nir.read(path, type_check=False)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"{path}: malformed NIR graph: {_one_line(e)}") from None
    _check_known(nir, graph, "", name)
    typed = _types_ok(nir, graph, name)
    return graph, typed


def _check_known(nir: Any, graph: Any, where: str, name: str) -> None:
    for k, node in graph.nodes.items():
        typ = type(node).__name__
        here = f"{where}.{k}" if where else k
        if typ not in PRIMITIVES or not isinstance(node, getattr(nir, typ, ())):
            raise UserError(f"{name}: node '{here}' has type {typ!r}, which energymodel does "
                            f"not map (supported: {', '.join(PRIMITIVES)})")
        node._em_name = here
        if isinstance(node, nir.NIRGraph):
            _check_known(nir, node, here, name)


def _types_ok(nir: Any, graph: Any, name: str) -> bool:
    """Run nir's type inference and check on a copy: ``False`` when some type is unknown
    (then the input shape must be given), :class:`UserError` when two nodes disagree."""
    import copy  # noqa: PLC0415

    g = copy.deepcopy(graph)
    try:
        g.infer_types()
        g.check_types()
    except (ValueError, NotImplementedError, KeyError, TypeError, AssertionError, IndexError) as e:
        msg = _one_line(e)
        # a node with scalar parameters (snntorch's export of Leaky(beta=0.9)) has type [] or
        # [1]: it broadcasts, so that is no mismatch (the graph is then read untyped)
        if "mismatch" in msg and not re.search(r"\.input: \[\[?1?\]?\]$", msg):
            raise UserError(f"{name}: shapes do not fit between nodes: {msg}") from None
        return False
    return True


def _input_shape(nir: Any, graph: Any) -> tuple[int, ...] | None:
    inputs = [n for n in graph.nodes.values() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        return None
    t = inputs[0].input_type.get("input")
    if t is None:
        return None
    a = np.asarray(t).ravel()
    if a.size == 0 or (a <= 0).any():
        return None
    return tuple(int(s) for s in a)


def _uses(nir: Any, graph: Any, kinds: Sequence[str]) -> bool:
    for node in graph.nodes.values():
        if type(node).__name__ in kinds:
            return True
        if isinstance(node, nir.NIRGraph) and _uses(nir, node, kinds):
            return True
    return False


def _graph_dt(graph: Any) -> float | None:
    md = getattr(graph, "metadata", None)
    if isinstance(md, dict) and "dt" in md:
        v = np.asarray(md["dt"]).ravel()
        if v.size == 1 and np.isfinite(v[0]) and v[0] > 0:
            return float(v[0])
    return None


# ------------------------------------------------------------------------- the module
class NIRModule(nn.Module):
    """A NIR graph as a torch module, run step by step.

    Input ``[batch, T, *input_type]``, output ``[batch, T, *output_type]``. Every call starts
    from a reset state (one call = one sample's whole sequence).

    Attributes:
        graph: the ``torch.fx.GraphModule`` nirtorch wired from our mapped primitives.
        dt: the step in seconds (``None`` when no node depends on it); ``dt_source``:
            ``"metadata"`` or ``"argument"``.
        input_shape: one step of one sample (``None`` when the graph has no input type).
        source: the file (or ``"<graph>"``).
    """

    def __init__(self, graph: nn.Module, dt: float | None, dt_source: str | None,
                 input_shape: tuple[int, ...] | None, source: str) -> None:
        super().__init__()
        self.graph = graph
        self.dt, self.dt_source = dt, dt_source
        self.input_shape = input_shape
        self.source = source

    def extra_repr(self) -> str:
        return (f"source={self.source!r}, dt={self.dt} ({self.dt_source}), "
                f"input_shape={self.input_shape}")

    def reset(self) -> None:
        """Clear every node's state."""
        for m in self.graph.modules():
            if m is not self and isinstance(m, (_NIRNeuron, _Integrator)):
                m.reset()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise UserError(f"{self.source}: a NIR graph takes [batch, T, *input_type]; got "
                            f"shape {tuple(x.shape)}")
        if self.input_shape is not None and tuple(x.shape[2:]) != self.input_shape:
            raise UserError(f"{self.source}: input shape {tuple(x.shape[2:])} per step does not "
                            f"match the graph's input type {self.input_shape}")
        self.reset()
        state = None
        outs = []
        for t in range(x.shape[1]):
            out = self.graph(x[:, t], state)
            y, state = (out[0], out[1]) if isinstance(out, tuple) else (out, state)
            outs.append(y)
        return torch.stack(outs, 1)


def load(source: Any, dt: float | None = None, memory_budget: int | None = None) -> NIRModule:
    """Build a torch module from a NIR graph (a ``.nir`` path or a ``nir.NIRGraph``).

    ``dt``: the step in seconds, used when the graph's metadata has no ``dt`` (the metadata
    wins: a different ``dt`` argument raises). Needed only when a node depends on time (LIF,
    IF, CubaLIF, LI, CubaLI, I, Delay). ``memory_budget`` (bytes): the file's declared arrays
    are checked against it before anything is loaded."""
    nir, nirtorch = _packages()
    graph, typed = read_graph(source, memory_budget)
    name = "<graph>" if isinstance(source, nir.NIRGraph) else os.fspath(source)
    meta_dt = _graph_dt(graph)
    if dt is not None and (not math.isfinite(float(dt)) or float(dt) <= 0):
        raise UserError(f"the NIR step dt must be a positive number of seconds (got {dt})")
    if meta_dt is not None and dt is not None and not math.isclose(meta_dt, float(dt), rel_tol=1e-9):
        raise UserError(f"{name}: the graph's metadata says dt={meta_dt:g} s, but dt={dt:g} was "
                        "given; drop --nir-dt to use the graph's")
    use_dt, src = (meta_dt, "metadata") if meta_dt is not None else (
        (float(dt), "argument") if dt is not None else (None, None))
    if use_dt is None and _uses(nir, graph, _TIMED):
        raise UserError(f"{name}: the graph has no dt in its metadata and its neurons need one; "
                        "give --nir-dt SECONDS (dt=...; snntorch's export_to_nir assumes 1e-4)")
    try:
        fx = nirtorch.nir_to_torch(graph, _node_map(nir, use_dt))
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001 - a graph nirtorch cannot wire is the user's
        raise UserError(f"{name}: cannot build the graph: {_one_line(e)}") from None
    shape = _input_shape(nir, graph)  # the Input node's declared type, also when untyped
    return NIRModule(fx, use_dt, src, shape, name).eval()


def profile_nir(source: Any, x: torch.Tensor, *, dt: float | None = None,
                options: Any = None) -> Any:
    """Profile a NIR graph on ``x`` (``[batch, T, *input_type]``): :func:`load`, then
    :func:`energymodel.profile` with ``batch_dim=0`` and ``timesteps=T``. Counts cover the
    batch; ``Profile.samples`` is the batch size."""
    from energymodel.counting import profile  # noqa: PLC0415

    model = load(source, dt=dt)
    if not isinstance(x, torch.Tensor) or x.dim() < 3:
        raise UserError(f"{model.source}: profile_nir takes x of shape [batch, T, *input_type]")
    return profile(model, x, batch_dim=0, timesteps=int(x.shape[1]), options=options)

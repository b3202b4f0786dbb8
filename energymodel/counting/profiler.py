"""The profiler: module hooks (where are we) + a TorchDispatchMode (what ran), applying the rule
table of :mod:`energymodel.counting.rules` to every executed aten op.

Counts that depend on the data stay on the tensors' device and are read back once, when
:meth:`Profiler.result` is called: profiling never synchronises a GPU per op. Hooks and the mode
are removed when the ``with`` block ends, also when the model raises; nothing is added to the
model's ``state_dict``.
"""

from __future__ import annotations

import sys
import threading
from collections import defaultdict
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode, _get_current_dispatch_mode
from torch.utils.weak import WeakTensorKeyDictionary

from ..common.checks import check_not_scripted
from ..common.errors import UserError
from .columns import COUNT_COLUMNS, EDGE_SEP, ID_COLUMNS, STATIC_COLUMNS
from .neurons import NeuronAdapter, find_adapter
from .operands import F64, HOST_DEVICES, CountOptions, exact_sum, exact_sum_dims
from .profile import Profile
from .rules import IGNORED_OPS, OpCount, RuleContext, rule_for

#: aten ops that compare a value with a threshold (or step it): inside a recognised neuron they
#: are its firing; outside every one, a neuron the adapters do not know (diagnostics warn)
THRESHOLD_OPS = frozenset({"gt", "ge", "lt", "le", "heaviside", "gt_", "ge_", "lt_", "le_"})

__all__ = ["Profiler", "profile", "profile_loader"]

#: device-side accumulator layout: the summed count columns plus internal flags
_DEV_FIELDS: list[str] = [c for c in COUNT_COLUMNS if c != "calls"] + ["mask_calls"]
_DEV_INDEX = {n: i for i, n in enumerate(_DEV_FIELDS)}
_INDEX_CACHE: dict[tuple, torch.Tensor] = {}

#: Profiler bookkeeping in progress on this thread (rules, neuron scans, resets, snapshots).
#: Every profiler's dispatch mode lets such ops pass uncounted, so a profiler nested in another
#: is never counted by the outer one.
_INTERNAL = threading.local()
_INTERNAL.depth = 0


def _composite(func: Any) -> bool:
    """Has a CompositeImplicitAutograd kernel: under ``torch.inference_mode`` such ops (linear,
    conv2d, matmul, batch_norm...) reach the mode undecomposed."""
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(
            func.name(), torch._C.DispatchKey.CompositeImplicitAutograd)
    except (AttributeError, RuntimeError):
        return False


class _Site:
    __slots__ = (
        "key", "layer", "module_type", "op", "kind", "calls", "host", "static", "acc", "steps_T", "step_spikes", "step_updates",
        "sample",
    )

    def __init__(self, key: str, layer: str, module_type: str, op: str, kind: str) -> None:
        self.key, self.layer, self.module_type, self.op, self.kind = key, layer, module_type, op, kind
        self.calls = 0
        self.host: dict[str, float] = defaultdict(float)
        self.static: dict[str, float] = {}
        self.acc: torch.Tensor | None = None
        self.steps_T = 0
        self.step_spikes: torch.Tensor | list[float] | None = None  # list: host device
        self.step_updates: list[float] = []
        self.sample = -1  # the sample (root-call group) of the last call, for state_changes

    def add_dev(self, dev: dict[str, Any]) -> None:
        """Add one call's data-dependent counts: Python numbers and host-device (CPU) tensors
        into ``host`` (read with ``tolist()``: free, no aten op), other devices' tensors into
        the device accumulator ``acc`` (read in ``result()``)."""
        names, vals = [], []
        host = self.host
        for n, v in dev.items():
            if isinstance(v, torch.Tensor):
                if v.device.type in HOST_DEVICES:
                    host[n] += float((v if v.dim() == 0 else v.reshape(())).tolist())
                else:
                    names.append(n)
                    vals.append(v.to(F64).reshape(()))
            else:
                host[n] += float(v)
        if not vals:
            return
        device = vals[0].device
        if self.acc is None:
            self.acc = torch.zeros(len(_DEV_FIELDS), dtype=F64, device=device)
        key = (tuple(names), device)
        idx = _INDEX_CACHE.get(key)
        if idx is None:  # one small host-to-device copy per (field set, device), per process
            idx = torch.tensor([_DEV_INDEX[n] for n in names], device=device)
            _INDEX_CACHE[key] = idx
        self.acc.index_add_(0, idx, torch.stack(vals).to(self.acc.device))

    def dev_value(self, name: str) -> float:
        """``host[name]`` plus the accumulator's entry, read back (a host sync on a GPU)."""
        v = self.host.get(name, 0.0)
        if self.acc is not None:
            v += float(self.acc[_DEV_INDEX[name]].tolist())
        return v


class _Frame:
    __slots__ = ("name", "module", "ordinals", "adapter", "pre_state", "synapse")

    def __init__(self, name: str, module: nn.Module, adapter: NeuronAdapter | None) -> None:
        self.name, self.module, self.adapter = name, module, adapter
        self.ordinals: dict[str, int] = defaultdict(int)
        self.pre_state: torch.Tensor | None = None
        self.synapse = False  # a weight layer running inside a neuron: counted (see _synapse_depth)


class _Bookkeeping:
    """The profiler's own arithmetic: no autograd, and out of ``torch.inference_mode`` (its
    accumulators outlive the call and are updated in place later), counted by no profiler."""

    __slots__ = ("_inf", "_grad")

    def __enter__(self) -> None:
        _INTERNAL.depth = getattr(_INTERNAL, "depth", 0) + 1
        self._inf = None
        if torch.is_inference_mode_enabled():
            self._inf = torch.inference_mode(False)
            self._inf.__enter__()
        self._grad = torch.is_grad_enabled()
        torch._C._set_grad_enabled(False)

    def __exit__(self, *exc: Any) -> None:
        torch._C._set_grad_enabled(self._grad)
        if self._inf is not None:
            self._inf.__exit__(None, None, None)
        _INTERNAL.depth -= 1


class _CountingMode(TorchDispatchMode):
    def __init__(self, prof: "Profiler") -> None:
        super().__init__()
        self.prof = prof
        self._entries: dict[Any, tuple] = {}  # aten overload -> (rule, name, ignored)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        p = self.prof
        if getattr(_INTERNAL, "depth", 0) or (p._neuron_depth and not p._synapse_depth) \
                or not p._stack:
            return func(*args, **kwargs)
        entry = self._entries.get(func)
        if entry is None:
            name = func.overloadpacket.__name__
            ignored = name in IGNORED_OPS or name.rstrip("_") in IGNORED_OPS
            rule = rule_for(func)
            entry = self._entries[func] = (rule, name, ignored, rule is None and _composite(func))
        rule, name, ignored, composite = entry
        if rule is None:
            if ignored:
                out = func(*args, **kwargs)
                p._link(args, kwargs, out)
                return out
            if composite:
                # torch.inference_mode skips the autograd decomposition: decompose here, under
                # this mode, so the parts (convolution, addmm...) are counted as under no_grad
                torch._C._push_on_torch_dispatch_stack(self)
                try:
                    r = func.decompose(*args, **kwargs)
                finally:
                    torch._C._pop_torch_dispatch_stack(None)
                if r is not NotImplemented:
                    return r
            out = func(*args, **kwargs)
            if not p._link(args, kwargs, out):
                # no operand derives from the input: an op on weights, buffers or constants
                # (a sqrt of a parameter), listed apart (Profile.model_info["weight_only_ops"])
                p._pending_weight_only[name] += 1
                return out
            p._pending_unrecognized[name] += 1
            if name in THRESHOLD_OPS:  # a neuron nobody recognised? (see diagnostics)
                fr = p._stack[-1]
                p._pending_threshold[(f"{fr.name or '(model)'} ({type(fr.module).__name__})",
                                      name)] += 1
            return out
        out = func(*args, **kwargs)
        o = out[0] if isinstance(out, (tuple, list)) else out
        node = None
        with _Bookkeeping():
            oc = rule(p._ctx, args, kwargs, o)
            if oc is not None:
                node = p._record(p._stack[-1], oc, args)
        p._link(args, kwargs, out, node)
        return out


class _Node:
    """One call of a weight layer in the layer graph; its site key is known once the call's
    journal is applied (a discarded call leaves it None, and its edges are dropped)."""

    __slots__ = ("key", "weight")

    def __init__(self) -> None:
        self.key: str | None = None
        self.weight: int | None = None


#: the model's input in the layer graph: no layer, but what every activation derives from
_INPUT_NODE = _Node()
_INPUT = frozenset((_INPUT_NODE,))


def _nested_tensors(tree: Any, depth: int = 6) -> Iterable[torch.Tensor]:
    """Every tensor in nested lists, tuples and dicts (a model's inputs), ``depth`` levels."""
    if isinstance(tree, torch.Tensor):
        yield tree
    elif depth > 0 and isinstance(tree, (list, tuple, dict)):
        for v in (tree.values() if isinstance(tree, dict) else tree):
            yield from _nested_tensors(v, depth - 1)


def _tensors(*trees: Any) -> Iterable[torch.Tensor]:
    """The tensors among ops' arguments and results (lists, tuples and dicts, two levels)."""
    for tree in trees:
        items = tree.values() if isinstance(tree, dict) else tree if isinstance(tree, (list, tuple)) else (tree,)
        for a in items:
            if isinstance(a, torch.Tensor):
                yield a
            elif isinstance(a, (list, tuple)):
                for b in a:
                    if isinstance(b, torch.Tensor):
                        yield b


class Profiler:
    """Context manager that counts what ``model`` does while it runs.

    Args:
        model: the module to profile (any ``nn.Module``; hooks go on it and its submodules).
        batch_dim: dimension of the model's first tensor input that indexes samples (0 for
            ``[B, ...]``, 1 for multi-step ``[T, B, ...]``); ``None``: one sample per call.
        timesteps: T, when known. Single-step neurons called T times per sample get their
            per-step counts from it; multi-step neurons read T from their leading dimension.
        calls_per_sample: how many model calls process one sample (T for a single-step loop
            that calls the model once per timestep).
        options: operand classification (:class:`CountOptions`).
        reset: ``True`` (default): every sample starts from reset neuron state: before the
            first of every ``calls_per_sample`` model calls (every call by default: each batch
            holds independent samples), the state of every recognised neuron is reset through
            its adapter; a callable: called with the model at the same points instead (e.g.
            spikingjelly's ``functional.reset_net``); ``False``: states are kept across calls
            (streaming use, where a call continues the previous one).

    A model call that raises is discarded whole (its counts and its samples); later calls count
    as if it never ran. Ops run by a profiler's own bookkeeping are never counted, also by
    another profiler around it.
        keep_batch_rates: record the neuron firing rates of each batch (every
            ``calls_per_sample`` model calls), for :meth:`Profile.rate_spread`.

    Usage::

        with em.Profiler(model, batch_dim=0) as p:
            for x, _ in loader:
                model(x)
        prof = p.result()

        # the same over a data set, with a progress bar (see docs/interop.md)
        prof = em.Profiler(model, batch_dim=0, reset=True).run(loader)
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        batch_dim: int | None = 0,
        timesteps: int | None = None,
        calls_per_sample: int = 1,
        options: CountOptions | None = None,
        reset: bool | Callable[[nn.Module], None] = True,
        keep_batch_rates: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"Profiler: model must be a torch.nn.Module, got {type(model).__name__}")
        if timesteps is not None and int(timesteps) < 1:
            raise ValueError(f"Profiler: timesteps must be >= 1 (got {timesteps})")
        if calls_per_sample < 1:
            raise ValueError(f"Profiler: calls_per_sample must be >= 1 (got {calls_per_sample})")
        self.model = model
        self.batch_dim = batch_dim
        self.timesteps = int(timesteps) if timesteps is not None else None
        self.calls_per_sample = int(calls_per_sample)
        self.options = options or CountOptions()
        self.reset = reset
        self.keep_batch_rates = keep_batch_rates
        self._active = False
        self._ran = False                # result() needs a run
        self._hooked: set[int] = set()   # ids of the modules that have hooks
        self._names: dict[int, str] = {}  # module id -> its name in the model
        self._created: list[str] = []     # neurons attached during the session (hooked then)
        self._handles: list[Any] = []
        self._mode: _CountingMode | None = None
        self._clear()

    # ----------------------------------------------------------------- lifecycle
    def _clear(self) -> None:
        self._sites: dict[str, _Site] = {}
        self._stack: list[_Frame] = []
        self._neuron_depth = 0
        self._synapse_depth = 0
        self._mode_out = False
        self._unrecognized: dict[str, int] = defaultdict(int)
        self._sample_units = 0
        self._root_calls = 0
        # the outermost call in progress: its records, applied when it returns (discarded if
        # it raises), its ops without a rule and its samples
        self._journal: list[tuple] = []
        self._pending_unrecognized: dict[str, int] = defaultdict(int)
        # threshold-like ops outside every recognised neuron: (module path, op) -> calls
        self._pending_threshold: dict[tuple[str, str], int] = defaultdict(int)
        self._threshold: dict[tuple[str, str], int] = defaultdict(int)
        self._pending_weight_only: dict[str, int] = defaultdict(int)
        self._weight_only: dict[str, int] = defaultdict(int)
        self._pending_samples = 0
        self._model_info: dict[str, Any] = {}
        self._model_stats: dict[str, Any] | None = None
        self._clean = False  # neuron states known to be reset (by us, at a sample's end)
        self._batch_snaps: list[tuple[list[str], torch.Tensor | None, list[float]]] = []
        self._binary_ok: dict[nn.Module, bool] = {}  # neuron -> its adapter claims 0/1 output
        # the layer graph (docs: Profile.layer_edges): each tensor the model made maps to the
        # weight-layer calls it depends on most recently; an edge joins a weight layer to the
        # weight layers whose outputs reach its input
        self._frontier: WeakTensorKeyDictionary = WeakTensorKeyDictionary()
        self._edges: set[tuple[str, str]] = set()
        # weight-layer site -> id of the weight tensor it used (sites sharing one are one layer)
        self._weight_ids: dict[tuple, int] = {}
        self._site_weight: dict[str, int] = {}

    def __enter__(self) -> "Profiler":
        if self._active:
            raise RuntimeError("Profiler is already active")
        check_not_scripted(self.model, f"Profiler({type(self.model).__name__})")
        if any(isinstance(m, nn.DataParallel) for m in self.model.modules()):
            raise UserError(f"Profiler({type(self.model).__name__}): nn.DataParallel runs its "
                            "replicas in worker threads, which a profiler (bound to its thread) "
                            "does not see: profile model.module, or use DistributedDataParallel "
                            "(one process per device: supported, counts all-reduced)")
        self._clear()
        # bound to this thread: the hooks ignore calls from any other (the dispatch mode is
        # per thread already), so two threads profiling one model never mix their counts
        self._thread = threading.get_ident()
        self._ran = True
        weights = {p.untyped_storage().data_ptr() for p in self.model.parameters()}
        self._ctx = RuleContext(self.options, weights)
        self._adapters: dict[nn.Module, NeuronAdapter] = {}
        self._inside_neuron: set[nn.Module] = set()
        try:
            self._install_hooks()
            with _Bookkeeping():
                self._ask_binary_claims()
                self._model_info = _model_info(self.model, self._adapters, self.calls_per_sample)
                # sizes and zero weights for NeuroBench's Footprint / ConnectionSparsity
                from .neurobench import model_statistics  # noqa: PLC0415  (a view module)

                self._model_stats = model_statistics(self.model, lazy=True)
            self._mode = _CountingMode(self)
            self._mode.__enter__()
        except BaseException:
            self._remove_hooks()
            raise
        self._active = True
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._enter_mode()
            if self._mode is not None:
                self._mode.__exit__(exc_type, exc, tb)
        finally:
            self._mode = None
            self._remove_hooks()
            self._discard()
            self._active = False

    def _remove_hooks(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _install_hooks(self) -> None:
        self._hooked = set()
        self._names = {}
        self._created = []
        for name, m in self.model.named_modules():
            self._hook_module(name, m)
        # a module the model attaches to itself while profiled (a neuron made on the first
        # forward) is hooked when it is attached, so it counts from its first call
        self._handles.append(
            nn.modules.module.register_module_module_registration_hook(self._on_attach))

    def _hook_module(self, name: str, m: nn.Module) -> None:
        inside_neuron = self._inside_neuron
        self._hooked.add(id(m))
        self._names[id(m)] = name
        adapter = None if m in inside_neuron else find_adapter(m)
        if adapter is not None:
            self._adapters[m] = adapter
            inside_neuron.update(c for c in m.modules() if c is not m)
        # a weight layer inside a neuron (snntorch RLeaky's recurrent Linear) is a synapse:
        # counted, although the neuron's own arithmetic is not
        synapse = m in inside_neuron and _is_weight_layer(m)
        self._handles.append(
            m.register_forward_pre_hook(self._make_pre(name, m, synapse), with_kwargs=True)
        )
        self._handles.append(
            m.register_forward_hook(self._make_post(m, synapse), always_call=True)
        )

    def _on_attach(self, parent: nn.Module, name: str, sub: nn.Module | None) -> None:
        """Global registration hook (this session only): ``sub`` attached as ``parent.name``.
        A module of this model's tree gets its hooks now, with its whole subtree; a neuron
        among them is remembered (the diagnostics note it)."""
        if sub is None or threading.get_ident() != self._thread:
            return None
        pname = self._names.get(id(parent))
        if pname is None or id(sub) in self._hooked:
            return None
        if parent in self._inside_neuron or parent in self._adapters:
            self._inside_neuron.update(sub.modules())
        full = f"{pname}.{name}" if pname else name
        for n, m in sub.named_modules(prefix=full):
            if id(m) not in self._hooked:
                self._hook_module(n, m)
                if m in self._adapters:
                    self._created.append(n)
        return None

    def _make_pre(self, name: str, m: nn.Module, synapse: bool = False):
        is_root = m is self.model
        adapter = self._adapters.get(m)

        def pre(module, inputs, kwargs):
            if threading.get_ident() != self._thread:
                return
            if self._stack:
                if is_root:
                    # the root called again while frames are open: the previous call was left
                    # by a BaseException (KeyboardInterrupt...) that skipped the post-hooks
                    self._discard()
                elif self._neuron_depth and module not in self._inside_neuron:
                    self._close_stale_neurons()
            if not self._stack:
                self._begin_call(is_root, tuple(inputs) + tuple(kwargs.values()))
            frame = _Frame(name, module, adapter)
            self._stack.append(frame)
            if synapse and self._neuron_depth:
                frame.synapse = True
                self._synapse_depth += 1
                self._enter_mode()
            if adapter is not None:
                if self._neuron_depth == 0:
                    self._leave_mode()
                    frame.pre_state = adapter.state(module)  # a reference: frameworks rebind
                self._neuron_depth += 1

        return pre

    def _make_post(self, m: nn.Module, synapse: bool = False):
        is_root = m is self.model

        def post(module, inputs, output):
            # always_call: this runs also when the forward raised an Exception (output None)
            if threading.get_ident() != self._thread:
                return
            stack = self._stack
            if not stack:
                return
            if stack[-1].module is not module:
                # frames above this one were left by a BaseException caught inside this module
                if not any(f.module is module for f in stack):
                    return
                while stack[-1].module is not module:
                    self._close(stack.pop())
            frame = stack.pop()
            failed = output is None and sys.exc_info()[0] is not None
            if frame.synapse:
                self._close_synapse()
            if frame.adapter is not None:
                self._neuron_depth -= 1
                if self._neuron_depth == 0:
                    if not failed:
                        self._record_neuron(frame, inputs, output)
                        self._link(inputs, (), output)
                    self._enter_mode()
            if not stack:
                if failed:
                    self._discard()
                else:
                    self._commit(is_root)

        return post

    def _close(self, frame: _Frame) -> None:
        """Close a frame whose post-hook never ran (a BaseException raised inside it was caught
        by a module around it)."""
        if frame.synapse:
            self._close_synapse()
        if frame.adapter is not None:
            self._neuron_depth -= 1
            if self._neuron_depth == 0:
                self._enter_mode()

    def _close_synapse(self) -> None:
        """A weight layer inside a neuron ends: back to not counting the neuron's arithmetic."""
        if self._synapse_depth:
            self._synapse_depth -= 1
            if self._synapse_depth == 0 and self._neuron_depth:
                self._leave_mode()

    def _close_stale_neurons(self) -> None:
        """A module outside every neuron starts while neuron frames are open: those neurons
        were left by a BaseException caught by the model; close them."""
        while self._neuron_depth and self._stack:
            self._close(self._stack.pop())

    # ----------------------------------------------------------------- one outermost call
    def _begin_call(self, is_root: bool, inputs: tuple) -> None:
        self._journal.clear()
        for pending, _ in self._tallies():
            pending.clear()
        self._pending_samples = self._sample_count(inputs) if is_root else 0
        if is_root:  # the model's input: what every activation derives from
            for x in _nested_tensors(inputs):
                self._frontier[x] = _INPUT
        if is_root and self._root_calls % self.calls_per_sample == 0 and not self._clean:
            with _Bookkeeping():  # every sample starts from reset state (reset=True)
                self._reset_states()
        self._clean = False

    def _commit(self, is_root: bool) -> None:
        """The outermost call returned: apply its records."""
        journal, self._journal = self._journal, []
        with _Bookkeeping():
            for fn, *a in journal:
                fn(*a)
        for pending, kept in self._tallies():
            for k, v in pending.items():
                kept[k] += v
            pending.clear()
        self._sample_units += self._pending_samples
        self._pending_samples = 0
        if is_root:
            self._root_calls += 1
            self._after_root_call()

    def _discard(self) -> None:
        """Forget the outermost call in progress (it raised): frames, records, samples."""
        while self._stack:
            self._close(self._stack.pop())
        self._neuron_depth = 0
        self._synapse_depth = 0
        self._enter_mode()
        self._journal.clear()
        for pending, _ in self._tallies():
            pending.clear()
        self._pending_samples = 0
        ctx = getattr(self, "_ctx", None)
        if ctx is not None:
            ctx.clear_cache()

    # Inside a neuron nothing is counted op by op, so the mode steps off the dispatch stack
    # there: the neuron's own arithmetic (most of a spiking model's small ops) then runs at
    # full speed.
    def _leave_mode(self) -> None:
        if self._mode is not None and _get_current_dispatch_mode() is self._mode:
            torch._C._pop_torch_dispatch_stack(None)
            self._mode_out = True

    def _enter_mode(self) -> None:
        if self._mode_out:
            if self._mode is not None:
                torch._C._push_on_torch_dispatch_stack(self._mode)
            self._mode_out = False

    # ----------------------------------------------------------------- recording
    def _tallies(self) -> tuple[tuple[dict, dict], ...]:
        """(pending, kept) pairs of the per-call tallies: ops without a rule, threshold ops
        outside every neuron, ops on weights only. A call's tallies are kept when it returns,
        dropped when it raises."""
        return ((self._pending_unrecognized, self._unrecognized),
                (self._pending_threshold, self._threshold),
                (self._pending_weight_only, self._weight_only))

    def _sample_count(self, inputs: tuple) -> int:
        if self.batch_dim is None:
            return 1
        t = next((a for a in inputs if isinstance(a, torch.Tensor)), None)
        if t is None or t.dim() <= self.batch_dim:
            raise ValueError(
                f"Profiler: batch_dim={self.batch_dim} but the model's first tensor input has "
                f"shape {None if t is None else tuple(t.shape)}; pass batch_dim=None to count "
                "one sample per call"
            )
        return int(t.shape[self.batch_dim])

    def _site(self, frame: _Frame, op: str, kind: str) -> _Site:
        k = frame.ordinals[op]
        frame.ordinals[op] = k + 1
        key = f"{frame.name}:{op}#{k}"
        s = self._sites.get(key)
        if s is None:
            s = _Site(key, frame.name, type(frame.module).__name__, op, kind)
            self._sites[key] = s
        return s

    def _record(self, frame: _Frame, oc: OpCount, args: tuple = ()) -> _Node | None:
        """Journal one op's counts (applied when the outermost call returns: frames keep their
        ordinals); a weight layer's call gets a node of the layer graph, tagged with its weight
        tensor (a layer that calls F.conv2d once per step is one layer, not T)."""
        node = None
        if oc.static.get("weight_elems", 0):
            node = _Node()
            node.weight = self._weight_id(args)
        self._journal.append((self._apply_record, frame, oc, node))
        return node

    def _weight_id(self, args: tuple) -> int | None:
        """A small id per distinct weight tensor (storage, offset, shape) among ``args``."""
        ctx = self._ctx
        for a in _tensors(args):
            if a.dim() >= 2 and ctx.is_weight(a):
                try:
                    key = (a.untyped_storage().data_ptr(), a.storage_offset(), tuple(a.shape))
                except (RuntimeError, NotImplementedError):
                    return None
                return self._weight_ids.setdefault(key, len(self._weight_ids))
        return None

    def _apply_record(self, frame: _Frame, oc: OpCount, node: _Node | None = None) -> None:
        s = self._site(frame, oc.op, oc.kind)
        if node is not None:
            node.key = s.key
            if node.weight is not None:
                self._site_weight[s.key] = node.weight
        s.calls += 1
        for n, v in oc.host.items():
            s.host[n] += float(v)
        for n, v in oc.static.items():
            s.static[n] = max(s.static.get(n, 0.0), float(v))
        if oc.dev:
            s.add_dev(oc.dev)

    def _link(self, args: Any, kwargs: Any, out: Any, node: _Node | None = None
              ) -> frozenset | None:
        """Carry the layer graph through one op: its outputs depend on what its inputs depend
        on, or, for a weight layer, on this layer (an edge from each layer its inputs reach).
        Returns what the inputs depend on (``None``: nothing derived from the model's input)."""
        fr = self._frontier
        preds: frozenset | None = None
        for a in _tensors(args, kwargs):
            f = fr.get(a)
            if f:
                preds = f if preds is None else preds | f
        seen = preds
        if node is not None:
            if preds:
                self._journal.append((self._apply_edges, preds, node))
            preds = frozenset((node,))
        if preds:
            for o in _tensors(out):
                fr[o] = preds
        return seen

    def _apply_edges(self, preds: frozenset, node: _Node) -> None:
        for a in preds:
            if a.key is not None and node.key is not None and a.key != node.key:
                self._edges.add((a.key, node.key))

    def _ask_binary_claims(self) -> None:
        """Ask each neuron's adapter once, on entry, whether its output is 0 / 1 by
        construction (an answer may read a module buffer: a host read, never in the forward)."""
        self._binary_ok = {m: _claim(a, m) for m, a in self._adapters.items()}

    def _claims_binary(self, frame: _Frame) -> bool:
        m = frame.module
        ok = self._binary_ok.get(m)
        if ok is None:
            ok = self._binary_ok[m] = _claim(frame.adapter, m)
        return ok

    def _record_neuron(self, frame: _Frame, inputs: tuple, output: Any) -> None:
        adapter = frame.adapter
        assert adapter is not None
        spk = adapter.spikes(output)
        if not isinstance(spk, torch.Tensor) or spk.numel() == 0:
            return
        with _Bookkeeping():
            T = adapter.timesteps(frame.module, inputs, spk)
            if adapter.time_major is not None and T is not None:
                spk = adapter.time_major(frame.module, spk)
            if T is not None and self.timesteps is not None and T != self.timesteps:
                raise ValueError(
                    f"layer '{frame.name}' ({type(frame.module).__name__}): multi-step "
                    f"neuron ran {T} timesteps, but "
                    f"timesteps={self.timesteps} was given"
                )
            claimed = spk.is_floating_point() and self._claims_binary(frame)
            # classified through the rule context, so the synaptic ops that read these
            # spikes next reuse the scan; a claimed 0 / 1 output is only summed
            sop, steps_sum = self._ctx.scan(spk, T or 1, binary=claimed)
            if claimed and self.options.verify and not bool(sop.binary):
                raise ValueError(
                    f"layer '{frame.name}' ({type(frame.module).__name__}): neuron adapter "
                    f"'{adapter.name}' guarantees binary spikes, but this output holds "
                    "values other than 0 and 1 (found by CountOptions(verify=True))"
                )
            if T is not None and (steps_sum is None or steps_sum.numel() != T):
                steps_sum = exact_sum_dims(spk.reshape(T, -1), 1, self.options.max_spike_level)
            changed = self._changed_states(frame, T, spk.numel())
        self._journal.append((self._apply_neuron, frame, adapter.op(frame.module), spk.numel(),
                              sop.total, sop.nnz, T, steps_sum, spk.device, changed))

    def _apply_neuron(self, frame: _Frame, op: str, n: int, spikes: torch.Tensor | float,
                      nnz: torch.Tensor | float, T: int | None, steps_sum: torch.Tensor | None,
                      device: torch.device, changed: torch.Tensor | None = None) -> None:
        s = self._site(frame, op, "neuron")
        s.calls += 1
        for c in ("neuron_updates", "out_elems", "state_reads", "state_writes"):
            s.host[c] += n
        s.add_dev({"spikes_out": spikes, "out_nnz": nnz, "spike_writes": nnz,
                   "state_changes": self._state_changes(s, changed, n)})
        steps = T or self.timesteps or 1
        s.static["timesteps"] = float(steps)
        if T is None:
            s.static["single_step"] = 1.0
        host = device.type in HOST_DEVICES
        if s.step_spikes is None or s.steps_T != steps:
            if s.step_spikes is not None:
                raise ValueError(
                    f"layer '{frame.name}': timesteps changed between calls "
                    f"({s.steps_T} then {steps})"
                )
            s.steps_T = steps
            s.step_spikes = (
                [0.0] * steps if host else torch.zeros(steps, dtype=F64, device=device)
            )
            s.step_updates = [0.0] * steps
        if T is not None:
            if isinstance(s.step_spikes, list):
                for t, v in enumerate(steps_sum.tolist()):
                    s.step_spikes[t] += v
            else:
                s.step_spikes += steps_sum.to(s.step_spikes.device)
            for t in range(T):
                s.step_updates[t] += n / T
        else:
            t = (s.calls - 1) % steps
            if isinstance(s.step_spikes, list):
                s.step_spikes[t] += float(spikes)
            else:
                s.step_spikes[t] += spikes
            s.step_updates[t] += n

    def _changed_states(self, frame: _Frame, T: int | None, n: int) -> torch.Tensor | None:
        """At the neuron call's end (the state after it is only there now): the elements where
        the membrane after the call differs from the one before it, on the device; ``None``
        where they cannot be told apart, and every update counts: multi-step calls (only the
        last step's state is kept), no state tensor, other shapes, or a state updated in place
        (same storage)."""
        pre, post = frame.pre_state, frame.adapter.state(frame.module)
        if T is not None or not isinstance(pre, torch.Tensor) \
                or not isinstance(post, torch.Tensor) or pre.shape != post.shape \
                or post.numel() != n or pre.data_ptr() == post.data_ptr():
            return None
        return exact_sum(torch.ne(pre, post).to(torch.float32), 1)

    def _state_changes(self, s: _Site, changed: torch.Tensor | None, n: int) -> torch.Tensor | float:
        """Neuron updates that changed the membrane (NeuroBench's MembraneUpdates), applied with
        the journal: every neuron on a site's first call within a sample (a root call, or
        ``calls_per_sample`` of them) and where :meth:`_changed_states` could not compare;
        otherwise the elements that changed."""
        sample = self._root_calls // self.calls_per_sample
        first, s.sample = s.sample != sample, sample
        return float(n) if first or changed is None else changed

    def _after_root_call(self) -> None:
        self._ctx.clear_cache()
        if self._root_calls % self.calls_per_sample:
            return  # mid-sample (a single-step loop): states carry on to the next step
        with _Bookkeeping():
            if self.keep_batch_rates:
                self._snapshot_rates()
            # and leave the model clean: the next sample starts without a second reset
            self._reset_states()
        self._clean = self.reset is not False

    def _reset_states(self) -> None:
        if self.reset is True:
            for m, a in self._adapters.items():
                if a.reset is not None:
                    a.reset(m)
        elif callable(self.reset):
            self.reset(self.model)

    def _snapshot_rates(self) -> None:
        keys = [k for k, s in self._sites.items() if s.kind == "neuron"]
        if not keys:
            self._batch_snaps.append(([], None, []))
            return
        i = _DEV_INDEX["spikes_out"]
        sites = [self._sites[k] for k in keys]
        dev = next((s.acc.device for s in sites if s.acc is not None), None)
        if dev is None:  # host device: plain numbers
            vals: torch.Tensor = torch.tensor([s.host.get("spikes_out", 0.0) for s in sites], dtype=F64)
        else:
            # stays on the device (a device-to-device copy at most): read back in result()
            vals = torch.stack([
                (s.acc[i].to(dev) if s.acc is not None else torch.zeros((), dtype=F64, device=dev))
                + s.host.get("spikes_out", 0.0)
                for s in sites
            ])
        self._batch_snaps.append((keys, vals, [s.host["neuron_updates"] for s in sites]))

    # ----------------------------------------------------------------- data sets
    def run(
        self,
        loader: Iterable[Any],
        *,
        forward: Callable[[nn.Module, Any], Any] | None = None,
        progress: bool = True,
        total: int | None = None,
        desc: str = "profiling",
        all_reduce: bool = True,
    ) -> Profile:
        """Profile the model over every batch of ``loader`` and return the :class:`Profile`.

        Counts are sums over all batches, rates are averages over everything seen, and (with
        ``keep_batch_rates``) :meth:`Profile.rate_spread` gives each neuron site's min / mean /
        max firing rate over the batches. Runs under ``torch.no_grad()``. May be called inside
        the ``with`` block (counts add to what was already seen) or outside it (the profiler
        enters and leaves itself).

        Args:
            loader: any iterable of batches (a ``DataLoader``, a list...).
            forward: ``forward(model, batch)`` runs one batch (move it to the device, unpack it,
                loop over timesteps...). Default: ``model(batch[0])`` for a tuple / list batch
                (``(inputs, targets)``), ``model(**batch)`` for a dict, else ``model(batch)``.
            progress: a tqdm progress bar on stderr (rank 0 only under ``torch.distributed``).
            total: number of batches, for the bar (default ``len(loader)`` when it has one).
            all_reduce: combine all ranks' counts (see :meth:`result`).
        """
        fwd = forward or _default_forward
        if total is None:
            try:
                total = len(loader)  # type: ignore[arg-type]
            except TypeError:
                total = None
        show = progress and _rank() == 0
        from tqdm import tqdm

        entered = not self._active
        if entered:
            self.__enter__()
        try:
            with torch.no_grad():
                # disable=None: tqdm draws only on a TTY, so logs and CI stay quiet
                for batch in tqdm(loader, total=total, desc=desc, disable=None if show else True,
                                  file=sys.stderr, unit="batch", leave=False):
                    fwd(self.model, batch)
        finally:
            if entered:
                self.__exit__(None, None, None)
        return self.result(all_reduce=all_reduce)

    # ----------------------------------------------------------------- result
    def result(self, all_reduce: bool = True) -> Profile:
        """The counts so far, as a :class:`Profile` (one host synchronisation, here).

        Under ``torch.distributed`` with more than one rank and ``all_reduce=True``, every rank's
        counts are combined (exactly: sums) into the global profile, returned on every rank.
        Raises ``RuntimeError`` on a profiler that never ran (it has no counts to give).
        """
        if not self._ran:
            raise RuntimeError("Profiler.result(): this profiler never ran; use it as "
                               "'with Profiler(model) as p: model(x)', then p.result(), or "
                               "p.run(loader)")
        local = self._local_profile()
        if all_reduce and torch.distributed.is_available() and torch.distributed.is_initialized():
            world = torch.distributed.get_world_size()
            if world > 1:
                parts: list[Any] = [None] * world
                torch.distributed.all_gather_object(parts, local.to_dict())
                merged = Profile.from_dict(parts[0])
                for d in parts[1:]:
                    merged = merged.merge(Profile.from_dict(d))
                return merged
        return local

    def _local_profile(self) -> Profile:
        """Read every count back (one device -> host copy per device) and return a Profile whose
        tables are built when first read: building the pandas tables costs more than a small
        model's counting, and a caller that only wants a few totals never pays for it."""
        sites = list(self._sites.values())
        samples = self._sample_units / self.calls_per_sample
        if samples != int(samples):
            raise ValueError(
                f"Profiler: {self._sample_units} sample units over calls_per_sample="
                f"{self.calls_per_sample} is not a whole number of samples"
            )
        accs: dict[int, np.ndarray] = {}
        by_dev: dict[torch.device, list[int]] = defaultdict(list)
        for i, s in enumerate(sites):
            if s.acc is not None:
                by_dev[s.acc.device].append(i)
        for dev, idxs in by_dev.items():
            block = torch.stack([sites[i].acc for i in idxs]).cpu().numpy()
            for j, i in enumerate(idxs):
                accs[i] = block[j]
        # a snapshot: the profiler may go on counting after this result
        snap = [
            (s.key, s.layer, s.module_type, s.op, s.kind, s.calls, dict(s.host), dict(s.static),
             accs.get(i), s.steps_T,
             None if s.step_spikes is None else (
                 list(s.step_spikes) if isinstance(s.step_spikes, list)
                 else s.step_spikes.cpu().numpy().tolist()),
             list(s.step_updates))
            for i, s in enumerate(sites)
        ]
        snaps = list(self._batch_snaps) if self.keep_batch_rates else []
        # neuron modules the model created after the hooks went on (inside a forward): their
        # arithmetic ran uncounted as a neuron; the diagnostics name them
        late = [n for n, m in self.model.named_modules()
                if id(m) not in self._hooked and find_adapter(m) is not None]
        created = [n for n in dict.fromkeys(self._created)]
        info = dict(self._model_info, root_calls=self._root_calls, timesteps=self.timesteps,
                    late_neurons=late, created_neurons=created,
                    integer_spikes=self.options.integer_spikes,
                    layer_edges=[f"{a}{EDGE_SEP}{b}" for a, b in sorted(self._edges)],
                    threshold_ops=[f"{m}{EDGE_SEP}{op}{EDGE_SEP}{n}"
                                   for (m, op), n in sorted(self._threshold.items())],
                    weight_only_ops=[f"{op}{EDGE_SEP}{n}"
                                     for op, n in sorted(self._weight_only.items())],
                    site_weights=[f"{s}{EDGE_SEP}{w}" for s, w in self._site_weight.items()])
        from .neurobench import finish_statistics  # noqa: PLC0415

        stats = self._model_stats
        return Profile.deferred(
            lambda: (_raw_table(snap), _steps_table(snap), _batch_rate_table(snaps)),
            int(samples), dict(self._unrecognized),
            model_info=info, model_stats=finish_statistics(stats) if stats else None,
        )


def _batch_rate_table(batch_snaps: list[tuple]) -> pd.DataFrame | None:
    if not batch_snaps:
        return None
    snaps = [v for _, v, _ in batch_snaps if v is not None]
    flat = torch.cat([v.to(snaps[0].device) for v in snaps]).cpu().numpy() if snaps else None
    rows = []
    offset = 0
    prev_sp: dict[str, float] = {}
    prev_up: dict[str, float] = {}
    for b, (keys, vals, ups) in enumerate(batch_snaps):
        if vals is None:
            continue
        v = flat[offset : offset + len(keys)]
        offset += len(keys)
        for k, sp, up in zip(keys, v, ups):
            dsp, dup = sp - prev_sp.get(k, 0.0), up - prev_up.get(k, 0.0)
            prev_sp[k], prev_up[k] = float(sp), float(up)
            if dup > 0:
                rows.append({"batch": b, "site": k, "rate": dsp / dup})
    return pd.DataFrame(rows, columns=["batch", "site", "rate"])


_COUNTS = [c for c in COUNT_COLUMNS if c != "calls"]


def _raw_table(snap: list[tuple]) -> pd.DataFrame:
    """The per-site table of a :meth:`Profiler._local_profile` snapshot, built column-wise."""
    cols: dict[str, Any] = {c: [row[i] for row in snap] for i, c in enumerate(ID_COLUMNS)}
    cols["calls"] = np.array([row[5] for row in snap], dtype=np.float64)
    counts = {c: np.array([row[6].get(c, 0.0) for row in snap], dtype=np.float64) for c in _COUNTS}
    mask_calls = np.zeros(len(snap))
    for r, row in enumerate(snap):
        a = row[8]
        if a is None:
            continue
        for c, j in _DEV_INDEX.items():
            if c == "mask_calls":
                mask_calls[r] = float(a[j])
            else:
                counts[c][r] += float(a[j])
    mask_calls += np.array([row[6].get("mask_calls", 0.0) for row in snap], dtype=np.float64)
    ops = cols["op"]
    for r, row in enumerate(snap):
        if row[3] == "mul" and row[5] and mask_calls[r] == row[5]:
            ops[r] = "mask"
    cols.update(counts)
    for c in STATIC_COLUMNS:
        cols[c] = np.array([row[7].get(c, 0.0) for row in snap], dtype=np.float64)
    return pd.DataFrame(cols, columns=list(ID_COLUMNS) + list(COUNT_COLUMNS) + list(STATIC_COLUMNS))


def _steps_table(snap: list[tuple]) -> pd.DataFrame:
    rows = [
        {"site": row[0], "layer": row[1], "t": t, "neuron_updates": row[11][t],
         "spikes_out": float(row[10][t])}
        for row in snap if row[10] is not None for t in range(row[9])
    ]
    return pd.DataFrame(rows, columns=["site", "layer", "t", "neuron_updates", "spikes_out"])


def _claim(adapter: NeuronAdapter | None, m: nn.Module) -> bool:
    fn = adapter.binary if adapter is not None else None
    try:
        return bool(fn(m)) if fn is not None else False
    except Exception:  # a guarantee that cannot be decided is not given
        return False


def _model_info(model: nn.Module, adapters: dict[nn.Module, NeuronAdapter],
                calls_per_sample: int) -> dict[str, Any]:
    """What the diagnostics need to know about the model, read once on entry: the recognised
    neuron modules, and the BatchNorm layers whose running statistics are still exactly their
    initial values (mean 0, var 1: never trained nor calibrated). One host read in all."""
    neurons, bn_names, flags = [], [], []
    for name, m in model.named_modules():
        if m in adapters:
            neurons.append(name)
        if isinstance(m, nn.modules.batchnorm._NormBase) and m.track_running_stats:
            rm, rv = m.running_mean, m.running_var
            if isinstance(rm, torch.Tensor) and isinstance(rv, torch.Tensor) and rm.numel():
                bn_names.append(name)
                flags.append(((rm == 0).all() & (rv == 1).all()).reshape(1))
    uncal: list[str] = []
    if flags:
        dev = flags[0].device
        got = torch.cat([f.to(dev) for f in flags]).cpu().tolist()
        uncal = [n for n, f in zip(bn_names, got) if f]
    return {"neurons": neurons, "uncalibrated_bn": uncal, "calls_per_sample": calls_per_sample}


def _is_weight_layer(m: nn.Module) -> bool:
    """A module holding a weight matrix or kernel of its own (``weight`` with 2+ dims)."""
    w = m._parameters.get("weight")
    return isinstance(w, torch.Tensor) and w.dim() >= 2


def _rank() -> int:
    d = torch.distributed
    return d.get_rank() if d.is_available() and d.is_initialized() else 0


def _default_forward(model: nn.Module, batch: Any) -> Any:
    if isinstance(batch, dict):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(batch[0])
    return model(batch)


def profile_loader(
    model: nn.Module,
    loader: Iterable[Any],
    *,
    forward: Callable[[nn.Module, Any], Any] | None = None,
    progress: bool = True,
    all_reduce: bool = True,
    **profiler_kwargs: Any,
) -> Profile:
    """Profile ``model`` over a data set: ``Profiler(model, **profiler_kwargs).run(loader, ...)``.

    Example (a multi-step spikingjelly model fed ``[B, C, H, W]`` images repeated T times;
    states reset between batches)::

        prof = em.profile_loader(
            net, val_loader, batch_dim=1, reset=True,
            forward=lambda m, b: m(b[0].unsqueeze(0).repeat(T, 1, 1, 1, 1)),
        )
        prof.rate_spread()   # per-neuron-layer min / mean / max firing rate over batches
    """
    p = Profiler(model, **profiler_kwargs)
    return p.run(loader, forward=forward, progress=progress, all_reduce=all_reduce)


def profile(
    model: nn.Module,
    inputs: Any,
    batch_dim: int | None = 0,
    *,
    timesteps: int | None = None,
    options: CountOptions | None = None,
    grad: bool = False,
    reset: bool | Callable[[nn.Module], None] = True,
) -> Profile:
    """Run ``model`` once on ``inputs`` under the profiler and return the :class:`Profile`.

    ``inputs``: a tuple/list (called as ``model(*inputs)``), a dict (``model(**inputs)``) or a
    single tensor. Runs under ``torch.no_grad()`` unless ``grad=True``. Counts cover the batch;
    ``Profile.samples`` is the batch size along ``batch_dim``. ``reset``: as in
    :class:`Profiler` (default: the call starts from reset neuron state; ``False`` keeps the
    state a previous call left).
    """
    with Profiler(model, batch_dim=batch_dim, timesteps=timesteps, options=options,
                  reset=reset) as p:
        with torch.set_grad_enabled(grad):
            if isinstance(inputs, dict):
                model(**inputs)
            elif isinstance(inputs, (tuple, list)):
                model(*inputs)
            else:
                model(inputs)
    return p.result()

"""The count rules: one registry of small functions, keyed by aten op.

Each rule takes the op's operands and output and returns an :class:`OpCount`: which op and
kind it was, shape-derived counts (Python numbers) and data-dependent counts (0-d tensors on the
operands' device, never read back here). The profiler only dispatches into this table; adding an
op is adding one decorated function. A user can override one entry with :func:`set_rule`.

Conventions (see ``counting/columns.py`` for the columns):

* synaptic op with a weight (linear, convolution): a spike input (binary or integer) costs one
  accumulate per (input event, weight it reaches); an analog input costs the dense MACs.
* product of two activations (matmul, bmm, einsum, ...), contraction index l, with c_A[l] the
  events of A in column l and c_B[l] those of B in row l: both binary -> sum_l c_A c_B ACs (only
  where both are 1); one binary -> its events times the other's outer size, ACs (the other operand
  is read as values, also when it holds integers, e.g. SSA's attn = Q K^T); integer spikes with an
  analog partner -> value-weighted events; both analog -> dense MACs.
* ``acs_rate``: the literature estimate, firing rate of the event operand x dense_macs (for
  sums: x the elements summed). Every rule that books ``acs`` books ``acs_rate`` too, so
  ``sops="rate"`` never prices an exact-AC site at zero.
* mask (element-wise product with a binary operand) costs no arithmetic; sums of spikes cost
  one accumulate per event; BN, softmax, adds, scales, pooling count element operations.
"""

from __future__ import annotations

import functools
import math
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .operands import F64, CountOptions, Operand, classify

__all__ = [
    "OpCount",
    "RuleContext",
    "RULES",
    "IGNORED_OPS",
    "register_rule",
    "set_rule",
    "rule_for",
]

aten = torch.ops.aten
Number = float | int


@dataclass
class OpCount:
    """What one executed op did.

    ``host``: shape-derived counts (Python numbers). ``dev``: data-dependent counts (0-d
    tensors on the device). ``static``: per-site sizes (weight elements, kernel size...).
    ``mask_flag``: 0-d tensor, 1 when this call was a mask (an element-wise product with spikes).
    """

    op: str
    kind: str
    host: dict[str, Number] = field(default_factory=dict)
    dev: dict[str, torch.Tensor] = field(default_factory=dict)
    static: dict[str, Number] = field(default_factory=dict)


class RuleContext:
    """What a rule may ask: whether a tensor is a weight, and its classification.

    Classifications are cached for the few most recent tensors, keyed by the memory they cover
    (storage, offset, element count, version counter), so a neuron's output read by three
    linears, or a transposed view of it, is scanned once. An entry lives no longer than the
    tensor that owns the memory it keys, so that memory cannot be reused under the key while
    the entry lives (and the cache never keeps an activation alive).
    """

    CACHE_SIZE = 6

    def __init__(self, options: CountOptions, weight_storages: set[int]) -> None:
        self.options = options
        self._weights = weight_storages
        # key -> (binary, integer, level, nnz, total, finalizer); see scan()
        self._cache: dict[tuple, tuple] = {}

    def is_weight(self, t: torch.Tensor) -> bool:
        if isinstance(t, torch.nn.Parameter):
            return True
        try:
            return t.untyped_storage().data_ptr() in self._weights
        except (RuntimeError, NotImplementedError):
            return False

    def operand(self, t: torch.Tensor) -> Operand:
        return self.scan(t)[0]

    def scan(
        self, t: torch.Tensor, groups: int = 1, binary: bool = False
    ) -> tuple[Operand, torch.Tensor | None]:
        """The operand and, when this call scanned it, its value sums per leading group.
        ``binary``: the caller guarantees 0 / 1 values (see :func:`classify`).

        The cache keeps the whole-tensor statistics, not the tensor: holding it would keep up
        to ``CACHE_SIZE`` activations alive after the model dropped them (+5-7 % peak memory on
        the CIFAR zoo models). Instead an entry is dropped when the tensor that owns the memory
        (``t._base`` or ``t``) is freed, before the memory can be reused under the same key. A
        hit is rebuilt around the caller's own view (its strides, e.g. a transpose of the
        tensor scanned, matter to per-index event sums)."""
        if self.is_weight(t):
            return classify(t, True, self.options)
        key = _dense_key(t)
        if key is None:
            return classify(t, False, self.options, groups, binary)
        hit = self._cache.get(key)
        if hit is None:
            op, totals = classify(t, False, self.options, groups, binary)
            if len(self._cache) >= self.CACHE_SIZE:
                self._cache.pop(next(iter(self._cache)))[-1].detach()
            owner = t._base if t._base is not None else t
            fin = weakref.finalize(owner, self._cache.pop, key, None)
            fin.atexit = False
            self._cache[key] = (op.binary, op.integer, op.level, op.nnz, op.total, fin)
            return op, totals
        b, i, level, nnz, total, _ = hit
        return Operand(t, False, b, i, level, _nnz=nnz, _total=total), None

    def clear_cache(self) -> None:
        for entry in self._cache.values():
            entry[-1].detach()
        self._cache.clear()


def _dense_key(t: torch.Tensor) -> tuple | None:
    """A key for the block of memory ``t`` covers, when ``t`` covers it densely (every element
    of ``numel`` consecutive slots, in any dim order); ``None`` otherwise."""
    if t.device.type == "meta" or t.numel() == 0 or t.is_inference():
        return None  # (inference tensors have no version counter: an in-place change is unseen)
    dims = sorted((st, sz) for st, sz in zip(t.stride(), t.shape) if sz != 1)
    expect = 1
    for st, sz in dims:
        if st != expect:
            return None
        expect *= sz
    try:
        ptr = t.untyped_storage().data_ptr()
    except (RuntimeError, NotImplementedError):
        return None
    return (ptr, t.storage_offset(), t.numel(), t.dtype, t.device, t._version)


Rule = Callable[[RuleContext, tuple, dict, Any], "OpCount | None"]

#: aten overload packet -> rule
RULES: dict[Any, Rule] = {}


def register_rule(*ops: Any) -> Callable[[Rule], Rule]:
    """Decorator: register ``fn`` as the count rule of each aten op (packet or overload)."""

    def deco(fn: Rule) -> Rule:
        for op in ops:
            RULES[op] = fn
        return fn

    return deco


def set_rule(op: Any, fn: Rule | None) -> Rule | None:
    """Override (or, with ``None``, remove) the rule of one op; returns the previous rule."""
    prev = RULES.get(op)
    if fn is None:
        RULES.pop(op, None)
    else:
        RULES[op] = fn
    return prev


def rule_for(func: Any) -> Rule | None:
    """The rule of an aten overload: by overload first, then by its packet."""
    r = RULES.get(func)
    if r is None:
        r = RULES.get(getattr(func, "overloadpacket", None))
    return r


def _prod(xs) -> int:
    return int(math.prod(int(x) for x in xs))


def _route(dev: dict, events: torch.Tensor, nonbinary: torch.Tensor | float, ctx: RuleContext) -> None:
    """Book event counts as ACs; with ``integer_spikes='mac'`` the events of non-binary
    (integer) spikes are booked as MACs instead."""
    if ctx.options.integer_spikes == "mac":
        dev["acs"] = events * (1.0 - nonbinary)
        dev["macs"] = dev.get("macs", 0.0) + events * nonbinary
    else:
        dev["acs"] = events


# ------------------------------------------------------------------------- products
def _contraction(
    ctx: RuleContext, a: torch.Tensor, b: torch.Tensor, out: torch.Tensor, bias: Any
) -> OpCount:
    """A[..., m, k] @ B[..., k, n] with equal leading dims (mm, bmm and their add- forms)."""
    A, B = ctx.operand(a), ctx.operand(b)
    m, k = a.shape[-2], a.shape[-1]
    n = b.shape[-1]
    batch = _prod(a.shape[:-2])
    dense = batch * m * k * n
    host: dict[str, Number] = {"dense_macs": dense, "out_elems": out.numel()}
    dev: dict[str, torch.Tensor] = {}
    static: dict[str, Number] = {}
    bias_w = isinstance(bias, torch.Tensor) and ctx.is_weight(bias)
    if bias_w:
        host["bias_reads"] = out.numel()
        static["bias_elems"] = bias.numel()

    if B.is_weight or A.is_weight:
        # activation x weight: a linear layer (the weight is B for x @ W^T, A for W @ x)
        act, w, outer = (A, b, n) if B.is_weight else (B, a, m)
        static.update(weight_elems=w.numel(), out_channels=outer, kernel_elems=1)
        fa = act.flag("integer")
        ev = act.events(ctx.options) * outer
        nnz = act.nnz
        host["in_elems"] = act.numel
        host["nb_dense"] = dense
        fbin = act.flag("binary")
        dev.update(
            nb_acs=fbin * nnz * outer,
            nb_macs=(1.0 - fbin) * nnz * outer,
            in_nnz=nnz,
            in_spike_calls=fa,
            in_binary_calls=act.flag("binary"),
            macs=(1.0 - fa) * dense,
            acs_rate=fa * nnz * (dense / max(act.numel, 1)),
            weight_reads=fa * nnz * outer + (1.0 - fa) * dense,
            spike_reads=fa * nnz,
            state_reads=fa * nnz * outer,
            state_writes=fa * nnz * outer,
        )
        _route(dev, fa * ev, fa * (1.0 - act.flag("binary")), ctx)
        return OpCount("linear", "synaptic", host, dev, static)

    # activation x activation
    bA, bB = A.flag("binary"), B.flag("binary")
    iA, iB = A.flag("integer"), B.flag("integer")
    # event operands: a binary operand always; an integer one only if the other is not binary
    evA = bA + (1.0 - bA) * iA * (1.0 - bB)
    evB = bB + (1.0 - bB) * iB * (1.0 - bA)
    vA = A.event_sums(-2, ctx.options)  # [..., k]
    vB = B.event_sums(-1, ctx.options)  # [..., k]
    ab = (vA * vB).sum()
    af = vA.sum() * n
    fb = vB.sum() * m
    events = evA * evB * ab + evA * (1.0 - evB) * af + (1.0 - evA) * evB * fb
    nonbinary = 1.0 - (1.0 - evA * (1.0 - bA)) * (1.0 - evB * (1.0 - bB))
    nA, nB = A.nnz, B.nnz
    rateA, rateB = nA / max(A.numel, 1), nB / max(B.numel, 1)
    host.update(in_elems=A.numel, in2_elems=B.numel)
    dev.update(
        in_nnz=nA,
        in2_nnz=nB,
        in_spike_calls=iA,
        in_binary_calls=bA,
        macs=(1.0 - evA) * (1.0 - evB) * dense,
        acs_rate=(evA * rateA + (1.0 - evA) * evB * rateB) * dense,
        spike_reads=evA * nA + evB * nB,
        state_reads=events,
        state_writes=events,
    )
    _route(dev, events, nonbinary, ctx)
    static.update(kernel_elems=1)
    return OpCount("matmul", "attention", host, dev, static)


@register_rule(aten.mm)
def mm_rule(ctx, args, kwargs, out):
    return _contraction(ctx, args[0], args[1], out, None)


@register_rule(aten.bmm)
def bmm_rule(ctx, args, kwargs, out):
    return _contraction(ctx, args[0], args[1], out, None)


@register_rule(aten.addmm, aten.baddbmm)
def addmm_rule(ctx, args, kwargs, out):
    return _contraction(ctx, args[1], args[2], out, args[0])


@register_rule(aten.mv)
def mv_rule(ctx, args, kwargs, out):
    return _contraction(ctx, args[0], args[1].unsqueeze(-1), out, None)


@register_rule(aten.dot)
def dot_rule(ctx, args, kwargs, out):
    return _contraction(ctx, args[0].unsqueeze(0), args[1].unsqueeze(-1), out, None)


# ------------------------------------------------------------------------- convolution
_FANOUT_CACHE: dict[tuple, torch.Tensor] = {}


def conv_fanout(
    size: int, kernel: int, stride: int, padding: int, dilation: int, out_size: int,
    device: torch.device,
) -> torch.Tensor:
    """For each input position along one dim, how many (output position, kernel tap) pairs it
    feeds: output o, tap j with o*stride - padding + j*dilation == i. Float64, on ``device``,
    cached (built with device ops only, so no host-to-device copy)."""
    key = (size, kernel, stride, padding, dilation, out_size, str(device))
    f = _FANOUT_CACHE.get(key)
    if f is None:
        i = torch.arange(size, device=device, dtype=torch.int64)
        f = torch.zeros(size, device=device, dtype=F64)
        for j in range(kernel):
            pos = i + padding - j * dilation
            o = torch.div(pos, stride, rounding_mode="floor")
            ok = (pos >= 0) & (pos - o * stride == 0) & (o < out_size)
            f += ok.to(F64)
        _FANOUT_CACHE[key] = f
    return f


_NNZ_OPTIONS = CountOptions(integer_spikes="mac")  # event_sums then count non-zeros


@functools.lru_cache(maxsize=4096)
def _fanout_total(size: int, kernel: int, stride: int, padding: int, dilation: int,
                  out_size: int) -> int:
    """(input position, output position, tap) triples along one dim: what an all-ones input
    reaches (taps on padding excluded); the host-side sum of :func:`conv_fanout`."""
    return sum(
        1
        for o in range(out_size)
        for j in range(kernel)
        if 0 <= o * stride - padding + j * dilation < size
    )


@register_rule(aten.convolution, aten._convolution)
def conv_rule(ctx, args, kwargs, out):
    x, w, bias = args[0], args[1], args[2]
    stride, padding, dilation, transposed = args[3], args[4], args[5], bool(args[6])
    groups = int(args[8])
    nd = w.dim() - 2
    unbatched = x.dim() == nd + 1
    xb = x.unsqueeze(0) if unbatched else x
    ob = out.unsqueeze(0) if unbatched else out
    X = ctx.operand(xb)
    ksz = [int(s) for s in w.shape[2:]]
    kprod = _prod(ksz)
    in_sp = [int(s) for s in xb.shape[2:]]
    out_sp = [int(s) for s in ob.shape[2:]]
    nb, c_in = int(xb.shape[0]), int(xb.shape[1])
    if transposed:
        c_out = int(w.shape[1]) * groups
        dense = nb * c_in * _prod(in_sp) * (c_out // groups) * kprod
    else:
        c_out = int(w.shape[0])
        dense = nb * c_out * _prod(out_sp) * (c_in // groups) * kprod
    per_group = c_out // groups
    stride_l = list(stride) * nd if len(stride) == 1 else list(stride)
    pad_l = list(padding) * nd if len(padding) == 1 else list(padding)
    dil_l = list(dilation) * nd if len(dilation) == 1 else list(dilation)

    # events summed over batch and channels: [*spatial]
    v = X.event_sums((0, 1), ctx.options)
    if transposed:
        # every input event reaches the whole kernel (output cropping by padding ignored)
        reach = v.sum() * kprod
    else:
        t = v
        for d in range(nd):
            f = conv_fanout(in_sp[d], ksz[d], stride_l[d], pad_l[d], dil_l[d], out_sp[d], x.device)
            shape = [1] * nd
            shape[d] = in_sp[d]
            t = t * f.view(shape)
        reach = t.sum()
    fa = X.flag("integer")
    nnz = X.nnz
    kernel_fetch = nnz * per_group * kprod
    # NeuroBench's view: every non-zero input counts once, whatever its kind or value
    if transposed:
        nb_pairs = nnz * kprod * per_group
        nb_dense = dense
    else:
        fb = X.flag("binary")
        if ctx.options.integer_spikes == "mac" or (not isinstance(fb, torch.Tensor) and fb == 1.0):
            # the event sums above already count each non-zero once (0 / 1 values, or 'mac'):
            # the same numbers, without a second pass over the input
            nb_pairs = reach * per_group
        else:
            t = X.event_sums((0, 1), _NNZ_OPTIONS)
            for d in range(nd):
                f = conv_fanout(in_sp[d], ksz[d], stride_l[d], pad_l[d], dil_l[d], out_sp[d], x.device)
                shape = [1] * nd
                shape[d] = in_sp[d]
                t = t * f.view(shape)
            nb_pairs = t.sum() * per_group
        nb_dense = nb * c_in * per_group * _prod(
            _fanout_total(in_sp[d], ksz[d], stride_l[d], pad_l[d], dil_l[d], out_sp[d])
            for d in range(nd)
        )
    fbin = X.flag("binary")
    host: dict[str, Number] = {
        "dense_macs": dense,
        "in_elems": X.numel,
        "out_elems": out.numel(),
        "nb_dense": nb_dense,
    }
    static: dict[str, Number] = {
        "weight_elems": w.numel(),
        "out_channels": c_out,
        "kernel_elems": kprod,
        "stride_elems": _prod(math.ceil(k / s) for k, s in zip(ksz, stride_l)),
    }
    if isinstance(bias, torch.Tensor):
        host["bias_reads"] = out.numel()
        static["bias_elems"] = bias.numel()
    dev = dict(
        nb_acs=fbin * nb_pairs,
        nb_macs=(1.0 - fbin) * nb_pairs,
        in_nnz=nnz,
        in_spike_calls=fa,
        in_binary_calls=X.flag("binary"),
        macs=(1.0 - fa) * dense,
        acs_rate=fa * nnz * (dense / max(X.numel, 1)),
        weight_reads=fa * kernel_fetch + (1.0 - fa) * dense,
        spike_reads=fa * nnz,
        state_reads=fa * kernel_fetch,
        state_writes=fa * kernel_fetch,
    )
    _route(dev, fa * reach * per_group, fa * (1.0 - X.flag("binary")), ctx)
    op = f"conv_transpose{nd}d" if transposed else f"conv{nd}d"
    return OpCount(op, "synaptic", host, dev, static)


# ------------------------------------------------------------------------- fused attention
@register_rule(
    aten._scaled_dot_product_flash_attention_for_cpu,
    aten._scaled_dot_product_flash_attention,
    aten._scaled_dot_product_efficient_attention,
    aten._scaled_dot_product_cudnn_attention,
    aten._scaled_dot_product_attention_math,
)
def sdpa_rule(ctx, args, kwargs, out):
    q, k, v = args[0], args[1], args[2]
    batch = _prod(q.shape[:-2])
    L, E = int(q.shape[-2]), int(q.shape[-1])
    S, Ev = int(k.shape[-2]), int(v.shape[-1])
    dense = batch * L * S * (E + Ev)
    host = {
        "dense_macs": dense,
        "macs": dense,
        "elementwise_ops": batch * L * S,  # softmax
        "in_elems": q.numel(),
        "in2_elems": k.numel(),
    }
    return OpCount("sdpa", "attention", host, {}, {})


# ------------------------------------------------------------------------- element-wise
def _is_scalar(x: Any) -> bool:
    return not isinstance(x, torch.Tensor) or x.dim() == 0


@register_rule(aten.mul, aten.mul_)
def mul_rule(ctx, args, kwargs, out):
    a, b = args[0], args[1]
    if _is_scalar(a) or _is_scalar(b):
        return OpCount("scale", "other", {"elementwise_ops": out.numel()})
    A, B = ctx.operand(a), ctx.operand(b)
    bA, bB = A.flag("binary"), B.flag("binary")
    mask = 1.0 - (1.0 - bA) * (1.0 - bB)
    host = {"in_elems": A.numel, "in2_elems": B.numel}
    dev = {
        "in_nnz": A.nnz,
        "in2_nnz": B.nnz,
        "in_spike_calls": A.flag("integer"),
        "in_binary_calls": bA,
        "mask_calls": mask,
        "elementwise_ops": (1.0 - mask) * out.numel(),
        "spike_reads": bA * A.nnz + bB * B.nnz,
    }
    return OpCount("mul", "other", host, dev)


@register_rule(aten.div, aten.div_)
def div_rule(ctx, args, kwargs, out):
    name = "scale" if _is_scalar(args[1]) else "div"
    return OpCount(name, "other", {"elementwise_ops": out.numel()})


@register_rule(aten.add, aten.add_, aten.sub, aten.sub_, aten.rsub)
def add_rule(ctx, args, kwargs, out):
    return OpCount("add", "other", {"elementwise_ops": out.numel()})


def _reduction(op: str, kind: str) -> Rule:
    """sum / mean: over spikes, one accumulate per event; over analog values, element ops.
    A sum of activations is an attention accumulation (SDSA's and SASA's column sums, kind
    ``attention``); a mean is pooling (token or time averages in heads, kind ``other``).
    Rate estimate (``acs_rate``): the input's firing rate x the dense adds (one per element
    summed), i.e. its non-zero elements."""

    def rule(ctx, args, kwargs, out):
        x = args[0]
        X = ctx.operand(x)
        fi = X.flag("integer")
        ev = X.events(ctx.options)
        host = {"in_elems": X.numel, "out_elems": out.numel()}
        dev = {
            "in_nnz": X.nnz,
            "in_spike_calls": fi,
            "in_binary_calls": X.flag("binary"),
            "elementwise_ops": (1.0 - fi) * X.numel,
            "spike_reads": fi * X.nnz,
            "acs_rate": fi * X.nnz,
        }
        _route(dev, fi * ev, fi * (1.0 - X.flag("binary")), ctx)
        return OpCount(op, kind, host, dev)

    rule.__name__ = f"{op}_rule"
    return rule


register_rule(aten.sum)(_reduction("sum", "attention"))
register_rule(aten.mean)(_reduction("mean", "other"))


def _elementwise(op: str) -> Rule:
    def rule(ctx, args, kwargs, out):
        x = args[0]
        n = x.numel() if isinstance(x, torch.Tensor) else 0
        return OpCount(op, "other", {"elementwise_ops": n})

    rule.__name__ = f"{op}_rule"
    return rule


register_rule(
    aten.native_batch_norm,
    aten._native_batch_norm_legit,
    aten._native_batch_norm_legit_no_training,
    aten.cudnn_batch_norm,
    aten.miopen_batch_norm,
)(_elementwise("batch_norm"))
register_rule(aten.native_layer_norm, aten.native_group_norm)(_elementwise("layer_norm"))
register_rule(aten._softmax, aten._log_softmax, aten._safe_softmax)(_elementwise("softmax"))
register_rule(
    aten.gelu, aten.relu, aten.relu_, aten.sigmoid, aten.tanh, aten.silu, aten.hardtanh,
    aten.leaky_relu, aten.elu, aten.clamp, aten.clamp_min, aten.clamp_max,
)(_elementwise("activation"))
# quantizers (an ANN twin's activations, fake-quantized models): one op per element
register_rule(aten.round, aten.floor, aten.ceil, aten.trunc)(_elementwise("quantize"))
register_rule(
    aten.max_pool1d, aten.max_pool2d_with_indices, aten.max_pool3d_with_indices,
    aten.avg_pool1d, aten.avg_pool2d, aten.avg_pool3d, aten._adaptive_avg_pool2d,
    aten._adaptive_avg_pool3d, aten.adaptive_max_pool2d,
)(_elementwise("pool"))


#: Ops that move, view or create data and do no arithmetic: never counted, never reported.
IGNORED_OPS: frozenset[str] = frozenset(
    """
    view _unsafe_view reshape _reshape_alias t transpose permute expand squeeze unsqueeze select
    slice slice_scatter select_scatter as_strided alias detach clone contiguous cat stack split
    split_with_sizes chunk unbind flatten unflatten copy copy_ _to_copy to lift_fresh
    lift_fresh_copy empty empty_like empty_strided new_empty new_empty_strided zeros zeros_like
    new_zeros ones ones_like new_ones full full_like new_full fill fill_ zero_ arange rand
    rand_like randn randn_like randint bernoulli bernoulli_ normal_ uniform_ index index_select
    gather repeat roll flip narrow _local_scalar_dense item result_type set_ resize_
    unsafe_split unsafe_chunk split_copy view_copy permute_copy expand_copy t_copy
    transpose_copy unsqueeze_copy squeeze_copy _unsafe_index pad constant_pad_nd is_nonzero
    scalar_tensor _foreach_copy_ dropout native_dropout feature_dropout
    """.split()
)

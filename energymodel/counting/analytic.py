"""Closed-form op counts of the four attention mechanisms and their blocks, from T, N, D, heads
and per-tensor firing rates, in the profiler's convention (:mod:`energymodel.counting`).

Pure Python + numpy (no torch): the check that a measured profile is what the equations say,
and the way to price a shape nobody has run yet.

>>> from energymodel import analytic
>>> ops = analytic.attention_ops("sdsa", T=4, N=196, D=512, heads=8,
...                              rates={"x": 0.2, "q": 0.15, "k": 0.15, "v": 0.15, "attn": 0.3})
>>> ops["acs"], ops["macs"]

Counts are **per sample** (one input, all T timesteps), as ``Profile`` counts divided by
``Profile.samples``. Each result is a dict::

    {"mechanism", "T", "N", "D", "heads",
     "dense_macs", "macs", "acs", "acs_rate", "elementwise_ops", "neuron_updates",
     "spikes_out",                                  # totals
     "by_kind": {kind: {count: value}},             # synaptic | attention | neuron | other
     "sites": {site: {"layer", "op", "kind", count: value}}}

``sites`` is keyed exactly as ``Profile.layers["site"]`` (``'q_linear:linear#0'``, ``':matmul#0'``,
``':mul#1'`` for the second mask; inside a block ``'attn.q_linear:linear#0'``), so an analytic
table joins a measured one row by row.

Convention (the profiler's, see DESIGN.md):

* linear with spike input: ``acs = events(x) * out_features``, ``macs = 0``; analog input:
  ``macs = dense_macs``; ``dense_macs = N * in * out`` per timestep.
* spike x spike matmul ``A @ B``: ``acs = Σ_l c_A[l] c_B[l]`` (column counts of A times row
  counts of B over the contraction index); integer x spike (SSA's ``(Q Kᵀ) @ V``): the integer
  operand counts as values, ``acs = rows(A) * events(B)``; analog x analog: ``macs`` = dense.
* ``spike * spike``: a mask, no ops. ``x * scalar``: ``scale``, one element op per element.
  ``sum`` over tokens of spikes: ``acs = events summed``, ``acs_rate`` = rate x elements summed
  (the same for binary spikes).
* BatchNorm, LayerNorm, softmax, add, activation: ``elementwise_ops = numel``.
* ``acs_rate`` (the literature estimate): rate of the event operand x ``dense_macs``. The
  profiler takes that rate as non-zeros / elements; here it is the given rate, so for integer
  inputs (a Spikformer block's residual sums) the two differ by design.
* LIF: ``neuron_updates = numel`` (T x neurons), ``spikes_out = events of its output``.

Rates (``rates`` dict). A rate is *events per element*: the firing rate for binary spikes, the
mean value for integer spikes (a value k counts k accumulates). Each is either

* a float: the rate over the whole tensor (counts are then the expectation under independent,
  uniform firing where two tensors meet, e.g. ``Q Kᵀ``), or
* a numpy array of **column rates** with trailing axes ``(heads, d)`` and leading ``(T,)`` or
  ``(T, B)``: the fraction of the N tokens firing in each head channel at each step (per
  sample). Fed with column rates measured on a run, spike x spike counts are **exact**.

Keys (which a mechanism needs is listed in :data:`REQUIRED`):

* ``x``: attention input (the Q/K/V linears' input; block input of a Spikformer block, output
  of ``shortcut_lif`` in SDT/SAFormer blocks). Scalar.
* ``q``, ``k``, ``v``: Q, K, V spikes. Scalar or column rates.
* ``attn``: SSA: ``attn_lif`` output (scalar or column rates over T N D). SDSA / SASA: the
  neuron on the column sums, over its ``T x D`` outputs (scalar, or a ``[T(,B),H,d]`` array of
  its 0/1 outputs averaged over the batch).
* ``kv``: SDSA: events of ``K ⊙ V`` over T N D (default: ``N Σ k v`` from column rates, exact
  only when K and V fire independently). ``qk``: SASA, events of ``Q ⊙ K``, same rule.
* ``out``: events of the tensor entering the output projection, over T N D (default: SSA
  ``attn``; SDSA ``N Σ q attn``; SASA ``N Σ k attn``, exact with column arrays).
* ``proj``: SSA, ``proj_lif`` output rate (spikes_out only).
* ``k_tokens``, ``v_tokens``: SSA with ``ssa_order="q_kv"``, ``[T(,B),H,N]`` fraction of a
  head's d channels firing per token, making ``Kᵀ V`` exact (default: from the column rates,
  assuming independence).

Block keys (:func:`block_ops`): ``mlp_in`` (input of the first MLP linear), ``mlp_hidden``
(input of the second), ``mlp_out`` (Spikformer ``fc2_lif`` output, spikes_out only), ``dwc_in``
(SAFormer: the DWC neuron's output; scalar, or an ``(h, w)`` array of per-pixel rates averaged
over T, batch and channels, which makes the border-aware convolution count exact).

A neuron whose output rate is not given reports ``spikes_out = nan`` (and so does the total).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

__all__ = ["attention_ops", "block_ops", "MECHANISMS", "REQUIRED", "BLOCK_REQUIRED", "conv_fanout"]

MECHANISMS = ("vanilla", "ssa", "sdsa", "sasa")

#: rate keys each mechanism's compute counts need (``attention_ops``)
REQUIRED: dict[str, tuple[str, ...]] = {
    "vanilla": (),
    "ssa": ("x", "q", "k", "v", "attn"),
    "sdsa": ("x", "q", "k", "v", "attn"),
    "sasa": ("x", "q", "k", "attn"),
}
#: extra keys of ``block_ops``
BLOCK_REQUIRED: dict[str, tuple[str, ...]] = {
    "vanilla": (),
    "ssa": ("mlp_in", "mlp_hidden"),
    "sdsa": ("mlp_in", "mlp_hidden"),
    "sasa": ("mlp_in", "mlp_hidden", "dwc_in"),
}

COUNTS = ("dense_macs", "macs", "acs", "acs_rate", "elementwise_ops", "neuron_updates", "spikes_out")
KINDS = ("synaptic", "attention", "neuron", "other")


class _Sites:
    """Accumulates op sites in execution order, keyed exactly as the profiler keys them:
    ``'<module path>:<op>#<k>'`` (k: k-th op of that name within one call of the module)."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.sites: dict[str, dict[str, Any]] = {}
        self._ordinal: dict[tuple[str, str], int] = {}

    def scoped(self, prefix: str) -> "_Sites":
        """A view writing into the same table under a sub-module path."""
        child = _Sites.__new__(_Sites)
        child.prefix = f"{self.prefix}.{prefix}" if self.prefix else prefix
        child.sites, child._ordinal = self.sites, self._ordinal
        return child

    def add(self, layer: str, op: str, kind: str, key_op: str | None = None, **counts: float) -> None:
        full = ".".join(p for p in (self.prefix, layer) if p)
        key_op = key_op or op
        k = self._ordinal.get((full, key_op), 0)
        self._ordinal[(full, key_op)] = k + 1
        row: dict[str, Any] = {"layer": full, "op": op, "kind": kind}
        row.update({c: float(counts.get(c, 0.0)) for c in COUNTS})
        self.sites[f"{full}:{key_op}#{k}"] = row

    # common site shapes -------------------------------------------------------------------
    def linear(self, layer: str, rows: float, fin: int, fout: int, rate: float | None) -> None:
        """``rows`` input vectors (T N per sample) of ``fin`` features at events-per-element
        ``rate``; ``rate=None``: analog input (dense MACs)."""
        dense = rows * fin * fout
        if rate is None:
            self.add(layer, "linear", "synaptic", dense_macs=dense, macs=dense)
        else:
            self.add(layer, "linear", "synaptic", dense_macs=dense,
                     acs=rate * rows * fin * fout, acs_rate=rate * dense)

    def elementwise(self, layer: str, op: str, numel: float) -> None:
        self.add(layer, op, "other", elementwise_ops=numel)

    def neuron(self, layer: str, numel: float, spikes: float | None) -> None:
        self.add(layer, "lif", "neuron", neuron_updates=numel,
                 spikes_out=math.nan if spikes is None else spikes)

    def mask(self, layer: str = "") -> None:
        self.add(layer, "mask", "other", key_op="mul")

    def result(self, **meta: Any) -> dict[str, Any]:
        out: dict[str, Any] = dict(meta)
        for c in COUNTS:
            out[c] = float(sum(s[c] for s in self.sites.values()))
        out["by_kind"] = {
            k: {c: float(sum(s[c] for s in self.sites.values() if s["kind"] == k)) for c in COUNTS}
            for k in KINDS
        }
        out["sites"] = self.sites
        return out


def _check_shape(mechanism: str, T: int, N: int, D: int, heads: int) -> str:
    m = mechanism.lower()
    if m not in MECHANISMS:
        raise ValueError(f"unknown mechanism {mechanism!r}; known: {', '.join(MECHANISMS)}")
    for label, v in (("T", T), ("N", N), ("D", D), ("heads", heads)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{label} must be a positive integer (got {v!r})")
    if D % heads:
        raise ValueError(f"D={D} is not divisible by heads={heads}")
    return m


def _need(rates: Mapping[str, Any], keys: tuple[str, ...], what: str) -> None:
    missing = [k for k in keys if rates.get(k) is None]
    if missing:
        raise ValueError(f"{what} needs rates {list(keys)}; missing {missing}")


def _cols(r: Any, T: int, heads: int, d: int, key: str) -> np.ndarray:
    """A rate as a ``[T, B, H, d]`` array of column rates (B = 1 for a scalar)."""
    a = np.asarray(r, dtype=np.float64)
    if a.ndim == 0:
        return np.full((T, 1, heads, d), float(a))
    if a.shape[-2:] != (heads, d):
        raise ValueError(f"rate {key!r}: trailing axes must be (heads, d) = ({heads}, {d}), "
                         f"got shape {a.shape}")
    if a.ndim == 2:
        a = np.broadcast_to(a, (T, heads, d))
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[0] != T:
        raise ValueError(f"rate {key!r}: expected shape (heads, d), (T, heads, d) or "
                         f"(T, B, heads, d) with T={T}, got {a.shape}")
    return a


def _per_sample(a: np.ndarray) -> float:
    """Sum of a ``[T, B, ...]`` array divided by B."""
    return float(a.sum() / a.shape[1])


def _mean_rate(r: Any) -> float:
    return float(np.mean(np.asarray(r, dtype=np.float64)))


def _tokens(r: Any, T: int, heads: int, N: int, key: str) -> np.ndarray:
    """Token rates ``[T, (B,) H, N]`` (fraction of a head's d channels firing per token) as
    ``[T, B, H, N]``."""
    a = np.asarray(r, dtype=np.float64)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[0] != T or a.shape[2:] != (heads, N):
        raise ValueError(f"rate {key!r}: expected shape (T, heads, N) or (T, B, heads, N) = "
                         f"({T}, B, {heads}, {N}), got {a.shape}")
    return a


def _attention(s: _Sites, m: str, T: int, N: int, D: int, heads: int, rates: Mapping[str, Any],
               ssa_order: str = "qk_v") -> None:
    d = D // heads
    tnd = T * N * D
    nnd = T * N * N * D  # dense MACs of one N x N x d product per head, all heads and steps
    if m == "vanilla":
        s.elementwise("norm", "layer_norm", tnd)
        for name in ("q_linear", "k_linear", "v_linear"):
            s.linear(name, T * N, D, D, None)
        s.add("", "matmul", "attention", dense_macs=nnd, macs=nnd)  # Q Kᵀ
        s.elementwise("", "scale", T * heads * N * N)
        s.elementwise("", "softmax", T * heads * N * N)
        s.add("", "matmul", "attention", dense_macs=nnd, macs=nnd)  # softmax(.) V
        s.linear("proj_linear", T * N, D, D, None)
        return

    _need(rates, REQUIRED[m], f"mechanism {m!r}")
    x_rate = _mean_rate(rates["x"])
    names = ("q", "k", "v") if m != "sasa" else ("q", "k")
    cols = {n: _cols(rates[n], T, heads, d, n) for n in names}
    for n in names:
        s.linear(f"{n}_linear", T * N, D, D, x_rate)
        s.elementwise(f"{n}_bn", "batch_norm", tnd)
        s.neuron(f"{n}_lif", tnd, N * _per_sample(cols[n]))

    if m == "ssa":
        q, k, v = cols["q"], cols["k"], cols["v"]
        rq, rv = _per_sample(q) / (T * D), _per_sample(v) / (T * D)  # mean firing rates
        if ssa_order == "qk_v":
            # Q Kᵀ, both binary: accumulates where both are 1, per head channel (column counts)
            s.add("", "matmul", "attention", dense_macs=nnd,
                  acs=N * N * _per_sample(q * k), acs_rate=rq * nnd)
            # (Q Kᵀ) V: the integer Q Kᵀ is read as values; each of V's events feeds N rows.
            # (Assumes some entry of Q Kᵀ exceeds 1, true at any realistic d and rate; were it
            # all 0/1, the profiler would count this product as spike x spike.)
            s.add("", "matmul", "attention", dense_macs=nnd,
                  acs=N * N * _per_sample(v), acs_rate=rv * nnd)
        else:
            ndd = T * N * D * d
            # Kᵀ V over the tokens, both binary: per token, (k events) x (v events) in a head
            kt, vt = rates.get("k_tokens"), rates.get("v_tokens")
            if kt is None or vt is None:
                kv_acs = N * d * d * _per_sample(k.mean(-1, keepdims=True) * v.mean(-1, keepdims=True))
            else:
                kv_acs = d * d * _per_sample(_tokens(kt, T, heads, N, "k_tokens")
                                             * _tokens(vt, T, heads, N, "v_tokens"))
            rk = _per_sample(k) / (T * D)
            s.add("", "matmul", "attention", dense_macs=ndd, acs=kv_acs, acs_rate=rk * ndd)
            # Q (Kᵀ V): each of Q's events reads a row of d integer values (same caveat)
            s.add("", "matmul", "attention", dense_macs=ndd,
                  acs=N * d * _per_sample(q), acs_rate=rq * ndd)
        s.elementwise("", "scale", tnd)
        attn = _cols(rates["attn"], T, heads, d, "attn")
        attn_events = N * _per_sample(attn)
        s.neuron("attn_lif", tnd, attn_events)
        out = attn_events / tnd if rates.get("out") is None else _mean_rate(rates["out"])
        s.linear("proj_linear", T * N, D, D, out)
        s.elementwise("proj_bn", "batch_norm", tnd)
        proj = rates.get("proj")
        s.neuron("proj_lif", tnd, None if proj is None else _mean_rate(proj) * tnd)
        return

    # sdsa / sasa: mask, column sum, neuron on the sums, mask, projection
    a, b = (cols["k"], cols["v"]) if m == "sdsa" else (cols["q"], cols["k"])
    pair_key = "kv" if m == "sdsa" else "qk"
    if rates.get(pair_key) is None:
        pair_events = N * _per_sample(a * b)
    else:
        pair_events = _mean_rate(rates[pair_key]) * tnd
    s.mask()
    s.add("", "sum", "attention", acs=pair_events, acs_rate=pair_events)  # binary: rate x elements
    attn = _cols(rates["attn"], T, heads, d, "attn")
    s.neuron("talking_heads_lif" if m == "sdsa" else "attn_lif", T * D, _per_sample(attn))
    carrier = cols["q"] if m == "sdsa" else cols["k"]
    s.mask()
    if rates.get("out") is None:
        out = N * _per_sample(carrier * attn) / tnd
    else:
        out = _mean_rate(rates["out"])
    s.linear("proj_linear", T * N, D, D, out)
    s.elementwise("proj_bn", "batch_norm", tnd)


def attention_ops(
    mechanism: str,
    T: int,
    N: int,
    D: int,
    heads: int,
    rates: Mapping[str, Any] | None = None,
    *,
    ssa_order: str = "qk_v",
) -> dict[str, Any]:
    """Per-sample op counts of one attention module (:mod:`energymodel.attention`): Q/K/V
    linears, their BatchNorms and neurons, the attention products / masks / sums and the output
    projection, exactly the ops its ``forward`` runs. ``rates``: see the module docstring
    (``vanilla`` needs none). ``ssa_order``: ``"qk_v"`` ((Q Kᵀ) V, quadratic in N) or
    ``"q_kv"`` (Q (Kᵀ V), the official ImageNet code's order, linear in N)."""
    m = _check_shape(mechanism, T, N, D, heads)
    if ssa_order not in ("qk_v", "q_kv"):
        raise ValueError(f"ssa_order must be 'qk_v' or 'q_kv' (got {ssa_order!r})")
    s = _Sites()
    _attention(s, m, T, N, D, heads, rates or {}, ssa_order)
    return s.result(mechanism=m, T=T, N=N, D=D, heads=heads)


def conv_fanout(size: int, kernel: int = 3, stride: int = 1, padding: int | None = None) -> np.ndarray:
    """For each input position along one axis, how many outputs of a convolution it feeds
    (borders included)."""
    padding = kernel // 2 if padding is None else padding
    out = (size + 2 * padding - kernel) // stride + 1
    fan = np.zeros(size)
    for o in range(out):
        for kk in range(kernel):
            i = o * stride - padding + kk
            if 0 <= i < size:
                fan[i] += 1
    return fan


def block_ops(
    mechanism: str,
    T: int,
    N: int,
    D: int,
    heads: int,
    rates: Mapping[str, Any] | None = None,
    *,
    mlp_ratio: float = 4.0,
    grid: tuple[int, int] | None = None,
    ssa_order: str = "qk_v",
) -> dict[str, Any]:
    """Per-sample op counts of one whole block of :mod:`energymodel.zoo.blocks`:

    * ``vanilla`` (:class:`ViTBlock`): attention (with its LayerNorm), add, LayerNorm, GELU MLP, add.
    * ``ssa`` (:class:`SpikformerBlock`): SSA, add, spiking MLP, add.
    * ``sdsa`` (:class:`SDTBlock`): ``shortcut_lif``, SDSA, add, membrane MLP, add.
    * ``sasa`` (:class:`SAFormerBlock`): ``shortcut_lif``, SASA, add, DWC (LIF, 3x3 depthwise
      conv on the ``grid``, BN), add, membrane MLP, add.

    Site names carry the module path inside the block (``attn.q_linear``, ``mlp.fc1_linear``).
    """
    m = _check_shape(mechanism, T, N, D, heads)
    rates = rates or {}
    hidden = int(D * mlp_ratio)
    tnd, tnh = T * N * D, T * N * hidden
    s = _Sites()
    if m == "vanilla":
        _attention(s.scoped("attn"), m, T, N, D, heads, rates)
        s.elementwise("", "add", tnd)
        s.elementwise("norm2", "layer_norm", tnd)
        s.linear("fc1", T * N, D, hidden, None)
        s.elementwise("act", "activation", tnh)
        s.linear("fc2", T * N, hidden, D, None)
        s.elementwise("", "add", tnd)
        return s.result(mechanism=m, T=T, N=N, D=D, heads=heads)

    _need(rates, REQUIRED[m] + BLOCK_REQUIRED[m], f"block {m!r}")
    membrane = m in ("sdsa", "sasa")
    if membrane:
        s.neuron("shortcut_lif", tnd, _mean_rate(rates["x"]) * tnd)
    _attention(s.scoped("attn"), m, T, N, D, heads, rates, ssa_order)
    s.elementwise("", "add", tnd)
    if m == "sasa":
        h, w = grid if grid is not None else _square(N)
        if h * w != N:
            raise ValueError(f"grid {h}x{w} does not hold N={N} tokens")
        fan = np.outer(conv_fanout(h), conv_fanout(w))
        r = np.asarray(rates["dwc_in"], dtype=np.float64)
        if r.ndim == 0:
            dwc_events, dwc_acs = float(r) * tnd, float(r) * T * D * fan.sum()
        elif r.shape == (h, w):
            dwc_events, dwc_acs = T * D * float(r.sum()), T * D * float((r * fan).sum())
        else:
            raise ValueError(f"rate 'dwc_in' must be a scalar or an (h, w) = ({h}, {w}) array")
        s.neuron("dwc.dwc_lif", tnd, dwc_events)
        s.add("dwc.dwc_conv", "conv2d", "synaptic", dense_macs=tnd * 9, acs=dwc_acs,
              acs_rate=dwc_events / tnd * tnd * 9)
        s.elementwise("dwc.dwc_bn", "batch_norm", tnd)
        s.elementwise("", "add", tnd)
    mlp_in = _mean_rate(rates["mlp_in"])
    mlp_hidden = _mean_rate(rates["mlp_hidden"])
    if membrane:
        s.neuron("mlp.fc1_lif", tnd, mlp_in * tnd)
    s.linear("mlp.fc1_linear", T * N, D, hidden, mlp_in)
    s.elementwise("mlp.fc1_bn", "batch_norm", tnh)
    if membrane:
        if hidden == D:
            s.elementwise("mlp", "add", tnh)
        s.neuron("mlp.fc2_lif", tnh, mlp_hidden * tnh)
    else:
        s.neuron("mlp.fc1_lif", tnh, mlp_hidden * tnh)
    s.linear("mlp.fc2_linear", T * N, hidden, D, mlp_hidden)
    s.elementwise("mlp.fc2_bn", "batch_norm", tnd)
    if not membrane:
        out = rates.get("mlp_out")
        s.neuron("mlp.fc2_lif", tnd, None if out is None else _mean_rate(out) * tnd)
    s.elementwise("", "add", tnd)
    return s.result(mechanism=m, T=T, N=N, D=D, heads=heads)


def _square(n: int) -> tuple[int, int]:
    h = math.isqrt(n)
    if h * h != n:
        raise ValueError(f"N={n} is not a square grid; pass grid=(h, w)")
    return h, h

"""Closed-form counts: formulas, scaling in N, and exactness against counts recomputed from the
tensors a module actually produced (independent of the profiler)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from energymodel import analytic
from energymodel import attention as A

try:
    from ._zoo_spikes import capture_lif, column_rates, column_spikes, spikes
except ImportError:  # tests/ is not a package
    from _zoo_spikes import capture_lif, column_rates, column_spikes, spikes

RATES = {"x": 0.2, "q": 0.15, "k": 0.12, "v": 0.1, "attn": 0.3,
         "mlp_in": 0.2, "mlp_hidden": 0.1, "dwc_in": 0.2}


def test_vanilla_is_4ND2_plus_2N2D_macs_per_step():
    for T, N, D, H in [(1, 197, 384, 6), (4, 196, 512, 8), (1, 64, 768, 12)]:
        ops = analytic.attention_ops("vanilla", T, N, D, H)
        assert ops["macs"] == ops["dense_macs"] == T * (4 * N * D * D + 2 * N * N * D)
        assert ops["acs"] == 0 and ops["neuron_updates"] == 0


@pytest.mark.parametrize("mech", ["ssa", "sdsa", "sasa"])
def test_spiking_mechanisms_charge_no_macs(mech):
    ops = analytic.attention_ops(mech, 4, 196, 512, 8, RATES)
    assert ops["macs"] == 0 and ops["acs"] > 0
    masks = [s for s in ops["sites"].values() if s["op"] == "mask"]
    assert len(masks) == (0 if mech == "ssa" else 2)
    assert all(s["macs"] == 0 and s["acs"] == 0 and s["elementwise_ops"] == 0 for s in masks)


def _cost(mech, N, T=4, D=256, H=8):
    ops = analytic.attention_ops(mech, T, N, D, H, RATES)
    return ops["macs"] + ops["acs"]


NS = np.array([16, 49, 64, 100, 144, 196, 256, 400])


@pytest.mark.parametrize("mech", ["sdsa", "sasa"])
def test_sdsa_and_sasa_cost_is_linear_in_N(mech):
    cost = np.array([_cost(mech, int(n)) for n in NS])
    a, b, c = np.polyfit(NS, cost, 2)
    assert abs(a) * NS.max() ** 2 < 1e-9 * cost.max()  # no N² term
    assert b > 0
    # and the attention-only part (sums and masks) too
    att = [analytic.attention_ops(mech, 4, int(n), 256, 8, RATES)["by_kind"]["attention"]["acs"]
           for n in NS]
    assert np.allclose(np.polyfit(NS, att, 2)[0] * NS.max() ** 2, 0, atol=1e-6 * max(att))


@pytest.mark.parametrize("mech", ["vanilla", "ssa"])
def test_vanilla_and_ssa_cost_is_quadratic_in_N(mech):
    cost = np.array([_cost(mech, int(n)) for n in NS])
    a, b, c = np.polyfit(NS, cost, 2)
    assert a * NS.max() ** 2 > 0.1 * cost.max()
    if mech == "vanilla":
        assert a == pytest.approx(2 * 4 * 256)  # 2 N² D per step, T = 4


def test_column_rates_equal_scalar_rates_when_uniform():
    T, H, d = 4, 8, 32
    cols = {k: np.full((T, H, d), v) for k, v in RATES.items() if k in ("q", "k", "v", "attn")}
    for mech in ("ssa", "sdsa", "sasa"):
        a = analytic.attention_ops(mech, T, 64, H * d, H, RATES)
        b = analytic.attention_ops(mech, T, 64, H * d, H, {**RATES, **cols})
        for c in ("acs", "neuron_updates", "elementwise_ops", "dense_macs"):
            assert a[c] == pytest.approx(b[c]), (mech, c)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown mechanism"):
        analytic.attention_ops("linformer", 4, 64, 256, 8, RATES)
    with pytest.raises(ValueError, match="missing"):
        analytic.attention_ops("sdsa", 4, 64, 256, 8, {"x": 0.1})
    with pytest.raises(ValueError, match="divisible"):
        analytic.attention_ops("vanilla", 4, 64, 250, 8)
    with pytest.raises(ValueError, match="trailing axes"):
        analytic.attention_ops("ssa", 4, 64, 256, 8, {**RATES, "q": np.zeros((4, 3))})


def test_conv_fanout_counts_borders():
    assert conv_list(analytic.conv_fanout(4)) == [2, 3, 3, 2]
    # brute force: impulses through an all-ones 3x3 conv, count the outputs each one reaches
    h, w = 5, 7
    fan = np.outer(analytic.conv_fanout(h), analytic.conv_fanout(w))
    eye = torch.eye(h * w).reshape(h * w, 1, h, w)
    reached = (F.conv2d(eye, torch.ones(1, 1, 3, 3), padding=1) != 0).sum((1, 2, 3))
    assert np.array_equal(reached.numpy().reshape(h, w), fan)


def conv_list(a):
    return [int(v) for v in a]


# exactness against the executed tensors --------------------------------------------------------

T, B, N, D, H = 2, 2, 16, 32, 4


def _run(mech, seed=0):
    torch.manual_seed(seed)
    m = A.build_attention(mech, D, H)
    x = spikes((T, B, N, D), 0.3, seed)
    A.calibrate_bn(m, x)
    lif, _ = capture_lif(m)
    with torch.no_grad():
        m(x)
    return m, x, lif


def _heads(s):
    return s.reshape(T, B, N, H, D // H).permute(0, 1, 3, 2, 4)


@pytest.mark.parametrize("seed", [0, 1])
def test_ssa_exact_from_column_rates(seed):
    m, x, lif = _run("ssa", seed)
    q, k, v, a = (lif[n] for n in ("q_lif", "k_lif", "v_lif", "attn_lif"))
    rates = {"x": x.mean().item(), "q": column_rates(q, H), "k": column_rates(k, H),
             "v": column_rates(v, H), "attn": column_rates(a, H)}
    ops = analytic.attention_ops("ssa", T, N, D, H, rates)
    s = ops["sites"]
    # Q Kᵀ: accumulates where both are 1 = the sum of the 0/1 products
    assert s[":matmul#0"]["acs"] == pytest.approx((_heads(q) @ _heads(k).transpose(-2, -1)).sum().item() / B)
    assert s[":matmul#1"]["acs"] == pytest.approx(N * v.sum().item() / B)
    assert s["q_linear:linear#0"]["acs"] == pytest.approx(x.sum().item() * D / B)
    assert s["proj_linear:linear#0"]["acs"] == pytest.approx(a.sum().item() * D / B)
    assert s["attn_lif:lif#0"]["spikes_out"] == pytest.approx(a.sum().item() / B)


@pytest.mark.parametrize("mech", ["sdsa", "sasa"])
def test_sdsa_sasa_exact_from_column_rates(mech):
    m, x, lif = _run(mech)
    q, k = lif["q_lif"], lif["k_lif"]
    a_name = "talking_heads_lif" if mech == "sdsa" else "attn_lif"
    a = lif[a_name]  # [T, B, H, 1, d]
    rates = {"x": x.mean().item(), "q": column_rates(q, H), "k": column_rates(k, H),
             "attn": column_spikes(a)}
    if mech == "sdsa":
        v = lif["v_lif"]
        rates["v"] = column_rates(v, H)
        pair = (k * v)
        carrier = _heads(q)
        rates["kv"] = pair.mean().item()
    else:
        pair = (q * k)
        carrier = _heads(k)
        rates["qk"] = pair.mean().item()
    ops = analytic.attention_ops(mech, T, N, D, H, rates)
    s = ops["sites"]
    assert s[":sum#0"]["acs"] == pytest.approx(pair.sum().item() / B)
    assert s["proj_linear:linear#0"]["acs"] == pytest.approx((carrier * a).sum().item() * D / B)
    assert s[f"{a_name}:lif#0"]["neuron_updates"] == T * D
    assert s[f"{a_name}:lif#0"]["spikes_out"] == pytest.approx(a.sum().item() / B)


def test_block_ops_adds_mlp_dwc_and_shortcuts():
    T_, N_, D_, H_ = 4, 64, 128, 8
    for mech in ("ssa", "sdsa", "sasa"):
        att = analytic.attention_ops(mech, T_, N_, D_, H_, RATES)
        blk = analytic.block_ops(mech, T_, N_, D_, H_, RATES)
        mlp_dense = 2 * T_ * N_ * D_ * 4 * D_
        extra = T_ * N_ * D_ * 9 if mech == "sasa" else 0
        assert blk["dense_macs"] == att["dense_macs"] + mlp_dense + extra
        assert blk["macs"] == 0
    vit = analytic.block_ops("vanilla", 1, 197, 384, 6)
    assert vit["macs"] == 4 * 197 * 384**2 + 2 * 197**2 * 384 + 2 * 197 * 384 * 1536
    # DWC with an (h, w) map of per-pixel rates: border-aware count
    flat = analytic.block_ops("sasa", T_, N_, D_, H_, RATES)
    mapped = analytic.block_ops("sasa", T_, N_, D_, H_, {**RATES, "dwc_in": np.full((8, 8), 0.2)})
    assert flat["sites"]["dwc.dwc_conv:conv2d#0"]["acs"] == pytest.approx(
        mapped["sites"]["dwc.dwc_conv:conv2d#0"]["acs"])
    assert flat["sites"]["dwc.dwc_conv:conv2d#0"]["acs"] == pytest.approx(0.2 * T_ * D_ * 22 * 22)
    assert math.isnan(analytic.block_ops("ssa", T_, N_, D_, H_, RATES)["spikes_out"])


def test_analytic_is_pure_numpy():
    import ast
    import inspect

    tree = ast.parse(inspect.getsource(analytic))
    imported = {a.name.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, (ast.Import, ast.ImportFrom))
                for a in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert imported <= {"__future__", "math", "typing", "numpy"}, imported

"""Measured (profiler) == analytic (closed form), site by site, for the four mechanisms and their
blocks; vanilla MACs == fvcore; masks cost nothing."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from fvcore.nn import FlopCountAnalysis

import energymodel as em
from energymodel import analytic
from energymodel import attention as A
from energymodel.zoo import blocks as Bk

try:
    from ._zoo_spikes import capture_lif, column_rates, column_spikes, lively, per_sample, spikes
except ImportError:  # tests/ is not a package
    from _zoo_spikes import capture_lif, column_rates, column_spikes, lively, per_sample, spikes

T, B, N = 2, 2, 16
COLS = ("dense_macs", "macs", "acs", "acs_rate", "elementwise_ops", "neuron_updates", "spikes_out")


def _compare(measured: dict, expected: dict, cols=COLS, skip_acs_rate: set = frozenset()):
    assert set(measured) == set(expected), (sorted(set(measured) ^ set(expected)))
    for site, exp in expected.items():
        got = measured[site]
        assert got["op"] == exp["op"] and got["kind"] == exp["kind"], site
        for c in cols:
            if math.isnan(exp[c]) or (c == "acs_rate" and site in skip_acs_rate):
                continue
            assert got[c] == pytest.approx(exp[c], rel=1e-9, abs=1e-9), (site, c, got[c], exp[c])


def _heads(s, H):
    T_, B_, N_, D_ = s.shape
    return s.reshape(T_, B_, N_, H, D_ // H).permute(0, 1, 3, 2, 4)


def _attention_rates(mech: str, x: torch.Tensor, lif: dict, H: int, prefix: str = "") -> dict:
    g = lambda n: lif[prefix + n]
    rates = {"x": x.mean().item(), "q": column_rates(g("q_lif"), H), "k": column_rates(g("k_lif"), H)}
    if mech in ("ssa", "sdsa"):
        rates["v"] = column_rates(g("v_lif"), H)
    if mech == "ssa":
        rates["attn"] = column_rates(g("attn_lif"), H)
        rates["proj"] = g("proj_lif").mean().item()
    elif mech == "sdsa":
        rates["attn"] = column_spikes(g("talking_heads_lif"))
        rates["kv"] = (g("k_lif") * g("v_lif")).mean().item()
    else:
        rates["attn"] = column_spikes(g("attn_lif"))
        rates["qk"] = (g("q_lif") * g("k_lif")).mean().item()
    return rates


@pytest.mark.parametrize("mech,D,H", [("vanilla", 32, 4), ("ssa", 64, 2), ("sdsa", 32, 4),
                                      ("sasa", 32, 4)])
def test_measured_equals_analytic_attention(mech, D, H):
    torch.manual_seed(0)
    m = A.build_attention(mech, D, H)
    x = spikes((T, B, N, D), 0.25, seed=3)
    lively(m, x)
    lif, _ = capture_lif(m)
    prof = em.profile(m, (x,), batch_dim=1)
    assert prof.samples == B and not prof.unrecognized
    rates = {} if mech == "vanilla" else _attention_rates(mech, x, lif, H)
    if mech == "ssa":  # the convention's integer x spike case needs Q Kᵀ to exceed 1 somewhere
        assert (_heads(lif["q_lif"], H) @ _heads(lif["k_lif"], H).transpose(-2, -1)).max() > 1
    if mech != "vanilla":
        assert 0.05 < rates["q"].mean() < 0.6  # a lively run, not an all-silent one
    _compare(per_sample(prof), analytic.attention_ops(mech, T, N, D, H, rates)["sites"])


@pytest.mark.parametrize("mech", ["vanilla", "ssa", "sdsa", "sasa"])
def test_measured_equals_analytic_block(mech):
    torch.manual_seed(1)
    D, H = 32, 4
    blk = {"vanilla": lambda: Bk.ViTBlock(D, H), "ssa": lambda: Bk.SpikformerBlock(D, H),
           "sdsa": lambda: Bk.SDTBlock(D, H), "sasa": lambda: Bk.SAFormerBlock(D, H)}[mech]()
    # spikes into a Spikformer block, membrane potentials into the others
    x = spikes((T, B, N, D), 0.3, seed=5) if mech == "ssa" else torch.randn(T, B, N, D) + 0.5
    lively(blk, x)
    lif, _ = capture_lif(blk)
    mlp_in = []
    if mech == "ssa":
        blk.mlp.register_forward_pre_hook(lambda mod, inp: mlp_in.append(inp[0].detach().clone()))
    prof = em.profile(blk, (x,), batch_dim=1)
    rates: dict = {}
    if mech != "vanilla":
        attn_in = x if mech == "ssa" else lif["shortcut_lif"]
        rates = _attention_rates(mech, attn_in, lif, H, prefix="attn.")
        if mech == "ssa":
            rates["mlp_in"] = mlp_in[0].mean().item()  # integer spikes: value-weighted
            rates["mlp_hidden"] = lif["mlp.fc1_lif"].mean().item()
            rates["mlp_out"] = lif["mlp.fc2_lif"].mean().item()
        else:
            rates["mlp_in"] = lif["mlp.fc1_lif"].mean().item()
            rates["mlp_hidden"] = lif["mlp.fc2_lif"].mean().item()
        if mech == "sasa":
            rates["dwc_in"] = lif["dwc.dwc_lif"].mean((0, 1, 3)).reshape(4, 4).double().numpy()
    expected = analytic.block_ops(mech, T, N, D, H, rates)["sites"]
    # acs_rate of an integer input: the profiler's rate is non-zeros / elements (documented)
    skip = {"mlp.fc1_linear:linear#0"} if mech == "ssa" else set()
    _compare(per_sample(prof), expected, skip_acs_rate=skip)


def test_vanilla_macs_equal_fvcore():
    torch.manual_seed(0)
    for module in (A.VanillaSelfAttention(32, 4), Bk.ViTBlock(32, 4)):
        module.eval()
        x = torch.randn(1, B, N, 32)
        prof = em.profile(module, (x,), batch_dim=1)
        fv = FlopCountAnalysis(module, (x,))
        fv.unsupported_ops_warnings(False)
        by_op = fv.by_operator()
        # fvcore counts 1 per MAC for linear and matmul (its norm counts are element ops)
        assert prof.totals()["macs"] == by_op["linear"] + by_op["matmul"]
        assert prof.totals()["macs"] == prof.totals()["dense_macs"]


def test_masks_are_charged_no_multiplications():
    for mech in ("sdsa", "sasa"):
        torch.manual_seed(0)
        m = A.build_attention(mech, 32, 4)
        x = spikes((T, B, N, 32), 0.3)
        lively(m, x)
        df = em.profile(m, (x,), batch_dim=1).layers
        masks = df[df["op"] == "mask"]
        assert len(masks) == 2
        assert (masks[["macs", "acs", "elementwise_ops"]] == 0).all().all()
        assert df["macs"].sum() == 0  # and nothing else in a spiking mechanism multiplies


def test_measured_scaling_in_N():
    """Over several N: vanilla's attention products grow as N², SDSA's and SASA's as N."""
    Ns = np.array([4, 9, 16, 25, 36])
    cost = {m: [] for m in ("vanilla", "sdsa", "sasa")}
    for n in Ns:
        for mech in cost:
            torch.manual_seed(0)
            m = A.build_attention(mech, 16, 2)
            x = spikes((1, 1, int(n), 16), 0.3, seed=int(n))
            lively(m, x) if mech != "vanilla" else m.eval()
            df = em.profile(m, (x,), batch_dim=1).layers
            att = df[df["kind"] == "attention"]
            # dense-equivalent work of the attention ops: MACs, or one op per element summed
            cost[mech].append(float(att["macs"].sum() + att["dense_macs"].sum()
                                    + att["in_elems"].where(att["op"] == "sum", 0).sum()))
    for mech, c in cost.items():
        a, b, _ = np.polyfit(Ns, c, 2)
        if mech == "vanilla":
            # macs + dense_macs of the two products, each N² D per step: 2 x 2 N² D
            assert a == pytest.approx(2 * 2 * 16)
        else:
            assert abs(a) < 1e-6 * max(c) and b > 0


def test_compare_mechanisms_table():
    from energymodel.report.compare import compare_attention, compare_mechanisms

    cmp = compare_mechanisms(tokens=16, dim=32, heads=4, timesteps=2, rate=0.3, seed=1)
    t = cmp.table.set_index("mechanism")
    assert list(t.index) == ["vanilla", "ssa", "sdsa", "sasa"]
    assert t.loc["vanilla", "macs"] == 4 * 16 * 32**2 + 2 * 16**2 * 32  # one ANN step
    assert (t.loc[["ssa", "sdsa", "sasa"], "macs"] == 0).all()
    assert np.allclose(t["acs"], t["analytic_acs"], rtol=1e-9, atol=1e-6)
    assert np.allclose(t["macs"], t["analytic_macs"])
    assert (t.loc[["ssa", "sdsa", "sasa"], "input_rate"] == t.loc["ssa", "input_rate"]).all()
    assert set(cmp.profiles) == set(t.index)
    again = compare_mechanisms(tokens=16, dim=32, heads=4, timesteps=2, rate=0.3, seed=1)
    pd_equal = again.table.equals(cmp.table)
    assert pd_equal  # seeded: the same table twice
    with pytest.raises(ValueError, match="unknown mechanisms"):
        compare_mechanisms(tokens=4, dim=8, heads=2, mechanisms=["linformer"])
    priced = compare_attention(16, 32, 4, 2, ["cmos45nm"], rate=0.3, seed=1).set_index("mechanism")
    assert priced.loc["vanilla", "vanilla_over_x[cmos45nm]"] == 1.0
    # the spiking rows are the same measurements, priced
    assert (priced.loc[["ssa", "sdsa", "sasa"], "acs"] == t.loc[["ssa", "sdsa", "sasa"], "acs"]).all()


@pytest.mark.parametrize("name", ["spikformer-1-64-tiny", "sdt-1-64-tiny", "saformer-1-64-tiny",
                                  "vit-1-64-tiny"])
def test_zoo_models_profile_cleanly(name):
    """Every op of a zoo model has a count rule, and in the spiking models only the pixel-
    encoding conv (and Spikformer's head on the averaged spikes) multiplies."""
    from energymodel import zoo

    torch.manual_seed(0)
    model = zoo.build(name)
    x = torch.rand(2, 3, 32, 32)
    if not name.startswith("vit"):
        lively(model, x)
    prof = em.profile(model, (x,))
    assert not prof.unrecognized and prof.samples == 2
    df = prof.layers
    mac_layers = set(df.loc[df["macs"] > 0, "layer"])
    if name.startswith("vit"):
        assert prof.totals()["acs"] == 0
    else:
        allowed = {"patch_embed.proj_conv"} | ({"head"} if name.startswith("spikformer") else set())
        assert mac_layers == allowed, mac_layers
        assert prof.totals()["acs"] > 0 and prof.totals()["spikes_out"] > 0


def test_ssa_official_imagenet_order_is_linear_and_measured_exactly():
    """``Q (Kᵀ V)`` (official ImageNet code): same output as ``(Q Kᵀ) V``, counts linear in N,
    measured == analytic with per-token rates."""
    torch.manual_seed(0)
    D, H = 64, 2
    a = A.SpikingSelfAttention(D, H, order="qk_v")
    b = A.SpikingSelfAttention(D, H, order="q_kv")
    b.load_state_dict(a.state_dict())
    x = spikes((T, B, N, D), 0.25, seed=3)
    lively(a, x)
    b.load_state_dict(a.state_dict())
    b.eval()
    lif, _ = capture_lif(b)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))
    prof = em.profile(b, (x,), batch_dim=1)
    rates = _attention_rates("ssa", x, lif, H)
    k, v = _heads(lif["k_lif"], H), _heads(lif["v_lif"], H)
    assert (k.transpose(-2, -1) @ v).max() > 1  # the integer x spike case of the convention
    rates["k_tokens"] = k.mean(-1).double().numpy()
    rates["v_tokens"] = v.mean(-1).double().numpy()
    _compare(per_sample(prof), analytic.attention_ops("ssa", T, N, D, H, rates,
                                                      ssa_order="q_kv")["sites"])
    Ns = np.array([16, 64, 144, 256, 400])
    r = {"x": 0.2, "q": 0.15, "k": 0.15, "v": 0.15, "attn": 0.3}
    att = [analytic.attention_ops("ssa", 4, int(n), 256, 8, r, ssa_order="q_kv")["by_kind"]
           ["attention"]["acs"] for n in Ns]
    assert abs(np.polyfit(Ns, att, 2)[0]) * Ns.max() ** 2 < 1e-9 * max(att)

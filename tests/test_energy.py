"""Pricing: every expected number below is computed by hand from the published constants, never
captured from the code's own output."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from energymodel.counting.columns import COUNT_COLUMNS, STATIC_COLUMNS
from energymodel.counting.profile import Profile
from energymodel.pricing.energy import EnergyReport, estimate
from energymodel.pricing.hardware import HardwareError


def make_profile(rows: list[dict], samples: int = 1) -> Profile:
    full = []
    for i, r in enumerate(rows):
        d = {c: 0.0 for c in list(COUNT_COLUMNS) + list(STATIC_COLUMNS)}
        d.update(site=f"s{i}", layer=f"l{i}", module_type="X", op="linear", kind="synaptic", calls=1)
        d.update(r)
        full.append(d)
    return Profile(pd.DataFrame(full), samples=samples)


def spike(**kw):
    """A synaptic site whose input was binary spikes in every call."""
    base = dict(in_spike_calls=1, in_binary_calls=1, calls=1, in_elems=1, in_nnz=1)
    base.update(kw)
    return base


def analog(**kw):
    base = dict(in_spike_calls=0, in_binary_calls=0, calls=1, in_elems=1, in_nnz=1)
    base.update(kw)
    return base


# ----------------------------------------------------------------------------- paper
def test_spikingformer_log_arithmetic():
    # Spikingformer-8-768 energy log: 0.521 G MAC and 12.51 G AC -> 13.66 mJ
    prof = make_profile([analog(op="conv2d", macs=0.521e9), spike(acs=12.51e9)])
    rep = estimate(prof, "cmos45nm", mode="paper", precision="fp32")
    t = rep.totals.iloc[0]
    assert t["total_pj"] == pytest.approx(4.6 * 0.521e9 + 0.9 * 12.51e9)
    assert round(t["total_mj"], 2) == 13.66
    assert t["mode"] == "paper" and t["precision"] == "fp32" and t["sops_source"] == "exact"
    assert t["macs"] == 0.521e9 and t["sops"] == 12.51e9


def _paper_profile(samples=2):
    return make_profile(
        [
            analog(op="conv2d", macs=1000, dense_macs=1000),
            spike(acs=5000, acs_rate=4000, dense_macs=9000),
            spike(op="matmul", kind="attention", acs=300, acs_rate=350),
            dict(op="lif", kind="neuron", neuron_updates=100, spikes_out=10, in_elems=100),
            dict(op="batch_norm", kind="other", elementwise_ops=50, in_elems=50),
        ],
        samples=samples,
    )


def test_paper_equals_hand_sum_per_sample():
    prof = _paper_profile(samples=2)
    exact = estimate(prof, "cmos45nm", "paper", sops="exact")
    # (E_MAC x MACs + E_AC x (synaptic + attention ACs)) / samples; BN and LIF not charged
    assert exact.totals["total_pj"].iloc[0] == pytest.approx((4.6 * 1000 + 0.9 * (5000 + 300)) / 2)
    rate = estimate(prof, "cmos45nm", "paper", sops="rate")
    assert rate.totals["total_pj"].iloc[0] == pytest.approx((4.6 * 1000 + 0.9 * (4000 + 350)) / 2)
    lay = exact.layers.set_index("site")
    assert lay.loc["s3", "total_pj"] == 0 and lay.loc["s4", "total_pj"] == 0
    assert lay.loc["s0", "compute_pj"] == pytest.approx(4.6 * 1000 / 2)


@pytest.mark.parametrize("prec,add,mult", [("fp16", 0.4, 1.1), ("int8", 0.03, 0.2), ("int32", 0.1, 3.1)])
def test_precision_changes_by_constants_ratio(prec, add, mult):
    acs_only = make_profile([spike(acs=12345)])
    a32 = estimate(acs_only, "cmos45nm", "paper", precision="fp32").totals["total_pj"].iloc[0]
    ap = estimate(acs_only, "cmos45nm", "paper", precision=prec).totals["total_pj"].iloc[0]
    assert ap / a32 == pytest.approx(add / 0.9, rel=1e-12)
    macs_only = make_profile([analog(macs=777)])
    m32 = estimate(macs_only, "cmos45nm", "paper", precision="fp32").totals["total_pj"].iloc[0]
    mp = estimate(macs_only, "cmos45nm", "paper", precision=prec).totals["total_pj"].iloc[0]
    assert mp / m32 == pytest.approx((add + mult) / 4.6, rel=1e-12)


def test_paper_on_neuromorphic_prices_macs_on_host_or_refuses():
    prof = make_profile([analog(op="conv2d", macs=100), spike(acs=1000)])
    rep = estimate(prof, ["loihi", "truenorth"], "paper")
    t = rep.totals.set_index("hardware")
    assert t.loc["loihi", "total_pj"] == pytest.approx(23.6 * 1000 + 4.6 * 100)
    assert t.loc["truenorth", "total_pj"] == pytest.approx(2.30 * 1000 + 4.6 * 100)
    assert t.loc["loihi", "mac_priced_on"] == "cmos45nm"
    assert "analog-input MACs of loihi priced on cmos45nm" in rep.to_latex()
    assert "arithmetic only" not in rep.convention()
    # in full, the host-priced MACs carry the host's arithmetic only: the caption says so
    assert "priced on cmos45nm (arithmetic only" in estimate(prof, "loihi", "full").convention()
    with pytest.raises(HardwareError, match=r"loihi\.yaml.*events\.mac"):
        estimate(prof, "loihi", "paper", mac_host=None)
    # no MACs to price: no host needed
    only_acs = make_profile([spike(acs=1000)])
    assert estimate(only_acs, "loihi", "paper", mac_host=None).totals["total_pj"].iloc[0] == pytest.approx(23600)


def test_profile_lacking_a_needed_entry_names_file_and_field(tmp_path):
    text = """schema: energymodel.hardware/1
name: tiny
description: only a synaptic op
kind: neuromorphic
technology_node_nm: 22
sources: {s: "a reference"}
events:
  synaptic_op: {value: 5, unit: pJ, citation: s}
"""
    path = tmp_path / "tiny.yaml"
    path.write_text(text)
    prof = make_profile([analog(macs=10), spike(acs=10)])
    with pytest.raises(HardwareError, match=r"tiny\.yaml.*events\.mac"):
        estimate(prof, str(path), "paper")
    only = make_profile([spike(acs=10), dict(op="lif", kind="neuron", neuron_updates=4, in_elems=4)])
    with pytest.raises(HardwareError, match=r"tiny\.yaml.*arithmetic\.add"):
        estimate(only, str(path), "full")
    with pytest.raises(HardwareError, match=r"cmos45nm\.yaml.*arithmetic\.add\.bf16"):
        estimate(only, "cmos45nm", "paper", precision="bf16")


def test_clear_errors():
    prof = make_profile([spike(acs=1)])
    with pytest.raises(ValueError, match="unknown mode"):
        estimate(prof, "cmos45nm", "lemaire")
    with pytest.raises(ValueError, match="unknown precision"):
        estimate(prof, "cmos45nm", precision="fp12")
    with pytest.raises(ValueError, match="unknown sops"):
        estimate(prof, "cmos45nm", sops="guess")
    with pytest.raises(ValueError, match="no samples"):
        estimate(make_profile([spike(acs=1)], samples=0), "cmos45nm")


# ----------------------------------------------------------------------------- full
def _tiny_snn():
    # a spike-driven linear layer (10 inputs, 4 spikes, 3 outputs, bias) feeding 3 LIF neurons
    return make_profile([
        spike(in_elems=10, in_nnz=4, acs=12, acs_rate=12, weight_reads=12, bias_reads=3,
              spike_reads=4, state_reads=12, state_writes=12, out_elems=3, weight_elems=30,
              bias_elems=3, out_channels=3, kernel_elems=1, dense_macs=30),
        dict(op="lif", kind="neuron", in_elems=3, out_elems=3, out_nnz=1, neuron_updates=3,
             spikes_out=1, state_reads=3, state_writes=3, spike_writes=1, timesteps=1),
    ])


def test_full_hand_computed_cmos45nm_int32():
    rep = estimate(_tiny_snn(), "cmos45nm", "full", precision="int32")
    t = rep.totals.iloc[0]
    add, mac = 0.1, 3.2
    compute = 12 * add + 3 * add                     # 12 ACs + 3 bias adds
    addressing = 12 * add                            # one add per weight fetched
    neuron = 3 * mac + 1 * add                       # leak MAC per update, reset add per spike
    per_word = lambda cap_bytes: 10.0 * cap_bytes / 8192  # below 8 KB: linear from 0, 32-bit word = one access
    memory = (4 * per_word(4000)                     # input spikes from the 1000-word FIFO
              + 15 * per_word(33 * 4)                # 12 weights + 3 biases from a 33-word buffer
              + 24 * per_word(3 * 4)                 # 12 potential reads + 12 writes
              + 6 * per_word(3 * 4)                  # neuron potential read + write
              + 1 * per_word(4000))                  # output spike written to the FIFO
    assert t["compute_pj"] == pytest.approx(compute)
    assert t["addressing_pj"] == pytest.approx(addressing)
    assert t["neuron_pj"] == pytest.approx(neuron)
    assert t["memory_pj"] == pytest.approx(memory)
    assert t["total_pj"] == pytest.approx(compute + addressing + neuron + memory)
    # 'bits' width rule halves every 32-bit access of a 64-bit entry
    bits = estimate(_tiny_snn(), "cmos45nm", "full", precision="int32", width_rule="bits")
    assert bits.totals["memory_pj"].iloc[0] == pytest.approx(memory / 2)


def test_full_on_loihi_events_and_routing_range():
    rep = estimate(_tiny_snn(), "loihi", "full", hops=2)
    t = rep.totals.iloc[0]
    assert t["compute_pj"] == pytest.approx(12 * 23.6)
    assert t["neuron_pj"] == pytest.approx(1 * 81 + 2 * 52)   # 1 firing update, 2 silent
    assert t["memory_pj"] == 0                                 # included in Loihi's op energies
    assert t["routing_pj"] == pytest.approx(1 * (1.7 + 2 * 3.0))
    # high: SANA-FE's 35.5 pJ per synaptic op, the N-S hop 4.0 pJ (Loihi's cited ranges)
    assert t["total_high_mj"] * 1e9 == pytest.approx(t["total_pj"] + 12 * (35.5 - 23.6)
                                                     + 2 * (4.0 - 3.0))
    assert t["total_low_mj"] == pytest.approx(t["total_mj"])


def test_full_all_in_adds_nothing():
    rep = estimate(_tiny_snn(), "truenorth", "full")
    t = rep.totals.iloc[0]
    assert t["total_pj"] == pytest.approx(2.30 * 12)   # the sweep-fitted per-event energy
    assert t["neuron_pj"] == t["memory_pj"] == t["routing_pj"] == 0


def test_ranges_low_nominal_high():
    prof = make_profile([spike(acs=1e6)])
    t = estimate(prof, "fpga", "paper").totals.iloc[0]
    # FireFly v2 (TCAD 2024): pJ per synaptic op = W / (GOP/s x 1e9 / 2) x 1e12
    low, nominal, high = (w / (g * 1e9 / 2) * 1e12
                          for w, g in ((4.9, 4096), (4.9, 2896), (6.2, 1340.5)))
    assert (t["total_low_mj"], t["total_mj"], t["total_high_mj"]) == pytest.approx(
        (low * 1e6 / 1e9, nominal * 1e6 / 1e9, high * 1e6 / 1e9), rel=1e-3)


# ----------------------------------------------------------------------------- exports
def test_exports_are_written_and_shaped_like_a_paper_table(tmp_path):
    rep = estimate(_paper_profile(), ["cmos45nm", "loihi", "fpga"], "paper")
    assert isinstance(rep, EnergyReport)
    assert list(rep.totals["hardware"]) == ["cmos45nm", "loihi", "fpga"]
    for c in ("hardware", "compute_pj", "neuron_pj", "memory_pj", "routing_pj", "total_pj",
              "total_mj", "total_low_mj", "total_high_mj"):
        assert c in rep.totals.columns
    for c in ("hardware", "layer", "site", "op", "kind", "compute_pj", "total_pj", "macs", "sops"):
        assert c in rep.layers.columns
    rep.to_csv(tmp_path / "e.csv")
    back = pd.read_csv(tmp_path / "e.csv")
    assert len(back) == 3 * 5 and back["total_pj"].sum() == pytest.approx(rep.layers["total_pj"].sum())
    rep.to_json(tmp_path / "e.json")
    d = json.loads((tmp_path / "e.json").read_text())
    assert d["mode"] == "paper" and d["totals"][0]["hardware"] == "cmos45nm"
    tex = rep.to_latex(tmp_path / "e.tex")
    assert (tmp_path / "e.tex").read_text() == tex
    assert r"\toprule" in tex and r"\bottomrule" in tex and "loihi" in tex
    md = rep.to_markdown()
    assert "| cmos45nm" in md and "paper convention" in md
    # one readable unit for the whole table, named in the caption and every energy header
    cm = rep.totals.set_index("hardware").loc["cmos45nm", "total_pj"]
    unit, per = {"pJ": ("pJ", 1.0), "nJ": ("nJ", 1e3)}["pJ" if rep.totals["total_pj"].max() < 999.5
                                                        else "nJ"]
    assert f"Energy per sample ({unit})" in md and f"Total ({unit})" in md
    assert f"{cm / per:.3g}".rstrip("0").rstrip(".") in md
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.csv", "e.json", "e.tex"]  # no temp files


def test_multiple_hardware_names_and_objects():
    prof = make_profile([spike(acs=100)])
    from energymodel.pricing.hardware import load_hardware
    rep = estimate(prof, [load_hardware("cmos45nm"), "truenorth"])
    assert list(rep.totals["total_pj"]) == pytest.approx([90.0, 230.0])
    assert not math.isnan(rep.totals["total_mj"].sum())


def test_full_prices_elementwise_ops_paper_does_not():
    prof = make_profile([
        dict(op="add", kind="other", elementwise_ops=100),
        dict(op="scale", kind="other", elementwise_ops=10),
        dict(op="batch_norm", kind="other", elementwise_ops=5),
    ])
    assert estimate(prof, "cmos45nm", "paper").totals["total_pj"].iloc[0] == 0
    full = estimate(prof, "cmos45nm", "full").totals.iloc[0]
    assert full["compute_pj"] == pytest.approx(100 * 0.9 + 10 * 3.7 + 5 * 4.6)
    off = estimate(prof, "cmos45nm", "full", charge_elementwise=False).totals.iloc[0]
    assert off["total_pj"] == 0

"""A dense accelerator (``kind: accelerator``, the shipped ``movidius-ncs``): every synapse slot
is priced as one MAC, spike or not; one device runs every layer; time per inference = the fixed
overhead + slots / throughput. Checked by hand on a small network; a profile that would price
wrong (no MAC energy, not all-in) is refused by name."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import energymodel as em
from energymodel.pricing import mapping
from energymodel.pricing.hardware import HardwareError, load_hardware
from energymodel.zoo.measured import FixedRateNeuron, spike_pattern

MOV = load_hardware("movidius-ncs")


def _snn(rate: float):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(40, 30), FixedRateNeuron(rate), nn.Linear(30, 10),
                          FixedRateNeuron(rate))
    x = spike_pattern(4, (1, 40), rate)
    return em.profile(model, x, batch_dim=1)


@pytest.mark.parametrize("mode", ["paper", "full"])
def test_spikes_do_not_save_energy_on_a_dense_device(mode):
    """40x30 + 30x10 = 1,500 slots per step x 4 steps = 6,000 MAC slots x 330.1 pJ, at any
    firing rate (the SOP count at 10 % would be ten times smaller)."""
    for rate in (0.1, 0.5):
        rep = em.estimate(_snn(rate), [MOV], mode=mode, timesteps=4)
        assert rep.totals["total_pj"].iloc[0] == pytest.approx(6000 * 330.1)
    assert "dense accelerator" in rep.convention()


def test_time_and_power_by_hand():
    prof = _snn(0.1)
    mp = mapping.map_network(prof, MOV, 4)
    period = 3.584e-3 + 6000 / 0.6973e9
    assert mp.chips == 1 and mp.cores is None and mp.fits is None
    assert mp.latency_s == pytest.approx(period) and mp.period_s == pytest.approx(period)
    assert any("dense accelerator" in n for n in mp.notes)
    rep = em.estimate(prof, [MOV], mode="full", timesteps=4)
    c = rep.hardware_cost.iloc[0]
    assert c["static_pj"] == pytest.approx(0.2103 * period * 1e12)
    assert c["running_pj"] == pytest.approx(0.4093 * period * 1e12)
    assert c["total_pj"] == pytest.approx(6000 * 330.1 + (0.2103 + 0.4093) * period * 1e12)
    # the band takes every ranged constant at its end
    assert c["total_low_pj"] == pytest.approx(6000 * 286.6 + (0.2024 + 0.4005) * period * 1e12)


def test_an_ann_is_priced_whole_on_the_device():
    """An analog-input layer runs on the accelerator itself (no host)."""
    model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 3))
    prof = em.profile(model, torch.rand(1, 1, 20), batch_dim=1)
    rep = em.estimate(prof, [MOV], mode="paper", timesteps=1)
    t = rep.totals.iloc[0]
    assert t["mac_priced_on"] == "movidius-ncs"
    assert t["total_pj"] == pytest.approx((20 * 8 + 8 * 3) * 330.1)


@pytest.mark.parametrize("edit,field", [
    (lambda t: t.replace("  mac:\n", "  synaptic_op:\n", 1), "events.mac"),
    (lambda t: t.replace("  all_in: true", "  all_in: false", 1), "flags.all_in"),
])
def test_an_accelerator_that_would_price_wrong_is_refused(tmp_path, edit, field):
    text = (load_hardware("movidius-ncs").path and open(load_hardware("movidius-ncs").path).read())
    f = tmp_path / "acc.yaml"
    f.write_text(edit(text))
    with pytest.raises(HardwareError, match=field):
        load_hardware(str(f))


def test_audit_implies_no_rate_on_a_dense_device():
    """The published-energy audit: on a dense accelerator the energy does not depend on the
    rate, so no rate is implied (NaN, and a note), while cmos45nm's row is unchanged."""
    from energymodel.pricing.audit import audit

    prof = _snn(0.3)
    df = audit(prof, 0.01, ["cmos45nm", MOV], timesteps=4).set_index("hardware")
    assert df.loc["cmos45nm", "implied_rate"] == df.loc["cmos45nm", "implied_rate"]
    assert df.loc["movidius-ncs", "implied_rate"] != df.loc["movidius-ncs", "implied_rate"]
    assert df.loc["movidius-ncs", "measured_mj_exact"] == pytest.approx(6000 * 330.1e-9)


def test_cost_entries_an_accelerator_does_not_use_are_named(tmp_path):
    text = open(MOV.path).read().replace(
        "timing:\n", "capacity:\n  cores_per_chip:\n    value: 12\n    unit: cores\n"
        "    citation: \"barry2015: 12 vector processors\"\ntiming:\n", 1)
    f = tmp_path / "acc.yaml"
    f.write_text(text)
    mp = mapping.map_network(_snn(0.1), load_hardware(str(f)), 4)
    assert any("not used for a dense accelerator: capacity.cores_per_chip" in n for n in mp.notes)


def test_break_even_on_a_dense_device_says_why_there_is_none():
    model = nn.Sequential(nn.Linear(40, 30), FixedRateNeuron(0.2), nn.Linear(30, 10),
                          FixedRateNeuron(0.2))
    x = spike_pattern(4, (1, 40), 0.2)
    snn = em.profile(model, x, batch_dim=1)
    twin = em.ann_twin(model, x[:1], timesteps=4, batch_dim=1)
    be = em.estimate(snn, ["cmos45nm", "movidius-ncs"], vs_ann=twin).break_even.set_index("hw")
    assert be.loc["movidius-ncs", "break_even_rate"] != be.loc["movidius-ncs", "break_even_rate"]
    assert "dense accelerator" in be.loc["movidius-ncs", "reason"]

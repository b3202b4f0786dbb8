"""Hardware cost (energymodel.mapping): core counts computed by hand from the chips' cited
limits, monotonicity, capacity violations reported (never raised), latency and static energy
by hand, and the validator catching bad capacity / timing / power sections."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
import torch.nn as nn

import energymodel as em
from energymodel.pricing import mapping
from energymodel.counting.columns import COUNT_COLUMNS, STATIC_COLUMNS
from energymodel.counting.profile import Profile
from energymodel.pricing.hardware import load_hardware, load_hardware_text, validate_hardware_text
from energymodel.lif import LIF

REPO = Path(__file__).resolve().parent.parent
TN, LOIHI = load_hardware("truenorth"), load_hardware("loihi")


class Chain(nn.Module):
    """Linear layers, each followed by a multi-step LIF: input [T, B, n] spikes."""

    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.fc = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lif = nn.ModuleList(LIF() for _ in sizes[1:])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for f, n in zip(self.fc, self.lif):
            x = n(f(x))
        return x


def chain_profile(sizes: list[int], T: int = 4, rate: float = 0.2, seed: int = 0) -> Profile:
    torch.manual_seed(seed)
    x = (torch.rand(T, 1, sizes[0]) < rate).float()
    return em.profile(Chain(sizes), x, batch_dim=1, timesteps=T)


def make_profile(rows: list[dict], samples: int = 1) -> Profile:
    full = []
    for i, r in enumerate(rows):
        d = {c: 0.0 for c in list(COUNT_COLUMNS) + list(STATIC_COLUMNS)}
        d.update(site=f"s{i}", layer=f"l{i}", module_type="X", op="linear", kind="synaptic",
                 calls=1, in_spike_calls=1, in_binary_calls=1, in_elems=1, in_nnz=1)
        d.update(r)
        full.append(d)
    return Profile(pd.DataFrame(full), samples=samples)


def _without(text: str, key: str) -> str:
    """A profile's YAML text without one cost entry (``  key:`` and its indented lines)."""
    out, skip = [], False
    for line in text.splitlines():
        if line.startswith(f"  {key}:"):
            skip = True
            continue
        if skip and line.startswith("    "):
            continue
        skip = False
        out.append(line)
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- by hand
def test_linear_512_256_on_truenorth_needs_fan_in_split():
    # 512 inputs > 256 axons per core: two input groups, each a core of 256 partial-sum
    # neurons (one per output); the 256 outputs each add 2 partials: 512 axons -> 2 cores.
    m = mapping.map_network(chain_profile([512, 256]), TN)
    assert m.cores == 4 and m.cores >= 2
    assert m.chips == 1 and m.fits is True
    row = m.layers.iloc[0]
    assert row["split"] == 2 and row["partial_neurons"] == 512 and row["combine_cores"] == 2
    assert m.depth == 2  # partial stage + combine stage
    assert m.memory_bits == 256 * 512 * 1 + 256 * 2 * 1  # binary crossbar bits


def test_linear_fitting_one_truenorth_core():
    m = mapping.map_network(chain_profile([200, 256]), TN)
    assert m.cores == 1 and m.layers.iloc[0]["split"] == 1 and m.depth == 1


def test_2048_neurons_need_two_loihi_cores():
    # 1,024 compartments per core; 64 x 8-bit weights per neuron = 512 bits, so memory
    # allows 2,048 per core: the neuron limit binds.
    m = mapping.map_network(chain_profile([64, 2048]), LOIHI)
    assert m.cores == 2 and m.cores >= 2
    assert m.layers.iloc[0]["limiting"] == "neurons per core"
    assert m.memory_bits == 2048 * 64 * 8


def test_loihi_memory_limit_binds_for_wide_fan_in():
    # 4096 inputs x 8 bits = 32768 bits per neuron; 128 KiB = 1,048,576 bits -> 32 per core
    m = mapping.map_network(chain_profile([4096, 256], rate=0.05), LOIHI)
    assert m.layers.iloc[0]["per_core"] == 32
    assert m.cores == 8
    assert m.layers.iloc[0]["limiting"] == "synaptic memory per core"


def test_truenorth_fan_out_needs_splitters():
    # 100 inputs, 600 outputs: 3 cores each read every input; a TrueNorth neuron reaches one
    # axon, so each input needs 3 splitter copies (300 neurons, 2 cores), one more stage.
    m = mapping.map_network(chain_profile([100, 600]), TN)
    row = m.layers.iloc[0]
    assert row["splitter_neurons"] == 300 and row["splitter_cores"] == 2
    assert m.cores == 3 + 2 and m.depth == 2


def test_conv_weight_sharing_stores_each_kernel_once_per_core():
    # conv 8 -> 16 channels, 3x3, 32x32 outputs: 16384 units of fan-in 72
    rows = [dict(op="conv2d", out_elems=16384 * 2, in_elems=8 * 34 * 34 * 2, weight_elems=16 * 72,
                 out_channels=16, kernel_elems=9, acs=1000),
            dict(op="lif", kind="neuron", timesteps=2, neuron_updates=16384 * 2, spikes_out=100)]
    prof = make_profile(rows)
    text = _without(((REPO / "hwprofiles" / "loihi.yaml").read_text()), "axons_per_core")
    shared = mapping.map_network(prof, load_hardware_text(text, "x.yaml"))
    no_share = load_hardware_text(text.replace("    value: true\n    unit: flag",
                                               "    value: false\n    unit: flag"), "x.yaml")
    plain = mapping.map_network(prof, no_share)
    assert shared.cores == plain.cores == 16
    assert shared.memory_bits == 16 * 72 * 8   # channel-major: each core one channel's kernel
    assert plain.memory_bits == 16384 * 72 * 8             # every neuron its own synapses


# ----------------------------------------------------------------------------- monotonic
@pytest.mark.parametrize("hw", ["truenorth", "loihi"])
def test_bigger_model_more_cores(hw):
    small = mapping.map_network(chain_profile([256, 256]), load_hardware(hw))
    big = mapping.map_network(chain_profile([256, 2048, 2048]), load_hardware(hw))
    assert big.cores > small.cores


def test_doubling_T_doubles_latency_on_a_tick_machine():
    a = mapping.map_network(chain_profile([128, 64], T=4), TN)
    b = mapping.map_network(chain_profile([128, 64], T=8), TN)
    assert a.depth == b.depth == 1
    assert a.latency_s == pytest.approx(4e-3) and b.latency_s == pytest.approx(2 * a.latency_s)
    # with pipeline fill (2 stages) the per-timestep part still doubles
    c = mapping.map_network(chain_profile([512, 64], T=4), TN)
    d = mapping.map_network(chain_profile([512, 64], T=8), TN)
    assert d.latency_s - c.latency_s == pytest.approx(4e-3)
    assert c.latency_s == pytest.approx((4 + 2 - 1) * 1e-3)


# ----------------------------------------------------------------------------- violations
def test_capacity_violation_is_reported_not_raised():
    # 3 million neurons of fan-in 100: 11,719 TrueNorth cores > 4,096 on one chip, plus the
    # splitters: each of the 100 inputs feeds ceil(1000 / 256) = 4 cores -> 400 neurons, 2 cores
    prof = make_profile([dict(out_elems=3_000_000, in_elems=100, weight_elems=100 * 1000,
                              out_channels=1000, acs=10)])
    rep = em.estimate(prof, ["truenorth", "loihi"], mode="full")
    tn = rep.hardware_cost.set_index("hardware").loc["truenorth"]
    assert tn["fits"] is False or tn["fits"] == False  # noqa: E712
    assert tn["cores"] == math.ceil(3_000_000 / 256) + 2 and tn["chips"] == 3
    assert "does not fit on 1 chip(s)" in tn["notes"] and "neurons per core" in tn["notes"]
    more = mapping.map_network(prof, TN, max_chips=3)
    assert more.fits is True


def test_one_neuron_larger_than_a_core_never_fits():
    prof = make_profile([dict(out_elems=10, in_elems=200_000, weight_elems=200_000 * 10,
                              out_channels=10, acs=10)])
    # without a fan-in limit the neuron's 200,000 synapses (1.6 Mbit) exceed a core's memory
    no_axons = load_hardware_text(_without((REPO / "hwprofiles" / "loihi.yaml").read_text(),
                                           "axons_per_core"), "x.yaml")
    m = mapping.map_network(prof, no_axons, max_chips=1000)
    assert m.fits is False and m.limiting == "synaptic memory per core"
    assert any("exceeds a core's synaptic memory per core" in n for n in m.notes)
    # Loihi's 4,096 input axons per core split it: ceil(200,000 / 4,096) = 49 groups of
    # partial sums, and a combine stage adds them
    m = mapping.map_network(prof, LOIHI, max_chips=1000)
    assert m.fits is True and int(m.layers["split"].iloc[0]) == 49
    assert int(m.layers["partial_neurons"].iloc[0]) == 10 * 49 and m.depth == 2


# ----------------------------------------------------------------------------- latency, static
def test_loihi_latency_and_static_by_hand():
    prof = chain_profile([64, 2048], T=4)
    rep = em.estimate(prof, ["loihi"], mode="full")
    row = rep.hardware_cost.iloc[0]
    lay = prof.per_sample()
    sops = float(lay.loc[lay["kind"] == "synaptic", "acs"].iloc[0]) / 4
    neu = lay[lay["kind"] == "neuron"].iloc[0]
    fire = neu["spikes_out"] / neu["neuron_updates"]
    t_nu = fire * 8.4e-9 + (1 - fire) * 5.3e-9
    compute = sops / 2 * 3.5e-9 + 1024 * t_nu + 465e-9 + 4.1e-9   # 2 cores share the work
    host = 184.8e-6 + 2 * 76.23e-6          # the host's time per step, 2 input cores
    step = max(compute, host)
    assert step == host                     # a small network on Loihi is host-bound
    assert row["latency_s"] == pytest.approx(4 * step)   # T + 1 stage - 1 = 4 steps
    assert row["period_s"] == pytest.approx(4 * step)    # T steps
    assert row["static_pj"] == pytest.approx(0.0295 * 1 * 4 * step * 1e12)
    assert row["running_pj"] == pytest.approx(0.0807 * 1 * 4 * step * 1e12)
    assert row["total_pj"] == pytest.approx(row["dynamic_pj"] + row["static_pj"]
                                            + row["running_pj"])
    assert row["dynamic_pj"] == pytest.approx(rep.totals.iloc[0]["total_pj"])
    assert row["edp"] == pytest.approx(row["total_pj"] * row["latency_s"])
    paper = em.estimate(prof, ["loihi"], mode="paper").hardware_cost.iloc[0]
    assert paper["total_pj"] == paper["dynamic_pj"] and paper["static_pj"] > 0
    assert "static and running shown, not added" in paper["notes"]
    # without the host's time (a chip profile that lists none), the busiest core sets the step
    text = (REPO / "hwprofiles" / "loihi.yaml").read_text()
    bare = load_hardware_text(_without(_without(text, "host_step"), "host_step_per_input_core"),
                              "x.yaml")
    m = mapping.map_network(prof, bare)
    assert m.latency_s == pytest.approx(4 * compute) and not m.host_bound


def test_depth_is_the_longest_path_through_parallel_branches():
    """Blouw et al.'s scaled network: input layer, N branches of 10 layers, concatenation,
    output layer, head. In series the stages would add to 3 + 10 N; in parallel the deepest
    path has 1 + 10 + 1 + 1 = 13 (the issue's 10-branch network: 103 before)."""
    from energymodel.zoo.measured import blouw_scaled

    for n, want in ((0, 3), (1, 13), (10, 13)):
        model, x, T = blouw_scaled(0.1, n_branches=n)
        prof = em.profile(model, x, batch_dim=1)
        m = mapping.map_network(prof, LOIHI)
        assert m.depth == want, (n, m.depth)
        assert len(m.layers) == 3 + 10 * n
        assert m.latency_s == pytest.approx((T + want - 1) * m.step_s)


def test_depth_of_a_residual_join_waits_for_its_longest_input():
    class Res(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.c, self.d = (nn.Linear(16, 16) for _ in range(4))
            self.n = nn.ModuleList(LIF() for _ in range(4))

        def forward(self, x):
            h = self.n[0](self.a(x))
            y = self.n[2](self.c(self.n[1](self.b(h))))     # two layers
            return self.n[3](self.d(h + y))                 # joins the skip and the two

    torch.manual_seed(0)
    prof = em.profile(Res(), (torch.rand(4, 1, 16) < 0.3).float(), batch_dim=1)
    edges = set(prof.layer_edges())
    assert ("a:linear#0", "d:linear#0") in edges and ("c:linear#0", "d:linear#0") in edges
    assert mapping.map_network(prof, LOIHI).depth == 4   # a -> b -> c -> d


def test_a_profile_without_a_graph_puts_layers_in_series_and_says_so():
    prof = chain_profile([32, 32, 32])
    prof.model_info.pop("layer_edges")
    m = mapping.map_network(prof, LOIHI)
    assert m.depth == 2 and any("layer graph unknown" in n for n in m.notes)


def test_fpga_latency_is_dense_slots_over_throughput():
    prof = chain_profile([128, 64], T=4)
    row = em.estimate(prof, ["fpga"]).hardware_cost.iloc[0]
    assert row["latency_s"] == pytest.approx(4 * 128 * 64 / 1448e9)
    assert pd.isna(row["static_pj"]) and "static energy unavailable" in row["notes"]
    assert pd.isna(row["cores"]) and "fit not checked" in row["notes"]


def test_technology_and_unavailable_checks_are_named():
    rep = em.estimate(chain_profile([64, 32]), ["cmos45nm", "truenorth", "loihi", "fpga"])
    t = rep.hardware_cost.set_index("hardware")
    assert "technology, not a chip" in t.loc["cmos45nm", "notes"]
    assert "no cited static power" in t.loc["fpga", "notes"]
    assert t.loc["truenorth", "static_pj"] > 0            # the power sweep's fixed power
    assert "splitter neurons not counted" in t.loc["loihi", "notes"]   # no fan-out limit
    assert list(rep.hardware_cost.columns) == mapping.COST_COLUMNS
    assert "Hardware cost (estimate" in rep.to_markdown()
    assert "hardware_cost" in rep.to_json()


def test_analog_input_layers_run_on_the_host():
    prof = make_profile([dict(in_spike_calls=0, in_binary_calls=0, out_elems=256,
                              in_elems=64, weight_elems=64 * 256, out_channels=256, macs=1)])
    m = mapping.map_network(prof, TN)
    assert m.cores == 0 and any("run on the host" in n for n in m.notes)


# ----------------------------------------------------------------------------- validation
_BAD = {
    "unknown key": ("capacity:\n  cores_per_chip:\n    value: 4\n    unit: cores\n"
                    "    citation: \"merolla2014\"\n  lanes:\n    value: 1\n    unit: cores\n"
                    "    citation: \"merolla2014\"\n", "capacity.lanes"),
    "wrong unit": ("timing:\n  tick:\n    value: 1\n    unit: pJ\n    citation: \"merolla2014\"\n",
                   "timing.tick.unit"),
    "no source": ("power:\n  static_per_chip:\n    value: 1\n    unit: mW\n"
                  "    citation: \"somebody 2020\"\n", "power.static_per_chip.citation"),
    "not positive": ("capacity:\n  neurons_per_core:\n    value: 0\n    unit: neurons\n"
                     "    citation: \"merolla2014\"\n", "capacity.neurons_per_core.value"),
    "flag not bool": ("capacity:\n  weight_sharing:\n    value: 1\n    unit: flag\n"
                      "    citation: \"merolla2014\"\n", "capacity.weight_sharing.value"),
    "missing citation": ("timing:\n  tick:\n    value: 1\n    unit: ms\n", "timing.tick.citation"),
    # the entry checks every section shares: no TypeError on a list unit, no overflow later
    "unit as a list": ("timing:\n  tick:\n    value: 1\n    unit: [ms]\n"
                       "    citation: \"merolla2014\"\n", "timing.tick.unit"),
    "overflowing power": ("power:\n  static_per_chip:\n    value: 1.0e+300\n    unit: W\n"
                          "    citation: \"merolla2014\"\n", "power.static_per_chip.value"),
    "citation naming no source": ("timing:\n  tick:\n    value: 1\n    unit: ms\n"
                                  "    citation: \"somewhere\"\n", "timing.tick.citation"),
}


@pytest.mark.parametrize("case", sorted(_BAD))
def test_validator_catches_bad_cost_sections(case):
    base = (REPO / "hwprofiles" / "truenorth.yaml").read_text()
    base = base.split("\n# Hardware cost")[0] + "\n"
    extra, field = _BAD[case]
    fields = {p.field for p in validate_hardware_text(base + extra, "bad.yaml")}
    assert field in fields, fields


def test_hw_validate_cli_rejects_a_bad_cost_section(tmp_path):
    base = (REPO / "hwprofiles" / "truenorth.yaml").read_text().split("\n# Hardware cost")[0]
    bad = tmp_path / "bad.yaml"
    bad.write_text(base + "\n" + _BAD["wrong unit"][0])
    r = subprocess.run([sys.executable, "-m", "energymodel", "hw", "validate", str(bad)],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode != 0 and "timing.tick.unit" in (r.stdout + r.stderr)


# ----------------------------------------------------------------------------- measurement
# The keyword spotter and the other measured cases are checked in tests/test_validation.py,
# at both ends of their activity bracket (the test here once asserted the ratio at p = 1.0).


def test_cli_profile_prints_and_writes_the_hardware_cost(tmp_path):
    from typer.testing import CliRunner

    from energymodel.cli import app

    out = tmp_path / "r.md"
    r = CliRunner().invoke(app, ["profile", "sdt-1-64-tiny", "--hw", "loihi", "--hw", "truenorth",
                                 "--timesteps", "2", "--no-layers", "--out", str(out)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    text = r.output.split("hardware cost per sample")[1]
    # drawn by the terminal renderer: human headers, one energy unit named in them
    assert "Latency" in text and "loihi" in text and "truenorth" in text
    assert "EDP" in text and "latency_ms" not in text and "_pj" not in text
    assert "truenorth: estimate;" in text
    assert "Hardware cost (estimate" in out.read_text()



def test_max_chips_below_one_is_refused():
    with pytest.raises(ValueError, match="max_chips"):
        mapping.map_network(chain_profile([64, 32]), LOIHI, max_chips=0)


def test_host_time_outside_its_fitted_range_is_flagged():
    """Loihi's host time per step is fitted on 2 and 8 input cores; a network whose input
    reaches 16 cores is extrapolated, and the notes say so."""
    small = mapping.map_network(chain_profile([64, 2048]), LOIHI)      # 2 input cores
    assert small.input_cores == 2 and not any("UNCERTAIN" in n for n in small.notes)
    big = mapping.map_network(chain_profile([64, 16 * 1024]), LOIHI)   # 16 input cores
    assert big.input_cores == 16
    assert any("UNCERTAIN" in n and "2 to 8 input cores" in n for n in big.notes)
    assert big.step_s == pytest.approx(184.8e-6 + 16 * 76.23e-6)


@pytest.mark.parametrize("bad", ["{input_cores: [8, 2]}", "{input_cores: 3}", "[2, 8]"])
def test_fitted_over_must_be_a_range(bad):
    text = (REPO / "hwprofiles" / "loihi.yaml").read_text().replace(
        "fitted_over: {input_cores: [2, 8]}", f"fitted_over: {bad}")
    fields = {p.field for p in validate_hardware_text(text, "x.yaml")}
    assert "timing.host_step_per_input_core.fitted_over" in fields


def test_the_cost_table_carries_the_band_of_every_ranged_constant():
    """TrueNorth in full: low / high = the per-event energy at 2.26 / 2.63 pJ plus the fixed
    power at 63.9 / 64.9 mW over the period (T ticks); paper keeps the dynamic band only."""
    prof = chain_profile([256, 256], T=4)
    rep = em.estimate(prof, ["truenorth", "loihi"], mode="full")
    c = rep.hardware_cost.set_index("hardware")
    sops = float(rep.totals.set_index("hardware").loc["truenorth", "sops"])
    period = 4e-3
    assert c.loc["truenorth", "total_low_pj"] == pytest.approx(2.26 * sops + 0.0639 * period * 1e12)
    assert c.loc["truenorth", "total_high_pj"] == pytest.approx(2.63 * sops + 0.0649 * period * 1e12)
    for h in ("truenorth", "loihi"):
        assert c.loc[h, "total_low_pj"] <= c.loc[h, "total_pj"] <= c.loc[h, "total_high_pj"]
    paper = em.estimate(prof, ["truenorth"], mode="paper").hardware_cost.iloc[0]
    assert paper["total_low_pj"] == pytest.approx(2.26 * sops)
    assert paper["total_high_pj"] == pytest.approx(2.63 * sops)


class _PerStep(nn.Module):
    """Conv -> LIF -> conv -> LIF, the time loop inside forward: F.conv2d runs once per step
    (T call sites of one weight), single-step neurons."""

    def __init__(self, multi: nn.Module):
        super().__init__()
        self.m = multi

    def forward(self, x):   # [T, B, C, H, W]
        outs = []
        for t in range(x.shape[0]):
            h = torch.nn.functional.conv2d(x[t], self.m.c1.weight, self.m.c1.bias, padding=1)
            h = self.m.n1(h)
            h = torch.nn.functional.conv2d(h, self.m.c2.weight, self.m.c2.bias, padding=1)
            outs.append(self.m.n2(h))
        return torch.stack(outs)


class _Multi(nn.Module):
    def __init__(self, step_mode: str):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(4, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1)
        self.n1, self.n2 = LIF(step_mode=step_mode), LIF(step_mode=step_mode)

    def forward(self, x):   # [T, B, C, H, W], layers applied to T*B images
        T_, B_ = x.shape[:2]
        h = self.n1(self.c1(x.flatten(0, 1)).unflatten(0, (T_, B_)))
        return self.n2(self.c2(h.flatten(0, 1)).unflatten(0, (T_, B_)))


def test_a_layer_run_once_per_step_maps_like_the_multi_step_layer():
    """The same network written per step (T conv2d call sites per layer) and multi-step maps to
    the same cores, stages and latency: one weight tensor is one layer."""
    torch.manual_seed(0)
    multi = _Multi("m")
    for c in (multi.c1, multi.c2):
        nn.init.uniform_(c.weight, -0.1, 0.4)
    x = (torch.rand(4, 1, 4, 8, 8) < 0.4).float()
    a = em.profile(multi, x, batch_dim=1)
    per_step = _Multi("s")
    per_step.load_state_dict(multi.state_dict())
    b = em.profile(_PerStep(per_step), x, batch_dim=1, timesteps=4)
    assert len(b.layers.query("op == 'conv2d'")) == 8          # 2 layers x T call sites
    assert float(b.totals()["acs"]) == float(a.totals()["acs"])  # the same work
    for hw in (LOIHI, TN):
        ma, mb = mapping.map_network(a, hw, 4), mapping.map_network(b, hw, 4)
        assert (mb.cores, mb.depth) == (ma.cores, ma.depth) == (ma.cores, 2)
        assert mb.latency_s == pytest.approx(ma.latency_s)
        assert len(mb.layers) == 2
        assert any("mapped once per weight tensor" in n for n in mb.notes)


def test_timing_entries_a_chip_does_not_use_are_named(tmp_path):
    """A tick-driven chip ignores per-op times: said, never silently (TrueNorth + host_step)."""
    text = open(load_hardware("truenorth").path).read().replace(
        "timing:\n", "timing:\n  host_step:\n    value: 100\n    unit: us\n"
        "    citation: \"merolla2014: a made-up host time\"\n", 1)
    f = tmp_path / "tn.yaml"
    f.write_text(text)
    mp = mapping.map_network(chain_profile([64, 32]), load_hardware(str(f)), 2)
    assert any("not used by this chip's timing model: timing.host_step" in n for n in mp.notes)
    plain = mapping.map_network(chain_profile([64, 32]), TN, 2)
    assert not any("not used by this chip's timing model" in n for n in plain.notes)

"""The profiler's fast paths count exactly what the full scans count.

Three shortcuts make counting cheap (issue 13): a neuron whose adapter guarantees 0 / 1 output is
only summed, not classified; on the CPU, counts are Python numbers and the operand scan stops
early once a chunk is analog; the pandas tables are built when first read. Each is compared here
with the same run made without it, never with numbers captured once:

* ``CountOptions(verify=True)`` scans every neuron output in full (and checks the guarantee);
* emptying ``operands.HOST_DEVICES`` makes the CPU take the accelerator's path (0-d tensors on
  the device, read back once in ``result()``).
"""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

import energymodel as em
from energymodel.attention import calibrate_bn
from energymodel.counting import operands
from energymodel.counting.neurons import NEURON_ADAPTERS, find_adapter
from energymodel.counting.operands import CountOptions

TINY = [n for n in em.zoo.names() if n.endswith("-tiny")]
CIFAR = [n for n in em.zoo.names() if "-cifar" in n]

try:
    from ._spies import HostReadSpy
except ImportError:  # tests/ is not a package
    from _spies import HostReadSpy


def _model(name: str, **overrides):
    torch.manual_seed(0)
    m = em.zoo.build(name, **overrides)
    size = getattr(m, "img_size", 32)
    x = torch.rand(2, 3, size, size)
    calibrate_bn(m, x, shift=0.5)  # firing rates of 10-30 %: every count path is exercised
    return m, x


def _profile(m, x, **options):
    return em.profile(m, (x,), options=CountOptions(**options))


def _same(a: em.Profile, b: em.Profile) -> None:
    pd.testing.assert_frame_equal(a.layers, b.layers, check_exact=True)
    pd.testing.assert_frame_equal(a.timesteps(), b.timesteps(), check_exact=True)
    pd.testing.assert_frame_equal(a.rate_spread(), b.rate_spread(), check_exact=True)
    assert a.samples == b.samples and a.unrecognized == b.unrecognized


def _small(name: str) -> dict:
    """CIFAR configs run at T=2 on 16 x 16 inputs: the same layers, ops and code paths as at
    32 x 32, T=4, in a quarter of the time (SAFormer's DWC grid is fixed by the config: 32 px)."""
    if "cifar" not in name:
        return {}
    if name.startswith("vit"):
        return {}  # an ANN (no T, no neurons): its real size is quick
    return {"T": 2} if name.startswith("saformer") else {"T": 2, "img_size": 16}


@pytest.mark.parametrize("name,overrides", [(n, _small(n)) for n in TINY + CIFAR])
def test_fast_paths_count_exactly_what_full_scans_count(name, overrides):
    m, x = _model(name, **overrides)
    fast = _profile(m, x)
    full = _profile(m, x, verify=True)
    _same(fast, full)
    t = fast.totals()
    if not name.startswith("vit"):
        assert 0.02 < t["spike_rate"] < 0.9  # spikes flowed: the comparison saw real counts
        assert t["acs"] > 0


@pytest.mark.parametrize("name", TINY + ["spikformer-4-256-cifar"])
def test_chunked_scans_count_exactly_what_full_scans_count(name, monkeypatch):
    """Tensors above ``_CHUNK`` elements are scanned chunk by chunk, deciding per chunk what to
    skip; at test sizes few tensors are that large, so the chunk is made small here (the
    Spikformer residual stream carries integer spikes 0..2: the chunks that are not 0 / 1)."""
    monkeypatch.setattr(operands, "_CHUNK", 1 << 11)
    m, x = _model(name, **_small(name))
    _same(_profile(m, x), _profile(m, x, verify=True))


@pytest.mark.parametrize("name", TINY + ["sdt-2-256-cifar"])
def test_cpu_host_numbers_count_exactly_what_the_device_path_counts(name, monkeypatch):
    m, x = _model(name, **_small(name))
    host = _profile(m, x)
    monkeypatch.setattr(operands, "HOST_DEVICES", set())
    monkeypatch.setattr(em.counting.profiler, "HOST_DEVICES", set())
    dev = _profile(m, x)
    _same(host, dev)


def test_device_path_reads_nothing_back_during_the_forward(monkeypatch):
    """The accelerator's path, taken on the CPU: no aten._local_scalar_dense (a host read) from
    the first op to the last; the counts are read in result(). (On the CPU itself counts are read
    with tolist(), which is free there and issues no aten op.)"""
    monkeypatch.setattr(operands, "HOST_DEVICES", set())
    monkeypatch.setattr(em.counting.profiler, "HOST_DEVICES", set())

    m, x = _model("sdt-1-64-tiny")
    with HostReadSpy() as spy:
        with em.Profiler(m, batch_dim=0) as p:
            with torch.no_grad():
                m(x)
    assert spy.reads == 0
    assert p._sites and all(s.acc is not None for s in p._sites.values() if s.kind == "neuron")
    assert p.result().totals()["acs"] > 0


def test_a_neuron_that_breaks_its_binary_claim_is_caught_in_verify_mode(monkeypatch):
    """Our LIF's adapter claims 0 / 1 output. Make it emit 2 where it fires: the fast path trusts
    the claim (and counts 2 per spike, not 1: a wrong claim gives wrong counts), verify mode scans
    in full and stops with the layer named."""
    net = nn.Sequential(nn.Linear(8, 16), em.LIF(), nn.Linear(16, 4))
    x = torch.rand(3, 2, 8) * 4  # [T, B, features]
    honest = _profile(net, x, verify=True)

    fire = em.LIF.forward
    monkeypatch.setattr(em.LIF, "forward", lambda self, v: 2 * fire(self, v))
    with pytest.raises(ValueError, match=r"layer '1' \(LIF\).*guarantees binary spikes"):
        _profile(net, x, verify=True)
    trusted = _profile(net, x).layers.set_index("site")
    spikes = honest.layers.set_index("site").loc["1:lif#0", "spikes_out"]
    assert spikes > 0 and trusted.loc["1:lif#0", "spikes_out"] == 2 * spikes


def test_a_neuron_without_a_claim_is_scanned_in_full():
    """The behavioural fallback never claims binary output: a neuron-like module that emits
    integer levels is counted as integer spikes, the same with and without verify."""

    class Graded(nn.Module):
        def __init__(self):
            super().__init__()
            self.v = 0.0

        def reset(self):
            self.v = 0.0

        def forward(self, x):
            return torch.clamp(torch.floor(x), 0, 3)

    net = nn.Sequential(nn.Linear(8, 16), Graded(), nn.Linear(16, 4))
    assert find_adapter(net[1]).binary is None
    x = torch.rand(2, 8) * 4
    fast, full = _profile(net, x), _profile(net, x, verify=True)
    _same(fast, full)
    lin = fast.layers.set_index("site").loc["2:linear#0"]
    assert lin["in_kind"] == "integer"


def _claims(m: nn.Module) -> bool:
    a = find_adapter(m)
    return bool(a is not None and a.binary is not None and a.binary(m))


def test_which_neurons_claim_binary_output():
    assert _claims(em.LIF())
    sj = pytest.importorskip("spikingjelly.activation_based.neuron")
    sg = pytest.importorskip("spikingjelly.activation_based.surrogate")
    assert _claims(sj.LIFNode(step_mode="m"))
    assert _claims(sj.IFNode())
    assert _claims(sj.ParametricLIFNode())
    assert not _claims(sj.LIFNode(surrogate_function=sg.Sigmoid(spiking=False)))  # analog
    assert not _claims(sj.TernaryIFNode())  # -1 / 0 / 1

    class MyLIF(sj.LIFNode):  # a subclass may change how it fires
        pass

    assert not _claims(MyLIF())
    snn = pytest.importorskip("snntorch")
    assert _claims(snn.Leaky(beta=0.9))
    assert not _claims(snn.Leaky(beta=0.9, graded_spikes_factor=2.0))
    assert not _claims(snn.Leaky(beta=0.9, spike_grad=lambda u: torch.sigmoid(u)))
    assert NEURON_ADAPTERS[-1].binary is None  # the fallback never claims


def test_spikingjelly_net_counts_the_same_with_and_without_verify():
    sj = pytest.importorskip("spikingjelly.activation_based")
    from spikingjelly.activation_based import functional, layer, neuron

    torch.manual_seed(0)
    net = nn.Sequential(
        layer.Conv2d(2, 8, 3, padding=1, step_mode="m"), neuron.LIFNode(step_mode="m"),
        layer.Conv2d(8, 8, 3, padding=1, step_mode="m"), neuron.IFNode(step_mode="m"),
        layer.Flatten(step_mode="m"), layer.Linear(8 * 16, 4, step_mode="m"),
    )
    x = torch.rand(3, 2, 2, 4, 4) * 4
    functional.reset_net(net)
    fast = em.profile(net, (x,), batch_dim=1)
    functional.reset_net(net)
    full = em.profile(net, (x,), batch_dim=1, options=CountOptions(verify=True))
    _same(fast, full)
    assert fast.totals()["spikes_out"] > 0


def test_a_transposed_view_of_a_scanned_tensor_is_read_in_its_own_layout():
    """Spike maps S [T, n, n] and S @ S^T: the second operand covers the same memory as the
    first (one cache entry), but its per-index event sums run along the other axis. Binary x
    binary ACs are sum_l c_A[l] c_B[l] with c_A the column sums of S and c_B the row sums of
    S^T, i.e. the column sums of S again: sum over l of colsum(S)[l]^2, per timestep."""

    class Gram(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = em.LIF()

        def forward(self, x):
            s = self.lif(x)
            return s @ s.transpose(-2, -1)

    torch.manual_seed(0)
    x = torch.rand(2, 6, 6) * 2.5  # [T, n, n]: square, so S and S^T have the same shape
    net = Gram()
    with torch.no_grad():
        s = em.LIF()(x)
    assert not torch.equal(s.sum(-2), s.sum(-1))  # not symmetric: the axis matters
    expect = float((s.sum(-2) ** 2).sum())
    for verify in (False, True):
        prof = em.profile(net, (x,), batch_dim=None, options=CountOptions(verify=verify))
        mm = prof.layers.query("op == 'matmul'")
        assert float(mm["acs"].sum()) == expect


def test_claimed_single_step_neuron_books_state_changes_by_hand():
    """The summed-only path of a claimed neuron (snntorch Leaky, one step per call) books the
    same spikes and membrane changes as a hand loop: every neuron on a sample's first step,
    then the elements whose membrane changed (NeuroBench's MembraneUpdates)."""
    snn = pytest.importorskip("snntorch")

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(6, 10)
            self.lif = snn.Leaky(beta=0.5, init_hidden=True)

        def forward(self, x):
            return self.lif(self.fc(x))

    torch.manual_seed(0)
    net, T = Net(), 4
    xs = torch.rand(T, 3, 6) * 2
    xs[:, :, :3] = 0  # some neurons never move: changes < updates
    with torch.no_grad():
        net.fc.bias.zero_()
        net.fc.weight[:5] = 0  # neurons 0-4 see no input: their membrane stays 0
        # by hand: spikes and changed membranes per step, from the reset state
        net.lif.reset_mem()
        spikes, changes, prev = 0.0, 0.0, None
        for t in range(T):
            s = net(xs[t])
            spikes += float(s.sum())
            mem = net.lif.mem.clone()
            changes += s.numel() if prev is None else float((mem != prev).sum())
            prev = mem
    assert 0 < changes < T * 30 and spikes > 0
    got = {}
    for verify in (False, True):
        with em.Profiler(net, batch_dim=0, calls_per_sample=T,
                         options=CountOptions(verify=verify)) as p:
            with torch.no_grad():
                for t in range(T):
                    net(xs[t])
        prof = p.result()
        # model_info and model_stats are there before the deferred tables are built
        assert "_raw" not in prof.__dict__ and prof.model_info["root_calls"] == T
        assert prof.model_info["neurons"] == ["lif"] and prof.model_stats
        back = em.Profile.from_dict(prof.to_dict())
        assert back.model_info == prof.model_info and back.model_stats == prof.model_stats
        row = prof.layers.set_index("layer").loc["lif"]
        got[verify] = row
        assert row["spikes_out"] == spikes and row["out_nnz"] == spikes
        assert row["state_changes"] == changes
        assert row["neuron_updates"] == T * 30
    pd.testing.assert_series_equal(got[False], got[True], check_exact=True)

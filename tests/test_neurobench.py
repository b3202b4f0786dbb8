"""Profile.neurobench() against NeuroBench 2.3.0 itself (its Benchmark, run on the same small
snntorch models and inputs), and against hand counts where the conventions differ."""

from __future__ import annotations

from typing import Callable

import pytest
import torch
from torch import nn

import energymodel as em

snn = pytest.importorskip("snntorch")
pytest.importorskip("neurobench")
from neurobench.benchmarks import Benchmark  # noqa: E402
from neurobench.metrics.static import ConnectionSparsity, Footprint  # noqa: E402
from neurobench.metrics.workload import (  # noqa: E402
    ActivationSparsity,
    MembraneUpdates,
    SynapticOperations,
)
from neurobench.models import SNNTorchModel  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

T = 5


def _feedforward() -> nn.Module:
    # second layer without bias: silent inputs leave membranes unchanged (MembraneUpdates < all)
    return nn.Sequential(
        nn.Linear(20, 32), snn.Leaky(beta=0.9, init_hidden=True),
        nn.Linear(32, 10, bias=False), snn.Leaky(beta=0.8, init_hidden=True, output=True),
    )


def _convolutional() -> nn.Module:
    # padded convolutions: NeuroBench's Dense leaves out the border taps, dense_macs does not
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), snn.Leaky(beta=0.9, init_hidden=True),
        nn.Conv2d(4, 8, 3, stride=2, padding=1, bias=False), snn.Leaky(beta=0.9, init_hidden=True),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8 * 2 * 2, 10),
        snn.Leaky(beta=0.9, init_hidden=True, output=True),
    )
    with torch.no_grad():
        net[2].weight.mul_(4.0)  # so that the second layer fires
    return net


def _recurrent() -> nn.Module:
    # RLeaky: its recurrent Linear is a connection layer inside a neuron
    return nn.Sequential(
        nn.Linear(20, 16), snn.RLeaky(beta=0.9, linear_features=16, init_hidden=True),
        nn.Linear(16, 5), snn.Leaky(beta=0.8, init_hidden=True, output=True),
    )


def _conv_with(neuron) -> "Callable[[], nn.Module]":
    """A conv + pooling net whose neurons are ``neuron(**kw)`` (Synaptic, Alpha: two state
    variables; RSynaptic: recurrent, its Linear inside the neuron)."""

    def make() -> nn.Module:
        net = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), neuron(0), nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, padding=1, bias=False), neuron(1), nn.AvgPool2d(2),
            nn.Flatten(), nn.Linear(8 * 2 * 2, 16), neuron(2), nn.Linear(16, 10),
            snn.Leaky(beta=0.8, init_hidden=True, output=True))  # NeuroBench reads (spk, mem)
        with torch.no_grad():
            net[3].weight.mul_(4.0)
        return net

    return make


def _synaptic(i):
    return snn.Synaptic(alpha=0.8, beta=0.9, init_hidden=True)


def _alpha(i):
    return snn.Alpha(alpha=0.9, beta=0.8, init_hidden=True)


def _rsynaptic(i):  # the hidden linear layer's neurons recurrent (their Linear inside them)
    return snn.RSynaptic(alpha=0.8, beta=0.9, linear_features=16, init_hidden=True) \
        if i == 2 else _synaptic(i)


def _inputs(name: str, g: torch.Generator) -> torch.Tensor:
    if name == "feedforward":  # spikes, with three analog channels (a mixed first layer)
        x = (torch.rand(6, T, 20, generator=g) < 0.3).float()
        x[:, :, :3] = torch.rand(6, T, 3, generator=g)
        return x
    if name.startswith("conv"):
        return torch.rand(6, T, 1, 8, 8, generator=g) * 4
    return torch.rand(6, T, 20, generator=g)


def _both(name: str, make, batch_size: int = 3) -> tuple[em.Profile, dict]:
    torch.manual_seed(0)
    net = make()
    x = _inputs(name, torch.Generator().manual_seed(1))
    loader = DataLoader(TensorDataset(x, torch.zeros(len(x))), batch_size=batch_size)
    bench = Benchmark(SNNTorchModel(net), loader, [], [],
                      [[Footprint, ConnectionSparsity],
                       [SynapticOperations, ActivationSparsity, MembraneUpdates]])
    theirs = bench.run(quiet=True)
    bench.workload_metric_manager.cleanup_hooks(bench.model)
    # the same loop under our profiler: one sample = T single-step calls, state reset between
    with em.Profiler(net, batch_dim=0, timesteps=T, calls_per_sample=T, reset=True) as p:
        with torch.no_grad():
            for xb, _ in loader:
                for t in range(T):
                    net(xb[:, t])
    return p.result(), theirs


def _close(a: float, b: float, rel: float = 1e-3) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-12)


@pytest.mark.parametrize("name,make", [
    ("feedforward", _feedforward), ("convolutional", _convolutional), ("recurrent", _recurrent),
    ("conv-synaptic", _conv_with(_synaptic)), ("conv-alpha", _conv_with(_alpha)),
    ("conv-rsynaptic", _conv_with(_rsynaptic)),
])
def test_workload_metrics_equal_neurobench(name, make):
    # RSynaptic: NeuroBench's reset between batches (snntorch.utils.reset) leaves the neuron's
    # last spikes in `spk`, which its recurrent Linear reads at the next batch's first step
    # (see test_rsynaptic_spikes_leak_across_neurobench_batches); one batch compares like for like
    prof, theirs = _both(name, make, batch_size=6 if name == "conv-rsynaptic" else 3)
    ours = prof.neurobench()
    for k in ("Effective_MACs", "Effective_ACs", "Dense"):
        assert _close(ours["SynapticOperations"][k], theirs["SynapticOperations"][k]), (k, ours, theirs)
    assert _close(ours["ActivationSparsity"], theirs["ActivationSparsity"]), (ours, theirs)
    assert _close(ours["MembraneUpdates"], theirs["MembraneUpdates"]), (ours, theirs)
    # the static metrics of a fresh model
    assert ours["Footprint"] == theirs["Footprint"]
    assert ours["ConnectionSparsity"] == pytest.approx(theirs["ConnectionSparsity"], abs=1e-4)
    # each model exercises something: ACs and MACs both non-zero
    assert ours["SynapticOperations"]["Effective_ACs"] > 0
    assert ours["SynapticOperations"]["Effective_MACs"] > 0
    if name == "feedforward":  # the bias-free layer kept some membranes: fewer than all updates
        all_updates = prof.neurobench(convention="energymodel")["MembraneUpdates"]
        assert ours["MembraneUpdates"] < all_updates == 6 * T * (32 + 10) / 6


def test_rsynaptic_spikes_leak_across_neurobench_batches():
    """With two batches NeuroBench books more accumulates than one batch of the same samples:
    snntorch.utils.reset (its reset) zeroes RSynaptic's membrane but not its `spk`, so the
    recurrent layer of the second batch starts from the first batch's last spikes. Every sample
    of ours starts from reset state (reset_mem clears spk too): the same with either batching."""
    make = _conv_with(_rsynaptic)
    ours2, theirs2 = _both("conv-rsynaptic", make, batch_size=3)
    ours1, theirs1 = _both("conv-rsynaptic", make, batch_size=6)
    ac = lambda d: d["SynapticOperations"]["Effective_ACs"]  # noqa: E731
    assert ac(ours2.neurobench()) == pytest.approx(ac(ours1.neurobench()))
    assert ac(theirs1) == pytest.approx(ac(ours1.neurobench()), rel=1e-6)
    assert ac(theirs2) > ac(theirs1)


def test_conventions_differ_where_documented():
    """Padding: NeuroBench's Dense < fvcore's dense_macs; MembraneUpdates <= neuron updates
    (a bias-free layer fed no spikes keeps its membrane); hand counts for one conv."""
    torch.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    x = torch.zeros(1, 1, 4, 4)
    x[0, 0, 0, 0] = 1.0  # a corner spike reaches 2 x 2 taps per output channel
    x[0, 0, 1, 1] = 1.0  # an inner spike reaches all 3 x 3
    nb = em.profile(conv, x).neurobench()
    assert nb["SynapticOperations"]["Effective_ACs"] == 2 * (4 + 9)
    # all-ones input: per dim, taps that land inside = 16 - 4 (edges lose one of three)... by hand:
    # positions 0..3, kernel 3, pad 1 -> fan-outs 2,3,3,2 = 10 per dim -> 10 x 10 x 2 channels
    assert nb["SynapticOperations"]["Dense"] == 10 * 10 * 2
    ours = em.profile(conv, x).neurobench(convention="energymodel")
    assert ours["SynapticOperations"]["Dense"] == 4 * 4 * 9 * 2  # fvcore: every tap
    assert ours["SynapticOperations"]["Effective_ACs"] == nb["SynapticOperations"]["Effective_ACs"]

    lin = nn.Linear(3, 2)
    spk = torch.tensor([[1.0, 0.0, 1.0]])
    with_bias = em.profile(lin, spk).neurobench(bias=True)["SynapticOperations"]
    assert with_bias["Effective_ACs"] == 2 * 2 + 2 and with_bias["Dense"] == 6 + 2
    ints = em.profile(lin, torch.tensor([[2.0, 0.0, 1.0]]))
    assert ints.neurobench()["SynapticOperations"]["Effective_MACs"] == 2 * 2  # non-zeros, MACs
    assert ints.neurobench(convention="energymodel")["SynapticOperations"]["Effective_ACs"] == 3 * 2
    assert any("integer-spike" in n for n in ints.neurobench()["notes"])


def test_zero_weights_and_sparsity_are_flagged():
    lin = nn.Linear(4, 4, bias=False)
    with torch.no_grad():
        lin.weight[0, :] = 0
    nb = em.profile(lin, torch.ones(1, 4)).neurobench()
    assert nb["ConnectionSparsity"] == pytest.approx(0.25)
    assert nb["Footprint"] == 16 * 4
    assert any("zero connection weights" in n for n in nb["notes"])


def test_neurobench_survives_json_and_merge():
    net = _feedforward()
    x = (torch.rand(T, 4, 20) < 0.5).float()

    def run() -> em.Profile:
        with em.Profiler(net, batch_dim=0, timesteps=T, calls_per_sample=T, reset=True) as p:
            with torch.no_grad():
                for t in range(T):
                    net(x[t])
        return p.result()

    a = run()
    back = em.Profile.from_json(a.to_json())
    assert back.neurobench() == a.neurobench()
    both = a.merge(run())
    assert both.neurobench()["SynapticOperations"] == a.neurobench()["SynapticOperations"]
    with pytest.raises(ValueError, match="convention"):
        a.neurobench(convention="theirs")


def test_weight_layers_inside_neurons_are_synapses():
    """snntorch's LinearLeaky runs nn.Linear inside the neuron: its ACs are the input events x
    outputs (they were hidden in the neuron row before)."""
    torch.manual_seed(0)
    m = snn.LinearLeaky(beta=0.9, in_features=8, out_features=4)
    x = (torch.rand(5, 2, 8) < 0.5).float()
    lay = em.profile(m, x, batch_dim=1).layers.set_index("layer")
    assert lay.loc["linear", "kind"] == "synaptic"
    assert lay.loc["linear", "acs"] == x.sum().item() * 4
    assert lay.loc["linear", "dense_macs"] == 5 * 2 * 8 * 4
    assert lay.loc["", "neuron_updates"] == 5 * 2 * 4
    assert lay.loc["", "op"] == "leaky"  # not "rleaky": the class name holds that substring

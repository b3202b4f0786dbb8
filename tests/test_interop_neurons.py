"""Neurons of real SNN frameworks are recorded: spikingjelly 2.x ``activation_based`` (single- and
multi-step), spikingjelly 0.0.0.0.14 ``clock_driven`` (in a subprocess: it cannot share the
environment with 2.x), snntorch 1.x, and unknown neurons through the behavioural fallback.

For every neuron layer: neuron_updates = neurons x T x batch, spikes_out = the spikes the layer
really emitted (read here by plain forward hooks on a run without the profiler), and
``reset=True`` clears states between samples through the framework's own reset.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest
import torch
from torch import nn

import energymodel as em
from energymodel.counting.neurons import find_adapter

REPO = Path(__file__).resolve().parents[1]
T, B = 4, 3


def emitted(net: nn.Module, types: tuple, run) -> dict[str, tuple[float, int]]:
    """Spikes and output elements per neuron layer, read with forward hooks (no profiler)."""
    acc: dict[str, list] = defaultdict(lambda: [0.0, 0])

    def hook(name):
        def f(m, i, o):
            s = o[0] if isinstance(o, tuple) else o
            acc[name][0] += s.sum().item()
            acc[name][1] += s.numel()
        return f

    hs = [m.register_forward_hook(hook(n)) for n, m in net.named_modules() if isinstance(m, types)]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in hs:
            h.remove()
    return {k: (v[0], v[1]) for k, v in acc.items()}


def neuron_rows(prof):
    return prof.layers.query("kind == 'neuron'").set_index("layer")


def check_recorded(prof, ref, per_layer_updates):
    rows = neuron_rows(prof)
    assert set(rows.index) == set(ref), (list(rows.index), list(ref))
    for layer, (spk, n) in ref.items():
        assert rows.loc[layer, "neuron_updates"] == n == per_layer_updates[layer], layer
        assert rows.loc[layer, "spikes_out"] == spk, layer
    assert sum(v[0] for v in ref.values()) > 0  # the net really fired


# ---------------------------------------------------------------- spikingjelly 2.x
try:
    from spikingjelly.activation_based import functional, layer, neuron
except ImportError:  # an optional test dependency: only its tests skip
    functional = layer = neuron = None
needs_sj = pytest.mark.skipif(neuron is None, reason="spikingjelly 2.x is not installed")


class SJNet(nn.Module):
    def __init__(self, step_mode="m"):
        super().__init__()
        self.fc1 = layer.Linear(6, 10, step_mode=step_mode)
        self.lif = neuron.LIFNode(tau=2.0, v_threshold=0.5, step_mode=step_mode)
        self.fc2 = layer.Linear(10, 7, step_mode=step_mode)
        self.ifn = neuron.IFNode(v_threshold=0.5, step_mode=step_mode)
        self.fc3 = layer.Linear(7, 5, step_mode=step_mode)
        self.plif = neuron.ParametricLIFNode(v_threshold=0.3, step_mode=step_mode)
        for m in (self.fc1, self.fc2, self.fc3):
            nn.init.uniform_(m.weight, -0.2, 0.7)

    def forward(self, x):
        return self.plif(self.fc3(self.ifn(self.fc2(self.lif(self.fc1(x))))))


@needs_sj
def test_spikingjelly_multistep_neurons_are_recorded_per_layer():
    torch.manual_seed(0)
    net = SJNet("m").eval()
    x = torch.rand(T, B, 6)
    ref = emitted(net, (neuron.BaseNode,), lambda: net(x))
    functional.reset_net(net)
    prof = em.profile(net, (x,), batch_dim=1, timesteps=T)
    check_recorded(prof, ref, {"lif": T * B * 10, "ifn": T * B * 7, "plif": T * B * 5})
    rows = neuron_rows(prof)
    assert rows.loc["lif", "op"] == "lif" and rows.loc["ifn", "op"] == "if"
    assert rows.loc["plif", "op"] == "plif"
    assert (rows["timesteps"] == T).all()
    assert prof.unrecognized == {}
    # the neurons' internal arithmetic is not counted as ops of the net
    assert set(prof.layers["kind"]) == {"synaptic", "neuron"}


@needs_sj
def test_spikingjelly_single_step_neurons_in_a_loop_and_per_step_spikes():
    torch.manual_seed(0)
    net = SJNet("s").eval()
    x = torch.rand(T, B, 6)
    outs: list[torch.Tensor] = []
    ref = emitted(net, (neuron.BaseNode,), lambda: [net(x[t]) for t in range(T)])
    functional.reset_net(net)
    with em.Profiler(net, timesteps=T, calls_per_sample=T, reset=True) as p:
        with torch.no_grad():
            for t in range(T):
                outs.append(net(x[t]))
    prof = p.result()
    assert prof.samples == B
    check_recorded(prof, ref, {"lif": T * B * 10, "ifn": T * B * 7, "plif": T * B * 5})
    steps = prof.timesteps().query("layer == 'plif'")
    assert steps["spikes_out"].tolist() == [o.sum().item() for o in outs]
    # reset=True ran at the sample boundary: the states are back to v_reset
    assert net.lif.v == 0.0 and net.ifn.v == 0.0


@needs_sj
def test_spikingjelly_reset_true_clears_multistep_state_between_samples():
    """A multi-step spikingjelly neuron does not reset ``v`` at the start of a call: without a
    reset, the second of two identical samples starts from the first one's potential. IF node,
    constant input 0.3 over T=2: 0.3, 0.6 (no spike); carried over: 0.9, 1.2 (spike)."""
    x = torch.full((2, B, 4), 0.3)

    def run(reset):
        n = neuron.IFNode(v_threshold=1.0, step_mode="m")
        p = em.Profiler(n, batch_dim=1, reset=reset)
        return p.run([x, x], progress=False).rate_spread().iloc[0]

    with_reset, without = run(True), run(False)
    assert with_reset["rate_min"] == with_reset["rate_max"] == 0.0
    assert without["rate_min"] == 0.0 and without["rate_max"] == 0.5
    # a user hook instead of the adapters' reset
    n = neuron.IFNode(v_threshold=1.0, step_mode="m")
    prof = em.Profiler(n, batch_dim=1, reset=functional.reset_net).run([x, x], progress=False)
    assert prof.rate_spread().iloc[0]["rate_max"] == 0.0


@needs_sj
def test_spikingjelly_multistep_only_psn_reads_T_from_the_leading_dim():
    psn = neuron.PSN(T=T)  # a MultiStepModule without step_mode
    x = torch.rand(T, B, 5) * 3
    ref = emitted(psn, (neuron.PSN,), lambda: psn(x))
    prof = em.profile(psn, (x,), batch_dim=1)
    check_recorded(prof, ref, {"": T * B * 5})
    assert neuron_rows(prof).loc["", "timesteps"] == T
    assert len(prof.timesteps()) == T


@needs_sj
def test_spikingjelly_non_spiking_readout_is_not_a_neuron():
    ro = neuron.NonSpikingLIFNode()
    assert find_adapter(ro) is None
    assert find_adapter(neuron.LIFNode()).name == "spikingjelly.activation_based"


# ---------------------------------------------------------------- snntorch
try:
    import snntorch as snn
except ImportError:
    snn = None
needs_snn = pytest.mark.skipif(snn is None, reason="snntorch is not installed")


class SnnNet(nn.Module):
    """snntorch style: the time loop inside forward; one layer holds its state
    (``init_hidden=True``, returns ``spk``), one gets it passed (returns ``(spk, mem)``), one is
    a second-order Synaptic neuron (``(spk, syn, mem)``)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(6, 10)
        self.lif1 = snn.Leaky(beta=0.8, threshold=0.5, init_hidden=True)
        self.fc2 = nn.Linear(10, 7)
        self.lif2 = snn.Leaky(beta=0.9, threshold=0.5)
        self.fc3 = nn.Linear(7, 5)
        self.syn3 = snn.Synaptic(alpha=0.5, beta=0.8, threshold=0.3, init_hidden=True)
        for m in (self.fc1, self.fc2, self.fc3):
            nn.init.uniform_(m.weight, -0.2, 0.7)

    def forward(self, x):  # [T, B, 6]
        mem2 = self.lif2.reset_mem()
        out = []
        for t in range(x.shape[0]):
            s1 = self.lif1(self.fc1(x[t]))
            s2, mem2 = self.lif2(self.fc2(s1), mem2)
            out.append(self.syn3(self.fc3(s2)))
        return torch.stack(out)


def _snn_reset_all(net):
    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()


@needs_snn
def test_snntorch_leaky_and_synaptic_are_recorded_with_their_output_conventions():
    torch.manual_seed(0)
    net = SnnNet().eval()
    x = torch.rand(T, B, 6)
    ref = emitted(net, (snn.SpikingNeuron,), lambda: net(x))
    _snn_reset_all(net)
    prof = em.profile(net, (x,), batch_dim=1, timesteps=T)
    check_recorded(prof, ref, {"lif1": T * B * 10, "lif2": T * B * 7, "syn3": T * B * 5})
    rows = neuron_rows(prof)
    assert rows.loc["lif1", "op"] == "leaky" and rows.loc["syn3", "op"] == "synaptic_neuron"
    assert find_adapter(net.lif1).name == "snntorch"
    assert set(prof.layers["kind"]) == {"synaptic", "neuron"}


@needs_snn
def test_snntorch_reset_true_calls_reset_mem_between_samples():
    """Two identical samples in a row give identical counts only with a reset: an
    ``init_hidden=True`` Leaky keeps ``mem`` across calls until ``reset_mem()``."""
    lif = snn.Leaky(beta=1.0, threshold=1.0, init_hidden=True)
    x = torch.full((B, 4), 0.6)  # one step per call: 0.6 (no spike); carried: 1.2 (spike)

    def spread(reset):
        p = em.Profiler(lif, reset=reset)
        return p.run([x, x], progress=False).rate_spread().iloc[0]

    lif(x)  # stale state left by an earlier run: reset=True clears it on entry as well
    r = spread(True)
    assert r["rate_min"] == r["rate_max"] == 0.0
    lif.reset_mem()
    r = spread(False)
    assert r["rate_min"] == 0.0 and r["rate_max"] == 1.0


@needs_snn
def test_snntorch_stateleaky_is_multistep_and_without_spikes_not_a_neuron():
    sl = snn.StateLeaky(beta=0.8, channels=5, threshold=0.5)  # output=True: (spk, mem)
    x = torch.rand(T, B, 5)
    ref = emitted(sl, (snn.StateLeaky,), lambda: sl(x))
    prof = em.profile(sl, (x,), batch_dim=1)
    check_recorded(prof, ref, {"": T * B * 5})
    assert neuron_rows(prof).loc["", "timesteps"] == T
    assert find_adapter(snn.StateLeaky(beta=0.8, channels=5, output=False)) is None


# ---------------------------------------------------------------- behavioural fallback
class HomeMadeNeuron(nn.Module):
    """An unknown framework: keeps ``mem``, exposes ``reset()``, emits binary spikes."""

    def __init__(self):
        super().__init__()
        self.mem = None

    def reset(self):
        self.mem = None

    def forward(self, x):
        self.mem = x if self.mem is None else 0.5 * self.mem + x
        s = (self.mem >= 1.0).float()
        self.mem = self.mem * (1 - s)
        return s


def test_unknown_stateful_neuron_is_recorded_by_the_behavioural_fallback():
    net = nn.Sequential(nn.Linear(5, 6), HomeMadeNeuron())
    nn.init.uniform_(net[0].weight, 0.0, 0.6)
    x = torch.rand(B, 5)
    with em.Profiler(net, timesteps=2, calls_per_sample=2, reset=True) as p:
        with torch.no_grad():
            outs = [net(x) for _ in range(2)]
    prof = p.result()
    assert find_adapter(net[1]).name == "stateful (behavioural fallback)"
    r = neuron_rows(prof).loc["1"]
    assert r["op"] == "neuron" and r["neuron_updates"] == 2 * B * 6
    assert r["spikes_out"] == sum(o.sum().item() for o in outs) > 0
    assert net[1].mem is None  # reset at the sample boundary


# ---------------------------------------------------------------- spikingjelly 0.0.0.0.14
SJ014 = Path(os.environ.get("EM_SJ014_PATH", Path(sys.prefix) / "sj014"))

_SJ014_SCRIPT = textwrap.dedent(
    """
    import torch, torch.nn as nn
    import spikingjelly
    from spikingjelly.clock_driven import neuron, layer, functional
    assert spikingjelly.__file__.startswith(%(root)r), spikingjelly.__file__
    import energymodel as em

    T, B = 4, 3
    torch.manual_seed(0)

    class Net(nn.Module):  # the Spikformer / Spike-driven Transformer style: [T, B, ...]
        def __init__(self):
            super().__init__()
            self.fc1 = layer.SeqToANNContainer(nn.Linear(6, 10))
            self.lif = neuron.MultiStepLIFNode(tau=2.0, v_threshold=0.5, detach_reset=True)
            self.fc2 = layer.SeqToANNContainer(nn.Linear(10, 7))
            self.ifn = neuron.MultiStepIFNode(v_threshold=0.5)
            self.fc3 = layer.SeqToANNContainer(nn.Linear(7, 5))
            self.plif = neuron.MultiStepParametricLIFNode(v_threshold=0.3)
            self.fc4 = nn.Linear(5, 4)
            self.single = neuron.LIFNode(v_threshold=0.3)  # single-step, looped below
            for m in (self.fc1[0], self.fc2[0], self.fc3[0], self.fc4):
                nn.init.uniform_(m.weight, -0.2, 0.7)

        def forward(self, x):
            y = self.plif(self.fc3(self.ifn(self.fc2(self.lif(self.fc1(x))))))
            return torch.stack([self.single(self.fc4(y[t])) for t in range(T)])

    net = Net().eval()
    x = torch.rand(T, B, 6)
    spk, n = {}, {}
    def hook(name):
        def f(m, i, o):
            spk[name] = spk.get(name, 0.0) + o.sum().item()
            n[name] = n.get(name, 0) + o.numel()
        return f
    hs = [m.register_forward_hook(hook(k)) for k, m in net.named_modules()
          if isinstance(m, neuron.BaseNode)]
    with torch.no_grad():
        net(x)
    for h in hs:
        h.remove()
    functional.reset_net(net)
    prof = em.profile(net, (x,), batch_dim=1, timesteps=T)
    rows = prof.layers.query("kind == 'neuron'").set_index("layer")
    assert set(rows.index) == set(spk), (list(rows.index), list(spk))
    want = {"lif": T * B * 10, "ifn": T * B * 7, "plif": T * B * 5, "single": T * B * 4}
    for k in spk:
        assert rows.loc[k, "neuron_updates"] == n[k] == want[k], (k, rows.loc[k], n[k])
        assert rows.loc[k, "spikes_out"] == spk[k], (k, rows.loc[k, "spikes_out"], spk[k])
    assert sum(spk.values()) > 0
    assert list(rows.loc[["lif", "ifn", "plif", "single"], "op"]) == ["lif", "if", "plif", "lif"]
    assert set(prof.layers["kind"]) == {"synaptic", "neuron"}, prof.layers[["site", "kind"]]

    # reset=True: MultiStep* nodes carry v into the next call until reset()
    xi = torch.full((2, B, 4), 0.3)
    def spread(reset):
        node = neuron.MultiStepIFNode(v_threshold=1.0)
        r = em.Profiler(node, batch_dim=1, reset=reset).run([xi, xi], progress=False)
        return r.rate_spread().iloc[0]
    a, b = spread(True), spread(False)
    assert a["rate_max"] == 0.0 and b["rate_max"] == 0.5, (a, b)
    print("SJ014-OK", spikingjelly.__file__)
    """
)


@pytest.mark.skipif(
    not (SJ014 / "spikingjelly" / "clock_driven" / "neuron.py").exists(),
    reason=f"spikingjelly 0.0.0.0.14 not installed at {SJ014} (make venv installs it there)",
)
def test_spikingjelly_clock_driven_0014_in_a_subprocess():
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SJ014), str(REPO)])
    env.setdefault("OMP_NUM_THREADS", "1")
    r = subprocess.run(
        [sys.executable, "-c", _SJ014_SCRIPT % {"root": str(SJ014)}],
        env=env, capture_output=True, text=True, timeout=120, cwd=str(REPO),
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "SJ014-OK" in r.stdout


class BlockWithVProjection(nn.Module):
    """A user's attention-style block: ``self.v`` is a projection and ``reset()`` resets the
    neurons inside. It is not a neuron; its linears must be counted."""

    def __init__(self):
        super().__init__()
        self.v = nn.Linear(4, 4)
        self.lif = HomeMadeNeuron()

    def reset(self):
        self.lif.reset()

    def forward(self, x):
        return self.lif(self.v(x))


def test_fallback_does_not_swallow_a_block_whose_v_is_a_submodule():
    blk = BlockWithVProjection()
    assert find_adapter(blk) is None
    assert find_adapter(blk.lif) is not None
    prof = em.profile(blk, (torch.rand(2, 4),))
    assert set(prof.layers["op"]) == {"linear", "neuron"}

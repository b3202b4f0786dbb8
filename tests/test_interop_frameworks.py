"""sinabs and norse neurons counted, a user's own neuron registered, and a warning where a
threshold runs outside every recognised neuron.

Oracles: sinabs 3.1.3's own ``SNNAnalyzer`` (synops per layer and per model, firing rates);
hand loops over the spikes for norse. Convention differences are stated where they are tested
(and in docs/interop.md)."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn as nn

import energymodel as em

sinabs = pytest.importorskip("sinabs")
sl = pytest.importorskip("sinabs.layers")
nt = pytest.importorskip("norse.torch")
from sinabs.activation import SingleSpike  # noqa: E402
from sinabs.synopcounter import SNNAnalyzer  # noqa: E402

B, T = 2, 6


def _sinabs_net(pool: nn.Module, spike_fn=SingleSpike) -> nn.Sequential:
    """A conv SNN with pooling in sinabs' squeezed layout ([B*T, C, H, W])."""
    n = nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1), sl.IAFSqueeze(batch_size=B, spike_fn=spike_fn), pool,
        nn.Conv2d(8, 8, 3, padding=1), sl.IAFSqueeze(batch_size=B, spike_fn=spike_fn),
        nn.Flatten(), nn.Linear(8 * 4 * 4, 10), sl.IAFSqueeze(batch_size=B, spike_fn=spike_fn))
    torch.manual_seed(1)
    for m in n:
        if hasattr(m, "weight"):
            nn.init.uniform_(m.weight, -0.1, 0.6)
    return n


def _sinabs_oracle(n: nn.Module, x: torch.Tensor) -> tuple[dict, dict, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        an = SNNAnalyzer(n)
        n(x)
        layer = an.get_layer_statistics()
        model = an.get_model_statistics()
    sinabs.reset_states(n)
    synops = {k: float(v["synops"]) for k, v in layer["parameter"].items()}
    rates = {k: float(v["firing_rate"]) for k, v in layer["spiking"].items()}
    return synops, rates, float(model["synops"])


def _x() -> torch.Tensor:
    torch.manual_seed(0)
    return (torch.rand(B * T, 2, 8, 8) < 0.3).float()


def test_sinabs_sumpool_synops_and_rates_equal_snnanalyzer():
    """With SumPool2d the pooled spikes are integer counts; our ACs (a value k costs k
    accumulates, at the exact per-position fan-out) equal sinabs' synops layer by layer and in
    sum. sinabs averages over the batch: we compare per sample. The squeezed [B*T] input holds
    B samples, so the profile is taken per call (batch_dim=None) and divided by B."""
    n, x = _sinabs_net(sl.SumPool2d(2)), _x()
    synops, rates, model_synops = _sinabs_oracle(n, x)
    prof = em.profile(n, x, batch_dim=None)
    lay = prof.layers.set_index("layer")
    syn = lay[lay["kind"] == "synaptic"]
    for name, want in synops.items():
        assert float(syn.loc[name, "acs"]) / B == pytest.approx(want, rel=1e-6), name
    assert float(syn["acs"].sum()) / B == pytest.approx(model_synops, rel=1e-6)
    neu = lay[lay["kind"] == "neuron"]
    for name, want in rates.items():
        assert float(neu.loc[name, "spikes_out"] / neu.loc[name, "neuron_updates"]) == \
            pytest.approx(want, rel=1e-6), name
        assert int(neu.loc[name, "timesteps"]) == T
    assert syn.loc["3", "in_kind"] == "integer" and "gt" not in prof.unrecognized


def test_sinabs_avgpool_layer_and_model_synops_disagree_and_why():
    """sinabs' per-layer synops multiply the layer after an AvgPool2d by k^2 (the spike events
    that fed the pool); its model-level sum adds the unscaled figure: the two disagree by
    exactly that factor on that layer. We count avg-pooled values (multiples of 1/k^2) as
    analog inputs, priced as dense MACs; the other layers equal both sinabs figures."""
    n, x = _sinabs_net(nn.AvgPool2d(2)), _x()
    synops, _, model_synops = _sinabs_oracle(n, x)
    assert model_synops == pytest.approx(synops["0"] + synops["3"] / 4 + synops["6"], rel=1e-6)
    lay = em.profile(n, x, batch_dim=None).layers.set_index("layer")
    assert lay.loc["3", "in_kind"] == "analog" and float(lay.loc["3", "acs"]) == 0
    assert float(lay.loc["3", "macs"]) == float(lay.loc["3", "dense_macs"]) > 0
    for name in ("0", "6"):
        assert float(lay.loc[name, "acs"]) / B == pytest.approx(synops[name], rel=1e-6)


def test_sinabs_batch_time_layout_and_multispike():
    """The unsqueezed layers take [B, T, ...]: T is read from dim 1, every step of every
    neuron is one update, and the default MultiSpike emits integer spike counts (scanned, not
    claimed binary)."""
    torch.manual_seed(0)
    iaf = sl.IAF()
    x = torch.rand(B, T, 5) * 3
    prof = em.profile(nn.Sequential(iaf), x, batch_dim=0)
    row = prof.per_sample().set_index("kind").loc["neuron"]
    with torch.no_grad():
        sinabs.reset_states(iaf)
        want = iaf(x)
    assert int(row["timesteps"]) == T and float(row["neuron_updates"]) == T * 5
    assert float(row["spikes_out"]) == pytest.approx(float(want.sum()) / B)
    assert float(want.max()) > 1   # several spikes in one step: integer output
    steps = prof.timesteps()   # per-timestep spikes along T (dim 1), summed over the batch
    assert steps["spikes_out"].tolist() == want.sum(dim=(0, 2)).tolist()


def test_norse_multistep_and_cell_count_like_a_hand_loop():
    torch.manual_seed(0)
    x = (torch.rand(T, B, 20) < 0.5).float() * 3
    model = nt.SequentialState(nn.Linear(20, 30), nt.LIF(), nn.Linear(30, 5))
    prof = em.profile(model, x, batch_dim=1)
    with torch.no_grad():
        z, _ = nt.LIF()(model[0](x))
    neu = prof.per_sample().set_index("kind").loc["neuron"]
    assert int(neu["timesteps"]) == T and float(neu["neuron_updates"]) == T * 30
    assert float(neu["spikes_out"]) == pytest.approx(float(z.sum()) / B)
    fc2 = prof.per_sample().set_index("site").loc["2:linear#0"]
    assert float(fc2["acs"]) == pytest.approx(float(z.sum()) / B * 5)
    assert "gt" not in prof.unrecognized and "heaviside" not in prof.unrecognized

    class Loop(nn.Module):   # a single-step cell, the state passed in and out by the model
        def __init__(self):
            super().__init__()
            self.fc, self.cell = nn.Linear(20, 30), nt.LIFCell()

        def forward(self, x):
            s, out = None, []
            for t in range(x.shape[0]):
                z, s = self.cell(self.fc(x[t]), s)
                out.append(z)
            return torch.stack(out)

    loop = Loop()
    prof = em.profile(loop, x, batch_dim=1, timesteps=T)
    with torch.no_grad():
        z = loop(x)
    neu = prof.per_sample().set_index("kind").loc["neuron"]
    assert float(neu["neuron_updates"]) == T * 30
    assert float(neu["spikes_out"]) == pytest.approx(float(z.sum()) / B)
    assert prof.diagnostics().empty or "unrecognised_neuron" not in set(prof.diagnostics()["check"])


class _Hand(nn.Module):
    """A neuron no framework knows: membrane in ``mem``, cleared by ``clear()``, [B, T, N]."""

    def __init__(self) -> None:
        super().__init__()
        self.mem = None

    def clear(self) -> None:
        self.mem = None

    def forward(self, x):
        m, out = torch.zeros_like(x[:, 0]), []
        for t in range(x.shape[1]):
            m = 0.5 * m + x[:, t]
            s = (m > 1).float()
            m = m * (1 - s)
            out.append(s)
        self.mem = m
        return torch.stack(out, 1)


def _hand_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), _Hand(), nn.Linear(16, 4)), \
        (torch.rand(B, T, 8) < 0.5).float()


def test_unregistered_neuron_is_named_in_a_warning():
    net, x = _hand_net()
    d = em.profile(net, x, batch_dim=0).diagnostics()
    w = d[d["check"] == "unrecognised_neuron"]
    assert len(w) == 1 and "no neuron recognised in '1 (_Hand)'" in w["message"].iloc[0]
    assert "register" in w["message"].iloc[0]
    assert (d["check"] == "no_neuron").sum() == 1   # and the model as a whole: one line


def test_registered_neuron_is_counted_as_a_hand_loop_does():
    net, x = _hand_net()
    adapter = em.register_neuron(_Hand, state="mem", reset="clear", timesteps=1)
    try:
        prof = em.profile(net, x, batch_dim=0)
        with torch.no_grad():
            s = net[1](net[0](x))
        neu = prof.per_sample().set_index("kind").loc["neuron"]
        assert int(neu["timesteps"]) == T and float(neu["neuron_updates"]) == T * 16
        assert float(neu["spikes_out"]) == pytest.approx(float(s.sum()) / B)
        assert prof.timesteps()["spikes_out"].tolist() == s.sum(dim=(0, 2)).tolist()  # dim 1
        assert "unrecognised_neuron" not in set(prof.diagnostics()["check"])
    finally:
        em.unregister_neuron(adapter)
    assert em.register_neuron is not None
    with pytest.raises(TypeError):
        em.register_neuron(int)
    with pytest.raises(ValueError):
        em.register_neuron(_Hand, timesteps="sideways")


def test_ops_on_weights_only_are_listed_apart_not_warned():
    """A sqrt / abs of a parameter touches no activation: a note, not an op 'without a rule'
    (which fails --strict); an op without a rule on an activation still warns."""

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.g, self.lif = nn.Linear(4, 4), nn.Parameter(torch.ones(4)), em.LIF()

        def forward(self, x):
            return self.lif(self.fc(x) * torch.rsqrt(self.g.abs() + 1) + torch.erf(x))

    torch.manual_seed(0)
    prof = em.profile(M(), (torch.rand(3, 1, 4) < 0.5).float(), batch_dim=1)
    assert prof.unrecognized == {"erf": 1}
    assert prof.model_info["weight_only_ops"] == ["abs -> 1", "rsqrt -> 1"]
    d = prof.diagnostics().set_index("check")
    assert d.loc["weight_only", "level"].tolist() == ["note", "note"]
    assert d.loc["no_rule", "level"] == "warning"
    # inputs by keyword, or nested in lists and dicts: still told from the weights
    class D(nn.Module):
        def forward(self, x, extra=None):
            return torch.erf(x) + torch.erf(extra["y"][0])

    x = torch.rand(2, 4)
    prof = em.profile(D(), {"x": x, "extra": {"y": [x + 1]}}, batch_dim=None)
    assert prof.unrecognized == {"erf": 2} and not prof.model_info["weight_only_ops"]


def test_layers_that_disagree_on_T_are_named():
    """One neuron run over T x B steps (a layout bug that leaks state between samples) beside
    neurons run over T: warned, naming the layer."""

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = em.LIF(), em.LIF()

        def forward(self, x):                      # x: [T, B, N]
            y = self.a(x)
            return self.b(y.reshape(-1, 1, y.shape[-1]))   # [T*B, 1, N]: T x B "steps"

    prof = em.profile(M(), torch.rand(4, 2, 8) * 2, batch_dim=1)
    d = prof.diagnostics()
    w = d[d["check"] == "timesteps_disagree"]
    assert len(w) == 1 and "'b:" in w["message"].iloc[0] and "ran 8 steps" in w["message"].iloc[0]


def test_share_of_energy_priced_as_macs_is_noted():
    """Two convolutions with no neuron between them: the second one's input is analog, priced
    as MACs; the report notes the share and the largest layers."""
    net = nn.Sequential(nn.Conv2d(2, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1), em.LIF())
    torch.manual_seed(0)
    x = (torch.rand(2, 1, 2, 8, 8) < 0.3).float().flatten(0, 1)
    rep = em.estimate(em.profile(net, x, batch_dim=0), "cmos45nm")
    n = rep.diagnostics[rep.diagnostics["check"] == "mac_share"]
    assert len(n) == 1 and n["level"].iloc[0] == "note"
    assert "of the energy on cmos45nm is priced as MACs" in n["message"].iloc[0]
    assert "1:conv2d#0" in n["message"].iloc[0]


def _counts(prof, ops=("linear",)):
    lay = prof.layers
    return (lay[lay["op"].isin(ops)]["acs"].tolist(),
            lay[lay["kind"] == "neuron"][["neuron_updates", "spikes_out"]].to_numpy().tolist())


def test_nir_round_trip_from_sinabs_equals_the_original():
    """sinabs.to_nir -> our NIR loader: the same counts, layer by layer. sinabs steps are unit
    time (its IF exports r = 1), so dt = 1. Its default reset (MembraneSubtract) has no NIR
    form (NIR's IF resets to v_reset): the export is exact with MembraneReset."""
    pytest.importorskip("nirtorch")
    from sinabs.activation import MembraneReset

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(10, 16), sl.IAFSqueeze(batch_size=B, spike_fn=SingleSpike, reset_fn=MembraneReset()),
        nn.Linear(16, 4), sl.IAFSqueeze(batch_size=B, spike_fn=SingleSpike, reset_fn=MembraneReset()))
    for m in net:
        if hasattr(m, "weight"):
            nn.init.uniform_(m.weight, 0, 0.5)
    x = (torch.rand(B * T, 10) < 0.4).float()
    graph = sinabs.to_nir(net, x)
    ours = em.profile(net, x, batch_dim=None)
    sinabs.reset_states(net)
    back = em.nir.profile_nir(graph, x.reshape(B, T, 10), dt=1.0)
    assert _counts(back) == _counts(ours)
    assert _counts(ours)[1][0][1] > 0   # the layers fire


def test_nir_round_trip_from_norse_equals_the_original_once_its_tau_is_right():
    """norse.to_nir -> our NIR loader. norse 1.1.0 writes a LIFBoxCell's tau as
    dt / tau_mem_inv (1e-5 s for tau_mem_inv = 100 /s, dt = 1 ms) where NIR's tau is the time
    constant itself, 1 / tau_mem_inv = 10 ms: read as written, the graph fires far more than the
    model. With tau corrected, every count equals the original's."""
    pytest.importorskip("nirtorch")
    torch.manual_seed(0)
    cell = nt.LIFBoxCell(nt.LIFBoxParameters(tau_mem_inv=torch.tensor(100.0),
                                             v_th=torch.tensor(0.5)))
    net = nt.SequentialState(nn.Linear(10, 16), cell, nn.Linear(16, 4))

    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            s, out = None, []
            for t in range(x.shape[0]):
                y, s = self.net(x[t], s)
                out.append(y)
            return torch.stack(out)

    x = (torch.rand(8, B, 10) < 0.4).float() * 4
    graph = nt.to_nir(net, x[0, 0])
    assert float(graph.nodes["1"].tau) == pytest.approx(1e-3 / 100)   # norse's export, as is
    ours = em.profile(Loop(), x, batch_dim=1, timesteps=8)
    as_written = em.nir.profile_nir(graph, x.transpose(0, 1), dt=1e-3)
    assert _counts(as_written)[0][0] == _counts(ours)[0][0]       # first layer: same input
    assert _counts(as_written)[1] != _counts(ours)[1]             # the neurons differ
    graph.nodes["1"].tau = torch.tensor(1 / 100)
    fixed = em.nir.profile_nir(graph, x.transpose(0, 1), dt=1e-3)
    assert _counts(fixed) == _counts(ours)

"""The ecosystem counts (synapses inside neurons, NeuroBench's MembraneUpdates, model_stats)
under the profiler's lifecycle of issue 9: the per-call journal (a failed call leaves no
count), nested profilers, torch.inference_mode, a BaseException caught inside a neuron; and the
CLI's NIR path with --data and --out .json (inputs and NeuroBench side by side).
Expected values are hand counts or a second, clean run of the same model."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import energymodel as em
from energymodel.cli import app

snn = pytest.importorskip("snntorch")

_COLS = ["calls", "dense_macs", "macs", "acs", "neuron_updates", "spikes_out", "state_changes",
         "nb_acs", "nb_macs", "nb_dense"]


class _LinearLeakyNet(nn.Module):
    """snntorch's LinearLeaky (an nn.Linear inside the neuron), optionally raising after it."""

    def __init__(self):
        super().__init__()
        self.cell = snn.LinearLeaky(beta=0.9, in_features=8, out_features=4)
        self.fail: type[BaseException] | None = None

    def forward(self, x):
        y = self.cell(x)
        if self.fail is not None:
            raise self.fail("broken batch")
        return y


def _table(prof: em.Profile):
    return prof.layers.set_index("site")[_COLS]


def _x(seed: int = 0) -> torch.Tensor:
    return (torch.rand(5, 2, 8, generator=torch.Generator().manual_seed(seed)) < 0.5).float()


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_a_failed_call_leaves_no_synapse_or_membrane_counts(exc):
    torch.manual_seed(0)
    net = _LinearLeakyNet()
    x = _x()
    with em.Profiler(net, batch_dim=1) as p:
        with torch.no_grad():
            net(x)
            net.fail = exc
            with pytest.raises(exc):
                net(_x(1))
            net.fail = None
            net(x)
    with em.Profiler(net, batch_dim=1) as ref:
        with torch.no_grad():
            net(x)
            net(x)
    got, want = _table(p.result()), _table(ref.result())
    assert got.equals(want), (got, want)
    # by hand: the inner linear's ACs are input events x 4 outputs, on both good calls
    assert got.loc["cell.linear:linear#0", "acs"] == 2 * x.sum().item() * 4
    assert got.loc["cell.linear:linear#0", "calls"] == 2  # one linear over all T steps per call
    assert p.result().samples == 4


class _Flaky(nn.Linear):
    raise_next = False

    def forward(self, x):
        if _Flaky.raise_next:
            _Flaky.raise_next = False
            raise KeyboardInterrupt  # skips the post-hooks (only Exceptions run them)
        return super().forward(x)


class _CatchesInsideSynapse(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = snn.LinearLeaky(beta=0.9, in_features=8, out_features=4)
        self.cell.linear = _Flaky(8, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        try:
            y = self.cell(x)[0]  # (spikes, membrane)
        except KeyboardInterrupt:
            y = torch.zeros(*x.shape[:2], 4)
        return self.head(y)


def test_a_base_exception_caught_inside_a_synapse_closes_it():
    """The inner linear's frame is closed when the next module outside the neuron starts: the
    neuron's own arithmetic is not counted afterwards (its element-wise ops would show up as
    extra sites), and the head still is."""
    torch.manual_seed(0)
    net = _CatchesInsideSynapse()
    x = (torch.rand(2, 3, 8) < 0.5).float()  # [T, B, 8]
    with em.Profiler(net, batch_dim=1) as p:
        with torch.no_grad():
            _Flaky.raise_next = True
            net(x)  # the inner linear raises, the model goes on with zeros
            net(x)
    lay = p.result().layers
    with em.Profiler(net, batch_dim=1) as ref:
        with torch.no_grad():
            net(x)
    clean = ref.result().layers
    assert set(lay["site"]) == set(clean["site"])  # no neuron-internal op became a site
    row = lay.set_index("site")
    assert row.loc["head:linear#0", "calls"] == 2
    assert row.loc["cell.linear:linear#0", "calls"] == 1  # only the completed call
    assert row.loc["cell.linear:linear#0", "acs"] == x.sum().item() * 4


def test_nested_profilers_count_synapses_inside_neurons_once_each():
    torch.manual_seed(0)
    net = _LinearLeakyNet()
    x = _x()
    with em.Profiler(net, batch_dim=1) as outer:
        with em.Profiler(net, batch_dim=1) as inner:
            with torch.no_grad():
                net(x)
    a, b = _table(outer.result()), _table(inner.result())
    assert a.equals(b), (a, b)
    assert a.loc["cell.linear:linear#0", "acs"] == x.sum().item() * 4


def test_inference_mode_counts_synapses_and_membrane_changes_as_no_grad():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(8, 6), snn.Leaky(beta=0.9, init_hidden=True),
                        nn.Linear(6, 3, bias=False), snn.Leaky(beta=0.8, init_hidden=True))
    x = (torch.rand(4, 2, 8) < 0.5).float()

    def run(ctx) -> em.Profile:
        with em.Profiler(net, batch_dim=0, timesteps=4, calls_per_sample=4) as p:
            with ctx():
                for t in range(4):
                    net(x[t])
        return p.result()

    a, b = run(torch.inference_mode), run(torch.no_grad)
    assert _table(a).equals(_table(b))
    # a silent input leaves the second layer's membranes as they were: fewer changes than
    # updates, unless every step had an input spike into every neuron
    assert a.layers["state_changes"].sum() <= a.layers["neuron_updates"].sum()
    assert a.neurobench() == b.neurobench()


def test_profile_carries_model_info_and_model_stats_through_json_and_merge():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), em.LIF())
    with torch.no_grad():
        net[0].weight[0, :] = 0
    prof = em.profile(net, torch.rand(2, 4))
    assert prof.model_info["neurons"] == ["2"] and prof.model_info["uncalibrated_bn"] == ["1"]
    # 4 x 3 weights + 3 biases + 3 + 3 BN affine, fp32; zero weights: one row of 4
    assert prof.model_stats["param_bytes"] == (12 + 3 + 3 + 3) * 4
    assert prof.model_stats["connection_zeros"] == 4
    back = em.Profile.from_json(prof.to_json())
    assert back.model_info == prof.model_info and back.model_stats == prof.model_stats
    both = prof.merge(back)
    assert both.model_stats == prof.model_stats
    assert both.model_info["root_calls"] == 2 * prof.model_info["root_calls"]
    assert both.neurobench()["ConnectionSparsity"] == pytest.approx(4 / 12)


# ------------------------------------------------------------------ the CLI's NIR path
nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")


def _nir_file(tmp_path) -> str:
    from snntorch.export_nir import export_to_nir  # noqa: PLC0415

    torch.manual_seed(0)
    shape = (16,)
    net = nn.Sequential(
        nn.Linear(20, 16),
        snn.Leaky(beta=torch.full(shape, 0.9), threshold=torch.ones(shape), init_hidden=True,
                  reset_mechanism="zero", reset_delay=False),
        nn.Linear(16, 5, bias=False),
        snn.Leaky(beta=torch.full((5,), 0.8), threshold=torch.ones(5), init_hidden=True,
                  reset_mechanism="zero", reset_delay=False, output=True))
    g = export_to_nir(net, torch.rand(3, 20), ignore_dims=[0])
    g.metadata = {"dt": 1e-4}
    path = str(tmp_path / "ff.nir")
    nir.write(path, g)
    return path


def test_cli_nir_on_data_writes_inputs_and_neurobench_to_json(tmp_path):
    path = _nir_file(tmp_path)
    data = tmp_path / "spikes.pt"
    x = (torch.rand(6, 8, 20, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    torch.save(x, data)  # [N, T, 20]: batch-first sequences, as a NIR graph takes them
    out = tmp_path / "ff.json"
    r = CliRunner().invoke(app, ["profile", path, "--data", str(data), "-T", "8", "-b", "4",
                                 "--neurobench", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "SynapticOperations.Effective_ACs" in r.output
    d = json.loads(out.read_text())
    assert d["samples"] == 6 and d["batches"] == 2 and "spikes.pt" in d["inputs"]
    nb = d["neurobench"]
    assert nb["SynapticOperations"]["Dense"] == 8 * (20 * 16 + 16 * 5)  # per sample, T = 8
    # by hand: the first layer's effective ACs are input events x 16 outputs, per sample
    first = x.sum().item() * 16 / 6
    assert nb["SynapticOperations"]["Effective_ACs"] >= first - 1e-9
    assert nb["SynapticOperations"]["Effective_MACs"] == 0


def test_cli_nir_refuses_time_major_data_and_model_args(tmp_path):
    path = _nir_file(tmp_path)
    data = tmp_path / "spikes.pt"
    torch.save(torch.zeros(8, 2, 20), data)
    r = CliRunner().invoke(app, ["profile", path, "--data", str(data), "-T", "8",
                                 "--time-major"])
    assert r.exit_code == 2 and "time-major" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(app, ["profile", path, "-T", "8", "--model-arg", "beta=0.5"])
    assert r.exit_code == 2 and "--model-arg" in r.output

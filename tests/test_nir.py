"""NIR graphs in: snntorch's NIR export loaded back gives the counts of the original model,
each primitive's dynamics against hand-computed spike trains, and bad input as one error line."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import energymodel as em
from energymodel.cli import app
from energymodel.common.errors import UserError

nir = pytest.importorskip("nir")
pytest.importorskip("nirtorch")
snn = pytest.importorskip("snntorch")
from snntorch.export_nir import export_to_nir  # noqa: E402

runner = CliRunner()
DT = 1e-4  # what snntorch's export assumes


def _leaky(shape: tuple[int, ...], beta: float, **kw) -> nn.Module:
    # NIR's LIF resets to v_reset at once: snntorch's zero reset without delay. Per-neuron
    # parameters, so that the exported types are complete.
    return snn.Leaky(beta=torch.full(shape, beta), threshold=torch.ones(shape), init_hidden=True,
                     reset_mechanism="zero", reset_delay=False, **kw)


def _feedforward() -> nn.Module:
    return nn.Sequential(nn.Linear(20, 16), _leaky((16,), 0.9), nn.Linear(16, 5, bias=False),
                         _leaky((5,), 0.8, output=True))


def _convolutional() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), _leaky((4, 8, 8), 0.9), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 4 * 4, 10), _leaky((10,), 0.9, output=True))


def _export(net: nn.Module, shape: tuple[int, ...], path, metadata: dict | None = None) -> str:
    g = export_to_nir(net, torch.rand(3, *shape), ignore_dims=[0])
    if metadata:
        g.metadata = metadata
    nir.write(str(path), g)
    return str(path)


def _profile_steps(net: nn.Module, x: torch.Tensor) -> tuple[em.Profile, torch.Tensor]:
    T = x.shape[1]
    with em.Profiler(net, batch_dim=0, timesteps=T, calls_per_sample=T, reset=True) as p:
        with torch.no_grad():
            out = torch.stack([net(x[:, t])[0] for t in range(T)], 1)
    return p.result(), out


_COUNTS = ["dense_macs", "macs", "acs", "neuron_updates", "spikes_out", "state_changes",
           "nb_acs", "nb_macs", "nb_dense", "weight_reads", "bias_reads"]


def _by_kind(prof: em.Profile) -> dict:
    return prof.layers.groupby("kind")[_COUNTS].sum().to_dict()  # op names differ: lif, leaky


@pytest.mark.parametrize("make,shape,scale", [
    (_feedforward, (20,), 2.0), (_convolutional, (1, 8, 8), 8.0),
])
def test_snntorch_export_round_trip_gives_the_same_counts(tmp_path, make, shape, scale):
    torch.manual_seed(0)
    net = make()
    path = _export(net, shape, tmp_path / "net.nir")
    x = torch.rand(4, 8, *shape, generator=torch.Generator().manual_seed(1)) * scale
    ours = em.profile_nir(path, x, dt=DT)
    orig, out = _profile_steps(net, x)
    model = em.nir.load(path, dt=DT)
    with torch.no_grad():
        assert torch.equal(model(x), out)  # the same spikes, step for step
    assert _by_kind(ours) == _by_kind(orig)
    assert ours.samples == orig.samples == 4
    t = ours.totals()
    assert t["spikes_out"] > 0 and t["acs"] + t["macs"] > 0  # the comparison saw spikes
    assert ours.neurobench()["SynapticOperations"] == orig.neurobench()["SynapticOperations"]


def test_recurrent_export_counts_the_recurrent_synapses(tmp_path):
    """snntorch's RLeaky exports as LIF <-> Linear; nirtorch feeds each step's spikes through
    the recurrent weights (the last step's too): ACs = 16 x all hidden spikes."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Linear(20, 16),
        snn.RLeaky(beta=torch.full((16,), 0.9), threshold=torch.ones(16), linear_features=16,
                   init_hidden=True, reset_mechanism="zero", reset_delay=False),
        nn.Linear(16, 5), _leaky((5,), 0.8, output=True))
    path = _export(net, (20,), tmp_path / "rec.nir")
    B, T = 3, 6
    x = torch.rand(B, T, 20, generator=torch.Generator().manual_seed(2)) * 2
    prof = em.profile_nir(path, x, dt=DT)
    lay = prof.layers.set_index("layer")
    rec = lay.loc["graph.1_w_rec"]
    hidden = lay.loc["graph.1_lif"]
    assert hidden["op"] == "lif" and hidden["spikes_out"] > 0
    assert rec["calls"] == T
    assert rec["dense_macs"] == B * T * 16 * 16
    assert rec["acs"] == 16 * hidden["spikes_out"]
    assert rec["macs"] == 0


def _graph(*nodes, **meta) -> "nir.NIRGraph":
    g = nir.NIRGraph.from_list(*nodes)
    if meta:
        g.metadata = dict(meta)
    return g


def _run(g, x, dt=None) -> torch.Tensor:
    with torch.no_grad():
        return em.nir.load(g, dt=dt)(x)


def test_neuron_dynamics_by_hand():
    one = np.ones(1)
    # IF: v += dt r I; r=1, dt=1, threshold 1.5 (strict), constant input 1: 1, 2*, 1, 2*, 1, 2*
    g = _graph(nir.Input(np.array([1])), nir.IF(r=one, v_threshold=1.5 * one), nir.Output(np.array([1])))
    z = _run(g, torch.ones(1, 6, 1), dt=1.0)
    assert z.flatten().tolist() == [0, 1, 0, 1, 0, 1]
    # LIF: tau = 2 dt, r = 2 -> v <- v/2 + I; input 1: 1, 1.5, 1.75* (thr 1.6) reset 0, 1, 1.5 ...
    g = _graph(nir.Input(np.array([1])),
               nir.LIF(tau=2 * one, r=2 * one, v_leak=0 * one, v_threshold=1.6 * one),
               nir.Output(np.array([1])), dt=1.0)
    z = _run(g, torch.ones(1, 6, 1))
    assert z.flatten().tolist() == [0, 0, 1, 0, 0, 1]
    # CubaLIF: tau_syn = tau_mem = 2, w_in = 2, r = 2: i = i/2 + S; v = v/2 + i
    g = _graph(nir.Input(np.array([1])),
               nir.CubaLIF(tau_syn=2 * one, tau_mem=2 * one, r=2 * one, v_leak=0 * one,
                           v_threshold=2.0 * one, w_in=2 * one), nir.Output(np.array([1])))
    z = _run(g, torch.tensor([[[1.0], [0.0], [0.0], [1.0], [1.0]]]), dt=1.0)
    # i: 1, .5, .25, 1.125, 1.5625; v: 1, 1, .75, 1.5, 2.3125* -> spike at the last step
    assert z.flatten().tolist() == [0, 0, 0, 0, 1]
    # Delay of 2 steps, Scale, Threshold, SumPool2d
    g = _graph(nir.Input(np.array([2])), nir.Delay(delay=np.array([2e-3, 0.0])),
               nir.Scale(scale=np.array([3.0, -1.0])), nir.Output(np.array([2])))
    y = _run(g, torch.tensor([[[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]]), dt=1e-3)
    assert y[0].tolist() == [[0.0, -1.0], [0.0, -2.0], [3.0, 0.0]]
    g = _graph(nir.Input(np.array([3])), nir.Threshold(threshold=np.array([0.0, 1.0, 2.0])),
               nir.Output(np.array([3])))
    assert _run(g, torch.ones(1, 1, 3)).flatten().tolist() == [1, 0, 0]
    pool = nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]),
                         padding=np.array([0, 0]))
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([1, 4, 4])), "pool": pool,
                            "output": nir.Output(np.array([1, 2, 2]))},
                     edges=[("input", "pool"), ("pool", "output")], type_check=False)
    y = _run(g, torch.arange(16.0).reshape(1, 1, 1, 4, 4))
    assert y.flatten().tolist() == [10.0, 18.0, 42.0, 50.0]


def test_neurons_are_counted_as_neurons_and_analog_nodes_op_by_op():
    one = np.ones(4)
    g = _graph(nir.Input(np.array([4])), nir.Affine(weight=np.eye(4), bias=np.zeros(4)),
               nir.LIF(tau=2 * one, r=2 * one, v_leak=0 * one, v_threshold=0.5 * one),
               nir.Linear(weight=np.ones((2, 4))), nir.LI(tau=2 * np.ones(2), r=np.ones(2),
                                                          v_leak=np.zeros(2)),
               nir.Output(np.array([2])), dt=1.0)
    x = torch.tensor([[[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 0, 0]]])
    prof = em.profile_nir(g, x)
    lay = prof.layers
    neu = lay[lay["kind"] == "neuron"]
    assert neu["op"].tolist() == ["lif"] and neu["neuron_updates"].sum() == 3 * 4
    assert neu["spikes_out"].sum() == 2  # each input fires its neuron once
    assert lay.loc[lay["op"] == "linear", "acs"].tolist() == [2 * 4, 2 * 2]  # events x outputs
    assert prof.samples == 1
    assert not (lay["op"] == "li").any()  # the leaky integrator is analog: its ops, no neuron


def test_dt_from_metadata_and_its_conflicts(tmp_path):
    torch.manual_seed(0)
    path = _export(_feedforward(), (20,), tmp_path / "m.nir", metadata={"dt": DT})
    m = em.nir.load(path)
    assert m.dt == pytest.approx(DT) and m.dt_source == "metadata"
    assert em.nir.load(path, dt=DT).dt_source == "metadata"
    with pytest.raises(UserError, match="metadata says dt"):
        em.nir.load(path, dt=1e-3)
    bare = _export(_feedforward(), (20,), tmp_path / "bare.nir")
    with pytest.raises(UserError, match="--nir-dt"):
        em.nir.load(bare)
    assert em.nir.load(bare, dt=2e-4).dt_source == "argument"


def _cli(*args: str):
    return runner.invoke(app, ["profile", *args])


def _one_error_line(r, *needles: str) -> None:
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.output
    for n in needles:
        assert n in lines[0], lines[0]


def test_bad_nir_input_is_one_error_line(tmp_path):
    import h5py

    garbage = tmp_path / "garbage.nir"
    garbage.write_bytes(b"not hdf5 at all")
    _one_error_line(_cli(str(garbage), "-T", "2"), "garbage.nir", "not a readable NIR file")

    torch.manual_seed(0)
    path = _export(_feedforward(), (20,), tmp_path / "unknown.nir")
    with h5py.File(path, "r+") as f:
        del f["node/nodes/1/type"]
        f["node/nodes/1/type"] = np.bytes_("SpiralNeuron")
    _one_error_line(_cli(path, "-T", "2", "--nir-dt", "1e-4"), "node '1'", "SpiralNeuron")

    # inconsistent shapes inside the graph: 20 -> 16 into a neuron layer of 10
    g = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([20])),
               "fc": nir.Affine(weight=np.ones((16, 20)), bias=np.zeros(16)),
               "lif": nir.IF(r=np.ones(10), v_threshold=np.ones(10)),
               "output": nir.Output(np.array([10]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    bad = tmp_path / "mismatch.nir"
    nir.write(str(bad), g)
    _one_error_line(_cli(str(bad), "-T", "2", "--nir-dt", "1"), "mismatch.nir", "shapes do not fit")

    # the input shape given does not fit the graph's input type
    ok = _export(_feedforward(), (20,), tmp_path / "ok.nir")
    _one_error_line(_cli(ok, "-T", "2", "--nir-dt", "1e-4", "--input-shape", "21"), "21", "(20,)")
    _one_error_line(_cli(ok, "--nir-dt", "1e-4"), "--timesteps")


def test_cli_profiles_a_nir_file_with_neurobench(tmp_path):
    torch.manual_seed(0)
    path = _export(_feedforward(), (20,), tmp_path / "ff.nir", metadata={"dt": DT})
    out = tmp_path / "ff.json"
    r = _cli(path, "--input", "spikes:0.3", "-T", "8", "--hw", "cmos45nm", "--hw", "loihi",
             "--neurobench", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "SynapticOperations.Effective_ACs" in r.output and "MembraneUpdates" in r.output
    d = json.loads(out.read_text())
    nb = d["neurobench"]
    assert nb["SynapticOperations"]["Dense"] == 8 * (20 * 16 + 16 * 5)  # per sample, T = 8
    assert nb["SynapticOperations"]["Effective_MACs"] == 0  # spike input: all ACs
    assert nb["Footprint"] > 0 and 0 < nb["ActivationSparsity"] < 1


def test_missing_packages_say_how_to_install(monkeypatch):
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name in ("nir", "nirtorch"):
            raise ImportError(f"No module named {name!r}")
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(UserError, match=r"energymodel\[nir\]"):
        em.nir.load("whatever.nir")


def test_our_module_does_not_shadow_the_nir_package():
    assert em.nir.__name__ == "energymodel.interop.nir"
    assert sys.modules["nir"] is nir and hasattr(nir, "NIRGraph")


def test_scalar_neuron_parameters_broadcast():
    """A LIF with scalar parameters (type []) after a 16-wide layer is no shape mismatch: it
    broadcasts, as snntorch's Leaky(beta=0.9) does; the Input node still gives the shape."""
    s = np.array(1.0)
    g = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([3])),
               "fc": nir.Linear(weight=np.ones((4, 3))),
               "lif": nir.LIF(tau=2 * s, r=2 * s, v_leak=0 * s, v_threshold=2.5 * s),
               "output": nir.Output(np.array([4]))},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")], type_check=False)
    m = em.nir.load(g, dt=1.0)
    assert m.input_shape == (3,)
    z = m(torch.tensor([[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]]]))  # v: 2, then 1 + 2 = 3 > 2.5
    assert z[0].tolist() == [[0.0] * 4, [1.0] * 4]

"""Layers that loop over time, hand-written neurons, integer spikes, script modules, LayerNorm
calibration and sums over time (issue 26). Each test uses a small hand-written model of that
shape and checks the counts by hand. (One weight per layer in the mapping: test_mapping.py.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

import energymodel as em
from energymodel.cli import app
from energymodel.common.errors import UserError
from energymodel.pricing import mapping


def _write_module(tmp_path, name: str, body: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(body))


HAND = '''
    import torch, torch.nn as nn
    class Hand(nn.Module):                     # the membrane is a local variable
        def forward(self, x):                  # [B, T, N]
            m, out = torch.zeros_like(x[:, 0]), []
            for t in range(x.shape[1]):
                m = 0.5 * m + x[:, t]
                s = (m > 1).float()
                m = m * (1 - s)
                out.append(s)
            return torch.stack(out, 1)
    class Net(nn.Module):
        input_shape = (4, 8)
        def __init__(self):
            super().__init__()
            self.fc, self.n, self.out = nn.Linear(8, 16), Hand(), nn.Linear(16, 4)
        def forward(self, x):
            return self.out(self.n(self.fc(x)))
    def make():
        return Net()
'''


def test_hand_written_neuron_is_named_and_no_T_none_is_printed(tmp_path, monkeypatch):
    _write_module(tmp_path, "loopmod", HAND)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("loopmod", None)
    r = CliRunner().invoke(app, ["profile", "loopmod:make", "--hw", "cmos45nm"],
                           catch_exceptions=False)
    assert r.exit_code == 0
    flat = " ".join(r.stdout.split())
    assert "T=None" not in flat and "T=? (no neuron recognised)" in flat
    assert "nan" not in r.stdout.lower()
    assert "no neuron recognised in 'n (Hand)'" in r.stderr
    r = CliRunner().invoke(app, ["profile", "loopmod:make", "--hw", "cmos45nm", "--strict"],
                           catch_exceptions=False)
    assert r.exit_code == 3


#: two spiking branches summed (values 0, 1, 2) into a linear layer; one source for the API
#: tests (exec'd here) and the CLI test (written as a module)
SEW_SRC = '''
import torch, torch.nn as nn, energymodel as em
class SEW(nn.Module):
    input_shape = (6,)
    def __init__(self):
        super().__init__()
        self.a, self.b = em.LIF(v_threshold=0.2), em.LIF(v_threshold=0.2)
        self.fc = nn.Linear(6, 3)
    def forward(self, x):
        return self.fc(self.a(x) + self.b(x))
def make():
    return SEW()
'''
_ns: dict = {}
exec(SEW_SRC, _ns)  # noqa: S102  (test code of our own)
_SEW = _ns["SEW"]


def _sew_profile(**kw):
    torch.manual_seed(0)
    x = torch.rand(4, 2, 6)
    return em.profile(_SEW(), x, batch_dim=1, **kw), x


def test_integer_spikes_named_once_with_share_and_convention():
    prof, x = _sew_profile()
    with torch.no_grad():
        net = _SEW()
        s = net.a(x) + net.b(x)
    fc = prof.layers.set_index("site").loc["fc:linear#0"]
    assert fc["in_kind"] == "integer" and float(fc["acs"]) == pytest.approx(float(s.sum()) * 3)
    d = prof.diagnostics()
    n = d[d["check"] == "integer_inputs"]
    assert len(n) == 1 and n["level"].iloc[0] == "note"
    assert "fc:linear#0 (100% of SOPs)" in n["message"].iloc[0]
    rep = em.estimate(prof, "cmos45nm")
    assert "integer spike inputs (residual sums) as k accumulates per value k" in rep.convention()
    mac, _ = _sew_profile(options=em.CountOptions(integer_spikes="mac"))
    rep = em.estimate(mac, "cmos45nm")
    assert "one MAC per non-zero element" in rep.convention()
    fcm = mac.layers.set_index("site").loc["fc:linear#0"]
    assert float(fcm["macs"]) == pytest.approx(float((s != 0).sum()) * 3)


def test_cli_integer_spikes_option(tmp_path, monkeypatch):
    _write_module(tmp_path, "sewmod", SEW_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("sewmod", None)
    runner = CliRunner()
    args = ["profile", "sewmod:make", "--hw", "cmos45nm", "--input", "spikes:0.5", "--no-layers"]
    acs = runner.invoke(app, args, catch_exceptions=False)
    mac = runner.invoke(app, args + ["--integer-spikes", "mac"], catch_exceptions=False)
    assert acs.exit_code == mac.exit_code == 0
    assert "as k accumulates per value k" in " ".join(acs.stdout.split())   # wrapped prose
    assert "as one MAC per non-zero element" in " ".join(mac.stdout.split())
    bad = runner.invoke(app, args + ["--integer-spikes", "dense"])
    assert bad.exit_code == 2 and "--integer-spikes must be 'acs' or 'mac'" in bad.stderr


def test_acs_and_sops_are_two_names_for_two_totals():
    """An average pool's additions are accumulates (``acs``) but not synaptic operations
    (``sops``, what the CLI shows and the energy prices)."""
    net = nn.Sequential(nn.Linear(4, 16), em.LIF(v_threshold=0.1), nn.Unflatten(-1, (1, 4, 4)),
                        nn.Flatten(0, 1), nn.AvgPool2d(2))
    torch.manual_seed(0)
    prof = em.profile(net, torch.rand(3, 2, 4), batch_dim=1)
    t = prof.totals()
    syn = prof.layers[prof.layers["kind"].isin(("synaptic", "attention"))]["acs"].sum()
    pool = prof.layers[prof.layers["op"] == "avg_pool"]["acs"].sum() if (
        prof.layers["op"] == "avg_pool").any() else t["acs"] - syn
    assert t["sops"] == syn and t["acs"] == pytest.approx(syn + pool)
    rep = em.estimate(prof, "cmos45nm")
    assert float(rep.totals["sops"].iloc[0]) == pytest.approx(t["sops"] / prof.samples)


def test_script_submodules_are_refused_in_one_line_by_api_and_cli(tmp_path, monkeypatch):
    _write_module(tmp_path, "jitmod", '''
        import torch, torch.nn as nn
        class Block(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(4, 4)
            def forward(self, x):
                return torch.relu(self.fc(x))
        class Eager(nn.Module):
            input_shape = (4,)
            def __init__(self):
                super().__init__()
                self.block = torch.jit.script(Block())
                self.head = nn.Linear(4, 2)
            def forward(self, x):
                return self.head(self.block(x))
        def make():
            return Eager()
    ''')
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("jitmod", None)
    import jitmod

    with pytest.raises(UserError, match=r"TorchScript part\(s\) block .*PYTORCH_JIT=0"):
        em.profile(jitmod.make(), torch.rand(2, 4))
    cmd = [sys.executable, "-m", "energymodel", "profile", "jitmod:make", "--hw", "cmos45nm"]
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "block" in lines[0] and "PYTORCH_JIT=0" in lines[0]
    # the workaround works: under PYTORCH_JIT=0 the block runs eagerly and is counted
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env=dict(env, PYTORCH_JIT="0"))
    assert r.returncode == 0, r.stderr
    assert "block.fc:linear#0" in r.stdout


def test_calibrate_on_a_layernorm_model_says_nothing_was_calibrated(tmp_path, monkeypatch):
    _write_module(tmp_path, "lnmod", '''
        import torch.nn as nn, energymodel as em
        def make():
            net = nn.Sequential(nn.Linear(8, 8), nn.LayerNorm(8), em.LIF())
            net.input_shape = (8,)
            return net
    ''')
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("lnmod", None)
    r = CliRunner().invoke(app, ["profile", "lnmod:make", "--hw", "cmos45nm", "--calibrate",
                                 "--no-layers"], catch_exceptions=False)
    assert r.exit_code == 0
    assert "nothing calibrated: no BatchNorm" in " ".join(r.stdout.split())
    assert "BatchNorm calibrated" not in r.stdout


def test_a_sum_over_time_is_named_for_what_it_is():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.n = nn.Linear(8, 8), em.LIF(v_threshold=0.2)

        def forward(self, x):                  # [T, B, 8]
            return self.n(self.fc(x)).sum(dim=0)

    torch.manual_seed(0)
    prof = em.profile(M(), (torch.rand(4, 1, 8) < 0.5).float(), batch_dim=1)
    m = mapping.map_network(prof, em.load_hardware("loihi"))
    assert any("1 reduction(s) over activations (sums over time or tokens)" in n for n in m.notes)
    assert not any("attention products" in n for n in m.notes)

"""Issue 9, items 9, 10, 11: reports list ops without a count rule, ``Profile.diagnostics()``
warns on implausible runs (CLI ``warning:`` lines, ``--strict`` exit 3), and the CLI header
gives the T the profiler saw. Every expected value is set by construction."""

from __future__ import annotations

import json
import re
import sys
import textwrap

import pandas as pd
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import energymodel as em
from energymodel.cli import app
from energymodel.counting.diagnostics import SATURATED_RATE, warning_lines
from energymodel.report import tables


class _Odd(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return torch.exp(self.fc(x)).cumsum(0)


# ------------------------------------------------------------------ item 9: every output
@pytest.mark.parametrize("suffix", ["csv", "json", "md", "tex"])
def test_every_report_format_lists_ops_without_a_rule(tmp_path, suffix):
    rep = em.estimate(em.profile(_Odd(), torch.rand(2, 4)), "cmos45nm")
    path = tmp_path / f"r.{suffix}"
    tables.write_energy_report(rep, path, caption="Tiny.")
    text = path.read_text()
    assert "exp" in text and "cumsum" in text
    if suffix == "csv":
        rows = pd.read_csv(path)
        assert sorted(rows.loc[rows["kind"] == "no_rule", "op"]) == ["cumsum", "exp"]
    if suffix == "json":
        assert json.loads(text)["unrecognized"] == {"exp": 1, "cumsum": 1}


# ------------------------------------------------------------------ item 10: diagnostics
class _Implausible(nn.Module):
    """By construction: ``hot`` fires at every step (input 10: h = 5 > 1), ``cold`` never
    (input 0), ``unused`` never runs, ``bn`` has its initial statistics, ``fc`` reads integer
    spikes of value 2 (ACs = 2 x dense MACs), and ``exp`` has no count rule."""

    def __init__(self):
        super().__init__()
        self.hot, self.cold, self.unused = em.LIF(), em.LIF(), em.LIF()
        self.bn = nn.BatchNorm1d(4)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):  # x: [T, B, 4]
        self.hot(torch.full_like(x, 10.0))
        self.cold(torch.zeros_like(x))
        self.bn(x[0])
        return self.fc(torch.full_like(x, 2.0)).exp()


def test_diagnostics_flag_each_implausible_site():
    net = _Implausible().eval()
    prof = em.profile(net, torch.rand(2, 3, 4), batch_dim=1)
    d = prof.diagnostics()
    assert list(d.columns[:3]) == ["level", "site", "message"]
    assert set(d["level"]) == {"warning", "note"}
    found = sorted(zip(d["check"], d["site"]))
    assert found == [
        ("integer_inputs", ""),       # a note: fc reads the value 2 (integer), named once
        ("neuron_never_ran", "unused"),
        ("no_rule", "exp"),
        ("saturated_layer", "hot:lif#0"),
        ("silent_layer", "cold:lif#0"),
        ("uncalibrated", "bn"),
    ]
    note = d[d["check"] == "integer_inputs"]["message"].iloc[0]
    assert note.startswith("1 layer(s) read integer spikes") and "fc:linear#0 (100% of SOPs)" in note
    # what the profiler noted survives serialisation and merging
    back = em.Profile.from_json(prof.to_json())
    assert back.diagnostics().equals(d)
    assert sorted(prof.merge(back).diagnostics()["check"]) == sorted(d["check"])
    # a calibrated, firing network is quiet on those counts
    with torch.no_grad():
        net.bn.running_mean.fill_(0.5)
    assert "uncalibrated" not in set(em.profile(net, torch.rand(2, 3, 4), batch_dim=1)
                                     .diagnostics()["check"])
    assert SATURATED_RATE == 0.95


def test_silent_network_is_one_warning_and_many_findings_group():
    net = nn.Sequential(*[em.LIF() for _ in range(5)])
    d = em.profile(net, torch.zeros(2, 1, 3), batch_dim=1).diagnostics()
    assert list(d["check"]) == ["silent_network"]
    many = pd.DataFrame({"level": ["warning"] * 5, "site": list("abcde"),
                         "message": ["m"] * 5, "check": ["silent_layer"] * 5})
    assert warning_lines(many) == [
        "warning: 5 neuron layers never spiked (rate 0): a, b, c, ... (2 more)"]


# ------------------------------------------------------------------ CLI: items 10 and 11
NOT_SEEN_T = textwrap.dedent(
    """
    import torch
    from torch import nn
    import energymodel as em


    class NoT(nn.Module):  # runs T = 3 steps inside, has no T attribute
        input_shape = (4,)

        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.bn = nn.BatchNorm1d(4)
            self.lif = em.LIF()

        def forward(self, x):
            return self.lif(self.bn(self.fc(x)).unsqueeze(0).repeat(3, 1, 1) * 3.0)


    def make():
        torch.manual_seed(0)
        return NoT()
    """
)


def test_cli_header_gives_seen_T_and_strict_turns_warnings_into_exit_3(tmp_path, monkeypatch):
    (tmp_path / "notmod.py").write_text(NOT_SEEN_T)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("notmod", None)
    runner = CliRunner()
    args = ["profile", "notmod:make", "--no-layers", "--batch-size", "2"]
    r = runner.invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0
    assert re.search(r"notmod:make: 2 sample\(s\)[^\n]*, T=3,", r.stdout)
    # the BatchNorm still has its initial statistics: one warning line on stderr
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("warning: ")]
    assert len(warn) == 1 and "BatchNorm 'bn'" in warn[0]
    out = tmp_path / "r.json"
    r = runner.invoke(app, args + ["--strict", "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 3
    diag = json.loads(out.read_text())["diagnostics"]
    assert [d["check"] for d in diag if d["level"] == "warning"] == ["uncalibrated"]
    assert all(d["level"] == "note" for d in diag if d["check"] != "uncalibrated")


def test_timesteps_given_to_a_model_that_does_not_loop_over_time_warns():
    """-T / timesteps=4 on a model whose single-step neurons run once per sample: the counts are
    for one step; the profile says T=1 and warns, instead of labelling them T=4."""
    from energymodel.counting.diagnostics import seen_timesteps

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 4), em.LIF(step_mode="s", v_threshold=0.1))
    x = torch.rand(3, 8)
    with em.Profiler(net, timesteps=4) as p:
        net(x)
    prof = p.result()
    assert seen_timesteps(prof) == 1
    d = prof.diagnostics()
    msg = d.loc[d["check"] == "timesteps", "message"].tolist()
    assert len(msg) == 1 and "ran 1 step(s) per sample" in msg[0]
    # the same model looped 4 times per sample is what timesteps=4 means: no warning, T = 4
    with em.Profiler(net, timesteps=4, calls_per_sample=4) as p:
        for _ in range(4):
            net(x)
    prof = p.result()
    assert seen_timesteps(prof) == 4 and "timesteps" not in set(prof.diagnostics()["check"])
    # through the CLI: the header gives the T that ran, and a warning line says why
    mod = textwrap.dedent('''
        import torch, energymodel as em
        def make():
            torch.manual_seed(0)
            return torch.nn.Sequential(torch.nn.Linear(8, 4), em.LIF(step_mode="s", v_threshold=0.1))
    ''')
    import tempfile, pathlib
    with tempfile.TemporaryDirectory() as d:
        pathlib.Path(d, "onestep.py").write_text(mod)
        sys.path.insert(0, d)
        try:
            sys.modules.pop("onestep", None)
            r = CliRunner().invoke(app, ["profile", "onestep:make", "--input-shape", "8", "-T", "4",
                                         "--no-layers"], catch_exceptions=False)
        finally:
            sys.path.remove(d)
    assert r.exit_code == 0, r.output
    assert re.search(r", T=1,", r.stdout)
    assert any(ln.startswith("warning: ") and "timesteps=4 was given" in ln
               for ln in r.stderr.splitlines())

"""The command line end to end: typer's runner and a real subprocess; every output format read
back to the API's numbers; every user error exits 2 with a one-line reason and leaves no file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from energymodel.cli import app
from energymodel.common.errors import UserError
from energymodel.report import tables, terminal
from energymodel.workflow import input_batches, parse_input_shape, profile_model_spec

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

TINY = textwrap.dedent(
    """
    import torch
    from torch import nn
    import energymodel as em


    class Tiny(nn.Module):
        input_shape = (8,)
        T = 2

        def __init__(self, hidden=16):
            super().__init__()
            self.fc1 = nn.Linear(8, hidden)
            self.lif = em.LIF()
            self.fc2 = nn.Linear(hidden, 4)

        def forward(self, x):  # [B, 8] -> [B, 4]
            x = x.unsqueeze(0).repeat(self.T, 1, 1)
            return self.fc2(self.lif(self.fc1(x) * 3.0)).mean(0)


    def make():
        torch.manual_seed(0)
        return Tiny()


    def make_wide():
        torch.manual_seed(0)
        return Tiny(hidden=32)


    def not_a_model():
        return 42
    """
)


@pytest.fixture()
def tinymod(tmp_path, monkeypatch):
    """A user module ``tinymod`` importable in this process and in subprocesses."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "tinymod.py").write_text(TINY)
    monkeypatch.syspath_prepend(str(pkg))
    sys.modules.pop("tinymod", None)
    out = tmp_path / "out"
    out.mkdir()
    return pkg, out


def _invoke(args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


# ----------------------------------------------------------------------- parse-back helpers
def _totals_api(**kw) -> dict[str, float]:
    run = profile_model_spec("tinymod:make", ["cmos45nm", "loihi"], batches=2, batch_size=3, **kw)
    return dict(zip(run.report.totals["hardware"], run.report.totals["total_mj"]))


def _totals_csv(path: Path) -> dict[str, float]:
    df = pd.read_csv(path)
    return (df.groupby("hardware")["total_pj"].sum() / 1e9).to_dict()


def _totals_json(path: Path) -> dict[str, float]:
    d = json.loads(path.read_text())
    return {r["hardware"]: r["total_mj"] for r in d["totals"]}


_TO_MJ = {"pJ": 1e-9, "nJ": 1e-6, "µJ": 1e-3, r"$\mu$J": 1e-3, "mJ": 1.0, "J": 1e3}


def _unit_of(header: str) -> float:
    r"""mJ per unit of a human header such as ``Total (µJ)`` (LaTeX: stacked, ``$\mu$J``)."""
    m = re.search(r"\((pJ|nJ|µJ|\$\\mu\$J|mJ|J)\)", header)
    assert m, header
    return _TO_MJ[m.group(1)]


def _totals_md(path: Path) -> dict[str, float]:
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    tot = next(i for i, h in enumerate(head) if h.startswith("Total ("))
    out = {}
    for ln in lines[2:]:
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if len(cells) != len(head):
            break  # the per-layer table starts
        out[cells[head.index("Hardware")]] = float(cells[tot]) * _unit_of(head[tot])
    return out


def _totals_tex(path: Path) -> dict[str, float]:
    text = path.read_text()
    assert r"\begin{tabular}" in text and r"\bottomrule" in text
    head = None
    out = {}
    for ln in text.splitlines():
        if "&" not in ln:
            continue
        cells = [c.strip() for c in ln.split("&")]
        cells[-1] = cells[-1][:-2].strip() if cells[-1].endswith("\\\\") else cells[-1]
        if head is None:
            head = cells
            continue
        tot = next(i for i, h in enumerate(head) if "Total" in h)
        out[cells[0]] = float(cells[tot]) * _unit_of(head[tot])
    return out


READERS = {".csv": _totals_csv, ".json": _totals_json, ".md": _totals_md, ".tex": _totals_tex}


def test_profile_every_format_reads_back_to_the_api_numbers(tinymod):
    _, out = tinymod
    want = _totals_api()
    assert set(want) == {"cmos45nm", "loihi"} and all(v > 0 for v in want.values())
    for ext, read in READERS.items():
        path = out / f"tiny{ext}"
        r = _invoke(["profile", "tinymod:make", "--hw", "cmos45nm", "--hw", "loihi",
                     "--batches", 2, "--batch-size", 3, "--out", path])
        assert r.exit_code == 0, r.output
        got = read(path)
        assert set(got) == set(want), (ext, got)
        for h in want:  # md/tex carry 3 significant figures, in the unit their header names
            assert got[h] == pytest.approx(want[h], rel=5e-3 if ext in (".md", ".tex") else 1e-12), ext
    # the terminal shows the per-layer table and the totals, each in one named unit
    assert "per layer" in r.output and "totals, per sample; energy in " in r.output
    assert "fc1:linear#0" in r.output and "lif:lif#0" in r.output


def test_profile_batches_sum_counts_and_yaml_hardware_path(tinymod):
    _, out = tinymod
    one = profile_model_spec("tinymod:make", ["cmos45nm"], batches=1, batch_size=2)
    two = profile_model_spec("tinymod:make", [str(ROOT / "hwprofiles" / "cmos45nm.yaml")],
                             batches=3, batch_size=2)
    assert one.profile.samples == 2 and two.profile.samples == 6
    # first batch identical (same seed) -> same per-layer weight fan-out, counts scale with data
    assert two.profile.layers["neuron_updates"].sum() == 3 * one.profile.layers["neuron_updates"].sum()


def test_profile_as_a_subprocess(tinymod):
    pkg, out = tinymod
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(pkg)]), OMP_NUM_THREADS="1")
    path = out / "sub.json"
    p = subprocess.run([sys.executable, "-m", "energymodel", "profile", "tinymod:make",
                        "--hw", "cmos45nm", "--out", str(path)], capture_output=True, text=True,
                       env=env, cwd=out, timeout=120)
    assert p.returncode == 0, p.stderr
    assert _totals_json(path)["cmos45nm"] > 0
    bad = subprocess.run([sys.executable, "-m", "energymodel", "profile", "tinymod:make",
                          "--hw", "nosuchchip", "--out", str(out / "bad.csv")],
                         capture_output=True, text=True, env=env, cwd=out, timeout=120)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "nosuchchip" in bad.stderr
    assert "Traceback" not in bad.stderr and not (out / "bad.csv").exists()


def _bad_cases(out: Path, pkg: Path):
    ck_other = out.parent / "other.pth"
    torch.save({"w": torch.zeros(3)}, ck_other)
    return [
        (["profile", "nosuchmodule_xyz:make"], "nosuchmodule_xyz"),
        (["profile", "tinymod:missing_fn"], "missing_fn"),
        (["profile", "tinymod:not_a_model"], "not a torch.nn.Module"),
        (["profile", "no-such-zoo-model-9"], "no-such-zoo-model-9"),
        (["profile", "tinymod:make", "--checkpoint", out.parent / "nope.pth"], "nope.pth"),
        (["profile", "tinymod:make", "--checkpoint", ck_other], "does not fit"),
        (["profile", "tinymod:make", "--input-shape", "5"], "input"),
        (["profile", "tinymod:make", "--input-shape", "a,b"], "input shape"),
        (["profile", "tinymod:make", "--hw", "nosuchchip"], "nosuchchip"),
        (["profile", "tinymod:make", "--hw", out.parent / "missing.yaml"], "missing.yaml"),
        (["profile", "tinymod:make", "--mode", "fancy"], "fancy"),
        (["profile", "tinymod:make", "--sops", "magic"], "magic"),
        (["profile", "tinymod:make", "--precision", "fp99"], "fp99"),
        (["profile", "tinymod:make", "--hw", "cmos45nm", "--precision", "bf16"], "bf16"),
        (["profile", "tinymod:make", "--input", "poisson"], "poisson"),
        (["compare", "--dim", "30", "--heads", "4"], "divisible"),
        (["compare", "--hw", "nosuchchip"], "nosuchchip"),
    ]


def test_user_errors_exit_2_with_one_line_naming_the_problem_and_write_nothing(tinymod):
    pkg, out = tinymod
    for args, needle in _bad_cases(out, pkg):
        for ext in (".csv", ".tex"):
            target = out / f"result{ext}"
            r = runner.invoke(app, [str(a) for a in args] + ["--out", str(target)])
            assert r.exit_code == 2, (args, r.output)
            assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.exception)
            msg = r.output.strip()
            assert msg.startswith("error: ") and "\n" not in msg, (args, msg)
            assert needle in msg, (args, msg)
            assert "Traceback" not in r.output
            assert not target.exists() and not list(out.iterdir()), (args, list(out.iterdir()))


def test_unknown_output_suffix_and_missing_folder_fail_before_running(tinymod):
    _, out = tinymod
    r = _invoke(["profile", "tinymod:make", "--out", out / "x.xlsx"])
    assert r.exit_code == 2 and ".xlsx" in r.output
    r = _invoke(["profile", "tinymod:make", "--out", out / "nodir" / "x.csv"])
    assert r.exit_code == 2 and "does not exist" in r.output
    assert not list(out.iterdir())


def test_checkpoint_round_trip(tinymod, tmp_path):
    _, out = tinymod
    import tinymod as tm  # noqa: PLC0415

    m = tm.make()
    with torch.no_grad():
        m.fc1.weight.mul_(3.0)  # other weights than make() builds: more spikes
    ck = tmp_path / "ckpt.pth"
    torch.save({"state_dict": m.state_dict()}, ck)
    plain = profile_model_spec("tinymod:make", ["cmos45nm"])
    loaded = profile_model_spec("tinymod:make", ["cmos45nm"], checkpoint=ck)
    assert loaded.settings["checkpoint"] == str(ck)
    assert loaded.profile.totals()["spikes_out"] != plain.profile.totals()["spikes_out"]
    r = _invoke(["profile", "tinymod:make", "--checkpoint", ck, "--out", out / "ck.json"])
    assert r.exit_code == 0, r.output
    want = loaded.report.totals["total_mj"].iloc[0]
    assert _totals_json(out / "ck.json")["cmos45nm"] == pytest.approx(want, rel=1e-12)
    r = _invoke(["profile", "tinymod:make_wide", "--checkpoint", ck])
    assert r.exit_code == 2 and "does not fit" in r.output


def test_rate_estimated_sops_are_offered_and_named(tinymod):
    _, out = tinymod
    exact = profile_model_spec("tinymod:make", ["cmos45nm"], batch_size=4)
    rate = profile_model_spec("tinymod:make", ["cmos45nm"], batch_size=4,
                              estimate_options={"sops": "rate"})
    lay = rate.profile.per_sample()
    want = 4.6 * lay["macs"].sum() + 0.9 * lay.loc[lay["in_kind"] == "binary", "acs_rate"].sum()
    assert rate.report.totals["total_pj"].iloc[0] == pytest.approx(want)
    assert exact.report.totals["sops"].iloc[0] == lay["acs"].sum()
    r = _invoke(["profile", "tinymod:make", "-b", 4, "--sops", "rate", "--out", out / "r.tex"])
    assert r.exit_code == 0 and "rate-estimated SOPs" in (out / "r.tex").read_text()
    # the per-layer table shows the SOPs that were priced, so its column adds up to the totals
    from energymodel.report.tables import layer_energy_table
    from energymodel.report.terminal import layer_view

    # (a conv net: there the estimate and the exact count differ, at the borders)
    conv = profile_model_spec("sdt-1-64-tiny", ["cmos45nm"], timesteps=2,
                              estimate_options={"sops": "rate"})
    lt = layer_energy_table(conv.profile, conv.report)
    assert lt["acs"].sum() != pytest.approx(conv.profile.per_sample()["acs"].sum())
    assert lt["acs"].sum() == pytest.approx(conv.report.totals["sops"].iloc[0])
    assert "SOPs\n(rate)" in layer_view(conv.profile, conv.report)[0].columns
    assert "ACs" in layer_view(exact.profile, exact.report)[0].columns


def test_hw_show_of_an_unknown_chip_is_bad_input():
    r = runner.invoke(app, ["hw", "show", "nosuchchip"])
    assert r.exit_code == 2 and r.output.startswith("error: ") and "nosuchchip" in r.output


def test_help_of_every_command_has_examples():
    for cmd in (["profile"], ["compare"], ["report"]):
        r = _invoke(cmd + ["--help"])
        assert r.exit_code == 0 and "Example" in r.output, cmd
    r = runner.invoke(app, ["profile"])  # missing argument: typer's usage error
    assert r.exit_code == 2


# ----------------------------------------------------------------------- API helpers
def test_input_shape_and_generators():
    assert parse_input_shape("3,224,224") == (3, 224, 224)
    assert parse_input_shape("3x32x32") == (3, 32, 32)
    assert parse_input_shape(None) is None
    for bad in ("", "0,3", "-1", "a"):
        if bad == "":
            continue
        with pytest.raises(UserError):
            parse_input_shape(bad)
    a = list(input_batches((4,), 2, 3, "random", seed=1))
    b = list(input_batches((4,), 2, 3, "random", seed=1))
    assert len(a) == 3 and all(torch.equal(x, y) for x, y in zip(a, b))
    s = torch.cat(list(input_batches((1000,), 4, 2, "spikes:0.3", seed=0)))
    assert set(s.unique().tolist()) <= {0.0, 1.0} and abs(s.mean().item() - 0.3) < 0.02
    with pytest.raises(UserError):
        list(input_batches((4,), 1, 1, "spikes:2"))


def test_terminal_table_formatting():
    df = pd.DataFrame({"site": ["a" * 60, "b"], "in_rate": [0.1234, float("nan")],
                       "acs": [1_234_567.0, 0.0], "e": [3.2e-5, 12.0]})
    text = terminal.format_terminal(df, width=200)
    lines = text.splitlines()
    assert lines[0].split() == ["site", "in_rate", "acs", "e"]
    assert "a" * 60 in lines[2] and "0.123" in lines[2] and "1.23M" in lines[2]
    assert "3.20e-05" in lines[2] and "-" in lines[3].split()
    narrow = terminal.format_terminal(df, width=30)  # names cut from the left, then columns
    assert "…aaaa" in narrow and "not shown for width" in narrow
    assert all(len(ln) <= 30 for ln in narrow.splitlines() if not ln.startswith("(not"))
    assert terminal.format_si(2.5e9) == "2.5G" and terminal.format_si(0) == "0"


def test_profile_of_a_random_weight_zoo_model_is_reproducible():
    """Same seed, same numbers: the random initial weights are part of the seeded run."""
    torch.manual_seed(123)  # whatever the global state before, the run reseeds
    a = profile_model_spec("sdt-1-64-tiny", ["cmos45nm"], timesteps=2, seed=3)
    torch.rand(5)
    b = profile_model_spec("sdt-1-64-tiny", ["cmos45nm"], timesteps=2, seed=3)
    cols = ["acs", "macs", "spikes_out"]
    assert a.profile.layers[cols].equals(b.profile.layers[cols])
    c = profile_model_spec("sdt-1-64-tiny", ["cmos45nm"], timesteps=2, seed=4)
    assert not c.profile.layers["spikes_out"].equals(a.profile.layers["spikes_out"])

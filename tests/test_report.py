"""``energymodel compare`` and ``energymodel report``: the comparison table against its own
profiles and the closed form, every output format read back, and every report file made."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import energymodel as em
from energymodel.attention import build_attention
from energymodel.cli import app
from energymodel.report.compare import compare_attention

runner = CliRunner()
SHAPE = dict(tokens=16, dim=32, heads=4, timesteps=2)


@pytest.fixture(scope="module")
def small_cmp():
    return compare_attention(**SHAPE, hardware=["cmos45nm", "loihi"], rate=0.25, seed=3)


def test_compare_table_is_the_profiles_priced(small_cmp):
    df = small_cmp
    assert list(df["mechanism"]) == ["vanilla", "ssa", "sdsa", "sasa"]
    van = df.set_index("mechanism").loc["vanilla"]
    # vanilla: one step on the analog time-average of the same seeded input, all MACs
    g = torch.Generator().manual_seed(3)
    x = (torch.rand((2, 1, 16, 32), generator=g) < 0.25).float()
    torch.manual_seed(3)
    prof = em.profile(build_attention("vanilla", 32, 4).eval(), (x.mean(0, keepdim=True),),
                      batch_dim=1)
    assert van["macs"] == prof.layers["macs"].sum() and van["acs"] == 0
    # dense vanilla: 4 N D^2 projections + 2 N^2 D attention products
    assert van["macs"] == 4 * 16 * 32**2 + 2 * 16**2 * 32
    e = em.estimate(prof, "cmos45nm").totals["total_pj"].iloc[0]
    assert van["energy_pj[cmos45nm]"] == pytest.approx(e) == pytest.approx(van["macs"] * 4.6)
    # spiking blocks: exact ACs equal the closed form on the measured rates, no MACs
    spk = df[df["mechanism"] != "vanilla"]
    assert (spk["macs"] == 0).all() and (spk["acs"] > 0).all()
    assert spk["acs"].to_numpy() == pytest.approx(spk["analytic_acs"].to_numpy(), rel=1e-9)
    assert spk["energy_pj[cmos45nm]"].to_numpy() == pytest.approx(0.9 * spk["acs"].to_numpy())
    for h in ("cmos45nm", "loihi"):
        # one ratio direction everywhere: vanilla / x (times less energy than vanilla)
        assert df[f"vanilla_over_x[{h}]"].to_numpy() == pytest.approx(
            (van[f"energy_pj[{h}]"] / df[f"energy_pj[{h}]"]).to_numpy())
    assert "analog time-average" in df.attrs["caption"]
    assert "priced on cmos45nm" in df.attrs["caption"]  # vanilla's MACs on Loihi


def test_compare_cli_formats_read_back(small_cmp, tmp_path):
    args = ["compare", "--tokens", 16, "--dim", 32, "--heads", 4, "--timesteps", 2,
            "--rate", 0.25, "--seed", 3, "--hw", "cmos45nm", "--hw", "loihi"]
    want = small_cmp.set_index("mechanism")["energy_pj[loihi]"]
    for ext in (".csv", ".json", ".md", ".tex"):
        path = tmp_path / f"cmp{ext}"
        r = runner.invoke(app, [str(a) for a in args] + ["--out", str(path)],
                          catch_exceptions=False)
        assert r.exit_code == 0, r.output
        if ext == ".csv":
            got = pd.read_csv(path).set_index("mechanism")["energy_pj[loihi]"]
            tol = 1e-12
        elif ext == ".json":
            d = json.loads(path.read_text())
            assert d["meta"]["tokens"] == 16 and "analog" in d["caption"]
            got = pd.DataFrame(d["rows"]).set_index("mechanism")["energy_pj[loihi]"]
            tol = 1e-12
        else:
            # human tables: chip label and mechanism per row, block energy in the one unit the
            # header names, three significant figures
            text = path.read_text()
            sep = "|" if ext == ".md" else "&"
            rows = [ln for ln in text.splitlines() if sep in ln and "Intel Loihi" in ln]
            heads = [ln for ln in text.splitlines() if "Block" in ln]
            assert heads, text
            u = [k for k in ("pJ", "nJ", "µJ", "mJ") if (k if ext == ".md" else
                 k.replace("µ", r"$\mu$")) in heads[0]]
            assert len(u) == 1, heads[0]
            per = {"pJ": 1.0, "nJ": 1e3, "µJ": 1e6, "mJ": 1e9}[u[0]]
            got = {}
            for ln in rows:
                cells = [c.strip(" |\\") for c in ln.strip("|").split(sep)]
                got[cells[1].lower()] = float(cells[2]) * per
            got = pd.Series(got)
            tol = 5e-3  # three significant figures
        for m in want.index:
            assert got[m] == pytest.approx(want[m], rel=tol), (ext, m)
    assert "Vanilla / x" in r.output and "loihi" in r.output  # the terminal tables


def test_profile_zoo_model_through_the_cli(tmp_path):
    out = tmp_path / "sdt.csv"
    r = runner.invoke(app, ["profile", "sdt-1-64-tiny", "--hw", "cmos45nm", "--hw", "fpga",
                            "--timesteps", "2", "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert set(df["hardware"]) == {"cmos45nm", "fpga"}
    assert "block.0.attn" in " ".join(df["layer"].fillna("").tolist())
    assert "BatchNorm calibrated" in r.output and "T=2" in r.output


EXPECTED = [
    "README.md",
    *(f"{s}.{e}" for s in ("fig1_attention_by_hardware", "fig2_layer_breakdown",
                           "fig3_firing_rates", "fig4_attention_vs_tokens",
                           "fig5_reference_models", "fig6_hardware_cost", "fig7_validation",
                           "fig8_vs_ann")
      for e in ("png", "pdf")),
    *(f"{s}.{e}" for s in ("attention_compare", "attention_vs_tokens", "reference_models",
                           "hardware_cost", "published_rates", "validation", "vs_ann")
      for e in ("csv", "md", "tex", "json")),
    "layers.csv", "layers.json", "layers_totals.tex", "firing_rates.csv",
    "attention_compare_paper.md", "attention_compare_paper.tex",
]


def test_report_makes_every_listed_file(tmp_path):
    out = tmp_path / "reports"
    r = runner.invoke(app, ["report", "--out-dir", str(out), "--quick"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    made = sorted(p.name for p in out.iterdir())
    assert made == sorted(EXPECTED)
    for name in EXPECTED:
        data = (out / name).read_bytes()
        assert len(data) > 200, name
        if name.endswith(".png"):
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
        if name.endswith(".pdf"):
            assert data[:5] == b"%PDF-"
    index = (out / "README.md").read_text()
    for name in EXPECTED:
        if name.endswith(".png"):
            assert f"]({name})" in index
    ref = pd.read_csv(out / "reference_models.csv")
    assert len(ref) == 4 and (ref.filter(like="energy_mj[").to_numpy() > 0).all()
    # each row is what `energymodel profile MODEL --seed 0` gives, whatever ran before it
    from energymodel.workflow import profile_model_spec

    for m in ("vit-1-64-tiny", "sdt-1-64-tiny"):
        run = profile_model_spec(m, ["cmos45nm"], seed=0)
        got = float(ref.set_index("model").loc[m, "energy_mj[cmos45nm]"])
        assert got == pytest.approx(float(run.report.totals["total_mj"].iloc[0]), rel=1e-12)
    sweep = pd.read_csv(out / "attention_vs_tokens.csv")
    van = sweep[sweep["mechanism"] == "vanilla"].sort_values("tokens")
    sdsa = sweep[sweep["mechanism"] == "sdsa"].sort_values("tokens")
    # vanilla's attention core grows as N^2: x4 tokens -> x16 MACs
    n, core = van["tokens"].to_numpy(), van["attention_macs"].to_numpy()
    assert core[-1] / core[0] == pytest.approx((n[-1] / n[0]) ** 2)
    assert (sdsa["attention_macs"] == 0).all()

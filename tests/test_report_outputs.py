"""Outputs people read: one unit per table, three significant figures, LaTeX tables that fit a
page, terminal tables that keep the energy at 80 columns, figures without baked titles, and a
quick regeneration whose text equals the freshly computed values."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import energymodel as em
from energymodel.common import formatting as _tables
from energymodel.cli import app
from energymodel.report import figures, terminal
from energymodel.report.build import default_report_hardware
from energymodel.report.compare import compare_attention, energy_view
from energymodel.workflow import load_model, profile_model

runner = CliRunner()


# ------------------------------------------------------------------------- units and figures
@pytest.mark.parametrize("x, want", [
    (1126.3, "1130"), (0.00582, "0.00582"), (9.1, "9.10"), (236.94, "237"), (0.5, "0.500"),
    (1.126e9, "1.13e+09"), (6842666246.0, "6.84e+09"), (12.0, "12.0"), (7, "7"),
    (float("nan"), "-"), (0.0, "0"), (-0.01234, "-0.0123"),
])
def test_three_significant_figures(x, want):
    assert _tables.format_sig(x) == want


@pytest.mark.parametrize("values, unit", [
    ([5820.0, 101e3], "nJ"),     # README's trained example: 5.82 nJ .. 101 nJ (was mislabelled)
    ([5.82e6, 101e6], "µJ"),
    ([14.3e6, 323e6], "µJ"),
    ([1.4e10], "mJ"),
    ([999.7], "nJ"),             # prints 1.00 nJ, not 1000 pJ
    ([0.0, 12.0], "pJ"),
    ([], "pJ"),
])
def test_one_readable_unit(values, unit):
    u, per = _tables.pick_energy_unit(values)
    assert u == unit
    if values and max(values) > 0:
        assert 1 <= round(max(values) / per, 3) < 1000


def test_energy_columns_one_unit_named_in_headers():
    df = pd.DataFrame({"hardware": ["a", "b"], "compute_pj": [2.5e6, 3e3], "total_pj": [3e6, 9e8]})
    out, u = _tables.energy_columns(df, {"compute_pj": "Compute", "total_pj": "Total"})
    assert u == "µJ"
    assert list(out.columns) == ["hardware", "Compute (µJ)", "Total (µJ)"]
    assert out["Total (µJ)"].tolist() == [3.0, 900.0]


# ------------------------------------------------------------------------------- terminal
@pytest.fixture(scope="module")
def tiny_run():
    ms = load_model("sdt-1-64-tiny")
    prof = profile_model(ms.model, ms.input_shape, timesteps=2, calibrate=True, seed=0)
    rep = em.estimate(prof, ["cmos45nm", "loihi", "fpga"])
    return prof, rep


@pytest.mark.parametrize("width", [80, 100])
def test_terminal_keeps_every_energy_column(tiny_run, width):
    prof, rep = tiny_run
    df, unit, kw = terminal.layer_view(prof, rep)
    text = terminal.render(df, width=width, **kw)
    lines = text.splitlines()
    assert max(len(ln) for ln in lines) <= width
    head = "\n".join(lines[:3])
    for hw in ("cmos45nm", "loihi", "fpga"):
        assert hw in head
    assert f"({unit})" in head
    dropped = [ln for ln in lines if ln.startswith("(not shown")]
    assert not any(h in d for d in dropped for h in ("cmos45nm", "loihi", "fpga"))
    # every site's cmos45nm energy is printed, in the table's one unit, at three figures
    lay = rep.layers[rep.layers["hardware"] == "cmos45nm"].set_index("site")["total_pj"]
    per = dict(_tables.ENERGY_UNITS)[unit]
    body = "\n".join(lines)
    for site in df["site"]:
        v = lay[site] / per  # EnergyReport energies are per sample
        if v > 0:
            assert _tables.format_sig(v) in body


def test_depth_groups_like_torchinfo(tiny_run):
    prof, rep = tiny_run
    df, unit, kw = terminal.layer_view(prof, rep, depth=1)
    per = dict(_tables.ENERGY_UNITS)[unit]
    # groups by the first dotted part of the module path, in execution order
    assert df["module"].tolist()[:2] == ["patch_embed", "block"]
    lay = rep.layers[rep.layers["hardware"] == "loihi"]
    want = lay.groupby(lay["layer"].str.split(".").str[0], sort=False)["total_pj"].sum()
    col = [c for c in df.columns if c.startswith("loihi")][0]
    got = df.set_index("module")[col] * per
    for m, v in got.items():
        assert v == pytest.approx(want[m], rel=1e-9)
    # the groups cover the whole model's energy
    assert df[col].sum() * per == pytest.approx(rep.totals.set_index("hardware")
                                                .loc["loihi", "total_pj"])
    deeper, _, _ = terminal.layer_view(prof, rep, depth=2)
    assert len(deeper) > len(df) and "block.0" in deeper["module"].tolist()


def test_top_k_most_expensive(tiny_run):
    prof, rep = tiny_run
    lay = rep.layers.pivot_table(index="site", columns="hardware", values="total_pj", sort=False)
    for chip in (None, *lay.columns):   # ranked by the stated chip, by default the first
        df, unit, kw = terminal.layer_view(prof, rep, top=3, sort_by=chip)
        assert len(df) == 3
        key = chip or rep.totals["hardware"].iloc[0]
        assert df["site"].tolist() == lay[key].sort_values(
            ascending=False, kind="stable").index[:3].tolist()


def test_profile_cli_at_80_columns_shows_energy_and_no_progress(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    r = runner.invoke(app, ["profile", "sdt-1-64-tiny", "--hw", "cmos45nm", "--hw", "loihi",
                            "--hw", "fpga", "--timesteps", "2", "--batches", "2", "--depth", "1",
                            "--top", "2"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "not shown for width 80: cmos45nm" not in r.output
    for hw in ("cmos45nm", "loihi", "fpga"):
        assert hw in r.output
    assert "top 2 by energy" in r.output and "depth 1" in r.output
    # not a TTY: no tqdm bar, no calibration notice
    assert not re.search(r"batches:\s+\d+%", r.output) and "it/s" not in r.output
    assert "calibrating" not in r.output


# ------------------------------------------------------------- quick report: built once here
@pytest.fixture(scope="module")
def quick_reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    from energymodel.report.build import build_reports

    with figures.capture() as got:
        build_reports(out, quick=True)
    return out, {g["stem"]: g for g in got}


def _latex_headers(text: str) -> list[list[str]]:
    """Header row cells of every top-level tabular (stacked header lines joined)."""
    heads = []
    for block in re.findall(r"\\toprule\n(.*?)\\\\\n\\midrule", text, flags=re.S):
        cells = re.split(r"(?<!\\)&", block)
        out = []
        for c in cells:
            c = re.sub(r"\\begin\{tabular\}\[b\]\{@\{\}c@\{\}\}|\\end\{tabular\}", "", c)
            out.append(" ".join(x.strip() for x in c.split(r"\\")).strip())
        heads.append(out)
    return heads


def test_latex_tables_fit_a_page_without_tex(quick_reports):
    out, _ = quick_reports
    texs = sorted(out.glob("*.tex"))
    assert len(texs) == 9  # with hardware_cost, published_rates, validation and vs_ann
    for p in texs:
        text = p.read_text()
        cols = _tables.latex_tabular_columns(text)
        outer = [n for n in cols if n > 1]  # stacked header cells are one-column tabulars
        assert outer and max(outer) <= 8, (p.name, cols)
        for head in _latex_headers(text):
            assert len(head) <= 8
            for h in head:  # human headers: no snake_case, no [hw] keys
                assert r"\_" not in h and "[" not in h, (p.name, h)
        for v in re.findall(r"(?<![\w.{^-])-?\d+\.\d+(?:e[+-]\d+)?(?![\w.])", text):
            if "e" in v:
                continue
            digits = v.replace("-", "").replace(".", "").lstrip("0")
            assert len(digits) <= 3, (p.name, v)  # three significant figures at most


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed "
                    "(make latex-check installs it)")
def test_latex_tables_compile_without_overfull_box(quick_reports):
    out, _ = quick_reports
    r = subprocess.run([sys.executable, "-m", "energymodel.report.latex_check",
                        *map(str, sorted(out.glob("*.tex")))], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_markdown_tables_human_headers_one_unit(quick_reports):
    out, _ = quick_reports
    for p in sorted(out.glob("*.md")):
        if p.name == "README.md":
            continue
        for ln in p.read_text().splitlines():
            if ln.startswith("| ") and not ln.startswith("|--"):
                assert "_pj" not in ln and "_mj" not in ln and "[" not in ln, (p.name, ln)
        units = set(re.findall(r"\((pJ|nJ|µJ|mJ)\)", p.read_text()))
        tables = p.read_text().count("\n|--") + p.read_text().count("\n|-")
        assert len(units) <= max(1, tables), (p.name, units)


def test_figures_labels_and_no_titles(quick_reports):
    _, figs = quick_reports
    assert set(figs) == {"fig1_attention_by_hardware", "fig2_layer_breakdown",
                         "fig3_firing_rates", "fig4_attention_vs_tokens", "fig5_reference_models",
                         "fig6_hardware_cost", "fig7_validation", "fig8_vs_ann"}
    labels = {h: em.load_hardware(h).label for h in default_report_hardware()}
    for stem, f in figs.items():
        assert f["suptitle"] == "", stem
        assert all(a["title"] == "" for a in f["axes"]), stem
        assert not f["texts"], stem  # no footnote baked in: captions live in README.md
    f1 = figs["fig1_attention_by_hardware"]["axes"][0]
    assert f1["xticks"] == [labels[h] for h in default_report_hardware()]
    assert "Movidius NCS" not in f1["xticks"]          # a dense accelerator: not priced here
    assert "Intel Loihi" in f1["xticks"] and "loihi" not in f1["xticks"]
    f5 = figs["fig5_reference_models"]["axes"][0]
    assert set(labels.values()) <= set(f5["legend"])
    f6 = figs["fig6_hardware_cost"]["legends"]  # chips by label, below the panels
    assert "Intel Loihi" in f6 and "loihi" not in f6
    f7 = figs["fig7_validation"]["axes"][0]     # chips by label; log-log
    assert "Intel Loihi" in f7["legend"] and "IBM TrueNorth" in f7["legend"]
    assert "Movidius NCS" in f7["legend"]              # but its measured cases are
    # fig2: memory on its own panel
    a2 = figs["fig2_layer_breakdown"]["axes"]
    assert len(a2) == 2 and "memory" in a2[1]["ylabel"] and "memory" not in a2[0]["ylabel"]
    unit = lambda lab: lab.split("(")[1].split(",")[0]  # noqa: E731
    assert unit(a2[0]["ylabel"]) == unit(a2[1]["ylabel"])   # one unit for both panels
    assert any(lab.startswith("memory") for lab in a2[1]["legend"])
    assert not any(lab.startswith("memory") for lab in a2[0]["legend"])
    # fig4: the slope guides stay at least 2x away from every data point
    core = figs["fig4_attention_vs_tokens"]["axes"][0]["lines"]
    guides = [ln for ln in core if ln[0].startswith("∝")]
    data = [ln for ln in core if not ln[0].startswith("∝")]
    assert len(guides) == 2 and len(data) == 4
    for _, gx, gy in guides:
        g = dict(zip(gx, gy))
        for _, dx, dy in data:
            for x, y in zip(dx, dy):
                ratio = g[x] / y
                assert ratio >= 2 or ratio <= 0.5, (x, y, g[x])


def test_readme_captions_fig1_footnote(quick_reports):
    out, _ = quick_reports
    index = (out / "README.md").read_text()
    cap = [ln for ln in index.splitlines() if ln.startswith("**Figure 1.**")][0]
    for chip in ("Intel Loihi", "IBM TrueNorth", "FPGA (FireFly v2)"):
        assert chip in cap  # every host-priced vanilla bar is named, fpga's too
    assert all(f"**Figure {k}.**" in index for k in range(1, 7))


def test_quick_regeneration_matches_fresh_values(quick_reports):
    """The committed-style Markdown equals what freshly computed numbers print at three
    significant figures, and stays the same under a perturbation in the 9th digit (another
    machine's float rounding)."""
    out, _ = quick_reports
    from energymodel.report.build import report_plan

    c = report_plan(quick=True)["compare"]
    fresh = compare_attention(c["tokens"], c["dim"], c["heads"], c["timesteps"],
                              default_report_hardware(), rate=0.2, seed=0)
    text = (out / "attention_compare_paper.md").read_text()
    ev = energy_view(fresh, core=False)
    block = [k for k in ev.columns if k.startswith("Block")][0]
    for _, r in ev.iterrows():
        cells = f"| {r['Chip']}"
        line = [ln for ln in text.splitlines() if ln.startswith(cells) and
                f" {r['Mechanism']} " in ln][0]
        assert f" {_tables.format_sig(r[block])} " in line
        assert f" {_tables.format_sig(r['Vanilla / x'])} " in line
    wobble = fresh.copy()
    num = [k for k in wobble.columns if k.startswith(("energy_pj", "core_pj"))]
    wobble[num] = wobble[num] * (1 + 3e-9)
    for k in [k for k in wobble.columns if k.startswith("vanilla_over_x")]:
        wobble[k] = wobble[k] * (1 - 3e-9)
    a = _tables.to_markdown(energy_view(fresh, core=False))
    b = _tables.to_markdown(energy_view(wobble, core=False))
    assert a == b


def test_loader_progress_is_quiet_off_a_tty(capfd):
    """profile_loader draws its bar only on a TTY: under pytest stderr is a pipe."""
    import torch

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), em.LIF(step_mode="s"))
    loader = [torch.rand(2, 4) for _ in range(3)]
    prof = em.profile_loader(model, loader, progress=True)
    assert prof.samples == 6
    err = capfd.readouterr().err
    assert "batch" not in err and "%" not in err, err


def test_wide_latex_table_is_split_with_key_columns_repeated():
    df = pd.DataFrame({"Model": ["a", "b"], **{f"Chip {i} (mJ)": [1.0 * i, 2.0] for i in range(12)}})
    tex = _tables.to_latex(df, caption="Energy. More.", label="tab:x")
    cols = [n for n in _tables.latex_tabular_columns(tex) if n > 1]
    assert cols == [8, 6]  # Model + 7 chips, Model + the 5 others
    assert tex.count(r"\begin{table}") == 2 and r"\label{tab:x-2}" in tex
    assert tex.count("Model") == 2 and "(continued)" in tex
    heads = _latex_headers(tex)
    assert [h for hs in heads for h in hs if h != "Model"] == [
        rf"Chip {i} (mJ)" for i in range(12)]


def test_hardware_label_optional_text_defaulting_to_name():
    from energymodel.pricing.hardware import load_hardware_text, validate_hardware_text

    base = (em.load_hardware("cmos45nm").path)
    text = open(base, encoding="utf-8").read()
    assert em.load_hardware("loihi").label == "Intel Loihi"
    no_label = "\n".join(ln for ln in text.splitlines() if not ln.startswith("label:"))
    assert load_hardware_text(no_label).label == "cmos45nm"  # defaults to the name
    bad = text.replace("label: 45 nm CMOS", "label: ''")
    problems = validate_hardware_text(bad)
    assert [p.field for p in problems] == ["label"] and "non-empty text" in problems[0].message

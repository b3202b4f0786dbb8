"""What a researcher sees (issue 21): stable names, the hardware-cost table's labels, --top's
ranking chip, notebook rendering, three significant figures, LaTeX captions."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import pytest
from typer.testing import CliRunner

import energymodel as em
from energymodel.cli import app
from energymodel.report.compare import compare_attention
from energymodel.workflow import profile_model_spec


@pytest.fixture(scope="module")
def run():
    return profile_model_spec("sdt-1-64-tiny", ["cmos45nm", "loihi"], timesteps=2)


def test_old_compare_columns_answer_with_a_deprecation_warning():
    t = compare_attention(16, 32, 4, 2, ["cmos45nm"])
    with pytest.warns(DeprecationWarning, match="vanilla_over_x"):
        old = t["ratio_to_vanilla[cmos45nm]"]
    assert (old * t["vanilla_over_x[cmos45nm]"]).tolist() == pytest.approx([1.0] * len(t))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        t["vanilla_over_x[cmos45nm]"]   # the current name: no warning
    assert em.__version__ == "0.3.0"


def test_paper_cost_table_labels_its_dynamic_total_and_drops_technologies(run):
    hc, _ = run.report.human_hardware_cost()
    assert "cmos45nm" not in set(hc["Hardware"])
    assert any(c.startswith("Total (dynamic only)") for c in hc.columns)
    assert any(c.startswith("EDP (dynamic)") for c in hc.columns)
    full = em.estimate(run.profile, ["loihi"], mode="full").human_hardware_cost()[0]
    assert any(c.startswith("Total (") and "dynamic" not in c for c in full.columns)


def test_top_ranks_by_a_stated_chip():
    r = CliRunner().invoke(app, ["profile", "sdt-1-64-tiny", "--hw", "cmos45nm", "--hw", "loihi",
                                 "-T", "2", "--top", "2", "--sort-by", "loihi"],
                           catch_exceptions=False)
    assert r.exit_code == 0 and "top 2 by energy on loihi" in r.stdout
    r = CliRunner().invoke(app, ["profile", "sdt-1-64-tiny", "--hw", "cmos45nm", "-T", "2",
                                 "--top", "2"], catch_exceptions=False)
    assert "top 2 by energy on cmos45nm" in r.stdout
    bad = CliRunner().invoke(app, ["profile", "sdt-1-64-tiny", "--hw", "cmos45nm", "--top", "2",
                                   "--sort-by", "loihi"])
    assert bad.exit_code == 2 and "--sort-by 'loihi' is not among the chips given" in bad.stderr


def test_notebook_rendering_and_three_significant_figures(run):
    h = run.report._repr_html_()
    assert h.startswith("<p>paper convention") and "<table>" in h and "Loihi" not in h[:0]
    p = run.profile._repr_html_()
    assert "<table>" in p and "spike rate" in p
    s = repr(run.report.summary())
    nums = [c.strip() for line in s.splitlines()[2:] for c in line.split("|")[2:-1]]
    assert nums and all(len(n.replace(".", "").replace("-", "").lstrip("0")) <= 4 for n in nums), s
    assert float(run.report.summary()["total_mj"].iloc[0]) == run.report.totals["total_mj"].iloc[0]


def test_latex_caption_says_energy_per_sample_once_and_prints_times(run, tmp_path):
    text = run.report.to_latex()
    cap = [ln for ln in text.splitlines() if ln.startswith(r"\caption")][0]
    assert cap.count("nergy per sample") == 1
    assert r"E\_MAC $\times$ MACs" in cap and " x " not in cap


def test_profile_fits_80_columns_and_names_stay_unique(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    r = CliRunner().invoke(app, ["profile", "sdt-1-64-tiny", "--hw", "cmos45nm", "--hw", "loihi",
                                 "--hw", "truenorth", "-T", "2"], catch_exceptions=False)
    assert r.exit_code == 0
    long = [ln for ln in r.stdout.splitlines() if len(ln) > 80]
    assert not long, long
    sites = [ln.split()[0] for ln in r.stdout.splitlines() if ":conv2d#" in ln or ":lif#" in ln]
    assert len(sites) == len(set(sites)) > 5            # cut in the middle, still unique
    assert any("…" in s for s in sites) and all(not s.startswith("…") for s in sites)
    # the warnings on stderr too: folded, each finding starting with its level
    r = CliRunner().invoke(app, ["profile", "sdt-1-64-tiny", "--hw", "cmos45nm", "-T", "2",
                                 "--no-layers", "--input", "spikes:0"], catch_exceptions=False)
    err = r.stderr.splitlines()
    assert err and not [ln for ln in err if len(ln) > 80], err
    assert any(ln.startswith("warning: ") for ln in err)
    assert any(ln.startswith("    ") for ln in err)       # a folded finding


def test_warnings_stay_one_line_each_in_a_pipe(monkeypatch):
    """No terminal and no COLUMNS (a log, a pipe): one finding per line, for grep."""
    monkeypatch.delenv("COLUMNS", raising=False)
    r = CliRunner().invoke(app, ["profile", "sdt-1-64-tiny", "--hw", "cmos45nm", "-T", "2",
                                 "--no-layers", "--input", "spikes:0"], catch_exceptions=False)
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("warning: ")]
    assert warn and any(len(ln) > 80 for ln in warn)
    assert not [ln for ln in r.stderr.splitlines() if ln.startswith("    ")]


def test_shorten_names_keeps_them_apart():
    from energymodel.report.terminal import shorten_names

    names = [f"patch_embed.proj_conv{i}:conv2d#0" for i in range(4)] + ["x:lif#0"]
    cut = shorten_names(names, 20)
    assert len(set(cut)) == len(cut) and all(len(c) <= 20 for c in cut) and cut[-1] == "x:lif#0"


def test_hypothetical_saformer_sizes_are_said_so_in_the_output():
    r = CliRunner().invoke(app, ["profile", "saformer-1-64-tiny", "--hw", "cmos45nm", "-T", "2",
                                 "--no-layers"], catch_exceptions=False)
    assert "hypothetical" not in r.stdout
    run = profile_model_spec("saformer-8-384", ["cmos45nm"], timesteps=1, batches=1)
    assert "not ImageNet; no published counterpart" in run.settings["hypothetical"]
    from energymodel.report.build import _hypothetical_note

    assert "saformer-8-512: hypothetical" in _hypothetical_note(["sdt-8-512", "saformer-8-512"])
    assert _hypothetical_note(["sdt-8-512"]) == ""


def test_sasa_aggregation_global_or_down_sampled_counts_by_hand():
    """pool:r sums Q*K over windows of r tokens: N / r column sums per head and channel, each
    read back by its r tokens; global (r = N) equals the default."""
    import torch

    from energymodel.attention import SpikeAggregatedSelfAttention as SASA

    torch.manual_seed(0)
    x = (torch.rand(2, 1, 8, 16) < 0.5).float()       # T=2, B=1, N=8, D=16
    g = SASA(16, heads=2).eval()
    p = SASA(16, heads=2, aggregation="pool:4").eval()
    p.load_state_dict(g.state_dict())
    full = SASA(16, heads=2, aggregation="pool:8").eval()
    full.load_state_dict(g.state_dict())
    with torch.no_grad():
        assert torch.equal(g(x), full(x))           # one window of all 8 tokens = global
    pg, pp = em.profile(g, x, batch_dim=1), em.profile(p, x, batch_dim=1)
    neu = lambda pr: float(pr.layers.set_index("site").loc["attn_lif:lif#0", "neuron_updates"])  # noqa: E731
    assert neu(pg) == 2 * 2 * 1 * 8 and neu(pp) == 2 * 2 * 2 * 8   # T x H x (N / r) x d
    with pytest.raises(ValueError, match="pool:r"):
        SASA(16, heads=2, aggregation="mean")
    with pytest.raises(ValueError, match="divisible by 3"):
        SASA(16, heads=2, aggregation="pool:3")(x)


def test_torch_triton_log_lines_stay_out_of_the_output(tmp_path):
    """A CUDA build of torch without Triton logs 'triton not found' (torch.utils.flop_counter,
    on import) and 'Triton not available' (torch._library.triton): noise about nothing
    energymodel uses. Simulated here by a model that logs them through those loggers."""
    (tmp_path / "tmod.py").write_text(
        "import logging\nimport torch\nfrom torch import nn\nimport energymodel as em\n\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(8, 8)\n        self.lif = em.LIF()\n\n"
        "    def forward(self, x):\n"
        "        logging.getLogger('torch._library.triton').warning("
        "'Triton not available, find_triton_kernels = []')\n"
        "        return self.lif(self.fc(x))\n\n"
        "def make():\n"
        "    logging.getLogger('torch.utils.flop_counter').warning("
        "'triton not found; flop counting will not work for triton kernels')\n"
        "    logging.getLogger('torch.utils.flop_counter').warning('an unrelated torch warning')\n"
        "    return M()\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "energymodel", "profile", "tmod:make",
                        "--input-shape", "8", "-T", "1", "--no-layers"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "triton" not in out.lower(), out
    assert "an unrelated torch warning" in out     # other torch warnings still show


@pytest.mark.parametrize("args", [
    ["hw", "list"], ["hw", "show", "loihi"], ["hw", "show", "movidius-ncs"],
    ["compare", "--tokens", "16", "--dim", "32", "--heads", "2", "--timesteps", "2"],
    ["audit", "sdt-1-64-tiny", "--published", "0.01mJ", "--hw", "cmos45nm", "-T", "2"],
])
def test_every_command_fits_80_columns(monkeypatch, args):
    """The README walk at COLUMNS=80: prose folded, lists cut to the width."""
    monkeypatch.setenv("COLUMNS", "80")
    r = CliRunner().invoke(app, args, catch_exceptions=False)
    assert r.exit_code == 0, r.output
    long = [ln for ln in (r.stdout + r.stderr).splitlines() if len(ln) > 80]
    assert not long, long

"""The README cannot drift from the code: every fenced ```python block and every
``energymodel ...`` line of every fenced ```bash block runs here, seeded, in a temporary folder.

Rules of the extractor (keep them when adding README sections):

* Only fenced blocks whose info string is ``python`` or ``bash`` are read; inline code and
  other fences are prose.
* A block right after a line ``<!-- readme-test: skip (why) -->`` is not run (say why).
* In ``bash`` blocks, comments are dropped, ``\\`` continuations joined, ``;`` splits commands;
  only commands starting with ``energymodel`` run (through typer's CliRunner); ``make`` lines
  and other tools are the suite's own business.
* Lines that need a user's own files are run against stand-ins written to the temporary
  folder: ``mypkg.models:my_snn`` is a small conv + LIF network (``SUBSTITUTE`` below), with
  its ``ckpt.pth`` and a ``mychip.yaml`` copied from cmos45nm. ImageNet-size shapes are shrunk
  by ``SUBSTITUTE`` so the test stays under a minute; the options themselves are unchanged.
* ``--data`` examples run on stand-ins too: ``val_subset.pt`` (8 random images), an image
  folder ``val_images/`` (two classes of small PNGs), ``mypkg.data:make_loader`` (a list of
  batches); ``--rates table_s1.csv`` reads a one-row rates file. Batch counts are shrunk.
* ``model.nir`` (NIR examples) is a stand-in graph of 20 inputs, Affine-LIF-Affine-LIF, written
  with the ``nir`` package when it is installed (a test-only dependency; skipped otherwise).
* ``SKIP`` lists commands not run here, each with the test that covers it.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP_MARK = "<!-- readme-test: skip"

#: (README text, what runs instead): smaller shapes, a stand-in for the user's package
SUBSTITUTE = [
    ("mypkg.models:my_snn", "readme_pkg.models:my_snn"),
    ("sdt-8-512", "sdt-1-64-tiny"),
    ("--input-shape 3,224,224", "--input-shape 3,32,32"),
    ("--batches 20", "--batches 2"),
    ("--batch-size 8", "--batch-size 2"),
    ("--tokens 196", "--tokens 16"),
    ("--tokens 1024", "--tokens 32"),
    ("--dim 512", "--dim 32"),
    ("--heads 8", "--heads 4"),
    ("mypkg.data:make_loader", "readme_pkg.data:make_loader"),
    ("-b 32 -n 10", "-b 2 -n 2"),
]
#: commands not run here, and the test that runs them
SKIP = {
    "energymodel report --out-dir reports/": "tests/test_report.py runs `report --quick`",
}

MY_SNN = textwrap.dedent('''
    import torch.nn as nn
    from energymodel.lif import LIF

    def my_snn():
        """A stand-in for the README's user model: conv, BN, LIF, pool, linear; its
        ``input_shape`` attribute lets a command run without --input-shape."""
        m = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8),
                          LIF(step_mode="s"), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(8, 10))
        m.input_shape = (3, 32, 32)
        return m
''')

DATA = textwrap.dedent('''
    import torch

    def make_loader(batch_size=2):
        """A stand-in for the README's data module: two batches of random images."""
        g = torch.Generator().manual_seed(0)
        return [torch.rand(batch_size, 3, 32, 32, generator=g) for _ in range(2)]
''')


def fenced_blocks(text: str) -> list[tuple[str, str, bool, int]]:
    """``(language, body, skipped, line)`` of every fenced block."""
    out = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"^```(\w*)\s*$", lines[i])
        if not m:
            i += 1
            continue
        lang, start = m.group(1), i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        out.append((lang, "\n".join(lines[start + 1:j]), prev.startswith(SKIP_MARK), start + 1))
        i = j + 1
    return out


def bash_commands(body: str) -> list[str]:
    """The commands of a bash block: comments dropped, continuations joined, ``;`` split."""
    joined, cur = [], ""
    for ln in body.splitlines():
        ln = re.sub(r"(^|\s)#.*$", "", ln).rstrip()
        if ln.endswith("\\"):
            cur += ln[:-1] + " "
            continue
        cur += ln
        if cur.strip():
            joined.append(" ".join(cur.split()))
        cur = ""
    return [c.strip() for line in joined for c in line.split(";") if c.strip()]


BLOCKS = fenced_blocks(README.read_text(encoding="utf-8"))
PYTHON = [(b, n) for lang, b, skip, n in BLOCKS if lang == "python" and not skip]
COMMANDS = [c for lang, b, skip, _ in BLOCKS if lang == "bash" and not skip
            for c in bash_commands(b) if c.startswith("energymodel ")]


def test_extractor_finds_the_readme_examples():
    assert len(PYTHON) >= 1
    assert any(c.startswith("energymodel profile") for c in COMMANDS)
    assert any(c.startswith("energymodel compare") for c in COMMANDS)
    assert "energymodel hw list" in COMMANDS  # split at ';'
    assert bash_commands("a \\\n  b  # note\n# only a comment\nc; d") == ["a b", "c", "d"]
    assert fenced_blocks(f"{SKIP_MARK} why -->\n```bash\nx\n```\n```python\ny\n```") == [
        ("bash", "x", True, 2), ("python", "y", False, 5)]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A folder with the user's stand-ins: readme_pkg/models.py, ckpt.pth, mychip.yaml."""
    pkg = tmp_path / "readme_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "models.py").write_text(MY_SNN)
    (pkg / "data.py").write_text(DATA)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "100")
    from readme_pkg.models import my_snn

    torch.manual_seed(0)
    torch.save(my_snn().state_dict(), tmp_path / "ckpt.pth")
    chip = (ROOT / "hwprofiles" / "cmos45nm.yaml").read_text()
    (tmp_path / "mychip.yaml").write_text(chip.replace("name: cmos45nm", "name: mychip", 1))
    # --data stand-ins: a tensor file, an image folder (class subfolders of PNGs), a rates file
    torch.save(torch.rand(8, 3, 32, 32), tmp_path / "val_subset.pt")
    from PIL import Image

    for cls in ("a", "b"):
        (tmp_path / "val_images" / cls).mkdir(parents=True)
        for k in range(2):
            px = (torch.rand(40, 40, 3) * 255).to(torch.uint8).numpy()
            Image.fromarray(px).save(tmp_path / "val_images" / cls / f"{k}.png")
    (tmp_path / "table_s1.csv").write_text("# pattern,rate\n.*,0.15\n")
    _write_nir(tmp_path / "model.nir")
    return tmp_path


def _write_nir(path: Path) -> None:
    """A stand-in NIR graph: 20 inputs -> Affine -> LIF(16) -> Affine -> LIF(5)."""
    try:
        import nir
    except ImportError:
        return
    import numpy as np

    rng = np.random.default_rng(0)

    def lif(n: int):
        return nir.LIF(tau=np.full(n, 1e-3, np.float32), r=np.ones(n, np.float32),
                       v_leak=np.zeros(n, np.float32), v_threshold=np.ones(n, np.float32))

    g = nir.NIRGraph.from_list(
        nir.Affine(weight=(rng.random((16, 20)) * 0.5).astype(np.float32),
                   bias=np.zeros(16, np.float32)), lif(16),
        nir.Affine(weight=(rng.random((5, 16)) * 0.5).astype(np.float32),
                   bias=np.zeros(5, np.float32)), lif(5))
    nir.write(str(path), g)


@pytest.mark.parametrize("code, line", PYTHON, ids=[f"python@{n}" for _, n in PYTHON])
def test_readme_python_runs(code, line, workdir):
    if "profile_nir" in code:
        pytest.importorskip("nir")
        pytest.importorskip("nirtorch")
    torch.manual_seed(0)
    ns: dict = {"__name__": "__readme__"}
    exec(compile(code, f"README.md:{line}", "exec"), ns)  # noqa: S102 - the README's own code


@pytest.mark.parametrize("cmd", COMMANDS)
def test_readme_command_runs(cmd, workdir):
    if cmd in SKIP:
        pytest.skip(SKIP[cmd])
    if "spikingjelly." in cmd:
        pytest.importorskip("spikingjelly.activation_based.model.parametric_lif_net")
    if ".nir " in cmd:
        pytest.importorskip("nir")
        pytest.importorskip("nirtorch")
    from energymodel.cli import app

    run = cmd
    for a, b in SUBSTITUTE:
        run = run.replace(a, b)
    r = CliRunner().invoke(app, shlex.split(run)[1:], catch_exceptions=False)
    assert r.exit_code == 0, f"{cmd}\n-> {run}\n{r.output}"
    if "parametric_lif_net:MNISTNet" in cmd:
        # a profile a researcher would accept: every neuron layer fires, no warning
        assert "warning:" not in r.stderr, r.stderr
        rates = [float(ln.split()[3]) for ln in r.stdout.splitlines() if ":lif#" in ln]
        assert len(rates) == 4 and all(x > 0 for x in rates), r.stdout
    for tok in shlex.split(run):
        if tok.endswith((".csv", ".json", ".md", ".tex")) and "--out" in run:
            assert (workdir / tok).exists(), tok


def test_trained_example_units_match_a_fresh_run():
    """The README's trained-example table states its unit in the headers, and the
    random-weight row is what the profiler measures for the same model (calibrated BatchNorm,
    T = 2) on random images, within 25 % (the README used the script's gratings): a table
    labelled nJ for µJ values (off by 1000x) fails here."""
    import energymodel as em
    from energymodel.workflow import load_model, profile_model

    text = README.read_text(encoding="utf-8")
    head = [ln for ln in text.splitlines() if ln.startswith("| weights |")][0]
    row = [ln for ln in text.splitlines() if ln.startswith("| random, calibrated BN |")][0]
    cells = [c.strip() for c in head.strip("|").split("|")]
    vals = [c.strip() for c in row.strip("|").split("|")]
    per = {"(pJ)": 1.0, "(nJ)": 1e3, "(µJ)": 1e6, "(mJ)": 1e9}
    ms = load_model("sdt-1-64-tiny", timesteps=2)
    prof = profile_model(ms.model, ms.input_shape, batch_size=4, timesteps=2, calibrate=True,
                         seed=0)
    rep = em.estimate(prof, ["cmos45nm", "loihi", "fpga"]).totals.set_index("hardware")
    for hw in ("cmos45nm", "loihi", "fpga"):
        i = next(k for k, c in enumerate(cells) if c.startswith(hw))
        unit = cells[i].split()[-1]
        assert unit in per, cells[i]  # the unit is in the header, not in the cells
        readme_pj = float(vals[i]) * per[unit]
        assert readme_pj == pytest.approx(rep.loc[hw, "total_pj"], rel=0.25), hw  # per sample

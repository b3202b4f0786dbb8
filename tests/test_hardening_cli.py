"""Hardening of the command line and the writers (issue 10): every bad argument is one
``error:`` line with exit 2 before any work; every write failure is one line, leaves no file
and no temporary; file modes follow the umask; a report folder is replaced as a whole set, even
when the run is killed with SIGKILL."""

from __future__ import annotations

import errno
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from energymodel.common import files as _io
from energymodel.common.formatting import csv_safe, to_csv_text
from energymodel.common.checks import check_finite
from energymodel.cli import app
from energymodel.common.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
PKG = str(ROOT / "energymodel")
runner = CliRunner()

MOD = textwrap.dedent(
    """
    import sys, torch
    from torch import nn
    import energymodel as em


    class Tiny(nn.Module):
        input_shape = (8,)
        T = 2

        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(8, 16)
            self.lif = em.LIF()
            self.fc2 = nn.Linear(16, 4)

        def forward(self, x):
            x = x.unsqueeze(0).repeat(self.T, 1, 1)
            return self.fc2(self.lif(self.fc1(x) * 3.0)).mean(0)


    def make():
        torch.manual_seed(0)
        return Tiny()


    def exits():
        sys.exit(0)


    def traced():
        return torch.jit.trace(nn.Linear(8, 4).eval(), torch.rand(1, 8))


    class Wrapper(nn.Module):
        input_shape = (8,)

        def __init__(self):
            super().__init__()
            self.inner = traced()

        def forward(self, x):
            return self.inner(x)
    """
)


@pytest.fixture()
def mod(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "hmod.py").write_text(MOD)
    (pkg / "hexit.py").write_text("import sys\nsys.exit(0)\n")
    monkeypatch.syspath_prepend(str(pkg))
    for m in ("hmod", "hexit"):
        sys.modules.pop(m, None)
    out = tmp_path / "out"
    out.mkdir()
    return pkg, out


def _one_error_line(args, needle: str, out: Path | None = None):
    r = runner.invoke(app, [str(a) for a in args])
    assert r.exit_code == 2, (args, r.output, r.exception)
    assert r.exception is None or isinstance(r.exception, SystemExit), (args, r.exception)
    msg = r.output.strip()
    assert msg.startswith("error: ") and "\n" not in msg, (args, msg)
    assert needle in msg, (args, msg)
    if out is not None:
        assert not list(out.iterdir()), list(out.iterdir())
    return msg


# --------------------------------------------------------------------------- arguments
def test_bad_arguments_are_one_line_before_any_work(mod, tmp_path):
    pkg, out = mod
    o = ["--out", out / "r.csv"]
    cases = [
        (["profile", "hmod:make", "-T", "0"], "--timesteps must be an integer >= 1"),
        (["profile", "hmod:make", "-b", "0"], "--batch-size must be an integer >= 1"),
        (["profile", "hmod:make", "-n", "-3"], "--batches must be an integer >= 1"),
        (["profile", "hmod:make", "--input", "spikesfoo"], "spikesfoo"),
        (["profile", "hmod:make", "--input", "spikes:"], "spikes:RATE"),
        (["profile", "hmod:make", "--seed", str(2**70)], "--seed must be within"),
        (["profile", "hmod:make", "--seed", "-1"], "--seed must be within"),
        (["profile", "hmod:make", "--input-shape", "3,100000,33333"], "memory budget"),
        (["profile", "hmod:make", "-b", "1000000000"], "memory budget"),
        (["profile", "hmod:traced"], "TorchScript"),
        (["profile", "hmod:Wrapper"], "TorchScript"),
        (["profile", "hmod:exits"], "sys.exit(0)"),
        (["profile", "hexit:make"], "sys.exit(0)"),
        (["profile", "hmod:make", "--checkpoint", tmp_path], "is a directory"),
        (["profile", "hmod:make", "--checkpoint", "/dev/zero"], "is a character device"),
        (["profile", "hmod:make", "--checkpoint", tmp_path / "nope.pth"], "does not exist"),
        (["profile", "hmod:make", "--depth", "-1"], "--depth must be an integer >= 0"),
        (["profile", "hmod:make", "--top", "0"], "--top must be an integer >= 1"),
        (["compare", "--tokens", "0"], "--tokens must be an integer >= 1"),
        (["compare", "--timesteps", "0"], "--timesteps must be an integer >= 1"),
        (["compare", "--rate", "1.5"], "--rate must be within"),
        (["compare", "--rate", "nan"], "--rate must be within"),
        (["compare", "--seed", str(2**70)], "--seed must be within"),
        (["compare", "--tokens", "100000"], "memory budget"),
        (["audit", "hmod:make", "--published", "1mJ", "-T", "0"], "--timesteps must be an integer >= 1"),
        (["audit", "hmod:make", "--published", "1mJ", "-b", "0"], "--batch-size must be an integer >= 1"),
        (["audit", "hmod:make", "--published", "1mJ", "-n", "0"], "--batches must be an integer >= 1"),
        (["profile", "hmod:make", "--nir-dt", "1e-3"], "--nir-dt applies to NIR graphs"),
    ]
    for args, needle in cases:
        _one_error_line(args + o, needle, out)


def test_memory_budget_flag_and_environment(mod, monkeypatch):
    _, out = mod
    _one_error_line(["profile", "hmod:make", "-b", "64", "--memory-budget", "1e-6"],
                    "memory budget", out)
    _one_error_line(["profile", "hmod:make", "--memory-budget", "0"], "--memory-budget", out)
    r = runner.invoke(app, ["profile", "hmod:make", "-b", "64", "--memory-budget", "1",
                            "--no-layers"])
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("ENERGYMODEL_MEMORY_GB", "1e-6")
    _one_error_line(["compare", "--tokens", "16", "--dim", "32", "--heads", "4"],
                    "ENERGYMODEL_MEMORY_GB", out)


def test_model_activations_are_measured_against_the_budget(mod):
    # the input batch fits (8 floats x 4M = 128 MiB) but the hidden layers need far more
    _, out = mod
    _one_error_line(["profile", "hmod:make", "-b", "4000000", "--memory-budget", "0.5"],
                    "the model at batch size 4000000", out)


def test_repeated_hardware_is_counted_once_and_a_name_clash_refused(mod, tmp_path):
    _, out = mod
    r = runner.invoke(app, ["profile", "hmod:make", "--hw", "cmos45nm", "--hw", "cmos45nm",
                            "--hw", str(ROOT / "hwprofiles" / "cmos45nm.yaml"),
                            "--out", str(out / "r.json")])
    assert r.exit_code == 0, r.output
    assert [t["hardware"] for t in json.loads((out / "r.json").read_text())["totals"]] == ["cmos45nm"]
    other = tmp_path / "cmos45nm.yaml"
    other.write_text((ROOT / "hwprofiles" / "cmos45nm.yaml").read_text().replace("value: 0.9,", "value: 1.9,"))
    (out / "r.json").unlink()
    _one_error_line(["profile", "hmod:make", "--hw", "cmos45nm", "--hw", other,
                     "--out", out / "r.json"], "two hardware profiles are named 'cmos45nm'", out)


def test_a_file_named_like_a_chip_in_the_cwd_is_ignored_and_reports_name_the_file(mod, tmp_path,
                                                                                 monkeypatch):
    _, out = mod
    fake = (ROOT / "hwprofiles" / "cmos45nm.yaml").read_text().replace("value: 0.9,", "value: 900,")
    (tmp_path / "cmos45nm").write_text(fake)
    mine = tmp_path / "mychip.yaml"
    mine.write_text(fake.replace("name: cmos45nm", "name: mychip"))
    monkeypatch.chdir(tmp_path)
    tot = {}
    for ext in ("csv", "json", "md", "tex"):
        r = runner.invoke(app, ["profile", "hmod:make", "--hw", "cmos45nm", "--hw", str(mine),
                                "--out", str(out / f"r.{ext}")])
        assert r.exit_code == 0, r.output
        flat = " ".join(r.output.split())   # prose lines wrap at the terminal width
        assert "hardware files: cmos45nm: hwprofiles/cmos45nm.yaml; mychip: " + str(mine) in flat
        text = (out / f"r.{ext}").read_text()
        assert "hwprofiles/cmos45nm.yaml" in text and str(mine) in text, ext
    d = json.loads((out / "r.json").read_text())
    tot = {t["hardware"]: t["total_mj"] for t in d["totals"]}
    assert d["hardware"]["cmos45nm"]["file"] == "hwprofiles/cmos45nm.yaml"
    assert tot["mychip"] > 10 * tot["cmos45nm"]  # the shipped 0.9 pJ add, not the fake 900 pJ
    csv = pd.read_csv(out / "r.csv")
    assert set(csv["hardware_file"]) == {"hwprofiles/cmos45nm.yaml", str(mine)}


# --------------------------------------------------------------------------- destinations
def test_destinations_are_checked_before_the_work(mod, tmp_path):
    _, out = mod
    (out / "adir.csv").mkdir()
    _one_error_line(["profile", "hmod:make", "--out", out / "adir.csv"], "is a directory")
    afile = tmp_path / "afile"
    afile.write_text("keep")
    _one_error_line(["report", "--quick", "--out-dir", afile], "not a directory")
    assert afile.read_text() == "keep"
    _one_error_line(["report", "--quick", "--out-dir", tmp_path / "no" / "dir"], "does not exist")
    _one_error_line(["compare", "--out", "/dev/null.csv" if False else tmp_path / "x" / "c.csv"],
                    "does not exist")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_refused_before_the_work(mod):
    _, out = mod
    out.chmod(0o555)
    try:
        _one_error_line(["profile", "hmod:make", "--out", out / "r.csv"], "Permission denied")
    finally:
        out.chmod(0o755)


def test_unwritable_folder_is_refused_before_the_work(mod, monkeypatch):
    """A read-only folder as any user (root ignores modes): creating the probe file fails."""
    _, out = mod
    ran = []
    import energymodel.workflow as wf

    monkeypatch.setattr(wf, "profile_model", lambda *a, **k: ran.append(1))

    def refuse(*a, **k):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(_io.tempfile, "mkstemp", refuse)
    _one_error_line(["profile", "hmod:make", "--out", out / "r.csv"], "Read-only file system", out)
    assert not ran


def test_full_disk_at_write_time_is_one_line_and_leaves_nothing(mod, monkeypatch):
    _, out = mod

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_io.os, "fsync", full)
    for ext in ("csv", "json", "md", "tex"):
        r = runner.invoke(app, ["profile", "hmod:make", "--out", str(out / f"r.{ext}")])
        assert r.exit_code == 2 and "Traceback" not in r.output
        assert r.stderr.strip() == (f"error: cannot write {str(out / f'r.{ext}')!r}: "
                                    "No space left on device")
        assert not list(out.iterdir())


def test_file_size_limit_is_one_line_and_leaves_nothing(mod, tmp_path):
    pkg, out = mod
    import resource

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{pkg}", OMP_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-m", "energymodel.cli", "profile", "hmod:make",
                        "--out", str(out / "r.json")], capture_output=True, text=True, env=env,
                       cwd=tmp_path, timeout=120, preexec_fn=limit)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == f"error: cannot write {str(out / 'r.json')!r}: File too large"
    assert not list(out.iterdir())


# --------------------------------------------------------------------------- modes and links
def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_new_files_follow_the_umask_and_overwrites_keep_the_mode(tmp_path):
    old = os.umask(0o022)
    try:
        _io.write_text_atomic(tmp_path / "a.txt", "1")
        assert _mode(tmp_path / "a.txt") == 0o644
        os.umask(0o077)
        _io.write_text_atomic(tmp_path / "b.txt", "1")
        assert _mode(tmp_path / "b.txt") == 0o600
        os.chmod(tmp_path / "a.txt", 0o640)
        _io.write_text_atomic(tmp_path / "a.txt", "2")
        assert _mode(tmp_path / "a.txt") == 0o640 and (tmp_path / "a.txt").read_text() == "2"
    finally:
        os.umask(old)


def test_symlink_is_followed_and_hard_links_keep_the_old_content(tmp_path):
    real = tmp_path / "real.csv"
    real.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(real)
    _io.write_text_atomic(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    hard = tmp_path / "hard.csv"
    os.link(real, hard)
    _io.write_text_atomic(real, "newer")  # documented: a rename cannot write through a hard link
    assert real.read_text() == "newer" and hard.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.csv", "link.csv", "real.csv"]


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".r.csv.{dead}.abc.tmp"
    stale.write_text("half")
    _io.write_text_atomic(tmp_path / "r.csv", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


# --------------------------------------------------------------------------- CSV formulas
def test_csv_cells_that_start_a_formula_are_escaped_and_numbers_stay_numbers(tmp_path):
    df = pd.DataFrame({"layer": ["=HYPERLINK(\"http://x\")", "+1+2", "@SUM(A1)", "-x", "conv",
                                 "-1.5"],
                       "energy": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0]})
    assert [csv_safe(v) for v in df["layer"]] == [
        "'=HYPERLINK(\"http://x\")", "'+1+2", "'@SUM(A1)", "'-x", "conv", "-1.5"]
    (tmp_path / "t.csv").write_text(to_csv_text(df))
    back = pd.read_csv(tmp_path / "t.csv")
    assert list(back["energy"]) == [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert not any(str(v).startswith(("=", "+", "@")) for v in back["layer"])


def test_non_finite_results_are_refused_before_writing():
    with pytest.raises(UserError, match="infinite"):
        check_finite(pd.DataFrame({"hardware": ["x"], "total_pj": [float("inf")]}), "totals")
    check_finite(pd.DataFrame({"hardware": ["x"], "q_rate": [float("nan")]}), "totals")


# --------------------------------------------------------------------------- report as a set
def _snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_ino, p.read_bytes()) for p in folder.iterdir()}


def test_atomic_directory_replaces_the_set_whole_or_not_at_all(tmp_path):
    out = tmp_path / "rep"
    with _io.atomic_directory(out) as t:
        (t / "a.csv").write_text("1")
        (t / "b.csv").write_text("1")
    (out / "mine.txt").write_text("user notes")
    (out / ".a.csv.1.x.tmp").write_text("half-written by an old, killed run")
    os.chmod(out, 0o750)
    before = _snapshot(out)
    with pytest.raises(RuntimeError):
        with _io.atomic_directory(out) as t:
            (t / "a.csv").write_text("2")
            raise RuntimeError("build failed")
    assert _snapshot(out) == before
    with _io.atomic_directory(out) as t:
        (t / "a.csv").write_text("3")
        (t / "c.csv").write_text("3")
    assert (out / "a.csv").read_text() == "3" and (out / "c.csv").read_text() == "3"
    assert (out / "mine.txt").read_text() == "user notes"  # nothing lost
    assert (out / "b.csv").read_text() == "1"
    assert not (out / ".a.csv.1.x.tmp").exists()  # an old temporary is not carried over
    assert _mode(out) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # no temporaries


_SLOW_BUILDER = textwrap.dedent(
    """
    import sys, time, types
    from pathlib import Path
    pkg = types.ModuleType("energymodel")  # import _io alone, without torch (fast start)
    pkg.__path__ = [sys.argv[3]]
    sys.modules["energymodel"] = pkg
    from energymodel.common.files import atomic_directory
    with atomic_directory(sys.argv[1]) as t:
        for i in range(40):
            (t / f"f{i:02d}.txt").write_text(sys.argv[2])
            time.sleep(0.005)
    """
)


def test_kill_9_at_any_moment_leaves_one_whole_set(tmp_path):
    out = tmp_path / "rep"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-c", _SLOW_BUILDER, str(out), "old", PKG], env=env, check=True)
    for delay in (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4):
        p = subprocess.Popen([sys.executable, "-c", _SLOW_BUILDER, str(out), "new", PKG], env=env)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        contents = {f.read_text() for f in out.iterdir()}
        assert len(list(out.iterdir())) == 40 and len(contents) == 1, (delay, contents)
        if contents == {"new"}:  # let the next rounds overwrite an old set again
            subprocess.run([sys.executable, "-c", _SLOW_BUILDER, str(out), "old", PKG], env=env,
                           check=True)
    subprocess.run([sys.executable, "-c", _SLOW_BUILDER, str(out), "new", PKG], env=env, check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rep"]  # stale temporaries cleaned


def test_kill_9_during_report_leaves_the_old_set(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    for name in ("README.md", "attention_compare.csv", "layers.csv"):
        (out / name).write_text(f"old {name}\n")
    before = _snapshot(out)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    p = subprocess.Popen([sys.executable, "-m", "energymodel.cli", "report", "--quick",
                          "--out-dir", str(out)], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    tmp = []
    while time.time() < deadline and p.poll() is None:
        tmp = [d for d in tmp_path.iterdir() if d.name.startswith(".reports.emtmp-")]
        if tmp and len(list(tmp[0].iterdir())) >= 4:  # mid-build: some files written
            break
        time.sleep(0.05)
    assert p.poll() is None, "report finished before it could be killed"
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert _snapshot(out) == before  # the old set, untouched
    assert any(d.name.startswith(".reports.emtmp-") for d in tmp_path.iterdir())
    with _io.atomic_directory(out) as t:  # the next run removes the dead run's temporary
        (t / "README.md").write_text("new\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]

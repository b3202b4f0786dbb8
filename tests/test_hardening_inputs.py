"""Hostile inputs on the surfaces added in 0.2 (issue 22): rates files, model-kwargs files,
data files and data callables, NIR files, hardware values, and the Profiler from threads.
Each probe is one ``error:`` line and exit 2 (or a correct result), quickly, within memory."""

from __future__ import annotations

import io
import os
import re
import sys
import threading
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

import energymodel as em
from energymodel.cli import app
from energymodel.common.errors import UserError
from energymodel.pricing.audit import read_rates


# ----------------------------------------------------------------------------- rates files
@pytest.mark.parametrize("content,expect", [
    ("sdt.*,0.1\n".encode("utf-16"), "not UTF-8 text"),
    (b"\x00\xff\xfe\x01binary", "not UTF-8 text"),
    (("(" * 5000 + "a" + ")" * 5000 + ",0.1\n").encode(), "pattern of 10001 characters"),
    (("(" * 30 + "a" + ")" * 30 + ",0.1\n").encode(), "nested 30 groups deep"),
    (b"a{4294967296},0.1\n", "repeat count {4294967296} above"),
    (b"(a+)+,0.1\n", "repeats a repeated group"),
    (b"(unclosed,0.1\n", "bad regular expression"),
])
def test_bad_rates_file_is_one_error_naming_file_and_row(tmp_path, content, expect):
    f = tmp_path / "r.csv"
    f.write_bytes(content)
    with pytest.raises(UserError, match=re.escape(expect)) as e:
        read_rates(f)
    assert "\n" not in str(e.value) and "r.csv" in str(e.value)


def test_rates_from_a_device_or_a_huge_file_is_refused_unread(tmp_path):
    with pytest.raises(UserError, match="a character device, not a regular file"):
        read_rates("/dev/zero")
    big = tmp_path / "big.csv"
    with open(big, "wb") as f:
        f.truncate(20 << 20)   # 20 MiB of holes: refused by its size, nothing read
    with pytest.raises(UserError, match="too large"):
        read_rates(big)


def test_model_kwargs_from_a_device_or_a_big_yaml_is_refused(tmp_path):
    from energymodel.workflow import parse_model_args

    with pytest.raises(UserError, match="--model-kwargs '/dev/zero' cannot be read: a character"):
        parse_model_args([], "/dev/zero")
    big = tmp_path / "k.yaml"
    big.write_text("a: [" + ", ".join(["1"] * 100_000) + "]\n")
    with pytest.raises(UserError, match="too large"):
        parse_model_args([], big)


# ----------------------------------------------------------------------------- data files
NET = """
import torch.nn as nn, energymodel as em
def make():
    n = nn.Sequential(nn.Linear(8, 4), em.LIF(step_mode="s"))
    n.input_shape = (8,)
    return n
"""
CALLABLES = """
import torch
def fails_second(batch_size=2):
    yield torch.rand(batch_size, 8)
    raise RuntimeError("second batch exploded")
def changes(batch_size=2):
    yield torch.rand(batch_size, 8)
    yield torch.rand(batch_size, 9)
"""


@pytest.fixture()
def probe_dir(tmp_path, monkeypatch):
    (tmp_path / "hnet.py").write_text(NET)
    (tmp_path / "hdata.py").write_text(CALLABLES)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for m in ("hnet", "hdata"):
        sys.modules.pop(m, None)
    np.save(tmp_path / "strs.npy", np.array(["a", "b"]))
    np.save(tmp_path / "struct.npy", np.zeros(3, dtype=[("a", "f4"), ("b", "i4")]))
    torch.save(torch.eye(4).to_sparse(), tmp_path / "sparse.pt")
    # an archive whose member declares 2 GiB of float32 (its data never written)
    hdr = io.BytesIO()
    np.lib.format.write_array_header_1_0(hdr, {"descr": "<f4", "fortran_order": False,
                                               "shape": (1 << 29,)})
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", hdr.getvalue() + b"\0" * 1024)   # the header holds the magic
    return tmp_path


@pytest.mark.parametrize("data,expect", [
    ("strs.npy", "arrays of dtype <U1 cannot be model inputs"),
    ("struct.npy", "cannot be model inputs"),
    ("sparse.pt", "a sparse_coo tensor"),
    ("bomb.npz", "above the memory budget"),
    ("hdata:fails_second", "batch 2: RuntimeError: second batch exploded"),
    ("hdata:changes", "batch 2: samples of shape (9,), but the first batch's were (8,)"),
])
def test_bad_data_is_one_error_line(probe_dir, data, expect):
    r = CliRunner().invoke(app, ["profile", "hnet:make", "--hw", "cmos45nm", "--no-layers",
                                 "--data", data, "--memory-budget", "1"])
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], r.stderr


# ----------------------------------------------------------------------------- NIR files
def _nir_file(path, depth: int = 1, weight_shape=None):
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w") as f:
        g = f.create_group("node")
        for _ in range(depth):
            g.create_dataset("type", data=b"NIRGraph")
            g = g.create_group("nodes").create_group("g")
        g.create_dataset("type", data=b"Affine")
        if weight_shape is not None:
            g.create_dataset("weight", shape=weight_shape, dtype="f4", chunks=True)


def test_nir_nested_deep_or_declaring_a_huge_weight_is_refused(tmp_path):
    pytest.importorskip("nir")
    deep = tmp_path / "deep.nir"
    _nir_file(deep, depth=1500)
    with pytest.raises(UserError, match="nested more than 64 graphs deep"):
        em.nir.load(deep)
    huge = tmp_path / "huge.nir"
    _nir_file(huge, weight_shape=(30000, 30000))   # 3.6 GB declared, a few KB on disk
    assert os.path.getsize(huge) < 1 << 20
    with pytest.raises(UserError, match="above|more than the memory budget"):
        em.nir.load(huge, memory_budget=1 << 30)


# ----------------------------------------------------------------------------- hardware
@pytest.mark.parametrize("old,new,field", [
    ("cores_per_chip:\n    value: 4096", "cores_per_chip:\n    value: 1.0e-300",
     "capacity.cores_per_chip.value"),
    ("tick:\n    value: 1", "tick:\n    value: 1.0e-300", "timing.tick.value"),
    ("static_per_chip:\n    value: 64.4", "static_per_chip:\n    value: 1.0e-300",
     "power.static_per_chip.value"),
])
def test_implausibly_small_capacity_timing_power_is_refused(old, new, field):
    from pathlib import Path

    from energymodel.pricing.hardware import validate_hardware_text

    text = (Path(__file__).resolve().parents[1] / "hwprofiles" / "truenorth.yaml").read_text()
    assert old in text
    fields = {p.field for p in validate_hardware_text(text.replace(old, new), "x.yaml")}
    assert field in fields


def test_json_never_holds_inf_or_nan():
    from energymodel.common.formatting import to_json_text

    assert to_json_text({"a": float("inf"), "b": float("nan"), "c": 1.5}) == \
        '{\n  "a": null,\n  "b": null,\n  "c": 1.5\n}\n'


# ----------------------------------------------------------------------------- threads
class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc, self.lif = nn.Linear(16, 16), em.LIF()

    def forward(self, x):
        return self.lif(self.fc(x))


def _counts(prof):
    t = prof.totals()
    return float(t["acs"]), float(t["neuron_updates"]), float(t["spikes_out"])


def test_two_threads_profiling_one_model_each_count_right():
    torch.manual_seed(0)
    net = _Net()
    x = (torch.rand(4, 2, 16) < 0.5).float()
    want = _counts(em.profile(net, x, batch_dim=1))
    got, errors = [], []
    barrier = threading.Barrier(2)

    def work():
        try:
            with em.Profiler(net, batch_dim=1) as p:
                barrier.wait()
                for _ in range(5):
                    net(x)
            got.append(_counts(p.result()))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert got == [tuple(5 * v for v in want)] * 2


def test_outer_profiler_does_not_count_another_threads_work():
    torch.manual_seed(0)
    net = _Net()
    x = (torch.rand(4, 2, 16) < 0.5).float()
    want = _counts(em.profile(net, x, batch_dim=1))
    with em.Profiler(net, batch_dim=1) as outer:
        net(x)
        t = threading.Thread(target=lambda: em.profile(net, x, batch_dim=1))
        t.start()
        t.join()
    assert _counts(outer.result()) == want


def test_result_of_a_profiler_that_never_ran_raises():
    with pytest.raises(RuntimeError, match="never ran"):
        em.Profiler(_Net()).result()


def test_a_neuron_created_during_the_forward_counts_from_its_first_call():
    """Hooked when the model attaches it (a global registration hook, this session only): the
    first session counts it as the second does, with a note naming it and no warning."""
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.lif = em.LIF()

    class Lazy(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            if not hasattr(self, "lif"):
                self.lif = em.LIF()         # created on the first call, under the profiler
                self.deep = Block()         # a subtree holding another
            return self.deep.lif(self.lif(self.fc(x)))

    torch.manual_seed(0)
    net = Lazy()
    x = torch.rand(2, 1, 4) * 3
    first = em.profile(net, x, batch_dim=1)
    d = first.diagnostics()
    notes = d[d["check"] == "late_neuron"]
    assert set(notes["site"]) == {"lif", "deep.lif"} and set(notes["level"]) == {"note"}
    assert "counted from its first call" in notes["message"].iloc[0]
    assert "warning" not in set(d.loc[d["check"].isin(("late_neuron", "no_neuron",
                                                       "unrecognised_neuron")), "level"])
    second = em.profile(net, x, batch_dim=1)            # created before: hooked on entry
    assert "late_neuron" not in set(second.diagnostics()["check"])
    cols = ["neuron_updates", "spikes_out", "acs", "macs"]
    assert first.totals()[cols].to_dict() == second.totals()[cols].to_dict()
    assert float(first.totals()["neuron_updates"]) == 2 * 2 * 4
    # the hook is gone with the session: a module attached afterwards is not hooked
    assert not any(h for h in nn.modules.module._global_module_registration_hooks.values())


def test_data_parallel_is_refused_not_undercounted():
    net = nn.DataParallel(_Net())
    with pytest.raises(UserError, match="DataParallel runs its replicas in worker threads"):
        em.profile(net, torch.rand(2, 1, 16))

"""``energymodel profile --data``: every form of data (tensor files, image folders, callables,
time-major events) gives exactly the counts of the API's loader path (``em.profile_loader``)
on the same batches, built here independently of ``energymodel.inputs``; every report records
its inputs; ``--model-arg`` builds a spikingjelly zoo network; bad input is one error line."""

from __future__ import annotations

import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import energymodel as em
from energymodel.cli import app
from energymodel.counting.columns import COUNT_COLUMNS
from energymodel.common.errors import UserError
from energymodel.interop.inputs import open_data
from energymodel.workflow import parse_model_args, profile_model_spec

runner = CliRunner()

CONV = textwrap.dedent(
    """
    import torch
    from torch import nn
    import energymodel as em


    class ConvTiny(nn.Module):
        input_shape = (3, 8, 8)
        T = 2

        def __init__(self, width=4):
            super().__init__()
            self.conv = nn.Conv2d(3, width, 3, padding=1)
            self.lif = em.LIF()
            self.conv2 = nn.Conv2d(width, 4, 3, padding=1, bias=False)
            self.lif2 = em.LIF()
            self.fc = nn.Linear(4 * 8 * 8, 5)

        def forward(self, x):  # [B, 3, 8, 8] (repeated over T) or events [T, B, 3, 8, 8]
            if x.dim() == 4:
                x = x.unsqueeze(0).repeat(self.T, 1, 1, 1, 1)
            T, B = x.shape[:2]
            y = self.lif((self.conv(x.flatten(0, 1)) * 4.0).reshape(T, B, -1, 8, 8))
            y = self.lif2((self.conv2(y.flatten(0, 1)) * 2.0).reshape(T, B, -1, 8, 8))
            return self.fc(y.flatten(2)).mean(0)


    def make(width=4):
        torch.manual_seed(0)
        return ConvTiny(width)


    def loader(batch_size=3):
        g = torch.Generator().manual_seed(5)
        x = torch.rand(7, 3, 8, 8, generator=g)
        ds = torch.utils.data.TensorDataset(x, torch.zeros(7))
        return torch.utils.data.DataLoader(ds, batch_size=batch_size)


    def batch_list():
        g = torch.Generator().manual_seed(6)
        return [torch.rand(2, 3, 8, 8, generator=g) for _ in range(4)]


    def broken():
        raise RuntimeError("no data today")
    """
)


@pytest.fixture()
def convmod(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "convmod.py").write_text(CONV)
    monkeypatch.syspath_prepend(str(pkg))
    sys.modules.pop("convmod", None)
    import convmod  # noqa: PLC0415

    out = tmp_path / "out"
    out.mkdir()
    return convmod, out


def _counts(prof: em.Profile):
    return prof.layers.set_index("site")[list(COUNT_COLUMNS)]


def _same(run_prof: em.Profile, ref: em.Profile) -> None:
    assert run_prof.samples == ref.samples
    a, b = _counts(run_prof), _counts(ref)
    assert list(a.index) == list(b.index)
    assert (a.to_numpy() == b.to_numpy()).all(), (a - b).abs().max()
    sa, sb = run_prof.rate_spread(), ref.rate_spread()
    assert sa["batches"].tolist() == sb["batches"].tolist()
    np.testing.assert_array_equal(sa["rate_max"].to_numpy(), sb["rate_max"].to_numpy())


def _ref(mod, batches, batch_dim=0):
    """The API's loader path on batches built by the test."""
    return em.profile_loader(mod.make(), batches, batch_dim=batch_dim, reset=True,
                             progress=False)


def _x(n=7, seed=1):
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------ each form
def test_pt_file_tensor_and_pair_match_the_loader_path(convmod, tmp_path):
    x = _x()
    want = _ref(convmod[0], [x[0:3], x[3:6], x[6:7]])
    for i, obj in enumerate((x, (x, torch.arange(7)), {"inputs": x, "labels": torch.arange(7)})):
        path = tmp_path / f"d{i}.pt"
        torch.save(obj, path)
        run = profile_model_spec("convmod:make", ["cmos45nm"], data=str(path), batch_size=3,
                                 batches=None)
        _same(run.profile, want)
        assert run.settings["samples"] == 7 and run.settings["batches"] == 3
        assert str(path) in run.settings["inputs"]
    # --batches caps: two batches of three
    run = profile_model_spec("convmod:make", ["cmos45nm"], data=str(tmp_path / "d0.pt"),
                             batch_size=3, batches=2)
    _same(run.profile, _ref(convmod[0], [x[0:3], x[3:6]]))


def test_npy_and_npz_match_the_loader_path(convmod, tmp_path):
    x = _x(seed=2)
    np.save(tmp_path / "d.npy", x.numpy())
    np.savez(tmp_path / "d.npz", labels=np.zeros(7), x=x.numpy())
    want = _ref(convmod[0], [x[0:4], x[4:7]])
    for f in ("d.npy", "d.npz"):
        run = profile_model_spec("convmod:make", ["cmos45nm"], data=str(tmp_path / f),
                                 batch_size=4, batches=None)
        _same(run.profile, want)
    # uint8 is cast to float32, values unchanged
    np.save(tmp_path / "u8.npy", (x.numpy() * 3).astype(np.uint8))
    run = profile_model_spec("convmod:make", ["cmos45nm"], data=str(tmp_path / "u8.npy"),
                             batch_size=7, batches=None)
    _same(run.profile, _ref(convmod[0], [torch.from_numpy((x.numpy() * 3).astype(np.uint8)).float()]))


def _write_images(root, rng, n_per_class=(3, 2), size=8):
    """PNG files in class folders; returns the pixel arrays in sorted path order."""
    from PIL import Image  # noqa: PLC0415

    arrays = {}
    for c, n in enumerate(n_per_class):
        d = root / f"class{c}"
        d.mkdir(parents=True)
        for i in range(n):
            a = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
            p = d / f"img{i}.png"
            Image.fromarray(a).save(p)
            arrays[str(p)] = a
    return [arrays[k] for k in sorted(arrays)]


def test_image_folder_matches_the_loader_path_with_and_without_normalisation(convmod, tmp_path):
    arrays = _write_images(tmp_path / "imgs", np.random.default_rng(0))
    x = torch.from_numpy(np.stack(arrays).astype(np.float32) / 255.0).permute(0, 3, 1, 2)
    run = profile_model_spec("convmod:make", ["cmos45nm"], data=str(tmp_path / "imgs"),
                             batch_size=2, batches=None)
    _same(run.profile, _ref(convmod[0], [x[0:2], x[2:4], x[4:5]]))
    assert "5 images in 2 folder(s)" in run.settings["inputs"]
    xn = (x - 0.5) / 0.25
    run = profile_model_spec("convmod:make", ["cmos45nm"], data=str(tmp_path / "imgs"),
                             batch_size=5, batches=None, normalize="0.5,0.25")
    _same(run.profile, _ref(convmod[0], [xn]))
    # per-channel normalisation: 3 means then 3 stds
    m, s = torch.tensor([0.1, 0.2, 0.3]).view(3, 1, 1), torch.tensor([0.5, 0.6, 0.7]).view(3, 1, 1)
    run = profile_model_spec("convmod:make", ["cmos45nm"], data=str(tmp_path / "imgs"),
                             batch_size=5, batches=None, normalize="0.1,0.2,0.3,0.5,0.6,0.7")
    _same(run.profile, _ref(convmod[0], [(x - m) / s]))


def test_images_of_another_size_are_resized_to_the_input_shape(convmod, tmp_path):
    _write_images(tmp_path / "big", np.random.default_rng(1), n_per_class=(2,), size=16)
    src = open_data(tmp_path / "big", batch_size=2, input_shape=(3, 8, 8))
    (b,) = list(src.batches)
    assert b.shape == (2, 3, 8, 8) and 0.0 <= float(b.min()) and float(b.max()) <= 1.0


def test_callable_dataloader_and_list_match_the_loader_path(convmod):
    # a DataLoader of (inputs, labels); batch_size passed through; --batches caps
    run = profile_model_spec("convmod:make", ["cmos45nm"], data="convmod:loader", batch_size=3,
                             batches=None)
    _same(run.profile, _ref(convmod[0], convmod[0].loader(3)))
    assert run.settings["batches"] == 3 and run.settings["samples"] == 7
    run = profile_model_spec("convmod:make", ["cmos45nm"], data="convmod:loader", batch_size=2,
                             batches=2)
    _same(run.profile, _ref(convmod[0], list(convmod[0].loader(2))[:2]))
    run = profile_model_spec("convmod:make", ["cmos45nm"], data="convmod:batch_list",
                             batches=None)
    _same(run.profile, _ref(convmod[0], convmod[0].batch_list()))


def test_time_major_events_match_the_loader_path(convmod, tmp_path):
    g = torch.Generator().manual_seed(3)
    ev = (torch.rand(2, 5, 3, 8, 8, generator=g) < 0.3).float()  # [T, N, C, H, W]
    torch.save(ev, tmp_path / "ev.pt")
    run = profile_model_spec("convmod:make", ["cmos45nm"], data=str(tmp_path / "ev.pt"),
                             batch_size=2, batches=None, time_major=True)
    want = _ref(convmod[0], [ev[:, 0:2], ev[:, 2:4], ev[:, 4:5]], batch_dim=1)
    _same(run.profile, want)
    assert run.profile.samples == 5 and "time-major" in run.settings["inputs"]
    # the encoder reads binary events: no MACs at all
    assert run.profile.totals()["macs"] == 0


# ------------------------------------------------------------------------------ reports
def test_every_report_records_its_inputs(convmod, tmp_path):
    _, out = convmod
    x = _x(5, seed=4)
    torch.save(x, tmp_path / "v.pt")
    want = profile_model_spec("convmod:make", ["cmos45nm"], data=str(tmp_path / "v.pt"),
                              batch_size=2, batches=None).report.totals["total_mj"].iloc[0]
    for ext in ("json", "md", "tex"):
        r = runner.invoke(app, ["profile", "convmod:make", "--data", str(tmp_path / "v.pt"),
                                "-b", "2", "--out", str(out / f"r.{ext}")], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        assert "5 sample(s) in 3 batch(es)" in r.output and "v.pt" in r.output
        assert "per-batch firing-rate spread over 3 batches" in r.output
        text = (out / f"r.{ext}").read_text()
        assert "v.pt" in text, ext
    d = json.loads((out / "r.json").read_text())
    assert d["samples"] == 5 and d["batches"] == 3 and "v.pt" in d["inputs"]
    assert d["totals"][0]["total_mj"] == pytest.approx(want, rel=1e-12)
    assert {r["site"] for r in d["rate_spread"]} >= {"lif:lif#0", "lif2:lif#0"}
    assert "- samples: 5" in (out / "r.md").read_text()
    assert "5 sample(s) in 3 batch(es)" in (out / "r.tex").read_text()
    # the generator is recorded with its seed
    r = runner.invoke(app, ["profile", "convmod:make", "--seed", "7", "--out", str(out / "g.json")])
    g = json.loads((out / "g.json").read_text())
    assert g["inputs"] == "generator random, seed 7" and g["samples"] == 1 and g["batches"] == 1


# ------------------------------------------------------------------------------ model args
def test_model_arg_values():
    a = parse_model_args(["n=3", "tau=2.5", "mode=m", "shape=(1, 2)", "flag=True", "s='x y'",
                          "obj=energymodel.lif:LIF", "made=energymodel.lif:LIF()"])
    assert a["n"] == 3 and a["tau"] == 2.5 and a["mode"] == "m" and a["shape"] == (1, 2)
    assert a["flag"] is True and a["s"] == "x y" and a["obj"] is em.LIF
    assert isinstance(a["made"], em.LIF)
    with pytest.raises(UserError, match="no_such_mod"):
        parse_model_args(["x=no_such_mod.sub:thing"])
    with pytest.raises(UserError, match="key=value"):
        parse_model_args(["novalue"])


def test_model_arg_and_kwargs_file_reach_the_constructor(convmod, tmp_path):
    run = profile_model_spec("convmod:make", ["cmos45nm"], model_kwargs={"width": 6})
    assert run.spec.model.conv.out_channels == 6
    (tmp_path / "kw.yaml").write_text("width: 5\n")
    (tmp_path / "kw.json").write_text('{"width": 7}')
    assert parse_model_args([], tmp_path / "kw.yaml") == {"width": 5}
    assert parse_model_args(["width=2"], tmp_path / "kw.json") == {"width": 2}


SJ_MNIST = "spikingjelly.activation_based.model.parametric_lif_net:MNISTNet"
SJ_ARGS = ["--model-arg", "channels=4",
           "--model-arg", "spiking_neuron=spikingjelly.activation_based.neuron:LIFNode",
           "--model-arg", "surrogate_function=spikingjelly.activation_based.surrogate:ATan()",
           "--input-shape", "1,28,28"]


def test_model_arg_builds_a_spikingjelly_zoo_network(tmp_path):
    """spikingjelly's MNISTNet needs ``spiking_neuron`` (its spiking_resnet18 would too, but
    imports torchvision at module level). Counts equal the network built by hand."""
    pytest.importorskip("spikingjelly.activation_based.model.parametric_lif_net")
    from spikingjelly.activation_based import neuron, surrogate  # noqa: PLC0415
    from spikingjelly.activation_based.model.parametric_lif_net import MNISTNet  # noqa: PLC0415

    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    torch.save(x, tmp_path / "mnist.pt")
    out = tmp_path / "sj.json"
    r = runner.invoke(app, ["profile", SJ_MNIST, *SJ_ARGS, "--data", str(tmp_path / "mnist.pt"),
                            "-b", "3", "--calibrate", "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    torch.manual_seed(0)  # the command seeds the random initialisation with --seed 0
    net = MNISTNet(channels=4, spiking_neuron=neuron.LIFNode,
                   surrogate_function=surrogate.ATan()).eval()
    em.attention.calibrate_bn(net, x, shift=0.5)
    ref = em.profile_loader(net, [x], batch_dim=0, reset=True, progress=False).per_sample()
    d = json.loads(out.read_text())
    got = {(r["site"], c): r[c] for r in d["layers"] for c in ("macs", "sops", "spikes_out")}
    assert {s for s, _ in got} == set(ref["site"])
    for row in ref.itertuples():
        for c, v in (("macs", row.macs), ("sops", row.acs), ("spikes_out", row.spikes_out)):
            assert got[(row.site, c)] == pytest.approx(v, rel=1e-12), (row.site, c)
    assert got[("conv_fc.0:conv2d#0", "macs")] == 4 * 28 * 28 * 9  # the encoder, by hand
    assert sum(v for (_, c), v in got.items() if c == "sops") > 0
    # without spiking_neuron the constructor fails: one error line
    r = runner.invoke(app, ["profile", SJ_MNIST, "--input-shape", "1,28,28"])
    assert r.exit_code == 2 and "MNISTNet()" in r.output and "NoneType" in r.output


# ------------------------------------------------------------------------------ bad input
def _bad(args, needle, out):
    r = runner.invoke(app, [str(a) for a in args] + ["--out", str(out / "bad.json")])
    msg = r.output.strip()
    assert r.exit_code == 2, (args, r.output)
    assert msg.startswith("error: ") and "\n" not in msg, (args, msg)
    for n in ([needle] if isinstance(needle, str) else needle):
        assert n in msg, (args, msg)
    assert not (out / "bad.json").exists()


def test_bad_data_is_one_error_line_naming_the_problem(convmod, tmp_path):
    _, out = convmod
    torch.save(torch.rand(4, 3, 9, 9), tmp_path / "wrong.pt")
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk" / "a").mkdir(parents=True)
    (tmp_path / "junk" / "a" / "x.png").write_bytes(b"not an image at all")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "garbage.pt").write_bytes(b"\x00\x01garbage")
    torch.save(torch.rand(3, 3, 8, 8), tmp_path / "ok.pt")
    cases = [
        (["profile", "convmod:make", "--data", tmp_path / "wrong.pt"], ["(3, 9, 9)", "(3, 8, 8)"]),
        (["profile", "convmod:make", "--data", "convmod:batch_list", "--input-shape", "3,4,4"],
         ["(3, 8, 8)", "(3, 4, 4)"]),
        (["profile", "convmod:make", "--data", tmp_path / "empty"], ["empty", "no PNG"]),
        (["profile", "convmod:make", "--data", tmp_path / "junk"], "x.png"),
        (["profile", "convmod:make", "--data", tmp_path / "notes.txt"], "notes.txt"),
        (["profile", "convmod:make", "--data", tmp_path / "garbage.pt"], "garbage.pt"),
        (["profile", "convmod:make", "--data", tmp_path / "nothere.pt"], "nothere.pt"),
        (["profile", "convmod:make", "--data", "convmod:broken"], ["convmod:broken", "no data today"]),
        (["profile", "convmod:make", "--data", "convmod:nosuch"], "nosuch"),
        (["profile", "convmod:make", "--data", tmp_path / "ok.pt", "--normalize", "0.5"],
         "--normalize"),
        (["profile", "convmod:make", "--data", tmp_path / "empty", "--time-major"], "--time-major"),
        (["profile", "convmod:make", "--model-arg", "bogus=1"], ["bogus", "make()"]),
        (["profile", "convmod:make", "--model-arg", "width"], "width"),
        (["profile", "convmod:make", "--model-kwargs", tmp_path / "notes.txt"], "notes.txt"),
        (["profile", "sdt-1-64-tiny", "--model-arg", "nonsense_key=3"], "nonsense_key"),
        (["profile", "convmod:make", "--normalize", "0.5,0.2"], "--normalize"),
        (["profile", "convmod:make", "--time-major"], "--time-major"),
        (["profile", "convmod:make", "--data", tmp_path / "ok.pt", "--input", "normal"], "--input"),
    ]
    for args, needle in cases:
        _bad(args, needle, out)

"""The trained example end to end, shortened: a few surrogate-gradient steps of
``examples/train_tiny.py`` on its synthetic gratings lower the loss and beat chance; the saved
``state_dict`` goes through ``energymodel profile --checkpoint`` and prices to a positive energy
whose firing rates are not those of the random-weight (calibrated BatchNorm) run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from energymodel.cli import app

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ex():
    spec = importlib.util.spec_from_file_location("train_tiny", ROOT / "examples" / "train_tiny.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_gratings_are_seeded_balanced_images(ex):
    x, y = ex.make_gratings(200, seed=3)
    x2, y2 = ex.make_gratings(200, seed=3)
    assert x.shape == (200, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert torch.bincount(y, minlength=10).tolist() == [20] * 10
    assert not torch.equal(ex.make_gratings(200, seed=4)[0], x)


def _rates(path: Path) -> dict[str, float]:
    """Firing rate per neuron layer (spikes_out / neuron_updates) from an energy JSON file."""
    layers = [r for r in json.loads(path.read_text())["layers"] if r["kind"] == "neuron"]
    return {r["layer"]: r["spikes_out"] / r["neuron_updates"] for r in layers}


def test_short_training_then_profile_the_checkpoint_with_the_cli(ex, tmp_path):
    x_tr, y_tr = ex.make_gratings(768, seed=0)
    x_te, y_te = ex.make_gratings(300, seed=1)
    model = ex.build_model(seed=0)
    losses = ex.train(model, x_tr, y_tr, epochs=1, batch_size=32, max_steps=24, log=None)
    assert len(losses) == 24 and all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.2
    acc = ex.accuracy(model, x_te, y_te)
    assert acc > 0.3, acc  # chance is 0.1
    assert not model.training

    ckpt = tmp_path / "tiny.pth"
    torch.save(model.state_dict(), ckpt)
    runner = CliRunner()
    outs = {}
    for label, extra in (("trained", ["--checkpoint", str(ckpt)]), ("random", [])):
        outs[label] = tmp_path / f"{label}.json"
        r = runner.invoke(app, ["profile", "sdt-1-64-tiny", *extra, "--hw", "cmos45nm",
                                "--out", str(outs[label])], catch_exceptions=False)
        assert r.exit_code == 0, r.output
    assert "BatchNorm calibrated" not in runner.invoke(
        app, ["profile", "sdt-1-64-tiny", "--checkpoint", str(ckpt)]).output

    d = json.loads(outs["trained"].read_text())
    assert [t["hardware"] for t in d["totals"]] == ["cmos45nm"]
    assert d["totals"][0]["total_mj"] > 0
    trained, random = _rates(outs["trained"]), _rates(outs["random"])
    assert trained.keys() == random.keys() and len(trained) >= 10
    assert max(abs(trained[k] - random[k]) for k in trained) > 0.05

    # the same through the API, on the example's own images, as the script prints it
    rates, energy = ex.compare_trained_random(model, x_te[:16], seed=0, hardware=["cmos45nm"])
    assert list(rates.columns) == ["trained", "random"] and len(rates) == len(trained) + 1
    assert rates.notna().all().all() and not np.allclose(rates["trained"], rates["random"])
    assert (energy > 0).all().all()

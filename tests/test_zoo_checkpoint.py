"""Checkpoints that do not fit: only the 1x1-conv <-> linear translation may reshape a tensor,
and a head count the file records must match the model's."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from energymodel import zoo

NAME = "sdt-1-64-tiny"
FC1 = "block.0.mlp.fc1_linear.weight"  # [256, 64]


def _state(name: str = NAME) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return zoo.build(name).state_dict()


def _save(tmp_path, obj, fname="ck.pth"):
    path = tmp_path / fname
    torch.save(obj, path)
    return path


@pytest.mark.parametrize("bad", [
    lambda w: w.t().contiguous(),                       # transposed: same element count
    lambda w: w.reshape(128, 128),                      # same count, another 2-D shape
    lambda w: w.t().contiguous()[:, :, None, None],    # 1x1 Conv2d of the transposed shape
    lambda w: w.t().contiguous()[:, :, None],           # 1x1 Conv1d of the transposed shape
    lambda w: w.reshape(256, 16, 4),                    # 3-D, but not a 1x1 kernel
])
def test_same_element_count_with_another_shape_is_an_error_naming_key_and_shapes(tmp_path, bad):
    sd = _state()
    w = sd[FC1]
    sd[FC1] = bad(w)
    assert sd[FC1].numel() == w.numel() and sd[FC1].shape != w.shape
    path = _save(tmp_path, {"state_dict": sd})
    with pytest.raises(zoo.CheckpointError) as e:
        zoo.build(NAME, checkpoint=path)
    msg = str(e.value)
    assert FC1 in msg and str(tuple(sd[FC1].shape)) in msg and str(tuple(w.shape)) in msg


def test_the_documented_conv_linear_translation_still_loads(tmp_path):
    torch.manual_seed(0)
    a = zoo.build(NAME)
    sd = {}
    for k, v in a.state_dict().items():  # official layout: 1x1 Conv1d or Conv2d weights
        if k.endswith("_linear.weight") and not k.startswith("head"):
            v = v[:, :, None] if "attn" in k else v[:, :, None, None]
        sd[k.replace("_linear.", "_conv.")] = v
    b = zoo.build(NAME, checkpoint=_save(tmp_path, sd))
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_linear_into_a_1x1_conv_loads_and_a_3x3_does_not(tmp_path):
    class Net(nn.Module):
        def __init__(self, k):
            super().__init__()
            self.fc1_conv = nn.Conv2d(4, 6, k, bias=False)

    w = torch.randn(6, 4)
    path = _save(tmp_path, {"fc1_conv.weight": w})
    net = zoo.load_checkpoint(Net(1), path)
    assert torch.equal(net.fc1_conv.weight[:, :, 0, 0], w)
    w9 = torch.randn(6, 36)  # [out, in*9] has the element count of [6, 4, 3, 3]
    with pytest.raises(zoo.CheckpointError, match=r"fc1_conv\.weight: file \(6, 36\) vs model \(6, 4, 3, 3\)"):
        zoo.load_checkpoint(Net(3), _save(tmp_path, {"fc1_conv.weight": w9}, "w9.pth"))


def _timm_checkpoint(tmp_path, name, heads, fname="timm.pth.tar"):
    """What timm's CheckpointSaver (the official train.py) writes: the run's args beside."""
    args = argparse.Namespace(num_heads=heads, dim=64, layer=1, time_steps=2, model="sdt")
    return _save(tmp_path, {"epoch": 3, "arch": "sdt", "state_dict": _state(name),
                            "args": args, "version": 2, "metric": 71.5}, fname)


@pytest.mark.parametrize("name", ["spikformer-1-64-tiny", "sdt-1-64-tiny"])
def test_a_recorded_head_count_must_match(tmp_path, name):
    assert zoo.config(name)["heads"] == 4
    ok = _timm_checkpoint(tmp_path, name, heads=4)
    zoo.build(name, checkpoint=ok)  # the Namespace is read as data, the weights load
    bad = _timm_checkpoint(tmp_path, name, heads=8, fname="h8.pth.tar")
    with pytest.raises(zoo.CheckpointError, match=r"trained with 8 attention heads.*has 4.*heads=8"):
        zoo.build(name, checkpoint=bad)
    m = zoo.build(name, heads=8, checkpoint=bad)  # built as the file says: loads
    assert {b.attn.heads for b in m.block} == {8}
    ours = _save(tmp_path, {"state_dict": _state(name), "config": {"heads": 2}}, "ours.pth")
    with pytest.raises(zoo.CheckpointError, match="trained with 2 attention heads"):
        zoo.build(name, checkpoint=ours)


def test_a_bare_state_dict_cannot_tell_heads_apart(tmp_path):
    """Documented limit: heads change no weight shape; a bare state dict loads either way."""
    path = _save(tmp_path, _state("spikformer-1-64-tiny"))
    for h in (2, 4, 8):
        zoo.build("spikformer-1-64-tiny", heads=h, checkpoint=path)
    assert "cannot say" in zoo.checkpoint.__doc__


def _cli(*args, cwd):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "energymodel", *map(str, args)],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def test_cli_profile_with_a_transposed_weight_is_one_error_line_exit_2(tmp_path):
    sd = _state()
    sd[FC1] = sd[FC1].t().contiguous()
    bad = _save(tmp_path, {"state_dict": sd}, "transposed.pth")
    out = tmp_path / "r.json"
    p = _cli("profile", NAME, "--hw", "cmos45nm", "--checkpoint", bad, "--out", out, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    err = p.stderr.strip()
    assert err.startswith("error:") and err.count("\n") == 0 and "Traceback" not in err
    assert FC1 in err and "(64, 256)" in err and "(256, 64)" in err
    assert not out.exists()
    heads = _timm_checkpoint(tmp_path, NAME, heads=8)
    p = _cli("profile", NAME, "--hw", "cmos45nm", "--checkpoint", heads, cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.strip().startswith("error:"), p.stderr
    assert "8 attention heads" in p.stderr and p.stderr.strip().count("\n") == 0

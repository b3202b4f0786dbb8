"""The reference zoo: names, published parameter counts, forwards at tiny size, checkpoints."""

from __future__ import annotations

import math

import pytest
import torch

from energymodel import zoo

# the four ImageNet sizes both papers report (Spikformer Table 3, SDT Table 2); the papers give
# millions to two decimals, truncated for some rows and rounded for others.
PUBLISHED = {
    "spikformer-8-384": 16.81, "spikformer-8-512": 29.68, "spikformer-10-512": 36.01,
    "spikformer-8-768": 66.34, "sdt-8-384": 16.81, "sdt-6-512": 23.37, "sdt-8-512": 29.68,
    "sdt-10-512": 36.01, "sdt-8-768": 66.34, "spikformer-4-384-cifar": 9.32,
    "spikformer-4-256-cifar": 4.15, "spikformer-2-384-cifar": 5.76, "sdt-2-512-cifar100": 10.28,
}


def _meta_params(name: str) -> int:
    with torch.device("meta"):  # parameter counts without allocating ImageNet-size weights
        return zoo.count_params(zoo.build(name))


def test_names_cover_every_family_and_size():
    names = zoo.names()
    for fam in ("spikformer", "sdt", "saformer", "vit"):
        assert any(n.startswith(fam + "-") for n in names), fam
        assert f"{fam}-8-512" in names and f"{fam}-8-768" in names and f"{fam}-8-384" in names
        assert any(n.startswith(fam) and n.endswith("-tiny") for n in names)
        assert any(n.startswith(fam) and "-cifar" in n for n in names)
    assert zoo.names("sdt") == [n for n in names if n.startswith("sdt-")]
    with pytest.raises(ValueError):
        zoo.names("resnet")


def test_spikformer_8_512_is_exactly_the_official_count():
    # the official Spikformer ImageNet code gives 29,689,384 for 8-512
    assert _meta_params("spikformer-8-512") == 29_689_384
    assert _meta_params("sdt-8-512") == 29_689_384  # same shapes, no unused talking_heads conv


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_counts(name):
    n = _meta_params(name)
    published = PUBLISHED[name]
    assert zoo.published_params(name) == pytest.approx(published * 1e6)
    millions = n / 1e6
    # reproduced to the published two decimals (truncated or rounded, as the paper did)
    assert published in (math.floor(millions * 100) / 100, round(millions, 2)), (name, n)


def test_saformer_has_one_projection_fewer_plus_dwc():
    d = 512
    diff = _meta_params("sdt-8-512") - _meta_params("saformer-8-512")
    # per block: minus V linear (D²) and its BN (2D), plus 3x3 depthwise conv (9D) and BN (2D)
    assert diff == 8 * (d * d + 2 * d - 9 * d - 2 * d)


@pytest.mark.parametrize("name", [n for n in zoo.names() if n.endswith("-tiny")])
def test_tiny_models_run_forward(name):
    torch.manual_seed(0)
    model = zoo.build(name)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 10)
    assert torch.isfinite(y).all()
    assert not model.training


def test_overrides_and_unknown_keys():
    m = zoo.build("sdt-1-64-tiny", T=3, num_classes=7)
    assert m.T == 3 and m.head.out_features == 7
    with pytest.raises(TypeError, match="unknown config keys"):
        zoo.build("sdt-1-64-tiny", bogus=1)
    with pytest.raises(KeyError, match="unknown zoo model"):
        zoo.build("sdt-9-999")


def test_spiking_model_repeats_image_over_T():
    torch.manual_seed(0)
    m = zoo.build("spikformer-1-64-tiny")
    seen = []
    m.patch_embed.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape))
    with torch.no_grad():
        m(torch.rand(1, 3, 32, 32))
    assert seen == [torch.Size([2, 1, 3, 32, 32])]


def test_checkpoint_roundtrip_nested_and_mismatch(tmp_path):
    torch.manual_seed(0)
    a = zoo.build("sdt-1-64-tiny")
    x = torch.rand(1, 3, 32, 32)
    raw = tmp_path / "raw.pth"
    torch.save(a.state_dict(), raw)
    nested = tmp_path / "nested.pth"
    torch.save({"model": a.state_dict(), "epoch": 3}, nested)
    for path in (raw, nested):
        b = zoo.build("sdt-1-64-tiny", checkpoint=path)
        with torch.no_grad():
            assert torch.equal(a(x), b(x))
    with pytest.raises(zoo.CheckpointError, match="raw.pth"):
        zoo.build("saformer-1-64-tiny", checkpoint=raw)
    with pytest.raises(FileNotFoundError):
        zoo.build("sdt-1-64-tiny", checkpoint=tmp_path / "none.pth")


def test_official_checkpoint_layout_is_translated(tmp_path):
    """Official checkpoints use 1x1 convs (q_conv [D, D, 1, 1]), a DDP 'module.' prefix and
    unused parameters (talking_heads, norm1/norm2); they load into our modules."""
    torch.manual_seed(0)
    a = zoo.build("sdt-1-64-tiny")
    official = {}
    for k, v in a.state_dict().items():
        if k.endswith("_linear.weight") and "head" not in k:
            k, v = k.replace("_linear.", "_conv."), v[:, :, None, None]
        elif "_linear." in k:
            k = k.replace("_linear.", "_conv.")
        official["module." + k] = v
    official["module.block.0.attn.talking_heads.weight"] = torch.zeros(4, 4, 1)
    path = tmp_path / "official.pth.tar"
    torch.save({"state_dict": official}, path)
    b = zoo.build("sdt-1-64-tiny", checkpoint=path)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(a(x), b(x))


def test_vit_baseline_has_the_standard_vit_parameter_count():
    d, depth, p, n = 512, 8, 16, 196
    per_block = (2 * d) + (3 * d * d + 3 * d) + (d * d + d) + (2 * d) + (4 * d * d + 4 * d) \
        + (4 * d * d + d)
    expected = (3 * p * p * d + d) + d + (n + 1) * d + depth * per_block + 2 * d + (d * 1000 + 1000)
    assert _meta_params("vit-8-512") == expected


def test_config_table_is_complete_and_consistent():
    for name, cfg in zoo.CONFIGS.items():
        fam, depth, dim = name.split("-")[:3]
        assert cfg["family"] == fam and cfg["depth"] == int(depth) and cfg["dim"] == int(dim)
        assert cfg["dim"] % cfg["heads"] == 0
        assert ("published_params" in cfg) == ("source" in cfg)
        if name.endswith("-tiny"):
            assert cfg["img_size"] == 32 and cfg.get("T", 2) == 2

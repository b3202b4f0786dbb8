"""The zoo as a table: model name -> configuration, with the published parameter count and its
source where one exists.

Naming: ``<family>-<depth>-<dim>`` for ImageNet 224 x 224 (T = 4), ``-cifar`` / ``-cifar100`` for
CIFAR 32 x 32 (T = 4), ``-tiny`` for the test/demo size (32 x 32, T = 2, a forward in
milliseconds). Heads do not change parameter counts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONFIGS", "FAMILIES"]

#: family -> model class name in :mod:`energymodel.zoo.models`
FAMILIES = {
    "spikformer": "Spikformer",
    "sdt": "SpikeDrivenTransformer",
    "saformer": "SAFormer",
    "vit": "ViT",
}

_SPIKFORMER_PAPER = "Spikformer, Zhou et al., ICLR 2023 (arXiv 2209.15425), Tables 2 and 3"
_SDT_PAPER = "Spike-driven Transformer, Yao et al., NeurIPS 2023 (arXiv 2307.01694), Tables 1 and 2"

_IMAGENET = dict(img_size=224, in_channels=3, num_classes=1000, T=4, pooling="1111")
_CIFAR10 = dict(img_size=32, in_channels=3, num_classes=10, T=4, pooling="0011")
_CIFAR100 = dict(_CIFAR10, num_classes=100)
_TINY = dict(img_size=32, in_channels=3, num_classes=10, T=2, pooling="0011")


def _cfg(family: str, depth: int, dim: int, heads: int, base: dict, **extra: Any) -> dict:
    cfg: dict[str, Any] = dict(family=family, depth=depth, dim=dim, heads=heads, mlp_ratio=4.0)
    cfg.update(base)
    if family == "spikformer":
        cfg["ssa_order"] = "qk_v"
    if family == "vit":
        cfg.pop("T"), cfg.pop("pooling")
        cfg["patch_size"] = 16 if cfg["img_size"] >= 224 else 4 if cfg["img_size"] >= 32 else 2
    cfg.update(extra)
    return cfg


CONFIGS: dict[str, dict[str, Any]] = {
    # Spikformer, ImageNet (official ImageNet code: Q, K, V without bias)
    "spikformer-8-384": _cfg("spikformer", 8, 384, 8, _IMAGENET, qkv_bias=False,
                             published_params=16.81e6, source=_SPIKFORMER_PAPER),
    "spikformer-8-512": _cfg("spikformer", 8, 512, 8, _IMAGENET, qkv_bias=False,
                             published_params=29.68e6, source=_SPIKFORMER_PAPER),
    "spikformer-10-512": _cfg("spikformer", 10, 512, 8, _IMAGENET, qkv_bias=False,
                              published_params=36.01e6, source=_SPIKFORMER_PAPER),
    "spikformer-8-768": _cfg("spikformer", 8, 768, 8, _IMAGENET, qkv_bias=False,
                             published_params=66.34e6, source=_SPIKFORMER_PAPER),
    # Spikformer, CIFAR-10 (official CIFAR code: nn.Linear with bias)
    "spikformer-4-256-cifar": _cfg("spikformer", 4, 256, 8, _CIFAR10, qkv_bias=True,
                                   published_params=4.15e6, source=_SPIKFORMER_PAPER),
    "spikformer-2-384-cifar": _cfg("spikformer", 2, 384, 12, _CIFAR10, qkv_bias=True,
                                   published_params=5.76e6, source=_SPIKFORMER_PAPER),
    "spikformer-4-384-cifar": _cfg("spikformer", 4, 384, 12, _CIFAR10, qkv_bias=True,
                                   published_params=9.32e6, source=_SPIKFORMER_PAPER),
    # Spike-driven Transformer, ImageNet
    "sdt-8-384": _cfg("sdt", 8, 384, 8, _IMAGENET, published_params=16.81e6, source=_SDT_PAPER),
    "sdt-6-512": _cfg("sdt", 6, 512, 8, _IMAGENET, published_params=23.37e6, source=_SDT_PAPER),
    "sdt-8-512": _cfg("sdt", 8, 512, 8, _IMAGENET, published_params=29.68e6, source=_SDT_PAPER),
    "sdt-10-512": _cfg("sdt", 10, 512, 8, _IMAGENET, published_params=36.01e6, source=_SDT_PAPER),
    "sdt-8-768": _cfg("sdt", 8, 768, 8, _IMAGENET, published_params=66.34e6, source=_SDT_PAPER),
    # Spike-driven Transformer, CIFAR (the paper's 10.28M is the CIFAR-100 head)
    "sdt-2-256-cifar": _cfg("sdt", 2, 256, 8, _CIFAR10),
    "sdt-2-512-cifar": _cfg("sdt", 2, 512, 8, _CIFAR10),
    "sdt-2-512-cifar100": _cfg("sdt", 2, 512, 8, _CIFAR100, published_params=10.28e6,
                               source=_SDT_PAPER),
    # SAFormer, our reading of arXiv 2412.13553 (no published parameter counts available to us)
    "saformer-8-384": _cfg("saformer", 8, 384, 8, _IMAGENET),
    "saformer-8-512": _cfg("saformer", 8, 512, 8, _IMAGENET),
    "saformer-8-768": _cfg("saformer", 8, 768, 8, _IMAGENET),
    "saformer-2-256-cifar": _cfg("saformer", 2, 256, 8, _CIFAR10),
    "saformer-4-384-cifar": _cfg("saformer", 4, 384, 12, _CIFAR10),
    # Vanilla ViT baseline (ANN, T = 1)
    "vit-8-384": _cfg("vit", 8, 384, 8, _IMAGENET),
    "vit-8-512": _cfg("vit", 8, 512, 8, _IMAGENET),
    "vit-8-768": _cfg("vit", 8, 768, 8, _IMAGENET),
    "vit-4-384-cifar": _cfg("vit", 4, 384, 12, _CIFAR10),
    # tiny: tests and demos
    "spikformer-1-64-tiny": _cfg("spikformer", 1, 64, 4, _TINY),
    "sdt-1-64-tiny": _cfg("sdt", 1, 64, 4, _TINY),
    "saformer-1-64-tiny": _cfg("saformer", 1, 64, 4, _TINY),
    "vit-1-64-tiny": _cfg("vit", 1, 64, 4, _TINY),
}

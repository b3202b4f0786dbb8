"""The zoo as a table: model name -> configuration, with the published parameter count and the
source of every architectural choice.

Naming: ``<family>-<depth>-<dim>`` for ImageNet 224 x 224 (T = 4), ``-cifar`` / ``-cifar100`` for
CIFAR 32 x 32 (T = 4), ``-tiny`` for the test/demo size (32 x 32, T = 2, a forward in
milliseconds). Heads do not change parameter counts, so a checkpoint cannot tell them apart
(see :mod:`.checkpoint`): their source matters.

Every configuration carries ``sources``: choice -> where it comes from, a file of the official
repository at a commit (read with git; see the constants below) or a paper table; ``ours`` where
we chose (the demo sizes, the ViT baseline's match to the spiking sizes) and ``our reading``
for SAFormer, whose code and method section were not available to us (``DESIGN.md``). The
choices that live in the model code rather than in the configuration (neurons, BatchNorm
placement, residual form, position embedding, head) are cited per family in ``sources`` too;
``tests/test_zoo_sources.py`` checks each one against the built model.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CONFIGS", "FAMILIES", "CHOICES", "REPOS"]

#: family -> model class name in :mod:`energymodel.zoo.models`
FAMILIES = {
    "spikformer": "Spikformer",
    "sdt": "SpikeDrivenTransformer",
    "saformer": "SAFormer",
    "vit": "ViT",
}

#: official repositories read for this table, at the commit read
REPOS = {
    "spikformer": "github.com/ZK-Zhou/spikformer@621268981827af47aa666c1b5f774de4281d90ad",
    "sdt": "github.com/BICLab/Spike-Driven-Transformer@3faa82272eb499e4d56ea77707d4536e7c69a54b",
    "spikingformer": "github.com/zhouchenlin2096/Spikingformer@4378623b82bb1999b137244950ad648566e148fd",
}

#: the choices every configuration cites a source for
CHOICES = (
    "depth_dim", "heads", "T", "pooling", "mlp_ratio", "qkv_bias", "ssa_order", "neurons",
    "bn", "residual", "position_embedding", "head", "params",
)

_SF = REPOS["spikformer"]
_SF_IN = f"{_SF} imagenet/model.py"
_SF_CI = f"{_SF} cifar10/model.py"
_SF_YML = f"{_SF} cifar10/cifar10.yml"
_SDT = REPOS["sdt"]
_SDT_CODE = f"{_SDT} model/spikeformer.py, module/ms_conv.py, module/sps.py"
_SPIKFORMER_PAPER = "Spikformer, Zhou et al., ICLR 2023 (arXiv 2209.15425), Tables 2 and 3"
_SDT_PAPER = "Spike-driven Transformer, Yao et al., NeurIPS 2023 (arXiv 2307.01694), Tables 1 and 2"
_VIT_PAPER = "ViT, Dosovitskiy et al., ICLR 2021 (arXiv 2010.11929), Table 1 and Sec. 3.1"
_READING = "our reading of SAFormer (arXiv 2412.13553, abstract only; DESIGN.md): "

# choices fixed in the model code, one citation per family and code
_SPIKFORMER_CODE = {
    "neurons": "LIF tau 2, threshold 1, hard reset to 0 (MultiStepLIFNode(tau=2.0)); attn_lif "
               "threshold 0.5; SSA scale 0.125: {code} SSA.__init__",
    "bn": "BN after every conv/linear (SPS stages, rpe, q/k/v, proj, fc1, fc2), before the LIF: "
          "{code}",
    "residual": "spike residual x = x + SSA(x); x = x + MLP(x) (norm1/norm2 created, never "
                "used): {code} Block.forward",
    "position_embedding": "rpe: 3x3 conv-BN-LIF on the last SPS stage's spikes, added to them: "
                          "{code} SPS.forward",
    "head": "token mean, time mean, Linear(D, classes); no head neuron: {code} "
            "Spikformer.forward_features/forward",
}
_SDT_FIXED = {
    "qkv_bias": f"no bias on q/k/v conv, bias on proj and MLP convs: {_SDT} module/ms_conv.py",
    "ssa_order": "SDSA: Q * SN(sum_tokens(K * V)), talking_heads_lif threshold 0.5 (the "
                 f"talking_heads conv is created, never used): {_SDT} module/ms_conv.py "
                 "MS_SSA_Conv.forward",
    "neurons": f"LIF tau 2, threshold 1 (spike_mode lif); talking_heads_lif threshold 0.5: {_SDT} "
               "module/ms_conv.py, module/sps.py",
    "bn": f"BN after every conv (SPS, rpe, q/k/v, proj, fc1, fc2), the LIF before the conv: {_SDT} "
          "module/ms_conv.py, module/sps.py",
    "residual": "membrane shortcut u = u + SDSA(SN(u)); u = u + MLP(u), hidden shortcut when "
                f"hidden == dim: {_SDT} module/ms_conv.py MS_SSA_Conv/MS_MLP_Conv.forward",
    "position_embedding": "last SPS stage pools its membrane, rpe conv-BN on its spikes added to "
                          f"that membrane (no rpe LIF): {_SDT} module/sps.py MS_SPS.forward",
    "head": f"token mean, head_lif, Linear(D, classes), time mean: {_SDT} model/spikeformer.py "
            "SpikeDrivenTransformer.forward",
}


def _spikformer_imagenet(depth: int, dim: int, heads: int, heads_src: str, params: float) -> dict:
    fixed = {k: v.format(code=_SF_IN) for k, v in _SPIKFORMER_CODE.items()}
    return dict(
        family="spikformer", depth=depth, dim=dim, heads=heads, mlp_ratio=4.0, img_size=224,
        in_channels=3, num_classes=1000, T=4, pooling="1111", qkv_bias=False, ssa_order="q_kv",
        published_params=params, source=_SPIKFORMER_PAPER,
        sources=dict(
            fixed,
            depth_dim=f"{_SPIKFORMER_PAPER} (Spikformer-{depth}-{dim})",
            heads=heads_src,
            T=f"{_SF_IN} Spikformer.forward (T = 4)",
            pooling=f"{_SF_IN} SPS: maxpool after all four stages",
            mlp_ratio=f"{_SF_IN} spikformer() (mlp_ratios=4)",
            qkv_bias=f"{_SF_IN} SSA: q/k/v Conv1d bias=False; proj, fc1, fc2 with bias",
            ssa_order=f"{_SF_IN} SSA.forward: x = k^T @ v; x = (q @ x) * scale, i.e. Q (K^T V)",
            params=f"{_SPIKFORMER_PAPER}; {_SF_IN} gives 29,689,384 for 8-512",
        ),
    )


def _spikformer_cifar(depth: int, dim: int, heads: int, heads_src: str, params: float) -> dict:
    fixed = {k: v.format(code=_SF_CI) for k, v in _SPIKFORMER_CODE.items()}
    return dict(
        family="spikformer", depth=depth, dim=dim, heads=heads, mlp_ratio=4.0, img_size=32,
        in_channels=3, num_classes=10, T=4, pooling="0011", qkv_bias=True, ssa_order="qk_v",
        published_params=params, source=_SPIKFORMER_PAPER,
        sources=dict(
            fixed,
            depth_dim=f"{_SPIKFORMER_PAPER} (Spikformer-{depth}-{dim}, CIFAR)",
            heads=heads_src,
            T=f"{_SF_YML} (time_step: 4)",
            pooling=f"{_SF_CI} SPS: maxpool2 and maxpool3 only",
            mlp_ratio=f"{_SF_YML} (mlp_ratio: 4)",
            qkv_bias=f"{_SF_CI} SSA: q/k/v nn.Linear(dim, dim), bias on (qkv_bias ignored)",
            ssa_order=f"{_SF_CI} SSA.forward: attn = (q @ k^T) * scale; x = attn @ v, i.e. "
                      "(Q K^T) V (we scale the N x d product, not the N x N map: same output)",
            params=_SPIKFORMER_PAPER,
        ),
    )


def _sdt(depth: int, dim: int, base: str, conf: str, params: float | None,
         num_classes: int = 1000) -> dict:
    imagenet = base == "imagenet"
    cfg: dict[str, Any] = dict(
        family="sdt", depth=depth, dim=dim, heads=8, mlp_ratio=4.0,
        img_size=224 if imagenet else 32, in_channels=3, num_classes=num_classes, T=4,
        pooling="1111" if imagenet else "0011", qkv_bias=False,
        sources=dict(
            _SDT_FIXED,
            depth_dim=f"{_SDT} {conf} (layer, dim)",
            heads=f"{_SDT} {conf} (num_heads: 8)",
            T=f"{_SDT} {conf} (time_steps: 4)",
            pooling=f"{_SDT} {conf} (pooling_stat: '{'1111' if imagenet else '0011'}')",
            mlp_ratio=f"{_SDT} {conf} (mlp_ratio: 4)",
            params=_SDT_PAPER if params else "none published for this head size",
        ),
    )
    if params:
        cfg.update(published_params=params, source=_SDT_PAPER)
    return cfg


#: the data sets SAFormer (arXiv 2412.13553) is evaluated on; ImageNet is not among them
SAFORMER_EVALUATED = "CIFAR-10, CIFAR-100, Tiny-ImageNet, DVS128 Gesture and CIFAR10-DVS"


def _saformer(depth: int, dim: int, heads: int, base: dict, published: bool = True) -> dict:
    cfg = dict(family="saformer", depth=depth, dim=dim, heads=heads, mlp_ratio=4.0, qkv_bias=False)
    cfg.update(base)
    cfg["sources"] = {c: _READING + "the SDT frame and code (" + _SDT + ") with SASA and DWC"
                      for c in CHOICES}
    cfg["sources"]["ssa_order"] = _READING + "SASA = BN(Linear(SN(sum_tokens(Q * K)) * K))"
    cfg["sources"]["params"] = _READING + "no published parameter counts available to us"
    if not published:
        # no published counterpart: every output says so (the profile header, the reports)
        cfg["hypothetical"] = (f"hypothetical configuration: SAFormer is evaluated on "
                               f"{SAFORMER_EVALUATED}, not ImageNet; no published counterpart")
        cfg["sources"]["depth_dim"] = cfg["hypothetical"]
    return cfg


def _vit(depth: int, dim: int, heads: int, heads_src: str, base: dict) -> dict:
    cfg = dict(family="vit", depth=depth, dim=dim, heads=heads, mlp_ratio=4.0)
    cfg.update({k: v for k, v in base.items() if k not in ("T", "pooling")})
    cfg["patch_size"] = 16 if cfg["img_size"] >= 224 else 4
    cfg["sources"] = dict(
        depth_dim="ours: the spiking models' depth and width, for a like-for-like baseline",
        heads=heads_src,
        T="ANN: one pass (T = 1)",
        pooling=f"patches {cfg['patch_size']}x{cfg['patch_size']}: {_VIT_PAPER} (ViT-*/16) at "
                "224; ours (4) at 32",
        mlp_ratio=f"{_VIT_PAPER} (MLP 4 D)",
        qkv_bias=f"{_VIT_PAPER}; timm vision_transformer default qkv_bias=True",
        ssa_order="softmax(Q K^T / sqrt(d)) V",
        neurons=f"ANN: GELU in the MLP, no neurons: {_VIT_PAPER}",
        bn="pre-norm LayerNorm (eps 1e-6) before attention and MLP, final LayerNorm: "
           f"{_VIT_PAPER}",
        residual=f"x = x + Attn(LN(x)); x = x + MLP(LN(x)): {_VIT_PAPER}",
        position_embedding=f"learned, class token prepended: {_VIT_PAPER}",
        head=f"Linear on the final LayerNorm of the class token: {_VIT_PAPER}",
        params="standard ViT count (tests/test_zoo.py)",
    )
    return cfg


def _tiny(family: str) -> dict:
    """The demo size: the family's CIFAR layout at 1 block of 64 channels, 4 heads, T = 2."""
    base = dict(img_size=32, in_channels=3, num_classes=10, T=2, pooling="0011")
    ours = "ours (demo size)"
    if family == "vit":
        cfg = _vit(1, 64, 4, ours, base)
    elif family == "saformer":
        cfg = _saformer(1, 64, 4, base)
    elif family == "sdt":
        cfg = _sdt(1, 64, "cifar", "conf/cifar10/2_256_300E_t4.yml", None, num_classes=10)
        cfg.update(heads=4, T=2)
    else:
        cfg = _spikformer_cifar(1, 64, 4, ours, 0.0)
        # the tiny Spikformer keeps the ImageNet code's bias-free q/k/v (as it always had)
        cfg.update(T=2, qkv_bias=False)
        cfg["sources"]["qkv_bias"] = f"ours; as {_SF_IN} SSA (q/k/v Conv1d bias=False)"
        del cfg["published_params"], cfg["source"]
    cfg["sources"].update(depth_dim=ours, heads=ours, params="none (demo size)",
                          T=ours if family != "vit" else cfg["sources"]["T"])
    return cfg


_H_SF_IN = f"{_SF_IN} spikformer() (num_heads=8; the file registers 8-512 only)"
_H_SF_768 = (
    "12: no official Spikformer code for 768 exists; the authors' group's energy tool lists "
    f"ssa_info 8-768 with 'Nheads': 12 ({REPOS['spikingformer']} "
    "energy_consumption_calculation/README.md), the ViT-B/16 convention of 64 channels per head "
    f"({_VIT_PAPER}). Conflicting: Spikingformer's own 8-768 training log (origin_logs/imagenet/"
    "Spikingformer-on-Imagenet-768.text) ran num_heads=8, and SDT's 8-768 conf uses 8"
)
_H_SF_384 = (f"{_H_SF_IN}; {REPOS['spikingformer']} energy_consumption_calculation/README.md "
             "lists 8-384 with 'Nheads': 8")
_H_SF_CI = f"{_SF_YML} (dim: 384, num_heads: 12)"

_CIFAR10 = dict(img_size=32, in_channels=3, num_classes=10, T=4, pooling="0011")
_IMAGENET = dict(img_size=224, in_channels=3, num_classes=1000, T=4, pooling="1111")

CONFIGS: dict[str, dict[str, Any]] = {
    # Spikformer, ImageNet: the official ImageNet code (1x1 convs without q/k/v bias, Q (K^T V))
    "spikformer-8-384": _spikformer_imagenet(8, 384, 8, _H_SF_384, 16.81e6),
    "spikformer-8-512": _spikformer_imagenet(8, 512, 8, _H_SF_IN, 29.68e6),
    "spikformer-10-512": _spikformer_imagenet(10, 512, 8, _H_SF_IN, 36.01e6),
    "spikformer-8-768": _spikformer_imagenet(8, 768, 12, _H_SF_768, 66.34e6),
    # Spikformer, CIFAR-10: the official CIFAR code (nn.Linear with bias, (Q K^T) V)
    "spikformer-4-256-cifar": _spikformer_cifar(
        4, 256, 8, f"ours: no official config for 256 ({_SF_YML} has 384 / 12 heads; 256 is not "
        "divisible by 12); 8 as the ImageNet code", 4.15e6),
    "spikformer-2-384-cifar": _spikformer_cifar(2, 384, 12, _H_SF_CI, 5.76e6),
    "spikformer-4-384-cifar": _spikformer_cifar(4, 384, 12, _H_SF_CI, 9.32e6),
    # Spike-driven Transformer: the official confs (the file named 10_384 holds 10 x 512)
    "sdt-8-384": _sdt(8, 384, "imagenet", "conf/imagenet/8_384_300E_t4.yml", 16.81e6),
    "sdt-6-512": _sdt(6, 512, "imagenet", "conf/imagenet/6_512_300E_t4.yml", 23.37e6),
    "sdt-8-512": _sdt(8, 512, "imagenet", "conf/imagenet/8_512_300E_t4.yml", 29.68e6),
    "sdt-10-512": _sdt(10, 512, "imagenet", "conf/imagenet/10_384_300E_t4.yml", 36.01e6),
    "sdt-8-768": _sdt(8, 768, "imagenet", "conf/imagenet/8_768_300E_t4.yml", 66.34e6),
    # SDT CIFAR (the paper's 10.28M is the CIFAR-100 head)
    "sdt-2-256-cifar": _sdt(2, 256, "cifar", "conf/cifar10/2_256_300E_t4.yml", None, 10),
    "sdt-2-512-cifar": _sdt(2, 512, "cifar", "conf/cifar10/2_512_300E_t4.yml", None, 10),
    "sdt-2-512-cifar100": _sdt(2, 512, "cifar", "conf/cifar100/2_512_300E_t4.yml", 10.28e6, 100),
    # SAFormer, our reading of arXiv 2412.13553 (no published parameter counts available to us)
    # (ImageNet sizes: hypothetical, the paper does not evaluate on ImageNet)
    "saformer-8-384": _saformer(8, 384, 8, _IMAGENET, published=False),
    "saformer-8-512": _saformer(8, 512, 8, _IMAGENET, published=False),
    "saformer-8-768": _saformer(8, 768, 8, _IMAGENET, published=False),
    "saformer-2-256-cifar": _saformer(2, 256, 8, _CIFAR10),
    "saformer-4-384-cifar": _saformer(4, 384, 12, _CIFAR10),
    "saformer-4-384-cifar100": _saformer(4, 384, 12, dict(_CIFAR10, num_classes=100)),
    # Vanilla ViT baseline (ANN, T = 1)
    "vit-8-384": _vit(8, 384, 8, "ours: the heads of spikformer-8-384 / sdt-8-384 (DeiT-S uses 6)",
                      _IMAGENET),
    "vit-8-512": _vit(8, 512, 8, "ours: 64 channels per head, as ViT-B/16; = spikformer-8-512",
                      _IMAGENET),
    "vit-8-768": _vit(8, 768, 12, f"{_VIT_PAPER} (ViT-Base: 768, 12 heads); = spikformer-8-768",
                      _IMAGENET),
    "vit-4-384-cifar": _vit(4, 384, 12, "ours: the heads of spikformer-4-384-cifar", _CIFAR10),
    # tiny: tests and demos
    "spikformer-1-64-tiny": _tiny("spikformer"),
    "sdt-1-64-tiny": _tiny("sdt"),
    "saformer-1-64-tiny": _tiny("saformer"),
    "vit-1-64-tiny": _tiny("vit"),
}

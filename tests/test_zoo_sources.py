"""The zoo against the official code.

1. A table of every configuration's source-derived choices, written here from the official
   repositories (ZK-Zhou/spikformer@6212689, BICLab/Spike-Driven-Transformer@3faa822) and the
   papers, checked on the built models (meta device: no ImageNet-size weights allocated).
2. Forward equivalence: each family's block (Spikformer block with SSA, SDT block with SDSA)
   against a small reference written below from the official code's equations, in the official
   layout ([T, B, C, H, W], 1x1 Conv1d/Conv2d, BatchNorm1d/2d, spikingjelly's MultiStepLIFNode
   dynamics), loaded with the same weights through the zoo's checkpoint translation: outputs,
   and the shapes of the activation x activation products (which set the attention op counts),
   are equal. Nothing of the reference is imported from energymodel.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from energymodel import zoo
from energymodel.lif import LIF

# ----------------------------------------------------------------------------- 1. the table
# name: (heads, T, pooling, qkv_bias, ssa_order, mlp_ratio), from the official code:
#   Spikformer ImageNet, imagenet/model.py: num_heads=8 (8-512 registered), T = 4 in forward,
#     maxpool after all 4 SPS stages, q/k/v Conv1d bias=False, x = k^T @ v; (q @ x) * scale.
#     8-768: 12 heads (no official code; the authors' group's energy tool, ViT-B convention).
#   Spikformer CIFAR, cifar10/model.py + cifar10.yml: 384 -> 12 heads, time_step 4, maxpool2 and
#     maxpool3 only, q/k/v nn.Linear with bias, attn = (q @ k^T) * scale; attn @ v.
#   SDT, conf/*/*.yml + module/ms_conv.py: num_heads 8, time_steps 4, pooling_stat 1111 / 0011,
#     q/k/v Conv2d bias=False, SDSA (no order).
SF_IN = dict(T=4, pooling="1111", qkv_bias=False, ssa_order="q_kv", mlp_ratio=4)
SF_CI = dict(T=4, pooling="0011", qkv_bias=True, ssa_order="qk_v", mlp_ratio=4)
SDT_IN = dict(T=4, pooling="1111", qkv_bias=False, ssa_order=None, mlp_ratio=4)
SDT_CI = dict(SDT_IN, pooling="0011")
TINY = dict(T=2, pooling="0011", mlp_ratio=4)
VIT = dict(T=None, pooling=None, qkv_bias=True, ssa_order=None, mlp_ratio=4)

EXPECTED = {
    "spikformer-8-384": dict(SF_IN, heads=8),
    "spikformer-8-512": dict(SF_IN, heads=8),
    "spikformer-10-512": dict(SF_IN, heads=8),
    "spikformer-8-768": dict(SF_IN, heads=12),
    "spikformer-4-256-cifar": dict(SF_CI, heads=8),  # ours: 256 is not divisible by 12
    "spikformer-2-384-cifar": dict(SF_CI, heads=12),
    "spikformer-4-384-cifar": dict(SF_CI, heads=12),
    "sdt-8-384": dict(SDT_IN, heads=8),
    "sdt-6-512": dict(SDT_IN, heads=8),
    "sdt-8-512": dict(SDT_IN, heads=8),
    "sdt-10-512": dict(SDT_IN, heads=8),
    "sdt-8-768": dict(SDT_IN, heads=8),  # conf/imagenet/8_768_300E_t4.yml: num_heads 8
    "sdt-2-256-cifar": dict(SDT_CI, heads=8),
    "sdt-2-512-cifar": dict(SDT_CI, heads=8),
    "sdt-2-512-cifar100": dict(SDT_CI, heads=8),
    # SAFormer: our reading, the SDT frame
    "saformer-8-384": dict(SDT_IN, heads=8),
    "saformer-8-512": dict(SDT_IN, heads=8),
    "saformer-8-768": dict(SDT_IN, heads=8),
    "saformer-2-256-cifar": dict(SDT_CI, heads=8),
    "saformer-4-384-cifar": dict(SDT_CI, heads=12),
    "saformer-4-384-cifar100": dict(SDT_CI, heads=12),
    # ViT baseline: ViT-B/16 has 12 heads at 768; the others match their spiking counterparts
    "vit-8-384": dict(VIT, heads=8),
    "vit-8-512": dict(VIT, heads=8),
    "vit-8-768": dict(VIT, heads=12),
    "vit-4-384-cifar": dict(VIT, heads=12),
    # tiny: the family's CIFAR layout at demo size (the tiny Spikformer keeps bias-free q/k/v)
    "spikformer-1-64-tiny": dict(TINY, heads=4, qkv_bias=False, ssa_order="qk_v"),
    "sdt-1-64-tiny": dict(TINY, heads=4, qkv_bias=False, ssa_order=None),
    "saformer-1-64-tiny": dict(TINY, heads=4, qkv_bias=False, ssa_order=None),
    "vit-1-64-tiny": dict(VIT, heads=4),
}
HASH = {"spikformer": "621268981827af47aa666c1b5f774de4281d90ad",
        "sdt": "3faa82272eb499e4d56ea77707d4536e7c69a54b"}
ATTN_THRESHOLD = {"spikformer": ("attn_lif",), "sdt": ("talking_heads_lif",),
                  "saformer": ("attn_lif",)}


def test_table_covers_every_config():
    assert sorted(EXPECTED) == sorted(zoo.names())


def _meta(name: str) -> nn.Module:
    with torch.device("meta"):
        return zoo.build(name)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_choices_match_the_official_code(name):
    exp, cfg = EXPECTED[name], zoo.config(name)
    fam = cfg["family"]
    m = _meta(name)
    attns = [b.attn for b in m.block]
    assert len(attns) == cfg["depth"] == int(name.split("-")[1])
    assert {a.heads for a in attns} == {exp["heads"]}, "heads"
    assert cfg["mlp_ratio"] == exp["mlp_ratio"]
    if fam == "vit":
        assert m.T == 1 and all(a.q_linear.bias is not None for a in attns)
        return
    assert m.T == exp["T"], "T"
    assert cfg["pooling"] == exp["pooling"], "pooling"
    pools = [hasattr(m.patch_embed, f"maxpool{'' if i == 0 else i}") for i in range(4)]
    assert pools == [c == "1" for c in exp["pooling"]], "pooling modules"
    for a in attns:
        assert (a.q_linear.bias is not None) == exp["qkv_bias"], "qkv bias"
        assert a.proj_linear.bias is not None  # proj conv has a bias in every official code
        assert getattr(a, "order", None) == exp["ssa_order"], "SSA order"
    for b in m.block:
        assert b.mlp.fc1_linear.out_features == exp["mlp_ratio"] * cfg["dim"]
        assert b.mlp.fc1_linear.bias is not None and b.mlp.fc2_linear.bias is not None
    # SPS: 3x3 convs without bias; the position embedding ends in a LIF only in Spikformer
    assert all(c.bias is None for n, c in m.patch_embed.named_modules() if isinstance(c, nn.Conv2d))
    assert hasattr(m.patch_embed, "rpe_lif") == (fam == "spikformer")
    assert hasattr(m, "head_lif") == (fam != "spikformer")
    # neurons: spikingjelly MultiStepLIFNode(tau=2.0) (threshold 1, hard reset to 0); the
    # attention neuron of the official code has threshold 0.5
    for path, lif in m.named_modules():
        if isinstance(lif, LIF):
            thr = 0.5 if path.rsplit(".", 1)[-1] in ATTN_THRESHOLD[fam] else 1.0
            assert (lif.tau, lif.v_threshold, lif.v_reset) == (2.0, thr, 0.0), path


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_choice_names_its_source(name):
    cfg = zoo.config(name)
    src = cfg.get("sources")
    assert isinstance(src, dict) and set(zoo.configs.CHOICES) <= set(src), name
    assert all(isinstance(v, str) and len(v) > 10 for v in src.values())
    fam = cfg["family"]
    if name.endswith("-tiny"):
        assert src["heads"].startswith("ours") and src["depth_dim"].startswith("ours")
        assert fam == "vit" or src["T"].startswith("ours")
    if fam == "saformer":
        hyp = cfg.get("hypothetical")
        assert all("our reading" in v for k, v in src.items()
                   if not (name.endswith("-tiny") and k in ("depth_dim", "heads", "T", "params"))
                   and not (hyp and k == "depth_dim"))
        # ImageNet sizes have no published counterpart: SAFormer is not evaluated on ImageNet
        assert bool(hyp) == (cfg["img_size"] == 224), name
        if hyp:
            assert "no published counterpart" in hyp and src["depth_dim"] == hyp
        return
    if fam in HASH and not name.endswith("-tiny"):
        # every choice fixed by the official code cites its repository at the commit read
        for key in ("T", "pooling", "neurons", "bn", "residual", "position_embedding", "head"):
            assert HASH[fam] in src[key], (name, key)
        if not src["heads"].startswith(("ours", "12: no official")):
            assert HASH[fam] in src["heads"], name


def test_spikformer_imagenet_order_is_the_official_q_kv_and_cifar_keeps_qk_v():
    for name in zoo.names("spikformer"):
        cfg = zoo.config(name)
        if cfg["img_size"] == 224:
            assert cfg["ssa_order"] == "q_kv" and re.search(r"k\^T @ v", cfg["sources"]["ssa_order"])
        elif "-cifar" in name:
            assert cfg["ssa_order"] == "qk_v"


# --------------------------------------------------------------- 2. forward equivalence
def ref_lif(x: torch.Tensor, v_threshold: float = 1.0, tau: float = 2.0) -> torch.Tensor:
    """spikingjelly MultiStepLIFNode(tau, decay_input=True, v_reset=0.0), hard reset, forward:
    H = V + (X - V) / tau; S = (H - V_th >= 0); V = H (1 - S)."""
    v = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        h = v + (x[t] - v) / tau
        s = (h - v_threshold >= 0).to(x.dtype)
        v = h * (1.0 - s)
        out.append(s)
    return torch.stack(out)


class RefSpikformerBlock(nn.Module):
    """Block(SSA, MLP) of the official Spikformer, ``imagenet/model.py`` (``cifar=False``: 1x1
    Conv1d q/k/v without bias, ``Q (K^T V)``, MLP as 1x1 Conv2d) or ``cifar10/model.py``
    (``cifar=True``: nn.Linear with bias, ``(Q K^T) V``). Input/output ``[T, B, C, H, W]``
    (ImageNet) or ``[T, B, N, C]`` (CIFAR), spikes."""

    def __init__(self, dim: int, heads: int, cifar: bool) -> None:
        super().__init__()
        self.heads, self.cifar, self.scale = heads, cifar, 0.125
        self.attn = nn.Module()
        for n in ("q", "k", "v"):
            lin = nn.Linear(dim, dim) if cifar else nn.Conv1d(dim, dim, 1, bias=False)
            setattr(self.attn, f"{n}_{'linear' if cifar else 'conv'}", lin)
            setattr(self.attn, f"{n}_bn", nn.BatchNorm1d(dim))
        setattr(self.attn, "proj_linear" if cifar else "proj_conv",
                nn.Linear(dim, dim) if cifar else nn.Conv1d(dim, dim, 1))
        self.attn.proj_bn = nn.BatchNorm1d(dim)
        self.mlp = nn.Module()
        for n, (i, o) in (("fc1", (dim, 4 * dim)), ("fc2", (4 * dim, dim))):
            setattr(self.mlp, f"{n}_{'linear' if cifar else 'conv'}",
                    nn.Linear(i, o) if cifar else nn.Conv2d(i, o, 1))
            setattr(self.mlp, f"{n}_bn", nn.BatchNorm1d(o) if cifar else nn.BatchNorm2d(o))
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)  # created, never used

    def ssa_imagenet(self, x):
        a = self.attn
        T, B, C, H, W = x.shape
        x = x.flatten(3)
        N = x.shape[-1]
        xq = x.flatten(0, 1)

        def proj(n):
            y = ref_lif(getattr(a, f"{n}_bn")(getattr(a, f"{n}_conv")(xq)).reshape(T, B, C, N))
            return y.transpose(-1, -2).reshape(T, B, N, self.heads, C // self.heads).permute(0, 1, 3, 2, 4)

        q, k, v = proj("q"), proj("k"), proj("v")
        x = k.transpose(-2, -1) @ v
        x = (q @ x) * self.scale
        x = x.transpose(3, 4).reshape(T, B, C, N)
        x = ref_lif(x, 0.5).flatten(0, 1)
        return ref_lif(a.proj_bn(a.proj_conv(x)).reshape(T, B, C, H, W))

    def mlp_imagenet(self, x):
        m = self.mlp
        T, B, C, H, W = x.shape
        x = ref_lif(m.fc1_bn(m.fc1_conv(x.flatten(0, 1))).reshape(T, B, -1, H, W))
        return ref_lif(m.fc2_bn(m.fc2_conv(x.flatten(0, 1))).reshape(T, B, C, H, W))

    def ssa_cifar(self, x):
        a = self.attn
        T, B, N, C = x.shape
        xq = x.flatten(0, 1)

        def proj(n):
            y = getattr(a, f"{n}_linear")(xq)
            y = ref_lif(getattr(a, f"{n}_bn")(y.transpose(-1, -2)).transpose(-1, -2).reshape(T, B, N, C))
            return y.reshape(T, B, N, self.heads, C // self.heads).permute(0, 1, 3, 2, 4)

        q, k, v = proj("q"), proj("k"), proj("v")
        attn = (q @ k.transpose(-2, -1)) * self.scale
        x = attn @ v
        x = x.transpose(2, 3).reshape(T, B, N, C)
        x = ref_lif(x, 0.5).flatten(0, 1)
        y = a.proj_bn(a.proj_linear(x).transpose(-1, -2)).transpose(-1, -2)
        return ref_lif(y.reshape(T, B, N, C))

    def mlp_cifar(self, x):
        m = self.mlp
        T, B, N, C = x.shape
        y = m.fc1_bn(m.fc1_linear(x.flatten(0, 1)).transpose(-1, -2)).transpose(-1, -2)
        y = ref_lif(y.reshape(T, B, N, -1))
        y = m.fc2_bn(m.fc2_linear(y.flatten(0, 1)).transpose(-1, -2)).transpose(-1, -2)
        return ref_lif(y.reshape(T, B, N, C))

    def forward(self, x):
        ssa, mlp = (self.ssa_cifar, self.mlp_cifar) if self.cifar else (self.ssa_imagenet, self.mlp_imagenet)
        x = x + ssa(x)
        return x + mlp(x)


class RefSDTBlock(nn.Module):
    """MS_Block_Conv of the official Spike-driven Transformer (``module/ms_conv.py``, spike_mode
    lif, not DVS): MS_SSA_Conv then MS_MLP_Conv, ``[T, B, C, H, W]`` membrane in and out."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn = nn.Module()
        for n in ("q", "k", "v"):
            setattr(self.attn, f"{n}_conv", nn.Conv2d(dim, dim, 1, bias=False))
            setattr(self.attn, f"{n}_bn", nn.BatchNorm2d(dim))
        self.attn.talking_heads = nn.Conv1d(heads, heads, 1, bias=False)  # created, never used
        self.attn.proj_conv = nn.Conv2d(dim, dim, 1)
        self.attn.proj_bn = nn.BatchNorm2d(dim)
        self.mlp = nn.Module()
        self.mlp.fc1_conv, self.mlp.fc1_bn = nn.Conv2d(dim, 4 * dim, 1), nn.BatchNorm2d(4 * dim)
        self.mlp.fc2_conv, self.mlp.fc2_bn = nn.Conv2d(4 * dim, dim, 1), nn.BatchNorm2d(dim)

    def sdsa(self, x):
        a = self.attn
        T, B, C, H, W = x.shape
        identity, N = x, H * W
        x = ref_lif(x)  # shortcut_lif
        xq = x.flatten(0, 1)

        def proj(n):
            y = ref_lif(getattr(a, f"{n}_bn")(getattr(a, f"{n}_conv")(xq)).reshape(T, B, C, H, W))
            return y.flatten(3).transpose(-1, -2).reshape(T, B, N, self.heads, C // self.heads) \
                .permute(0, 1, 3, 2, 4)

        q, k, v = proj("q"), proj("k"), proj("v")
        kv = k.mul(v).sum(dim=-2, keepdim=True)
        kv = ref_lif(kv, 0.5)  # talking_heads_lif
        x = q.mul(kv)
        x = x.transpose(3, 4).reshape(T, B, C, H, W)
        x = a.proj_bn(a.proj_conv(x.flatten(0, 1))).reshape(T, B, C, H, W)
        return x + identity

    def mlp_fwd(self, x):
        m = self.mlp
        T, B, C, H, W = x.shape
        identity = x
        x = ref_lif(x)
        x = m.fc1_bn(m.fc1_conv(x.flatten(0, 1))).reshape(T, B, -1, H, W)
        x = ref_lif(x)
        x = m.fc2_bn(m.fc2_conv(x.flatten(0, 1))).reshape(T, B, C, H, W)
        return x + identity

    def forward(self, x):
        return self.mlp_fwd(self.sdsa(x))


class Products(TorchFunctionMode):
    """Records the operand shapes of every activation x activation product (``@``/matmul)."""

    def __init__(self):
        super().__init__()
        self.shapes: list[tuple] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in (torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__):
            self.shapes.append(tuple(tuple(a.shape[-2:]) for a in args[:2]))
        return func(*args, **(kwargs or {}))


def _randomise(ref: nn.Module, gen: torch.Generator, bias: float) -> None:
    """BatchNorm affine and statistics that make every neuron layer fire at moderate rates."""
    with torch.no_grad():
        for m in ref.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=gen, dtype=m.running_mean.dtype) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=gen, dtype=m.running_var.dtype) * 0.02 + 0.01)
                m.weight.copy_(torch.rand(n, generator=gen, dtype=m.weight.dtype) + 0.5)
                m.bias.copy_(torch.rand(n, generator=gen, dtype=m.bias.dtype) + bias)
                m.num_batches_tracked.fill_(7)


def _load_into_zoo_block(ref: nn.Module, block: nn.Module, tmp_path, prefix: str = "module.") -> None:
    path = tmp_path / "official_block.pth"
    torch.save({"state_dict": {prefix + k: v for k, v in ref.state_dict().items()}}, path)
    zoo.load_checkpoint(block, path)


def _watch_neurons(block: nn.Module) -> tuple[list[float], list]:
    """Firing rate of every LIF call of ``block`` (appended as it runs)."""
    rates: list[float] = []
    hooks = [m.register_forward_hook(lambda mod, i, o: rates.append(float(o.mean())))
             for m in block.modules() if isinstance(m, LIF)]
    return rates, hooks


EQUIV_SPIKFORMER = ["spikformer-8-512", "spikformer-8-768", "spikformer-4-384-cifar"]
EQUIV_SDT = ["sdt-8-512", "sdt-8-768", "sdt-2-512-cifar100"]
H = W = 4  # 16 tokens: small, and N != d so that both SSA orders have distinct shapes


def _zoo_block(name: str) -> nn.Module:
    cfg = zoo.config(name)
    if cfg["family"] == "spikformer":
        blk = zoo.blocks.SpikformerBlock(cfg["dim"], cfg["heads"], cfg["mlp_ratio"],
                                         qkv_bias=cfg["qkv_bias"], ssa_order=cfg["ssa_order"])
    else:
        blk = zoo.blocks.SDTBlock(cfg["dim"], cfg["heads"], cfg["mlp_ratio"])
    return blk.double().eval()


@pytest.mark.parametrize("name", EQUIV_SPIKFORMER)
def test_spikformer_block_equals_the_official_equations(name, tmp_path):
    cfg = zoo.config(name)
    D, cifar = cfg["dim"], cfg["img_size"] == 32
    gen = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    ref = RefSpikformerBlock(D, EXPECTED[name]["heads"], cifar).double().eval()
    _randomise(ref, gen, bias=0.3)
    blk = _zoo_block(name)
    _load_into_zoo_block(ref, blk, tmp_path)
    T, B, N = 2, 1, H * W
    x = (torch.rand(T, B, N, D, generator=gen) < 0.3).double()  # zoo layout [T, B, N, D]
    rates, hooks = _watch_neurons(blk)
    with torch.no_grad(), Products() as mine:
        y = blk(x)
    for h in hooks:
        h.remove()
    with torch.no_grad(), Products() as theirs:
        if cifar:
            y_ref = ref(x)
        else:
            xr = x.transpose(2, 3).reshape(T, B, D, H, W)
            y_ref = ref(xr).flatten(3).transpose(2, 3)
    assert all(0.0 < r < 1.0 for r in rates), rates  # every neuron layer fires, none saturates
    assert mine.shapes == theirs.shapes, "activation products differ: another SSA order or heads"
    assert torch.equal(y, y_ref)


@pytest.mark.parametrize("name", EQUIV_SDT)
def test_sdt_block_equals_the_official_equations(name, tmp_path):
    cfg = zoo.config(name)
    D = cfg["dim"]
    gen = torch.Generator().manual_seed(2)
    torch.manual_seed(2)
    ref = RefSDTBlock(D, EXPECTED[name]["heads"]).double().eval()
    _randomise(ref, gen, bias=0.3)
    blk = _zoo_block(name)
    _load_into_zoo_block(ref, blk, tmp_path)
    T, B, N = 2, 1, H * W
    u = torch.randn(T, B, N, D, generator=gen, dtype=torch.float64) + 1.0  # membrane
    spikes, hooks = _watch_neurons(blk)
    with torch.no_grad():
        y = blk(u)
        y_ref = ref(u.transpose(2, 3).reshape(T, B, D, H, W)).flatten(3).transpose(2, 3)
    for h in hooks:
        h.remove()
    assert all(0.0 < s < 1.0 for s in spikes), spikes  # every neuron layer fires, none saturates
    assert torch.allclose(y, y_ref, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["spikformer-8-512", "spikformer-4-384-cifar"])
def test_profiled_ssa_acs_are_those_of_the_official_order(name, tmp_path):
    """Attention ACs of the zoo block, profiled, against a hand count on its own Q, K, V spikes
    in the order of the official code: ImageNet Q (K^T V): sum_n |K_n| |V_n| (both binary,
    over tokens n, per head) + |Q| d (Q's events read rows of the integer d x d K^T V);
    CIFAR (Q K^T) V: sum_j |Q^j| |K^j| (over channels j) + |V| N."""
    import energymodel as em

    cfg = zoo.config(name)
    D, heads = cfg["dim"], cfg["heads"]
    gen = torch.Generator().manual_seed(3)
    torch.manual_seed(3)
    ref = RefSpikformerBlock(D, heads, cfg["img_size"] == 32).double().eval()
    _randomise(ref, gen, bias=0.3)
    blk = _zoo_block(name)
    _load_into_zoo_block(ref, blk, tmp_path)
    T, B, N, d = 2, 1, H * W, D // heads
    x = (torch.rand(T, B, N, D, generator=gen) < 0.3).double()
    seen = {}
    hooks = [getattr(blk.attn, f"{n}_lif").register_forward_hook(
        lambda mod, i, o, n=n: seen.__setitem__(n, o.reshape(T, B, N, heads, d))) for n in "qkv"]
    prof = em.profile(blk, x, batch_dim=1)
    for h in hooks:
        h.remove()
    q, k, v = seen["q"], seen["k"], seen["v"]
    if EXPECTED[name]["ssa_order"] == "q_kv":  # the official order, not the config's
        expected = (k.sum(-1) * v.sum(-1)).sum() + q.sum() * d
    else:
        expected = (q.sum(2) * k.sum(2)).sum() + v.sum() * N
    L = prof.layers
    got = float(L.loc[L["kind"] == "attention", "acs"].sum())
    assert got == float(expected) > 0

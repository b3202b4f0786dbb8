"""Dense MACs against two independent counters: fvcore's FlopCountAnalysis (1 per MAC) and
torch's FlopCounterMode (2 FLOPs per MAC)."""

from __future__ import annotations

import pytest
import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import energymodel as em

SYN_OPS = {"linear", "matmul", "addmm", "bmm", "einsum", "conv", "mm", "_convolution"}


class VanillaBlock(nn.Module):
    """A pre-norm ViT block with attention written with @ in forward."""

    def __init__(self, dim=32, heads=4, mlp=4):
        super().__init__()
        self.h = heads
        self.norm1 = nn.LayerNorm(dim)
        self.q, self.k, self.v = nn.Linear(dim, dim), nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.fc1, self.fc2 = nn.Linear(dim, mlp * dim), nn.Linear(mlp * dim, dim)

    def forward(self, x):
        B, N, D = x.shape
        y = self.norm1(x)
        q, k, v = (f(y).reshape(B, N, self.h, D // self.h).transpose(1, 2) for f in (self.q, self.k, self.v))
        a = (q @ k.transpose(-2, -1) * (D // self.h) ** -0.5).softmax(-1)
        x = x + self.proj((a @ v).transpose(1, 2).reshape(B, N, D))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.norm2(x))))


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.f = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, stride=2, padding=1, groups=2), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(16, 10),
        )

    def forward(self, x):
        return self.f(x)


CASES = [
    (VanillaBlock, (torch.randn(2, 10, 32),)),
    (ConvNet, (torch.randn(2, 3, 16, 16),)),
]


@pytest.mark.parametrize("make,inputs", CASES, ids=["vanilla-block", "convnet"])
def test_dense_macs_match_fvcore_and_flop_counter(make, inputs):
    model = make().eval()
    prof = em.profile(model, inputs)
    syn = prof.layers[prof.layers["kind"].isin(["synaptic", "attention"]) & prof.layers["op"].ne("sum")]
    ours = syn["dense_macs"].sum()
    assert ours > 0
    # analog inputs everywhere: every dense MAC is a real MAC
    assert syn["macs"].sum() == ours

    fv = FlopCountAnalysis(model, inputs)
    fv.unsupported_ops_warnings(False)
    fv.uncalled_modules_warnings(False)
    by_op = fv.by_operator()
    fv_macs = sum(v for k, v in by_op.items() if k in SYN_OPS)
    assert ours == fv_macs

    with FlopCounterMode(display=False) as fc:
        with torch.no_grad():
            model(*inputs)
    assert 2 * ours == fc.get_total_flops()

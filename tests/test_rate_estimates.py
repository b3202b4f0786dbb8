"""Issue 9, item 3: every site with exact ACs has a rate estimate (``acs_rate``), so
``sops="rate"`` never prices an accumulation at zero."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import energymodel as em


class _ColumnSum(nn.Module):
    def forward(self, x):
        return x.sum(dim=1)  # SDSA's / SASA's token sum


def test_token_sum_has_a_rate_estimate_and_a_rate_price():
    x = torch.zeros(2, 5, 6)
    x.view(-1)[[0, 3, 7, 11, 30, 41, 59]] = 1.0  # 7 spikes in 60 elements
    prof = em.profile(_ColumnSum(), (x,))
    r = prof.layers.iloc[0]
    assert (r["op"], r["kind"], r["acs"]) == ("sum", "attention", 7)
    # firing rate 7/60 x 60 adds = 7
    assert r["acs_rate"] == 7
    # priced: 7 ACs x 0.9 pJ (cmos45nm fp32 add) over 2 samples
    rep = em.estimate(prof, "cmos45nm", sops="rate")
    assert rep.totals["total_pj"].iloc[0] == pytest.approx(7 * 0.9 / 2)


class _Everything(nn.Module):
    """One call of every rule that can book ACs."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 4)
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.convt = nn.ConvTranspose2d(2, 3, 2, stride=2)

    def forward(self, s, img, a):
        out = [self.lin(s), self.lin(2 * s)]                      # binary, integer spikes
        out += [self.conv(img), self.convt(img)]
        out += [s @ s.transpose(-1, -2), s @ a, a.transpose(-1, -2) @ s.transpose(-1, -2)]
        out += [torch.mv(s[0], a[0, :, 0]), torch.dot(s[0, 0], s[0, 1])]
        out += [torch.baddbmm(a[:, :5, :5], s, a[:, :, :5])]
        out += [s.sum(), (2 * s).sum(-1), s.mean(0)]
        return out


def test_every_site_with_exact_acs_has_a_rate_estimate():
    g = torch.Generator().manual_seed(3)
    s = (torch.rand(2, 5, 6, generator=g) < 0.4).float()
    img = (torch.rand(1, 2, 4, 4, generator=g) < 0.4).float()
    a = torch.rand(2, 6, 7, generator=g)
    lay = em.profile(_Everything(), (s, img, a), batch_dim=None).layers
    booked = lay[lay["acs"] > 0]
    assert {"linear", "conv2d", "conv_transpose2d", "matmul", "sum", "mean"} <= set(booked["op"])
    missing = booked.loc[~(booked["acs_rate"] > 0), ["site", "acs", "acs_rate"]]
    assert missing.empty, missing
    # and the SDSA block's token sums, through the rate pricing
    torch.manual_seed(0)
    blk = em.attention.build_attention("sdsa", 16, heads=2)
    x = (torch.rand(2, 1, 8, 16, generator=g) < 0.3).float()
    em.attention.calibrate_bn(blk, x, shift=0.5)  # random weights: make the neurons fire
    prof = em.profile(blk, (x,), batch_dim=1)
    sums = prof.layers[prof.layers["op"] == "sum"]
    assert len(sums) and (sums["acs"] > 0).all()
    assert (sums["acs_rate"] == sums["in_nnz"]).all()

"""Data-set averages: profiling over a loader, per-batch rate spread, and resets at sample
boundaries (also when one sample takes several model calls)."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn

import energymodel as em


def _single_step_net():
    return nn.Sequential(nn.Identity(), em.LIF(step_mode="s"))


def test_reset_true_waits_for_the_sample_boundary_in_a_single_step_loop():
    """With calls_per_sample=T, ``reset=True`` must reset after the T-th call, not after every
    step (which would wipe the membrane mid-sample and lose every spike that needs two steps of
    charge). Constant input 1.5, tau 2: H = 0.75, 1.125 -> one spike at step 2 of each sample."""
    T, B = 3, 2
    x = torch.full((B, 4), 1.5)
    net = _single_step_net()
    with em.Profiler(net, timesteps=T, calls_per_sample=T, reset=True) as p:
        for _ in range(2):  # two samples
            for _t in range(T):
                net(x)
    prof = p.result()
    # reference, run by hand with a reset between samples
    ref = em.LIF(step_mode="s")
    expect = 0.0
    for _ in range(2):
        expect += sum(ref(x).sum().item() for _t in range(T))
        ref.reset()
    assert expect == 2 * B * 4  # one spike per neuron per sample
    r = prof.layers.query("kind == 'neuron'").iloc[0]
    assert r["spikes_out"] == expect
    assert prof.samples == 2 * B
    # one rate per sample group (batch), not one per step
    assert prof.rate_spread()["batches"].tolist() == [2]

"""Data-set averages: profiling over a loader, per-batch rate spread, and resets at sample
boundaries (also when one sample takes several model calls)."""

from __future__ import annotations

import io
import sys

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


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 8)
        nn.init.uniform_(self.fc.weight, -0.2, 0.6)  # strong enough to fire
        self.lif = em.LIF()
        self.head = nn.Linear(8, 3)

    def forward(self, x):  # x: [T, B, 6]
        return self.head(self.lif(self.fc(x)))


def _batches(n=4, T=3, B=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    # each batch at its own input scale, so the batches fire at clearly different rates
    return [(torch.rand(T, B, 6, generator=g) * (0.5 + i), torch.zeros(B)) for i in range(n)]


def test_run_over_a_loader_sums_counts_and_keeps_the_per_batch_rate_spread(capsys):
    torch.manual_seed(0)
    net = _Net().eval()
    loader = _batches()
    prof = em.Profiler(net, batch_dim=1).run(loader, progress=False)
    assert "profiling" not in capsys.readouterr().err
    # independent per-batch rates: run the same (stateless, deterministic) layers by hand
    rates, spikes, updates = [], 0.0, 0
    with torch.no_grad():
        for x, _ in loader:
            s = em.LIF()(net.fc(x))
            rates.append(s.mean().item())
            spikes += s.sum().item()
            updates += s.numel()
    assert len(set(round(r, 6) for r in rates)) == len(rates)  # the batches really differ
    r = prof.layers.query("kind == 'neuron'").iloc[0]
    assert r["spikes_out"] == spikes and r["neuron_updates"] == updates
    assert r["out_rate"] == pytest.approx(spikes / updates)  # the data-set average
    assert prof.samples == 4 * 5
    spread = prof.rate_spread().iloc[0]
    assert spread["batches"] == 4
    assert spread["rate_min"] == pytest.approx(min(rates))
    assert spread["rate_max"] == pytest.approx(max(rates))
    assert spread["rate_mean"] == pytest.approx(sum(rates) / 4)
    # counts are sums: the loader profile is the exact merge of one profile per batch
    parts = [em.profile(net, (x,), batch_dim=1) for x, _ in loader]
    merged = parts[0]
    for q in parts[1:]:
        merged = merged.merge(q)
    assert merged.totals().equals(prof.totals())


def test_profile_loader_forward_hook_and_progress_bar_on_stderr(capsys, monkeypatch):
    net = _Net().eval()
    T = 3
    loader = [{"img": torch.rand(4, 6)} for _ in range(3)]  # no time axis: repeated T times
    calls = []

    def forward(model, batch):
        calls.append(1)
        return model(batch["img"].unsqueeze(0).repeat(T, 1, 1))

    prof = em.profile_loader(net, loader, forward=forward, batch_dim=1, reset=True)
    assert len(calls) == 3
    assert "profiling" not in capsys.readouterr().err  # stderr is no TTY here: quiet

    class _Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    em.profile_loader(net, loader, forward=forward, batch_dim=1, reset=True)
    monkeypatch.undo()
    assert "profiling" in tty.getvalue()  # on a terminal: the bar
    assert prof.samples == 12
    r = prof.layers.query("kind == 'neuron'").iloc[0]
    assert r["neuron_updates"] == 3 * T * 4 * 8
    # hooks are gone afterwards; a second run inside an open profiler adds to it
    with em.Profiler(net, batch_dim=1) as p:
        net(torch.rand(T, 2, 6))
        both = p.run([(torch.rand(T, 2, 6), None)], progress=False)
    assert both.samples == 4
    assert not net._forward_hooks and not net._forward_pre_hooks

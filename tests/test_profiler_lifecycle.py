"""The profiler's lifecycle (issue 9, items 2, 4, 5, 6): clean neuron state per sample, nested
profilers, calls that raise, torch.inference_mode. Expected values are computed by hand."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import energymodel as em


def _row(prof, op):
    df = prof.layers[prof.layers["op"] == op]
    assert len(df) == 1, df[["site", "op"]]
    return df.iloc[0]


# ------------------------------------------------------------------ item 2: reset by default
def test_every_call_starts_from_reset_state_by_default_and_reset_false_streams():
    # single-step LIF, tau 2, threshold 1, input 1.5: from v = 0 the first step charges to
    # h = 0 + (1.5 - 0) / 2 = 0.75 (no spike), a second step to 0.75 + (1.5 - 0.75) / 2 = 1.125
    # (every neuron spikes)
    lif = em.LIF(step_mode="s")
    x = torch.full((4, 3), 1.5)
    with torch.no_grad():
        lif(x)  # a run before profiling leaves v = 0.75
    assert _row(em.profile(lif, x), "lif")["spikes_out"] == 0
    with em.Profiler(lif) as p:  # two calls: two independent batches, both from v = 0
        lif(x)
        lif(x)
    r = _row(p.result(), "lif")
    assert (r["spikes_out"], r["neuron_updates"], p.result().samples) == (0, 24, 8)
    # streaming: the state carries over (v = 0.75 left by the call above)
    with torch.no_grad():
        lif(x)
    assert _row(em.profile(lif, x, reset=False), "lif")["spikes_out"] == 12


# ------------------------------------------------------------------ item 4: nested profilers
class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.lif = em.LIF()
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(self.lif(self.fc1(x)))


def test_nested_profilers_count_only_the_model():
    torch.manual_seed(0)
    net = _Net()
    x = (torch.rand(2, 3, 8) < 0.4).float()  # [T, B, 8] binary
    with torch.no_grad():
        s = em.LIF()(net.fc1(x))
    # by hand: one AC per (input spike, output) for both linears
    acs = x.sum().item() * 16 + s.sum().item() * 4
    with em.Profiler(net, batch_dim=1) as outer:
        with em.Profiler(net, batch_dim=1) as inner:
            with torch.no_grad():
                net(x)
    a, b = outer.result(), inner.result()
    assert a.totals()["acs"] == b.totals()["acs"] == acs
    assert list(a.layers["site"]) == list(b.layers["site"]) == [
        "fc1:linear#0", "lif:lif#0", "fc2:linear#0"]
    assert a.unrecognized == b.unrecognized == {}


# ------------------------------------------------------------------ item 5: exceptions
class _Flaky(em.LIF):
    fail = 1

    def forward(self, x):
        out = super().forward(x)
        if _Flaky.fail:
            _Flaky.fail -= 1
            raise KeyboardInterrupt
        return out


class _Catches(nn.Module):
    def __init__(self):
        super().__init__()
        self.bad = _Flaky()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        try:
            self.bad(x)
        except KeyboardInterrupt:
            pass
        return self.fc(x)


def test_keyboard_interrupt_caught_inside_a_neuron_does_not_stop_counting():
    _Flaky.fail = 1
    net = _Catches()
    x = torch.rand(2, 5, 4) + 0.5  # analog: the linear costs its dense MACs
    with em.Profiler(net, batch_dim=1) as p:
        with torch.no_grad():
            net(x)  # the neuron raises, the model goes on
            net(x)
    prof = p.result()
    assert prof.samples == 10
    # two calls of a 4 -> 3 linear on 2 x 5 rows: 2 * 10 * 4 * 3 MACs
    assert _row(prof, "linear")["macs"] == 240
    # the neuron's frame was closed; only its second, completed call is recorded (a subclass
    # outside energymodel.lif: the behavioural fallback, op "neuron")
    assert _row(prof, "neuron")["neuron_updates"] == 40


class _Breaks(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 2)
        self.fail: type[BaseException] | None = None

    def forward(self, x):
        y = self.fc1(x)
        if self.fail is not None:
            raise self.fail("broken batch")
        return self.fc2(y)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_a_failed_call_is_discarded_whole(exc):
    net = _Breaks()
    x = torch.rand(3, 4)
    with em.Profiler(net) as p:
        with torch.no_grad():
            net(x)
            net.fail = exc
            with pytest.raises(exc):
                net(torch.rand(5, 4))
            net.fail = None
            net(x)
    prof = p.result()
    # two good calls of 3 samples: fc1 2 * 3 * 4 * 4, fc2 2 * 3 * 4 * 2 MACs, 2 calls each
    assert prof.samples == 6
    lay = prof.layers.set_index("site")
    assert lay.loc["fc1:linear#0", "macs"] == 96 and lay.loc["fc1:linear#0", "calls"] == 2
    assert lay.loc["fc2:linear#0", "macs"] == 48 and lay.loc["fc2:linear#0", "calls"] == 2


# ------------------------------------------------------------------ item 6: inference_mode
def test_inference_mode_counts_exactly_as_no_grad():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), em.LIF(), nn.Flatten(1), nn.Linear(12, 2))
    x = torch.rand(2, 2, 4, 4) * 3  # T = 2 steps of one [2, 4, 4] image, one sample
    with torch.inference_mode():
        prof = em.profile(net, (x,), batch_dim=None)
    conv, lin = _row(prof, "conv2d"), _row(prof, "linear")
    # by hand: per step 3 output maps of 2 x 2 positions, each 2 x 9 MACs; the linear reads
    # the spikes, 2 steps x 12 inputs -> 2 outputs, one AC per (spike, output)
    assert conv["dense_macs"] == conv["macs"] == 2 * 3 * 4 * 2 * 9
    assert lin["dense_macs"] == 2 * 12 * 2
    with torch.no_grad():
        spk = em.LIF()(net[0](x))
    assert lin["acs"] == spk.sum().item() * 2
    assert prof.unrecognized == {}
    with torch.no_grad():
        ref = em.profile(net, (x,), batch_dim=None)
    assert prof.layers.equals(ref.layers)
    # the accumulators made under inference_mode keep working outside it
    with em.Profiler(net, batch_dim=None) as p:
        with torch.inference_mode():
            net(x)
        with torch.no_grad():
            net(x)
    assert _row(p.result(), "conv2d")["macs"] == 2 * conv["macs"]

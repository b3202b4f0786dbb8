"""Independent oracle: our exact AC and MAC counts against spikingjelly 2.0.0's dispatch-mode
counters (``activation_based.op_counter``: ``SynOpCounter``, ``ACCounter``, ``MACCounter``) on
the same small spiking conv net and spiking attention block, same input, same weights.

What their counters count (read from their source, ``op_counter/{synop,ac,mac}.py``):

* ``SynOpCounter``: only ``mm / addmm / bmm / baddbmm / convolution``. A binary operand
  (every element 0 or 1) against a non-binary one costs ``nnz x fan-out``: for a linear
  ``nnz(x) x out_features``; for a convolution the exact occupancy (a convolution of the spikes
  with an all-ones kernel: borders, stride, padding, groups included). Binary x binary costs the
  sum of the 0/1 product (only where both are 1). Nothing else.
* ``ACCounter``: the same synaptic rules, plus every addition the dispatcher sees: BN (eval:
  ``C + N``), ``add / sub / rsub`` (``numel``, or ``nnz + nnz`` of two binary tensors), dense
  reductions (``sum`` / ``mean``: ``numel - out``), ``avg_pool2d``, and, unless the neuron modules
  are passed in ``extra_ignore_modules``, the add / sub of the neurons' own dynamics.
* ``MACCounter``: dense ``m x k x n`` (conv: ``C_out x C_in/groups x k x out positions``) when
  neither operand is binary; BN with an affine transform costs ``numel`` MACs.

Like for like (the synaptic ops: linear, conv, every matmul of the attention), our ``acs`` and
``macs`` agree with theirs exactly on both networks (asserted to 0.1 %, measured 0 difference).
The differences are conventions, asserted below with their size:

1. BN: they charge it as MACs (affine) and ACs (``C + N``); we count it as
   ``elementwise_ops`` of a ``batch_norm`` site (``N``), priced only by the ``full`` convention
   (the literature folds BN into the preceding layer).
2. Neuron dynamics: their ``ACCounter`` charges the add / sub inside each neuron; we record
   ``neuron_updates`` (neurons x T x batch) and ``spikes_out`` per neuron layer and price an
   update as a whole.
3. Reductions over spikes (the token sum of SDSA, a mean over T before a head): they charge a
   dense ``numel - out`` (ACCounter only); we charge one accumulate per spike (event-driven:
   only non-zero elements are added), in the ``sum`` / ``mean`` site.
4. Integer spikes (SEW residual sums, ``q @ k^T`` before scaling) feeding a weight layer: they
   are not binary, so theirs are dense MACs; ours are ``k`` accumulates for a value ``k`` (or,
   with ``CountOptions(integer_spikes='mac')``, one MAC per non-zero element). Not present in
   the two nets below except as the left operand of ``attn @ v``, where both read ``v``'s
   spikes against ``attn``'s values and agree.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import energymodel as em

pytest.importorskip("spikingjelly.activation_based")
from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402
from spikingjelly.activation_based.op_counter import (  # noqa: E402
    ACCounter,
    DispatchCounterMode,
    MACCounter,
    SynOpCounter,
)

T, B = 4, 2
aten = torch.ops.aten
SYNAPTIC_ATEN = (aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default,
                 aten.convolution.default)
SYNAPTIC_OPS = ("linear", "conv2d", "matmul")


class ConvNet(nn.Module):
    """Analog-input encoder conv + BN, a strided spiking conv, a grouped spiking conv, max-pool,
    a spiking linear head."""

    def __init__(self):
        super().__init__()
        self.c1 = layer.Conv2d(3, 8, 3, padding=1, bias=False, step_mode="m")
        self.bn1 = layer.BatchNorm2d(8, step_mode="m")
        self.n1 = neuron.LIFNode(step_mode="m")
        self.c2 = layer.Conv2d(8, 16, 3, padding=1, stride=2, step_mode="m")
        self.n2 = neuron.LIFNode(step_mode="m")
        self.c3 = layer.Conv2d(16, 16, 3, padding=1, groups=4, step_mode="m")
        self.n3 = neuron.LIFNode(v_threshold=0.5, step_mode="m")
        self.pool = layer.MaxPool2d(2, step_mode="m")
        self.fc = layer.Linear(16 * 2 * 2, 10, step_mode="m")
        self.n4 = neuron.LIFNode(v_threshold=0.5, step_mode="m")
        for m in (self.c1, self.c2, self.c3, self.fc):  # strong enough that every layer fires
            nn.init.uniform_(m.weight, -0.2, 0.3)

    def forward(self, x):  # [T, B, 3, 8, 8] analog
        x = self.n1(self.bn1(self.c1(x)))
        x = self.n2(self.c2(x))
        x = self.pool(self.n3(self.c3(x)))
        return self.n4(self.fc(x.flatten(2)))


class SpikingAttention(nn.Module):
    """Spikformer-style block: Q, K, V = LIF(Linear(x)); attn = Q K^T (spike x spike), optionally
    scaled; attn V; LIF; projection + LIF; then an analog read-out head on the mean over T."""

    def __init__(self, N=16, D=32, H=4, scale=0.25):
        super().__init__()
        self.N, self.D, self.H, self.scale = N, D, H, scale
        lin = lambda: layer.Linear(D, D, step_mode="m")  # noqa: E731
        lif = lambda: neuron.LIFNode(v_threshold=0.5, step_mode="m")  # noqa: E731
        self.q, self.k, self.v, self.proj = lin(), lin(), lin(), lin()
        self.qn, self.kn, self.vn, self.an, self.pn = lif(), lif(), lif(), lif(), lif()
        self.head = nn.Linear(D, 10)
        for m in (self.q, self.k, self.v, self.proj):
            nn.init.uniform_(m.weight, -0.15, 0.25)
        nn.init.uniform_(self.proj.weight, -0.1, 0.4)

    def heads(self, t):
        T_, B_ = t.shape[:2]
        return t.reshape(T_, B_, self.N, self.H, self.D // self.H).permute(0, 1, 3, 2, 4)

    def forward(self, x):  # [T, B, N, D] spikes
        T_, B_ = x.shape[:2]
        q = self.heads(self.qn(self.q(x)))
        k = self.heads(self.kn(self.k(x)))
        v = self.heads(self.vn(self.v(x)))
        attn = q @ k.transpose(-2, -1)
        if self.scale is not None:
            attn = attn * self.scale
        y = (attn @ v).permute(0, 1, 3, 2, 4).reshape(T_, B_, self.N, self.D)
        y = self.pn(self.proj(self.an(y)))
        return self.head(y.mean(0))  # mean over T of spikes: analog rates -> dense MACs


def run_both(net, x):
    """Our profile and their three counters on the same input (neuron states reset between)."""
    net.eval()
    with torch.no_grad():
        functional.reset_net(net)
        prof = em.profile(net, (x,), batch_dim=1)
        functional.reset_net(net)
        syn, ac, mac = SynOpCounter(), ACCounter(), MACCounter()
        ac_no_neuron = ACCounter(extra_ignore_modules=[neuron.BaseNode])
        with DispatchCounterMode([syn, ac, mac, ac_no_neuron]):
            net(x)
        functional.reset_net(net)
    rec = {name: dict(c.records["Global"]) for name, c in
           (("syn", syn), ("ac", ac), ("mac", mac), ("ac_no_neuron", ac_no_neuron))}
    return prof, rec


def ours(prof, column, ops=SYNAPTIC_OPS):
    df = prof.layers
    return float(df[df["op"].isin(ops)][column].sum())


def theirs(records, funcs=SYNAPTIC_ATEN):
    return float(sum(v for f, v in records.items() if f in funcs))


def close(a, b, rel=1e-3):
    return a == pytest.approx(b, rel=rel, abs=0)


def check_rates(prof):
    rates = prof.layers.query("kind == 'neuron'")["out_rate"]
    assert ((rates > 0.01) & (rates < 0.9)).all(), rates.tolist()  # every layer fires, none saturates


def test_conv_net_acs_and_macs_match_spikingjelly_op_counter():
    torch.manual_seed(0)
    net = ConvNet()
    x = torch.rand(T, B, 3, 8, 8) * 2
    prof, rec = run_both(net, x)
    check_rates(prof)

    # synaptic ACs (spike-driven convolutions with borders / stride / groups, linear head)
    assert ours(prof, "acs") > 0
    assert close(ours(prof, "acs"), rec["syn"][aten.convolution.default]
                 + rec["syn"][aten.addmm.default])
    assert close(prof.totals()["acs"], sum(rec["syn"].values()))  # nothing else is an AC here
    assert close(ours(prof, "acs"), theirs(rec["ac"]))  # their ACCounter's synaptic part
    # MACs: the analog-input encoder conv, dense
    assert close(ours(prof, "macs"), theirs(rec["mac"]))
    assert ours(prof, "macs") == 3 * 8 * 9 * 8 * 8 * T * B

    # convention 1: BN is MACs (affine) + ACs (C + N) for them, element-wise ops for us
    bn = prof.layers.query("op == 'batch_norm'").iloc[0]
    n_bn = T * B * 8 * 8 * 8
    assert bn["elementwise_ops"] == n_bn and bn["macs"] == 0 and bn["acs"] == 0
    assert rec["mac"][aten.native_batch_norm.default] == n_bn
    assert rec["ac"][aten.native_batch_norm.default] == n_bn + 8
    assert prof.totals()["macs"] == sum(rec["mac"].values()) - n_bn
    # convention 2: their ACCounter charges the neurons' own add / sub as ACs
    neuron_acs = sum(rec["ac"].values()) - sum(rec["ac_no_neuron"].values())
    assert neuron_acs > 0
    assert sum(rec["ac_no_neuron"].values()) == theirs(rec["ac"]) + n_bn + 8
    assert prof.totals()["neuron_updates"] == T * B * (8 * 64 + 16 * 16 + 16 * 16 + 10)


@pytest.mark.parametrize("scale", [0.25, None], ids=["scaled", "integer-attn"])
def test_spiking_attention_acs_and_macs_match_spikingjelly_op_counter(scale):
    torch.manual_seed(0)
    net = SpikingAttention(scale=scale)
    x = (torch.rand(T, B, 16, 32) < 0.3).float()
    prof, rec = run_both(net, x)
    check_rates(prof)

    mm = prof.layers.query("op == 'matmul'")
    assert len(mm) == 2 and (mm["acs"] > 0).all()
    # Q K^T, spike x spike: the sum of the 0/1 product, for both
    assert mm.iloc[0]["in_kind"] == "binary"
    # attn V: attn's values against V's spikes (attn is analog when scaled, integer when not)
    assert mm.iloc[1]["in_kind"] == ("analog" if scale else "integer")
    assert close(float(mm["acs"].sum()), rec["syn"][aten.bmm.default])
    # Q, K, V and projection linears (binary x weight) and the two attention matmuls
    assert close(ours(prof, "acs"), sum(rec["syn"].values()))
    assert close(ours(prof, "acs"), theirs(rec["ac"]))
    # the read-out head sees analog spike rates: dense MACs, for both
    assert ours(prof, "macs") == B * 16 * 32 * 10
    assert close(ours(prof, "macs"), sum(rec["mac"].values()))

    # convention 3: the mean over T of spikes: one AC per spike for us, dense numel - out for
    # them (ACCounter only; SynOpCounter ignores reductions)
    mean = prof.layers.query("op == 'mean'").iloc[0]
    spikes_pn = prof.layers.query("layer == 'pn'").iloc[0]["spikes_out"]
    assert mean["acs"] == spikes_pn
    assert rec["ac_no_neuron"][aten.mean.dim] == T * B * 16 * 32 - B * 16 * 32
    assert prof.totals()["acs"] == ours(prof, "acs") + spikes_pn


class SEWBlock(nn.Module):
    """A SEW-ResNet basic block written by hand from Fang et al. 2021 (spikingjelly's
    ``activation_based.model.sew_resnet`` needs torchvision, which the tests do not install):
    two conv-BN-IF stages and the ADD connect function, a residual sum of spikes (values 0, 1,
    2), read by the next convolution."""

    def __init__(self, c=8):
        super().__init__()
        self.stem = layer.Conv2d(3, c, 3, padding=1, bias=False, step_mode="m")
        self.sn0 = neuron.IFNode(step_mode="m")
        self.conv1 = layer.Conv2d(c, c, 3, padding=1, bias=False, step_mode="m")
        self.bn1 = layer.BatchNorm2d(c, step_mode="m")
        self.sn1 = neuron.IFNode(step_mode="m")
        self.conv2 = layer.Conv2d(c, c, 3, padding=1, bias=False, step_mode="m")
        self.bn2 = layer.BatchNorm2d(c, step_mode="m")
        self.sn2 = neuron.IFNode(step_mode="m")
        self.next = layer.Conv2d(c, 4, 3, padding=1, bias=False, step_mode="m")
        for m in (self.stem, self.conv1, self.conv2, self.next):
            nn.init.uniform_(m.weight, -0.1, 0.3)

    def forward(self, x):
        s = self.sn0(self.stem(x))
        out = self.sn2(self.bn2(self.conv2(self.sn1(self.bn1(self.conv1(s))))))
        return self.next(out + s)   # ADD: integer spikes into the next convolution


def test_sew_block_matches_op_counter_on_binary_layers_and_differs_by_convention_on_integer():
    torch.manual_seed(0)
    net = SEWBlock()
    x = torch.rand(T, B, 3, 8, 8) * 2
    prof, rec = run_both(net, x)
    lay = prof.layers.set_index("layer")
    # binary inputs: conv1, conv2 read spikes: our ACs equal their SynOpCounter's
    assert lay.loc["conv1", "in_kind"] == lay.loc["conv2", "in_kind"] == "binary"
    assert lay.loc["next", "in_kind"] == "integer"
    binary_acs = float(lay.loc["conv1", "acs"] + lay.loc["conv2", "acs"])
    assert close(binary_acs, rec["syn"][aten.convolution.default])
    # the residual sum (0, 1, 2) is not binary: their MACCounter charges the next conv dense,
    # C_out x C_in x 9 x positions; we charge k accumulates per value k at its exact fan-out
    dense_next = 4 * 8 * 9 * 8 * 8 * T * B
    dense_stem = 8 * 3 * 9 * 8 * 8 * T * B
    assert rec["mac"][aten.convolution.default] == dense_stem + dense_next
    with torch.no_grad():
        functional.reset_net(net)
        s = net.sn0(net.stem(x))
        out = net.sn2(net.bn2(net.conv2(net.sn1(net.bn1(net.conv1(s))))))
        fan = torch.nn.functional.conv2d((out + s).flatten(0, 1), torch.ones(4, 8, 3, 3), padding=1)
        functional.reset_net(net)
    assert float(lay.loc["next", "acs"]) == pytest.approx(float(fan.sum()))
    assert float((out + s).max()) == 2   # the integer spikes are there

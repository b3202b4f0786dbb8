"""Exact counts of the profiler against hand counts and slow references computed here."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import energymodel as em
from energymodel.counting.operands import CountOptions

torch.manual_seed(0)

try:
    from ._spies import HostReadSpy
except ImportError:  # tests/ is not a package
    from _spies import HostReadSpy


def spikes(*shape, rate=0.3, gen=None):
    g = gen or torch.Generator().manual_seed(1)
    return (torch.rand(*shape, generator=g) < rate).float()


def row(prof, op=None, layer=None, site=None):
    df = prof.layers
    if site is not None:
        df = df[df["site"] == site]
    if op is not None:
        df = df[df["op"] == op]
    if layer is not None:
        df = df[df["layer"] == layer]
    assert len(df) == 1, df[["site", "op"]]
    return df.iloc[0]


# ---------------------------------------------------------------- linear
def test_linear_binary_input_counts_one_ac_per_spike_and_output():
    lin = nn.Linear(7, 5)
    x = torch.tensor([[1.0, 0, 0, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1]])  # 4 spikes
    r = row(em.profile(lin, (x,)), op="linear")
    assert r["acs"] == 4 * 5
    assert r["macs"] == 0
    assert r["dense_macs"] == 2 * 7 * 5
    assert r["in_kind"] == "binary"
    assert r["in_rate"] == pytest.approx(4 / 14)
    assert r["acs_rate"] == pytest.approx(4 / 14 * 70)
    assert r["weight_reads"] == 20 and r["bias_reads"] == 10
    assert r["weight_elems"] == 35 and r["bias_elems"] == 5


def test_linear_on_3d_multistep_input():
    lin = nn.Linear(6, 3, bias=False)
    x = spikes(4, 2, 5, 6)  # T, B, N, D
    prof = em.profile(lin, (x,), batch_dim=1)
    r = row(prof, op="linear")
    assert r["acs"] == x.sum().item() * 3
    assert r["dense_macs"] == 4 * 2 * 5 * 6 * 3
    assert prof.samples == 2


def test_integer_spikes_count_k_accumulates_per_value_k():
    lin = nn.Linear(4, 3)
    x = torch.tensor([[2.0, 0, 1, 3]])
    r = row(em.profile(lin, (x,)), op="linear")
    assert r["in_kind"] == "integer"
    assert r["acs"] == (2 + 1 + 3) * 3
    assert r["macs"] == 0
    # configurable: one MAC per non-zero integer spike instead
    r2 = row(em.profile(lin, (x,), options=CountOptions(integer_spikes="mac")), op="linear")
    assert r2["acs"] == 0 and r2["macs"] == 3 * 3


def test_analog_input_counts_dense_macs_and_large_integers_are_analog():
    lin = nn.Linear(4, 3)
    x = torch.rand(2, 4) + 0.1
    r = row(em.profile(lin, (x,)), op="linear")
    assert r["macs"] == r["dense_macs"] == 2 * 4 * 3 and r["acs"] == 0
    img = torch.randint(0, 256, (2, 4)).float()  # 8-bit pixels are analog, not 255-level spikes
    img[0, 0] = 200
    r = row(em.profile(lin, (img,)), op="linear")
    assert r["in_kind"] == "analog" and r["macs"] == 24


# ---------------------------------------------------------------- convolution
def slow_conv_acs(x, conv: nn.Conv2d) -> int:
    """Loop over every output position and kernel tap; count taps that land on a non-zero
    input, times the output channels of the group."""
    n, cin, H, W = x.shape
    kh, kw = conv.kernel_size
    sh, sw = conv.stride
    ph, pw = conv.padding
    dh, dw = conv.dilation
    g = conv.groups
    cout = conv.out_channels
    Ho = (H + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    Wo = (W + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    nz = (x != 0)
    total = 0
    for b, ci, oh, ow, i, j in itertools.product(range(n), range(cin), range(Ho), range(Wo), range(kh), range(kw)):
        h, w = oh * sh - ph + i * dh, ow * sw - pw + j * dw
        if 0 <= h < H and 0 <= w < W and nz[b, ci, h, w]:
            total += cout // g
    return total


CONVS = [
    dict(in_channels=2, out_channels=3, kernel_size=3, padding=1),
    dict(in_channels=2, out_channels=4, kernel_size=3, stride=2, padding=1),
    dict(in_channels=4, out_channels=6, kernel_size=3, stride=1, padding=0, groups=2),
    dict(in_channels=4, out_channels=4, kernel_size=3, stride=2, padding=2, groups=4),  # depthwise
    dict(in_channels=2, out_channels=2, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1)),
]


@pytest.mark.parametrize("cfg", CONVS)
def test_conv2d_exact_acs_match_slow_loop(cfg):
    conv = nn.Conv2d(**cfg)
    x = spikes(2, cfg["in_channels"], 7, 6, rate=0.35)
    r = row(em.profile(conv, (x,)), op="conv2d")
    assert r["acs"] == slow_conv_acs(x, conv)
    assert r["macs"] == 0
    out = conv(x)
    kprod = conv.kernel_size[0] * conv.kernel_size[1]
    assert r["dense_macs"] == out.numel() * (cfg["in_channels"] // conv.groups) * kprod
    # the whole kernel is fetched per input event
    assert r["weight_reads"] == x.sum().item() * (conv.out_channels // conv.groups) * kprod


def test_conv2d_acs_equal_an_all_ones_convolution_on_a_larger_map():
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1, groups=1)
    x = spikes(2, 3, 33, 31, rate=0.2)
    r = row(em.profile(conv, (x,)), op="conv2d")
    ones = nn.functional.conv2d(x, torch.ones(5, 3, 3, 3), stride=2, padding=1)
    assert r["acs"] == ones.sum().item()


def test_conv1d_and_conv3d_exact():
    c1 = nn.Conv1d(2, 3, 3, padding=1, stride=2)
    x1 = spikes(1, 2, 9)
    ones = nn.functional.conv1d(x1, torch.ones(3, 2, 3), padding=1, stride=2)
    assert row(em.profile(c1, (x1,)), op="conv1d")["acs"] == ones.sum().item()
    c3 = nn.Conv3d(1, 2, 3, padding=1)
    x3 = spikes(1, 1, 4, 5, 5)
    ones = nn.functional.conv3d(x3, torch.ones(2, 1, 3, 3, 3), padding=1)
    assert row(em.profile(c3, (x3,)), op="conv3d")["acs"] == ones.sum().item()


def test_analog_conv_is_dense_macs():
    conv = nn.Conv2d(3, 8, 3, padding=1)
    x = torch.randn(1, 3, 8, 8)
    r = row(em.profile(conv, (x,)), op="conv2d")
    assert r["macs"] == r["dense_macs"] == 8 * 8 * 8 * 3 * 9
    assert r["acs"] == 0


# ---------------------------------------------------------------- products of activations
class QK(nn.Module):
    def forward(self, q, k):
        return q @ k.transpose(-2, -1)


def test_spike_by_spike_matmul_counts_only_coincident_ones():
    q = torch.tensor([[1.0, 0, 1], [0, 1, 1]])  # N=2, d=3
    k = torch.tensor([[1.0, 1, 0], [0, 0, 1], [1, 0, 1]])  # N=3, d=3
    r = row(em.profile(QK(), (q, k)), op="matmul")
    assert r["kind"] == "attention"
    # hand count: sum over (i, j, l) of q[i,l] * k[j,l]
    # q0 = [1,0,1] meets k rows in 1, 1, 2 places; q1 = [0,1,1] in 1, 1, 1
    assert r["acs"] == (q @ k.T).sum().item() == 7
    assert r["macs"] == 0
    assert r["dense_macs"] == 2 * 3 * 3


def test_integer_by_binary_product_reads_integers_as_values():
    """SSA: attn = Q K^T is integer-valued; attn @ V costs one accumulate per (V spike, row)."""

    class AV(nn.Module):
        def forward(self, q, k, v):
            return (q @ k.transpose(-2, -1)) @ v

    q, k, v = spikes(2, 4, 6, rate=0.6), spikes(2, 4, 6, rate=0.6), spikes(2, 4, 6, rate=0.4)
    prof = em.profile(AV(), (q, k, v))
    second = row(prof, site=":matmul#1")
    assert second["acs"] == 4 * v.sum().item()  # m = 4 rows of attn per V spike
    assert second["macs"] == 0


def test_analog_matmul_is_dense_and_einsum_is_seen():
    class E(nn.Module):
        def forward(self, a, b):
            return torch.einsum("bij,bjk->bik", a, b)

    a, b = torch.randn(2, 3, 4), torch.randn(2, 4, 5)
    r = row(em.profile(E(), (a, b)), op="matmul")
    assert r["macs"] == r["dense_macs"] == 2 * 3 * 4 * 5


def test_mask_costs_nothing_and_spike_sum_costs_one_ac_per_spike():
    class SDSACore(nn.Module):
        def forward(self, q, k, v):
            kv = (k * v).sum(dim=-2, keepdim=True)
            return q * kv

    q, k, v = spikes(2, 5, 4), spikes(2, 5, 4, rate=0.6), spikes(2, 5, 4, rate=0.6)
    prof = em.profile(SDSACore(), (q, k, v))
    masks = prof.layers[prof.layers["op"] == "mask"]
    # k * v and q * kv: a product with a binary operand selects, it never multiplies
    assert len(masks) == 2
    assert (masks[["macs", "acs", "elementwise_ops"]] == 0).all().all()
    s = row(prof, op="sum")
    assert s["acs"] == (k * v).sum().item()
    assert s["macs"] == 0


# ---------------------------------------------------------------- neurons and timesteps
def test_lif_records_updates_spikes_and_per_step_rates():
    lif = em.LIF()
    x = torch.rand(4, 3, 10) * 3  # T=4
    prof = em.profile(lif, (x,), batch_dim=1)
    out = em.LIF()(x)
    r = row(prof, op="lif")
    assert r["neuron_updates"] == 4 * 3 * 10
    assert r["spikes_out"] == out.sum().item()
    assert r["out_rate"] == pytest.approx(out.mean().item())
    steps = prof.timesteps()
    assert list(steps["t"]) == [0, 1, 2, 3]
    assert list(steps["spikes_out"]) == [out[t].sum().item() for t in range(4)]
    assert (steps["neuron_updates"] == 30).all()
    # ops inside the neuron are not counted separately
    assert set(prof.layers["kind"]) == {"neuron"}
    assert prof.unrecognized == {}


def test_single_step_neuron_with_timesteps_argument():
    lif = em.LIF(step_mode="s")
    xs = torch.rand(3, 2, 8) * 3
    with em.Profiler(lif, timesteps=3, calls_per_sample=3) as p:
        outs = [lif(xs[t]) for t in range(3)]
        lif.reset()
    prof = p.result()
    assert prof.samples == 2
    steps = prof.timesteps()
    assert list(steps["spikes_out"]) == [o.sum().item() for o in outs]


def test_wrong_timesteps_argument_is_a_clear_error():
    with pytest.raises(ValueError, match=r"layer '1' \(LIF\).*4 timesteps.*timesteps=2"):
        em.profile(nn.Sequential(nn.Linear(3, 3), em.LIF()), (torch.rand(4, 1, 3),), timesteps=2)


# ---------------------------------------------------------------- profile mechanics
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.lif1 = em.LIF()
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        return self.fc2(self.lif1(self.fc1(x)))


COUNTS = ["dense_macs", "macs", "acs", "acs_rate", "neuron_updates", "spikes_out", "weight_reads",
          "in_nnz", "calls"]


def test_counts_are_additive_over_batches():
    net = Net()
    x1, x2 = torch.rand(2, 3, 8) * 4, torch.rand(2, 5, 8) * 4
    a = em.profile(net, (x1,), batch_dim=1)
    b = em.profile(net, (x2,), batch_dim=1)
    with em.Profiler(net, batch_dim=1) as p:
        net(x1)
        net(x2)
    both = p.result()
    merged = a.merge(b)
    assert both.samples == merged.samples == 8
    pd_both = both.layers.set_index("site")[COUNTS]
    pd_merged = merged.layers.set_index("site")[COUNTS]
    assert (pd_both == pd_merged.loc[pd_both.index]).all().all()
    # and a real difference is seen: the merge is not just one of them
    assert merged.totals()["neuron_updates"] == a.totals()["neuron_updates"] + b.totals()["neuron_updates"]
    spread = both.rate_spread()
    assert spread.loc[0, "batches"] == 2


def test_profile_json_roundtrip_is_exact(tmp_path):
    prof = em.profile(Net(), (torch.rand(2, 3, 8) * 4,), batch_dim=1)
    back = em.Profile.from_json(prof.to_json(str(tmp_path / "p.json")))
    assert back.layers.equals(prof.layers) and back.samples == prof.samples


def test_hooks_removed_after_exception_and_state_dict_unchanged():
    class Boom(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.lif = em.LIF()

        def forward(self, x):
            self.lif(self.fc(x))
            raise RuntimeError("boom")

    m = Boom()
    keys = list(m.state_dict())
    with pytest.raises(RuntimeError, match="boom"):
        em.profile(m, (torch.rand(2, 1, 3),), batch_dim=1)
    for mod in m.modules():
        assert not mod._forward_hooks and not mod._forward_pre_hooks
    assert list(m.state_dict()) == keys
    # the dispatch mode is gone too: running again outside the profiler records nothing
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    assert _get_current_dispatch_mode() is None
    with torch.no_grad():
        m.fc(torch.rand(1, 3))


def test_shared_module_called_twice_counts_twice():
    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(self.fc(x))

    r = row(em.profile(Shared(), (torch.rand(3, 4),)), op="linear")
    assert r["calls"] == 2
    assert r["dense_macs"] == 2 * 3 * 4 * 4


def test_unrecognised_compute_ops_are_listed_not_dropped():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.exp(x) + torch.cumsum(x, 0)

    prof = em.profile(Odd(), (torch.rand(3, 4),))
    assert prof.unrecognized.get("exp") == 1 and prof.unrecognized.get("cumsum") == 1


def test_no_host_read_during_profiled_forward():
    """Every count stays on the device until result(): no aten._local_scalar_dense (a host read
    of a tensor value: .item(), bool(), float()) is issued while the model runs."""
    net = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), em.LIF(), nn.Flatten(2), nn.Linear(16, 4))
    x = torch.rand(3, 2, 2, 4, 4) * 3  # [T, B, C, H, W] folded by the conv as batch
    with HostReadSpy() as spy:
        with em.Profiler(net, batch_dim=0) as p:
            with torch.no_grad():
                net(x.flatten(0, 1))
    assert spy.reads == 0
    assert p.result().totals()["dense_macs"] > 0


def test_bad_batch_dim_is_a_clear_error():
    with pytest.raises(ValueError, match="batch_dim=3"):
        em.profile(nn.Linear(3, 3), (torch.rand(2, 3),), batch_dim=3)


def test_sums_stay_exact_beyond_float32_integer_range():
    from energymodel.counting.operands import exact_sum

    # float32 cannot hold every integer above 2**24; at this size a plain float32 sum of ones
    # is off by one (33554440), so only the blocked sum passes
    n = (1 << 25) + 7
    ones = torch.ones(n)
    assert exact_sum(ones, 1).item() == n
    levels = (torch.arange(n) % 3).float()  # integer spikes 0, 1, 2: a plain float32 sum is off
    assert exact_sum(levels, 2).item() == (torch.arange(n) % 3).sum().item()
    lin = nn.Linear(n // 4096 + 1, 1, bias=False)
    x = torch.ones(4096, n // 4096 + 1)
    assert row(em.profile(lin, (x,)), op="linear")["acs"] == x.numel()


def test_non_finite_analog_values_never_turn_counts_into_nan():
    lin = nn.Linear(4, 3)
    x = torch.tensor([[1.5, float("inf"), 0.0, -2.0]])
    r = row(em.profile(lin, (x,)), op="linear")
    assert r["macs"] == 12 and r["acs"] == 0 and r["in_kind"] == "analog"
    assert not prof_has_nan(em.profile(lin, (x,)))


def prof_has_nan(prof) -> bool:
    counts = prof.layers[["dense_macs", "macs", "acs", "acs_rate", "weight_reads", "state_reads"]]
    return bool(counts.isna().any().any())


def test_exception_inside_a_neuron_caught_by_the_model_keeps_counting():
    """Inside a neuron the dispatch mode steps aside; an exception there that the model
    catches must not leave it aside: the ops after it are still counted."""

    class Flaky(em.LIF):
        def forward(self, x):
            super().forward(x)
            raise ArithmeticError("neuron failed")

    class Net2(nn.Module):
        def __init__(self):
            super().__init__()
            self.bad = Flaky()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            try:
                self.bad(x)
            except ArithmeticError:
                pass
            return self.fc(x)

    x = torch.rand(2, 1, 4)
    prof = em.profile(Net2(), (x,), batch_dim=1)
    r = row(prof, op="linear")
    assert r["dense_macs"] == 2 * 4 * 3
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    assert _get_current_dispatch_mode() is None

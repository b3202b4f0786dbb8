"""The four attention modules: shapes, spike/analog outputs, the structure of each mechanism."""

from __future__ import annotations

import pytest
import torch

from energymodel import attention as A
from energymodel.lif import LIF

try:
    from ._zoo_spikes import capture_lif, spikes
except ImportError:  # tests/ is not a package
    from _zoo_spikes import capture_lif, spikes

T, B, N, D, H = 2, 2, 16, 32, 4


@pytest.mark.parametrize("name", list(A.MECHANISMS))
def test_shape_and_registry(name):
    torch.manual_seed(0)
    m = A.build_attention(name, D, H)
    assert isinstance(m, A.MECHANISMS[name])
    x = spikes((T, B, N, D), 0.3)
    A.calibrate_bn(m, x)
    with torch.no_grad():
        y = m(x)
    assert y.shape == (T, B, N, D) and torch.isfinite(y).all()


def test_errors():
    with pytest.raises(ValueError, match="unknown attention"):
        A.build_attention("linformer", D, H)
    with pytest.raises(ValueError, match="divisible"):
        A.SpikeDrivenSelfAttention(30, 4)


def test_ssa_outputs_spikes_and_uses_official_constants():
    m = A.SpikingSelfAttention(D, H)
    assert m.scale == 0.125 and m.attn_lif.v_threshold == 0.5
    x = spikes((T, B, N, D), 0.3)
    A.calibrate_bn(m, x)
    with torch.no_grad():
        y = m(x)
    assert set(y.unique().tolist()) <= {0.0, 1.0}


def test_sdsa_is_masks_and_a_column_sum():
    torch.manual_seed(1)
    m = A.SpikeDrivenSelfAttention(D, H)
    assert m.talking_heads_lif.v_threshold == 0.5
    assert not hasattr(m, "proj_lif")  # membrane shortcut: no neuron after the projection
    x = spikes((T, B, N, D), 0.3)
    A.calibrate_bn(m, x)
    lif, _ = capture_lif(m)
    with torch.no_grad():
        m(x)
    k, v, a = lif["k_lif"], lif["v_lif"], lif["talking_heads_lif"]
    assert a.shape == (T, B, H, 1, D // H)  # one spike per head channel and step
    # recompute the column sums from K and V: the neuron saw Σ_tokens (K ⊙ V)
    kv = (k * v).reshape(T, B, N, H, D // H).permute(0, 1, 3, 2, 4).sum(-2, keepdim=True)
    ref = LIF(v_threshold=0.5)(kv)
    assert torch.equal(ref, a)


def test_sasa_has_no_value_projection():
    m = A.SpikeAggregatedSelfAttention(D, H)
    names = {n for n, _ in m.named_children()}
    assert "v_linear" not in names and {"q_linear", "k_linear", "proj_linear"} <= names
    assert "our reading" in A.sasa.__doc__ and "2412.13553" in A.sasa.__doc__


def test_vanilla_matches_torch_sdpa():
    torch.manual_seed(0)
    m = A.VanillaSelfAttention(D, H).eval()
    x = torch.randn(1, B, N, D)
    with torch.no_grad():
        y = m(x)
        h = m.norm(x)[0]
        sp = lambda t: t.reshape(B, N, H, D // H).transpose(1, 2)
        ref = torch.nn.functional.scaled_dot_product_attention(
            sp(m.q_linear(h)), sp(m.k_linear(h)), sp(m.v_linear(h)))
        ref = m.proj_linear(ref.transpose(1, 2).reshape(B, N, D))
    assert torch.allclose(y[0], ref, atol=1e-5)


def test_calibrate_bn_brings_neurons_to_fire():
    torch.manual_seed(0)
    m = A.SpikeDrivenSelfAttention(D, H)
    # random init, eval mode, BN statistics (0, 1): pre-activations far below threshold
    with torch.no_grad():
        for lin in (m.q_linear, m.k_linear, m.v_linear):
            lin.weight.mul_(0.1)
    m.eval()
    x = spikes((T, B, N, D), 0.3)
    lif, _ = capture_lif(m)
    with torch.no_grad():
        m(x)
    assert lif["q_lif"].sum() == 0
    A.calibrate_bn(m, x)
    assert not m.training
    with torch.no_grad():
        m(x)
    assert lif["q_lif"].mean() > 0.005

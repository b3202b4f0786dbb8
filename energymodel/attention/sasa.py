"""Spike Aggregated Self-Attention (SASA) of SAFormer (Zhang, Sboev, Rybka, Yu, arXiv 2412.13553),
**as we read the paper's abstract**.

The abstract states that SASA computes its attention weights from the spike query and key
matrices only, with no value, and that the block adds a depthwise-convolution module (DWC).
The body of the paper and any code were not available to us. Our reading, which this module
implements and the README states:

    Q, K = SN(BN(x W_Q)), SN(BN(x W_K))            (no V projection)
    A    = SN(Σ_tokens (Q ⊙ K))                   per head and channel, [T, B, H, 1, d]
    out  = BN(Linear(A ⊙ K))

i.e. the SDSA pattern with the query-key pair aggregated over tokens and the key, not a value,
carrying the tokens to the output. The DWC module lives in the block
(:class:`energymodel.zoo.blocks.SAFormerBlock`). Treat counts of this mechanism as those of
our reading, not of the authors' network.
"""

from __future__ import annotations

import torch
from torch import nn

from ..lif import LIF
from ._common import add_spiking_projections, check_dims, linear_bn, merge_heads, spiking_projection

__all__ = ["SpikeAggregatedSelfAttention"]


class SpikeAggregatedSelfAttention(nn.Module):
    """SASA in our reading of the SAFormer abstract (see the module docstring):
    ``BN(Linear(SN(Σ_tokens(Q ⊙ K)) ⊙ K))``; one projection fewer than SDSA, masks and a
    column sum only, linear in N.

    Args:
        dim, heads: D and H. attn_threshold: threshold of ``attn_lif`` on the column sums (0.5,
            as SDSA's; our choice). tau: of every neuron. qkv_bias: biases on Q, K linears.
        aggregation: AG(.) over tokens: ``"global"`` (one sum over all N tokens, our reading)
            or ``"pool:r"`` (sums over windows of r tokens, N / r aggregates, each broadcast
            back to its r tokens: the *down-sampled* aggregation a secondary summary of the
            paper describes). The paper's body, once known, says which.

    Input ``[T, B, N, D]`` spikes, output ``[T, B, N, D]`` analog (membrane contribution).
    """

    def __init__(
        self,
        dim: int,
        heads: int = 8,
        qkv_bias: bool = False,
        attn_threshold: float = 0.5,
        tau: float = 2.0,
        aggregation: str = "global",
    ) -> None:
        super().__init__()
        check_dims(dim, heads)
        self.dim, self.heads = dim, heads
        self.pool = _parse_aggregation(aggregation)
        self.aggregation = aggregation
        add_spiking_projections(self, ("q", "k"), dim, qkv_bias, tau)  # our reading: no value projection
        self.attn_lif = LIF(tau=tau, v_threshold=attn_threshold)
        self.proj_linear = nn.Linear(dim, dim)
        self.proj_bn = nn.BatchNorm1d(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = spiking_projection(self, "q", x, self.heads)
        k = spiking_projection(self, "k", x, self.heads)
        qk = q * k  # mask (our reading)
        if self.pool is None:
            a = qk.sum(dim=-2, keepdim=True)  # aggregate over tokens: [T, B, H, 1, d]
            a = self.attn_lif(a)
        else:  # down-sampled: sums over windows of r tokens, [T, B, H, N / r, d]
            n = qk.shape[-2]
            if n % self.pool:
                raise ValueError(f"SASA aggregation pool:{self.pool} needs a token count "
                                 f"divisible by {self.pool}, got N = {n}")
            a = qk.unflatten(-2, (n // self.pool, self.pool)).sum(dim=-2)
            a = self.attn_lif(a).repeat_interleave(self.pool, dim=-2)
        out = a * k  # mask: the key carries the tokens (our reading)
        return linear_bn(merge_heads(out), self.proj_linear, self.proj_bn)


def _parse_aggregation(spec: str) -> int | None:
    """``"global"`` -> None; ``"pool:r"`` -> r (an integer >= 1)."""
    if spec == "global":
        return None
    if isinstance(spec, str) and spec.startswith("pool:") and spec[5:].isdigit() and int(spec[5:]) >= 1:
        return int(spec[5:])
    raise ValueError(f"SASA aggregation must be 'global' or 'pool:r' (r >= 1), got {spec!r}")

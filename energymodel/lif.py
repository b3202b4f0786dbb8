"""Our own leaky integrate-and-fire neuron, torch only.

The dynamics follow the form used by Spikformer and the Spike-driven Transformer (spikingjelly's
``MultiStepLIFNode`` with ``decay_input=True`` and a hard reset), so that models built from it
fire like the published ones:

    H[t] = V[t-1] + (X[t] - (V[t-1] - V_reset)) / tau      (charge)
    S[t] = Heaviside(H[t] - V_threshold)                     (fire)
    V[t] = H[t] * (1 - S[t]) + V_reset * S[t]                (hard reset)

Gradients pass through the Heaviside step with a sigmoid surrogate (slope ``alpha``), so the
neuron trains with plain back-propagation through time.

The membrane potential ``v`` is a plain attribute, never a buffer: it does not enter the
``state_dict`` and is cleared by :meth:`LIF.reset`.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LIF", "reset_states"]


class _SigmoidSurrogateSpike(torch.autograd.Function):
    """Heaviside forward, derivative of ``sigmoid(alpha * x)`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, alpha: float) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.alpha = alpha
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        sg = torch.sigmoid(ctx.alpha * x)
        return grad_out * ctx.alpha * sg * (1.0 - sg), None


class LIF(nn.Module):
    """Leaky integrate-and-fire neuron, multi-step by default.

    Args:
        tau: membrane time constant (in timesteps), > 1.
        v_threshold: firing threshold (dimensionless potential).
        v_reset: potential after a spike (hard reset).
        detach_reset: stop the gradient through the reset path, as the reference models do.
        alpha: slope of the sigmoid surrogate gradient.
        step_mode: ``"m"``: the input is ``[T, ...]`` and all T steps of one sample run in one
            call, starting from ``v_reset`` (no state leaks between calls);
            ``"s"``: one step per call, the state carried between calls until :meth:`reset`.

    Output: binary spikes (0.0 / 1.0) of the input's shape and dtype.
    """

    def __init__(
        self,
        tau: float = 2.0,
        v_threshold: float = 1.0,
        v_reset: float = 0.0,
        detach_reset: bool = True,
        alpha: float = 4.0,
        step_mode: str = "m",
    ) -> None:
        super().__init__()
        if tau <= 1.0:
            raise ValueError(f"LIF: tau must be > 1 (got {tau})")
        if step_mode not in ("m", "s"):
            raise ValueError(f"LIF: step_mode must be 'm' or 's' (got {step_mode!r})")
        self.tau = float(tau)
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.detach_reset = detach_reset
        self.alpha = float(alpha)
        self.step_mode = step_mode
        self.v: torch.Tensor | float = self.v_reset

    def extra_repr(self) -> str:
        return (
            f"tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, "
            f"step_mode={self.step_mode!r}"
        )

    def reset(self) -> None:
        """Forget the membrane potential (call between independent samples)."""
        self.v = self.v_reset

    def _step(self, x: torch.Tensor) -> torch.Tensor:
        v = self.v
        if not isinstance(v, torch.Tensor) or v.shape != x.shape:
            v = torch.full_like(x, self.v_reset)
        h = v + (x - (v - self.v_reset)) / self.tau
        spike = _SigmoidSurrogateSpike.apply(h - self.v_threshold, self.alpha)
        s = spike.detach() if self.detach_reset else spike
        self.v = h * (1.0 - s) + self.v_reset * s
        return spike

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.step_mode == "s":
            return self._step(x)
        if x.dim() < 1:
            raise ValueError("LIF(step_mode='m') expects an input of shape [T, ...]")
        self.reset()
        return torch.stack([self._step(x[t]) for t in range(x.shape[0])])


def reset_states(model: nn.Module) -> None:
    """Reset every stateful neuron in ``model`` (any module with a ``reset()`` method that holds
    a membrane state: ours, spikingjelly's, and modules following the same protocol)."""
    for m in model.modules():
        reset = getattr(m, "reset", None)
        if callable(reset) and (hasattr(m, "v") or hasattr(m, "mem")):
            reset()

"""Operand classification: binary spikes, integer spikes or analog, decided on the device.

Nothing here reads a value back to the host: every flag and count is a 0-d tensor on the
operand's device, so classifying an operand never synchronises a GPU. Callers combine flags with
arithmetic (``flag.double() * count``) instead of Python ``if``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["CountOptions", "Operand", "classify"]

F64 = torch.float64


@dataclass(frozen=True)
class CountOptions:
    """How operands are classified and integer spikes are charged.

    Attributes:
        max_spike_level: largest value an *integer spike* may take (SEW residual sums,
            multi-level spikes). A tensor of non-negative integers above this is analog
            (an 8-bit image is analog, not 255-level spikes).
        integer_spikes: ``"acs"``: an integer spike of value k counts as k accumulates
            (k events); ``"mac"``: it counts as one multiply-accumulate per non-zero element.
    """

    max_spike_level: int = 16
    integer_spikes: str = "acs"

    def __post_init__(self) -> None:
        if self.integer_spikes not in ("acs", "mac"):
            raise ValueError(
                f"integer_spikes must be 'acs' or 'mac' (got {self.integer_spikes!r})"
            )
        if self.max_spike_level < 1:
            raise ValueError(f"max_spike_level must be >= 1 (got {self.max_spike_level})")


@dataclass
class Operand:
    """One operand of an op, classified on its device.

    ``binary`` and ``integer`` are 0-d bool tensors (``integer`` includes binary) or, for
    weights, the Python constant ``False``. ``nnz`` is a 0-d int64 tensor.
    """

    tensor: torch.Tensor
    is_weight: bool
    binary: torch.Tensor | bool
    integer: torch.Tensor | bool
    _nnz: torch.Tensor | None = field(default=None, repr=False)
    _total: torch.Tensor | None = field(default=None, repr=False)

    @property
    def numel(self) -> int:
        return self.tensor.numel()

    @property
    def nnz(self) -> torch.Tensor:
        if self._nnz is None:
            self._nnz = torch.count_nonzero(self.tensor)
        return self._nnz

    @property
    def total(self) -> torch.Tensor:
        """Sum of the values (float64, 0-d): the events of a spike tensor."""
        if self._total is None:
            self._total = self.tensor.sum(dtype=F64)
        return self._total

    def events(self, options: CountOptions) -> torch.Tensor:
        """All events of the operand: the value sum, or with ``integer_spikes='mac'`` the
        non-zero count."""
        return self.nnz.to(F64) if options.integer_spikes == "mac" else self.total

    def flag(self, which: str) -> torch.Tensor | float:
        """``binary`` / ``integer`` as a float64 0-d tensor (or 0.0 for a weight)."""
        v = getattr(self, which)
        return v.to(F64) if isinstance(v, torch.Tensor) else float(v)

    def event_sums(self, dim: int | tuple[int, ...], options: CountOptions) -> torch.Tensor:
        """Events per remaining index, summed over ``dim``: the values themselves (an integer
        spike k is k events) or, with ``integer_spikes='mac'``, the non-zero count."""
        t = self.tensor
        if options.integer_spikes == "mac":
            return (t != 0).sum(dim=dim, dtype=F64)
        return t.sum(dim=dim, dtype=F64)


def classify(t: torch.Tensor, is_weight: bool, options: CountOptions) -> Operand:
    """Classify ``t``. Weights (parameters and views of them) are always analog.

    Four reductions, all on the device: min/max, the non-zero count, the sum, and the count of
    non-integral elements. Binary follows without another pass: values in [0, 1] whose sum
    equals their non-zero count are all 0 or 1.
    """
    if is_weight or t.numel() == 0:
        return Operand(t, is_weight, False, False)
    if t.dtype == torch.bool:
        true = torch.ones((), dtype=torch.bool, device=t.device)
        return Operand(t, False, true, true, torch.count_nonzero(t), t.sum(dtype=F64))
    if t.is_complex():
        return Operand(t, False, False, False)
    lo, hi = torch.aminmax(t)
    nnz = torch.count_nonzero(t)
    total = t.sum(dtype=F64)
    in_range = (lo >= 0) & (hi <= options.max_spike_level)
    if t.is_floating_point():
        integral = torch.count_nonzero(torch.frac(t)) == 0
        integer = in_range & integral
    else:
        integer = in_range
    binary = (lo >= 0) & (hi <= 1) & (total == nnz.to(F64))
    return Operand(t, False, binary, integer, nnz, total)

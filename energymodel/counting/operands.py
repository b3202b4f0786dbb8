"""Operand classification: binary spikes, integer spikes or analog, decided on the device.

Nothing here reads a value back to the host: every flag and count is a 0-d tensor on the
operand's device, so classifying an operand never synchronises a GPU. Callers combine flags with
arithmetic (``flag * count``) instead of Python ``if``.

Sums are exact for spike tensors: they are accumulated in float32 over blocks small enough that
every partial sum of integers stays below 2**24 (where float32 is exact), and the block sums in
float64. That is an order of magnitude faster on CPU than a float64 reduction or
``count_nonzero``, and as exact. For analog tensors the sums are never used as counts (their
flags are 0); non-finite values are zeroed so that 0 x inf never turns a count into NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = ["CountOptions", "Operand", "Scan", "classify", "scan", "exact_sum", "exact_sum_dims"]

F64 = torch.float64
_F32_EXACT = 1 << 24  # integers up to 2**24 are exact in float32


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
        if not 1 <= self.max_spike_level <= 4096:
            raise ValueError(f"max_spike_level must be in [1, 4096] (got {self.max_spike_level})")


def _block(level: int) -> int:
    return max(1, _F32_EXACT // (4 * max(level, 1)))


def exact_sum(x: torch.Tensor, level: int = 16) -> torch.Tensor:
    """Sum of all elements as a float64 0-d tensor, exact when ``x`` holds integers in
    [0, level]. Non-finite results are zeroed."""
    if not x.is_floating_point():
        return x.sum(dtype=torch.int64).to(F64)
    flat = x.reshape(-1)
    n = flat.numel()
    b = _block(level)
    if n <= b:
        s = flat.sum(dtype=torch.float32).to(F64)
    else:
        k = n // b
        s = flat[: k * b].view(k, b).sum(1, dtype=torch.float32).sum(dtype=F64)
        if k * b < n:
            s = s + flat[k * b :].sum(dtype=torch.float32).to(F64)
    return torch.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)


def exact_sum_dims(x: torch.Tensor, dims: tuple[int, ...] | int, level: int = 16) -> torch.Tensor:
    """Sum over ``dims`` in float64, exact for integers in [0, level]: float32 when each output
    element sums few enough values, float64 otherwise. Non-finite results are zeroed."""
    if isinstance(dims, int):
        dims = (dims,)
    count = 1
    for d in dims:
        count *= x.shape[d]
    if not x.is_floating_point():
        s = x.sum(dim=dims, dtype=torch.int64).to(F64)
    elif count <= _block(level):
        s = x.sum(dim=dims, dtype=torch.float32).to(F64)
    else:
        s = x.sum(dim=dims, dtype=F64)
    return torch.nan_to_num(s, nan=0.0, posinf=0.0, neginf=0.0)


@dataclass
class Operand:
    """One operand of an op, classified on its device.

    ``binary`` and ``integer`` are 0-d bool tensors (``integer`` includes binary) or, for
    weights, the Python constant ``False``. ``nnz`` and ``total`` are float64 0-d tensors.
    """

    tensor: torch.Tensor
    is_weight: bool
    binary: torch.Tensor | bool
    integer: torch.Tensor | bool
    level: int = 16
    _nnz: torch.Tensor | None = field(default=None, repr=False)
    _total: torch.Tensor | None = field(default=None, repr=False)

    @property
    def numel(self) -> int:
        return self.tensor.numel()

    @property
    def nnz(self) -> torch.Tensor:
        """Non-zero elements (float64, 0-d, exact)."""
        if self._nnz is None:
            t = self.tensor
            ind = torch.sign(t).abs_() if t.is_floating_point() else (t != 0).to(torch.float32)
            self._nnz = exact_sum(ind, 1)
        return self._nnz

    @property
    def total(self) -> torch.Tensor:
        """Sum of the values (float64, 0-d): the events of a spike tensor."""
        if self._total is None:
            self._total = exact_sum(self.tensor, self.level)
        return self._total

    def events(self, options: CountOptions) -> torch.Tensor:
        """All events of the operand: the value sum, or with ``integer_spikes='mac'`` the
        non-zero count."""
        return self.nnz if options.integer_spikes == "mac" else self.total

    def flag(self, which: str) -> torch.Tensor | float:
        """``binary`` / ``integer`` as a float64 0-d tensor (or 0.0 for a weight)."""
        v = getattr(self, which)
        return v.to(F64) if isinstance(v, torch.Tensor) else float(v)

    def event_sums(self, dim: int | tuple[int, ...], options: CountOptions) -> torch.Tensor:
        """Events per remaining index, summed over ``dim``: the values themselves (an integer
        spike k is k events) or, with ``integer_spikes='mac'``, the non-zero count."""
        t = self.tensor
        if options.integer_spikes == "mac":
            t = torch.sign(t).abs_() if t.is_floating_point() else (t != 0).to(torch.float32)
        return exact_sum_dims(t, dim, self.level)


_CHUNK = 1 << 18  # elements per CPU scan step: 1 MiB of float32, stays in cache across passes


@dataclass
class Scan:
    """What one pass over a tensor learns (all 0-d float64 tensors on its device, except
    ``group_totals``: one value sum per leading group, e.g. per timestep)."""

    lo: torch.Tensor
    hi: torch.Tensor
    nnz: torch.Tensor
    frac: torch.Tensor
    group_totals: torch.Tensor

    @property
    def total(self) -> torch.Tensor:
        return self.group_totals.sum()


def scan(t: torch.Tensor, level: int, groups: int = 1) -> Scan:
    """Min, max, non-zero count, sum of fractional parts and per-group value sums of a floating
    tensor, all exact for integer spikes, none read back to the host.

    On CPU the tensor is walked in cache-sized chunks with one reused scratch buffer: the four
    reductions then cost about one pass from memory, and no tensor-sized temporary is allocated
    (allocating one costs more than the scan on a large spike map). On other devices each
    reduction runs over the whole tensor at once."""
    rows = t.reshape(groups, -1)
    per = rows.shape[1]
    if t.device.type != "cpu" or rows.numel() <= _CHUNK:
        lo, hi = torch.aminmax(rows)
        ind = torch.sign(rows).abs_()
        fr = torch.frac(rows).abs_()
        totals = torch.stack([exact_sum(r, level) for r in rows]) if groups > 1 else exact_sum(rows, level).reshape(1)
        return Scan(lo.to(F64), hi.to(F64), exact_sum(ind, 1), fr.sum(dtype=F64), totals)
    chunk = min(_CHUNK, _block(level))
    buf = torch.empty(min(chunk, per), dtype=t.dtype, device=t.device)
    los, his, nnzs, fracs, totals = [], [], [], [], []
    for g in range(groups):
        row = rows[g]
        sums = []
        for start in range(0, per, chunk):
            c = row[start : start + chunk]
            b = buf[: c.numel()]
            lo, hi = torch.aminmax(c)
            los.append(lo)
            his.append(hi)
            sums.append(c.sum(dtype=torch.float32))
            torch.sign(c, out=b)
            nnzs.append(b.abs_().sum(dtype=torch.float32))
            torch.frac(c, out=b)
            fracs.append(b.abs_().sum(dtype=torch.float32))
        totals.append(torch.stack(sums).sum(dtype=F64))
    return Scan(
        torch.stack(los).min().to(F64),
        torch.stack(his).max().to(F64),
        torch.stack(nnzs).sum(dtype=F64),
        torch.stack(fracs).sum(dtype=F64),
        torch.nan_to_num(torch.stack(totals), nan=0.0, posinf=0.0, neginf=0.0),
    )


def classify(
    t: torch.Tensor, is_weight: bool, options: CountOptions, groups: int = 1
) -> tuple[Operand, torch.Tensor | None]:
    """Classify ``t``; returns the operand and, for a floating tensor, its value sums per
    leading group (``groups`` of them, e.g. timesteps). Weights (parameters and views of them)
    are always analog.

    One scan (:func:`scan`) decides the class: integer when min >= 0, max <= the spike level
    and no element has a fractional part; binary when integer with max <= 1."""
    level = options.max_spike_level
    if is_weight or t.numel() == 0:
        return Operand(t, is_weight, False, False, level), None
    if t.dtype == torch.bool:
        true = torch.ones((), dtype=torch.bool, device=t.device)
        op = Operand(t, False, true, true, 1)
        op._nnz = op._total = exact_sum(t.to(torch.float32), 1)
        return op, None
    if t.is_complex():
        return Operand(t, False, False, False, level), None
    if not t.is_floating_point():
        lo, hi = torch.aminmax(t)
        integer = (lo >= 0) & (hi <= level)
        return Operand(t, False, integer & (hi <= 1), integer, level), None
    sc = scan(t, level, groups)
    integer = (sc.lo >= 0) & (sc.hi <= level) & (sc.frac == 0)
    op = Operand(t, False, integer & (sc.hi <= 1), integer, level, _nnz=sc.nnz, _total=sc.total)
    return op, sc.group_totals

"""Operand classification: binary spikes, integer spikes or analog, decided on the device.

On an accelerator nothing here reads a value back to the host: every flag and count is a 0-d
tensor on the operand's device, so classifying an operand never synchronises a GPU. Callers
combine flags with arithmetic (``flag * count``) instead of Python ``if``.

On the CPU (the devices in :data:`HOST_DEVICES`) reading a value costs nothing and synchronises
nothing, so there flags are Python ``bool`` and counts Python ``float`` (read with ``tolist()``,
which issues no aten op), and the counts that follow are plain Python arithmetic instead of
dozens of 0-d tensor ops per op site. The scan can then also stop early: once a chunk is seen to
be analog, the passes that only decide "integer spikes?" are skipped; a chunk seen to hold only
0 / 1 gets its non-zero count from its sum. Both are exact (the same numbers as the full scan).

Sums are exact for spike tensors: they are accumulated in float32 over blocks small enough that
every partial sum of integers stays below 2**24 (where float32 is exact), and the block sums in
float64. That is an order of magnitude faster on CPU than a float64 reduction or
``count_nonzero``, and as exact. For analog tensors the sums are never used as counts (their
flags are 0); non-finite values are zeroed so that 0 x inf never turns a count into NaN.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

__all__ = [
    "CountOptions", "Operand", "Scan", "classify", "scan", "exact_sum", "exact_sum_dims",
    "HOST_DEVICES", "on_host",
]

F64 = torch.float64
_F32_EXACT = 1 << 24  # integers up to 2**24 are exact in float32

#: Device types whose counts are read into Python numbers as they are made (no synchronisation
#: exists there). Everywhere else counts stay on the device until ``Profiler.result()``.
HOST_DEVICES: set[str] = {"cpu"}


def on_host(t: torch.Tensor) -> bool:
    """Whether counts about ``t`` are kept as Python numbers (``t`` lives on a host device)."""
    return t.device.type in HOST_DEVICES


@dataclass(frozen=True)
class CountOptions:
    """How operands are classified and integer spikes are charged.

    Attributes:
        max_spike_level: largest value an *integer spike* may take (SEW residual sums,
            multi-level spikes). A tensor of non-negative integers above this is analog
            (an 8-bit image is analog, not 255-level spikes).
        integer_spikes: ``"acs"``: an integer spike of value k counts as k accumulates
            (k events); ``"mac"``: it counts as one multiply-accumulate per non-zero element.
        verify: debug mode. Scan every operand in full, ignoring the shortcuts that a neuron
            adapter's guarantee allows (a Heaviside neuron's output is 0 / 1 by construction,
            so normally only its sum is taken), and raise ``ValueError`` naming the layer when
            a neuron that guarantees binary spikes emits anything else. Counts are the same as
            without it (``tests/test_fast_paths.py`` checks that on every tiny and CIFAR zoo
            model); it is slower, and on a GPU it reads one flag per neuron call to the host.
    """

    max_spike_level: int = 16
    integer_spikes: str = "acs"
    verify: bool = False

    def __post_init__(self) -> None:
        if self.integer_spikes not in ("acs", "mac"):
            raise ValueError(
                f"integer_spikes must be 'acs' or 'mac' (got {self.integer_spikes!r})"
            )
        if not 1 <= self.max_spike_level <= 4096:
            raise ValueError(f"max_spike_level must be in [1, 4096] (got {self.max_spike_level})")


def _out(x: torch.Tensor, host: bool) -> torch.Tensor | float:
    """A 0-d count as the caller keeps it: a Python float on a host device, else the tensor.
    ``tolist()`` issues no aten op (no ``_local_scalar_dense``)."""
    return float(x.tolist()) if host else x


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

    ``binary`` and ``integer`` are 0-d bool tensors (``integer`` includes binary) or Python
    ``bool`` where known on the host (weights: ``False``; CPU operands; guaranteed spikes).
    ``nnz`` and ``total`` are float64 0-d tensors, or Python ``float`` for CPU operands.
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
    def nnz(self) -> torch.Tensor | float:
        """Non-zero elements (float64, 0-d, exact)."""
        if self._nnz is None:
            t = self.tensor
            ind = torch.sign(t).abs_() if t.is_floating_point() else (t != 0).to(torch.float32)
            self._nnz = _out(exact_sum(ind, 1), on_host(t))
        return self._nnz

    @property
    def total(self) -> torch.Tensor | float:
        """Sum of the values (float64, 0-d): the events of a spike tensor."""
        if self._total is None:
            self._total = _out(exact_sum(self.tensor, self.level), on_host(self.tensor))
        return self._total

    def events(self, options: CountOptions) -> torch.Tensor | float:
        """All events of the operand: the value sum, or with ``integer_spikes='mac'`` the
        non-zero count."""
        return self.nnz if options.integer_spikes == "mac" else self.total

    def flag(self, which: str) -> torch.Tensor | float:
        """``binary`` / ``integer`` as a float64 0-d tensor (a Python float where known on the
        host)."""
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
    def total(self) -> torch.Tensor | float:
        return self.group_totals.sum()


def _group_totals(rows: torch.Tensor, level: int) -> torch.Tensor:
    """Exact value sums of each row of ``rows`` ([groups, n]): float64, one per group."""
    if rows.shape[0] == 1:
        return exact_sum(rows, level).reshape(1)
    return torch.stack([exact_sum(r, level) for r in rows])


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
        totals = _group_totals(rows, level)
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


def _scan_host(t: torch.Tensor, level: int, groups: int) -> tuple[bool, bool, float, torch.Tensor]:
    """:func:`scan` on a host device, deciding as it goes: ``(binary, integer, nnz, group
    totals)``, the same numbers as the full scan.

    Same chunks and the same float32 chunk sums as :func:`scan`; what differs is what is not
    computed. Once a chunk has an element below 0 or above ``level`` (or a NaN) the operand is
    analog, and later chunks skip min / max and the fractional-part pass. A chunk whose min /
    max / fractional parts show only 0 and 1 takes its non-zero count from its sum (the same
    float32 value the sign pass would give)."""
    rows = t.reshape(groups, -1)
    per = rows.shape[1]
    if rows.numel() <= _CHUNK:
        lo, hi = (v.tolist() for v in torch.aminmax(rows))
        integer = lo >= 0 and hi <= level  # False for NaN
        if integer:
            integer = torch.frac(rows).abs_().sum(dtype=F64).tolist() == 0
        totals = _group_totals(rows, level)
        if integer and hi <= 1:
            nnz = float(totals.sum().tolist())
        else:  # signs of non-negative elements are 0 / 1 already: abs only for analog
            ind = torch.sign(rows) if integer else torch.sign(rows).abs_()
            nnz = float(exact_sum(ind, 1).tolist())
        return integer and hi <= 1, integer, nnz, totals
    chunk = min(_CHUNK, _block(level))
    buf = torch.empty(min(chunk, per), dtype=t.dtype, device=t.device)
    integer, top = True, 0.0
    nnzs, totals = [], []
    for g in range(groups):
        row = rows[g]
        sums = []
        for start in range(0, per, chunk):
            c = row[start : start + chunk]
            b = buf[: c.numel()]
            sm = c.sum(dtype=torch.float32)
            sums.append(sm)
            zero_one = False
            if integer:
                lo, hi = (v.tolist() for v in torch.aminmax(c))
                integer = lo >= 0 and hi <= level
                if integer:  # every element >= 0 here, so are the fractional parts: no abs
                    torch.frac(c, out=b)
                    integer = b.sum(dtype=torch.float32).tolist() == 0
                    top = max(top, hi)
                    zero_one = integer and hi <= 1
            if zero_one:
                nnzs.append(sm)
            elif integer:  # non-negative: the signs are 0 / 1 already
                nnzs.append(torch.sign(c, out=b).sum(dtype=torch.float32))
            else:
                torch.sign(c, out=b)
                nnzs.append(b.abs_().sum(dtype=torch.float32))
        totals.append(torch.stack(sums).sum(dtype=F64))
    nnz = float(torch.stack(nnzs).sum(dtype=F64).tolist())
    gt = torch.nan_to_num(torch.stack(totals), nan=0.0, posinf=0.0, neginf=0.0)
    return integer and top <= 1, integer, nnz, gt


def _binary_totals(t: torch.Tensor, groups: int) -> torch.Tensor:
    """Per-group sums of a tensor known to hold only 0 and 1 (float64, exact): float32 sums of
    blocks of at most ``2**22`` elements, added in float64. One pass, no other reduction."""
    rows = t.reshape(groups, -1)
    per = rows.shape[1]
    b = _block(1)
    if per <= b:
        return rows.sum(1, dtype=torch.float32).to(F64)
    k = per // b
    s = rows[:, : k * b].reshape(groups, k, b).sum(2, dtype=torch.float32).sum(1, dtype=F64)
    if k * b < per:
        s = s + rows[:, k * b :].sum(1, dtype=torch.float32).to(F64)
    return s


def classify(
    t: torch.Tensor,
    is_weight: bool,
    options: CountOptions,
    groups: int = 1,
    binary: bool = False,
) -> tuple[Operand, torch.Tensor | None]:
    """Classify ``t``; returns the operand and, for a floating tensor, its value sums per
    leading group (``groups`` of them, e.g. timesteps). Weights (parameters and views of them)
    are always analog.

    One scan (:func:`scan`) decides the class: integer when min >= 0, max <= the spike level
    and no element has a fractional part; binary when integer with max <= 1.

    ``binary=True``: the caller guarantees every element is 0 or 1 (a Heaviside neuron's
    output), so only the per-group sums are taken (nnz = total = their sum). Ignored under
    ``options.verify``, which scans in full (the caller then checks the guarantee)."""
    level = options.max_spike_level
    if is_weight or t.numel() == 0:
        return Operand(t, is_weight, False, False, level), None
    host = on_host(t)
    if t.dtype == torch.bool:
        tot = _out(exact_sum(t.to(torch.float32), 1), host)
        true: torch.Tensor | bool = True if host else torch.ones((), dtype=torch.bool, device=t.device)
        return Operand(t, False, true, true, 1, _nnz=tot, _total=tot), None
    if t.is_complex():
        return Operand(t, False, False, False, level), None
    if not t.is_floating_point():
        lo, hi = torch.aminmax(t)
        if host:
            lo, hi = lo.tolist(), hi.tolist()
            integer = lo >= 0 and hi <= level
            return Operand(t, False, integer and hi <= 1, integer, level), None
        integer = (lo >= 0) & (hi <= level)
        return Operand(t, False, integer & (hi <= 1), integer, level), None
    if binary and not options.verify:
        totals = _binary_totals(t, groups)
        tot = _out(totals.sum(), host)
        return Operand(t, False, True, True, level, _nnz=tot, _total=tot), totals
    if host and not options.verify:
        is_bin, integer, nnz, totals = _scan_host(t, level, groups)
        tot = float(totals.sum().tolist())
        return Operand(t, False, is_bin, integer, level, _nnz=nnz, _total=tot), totals
    sc = scan(t, level, groups)
    integer = (sc.lo >= 0) & (sc.hi <= level) & (sc.frac == 0)
    if host:  # verify mode on a host device: the full scan, read back
        integer_h = bool(integer.tolist())
        is_bin = integer_h and sc.hi.tolist() <= 1
        op = Operand(t, False, is_bin, integer_h, level, _nnz=float(sc.nnz.tolist()),
                     _total=float(sc.total.tolist()))
        return op, sc.group_totals
    op = Operand(t, False, integer & (sc.hi <= 1), integer, level, _nnz=sc.nnz, _total=sc.total)
    return op, sc.group_totals

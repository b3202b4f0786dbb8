"""Counting on a GPU: time ratio against a plain forward, and host synchronisations during a
profiled forward (the goal is 0: counts stay on the device until ``result()``).

    python benchmarks/gpu_sync.py                         # sdt-8-512 and sdt-2-512-cifar
    python benchmarks/gpu_sync.py --models sdt-1-64-tiny --rounds 3

Three independent views of "did the forward wait for the GPU":

1. ``torch.cuda.set_sync_debug_mode("warn")``: torch warns on every synchronising call it knows
   (``.item()``, ``.cpu()``, ``nonzero``, blocking copies...); the warnings are counted.
2. a TorchDispatchMode spy below the profiler counting ``aten._local_scalar_dense`` (a tensor
   value read to the host: ``.item()``, ``bool()``, ``float()``).
3. ``torch.profiler``: CUDA runtime calls that block the host (``cudaStreamSynchronize``,
   ``cudaDeviceSynchronize``, ``cudaEventSynchronize``, device-to-host ``cudaMemcpy``).

Each is taken over the forward inside ``with Profiler(...)`` and, separately, over ``result()``
(which reads the counts back once by design). Time: wall time with ``torch.cuda.synchronize()``
around each call, medians of interleaved rounds after a warm-up.
Written for issue 13; no GPU was available when it was written, so its first run is its test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import energymodel as em

_BLOCKING = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize")


class _ReadSpy(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.reads += 1
        return func(*args, **(kwargs or {}))


def _blocking_calls(prof) -> int:
    n = 0
    for e in prof.events():
        name = e.name
        if name.startswith(_BLOCKING):
            n += 1
        elif name.startswith("cudaMemcpy") and "Async" not in name:
            n += 1  # a synchronous copy (device-to-host reads)
    return n


def count_syncs(model, x) -> dict[str, dict[str, int]]:
    """Synchronisations during the profiled forward and during result(), three ways."""
    from torch.profiler import ProfilerActivity, profile

    out: dict[str, dict[str, int]] = {}
    spy = _ReadSpy()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as tp:
            with spy:
                p = em.Profiler(model, batch_dim=0)
                with p:
                    torch.cuda.set_sync_debug_mode("warn")
                    try:
                        with torch.no_grad():
                            model(x)
                    finally:
                        torch.cuda.set_sync_debug_mode("default")
        fwd_warn = sum("synchroniz" in str(w.message).lower() for w in caught)
    out["forward"] = {"sync_debug_warnings": fwd_warn, "local_scalar_dense": spy.reads,
                      "blocking_cuda_calls": _blocking_calls(tp)}
    spy2 = _ReadSpy()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as tr:
        with spy2:
            prof = p.result()
    out["result()"] = {"local_scalar_dense": spy2.reads, "blocking_cuda_calls": _blocking_calls(tr)}
    prof.layers  # the tables build on first read
    return out


def timing(model, x, rounds: int) -> dict[str, float]:
    def plain():
        with torch.no_grad():
            model(x)

    def ours():
        em.profile(model, (x,))

    fns = {"plain": plain, "ours": ours}
    for f in fns.values():
        f()
    res: dict[str, list[float]] = {n: [] for n in fns}
    names = list(fns)
    for r in range(rounds):
        for n in names[r % 2:] + names[: r % 2]:
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            fns[n]()
            torch.cuda.synchronize()
            res[n].append(time.perf_counter() - t0)
    return {n: statistics.median(v) for n, v in res.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["sdt-8-512", "sdt-2-512-cifar"])
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("gpu_sync.py: no CUDA device here", file=sys.stderr)
        sys.exit(1)
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, batch {args.batch}")
    for name in args.models:
        torch.manual_seed(0)
        model = em.zoo.build(name)
        size = em.zoo.config(name)["img_size"]  # the model keeps no img_size attribute
        x = torch.rand(args.batch, 3, size, size)
        em.zoo.calibrate_bn(model, x, shift=0.5)
        model, x = model.eval().cuda(), x.cuda()
        t = timing(model, x, args.rounds)
        print(f"{name}: plain {t['plain'] * 1e3:.1f} ms, counting {t['ours'] * 1e3:.1f} ms (wall, "
              f"median of {args.rounds}), ratio {t['ours'] / t['plain']:.3f}")
        for where, counts in count_syncs(model, x).items():
            print(f"  host synchronisations during {where:9s}: "
                  + ", ".join(f"{k} {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()

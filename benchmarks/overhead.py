"""Profiler overhead, measured side by side in one run: a plain ``model(x)`` against exact counting
(``em.profile``, result included), the floor of this design (a TorchDispatchMode that only
re-calls each op) and spikingjelly 2.0's op counters (``SynOpCounter`` + ``ACCounter`` +
``MACCounter`` in one ``DispatchCounterMode``) on the same zoo model and input.

Time: every method runs once per round, the order rotating from round to round (interleaved, so
a burst of load from other processes hits all of them alike), after one warm-up each; the
figure is the median over rounds of the process's CPU time (all threads) and, for reference, the
wall time. Ratios are of medians.

Memory: each forward's own peak, in a child process of its own (its address space is its own
after exec, so nothing is inherited from this process's peak). The child builds the model, runs
one plain and one counted forward (first-call allocations and imports), then resets the
kernel's peak-RSS mark (``/proc/self/clear_refs``: 5), runs the measured forward and reads its
peak above the resident size at the reset (``/proc/self/status``: VmHWM - VmRSS). The child's
malloc returns freed buffers to the OS (``MALLOC_MMAP_THRESHOLD_=65536``,
``MALLOC_TRIM_THRESHOLD_=0``), so memory cached by the warm-up cannot hide the measured peak. A
self-test measures the plain forward again with a deliberate 100 MiB allocation held through it
and prints what the measurement saw. CUDA: ``max_memory_allocated`` after a reset.

    OMP_NUM_THREADS=2 python benchmarks/overhead.py         # sdt-8-512, spikformer-8-512, sdt-2-512-cifar
    python benchmarks/overhead.py --models sdt-2-512-cifar --rounds 9
    python benchmarks/overhead.py --no-peers --no-mem       # ours against plain only

Targets (issue 13): exact counting <= 1.10x a plain forward at 224 px (SDT-8-512,
Spikformer-8-512, T=4, batch 1), <= 1.30x on sdt-2-512-cifar; spikingjelly's counters >= 2.5x
slower than ours; peak memory overhead <= 3 %.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import energymodel as em

TARGETS = {"sdt-8-512": 1.10, "spikformer-8-512": 1.10, "sdt-2-512-cifar": 1.30}


def build(name: str, batch: int, device: str) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = em.zoo.build(name)
    size = em.zoo.config(name)["img_size"]  # the model keeps no img_size attribute
    x = torch.rand(batch, 3, size, size)
    em.zoo.calibrate_bn(model, x, shift=0.5)  # plausible firing rates (10-30 %), as trained nets
    return model.eval().to(device), x.to(device)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


class _Recall(TorchDispatchMode):
    """The floor: intercept every op and only re-call it."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        return func(*args, **(kwargs or {}))


def methods(model: nn.Module, x: torch.Tensor, peers: bool) -> dict[str, Callable[[], object]]:
    def plain():
        with torch.no_grad():
            return model(x)

    def floor():
        with torch.no_grad(), _Recall():
            return model(x)

    def ours():
        return em.profile(model, (x,))

    out = {"plain": plain, "floor": floor, "ours": ours}
    if peers:
        try:
            from spikingjelly.activation_based.op_counter import (
                ACCounter, DispatchCounterMode, MACCounter, SynOpCounter,
            )
        except ImportError:
            print("spikingjelly 2.0 not installed: no peer timing")
        else:
            def spikingjelly():
                with torch.no_grad(), DispatchCounterMode([SynOpCounter(), ACCounter(), MACCounter()]):
                    return model(x)

            out["spikingjelly"] = spikingjelly
    return out


def time_methods(fns: dict[str, Callable[[], object]], rounds: int, device: str) -> dict[str, tuple[float, float]]:
    """Median (CPU seconds, wall seconds) of each method over ``rounds`` interleaved rounds."""
    names = list(fns)
    for n in names:  # warm-up
        fns[n]()
    cpu: dict[str, list[float]] = {n: [] for n in names}
    wall: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        for n in names[r % len(names):] + names[: r % len(names)]:
            gc.collect()
            _sync(device)
            c0, w0 = time.process_time(), time.perf_counter()
            fns[n]()
            _sync(device)
            cpu[n].append(time.process_time() - c0)
            wall[n].append(time.perf_counter() - w0)
    return {n: (statistics.median(cpu[n]), statistics.median(wall[n])) for n in names}


# ------------------------------------------------------------------------- memory
def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def child(args) -> None:
    """One forward (plain or profiled) in this fresh process; print its own peak as JSON."""
    model, x = build(args.child_model, args.batch, args.device)
    with torch.no_grad():
        model(x)
    em.profile(model, (x,)).totals()
    gc.collect()
    _sync(args.device)
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset VmHWM to the current resident size
        reset = True
    except OSError:
        reset = False
    rss0 = _status_kib("VmRSS")
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    keep = None
    if args.alloc_mb:
        keep = torch.ones(args.alloc_mb * 2**20 // 4)  # touched: resident
    if args.child == "profiled":
        em.profile(model, (x,)).totals()
    else:
        with torch.no_grad():
            model(x)
    _sync(args.device)
    out = {"rss_before_kib": rss0, "hwm_kib": _status_kib("VmHWM"), "reset": reset}
    if args.device.startswith("cuda"):
        out["cuda_peak"] = torch.cuda.max_memory_allocated()
    del keep
    print(json.dumps(out))


def run_child(name: str, kind: str, args, alloc_mb: int = 0) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, "--child-model", name,
           f"--batch={args.batch}", f"--device={args.device}", f"--alloc-mb={alloc_mb}"]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536", MALLOC_TRIM_THRESHOLD_="0")
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(res.stdout.strip().splitlines()[-1])


def peak_mib(m: dict) -> float:
    """The forward's own peak above the resident size before it (whole-process peak when the
    mark could not be reset)."""
    base = m["rss_before_kib"] if m["reset"] else 0
    return (m["hwm_kib"] - base) / 1024


def memory(name: str, args) -> None:
    runs: dict[str, list[float]] = {"plain": [], "profiled": []}
    cuda: dict[str, list[int]] = {"plain": [], "profiled": []}
    for _ in range(args.mem_runs):
        for kind in ("plain", "profiled"):
            m = run_child(name, kind, args)
            runs[kind].append(peak_mib(m))
            if "cuda_peak" in m:
                cuda[kind].append(m["cuda_peak"])
    a, b = statistics.median(runs["plain"]), statistics.median(runs["profiled"])
    print(f"  mem   forward's own peak RSS: plain {a:8.1f} MiB, counting {b:8.1f} MiB, "
          f"overhead {100 * (b - a) / a:+6.1f} %   (target <= 3 %; medians of {args.mem_runs} "
          "fresh processes each)")
    if cuda["plain"]:
        ca, cb = statistics.median(cuda["plain"]), statistics.median(cuda["profiled"])
        print(f"  mem   CUDA peak allocated: plain {ca / 2**20:.1f} MiB, counting {cb / 2**20:.1f} MiB, "
              f"overhead {100 * (cb - ca) / ca:+.1f} %")
    if args.mem_selftest:
        m = run_child(name, "plain", args, alloc_mb=100)
        seen = peak_mib(m) - a
        print(f"  mem   self-test: plain forward + a deliberate 100 MiB allocation: peak "
              f"{peak_mib(m):.1f} MiB, i.e. {seen:+.1f} MiB over the plain forward "
              f"({'seen' if 90 <= seen <= 110 else 'NOT seen as 100 MiB'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(TARGETS), help="zoo names")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds (median)")
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda (see gpu_sync.py)")
    ap.add_argument("--no-peers", action="store_true", help="skip spikingjelly's counters")
    ap.add_argument("--no-mem", action="store_true", help="skip the memory measurement")
    ap.add_argument("--mem-runs", type=int, default=1, help="fresh processes per kind")
    ap.add_argument("--no-mem-selftest", dest="mem_selftest", action="store_false")
    ap.add_argument("--child", choices=["plain", "profiled"], help=argparse.SUPPRESS)
    ap.add_argument("--child-model", help=argparse.SUPPRESS)
    ap.add_argument("--alloc-mb", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"batch {args.batch}; CPU time = process CPU time (all threads), median of "
          f"{args.rounds} interleaved rounds")
    for name in args.models:
        model, x = build(name, args.batch, args.device)
        res = time_methods(methods(model, x, not args.no_peers), args.rounds, args.device)
        p = em.profile(model, (x,))
        t = p.totals()
        print(f"{name}: {len(p.layers)} op sites, spike rate {t['spike_rate']:.3f}, "
              f"unrecognised ops {p.unrecognized or 'none'}")
        tp = res["plain"][0]
        for n, (c, w) in res.items():
            print(f"  time  {n:13s} CPU {c * 1e3:9.1f} ms  wall {w * 1e3:9.1f} ms  "
                  f"{c / tp:6.3f}x plain")
        target = TARGETS.get(name)
        ratio = res["ours"][0] / tp
        print(f"  ratio counting / plain      {ratio:6.3f}"
              + (f"   (target <= {target:.2f}: {'met' if ratio <= target else 'NOT met'})" if target else ""))
        if "spikingjelly" in res:
            sj = res["spikingjelly"][0] / res["ours"][0]
            print(f"  ratio spikingjelly / ours   {sj:6.3f}   (target >= 2.5: "
                  f"{'met' if sj >= 2.5 else 'NOT met'})")
        if not args.no_mem:
            memory(name, args)
        del model, x, p
        gc.collect()


if __name__ == "__main__":
    main()

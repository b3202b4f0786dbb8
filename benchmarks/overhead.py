"""Profiler overhead: plain ``model(x)`` against ``em.profile`` on a spiking transformer of
realistic size, measured side by side in one run.

Prints the median time of each (alternating runs after a warm-up), their ratio, and the peak
memory of one forward of each, measured in separate child processes (peak RSS above the
process's resident size before the forward; CUDA: max allocated).

    python benchmarks/overhead.py                       # zoo model spikformer-8-512, T=4, batch 1
    python benchmarks/overhead.py --model sdt-8-512 --repeats 5
    python benchmarks/overhead.py --blocks 8 --dim 512  # our own block stack (no zoo needed)

Targets (issue 2): time ratio <= 1.5 on CPU, peak memory overhead <= 10 %.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

import energymodel as em


class _Block(nn.Module):
    """Spikformer-style block (SSA + MLP) from our LIF, used when no zoo model is asked for."""

    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.h = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.qb, self.kb, self.vb, self.ob = (nn.BatchNorm1d(d) for _ in range(4))
        self.ql, self.kl, self.vl, self.al, self.ol = (em.LIF() for _ in range(5))
        self.al.v_threshold = 0.5
        self.f1, self.f2 = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)
        self.b1, self.b2 = nn.BatchNorm1d(4 * d), nn.BatchNorm1d(d)
        self.l1, self.l2 = em.LIF(), em.LIF()

    def _lbl(self, lin, bn, lif, x):
        T, B, N, _ = x.shape
        y = bn(lin(x.flatten(0, 1)).transpose(1, 2)).transpose(1, 2)
        return lif(y.reshape(T, B, N, -1))

    def forward(self, x):
        T, B, N, D = x.shape
        heads = lambda t: t.reshape(T, B, N, self.h, D // self.h).transpose(2, 3)  # noqa: E731
        q, k, v = (heads(self._lbl(*m, x)) for m in ((self.q, self.qb, self.ql), (self.k, self.kb, self.kl), (self.v, self.vb, self.vl)))
        a = self.al((q @ k.transpose(-2, -1)) @ v * 0.125).transpose(2, 3).reshape(T, B, N, D)
        x = x + self._lbl(self.o, self.ob, self.ol, a)
        return x + self._lbl(self.f2, self.b2, self.l2, self._lbl(self.f1, self.b1, self.l1, x))


class _Stack(nn.Module):
    def __init__(self, blocks: int, d: int, heads: int, T: int, N: int) -> None:
        super().__init__()
        self.T, self.N, self.d = T, N, d
        self.blocks = nn.Sequential(*(_Block(d, heads) for _ in range(blocks)))

    def forward(self, x):  # x: [B, N, D] analog tokens, repeated over T
        return self.blocks(x.unsqueeze(0).repeat(self.T, 1, 1, 1)).mean(0)


def build(args) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    if args.model:
        model = em.zoo.build(args.model)
        size = getattr(model, "img_size", 224)
        x = torch.randn(args.batch, 3, size, size)
    else:
        model = _Stack(args.blocks, args.dim, args.heads, args.timesteps, args.tokens)
        x = torch.randn(args.batch, args.tokens, args.dim)
    return model.eval().to(args.device), x.to(args.device)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def child(args) -> None:
    """One forward (plain or profiled) in a fresh process; print its peak memory as JSON.

    No warm-up run here: the process's peak RSS (ru_maxrss) would then already hold one
    forward's working set and hide the one measured. The peak of the measured call is
    ru_maxrss after it minus the resident size before it (the model built, nothing run)."""
    model, x = build(args)
    if args.child == "profiled":
        import energymodel.counting.profiler  # noqa: F401  (imports are not the forward's memory)
    _sync(args.device)
    before = _rss_bytes()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    if args.child == "profiled":
        em.profile(model, (x,))
    else:
        with torch.no_grad():
            model(x)
    _sync(args.device)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = {"rss_before": before, "rss_peak": peak}
    if args.device.startswith("cuda"):
        out["cuda_peak"] = torch.cuda.max_memory_allocated()
    print(json.dumps(out))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="spikformer-8-512", help="zoo name; '' for the built-in block stack")
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=196)
    ap.add_argument("--timesteps", type=int, default=4)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--child", choices=["plain", "profiled"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.model and not hasattr(em, "zoo"):
        args.model = ""
    if args.child:
        child(args)
        return

    model, x = build(args)
    what = args.model or f"block stack {args.blocks}x{args.dim}, N={args.tokens}, T={args.timesteps}"
    print(f"model: {what}; batch {args.batch}; device {args.device}; torch threads {torch.get_num_threads()}")
    with torch.no_grad():
        model(x)
    em.profile(model, (x,))  # warm-up of both paths
    plain, prof = [], []
    for _ in range(args.repeats):
        _sync(args.device)
        t0 = time.perf_counter()
        with torch.no_grad():
            model(x)
        _sync(args.device)
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        p = em.profile(model, (x,))
        _sync(args.device)
        prof.append(time.perf_counter() - t0)
    tp, tq = statistics.median(plain), statistics.median(prof)
    print(f"time  plain forward   {tp * 1e3:9.1f} ms (median of {args.repeats})")
    print(f"time  em.profile      {tq * 1e3:9.1f} ms (median of {args.repeats}, result() included)")
    print(f"time  ratio           {tq / tp:9.3f}   (target <= 1.5)")
    print(f"sites {len(p.layers)}; unrecognised ops {p.unrecognized or 'none'}")

    mem = {}
    for kind in ("plain", "profiled"):
        cmd = [sys.executable, __file__, "--child", kind] + [
            f"--model={args.model}", f"--blocks={args.blocks}", f"--dim={args.dim}", f"--heads={args.heads}",
            f"--tokens={args.tokens}", f"--timesteps={args.timesteps}", f"--batch={args.batch}",
            f"--device={args.device}",
        ]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        mem[kind] = json.loads(res.stdout.strip().splitlines()[-1])
    key = "cuda_peak" if "cuda_peak" in mem["plain"] else None
    if key:
        a, b = mem["plain"][key], mem["profiled"][key]
        print(f"mem   CUDA peak allocated: plain {a / 2**20:.1f} MiB, profiled {b / 2**20:.1f} MiB, overhead {100 * (b - a) / a:+.1f} %")
    a = mem["plain"]["rss_peak"]
    b = mem["profiled"]["rss_peak"]
    wa = a - mem["plain"]["rss_before"]
    wb = b - mem["profiled"]["rss_before"]
    print(f"mem   forward peak above the built model: plain {wa / 2**20:.1f} MiB, profiled "
          f"{wb / 2**20:.1f} MiB, overhead {100 * (wb - wa) / wa:+.1f} % (target <= 10 %)")
    print(f"mem   whole-process peak RSS: plain {a / 2**20:.1f} MiB, profiled {b / 2**20:.1f} MiB, "
          f"overhead {100 * (b - a) / a:+.1f} %")


if __name__ == "__main__":
    main()

"""Train the tiny Spike-driven Transformer on a synthetic data set (CPU, about a minute), then
profile the trained network and price it next to the same network with random weights.

    python examples/train_tiny.py                       # 2 epochs, writes tiny_sdt.pth
    python examples/train_tiny.py --epochs 5 --out ckpt.pth --seed 1
    energymodel profile sdt-1-64-tiny --checkpoint tiny_sdt.pth --hw cmos45nm

The data are drawn here, no download: ten classes of sinusoidal gratings, five orientations
(0, 36, ..., 144 degrees) times two periods (8 and 4 pixels), each image with a random phase,
contrast and colour tint plus Gaussian pixel noise, values in [0, 1]. Orientation and period
do not depend on where in the image one looks, which suits a network that averages its tokens.

The model is ``sdt-1-64-tiny`` (input [B, 3, 32, 32], T = 2 timesteps, 10 classes, the zoo's
default, so that ``energymodel profile sdt-1-64-tiny --checkpoint`` loads the file as is),
trained with back-propagation through time through the LIF's sigmoid surrogate gradient.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

import energymodel as em
from energymodel.workflow import DEFAULT_BN_SHIFT

MODEL = "sdt-1-64-tiny"
NUM_CLASSES = 10  # the tiny config's default head: the CLI builds it without overrides
HARDWARE = ("cmos45nm", "loihi", "fpga")

__all__ = ["make_gratings", "build_model", "train", "accuracy", "firing_rates",
           "compare_trained_random", "main"]


def make_gratings(n: int, seed: int, size: int = 32, noise: float = 0.3) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` seeded grating images ``[n, 3, size, size]`` (values in [0, 1]) and their labels
    ``[n]`` (int64, 0-9, balanced up to one image).

    Class ``k``: orientation ``(k % 5) * 36`` degrees, period 8 pixels for ``k < 5``, 4 pixels
    otherwise; random phase (uniform in [0, 2 pi)), contrast (uniform in [0.5, 1]), per-channel
    tint (uniform in [0.6, 1]) and additive Gaussian noise of standard deviation ``noise``."""
    g = torch.Generator().manual_seed(int(seed))
    y = torch.randperm(n, generator=g) % NUM_CLASSES
    theta = (y % 5).double() * (math.pi / 5)
    period = torch.where(y < 5, 8.0, 4.0).double()
    phase = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    contrast = 0.5 + 0.5 * torch.rand(n, generator=g, dtype=torch.float64)
    tint = 0.6 + 0.4 * torch.rand(n, 3, 1, 1, generator=g, dtype=torch.float64)
    coord = torch.arange(size, dtype=torch.float64)
    yy, xx = torch.meshgrid(coord, coord, indexing="ij")
    proj = (xx[None] * torch.cos(theta)[:, None, None] + yy[None] * torch.sin(theta)[:, None, None])
    wave = torch.sin(2 * math.pi * proj / period[:, None, None] + phase[:, None, None])
    img = 0.5 + 0.5 * contrast[:, None, None, None] * wave[:, None] * tint
    img = img + noise * torch.randn(n, 3, size, size, generator=g, dtype=torch.float64)
    return img.clamp(0.0, 1.0).float(), y


def build_model(seed: int) -> nn.Module:
    """``sdt-1-64-tiny`` with seeded random weights (10 classes, T = 2), in eval mode."""
    torch.manual_seed(int(seed))
    return em.zoo.build(MODEL, num_classes=NUM_CLASSES)


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int = 2,
    batch_size: int = 64,
    lr: float = 3e-3,
    seed: int = 0,
    max_steps: int | None = None,
    bn_images: int = 256,
    log: Callable[[str], None] | None = print,
) -> list[float]:
    """Train ``model`` in place with AdamW and cross-entropy (surrogate gradients through the
    LIFs) for ``epochs`` passes over ``(x, y)``, or ``max_steps`` mini-batches if that comes
    first; a one-cycle learning-rate schedule over the whole run. Then BatchNorm's running
    statistics are recomputed with the final weights on the first ``bn_images`` training images
    (:func:`energymodel.attention.calibrate_bn`, ``shift=0``). Returns the loss of every step
    (nats per sample). The model is left in eval mode."""
    g = torch.Generator().manual_seed(int(seed))
    steps_per_epoch = math.ceil(len(x) / batch_size)
    total = epochs * steps_per_epoch if max_steps is None else min(max_steps, epochs * steps_per_epoch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total, 1),
                                                pct_start=0.1)
    losses: list[float] = []
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            if len(losses) >= total:
                break
            idx = order[i:i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        if log is not None:
            recent = losses[-steps_per_epoch:]
            log(f"epoch {epoch + 1}/{epochs}: train loss {sum(recent) / max(len(recent), 1):.3f}")
    # BatchNorm's running statistics trail weights that moved fast (momentum 0.1); set them
    # once from the final weights, on a slice of the training images (no shift: training only).
    with torch.no_grad():
        em.attention.calibrate_bn(model, x[:bn_images], shift=0.0)
    return losses


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy (fraction in [0, 1]) of ``model`` in eval mode on ``(x, y)``."""
    model.eval()
    right = sum(int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                for i in range(0, len(x), batch_size))
    return right / len(x)


def firing_rates(prof: em.Profile) -> pd.Series:
    """Output firing rate (spikes per neuron per timestep, in [0, 1]) of every neuron layer of
    ``prof``, indexed by module path, in execution order."""
    df = prof.layers
    df = df[df["kind"] == "neuron"]
    return pd.Series(df["out_rate"].to_numpy(), index=df["layer"].to_numpy(), name="rate")


def compare_trained_random(
    trained: nn.Module, x: torch.Tensor, seed: int, hardware: Sequence[str] = HARDWARE,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Profile ``trained`` and a random-weight twin (seed ``seed``, BatchNorm calibrated on
    ``x`` with the reports' shift, as ``energymodel report`` does) on the images ``x``.

    Returns ``(rates, energy)``: per neuron layer, then over ``all neurons`` (spikes / neuron
    updates), the firing rates (columns ``trained``, ``random``), and per chip the energy per sample in mJ (paper convention)."""
    random_model = build_model(seed)
    em.attention.calibrate_bn(random_model, x, shift=DEFAULT_BN_SHIFT)
    rates, energy = {}, {}
    for label, model in (("trained", trained), ("random", random_model)):
        prof = em.profile(model.eval(), x)
        r = firing_rates(prof)
        r["all neurons"] = float(prof.totals()["spike_rate"])
        rates[label] = r
        tot = em.estimate(prof, list(hardware), mode="paper").totals
        energy[label] = pd.Series(tot["total_mj"].to_numpy(), index=tot["hardware"].to_numpy())
    return pd.DataFrame(rates), pd.DataFrame(energy).rename_axis("hardware")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=2, help="passes over the training set")
    ap.add_argument("--out", type=Path, default=Path("tiny_sdt.pth"), help="state_dict file")
    ap.add_argument("--seed", type=int, default=0, help="seed of the data, weights and order")
    ap.add_argument("--train-size", type=int, default=4000, help="training images")
    ap.add_argument("--test-size", type=int, default=1000, help="test images")
    ap.add_argument("--profile-size", type=int, default=64,
                    help="test images the trained and random models are profiled on")
    args = ap.parse_args(argv)

    x_tr, y_tr = make_gratings(args.train_size, seed=args.seed)
    x_te, y_te = make_gratings(args.test_size, seed=args.seed + 10_000)
    model = build_model(args.seed)
    t0 = time.perf_counter()
    train(model, x_tr, y_tr, epochs=args.epochs, seed=args.seed)
    took = time.perf_counter() - t0
    acc = accuracy(model, x_te, y_te)
    print(f"test accuracy {acc:.1%} on {len(x_te)} images (chance {1 / NUM_CLASSES:.0%}); "
          f"training took {took:.1f} s on {torch.get_num_threads()} threads")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), args.out)
    print(f"saved {args.out}  (energymodel profile {MODEL} --checkpoint {args.out})")

    rates, energy = compare_trained_random(model, x_te[:args.profile_size], args.seed)
    with pd.option_context("display.float_format", "{:.3f}".format, "display.width", 120):
        print(f"\nfiring rate per neuron layer (spikes / neuron / step), {args.profile_size} "
              f"test images; random = same model, random weights, BatchNorm calibrated "
              f"(shift {DEFAULT_BN_SHIFT:g})")
        print(rates.to_string())
    with pd.option_context("display.float_format", "{:.5f}".format):
        print("\nenergy per sample (mJ), paper convention")
        print(energy.assign(**{"trained / random": energy["trained"] / energy["random"]}).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())

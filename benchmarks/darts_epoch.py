"""Seconds per DARTS search step, first vs second order (the released ``train_search.py`` step; Liu et al., ICLR 2019).

Times :func:`strategies.oneshot.darts.darts_step` (architect step on an alpha-half batch, then the SGD
weight step with grad clip) on the supernet ``DartsSpace().supernet(C, layers)``:

* ``digits``: one full epoch of the weight half of the digits training split (quark0's 50/50
  split, batch 64; 539 samples → 9 steps), the real data path (:func:`split_source`, a fresh
  random alpha batch per step);
* ``cifar-shape``: random 3×32×32 tensors with 10 classes, batch 64, ``--steps`` steps after one
  warm-up step (a CIFAR-10 epoch of quark0's search is 391 such steps).

For each it prints sec/step for ``order=1`` and ``order=2`` and their ratio as Markdown for
BENCHMARKS.md. The second-order step does ~2.5x the passes of the first-order one: unrolled
gradient (fwd+bwd), validation at w′ (fwd+bwd), two ±ε passes (fwd+bwd each) and the weight step
(fwd+bwd) versus one validation fwd+bwd plus the weight step. Run:
``python benchmarks/darts_epoch.py --C 16 --layers 8 --steps 3 --threads 2``.
"""
from __future__ import annotations

import argparse
import platform
import time

import torch
from torch import nn

from evaluators.data import load_data
from search_spaces.darts import DartsSpace
from strategies.oneshot.architect import Architect
from strategies.oneshot.base import split_source
from strategies.oneshot.darts import DEFAULTS as SEARCH_DEFAULTS
from strategies.oneshot.darts import darts_step


def make(C: int, layers: int, in_channels: int, order: int, seed: int = 0):
    torch.manual_seed(seed)
    hp = SEARCH_DEFAULTS
    model = DartsSpace().supernet(channels=C, layers=layers, num_classes=10, in_channels=in_channels)
    w_opt = torch.optim.SGD(model.weights(), lr=hp["w_lr"], momentum=hp["w_momentum"],
                            weight_decay=hp["w_weight_decay"])
    arch = Architect(model, order=order, lr=hp["alpha_lr"], weight_decay=hp["alpha_weight_decay"],
                     w_momentum=hp["w_momentum"], w_weight_decay=hp["w_weight_decay"])
    return model, w_opt, arch


def time_steps(C: int, layers: int, in_channels: int, order: int, batches) -> tuple[float, int]:
    """(seconds per step, steps) over ``batches`` = [((x, y), (x_val, y_val)), ...]."""
    model, w_opt, arch = make(C, layers, in_channels, order)
    model.train()
    crit = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for train, val in batches:
        darts_step(model, arch, w_opt, train, val, SEARCH_DEFAULTS["w_lr"], SEARCH_DEFAULTS["w_grad_clip"], crit)
    return (time.perf_counter() - t0) / len(batches), len(batches)


def digits_epoch(batch: int, seed: int = 0) -> list:
    data = load_data("digits", seed=seed)
    w_half, a_half = split_source(data.train, 0.5, seed)
    gen = torch.Generator().manual_seed(seed)
    out = []
    for x, y in w_half.batches(batch, shuffle=True, generator=gen):
        out.append(((x, y), next(iter(a_half.batches(batch, shuffle=True, generator=gen)))))
    return out


def random_batches(n: int, batch: int, seed: int = 0) -> list:
    g = torch.Generator().manual_seed(seed)

    def one():
        return torch.randn(batch, 3, 32, 32, generator=g), torch.randint(0, 10, (batch,), generator=g)
    return [(one(), one()) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=3, help="timed steps on CIFAR-shaped tensors")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--skip-digits", action="store_true")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, supernet C={args.C}, {args.layers} cells, batch {args.batch}\n")
    print("| input | steps | 1st order s/step | 2nd order s/step | 2nd / 1st |")
    print("|---|---|---|---|---|")
    cases = []
    if not args.skip_digits:
        cases.append(("digits 1×8×8 (one epoch)", 1, digits_epoch(args.batch)))
    cases.append(("random 3×32×32 (CIFAR shape)", 3, random_batches(args.steps, args.batch)))
    for name, channels, batches in cases:
        for order in (1, 2):  # one untimed step per order first (allocator, mkldnn primitives)
            time_steps(args.C, args.layers, channels, order, batches[:1])
        first, n = time_steps(args.C, args.layers, channels, 1, batches)
        second, _ = time_steps(args.C, args.layers, channels, 2, batches)
        print(f"| {name} | {n} | {first:.3f} | {second:.3f} | {second / first:.2f}x |", flush=True)


if __name__ == "__main__":
    main()

"""Overhead of the candidate training path versus a bare PyTorch loop.

Trains the DARTS-V2 cell (space ``darts``, digits build defaults) for ``--epochs``
epochs on ``digits`` twice per repeat, in this process, from the same initial
weights and over the same batches:

* ``nas``: :func:`evaluators.trainer.train` with the ``search`` recipe built from a
  default :class:`~nas.config.SearchConfig` (exactly what ``evaluate_candidate``
  runs: deadline and NaN checks, accuracy bookkeeping, validation per epoch);
* ``bare``: a hand-written loop with the same optimizer, schedule, clipping and a
  validation pass per epoch, and nothing else.

It checks that both end with identical weights (same work), then prints the
median and minimum times and their ratios (target <= 1.05) as Markdown for BENCHMARKS.md.
Run: ``python benchmarks/evaluator_overhead.py --epochs 5 --repeats 3``.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

from evaluators.candidate import evaluate_candidate
from evaluators.data import load_data
from evaluators.trainer import TrainRecipe, train
from nas.config import SearchConfig
from nas.settings import build_settings
from nas.types import Proposal
from nas.zoo import get_space

DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), "
    "('max_pool_3x3', 0), ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)


def darts_v2():
    try:
        from nas.zoo import load_genotype

        return load_genotype("darts-v2")
    except Exception:  # noqa: BLE001 - zoo not available: parse quark0/darts' DARTS_V2 genotype
        from nas.arch import Architecture
        from nas.genotype import parse_genotype

        return Architecture("darts", cells=parse_genotype(DARTS_V2))


def bare_loop(model, data, recipe: TrainRecipe, seed: int) -> None:
    """The minimal equivalent of ``train`` on CPU: SGD, cosine LR, clipping, a val pass per epoch."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                          weight_decay=recipe.weight_decay, nesterov=recipe.nesterov)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.epochs, eta_min=recipe.eta_min)
    for _ in range(recipe.epochs):
        model.train()
        for x, y in data.train.batches(recipe.batch_size, shuffle=True, generator=gen):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            correct = sum(int((model(x).argmax(1) == y).sum()) for x, y in data.val.batches(256))
        _ = 100.0 * correct / len(data.val)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: stable timings)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    cfg = SearchConfig(space="darts", epochs=args.epochs)
    recipe = TrainRecipe.from_config(cfg)
    data = load_data("digits", seed=cfg.seed)
    space, arch = get_space("darts"), darts_v2()
    kwargs = build_settings(space, data.info, cfg)
    torch.manual_seed(args.seed)
    base = space.build(arch, **kwargs)

    # warm up one-time costs (lazy imports in torch.optim, allocator) outside the timings
    train(copy.deepcopy(base), data, TrainRecipe.from_config(cfg, epochs=1), device="cpu", seed=args.seed)

    times: dict[str, list[float]] = {"nas": [], "bare": []}
    cpu: dict[str, list[float]] = {"nas": [], "bare": []}  # process CPU time: robust on a busy machine
    same = True
    for r in range(args.repeats):
        models = {}
        for name in (("nas", "bare") if r % 2 == 0 else ("bare", "nas")):
            model = copy.deepcopy(base)
            t0, c0 = time.perf_counter(), time.process_time()
            if name == "nas":
                train(model, data, recipe, device="cpu", seed=args.seed)
            else:
                bare_loop(model, data, recipe, args.seed)
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            models[name] = model.state_dict()
        same &= all(torch.equal(models["nas"][k], models["bare"][k]) for k in models["nas"])
    t0 = time.perf_counter()
    res = evaluate_candidate(space, Proposal("bench", arch), cfg, data, device="cpu")
    full = time.perf_counter() - t0

    med = {k: statistics.median(v) for k, v in times.items()}
    low = {k: min(v) for k, v in times.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    cmd = " ".join(["python", "benchmarks/evaluator_overhead.py", *(argv if argv is not None else sys.argv[1:])])
    print(f"### Evaluator overhead (`{cmd}`)\n")
    print(f"DARTS-V2 cell, `darts` digits defaults {kwargs}, {len(data.train)} training images, "
          f"batch {recipe.batch_size}, {args.epochs} epochs, {args.repeats} repeats, "
          f"{args.threads} CPU thread(s), torch {torch.__version__}, {platform.processor() or platform.machine()}.\n")
    print("| path | wall s (median) | wall s (min) | CPU s (median) |")
    print("|---|---|---|---|")
    for key, label in (("bare", "bare PyTorch loop"), ("nas", "`train()` (search recipe, as in `evaluate_candidate`)")):
        print(f"| {label} | {med[key]:.3f} | {low[key]:.3f} | {cpu_med[key]:.3f} |")
    print(f"| `evaluate_candidate` (build + train + MACs + latency), once | {full:.3f} | | |")
    print(f"\nratio `train()` / bare: wall **{med['nas'] / med['bare']:.3f}** (medians), "
          f"{low['nas'] / low['bare']:.3f} (minima), CPU time {cpu_med['nas'] / cpu_med['bare']:.3f}; "
          f"target <= 1.05. Identical final weights: {'yes' if same else 'NO'}. "
          f"Candidate val_acc {res.metrics.get('val_acc', float('nan')):.1f}%.")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""Strategy overhead: time per ask+tell, and the wall time of ``nas bench``-sized runs.

Usage::

    python benchmarks/bench_strategies.py                   # ask+tell timings, all four strategies
    python benchmarks/bench_strategies.py --bench-runs 500  # + 500 evolution runs at 12000 s (target <= 60 s)

Part 1 drives each strategy directly on the NB201 space with the tabular evaluator's
results (no driver), ``--trials`` trials per search, ``--searches`` searches, and reports the
mean microseconds of one ``ask()`` + ``tell()`` (evaluation excluded; ``space.mutate``,
``arch.key`` and model updates included; by default the canonical-key cache is warmed
first, as it is after the first runs of a ``nas bench`` worker). Part 2 times ``nas.app.bench.run_bench`` end to end.
Numbers go to BENCHMARKS.md; this is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")
warnings.filterwarnings("ignore", message="The hashes produced for directed graphs changed")


def time_ask_tell(name: str, options: dict, trials: int, searches: int) -> tuple[float, float]:
    """Mean µs per ask+tell and per ask; evaluation (table lookup) excluded."""
    from evaluators.tabular import TabularEvaluator
    from nas.registry import SPACES, STRATEGIES, load_plugins

    load_plugins()
    space = SPACES.create("nb201")
    ev = TabularEvaluator(space)
    total = ask_total = 0.0
    n = 0
    for seed in range(searches):
        strat = STRATEGIES.create(name, space, seed=seed, **options)
        for _ in range(trials):
            t0 = time.perf_counter()
            p = strat.ask()
            t1 = time.perf_counter()
            if p is None:
                break
            result = ev.lookup(p.arch).for_strategy()
            t2 = time.perf_counter()
            strat.tell(p.id, result)
            t3 = time.perf_counter()
            total += (t1 - t0) + (t3 - t2)
            ask_total += t1 - t0
            n += 1
    return 1e6 * total / n, 1e6 * ask_total / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategies", nargs="+", default=["random", "evolution", "rl", "tpe"])
    ap.add_argument("--trials", type=int, default=100, help="trials per search (~ one 12000 s NB201 run)")
    ap.add_argument("--searches", type=int, default=5)
    ap.add_argument("--bench-runs", type=int, default=0, help="also time this many evolution runs of nas bench")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--cold", action="store_true", help="do not pre-compute the canonical keys of all cells")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from nas.app.bench import BENCH_OPTIONS

    if not args.cold:  # as in a long nas bench process: every key computed once, then cached
        from nas.registry import SPACES, load_plugins

        load_plugins()
        t0 = time.perf_counter()
        n = len({a.key for a in SPACES.create("nb201").all_archs()})
        print(f"(key cache warmed: {n} distinct keys of 15625 cells in {time.perf_counter() - t0:.1f} s)\n")
    print("| strategy | options | µs per ask+tell | µs per ask | trials |")
    print("|---|---|---|---|---|")
    for name in args.strategies:
        opts = BENCH_OPTIONS.get(name, {})
        time_ask_tell(name, opts, 20, 1)  # warm-up: imports, key cache
        per, per_ask = time_ask_tell(name, opts, args.trials, args.searches)
        shown = ", ".join(f"{k}={v}" for k, v in opts.items()) or "defaults"
        print(f"| {name} | {shown} | {per:.0f} | {per_ask:.0f} | {args.trials * args.searches} |")

    if args.bench_runs:
        from nas.app.bench import BenchConfig, run_bench

        t0 = time.perf_counter()
        res = run_bench(BenchConfig(strategies=["evolution"], runs=args.bench_runs, workers=args.workers))
        wall = time.perf_counter() - t0
        r = res["strategies"]["evolution"]
        print(f"\nnas bench: {args.bench_runs} evolution runs at {res['time_budget']:g} s simulated: "
              f"{wall:.1f} s wall ({res['workers']} workers, {r['evals_mean']:.1f} evaluations per run, "
              f"test acc {r['report_mean']:.2f} ± {r['report_std']:.2f}); target <= 60 s")


if __name__ == "__main__":
    main()

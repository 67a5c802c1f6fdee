"""``nas bench``: run strategies many times on the NAS-Bench-201 table (see :mod:`nas.app.bench`).

Prints the markdown table (or, with ``--json``, the full result as JSON) and writes
``bench.md``, ``bench.json``, ``anytime.csv`` and ``anytime.png`` (when matplotlib is
installed) to ``--out`` (default ``runs/bench``), which is checked before the benchmark runs.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from typing import Any

from nas.app.cli import count_arg, strategy_key_value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "bench", help="benchmark strategies on the NAS-Bench-201 table (simulated time)",
        description="Run each strategy --runs times through the search driver and the tabular evaluator, "
                    "in simulated time, and compare with published NAS-Bench-201 results.",
    )
    p.add_argument("--space", default="nb201", help="search space (default nb201; the table answers nb201)")
    p.add_argument("--strategy", action="append", default=[], metavar="NAME",
                   help="strategy to run (repeatable)")
    p.add_argument("--all", action="store_true", help="every registered strategy that can run here")
    p.add_argument("--runs", type=int, default=500, help="searches per strategy (default 500)")
    p.add_argument("--time-budget", type=float, default=12000.0, metavar="SECONDS",
                   help="simulated seconds per search (default 12000)")
    p.add_argument("--table", metavar="FILE", help="CSV of the same shape (default: packaged NB201 CIFAR-10)")
    p.add_argument("--signal", metavar="COL", help="column the search sees (default cifar10_valid_acc_12ep)")
    p.add_argument("--report", metavar="COL", help="column reported (default cifar10_test_acc_200ep)")
    p.add_argument("--cost", metavar="SPEC",
                   help="simulated cost, e.g. '12*train_time_per_epoch_s + valid_eval_time_s' (the default)")
    p.add_argument("--option", action="append", default=[], type=strategy_key_value, metavar="STRATEGY.KEY=VALUE",
                   help="override a strategy option, e.g. evolution.sample_size=3 (YAML value); repeatable")
    p.add_argument("--seed", type=int, default=0, help="first seed; run i uses seed+i (default 0)")
    p.add_argument("--workers", type=count_arg(1), metavar="N", help="worker processes (default: CPU count)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--out", default="runs/bench", metavar="DIR", help="output folder (default runs/bench)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    from nas.limits import check_writable_dir

    check_writable_dir(args.out, "--out")  # before the (long) benchmark; creates nothing
    from nas.app.bench import BenchConfig, resolve_strategies, run_bench
    from nas.app.bench_report import format_markdown, write_outputs

    names, skipped = resolve_strategies(args.space, args.strategy, args.all)
    options: dict[str, dict[str, Any]] = {}
    for strategy, key, value in args.option:
        options.setdefault(strategy, {})[key] = value
    unknown = sorted(set(options) - set(names))
    if unknown:
        from nas.errors import ConfigError

        raise ConfigError(f"nas bench: --option for {', '.join(unknown)}, which is not being run")
    cfg = BenchConfig(space=args.space, strategies=names, runs=args.runs, time_budget=args.time_budget,
                      table=args.table, signal=args.signal, report=args.report, cost=args.cost,
                      seed=args.seed, workers=args.workers, options=options)

    def progress(name: str, r: dict[str, Any]) -> None:
        sys.stderr.write(f"nas bench: {name}: {r['report_mean']:.2f} ± {r['report_std']:.2f} "
                         f"({r['evals_mean']:.1f} evals, {r['wall_s']:.1f} s)\n")

    for s in skipped:
        sys.stderr.write(f"nas bench: skipping {s}\n")
    result = run_bench(cfg, progress=progress)
    command = "nas " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:2] == ["bench"] else None
    written = write_outputs(result, args.out, command)
    if args.json:
        sys.stdout.write(json.dumps(result, default=str) + "\n")
    else:
        sys.stdout.write(format_markdown(result, command))
        sys.stdout.write("wrote " + ", ".join(str(p) for p in written) + "\n")
    return 0

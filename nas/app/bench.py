"""``nas bench``: search strategies on the NAS-Bench-201 table, in simulated time.

Every run is a normal :class:`~nas.app.driver.Search` (the same driver as ``nas search``, with
an in-memory journal) over the ``tabular`` evaluator: the search sees the 12-epoch
validation accuracy, pays each architecture's simulated training time, and stops when the
next evaluation would exceed ``time_budget`` (the protocol of Dong & Yang, ICLR 2020). A run's
result is the *reported* column (200-epoch test accuracy) of its best-by-signal architecture; the table
gives mean ± std over ``runs`` runs (seeds ``seed, seed+1, ...``, the same for every
strategy), the mean number of evaluations, and the wall time. The anytime curve is the
best-so-far reported value (of the best-by-signal architecture so far) against simulated
time, averaged over the runs that have finished at least one evaluation by then.

Runs are spread over worker processes; results do not depend on the number of workers. Each
run is put together by :func:`nas.app.launch.assemble`, like ``nas search``; a worker process
keeps one space and one tabular evaluator (the table is read once) for all its runs.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from nas.errors import ConfigError

#: Published NB201 CIFAR-10 results, 12000 s budget (Dong & Yang, ICLR 2020, as
#: transcribed by Mellor et al. 2021, Table 2a): strategy -> (method, test mean, test std).
PUBLISHED: dict[str, tuple[str, float, float]] = {
    "evolution": ("REA", 93.92, 0.30),
    "rl": ("REINFORCE", 93.85, 0.37),
    "random": ("RS", 93.70, 0.36),
    "bohb": ("BOHB", 93.61, 0.52),
}
#: Published rows without a strategy here (method, budget, test mean, test std).
PUBLISHED_OTHER: tuple[tuple[str, str, float, float | None], ...] = (
    ("GDAS", "28926", 93.51, 0.13),
    ("DARTS-V1 / DARTS-V2 / ENAS", "10890-29902", 54.30, 0.00),
    ("ResNet cell", "-", 93.97, None),
    ("optimal", "-", 94.37, None),
)
#: Options ``nas bench`` passes per strategy beyond the strategy's own defaults (printed in the
#: table; override with ``--option STRATEGY.KEY=VALUE``). The defaults themselves are the
#: settings this benchmark found best (evolution S = P = 10, rl lr 0.01 / EMA 0.9), so ``nas
#: search`` uses them too; only tpe differs, for the reasons in :data:`BENCH_NOTES`.
#: BENCHMARKS.md lists what the paper settings and other options give.
BENCH_OPTIONS: dict[str, dict[str, Any]] = {
    "tpe": {"n_startup_trials": 20, "gamma": 0.15, "local_fraction": 0.3},
}
#: Why a strategy's ``nas bench`` options differ from its defaults (shown by ``nas strategies``).
BENCH_NOTES: dict[str, str] = {
    "tpe": "nas bench adds n_startup_trials=20, gamma=0.15, local_fraction=0.3 (tuned for ~90 evaluations "
           "per NB201 run); the defaults stay Optuna's because nas search's default budget is 20 trials "
           "(20 startup trials would leave nothing to TPE) and local_fraction has no meaning for "
           "--objective pareto",
}
CURVE_POINTS = 121


@dataclass
class BenchConfig:
    space: str = "nb201"
    strategies: Sequence[str] = ("random", "evolution")
    runs: int = 500
    time_budget: float = 12000.0
    table: str | None = None
    signal: str | None = None
    report: str | None = None
    cost: str | None = None
    seed: int = 0
    workers: int | None = None
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # overrides per strategy

    def evaluator_options(self) -> dict[str, Any]:
        pairs = (("table", self.table), ("signal", self.signal), ("report", self.report), ("cost", self.cost))
        return {k: v for k, v in pairs if v is not None}

    def strategy_options(self, name: str, fidelities: Sequence[int] = ()) -> dict[str, Any]:
        """Options of strategy ``name``: :data:`BENCH_OPTIONS`, the :func:`fidelity_options` of a
        multi-fidelity strategy, then the ``--option`` overrides."""
        return {**BENCH_OPTIONS.get(name, {}), **fidelity_options(name, fidelities), **dict(self.options.get(name, {}))}


def fidelity_options(name: str, fidelities: Sequence[int]) -> dict[str, Any]:
    """For a multi-fidelity strategy (``multi_fidelity`` class attribute), rungs at the table's fidelities.

    The NB201 table has only two (12 and 200 epochs): ``min_epochs=12, max_epochs=200`` and
    ``eta = 200 / 12`` make successive halving's two rungs exactly those (one halving per bracket).
    """
    from nas.registry import STRATEGIES

    if len(fidelities) < 2 or not getattr(STRATEGIES.get(name), "multi_fidelity", False):
        return {}
    lo, hi = min(fidelities), max(fidelities)
    return {"min_epochs": lo, "max_epochs": hi, "eta": math.floor(1000 * hi / lo) / 1000}  # rounded down: 2 rungs


# -- one run (in a worker process) --------------------------------------------------------

#: per-process caches: one space instance per name (spaces are immutable, and their validation
#: memo then carries over from run to run) and one tabular evaluator per (space, options) (the
#: table is read once)
_SPACES: dict[str, Any] = {}
_EVALUATORS: dict[tuple, Any] = {}


def search_config(space_name: str, strategy: str, options: Mapping[str, Any], seed: int,
                  time_budget: float, ev_options: Mapping[str, Any]) -> Any:
    """The :class:`~nas.config.SearchConfig` of one bench run: the tabular evaluator, one trial
    at a time, no trial budget, ``time_budget`` simulated seconds."""
    from nas.config import SearchConfig

    return SearchConfig(space=space_name, strategy=strategy, strategy_options=dict(options), budget=None,
                        time_budget=time_budget, evaluator="tabular", evaluator_options=dict(ev_options),
                        max_concurrent=1, seed=seed)


def assemble_run(cfg: Any) -> Any:
    """:func:`nas.app.launch.assemble` for ``cfg``, reusing this process's space and evaluator."""
    from nas.app.launch import assemble, make_space

    space = _SPACES.get(cfg.space)
    if space is None:
        space = _SPACES[cfg.space] = make_space(cfg)
    k = (cfg.space, tuple(sorted(cfg.evaluator_options.items())))
    parts = assemble(cfg, evaluator=_EVALUATORS.get(k), space=space)
    _EVALUATORS.setdefault(k, parts.evaluator)  # created and checked once, kept for the process
    return parts


def run_once(space_name: str, strategy: str, options: Mapping[str, Any], seed: int, time_budget: float,
             ev_options: Mapping[str, Any]) -> dict[str, Any]:
    """One search; returns the best-by-signal trial's values and the improvement trace."""
    from nas.app.driver import Search

    cfg = search_config(space_name, strategy, options, seed, time_budget, ev_options)
    parts = assemble_run(cfg)
    ev = parts.evaluator
    if "torch" in sys.modules:  # tiny controller ops: threads only add contention between workers
        sys.modules["torch"].set_num_threads(1)
    t0 = time.perf_counter()
    summary = Search(cfg, parts.space, parts.strategy, ev).run()
    wall = time.perf_counter() - t0
    trace: list[tuple[float, float]] = []  # (simulated time, report of best-by-signal so far)
    clock, best = 0.0, -math.inf
    for rec in summary.trials:
        clock += float(rec.get("cost") or 0.0)
        sig = summary.scores.get(rec["id"])
        if sig is not None and sig > best:
            best = sig
            trace.append((clock, float(rec["report"][ev.report])))
    b = summary.best
    return {
        "seed": seed, "evals": len(summary.trials), "wall": wall, "sim_time": clock,
        "signal": None if b is None else float(b["metrics"]["val_acc"]),
        "report": None if b is None else float(b["report"][ev.report]),
        "arch_index": None if b is None else b["report"].get("arch_index"),
        "trace": trace,
    }


def _run_chunk(args: tuple) -> list[dict[str, Any]]:
    space_name, strategy, options, seeds, time_budget, ev_options = args
    return [run_once(space_name, strategy, options, s, time_budget, ev_options) for s in seeds]


# -- many runs ---------------------------------------------------------------------------------

def resolve_strategies(space_name: str, names: Sequence[str] | None, all_: bool,
                       cfg: BenchConfig | None = None) -> tuple[list[str], list[str]]:
    """The strategies to bench and, for ``--all``, the ones skipped: those whose trials are not plain
    architecture evaluations (another trial runner, e.g. one-shot search) and those that refuse the space."""
    from nas.registry import STRATEGIES, load_plugins
    from nas.types import DEFAULT_RUNNER

    load_plugins()
    if not all_:
        if not names:
            raise ConfigError("nas bench: give --strategy NAME (repeatable) or --all")
        for n in names:
            STRATEGIES.get(n)  # UnknownName for typos
        return list(dict.fromkeys(names)), []
    cfg = cfg or BenchConfig(space=space_name)
    chosen, skipped = [], []
    for n in STRATEGIES.names():
        runner = STRATEGIES.get(n).trial_runner
        if runner != DEFAULT_RUNNER:
            skipped.append(f"{n} (its trials run {runner!r}, not a table lookup)")
            continue
        try:
            assemble_run(search_config(space_name, n, cfg.strategy_options(n), 0, cfg.time_budget,
                                       cfg.evaluator_options()))
        except Exception as e:  # noqa: BLE001 - a strategy that cannot run here is reported, not fatal
            skipped.append(f"{n} ({e})")
            continue
        chosen.append(n)
    return chosen, skipped


def run_bench(cfg: BenchConfig, *, progress: Any = None) -> dict[str, Any]:
    """Run every strategy ``cfg.runs`` times; return per-strategy stats and anytime curves."""
    if cfg.runs < 1:
        raise ConfigError(f"nas bench: --runs must be >= 1, got {cfg.runs}")
    if not cfg.time_budget > 0:
        raise ConfigError(f"nas bench: --time-budget must be > 0, got {cfg.time_budget}")
    ev_opts = cfg.evaluator_options()
    if not cfg.strategies:
        raise ConfigError("nas bench: no strategy to run")
    ev = assemble_run(search_config(cfg.space, "random", {}, cfg.seed, cfg.time_budget, ev_opts)).evaluator
    fids = sorted(getattr(ev, "fidelities", {}) or {})
    for name in cfg.strategies:  # bad names, options or table columns: exit 2 before any worker starts
        assemble_run(search_config(cfg.space, name, cfg.strategy_options(name, fids), cfg.seed, cfg.time_budget,
                                   ev_opts))
    workers = max(1, min(cfg.workers or (os.cpu_count() or 1), cfg.runs))
    seeds = [cfg.seed + i for i in range(cfg.runs)]
    n_chunks = workers * 4 if workers > 1 else 1
    chunks = [seeds[i::n_chunks] for i in range(n_chunks) if seeds[i::n_chunks]]
    results: dict[str, Any] = {}
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        for name in cfg.strategies:
            opts = cfg.strategy_options(name, fids)
            t0 = time.perf_counter()
            jobs = [(cfg.space, name, opts, c, cfg.time_budget, ev_opts) for c in chunks]
            runs: list[dict[str, Any]] = []
            for part in (pool.map(_run_chunk, jobs) if pool is not None else map(_run_chunk, jobs)):
                runs.extend(part)
            runs.sort(key=lambda r: r["seed"])
            wall = time.perf_counter() - t0
            results[name] = summarize(name, opts, runs, wall, cfg.time_budget)
            if progress is not None:
                progress(name, results[name])
    finally:
        if pool is not None:
            pool.shutdown()
    from evaluators.tabular_columns import table_summary

    return {
        "space": cfg.space, "runs": cfg.runs, "time_budget": cfg.time_budget, "seed": cfg.seed,
        "workers": workers, "table": str(ev.table.path), "signal": ev.signal, "report": ev.report,
        "cost": ev.cost_spec, "fidelities": fids, "table_reference": dict(table_summary(ev.table, ev.signal, ev.report)),
        "strategies": results,
    }


def _mean_std(xs: Sequence[float]) -> tuple[float, float]:
    if not xs:
        return math.nan, math.nan
    return statistics.fmean(xs), (statistics.pstdev(xs) if len(xs) > 1 else 0.0)


def summarize(name: str, options: Mapping[str, Any], runs: list[dict[str, Any]], wall: float,
              time_budget: float) -> dict[str, Any]:
    reports = [r["report"] for r in runs if r["report"] is not None]
    signals = [r["signal"] for r in runs if r["signal"] is not None]
    rm, rs = _mean_std(reports)
    sm, ss = _mean_std(signals)
    grid = [time_budget * i / (CURVE_POINTS - 1) for i in range(CURVE_POINTS)]
    return {
        "options": dict(options), "runs": len(runs), "report_mean": rm, "report_std": rs,
        "signal_mean": sm, "signal_std": ss, "evals_mean": statistics.fmean(r["evals"] for r in runs),
        "wall_s": wall, "run_ms": 1000 * statistics.fmean(r["wall"] for r in runs),
        "curve": {"time": grid, **anytime_stats([r["trace"] for r in runs], grid)},
        "per_run": [{k: r[k] for k in ("seed", "evals", "signal", "report", "arch_index")} for r in runs],
    }


def anytime_stats(traces: Sequence[Sequence[tuple[float, float]]],
                  grid: Sequence[float]) -> dict[str, list[float | None]]:
    """``{"mean": [...], "std": [...]}`` over runs of the step function ``trace`` at each grid time
    (runs without a value yet skipped; population std, the spread band of the plots)."""
    mean: list[float | None] = []
    std: list[float | None] = []
    pos = [0] * len(traces)
    for t in grid:
        vals = []
        for k, tr in enumerate(traces):
            while pos[k] < len(tr) and tr[pos[k]][0] <= t:
                pos[k] += 1
            if pos[k]:
                vals.append(tr[pos[k] - 1][1])
        mean.append(statistics.fmean(vals) if vals else None)
        std.append((statistics.pstdev(vals) if len(vals) > 1 else 0.0) if vals else None)
    return {"mean": mean, "std": std}


def anytime_mean(traces: Sequence[Sequence[tuple[float, float]]], grid: Sequence[float]) -> list[float | None]:
    """Mean over runs of the step function ``trace`` at each grid time (runs without a value yet skipped)."""
    return anytime_stats(traces, grid)["mean"]

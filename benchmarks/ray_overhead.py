"""Scheduling overhead and K-worker throughput of the ``ray`` evaluator (issue 5).

Every trial is :func:`evaluators.ray_worker.sleep_candidate`: a sleep of known length
``--sleep`` that goes through the same task path as a real trial (driver ask/dispatch,
``pending.jsonl``, payload, Ray task with ``max_retries``, worker, ``Result`` back,
``trials.jsonl`` with fsync, tell, snapshot), so the time beyond the sleep is the Ray
evaluator's and driver's overhead. For each K in ``--workers`` it runs a full
:class:`~nas.app.driver.Search` (random strategy, NB201, a run directory in a temp folder) with
``max_concurrent = K`` on a private local Ray instance with K CPUs' worth of slots and
reports:

* overhead per trial = wall / (trials / K) - sleep (target <= 100 ms);
* throughput = trials / wall, and its ratio to K x the 1-worker throughput (target >= 0.9).

Worker processes are started and warmed by an untimed run first. The instance binds to
127.0.0.1 only. Run: ``python benchmarks/ray_overhead.py --trials 20 --sleep 0.5``.
Prints Markdown for BENCHMARKS.md.
"""
from __future__ import annotations

import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # keep the instance on 127.0.0.1

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import ray  # noqa: E402

import search_spaces  # noqa: E402,F401
import strategies  # noqa: E402,F401
from evaluators.ray import RayEvaluator  # noqa: E402
from nas.config import SearchConfig  # noqa: E402
from nas.registry import STRATEGIES  # noqa: E402
from nas.app.rundir import RunDir  # noqa: E402
from nas.app.driver import Search  # noqa: E402
from nas.zoo import get_space  # noqa: E402

SLEEP_FN = "evaluators.ray_worker:sleep_candidate"


def run_once(root: Path, name: str, k: int, trials: int, sleep: float, seed: int) -> float:
    """Wall seconds of a search of ``trials`` sleep-trials, ``k`` at a time."""
    space = get_space("nb201")
    cfg = SearchConfig(space="nb201", strategy="random", budget=trials, max_concurrent=k, seed=seed,
                       evaluator="ray", runs_dir=str(root), name=name)
    strategy = STRATEGIES.create("random", space, seed=seed)
    ev = RayEvaluator(space, cfg, run_dir=root / name, evaluate=SLEEP_FN, evaluate_kwargs={"seconds": sleep})
    run = RunDir.create(root / name, cfg.to_dict())
    try:
        t0 = time.perf_counter()
        summary = Search(cfg, space, strategy, ev, run=run).run()
        wall = time.perf_counter() - t0
    finally:
        ev.shutdown()
        run.close()
    assert summary.n_ok == trials, summary.stopped_reason
    return wall


def round_trip(n: int) -> list[float]:
    """Seconds from submit to result of a zero-length trial, one at a time (no driver)."""
    space = get_space("nb201")
    cfg = SearchConfig(space="nb201", evaluator="ray")
    ev = RayEvaluator(space, cfg, evaluate=SLEEP_FN, evaluate_kwargs={"seconds": 0.0})
    strategy = STRATEGIES.create("random", space, seed=1)
    out = []
    try:
        for _ in range(n):
            p = strategy.ask()
            t0 = time.perf_counter()
            ev.submit(p)
            while not ev.results(1.0):
                pass
            out.append(time.perf_counter() - t0)
    finally:
        ev.shutdown()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--sleep", type=float, default=0.5, help="seconds per trivial trial")
    ap.add_argument("--workers", default="1,2", help="comma-separated K values")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    ks = [int(k) for k in args.workers.split(",")]
    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=max(ks), include_dashboard=False, object_store_memory=100 << 20,
             logging_level="ERROR")
    startup = time.perf_counter() - t0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            run_once(root, "warmup", max(ks), 2 * max(ks), 0.05, seed=99)  # start and warm the workers
            rt = round_trip(20)
            walls: dict[int, float] = {}
            for k in ks:
                walls[k] = min(run_once(root, f"k{k}-{r}", k, args.trials, args.sleep, seed=r)
                               for r in range(args.repeats))
    finally:
        ray.shutdown()
    base = args.trials / walls[ks[0]] / ks[0]  # per-worker throughput of the first K
    print(f"### Ray evaluator overhead ({platform.node()}, {os.cpu_count()} CPUs, ray {ray.__version__})\n")
    print(f"{args.trials} trials of `sleep_candidate` ({args.sleep:g} s each) through the full driver + "
          f"Ray task path, private local instance (start-up {startup:.1f} s, not counted); "
          f"best of {args.repeats}.\n")
    print("| K workers | wall (s) | ideal (s) | overhead / trial (ms) | trials/s | vs K x 1-worker |")
    print("|---:|---:|---:|---:|---:|---:|")
    for k in ks:
        ideal = args.trials * args.sleep / k
        over = (walls[k] / (args.trials / k) - args.sleep) * 1000
        thr = args.trials / walls[k]
        print(f"| {k} | {walls[k]:.2f} | {ideal:.2f} | {over:.0f} | {thr:.2f} | {thr / (k * base):.3f} |")
    print(f"\nsubmit -> result round trip of a zero-length trial (evaluator only, no driver), 20 calls: "
          f"median {statistics.median(rt) * 1000:.1f} ms, max {max(rt) * 1000:.1f} ms.")
    print("Targets: overhead <= 100 ms per trial; throughput at K = 2 >= 0.9 x 2 x 1-worker.")


if __name__ == "__main__":
    main()

"""Throughput of the core architecture operations, per registered search space.

For every space: ``sample``, ``mutate``, ``encode``, ``decode`` and the canonical
``key`` (operations per second), then the time to build DARTS-V2 as
``NetworkCIFAR(C=36, layers=20)`` (quark0/darts cnn/model.py), the evaluation network.

Keys are measured twice:

* **cold**: the process-wide key cache (``nas.arch._KEY_CACHE``) is cleared first
  and every architecture timed is fresh and distinct from all earlier ones (by
  ``.spec``), so each key is a real Weisfeiler-Lehman computation;
* **cached**: new ``Architecture`` objects equal to ones already keyed, which is what
  a strategy pays to deduplicate a proposal it has seen (``.spec`` + a dict lookup).

Inputs are prepared outside the timed regions, in batches. Each measurement runs for
``--seconds``. Prints Markdown ready for BENCHMARKS.md, including the command line.
Run: ``python benchmarks/bench_core.py --seconds 2``.
"""
from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import time
import warnings
from typing import Any, Callable, Iterator, Sequence

import networkx

import nas.arch
from nas.arch import Architecture
from nas.registry import SPACES, load_plugins
from nas.zoo import get_space, load_genotype

warnings.filterwarnings("ignore", message="The hashes produced for directed graphs changed")
BATCH = 32


def timed_rate(make_batch: Callable[[], Sequence[Any]], op: Callable[[Any], Any], seconds: float) -> tuple[float, int]:
    """Operations per second of ``op`` over inputs from ``make_batch`` (untimed), for ``seconds`` of op time."""
    spent, n = 0.0, 0
    while spent < seconds:
        batch = make_batch()
        if not batch:
            break
        t0 = time.perf_counter()
        for x in batch:
            op(x)
        spent += time.perf_counter() - t0
        n += len(batch)
    return (n / spent if spent else float("nan")), n


def fresh_archs(space: Any, rng: random.Random, seen: set) -> Iterator[list[Architecture]]:
    """Batches of sampled architectures whose ``.spec`` was never produced before."""
    misses = 0
    while misses < 50:
        batch = []
        for _ in range(BATCH * 4):
            a = space.sample(rng)
            if a.spec not in seen:  # computes .spec untimed; the key still has to hash the graphs
                seen.add(a.spec)
                batch.append(_copy(a))  # a new object: .spec is recomputed in the timed region
            if len(batch) == BATCH:
                break
        misses = misses + 1 if not batch else 0
        if batch:
            yield batch
    yield []


def _copy(a: Architecture) -> Architecture:
    return Architecture(a.space, cells=a.cells, blocks=a.blocks, macro=a.macro, meta=a.meta)


def bench_space(name: str, seconds: float, seed: int) -> dict[str, Any]:
    space = get_space(name)
    rng = random.Random(seed)
    decs = space.decisions()
    pool = [space.sample(rng) for _ in range(256)]

    def cycle(items: list[Any]) -> Callable[[], list[Any]]:
        it = iter(())

        def make() -> list[Any]:
            nonlocal it
            out = []
            while len(out) < BATCH:
                try:
                    out.append(next(it))
                except StopIteration:
                    it = iter(items)
            return out

        return make

    row: dict[str, Any] = {"space": name}
    row["sample"], _ = timed_rate(lambda: [None] * BATCH, lambda _: space.sample(rng), seconds)
    row["mutate"], _ = timed_rate(cycle(pool), lambda a: space.mutate(a, rng), seconds)
    row["encode"], _ = timed_rate(lambda: [_copy(a) for a in rng.sample(pool, BATCH)], space.encode, seconds)
    choices = [[rng.randrange(len(d)) for d in decs] for _ in range(1024)]
    row["decode"], _ = timed_rate(cycle(choices), space.decode, seconds)

    nas.arch._KEY_CACHE.clear()
    seen: set = set()
    gen = fresh_archs(space, random.Random(seed + 1), seen)
    keyed: list[Architecture] = []

    def cold_batch() -> list[Architecture]:
        b = next(gen)
        keyed.extend(b)
        return b

    row["key_cold"], row["key_cold_n"] = timed_rate(cold_batch, lambda a: a.key, seconds)
    copies = lambda: [_copy(a) for a in rng.sample(keyed, min(BATCH, len(keyed)))]  # noqa: E731
    row["key_cached"], _ = timed_rate(copies, lambda a: a.key, seconds)
    return row


def bench_build(seconds: float) -> dict[str, Any]:
    import torch

    from nas.nn.measure import count_params

    space = get_space("darts")
    arch = load_genotype("darts-v2")
    model = space.build(arch, channels=36, layers=20)  # warm-up: imports, first allocations
    params = count_params(model)
    times = []
    t_end = time.perf_counter() + seconds
    while len(times) < 3 or time.perf_counter() < t_end:
        torch.manual_seed(len(times))
        t0 = time.perf_counter()
        space.build(arch, channels=36, layers=20)
        times.append(time.perf_counter() - t0)
    return {"model": type(model).__name__, "params": params, "median_ms": 1000 * statistics.median(times),
            "min_ms": 1000 * min(times), "n": len(times), "threads": torch.get_num_threads(),
            "torch": torch.__version__}


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt_rate(r: float) -> str:
    return f"{r:,.0f}" if r >= 100 else f"{r:,.1f}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="timed seconds per measurement (default 1)")
    ap.add_argument("--space", action="append", default=[], help="only these spaces (repeatable; default all)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-build", action="store_true", help="skip the DARTS-V2 build timing")
    args = ap.parse_args(argv)
    if args.seconds <= 0:
        ap.error("--seconds must be > 0")
    load_plugins()
    names = args.space or SPACES.names()
    rows = []
    for name in names:
        rows.append(bench_space(name, args.seconds, args.seed))
        print(f"# {name} done", file=sys.stderr)
    build = None if args.no_build else bench_build(args.seconds)

    cmd = "python benchmarks/bench_core.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print("### Core operations (ops/second, one process)\n")
    print(f"`{cmd.strip()}`: Python {platform.python_version()}, networkx {networkx.__version__}"
          + (f", torch {build['torch']} ({build['threads']} threads)" if build else "")
          + f", {cpu_name()} ({os.cpu_count()} CPUs).\n")
    print("| space | sample/s | mutate/s | encode/s | decode/s | key/s cold | key/s cached |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['space']} | {fmt_rate(r['sample'])} | {fmt_rate(r['mutate'])} | {fmt_rate(r['encode'])} | "
              f"{fmt_rate(r['decode'])} | {fmt_rate(r['key_cold'])} | {fmt_rate(r['key_cached'])} |")
    print("\nCold keys: the key cache is cleared and each timed architecture is new and distinct "
          "(" + ", ".join(f"{r['space']}: {r['key_cold_n']:,}" for r in rows) + " keyed). "
          "Cached keys: fresh objects equal to architectures already keyed (`.spec` + lookup).")
    if build:
        print(f"\nBuilding DARTS-V2 as {build['model']}(C=36, layers=20), {build['params']:,} params: "
              f"median {build['median_ms']:.0f} ms, min {build['min_ms']:.0f} ms over {build['n']} builds.")
    return 0


if __name__ == "__main__":
    sys.exit(main())

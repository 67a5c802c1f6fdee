"""Per-trial overhead of the search driver in memory mode (what ``nas bench`` pays per evaluation).

A strategy that cycles through pre-built architectures and an evaluator that answers
instantly isolate the driver's own cost (ask/submit/results bookkeeping, record, tell).
Run: ``python benchmarks/driver_overhead.py [N]``.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # for tests.toy_plugin

from nas.config import SearchConfig  # noqa: E402
from nas.app.driver import Search
from nas.types import Proposal, Result
from strategies.base import Strategy
from tests.toy_plugin import ToySpace


class Cycle(Strategy):
    name = "cycle"

    def __init__(self, space, archs):
        super().__init__(space)
        self.archs = archs

    def ask(self):
        return Proposal(self.new_id(), self.archs[self.n_asked % len(self.archs)])

    def tell(self, pid, result):
        pass


class Instant:
    simulated_time = True

    def __init__(self):
        self.queue = []

    def capacity(self):
        return 1

    def submit(self, p):
        self.queue.append(p.id)

    def results(self, timeout=None):
        out = [(pid, Result("ok", {"val_acc": 0.5}, cost=1.0)) for pid in self.queue]
        self.queue.clear()
        return out


def main(n: int = 50_000) -> None:
    space = ToySpace(20)
    archs = [space.decode([(i >> b) & 1 for b in range(20)]) for i in range(n)]
    for a in archs:
        a.key  # noqa: B018  (hash once, outside the timed loop)
    cfg = SearchConfig(space="toy", budget=n, time_budget=None)
    t = time.perf_counter()
    s = Search(cfg, space, Cycle(space, archs), Instant()).run()
    dt = time.perf_counter() - t
    print(f"{len(s.trials)} trials in {dt:.2f}s: {dt / len(s.trials) * 1e6:.1f} us/trial (driver + trivial strategy)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)

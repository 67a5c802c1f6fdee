"""The search driver with the deterministic toy space/evaluator (tests/toy_plugin.py)."""
from __future__ import annotations

import os
from typing import Any

import pytest

import nas.app.driver as search_mod
from nas.arch import Architecture
from nas.config import SearchConfig
from nas.app.rundir import RunDir
from nas.app.driver import Search
from nas.types import Proposal, Result
from strategies.evolution import RegularizedEvolution
from strategies.random import RandomSearch
from tests.toy_plugin import ToyEvaluator, ToySpace


def setup(budget: int | None = 10, strategy: str = "evolution", seed: int = 0, n_bits: int = 10,
          **opts: Any) -> tuple[SearchConfig, ToySpace, Any, ToyEvaluator]:
    cfg = SearchConfig(space="toy", strategy=strategy, budget=budget, evaluator="toy", seed=seed)
    for k in ("time_budget", "max_concurrent"):
        if k in opts:
            setattr(cfg, k, opts.pop(k))
    cfg.evaluator_options = opts
    space = ToySpace(n_bits)
    strat = (RegularizedEvolution(space, seed=seed, population=4, sample_size=2) if strategy == "evolution"
             else RandomSearch(space, seed=seed))
    return cfg, space, strat, ToyEvaluator(space, cfg)


def sequence(trials: list[dict[str, Any]]) -> list[tuple]:
    return [(t["id"], t["key"], t["status"], tuple(sorted(t["metrics"].items()))) for t in trials]


def test_budget_counts_finished_trials():
    cfg, space, strat, ev = setup(budget=7)
    s = Search(cfg, space, strat, ev).run()
    assert len(s.trials) == 7 == s.n_ok and s.n_failed == 0
    assert "budget of 7" in s.stopped_reason
    assert [t["id"] for t in s.trials] == [f"t{i:05d}" for i in range(7)]
    assert s.best is max(s.trials, key=lambda t: t["metrics"]["val_acc"])
    assert s.top(3) == sorted(s.trials, key=lambda t: -t["metrics"]["val_acc"])[:3]
    assert s.exit_code == 0


def test_budget_is_not_overshot_with_concurrency():
    cfg, space, strat, ev = setup(budget=9, capacity=4, lifo=True)
    search = Search(cfg, space, strat, ev)
    assert search.max_concurrent == 4  # from evaluator.capacity()
    s = search.run()
    assert len(s.trials) == 9 and len(ev.submitted) == 9
    assert len({t["id"] for t in s.trials}) == 9
    assert [t["id"] for t in s.trials] != sorted(t["id"] for t in s.trials)  # finished out of order


def test_simulated_time_budget_stops_before_exceeding():
    cfg, space, strat, ev = setup(budget=None, time_budget=100.0, cost=7.0)
    s = Search(cfg, space, strat, ev).run()
    spent = sum(t["cost"] for t in s.trials)
    assert spent <= 100.0
    discarded = [pid for pid in ev.submitted if pid not in {t["id"] for t in s.trials}]
    assert len(discarded) == 1  # the result that would exceed the budget: not journaled, not told
    p = Proposal(discarded[0], strat.pending[discarded[0]]["arch"])
    assert spent + ev.evaluate(p).cost > 100.0
    assert "simulated" in s.stopped_reason
    assert discarded[0] in strat.pending  # the strategy never heard of it


def test_wall_time_budget():
    cfg, space, strat, ev = setup(budget=None, time_budget=0.3, sleep=0.05)
    s = Search(cfg, space, strat, ev).run()
    assert 2 <= len(s.trials) and s.elapsed >= 0.3
    assert "wall" in s.stopped_reason
    assert all(t["cost"] is None for t in s.trials)


def test_failures_are_journaled_and_the_search_goes_on(tmp_path):
    cfg, space, strat, ev = setup(budget=9, fail_every=3)
    run = RunDir.create(tmp_path / "r", cfg.to_dict())
    s = Search(cfg, space, strat, ev, run=run).run()
    run.close()
    assert len(s.trials) == 9 and s.n_failed == 3 and s.n_ok == 6 and s.exit_code == 0
    journal = run.read_trials()
    failed = [t for t in journal if t["status"] == "failed"]
    assert [t["id"] for t in failed] == ["t00000", "t00003", "t00006"]
    assert all(t["error"] == f"toy failure of {t['id']}" for t in failed)
    assert all(t["id"] not in {m["id"] for m in strat.population} for t in failed)
    rec = journal[1]
    assert set(rec) >= {"id", "key", "arch", "status", "metrics", "error", "worker", "report", "cost", "info",
                        "config", "started", "finished", "seconds"}
    assert Architecture.from_dict(rec["arch"]).key == rec["key"]
    assert rec["report"] == {"test_acc": pytest.approx(rec["metrics"]["val_acc"] - 0.01)}


def test_exit_code_1_when_every_trial_fails():
    cfg, space, strat, ev = setup(budget=4, fail_all=True)
    s = Search(cfg, space, strat, ev).run()
    assert s.n_failed == 4 and s.n_ok == 0 and s.best is None and s.exit_code == 1


class Spy(RegularizedEvolution):
    """Evolution that records what it is told."""

    told: list[tuple[str, Result]]

    def tell(self, proposal_id: str, result: Result) -> None:
        self.told.append((proposal_id, result))
        super().tell(proposal_id, result)


def test_strategy_never_sees_report():
    cfg, space, _, ev = setup(budget=6)
    strat = Spy(space, seed=0)
    strat.told = []
    s = Search(cfg, space, strat, ev).run()
    assert len(strat.told) == 6
    assert all(r.report == {} for _, r in strat.told)
    assert all(t["report"] for t in s.trials)  # while the journal keeps it


class Repeater(RandomSearch):
    """Proposes a fixed list of architectures (with repeats) to exercise the dedup safety net."""

    def __init__(self, space, archs, **kw):
        super().__init__(space, **kw)
        self.archs, self.told = list(archs), []

    def ask(self):
        if not self.archs:
            return None
        return Proposal(self.new_id(), self.archs.pop(0))

    def tell(self, pid, result):
        self.told.append((pid, result.metrics.get("val_acc")))


def test_dedup_tells_previous_result_without_evaluating():
    cfg, space, _, ev = setup(budget=10)
    a, b = space.decode([1] * 10), space.decode([0] * 10)
    strat = Repeater(space, [a, b, a, a, b])
    s = Search(cfg, space, strat, ev).run()
    assert [t["id"] for t in s.trials] == ["t00000", "t00001"]  # each key evaluated once
    assert ev.submitted == ["t00000", "t00001"] and s.n_duplicates == 3
    acc = {t["key"]: t["metrics"]["val_acc"] for t in s.trials}
    assert strat.told == [("t00000", acc[a.key]), ("t00001", acc[b.key]), ("t00002", acc[a.key]),
                          ("t00003", acc[a.key]), ("t00004", acc[b.key])]
    assert "nothing more to propose" in s.stopped_reason


def test_in_flight_duplicate_waits_for_the_running_trial():
    cfg, space, _, ev = setup(budget=10, capacity=3)
    a = space.decode([1] * 10)
    strat = Repeater(space, [a, a, a])
    s = Search(cfg, space, strat, ev).run()
    assert ev.submitted == ["t00000"] and len(s.trials) == 1
    assert [pid for pid, _ in strat.told] == ["t00000", "t00001", "t00002"]
    assert len({v for _, v in strat.told}) == 1


def test_many_duplicates_in_a_row_stop_the_search(monkeypatch):
    monkeypatch.setattr(search_mod, "MAX_DUPLICATE_RUN", 5)
    cfg, space, _, ev = setup(budget=50)
    a = space.decode([1] * 10)
    s = Search(cfg, space, Repeater(space, [a] * 30), ev).run()
    assert len(s.trials) == 1 and s.n_duplicates == 5
    assert "exhausted" in s.stopped_reason


def test_exhausted_space_stops_random_search():
    cfg, space, strat, ev = setup(budget=100, strategy="random", n_bits=4)
    s = Search(cfg, space, strat, ev).run()
    assert len(s.trials) <= 16 and len({t["key"] for t in s.trials}) == len(s.trials)
    assert len(s.trials) >= 12  # nearly all 16 found before max_tries consecutive misses
    assert "strategy" in s.stopped_reason


def test_in_memory_mode_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg, space, strat, ev = setup(budget=20)
    s = Search(cfg, space, strat, ev).run()
    assert os.listdir(tmp_path) == [] and s.run_dir is None
    assert all(isinstance(t["arch"], Architecture) for t in s.trials)
    assert s.trials[0]["started"] <= s.trials[0]["finished"]


def test_resume_in_process_matches_uninterrupted(tmp_path):
    cfg, space, strat, ev = setup(budget=12, seed=3)
    ref = sequence(Search(cfg, space, strat, ev).run().trials)

    # session 1: an error escapes strategy.tell right after the 5th journal write (like a crash there)
    cfg, space, strat, ev = setup(budget=12, seed=3)
    run = RunDir.create(tmp_path / "r", cfg.to_dict())
    original = strat.tell
    calls = []

    def tell(pid, result):
        calls.append(pid)
        if len(calls) == 5:
            raise RuntimeError("simulated crash")
        original(pid, result)

    strat.tell = tell
    with pytest.raises(RuntimeError):
        Search(cfg, space, strat, ev, run=run).run()
    run.close()
    assert len(run.read_trials()) == 5

    # session 2: a fresh process-like state resumes; the 5th trial is told from the journal, not re-run
    cfg, space, strat, ev = setup(budget=12, seed=3)
    run = RunDir.open(tmp_path / "r")
    s = Search(cfg, space, strat, ev, run=run).run()
    run.close()
    assert "t00004" not in ev.submitted
    assert sequence(s.trials) == ref
    assert sequence(run.read_trials()) == ref


def test_resume_resubmits_a_trial_lost_in_flight(tmp_path):
    cfg, space, strat, ev = setup(budget=8, seed=1)
    ref = sequence(Search(cfg, space, strat, ev).run().trials)

    cfg, space, strat, ev = setup(budget=8, seed=1)
    run = RunDir.create(tmp_path / "r", cfg.to_dict())
    n = {"calls": 0}
    original = ev.results

    def results(timeout=None):
        n["calls"] += 1
        if n["calls"] == 4:
            raise RuntimeError("worker lost")  # trial t00003 is running
        return original(timeout)

    ev.results = results
    with pytest.raises(RuntimeError):
        Search(cfg, space, strat, ev, run=run).run()
    run.close()
    assert [p["id"] for p in run.load_snapshot()["pending"]] == ["t00003"]

    cfg, space, strat, ev = setup(budget=8, seed=1)
    run = RunDir.open(tmp_path / "r")
    s = Search(cfg, space, strat, ev, run=run).run()
    run.close()
    assert ev.submitted[0] == "t00003"  # re-submitted with the same id
    assert sequence(s.trials) == ref


def test_resume_with_a_larger_budget_continues(tmp_path):
    cfg, space, strat, ev = setup(budget=10, seed=2)
    ref = sequence(Search(cfg, space, strat, ev).run().trials)
    cfg, space, strat, ev = setup(budget=4, seed=2)
    run = RunDir.create(tmp_path / "r", cfg.to_dict())
    Search(cfg, space, strat, ev, run=run).run()
    run.close()
    cfg, space, strat, ev = setup(budget=10, seed=2)
    run = RunDir.open(tmp_path / "r")
    s = Search(cfg, space, strat, ev, run=run).run()
    run.close()
    assert sequence(s.trials) == ref and len(ev.submitted) == 6


class WallCostEvaluator(ToyEvaluator):
    simulated_time = False  # cost is real seconds: the time budget stays wall time


def test_declared_wall_cost_is_not_simulated():
    cfg, space, strat, _ = setup(budget=5, time_budget=100.0, cost=50.0)
    s = Search(cfg, space, strat, WallCostEvaluator(space, cfg)).run()
    assert len(s.trials) == 5 and sum(t["cost"] for t in s.trials) > 100.0
    assert s.trials[0]["cost"] is not None and "budget of 5" in s.stopped_reason


def test_tabular_nb201_stops_before_the_simulated_budget():
    tabular = pytest.importorskip("evaluators.tabular")
    from search_spaces.nb201 import Nb201Space

    space = Nb201Space()
    cfg = SearchConfig(space="nb201", strategy="evolution", budget=None, time_budget=20000.0, seed=0)
    ev = tabular.TabularEvaluator(space, cfg)
    s = Search(cfg, space, RegularizedEvolution(space, seed=0), ev).run()
    spent = sum(t["cost"] for t in s.trials)
    assert 0 < spent <= 20000.0 and "simulated" in s.stopped_reason
    assert all("val_acc" in t["metrics"] for t in s.trials if t["status"] == "ok")


def test_rich_progress_renders_trials_and_stats():
    import io

    from rich.console import Console

    from nas.app.progress import RichProgress

    buf = io.StringIO()
    cfg, space, strat, ev = setup(budget=4, fail_every=3)
    Search(cfg, space, strat, ev, progress=RichProgress(Console(file=buf, force_terminal=True, width=200))).run()
    text = buf.getvalue()
    assert "search in memory: space toy" in text
    assert all(f"t0000{i}" in text for i in range(4)) and "toy failure of t00003" in text
    assert "4/4" in text and "failed 2" in text

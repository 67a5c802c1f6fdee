"""Regularized evolution (Real et al. 2019, AAAI, Algorithm 1) on the toy bit-string space."""
from __future__ import annotations

import random
import statistics

import pytest

from nas.config import SearchConfig
from nas.errors import ConfigError
from nas.registry import STRATEGIES, load_plugins
from nas.app.driver import Search
from nas.types import Result
from strategies.evolution import RegularizedEvolution
from strategies.random import RandomSearch
from tests.toy_plugin import ToyEvaluator, ToySpace, ones

load_plugins()


class RecordingRng(random.Random):
    """Logs ``randrange`` calls so the test can see the tournament sample drawn by ``ask``."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.log: list[int] = []

    def randrange(self, *args, **kwargs):  # type: ignore[override]
        v = super().randrange(*args, **kwargs)
        self.log.append(v)
        return v


def evo(P: int = 5, S: int = 2, aging: bool = True, n_bits: int = 16, seed: int = 0) -> RegularizedEvolution:
    e = RegularizedEvolution(ToySpace(n_bits), seed=seed, population=P, sample_size=S, aging=aging)
    e.rng = RecordingRng(seed)
    return e


def score_of(arch) -> float:
    return ones(arch)


def fill(e: RegularizedEvolution) -> None:
    for _ in range(e.population_size):
        p = e.ask()
        assert p.info == {"origin": "random"}
        e.tell(p.id, Result("ok", {"val_acc": score_of(p.arch)}))
    assert len(e.population) == e.population_size


def cycle(e: RegularizedEvolution, score=None):
    """One ask (recording the tournament sample) and tell; returns (proposal, sample, population before)."""
    before = list(e.population)
    e.rng.log.clear()
    p = e.ask()
    sample = [before[i] for i in e.rng.log[: e.sample_size]]
    e.tell(p.id, Result("ok", {"val_acc": score_of(p.arch) if score is None else score}))
    return p, sample, before


def test_tournament_winner_is_the_parent_of_a_one_step_mutation():
    e = evo(P=6, S=3)
    fill(e)
    for _ in range(40):
        p, sample, before = cycle(e)
        assert p.info["origin"] == "mutation"
        best = max(m["score"] for m in sample)
        parent = next(m for m in sample if m["id"] == p.info["parent"])  # the parent came from the sample
        assert parent["score"] == best
        diff = sum(a != b for a, b in zip(parent["arch"].blocks[0]["bits"], p.arch.blocks[0]["bits"]))
        assert diff == 1 and p.info["mutation"].startswith("bit")


def test_aging_removes_the_oldest_even_if_it_is_the_best():
    e = evo(P=4, S=2, aging=True)
    fill(e)
    e.population[0]["score"] = 99.0  # the oldest is the best
    for score in (0.0, 1.0, 0.5):
        oldest = e.population[0]["id"]
        p, _, before = cycle(e, score)
        assert [m["id"] for m in e.population] == [m["id"] for m in before[1:]] + [p.id]
        assert oldest not in {m["id"] for m in e.population}


def test_without_aging_the_worst_of_the_sample_dies():
    e = evo(P=5, S=2, aging=False)
    fill(e)
    removed_not_oldest = 0
    for _ in range(30):
        p, sample, before = cycle(e)
        gone = {m["id"] for m in before} - {m["id"] for m in e.population}
        assert len(gone) == 1 and p.id in {m["id"] for m in e.population}
        victim = next(m for m in before if m["id"] in gone)
        assert victim["score"] == min(m["score"] for m in sample)
        assert victim["id"] in {m["id"] for m in sample}
        removed_not_oldest += victim["id"] != before[0]["id"]
    assert removed_not_oldest > 0


def test_failed_trials_never_join_the_population():
    e = evo(P=3, S=2)
    fill(e)
    before = [m["id"] for m in e.population]
    p = e.ask()
    e.tell(p.id, Result("failed", error="diverged"))
    assert [m["id"] for m in e.population] == before and e.n_failed == 1
    for _ in range(20):
        q, _, _ = cycle(e)
        assert q.info["parent"] != p.id


def test_pending_random_samples_fill_the_population_first():
    e = evo(P=3, S=2)
    first = [e.ask() for _ in range(5)]  # nothing told: P random, then random again (empty population)
    assert all(p.info["origin"] == "random" for p in first)
    e = evo(P=3, S=2)
    a, b = e.ask(), e.ask()
    e.tell(a.id, Result("ok", {"val_acc": 0.5}))
    assert e.ask().info["origin"] == "random"  # 1 member + 1 pending random < P
    child = e.ask()  # 1 member + 2 pending random == P: mutate from the population
    assert child.info["origin"] == "mutation" and child.info["parent"] == a.id


def test_never_proposes_a_seen_architecture_until_exhausted():
    e = RegularizedEvolution(ToySpace(6), seed=0, population=4, sample_size=2)
    keys = []
    while (p := e.ask()) is not None:
        keys.append(p.arch.key)
        e.tell(p.id, Result("ok", {"val_acc": ones(p.arch)}))
    assert len(keys) == len(set(keys)) and len(keys) >= 48  # 64 in the space
    assert e.done()


def test_options_are_validated():
    space = ToySpace(8)
    with pytest.raises(ConfigError, match="sample_size"):
        STRATEGIES.create("evolution", space, population=3, sample_size=4)
    with pytest.raises(ConfigError, match="population"):
        STRATEGIES.create("evolution", space, population=0)
    with pytest.raises(ConfigError, match="aging"):
        STRATEGIES.create("evolution", space, aging="no")


def best_of(strategy_cls, seed: int, **opts) -> float:
    cfg = SearchConfig(space="toy", budget=200, evaluator="toy", seed=seed)
    space = ToySpace(32)
    strat = strategy_cls(space, seed=seed, **opts)
    return Search(cfg, space, strat, ToyEvaluator(space, cfg)).run().best["metrics"]["val_acc"]


def test_evolution_beats_random_search_on_the_toy_problem():
    """Real et al.'s toy: fitness = fraction of ones (+ trial noise); same seeds, same budget."""
    seeds = range(5)
    evolution = [best_of(RegularizedEvolution, s, population=20, sample_size=5) for s in seeds]
    rand = [best_of(RandomSearch, s) for s in seeds]
    assert statistics.mean(evolution) > statistics.mean(rand) + 0.08
    assert all(e > r for e, r in zip(evolution, rand))

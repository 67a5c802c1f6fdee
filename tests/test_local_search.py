"""Local search (White et al. 2021): hill climbing over the mutation neighbourhood, with restarts."""
from __future__ import annotations

import pytest

from nas.errors import ConfigError
from nas.types import Result
from search_spaces.nb201 import Nb201Space
from strategies.local import LocalSearch, neighbourhood
from strategies.random import RandomSearch

CONV3 = Nb201Space.ops.index("nor_conv_3x3")


def conv_count(space: Nb201Space, arch) -> float:
    """A synthetic objective with one optimum: the number of 3x3-conv edges (0..6)."""
    return float(sum(1 for c in space.encode(arch) if c == CONV3))


def run(strategy, space, n: int) -> list[float]:
    scores = []
    for _ in range(n):
        p = strategy.ask()
        assert p is not None
        s = conv_count(space, p.arch)
        scores.append(s)
        strategy.tell(p.id, Result("ok", {"val_acc": s}))
    return scores


def test_nb201_neighbourhood_is_every_one_edge_change():
    space = Nb201Space()
    import random

    rng = random.Random(0)
    arch = space.decode([3, 3, 3, 3, 3, 3])
    neigh = neighbourhood(space, arch, rng, tries=200)
    base = space.encode(arch)
    assert all(sum(a != b for a, b in zip(space.encode(n), base)) == 1 for n in neigh)
    assert len({n.key for n in neigh}) == len(neigh) > 12  # one-edge changes, up to isomorphism


@pytest.mark.parametrize("first", [True, False])
def test_local_search_climbs_to_the_optimum_and_beats_random(first):
    space = Nb201Space()
    hits_local = hits_random = 0
    for seed in range(3):
        # best improvement evaluates whole neighbourhoods (up to 24 cells) per step: give it room
        local = run(LocalSearch(space, seed=seed, n_init=5, first_improvement=first), space, 150)
        rand = run(RandomSearch(space, seed=seed), space, 150)
        hits_local += max(local) == 6.0
        hits_random += max(rand) == 6.0
    assert hits_local == 3 and hits_random < 3


def test_restarts_at_a_local_optimum():
    space = Nb201Space()
    ls = LocalSearch(space, seed=0, n_init=2)
    run(ls, space, 120)  # the optimum (6) is reached well before; then its neighbourhood holds nothing better
    assert ls.restarts >= 1


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="n_init"):
        LocalSearch(Nb201Space(), n_init=0)
    with pytest.raises(ConfigError, match="first_improvement"):
        LocalSearch(Nb201Space(), first_improvement="yes")


@pytest.mark.slow
def test_local_beats_random_on_a_short_bench():
    from nas.app.bench import BenchConfig, run_bench

    res = run_bench(BenchConfig(strategies=("local", "random"), runs=10, seed=0, workers=1))
    s = res["strategies"]
    assert s["local"]["signal_mean"] > s["random"]["signal_mean"]
    assert s["local"]["report_mean"] > s["random"]["report_mean"]

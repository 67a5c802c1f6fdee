"""``StrategyConformance``: the :class:`~strategies.base.Strategy` ask/tell contract as pytest tests.

Subclass it and provide ``make_strategy``, a fixture returning a factory ``(space, seed) ->
strategy`` (and optionally ``space``, default the registered ``nb201`` space)::

    import pytest
    from nas.testing import StrategyConformance

    class TestMyStrategy(StrategyConformance):
        @pytest.fixture
        def make_strategy(self):
            return lambda space, seed: MyStrategy(space, seed=seed)

The checks drive the strategy like the driver does with asynchronous workers (Real et al.,
AAAI 2019, §3: several proposals in flight, results told in any order), with deterministic
fake results (every 7th fails): proposals are valid, ids unique, keys never repeated; a
JSON round trip of ``state_dict`` gives exactly the proposals an uninterrupted strategy
makes (what crash-safe resume relies on); foreign state and unknown options are
:class:`~nas.errors.ConfigError`; results for unknown ids are ignored. A strategy that supports a
warm start (:meth:`~strategies.base.Strategy.warm_start`) proposes its seeds first, in order and
without duplicates, and its ``state_dict`` round trip still holds mid-way through them; one that
does not refuses with a ConfigError.

Strategies whose trials are not plain architecture evaluations (another ``trial_runner``,
e.g. one-shot methods) are covered by ``OneShotConformance`` instead and skipped here.
"""
from __future__ import annotations

import hashlib
import json
import random
from typing import Any, Callable

import pytest

from nas.errors import ConfigError
from nas.types import DEFAULT_RUNNER, Proposal, Result
from search_spaces.base import SearchSpace
from strategies.base import Strategy


def fake_result(p: Proposal) -> Result:
    """A deterministic result from the proposal's key; every 7th (by hash) fails."""
    assert p.arch is not None
    h = int(hashlib.sha256(p.arch.key.encode()).hexdigest()[:8], 16)
    if h % 7 == 0:
        return Result("failed", error="diverged")
    return Result("ok", {"val_acc": (h % 10_000) / 10_000, "params": 1000.0 + h % 997, "macs": 1e5 + h % 991})


class AsyncLoop:
    """Ask up to ``ahead`` proposals in advance and tell them in a seeded, shuffled order."""

    def __init__(self, strategy: Strategy, seed: int = 0, ahead: int = 3) -> None:
        self.strategy, self.rng, self.ahead = strategy, random.Random(seed), ahead
        self.outstanding: list[Proposal] = []
        self.proposals: list[Proposal] = []

    def step(self) -> bool:
        """One ask (when a slot is free and the strategy proposes) or one tell; False when stuck."""
        if len(self.outstanding) < self.ahead and not self.strategy.done():
            p = self.strategy.ask()
            if p is not None:
                self.proposals.append(p)
                self.outstanding.append(p)
                return True
        if not self.outstanding:
            return False
        p = self.outstanding.pop(self.rng.randrange(len(self.outstanding)))
        self.strategy.tell(p.id, fake_result(p))
        return True


def signature(p: Proposal) -> tuple:
    """What must be identical between a resumed and an uninterrupted strategy."""
    assert p.arch is not None
    return p.id, p.arch.key, p.arch.spec, json.dumps(p.info, sort_keys=True, default=str), \
        json.dumps(p.config, sort_keys=True, default=str), p.budget, p.lineage, p.from_budget


def restored_alongside(a: AsyncLoop, fresh: Strategy, steps: int) -> AsyncLoop:
    """Load ``a``'s JSON state into ``fresh``, step both ``steps`` times, and check that the restored
    strategy proposes exactly what ``a`` goes on to propose; returns the restored loop."""
    state = json.loads(json.dumps(a.strategy.state_dict()))
    b = AsyncLoop(fresh, seed=1)
    b.strategy.load_state_dict(state)
    b.outstanding = list(a.outstanding)
    b.rng.setstate(a.rng.getstate())
    n = len(a.proposals)
    for _ in range(steps):
        a.step()
        b.step()
    assert b.proposals, "the restored strategy proposed nothing"
    assert [signature(p) for p in a.proposals[n:]] == [signature(p) for p in b.proposals]
    return b


class StrategyConformance:
    """The ask/tell contract; provide ``make_strategy`` (and optionally ``space``)."""

    #: proposals the loop test asks for, and the fewest it must get
    n_proposals, min_proposals = 30, 10

    @pytest.fixture
    def space(self) -> SearchSpace:
        from nas.registry import SPACES, load_plugins

        load_plugins()
        return SPACES.create("nb201")

    @pytest.fixture
    def make_strategy(self) -> Callable[[SearchSpace, int], Strategy]:
        raise NotImplementedError("a StrategyConformance subclass provides the `make_strategy` fixture")

    @pytest.fixture
    def strategy(self, make_strategy, space) -> Strategy:
        strat = make_strategy(space, 0)
        if strat.trial_runner != DEFAULT_RUNNER:
            pytest.skip(f"strategy {strat.name!r} runs {strat.trial_runner!r} trials (OneShotConformance covers it)")
        return strat

    def test_is_a_strategy(self, strategy):
        assert isinstance(strategy, Strategy)
        assert isinstance(strategy.name, str) and strategy.name
        assert isinstance(strategy.done(), bool)

    def test_ask_tell_loop_gives_valid_unique_proposals(self, strategy, space):
        loop = AsyncLoop(strategy)
        steps = 0
        while len(loop.proposals) < self.n_proposals and steps < 10 * self.n_proposals and loop.step():
            steps += 1
        assert len(loop.proposals) >= self.min_proposals, "the strategy stopped proposing early"
        for p in loop.proposals:
            assert isinstance(p, Proposal) and p.arch is not None
            space.validate(p.arch)
            json.dumps(p.info)
            json.dumps(p.config)
        assert len({p.id for p in loop.proposals}) == len(loop.proposals), "an id was given twice"
        # a multi-fidelity promotion repeats its architecture at a higher budget (Proposal.dedup_key)
        assert len({p.dedup_key for p in loop.proposals}) == len(loop.proposals), "a key was proposed twice"

    def test_same_seed_same_proposals(self, make_strategy, space, strategy):
        runs = []
        for _ in range(2):
            loop = AsyncLoop(make_strategy(space, 3), seed=2)
            for _ in range(30):
                loop.step()
            runs.append([signature(p) for p in loop.proposals])
        assert runs[0] == runs[1] and runs[0]

    def test_state_dict_json_round_trip_gives_identical_proposals(self, make_strategy, space, strategy):
        a = AsyncLoop(make_strategy(space, 5), seed=1)
        for _ in range(16):
            a.step()
        b = restored_alongside(a, make_strategy(space, 5), 24)
        assert json.loads(json.dumps(a.strategy.state_dict())) == json.loads(json.dumps(b.strategy.state_dict()))

    def test_foreign_state_is_a_config_error(self, strategy):
        with pytest.raises(ConfigError):
            strategy.load_state_dict({"name": "not-" + strategy.name, "seed": 0, "n_asked": 0, "rng": []})

    def test_unknown_option_is_a_config_error(self, strategy, space):
        from nas.registry import STRATEGIES

        registered = [n for n in STRATEGIES.names() if STRATEGIES.get(n) is type(strategy)]
        if not registered:
            pytest.skip(f"strategy {strategy.name!r} is not registered")
        with pytest.raises(ConfigError, match="unexpected option"):
            STRATEGIES.create(registered[0], space, seed=0, no_such_option=1)

    def test_tell_of_an_unknown_id_is_ignored(self, strategy):
        strategy.tell("t99999", Result("ok", {"val_acc": 1.0}))
        assert strategy.ask() is not None

    @staticmethod
    def _seeds(space: SearchSpace, n: int = 4) -> list[Any]:
        rng = random.Random(11)
        out: dict[str, Any] = {}
        for _ in range(20 * n):
            arch = space.sample(rng)
            out.setdefault(arch.key, arch)
            if len(out) == n:
                break
        if len(out) < 2:
            pytest.skip(f"space {space.name!r} has too few distinct architectures to seed a strategy with")
        return list(out.values())

    def test_warm_start_proposes_the_seeds_first(self, make_strategy, space, strategy):
        seeds = self._seeds(space)
        strat = make_strategy(space, 0)
        given = [*seeds, seeds[0]]  # a duplicate is dropped
        try:
            strat.check_warm_start()
        except ConfigError:
            with pytest.raises(ConfigError, match="cannot be warm-started"):
                strat.warm_start(given)
            return
        strat.warm_start(given)
        loop = AsyncLoop(strat, seed=4)
        fresh: list[Proposal] = []
        for _ in range(20 * len(seeds)):
            if len(fresh) >= len(seeds) + 1 or not loop.step():
                break
            # new architectures only: a multi-fidelity promotion continues one (Proposal.lineage)
            fresh = [p for p in loop.proposals if p.lineage is None]
        assert [p.arch.key for p in fresh[:len(seeds)]] == [a.key for a in seeds]  # type: ignore[union-attr]
        assert all(p.arch.key not in {a.key for a in seeds} for p in fresh[len(seeds):])  # type: ignore[union-attr]

    def test_warm_start_state_dict_round_trip(self, make_strategy, space, strategy):
        seeds = self._seeds(space)
        a = AsyncLoop(make_strategy(space, 5), seed=1)
        try:
            a.strategy.check_warm_start()
        except ConfigError:
            pytest.skip(f"strategy {strategy.name!r} cannot be warm-started")
        a.strategy.warm_start(seeds)
        a.step()
        a.step()  # two seeds asked, the others still to come
        restored_alongside(a, make_strategy(space, 5), 16)  # a fresh strategy: the state holds the seeds
        keys = [p.arch.key for p in a.proposals if p.lineage is None]  # type: ignore[union-attr]
        assert keys[:len(seeds)] == [x.key for x in seeds]

    def test_failed_results_do_not_stop_the_search(self, make_strategy, space, strategy):
        strat = make_strategy(space, 1)
        asked = 0
        for _ in range(12):
            p = strat.ask()
            if p is None:
                break
            asked += 1
            strat.tell(p.id, Result("failed", error="diverged"))
        assert asked >= 3, "the strategy stopped proposing after failed trials"


def registered_strategy(name: str, **options: Any) -> Callable[[SearchSpace, int], Strategy]:
    """A ``make_strategy`` factory for the registered strategy ``name`` with ``options``."""
    from nas.registry import STRATEGIES

    return lambda space, seed: STRATEGIES.create(name, space, seed=seed, **options)

"""Contract of every registered strategy × every registered space (DESIGN §3).

Each strategy is constructed with its default options. Strategies that cannot run on a
space (e.g. a one-shot strategy on a space without a supernet) refuse at construction with
a NasError and are skipped for that space.
"""
from __future__ import annotations

import hashlib
import json
import random
from typing import Any

import pytest

from nas.errors import ConfigError, NasError
from nas.registry import SPACES, STRATEGIES, load_plugins
from nas.types import Proposal, Result
from tests.toy_plugin import ToySpace

load_plugins()
STRATEGY_NAMES = STRATEGIES.names()
SPACE_NAMES = sorted(set(SPACES.names()) | {"toy"})


def make_space(name: str) -> Any:
    return ToySpace(12) if name == "toy" else SPACES.create(name)


def make(strategy: str, space: Any, seed: int = 0) -> Any:
    try:
        strat = STRATEGIES.create(strategy, space, seed=seed)
    except (NasError, NotImplementedError) as e:
        pytest.skip(f"{strategy} does not run on {space.name}: {e}")
    if getattr(strat, "one_shot", False):
        pytest.skip(f"{strategy} is one-shot (covered by its own tests)")
    return strat


def fake_result(p: Proposal) -> Result:
    """Deterministic result from the key; every 7th trial fails."""
    h = int(hashlib.sha256(p.arch.key.encode()).hexdigest()[:8], 16)
    if h % 7 == 0:
        return Result("failed", error="diverged")
    return Result("ok", {"val_acc": (h % 10_000) / 10_000, "params": 1000.0 + h % 997, "macs": 1e5 + h % 991})


class Loop:
    """Ask up to 3 ahead and tell in a seeded, shuffled order (like asynchronous workers)."""

    def __init__(self, strat: Any, seed: int = 0) -> None:
        self.strat, self.rng, self.outstanding = strat, random.Random(seed), []
        self.proposals: list[Proposal] = []

    def step(self) -> bool:
        if len(self.outstanding) < 3 and not self.strat.done():
            p = self.strat.ask()
            if p is not None:
                self.proposals.append(p)
                self.outstanding.append(p)
                return True
        if not self.outstanding:
            return False
        p = self.outstanding.pop(self.rng.randrange(len(self.outstanding)))
        self.strat.tell(p.id, fake_result(p))
        return True


def signature(p: Proposal) -> tuple:
    return p.id, p.arch.key, p.arch.spec, json.dumps(p.info, sort_keys=True, default=str)


@pytest.mark.parametrize("space_name", SPACE_NAMES)
@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_ask_tell_loop_gives_valid_unique_proposals(strategy, space_name):
    space = make_space(space_name)
    loop = Loop(make(strategy, space))
    steps = 0
    while len(loop.proposals) < 30 and steps < 200 and loop.step():
        steps += 1
    assert len(loop.proposals) >= 10, "strategy stopped proposing early"
    for p in loop.proposals:
        assert isinstance(p, Proposal) and p.arch is not None
        space.validate(p.arch)
        json.dumps(p.info)
    assert len({p.id for p in loop.proposals}) == len(loop.proposals)
    assert len({p.arch.key for p in loop.proposals}) == len(loop.proposals), "a key was proposed twice"
    assert isinstance(loop.strat.done(), bool)


@pytest.mark.parametrize("space_name", SPACE_NAMES)
@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_state_dict_json_round_trip_gives_identical_proposals(strategy, space_name):
    space = make_space(space_name)
    a = Loop(make(strategy, space, seed=5), seed=1)
    for _ in range(16):
        a.step()
    state = json.loads(json.dumps(a.strat.state_dict()))
    b = Loop(make(strategy, make_space(space_name), seed=5), seed=1)
    b.strat.load_state_dict(state)
    b.outstanding = list(a.outstanding)
    b.rng.setstate(a.rng.getstate())
    n = len(a.proposals)
    for _ in range(24):
        a.step()
        b.step()
    assert [signature(p) for p in a.proposals[n:]] == [signature(p) for p in b.proposals]
    assert len(b.proposals) > 0
    assert json.loads(json.dumps(a.strat.state_dict())) == json.loads(json.dumps(b.strat.state_dict()))


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_unknown_option_and_foreign_state_are_config_errors(strategy):
    space = ToySpace(8)
    with pytest.raises(ConfigError, match="unexpected option"):
        STRATEGIES.create(strategy, space, seed=0, no_such_option=1)
    strat = make(strategy, space)
    with pytest.raises(ConfigError):
        strat.load_state_dict({"name": "not-" + strategy, "seed": 0, "n_asked": 0, "rng": []})


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_tell_of_unknown_id_is_ignored(strategy):
    strat = make(strategy, ToySpace(8))
    strat.tell("t99999", Result("ok", {"val_acc": 1.0}))
    assert strat.ask() is not None

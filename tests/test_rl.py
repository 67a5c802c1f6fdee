"""The REINFORCE controller: it learns, it resumes exactly, it works over every space."""
from __future__ import annotations

import json

import pytest

from nas.errors import ConfigError
from nas.objectives import pareto
from nas.registry import SPACES, STRATEGIES, load_plugins
from nas.types import Result

load_plugins()


def _synthetic(space, arch) -> Result:
    """Reward 90 when the first decision picks option 3, 10 otherwise (rest is noise-free filler)."""
    first = space.encode(arch)[0]
    return Result("ok", metrics={"val_acc": 90.0 if first == 3 else 10.0})


def test_policy_shifts_toward_rewarded_decision():
    space = SPACES.create("nb201")
    rl = STRATEGIES.create("rl", space, seed=0, lr=0.05, baseline_decay=0.9, max_tries=5)
    before = rl.probabilities()[0][3]
    for _ in range(80):
        p = rl.ask()
        rl.tell(p.id, _synthetic(space, p.arch))
    after = rl.probabilities()[0][3]
    assert before < 0.35
    assert after > 0.8, (before, after)
    # the unrewarded options all lost probability mass
    assert max(rl.probabilities()[0][k] for k in (0, 1, 2, 4)) < before


def test_unrewarded_controller_stays_put():
    """Control: with a constant reward the advantage is ~0 and the policy barely moves."""
    space = SPACES.create("nb201")
    rl = STRATEGIES.create("rl", space, seed=0, lr=0.05, baseline_decay=0.9, entropy_weight=0.0, max_tries=5)
    before = rl.probabilities()[0]
    for _ in range(40):
        p = rl.ask()
        rl.tell(p.id, Result("ok", metrics={"val_acc": 50.0}))
    after = rl.probabilities()[0]
    assert max(abs(a - b) for a, b in zip(before, after)) < 0.05


def _drive(strategy, space, n):
    out = []
    for _ in range(n):
        p = strategy.ask()
        out.append(p.arch.key)
        strategy.tell(p.id, _synthetic(space, p.arch))
    return out


def test_state_round_trip_is_exact():
    space = SPACES.create("nb201")
    a = STRATEGIES.create("rl", space, seed=4, lr=0.02, batch_size=3)
    _drive(a, space, 13)  # leaves a partly filled batch
    pending = a.ask()  # and one proposal in flight
    state = json.loads(json.dumps(a.state_dict()))
    b = STRATEGIES.create("rl", space, seed=99, lr=0.02, batch_size=3)
    b.load_state_dict(state)
    assert b.probabilities() == a.probabilities()
    for s in (a, b):
        s.tell(pending.id, _synthetic(space, pending.arch))
    assert _drive(a, space, 10) == _drive(b, space, 10)
    assert a.probabilities() == b.probabilities()
    assert json.dumps(a.state_dict()) == json.dumps(b.state_dict())


def test_asynchronous_batches_and_no_duplicates():
    space = SPACES.create("nb201")
    rl = STRATEGIES.create("rl", space, seed=1, batch_size=4, lr=0.05)
    keys = []
    for _ in range(6):
        props = [rl.ask() for _ in range(4)]  # four in flight at once
        keys += [p.arch.key for p in props]
        for p in reversed(props):
            rl.tell(p.id, _synthetic(space, p.arch))
    assert len(keys) == len(set(keys))
    assert rl.n_updates >= 6


@pytest.mark.parametrize("name", ["nasnet", "darts", "nb201", "mbconv"])
def test_defaults_over_every_space(name):
    space = SPACES.create(name)
    rl = STRATEGIES.create("rl", space, seed=0)
    for _ in range(3):
        p = rl.ask()
        space.validate(p.arch)
        rl.tell(p.id, Result("ok", metrics={"val_acc": 50.0}))
    json.dumps(rl.state_dict())


def test_bad_options_and_multi_objective():
    space = SPACES.create("nb201")
    with pytest.raises(ConfigError, match="lr"):
        STRATEGIES.create("rl", space, lr=-1)
    with pytest.raises(ConfigError, match="unexpected option"):
        STRATEGIES.create("rl", space, learning_rate=0.1)
    with pytest.raises(ConfigError, match="multi-objective"):
        STRATEGIES.create("rl", space, objective=pareto())

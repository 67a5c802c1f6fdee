"""The Optuna TPE / NSGA-II strategy: dedup, exact resume, storage, Pareto objective."""
from __future__ import annotations

import json

import pytest

from nas.config import SearchConfig
from nas.errors import ConfigError
from nas.objectives import pareto
from nas.registry import SPACES, STRATEGIES, load_plugins
from nas.app.driver import Search
from nas.types import Result

load_plugins()


def _score(space, arch) -> Result:
    """Synthetic accuracy: how many edges use the op with index 3 (ties broken by op 2)."""
    c = space.encode(arch)
    return Result("ok", metrics={"val_acc": 10.0 * sum(x == 3 for x in c) + sum(x == 2 for x in c)})


def _drive(s, space, n):
    keys = []
    for _ in range(n):
        p = s.ask()
        keys.append(p.arch.key)
        s.tell(p.id, _score(space, p.arch))
    return keys


def test_never_proposes_a_seen_architecture_and_improves():
    space = SPACES.create("nb201")
    tpe = STRATEGIES.create("tpe", space, seed=0)
    keys = _drive(tpe, space, 60)
    assert len(set(keys)) == 60
    study = tpe.study
    best = max(t.value for t in study.trials if t.value is not None)
    first = max(t.value for t in study.trials[:10] if t.value is not None)
    assert best > first  # the model-based phase found better than the random start


def test_state_round_trip_is_exact():
    space = SPACES.create("nb201")
    a = STRATEGIES.create("tpe", space, seed=3, n_startup_trials=5)
    _drive(a, space, 12)
    inflight = a.ask()
    state = json.loads(json.dumps(a.state_dict()))
    b = STRATEGIES.create("tpe", space, seed=3, n_startup_trials=5)
    b.load_state_dict(state)
    for s in (a, b):
        s.tell(inflight.id, _score(space, inflight.arch))
    assert _drive(a, space, 8) == _drive(b, space, 8)
    assert json.dumps(a.state_dict()) == json.dumps(b.state_dict())


def test_storage_file_mirrors_the_study(tmp_path):
    import optuna

    space = SPACES.create("nb201")
    path = tmp_path / "run" / "optuna.journal"
    a = STRATEGIES.create("tpe", space, seed=1, storage=str(path))
    twin = STRATEGIES.create("tpe", space, seed=1)  # in memory: storage must not change proposals
    assert not path.exists()  # nothing touches disk before the first ask
    assert _drive(a, space, 6) == _drive(twin, space, 6)
    state = json.loads(json.dumps(a.state_dict()))
    del a  # the driver was killed; a resumed driver loads the snapshot
    b = STRATEGIES.create("tpe", space, seed=1, storage=str(path))
    b.load_state_dict(state)
    assert _drive(b, space, 3) == _drive(twin, space, 3)
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    stored = optuna.load_study(study_name="nas", storage=storage)
    assert len(stored.trials) == len(b.study.trials) >= 9


def test_pareto_with_nsga2_on_the_tabular_evaluator():
    from evaluators.tabular import TabularEvaluator

    space = SPACES.create("nb201")
    objective = pareto()
    tpe = STRATEGIES.create("tpe", space, seed=0, objective=objective, population_size=8)
    cfg = SearchConfig(space="nb201", strategy="tpe", objective="pareto", budget=30, evaluator="tabular")
    summary = Search(cfg, space, tpe, TabularEvaluator(space)).run()
    assert summary.n_ok == 30
    assert tpe.study.directions[1].name == "MINIMIZE"
    assert all(len(t.values) == 2 for t in tpe.study.trials if t.state.name == "COMPLETE")
    assert all(t["metrics"]["macs"] > 0 for t in summary.trials)


@pytest.mark.parametrize("name", ["nasnet", "darts", "nb201", "mbconv"])
def test_defaults_over_every_space(name):
    space = SPACES.create(name)
    tpe = STRATEGIES.create("tpe", space, seed=0)
    for i in range(3):
        p = tpe.ask()
        space.validate(p.arch)
        tpe.tell(p.id, Result("ok", metrics={"val_acc": float(i)}) if i != 1 else Result("failed", error="x"))
    json.dumps(tpe.state_dict())


def test_bad_options():
    space = SPACES.create("nb201")
    with pytest.raises(ConfigError, match="gamma"):
        STRATEGIES.create("tpe", space, gamma=2)
    with pytest.raises(ConfigError, match="group"):
        STRATEGIES.create("tpe", space, group=True, multivariate=False)
    with pytest.raises(ConfigError, match="unexpected option"):
        STRATEGIES.create("tpe", space, n_trials=3)


def test_local_fraction_mutates_the_incumbent():
    space = SPACES.create("nb201")
    tpe = STRATEGIES.create("tpe", space, seed=2, n_startup_trials=5, local_fraction=1.0)
    best, best_score = None, None
    for i in range(15):
        p = tpe.ask()
        if i >= 5:  # after startup every proposal is a one-edge mutation of the best so far
            assert p.info["origin"] == "local"
            diff = sum(x != y for x, y in zip(space.encode(p.arch), space.encode(best)))
            assert diff == 1
        r = _score(space, p.arch)
        if best_score is None or r.metrics["val_acc"] > best_score:
            best, best_score = p.arch, r.metrics["val_acc"]
        tpe.tell(p.id, r)
    with pytest.raises(ConfigError, match="single objective"):
        STRATEGIES.create("tpe", space, objective=pareto(), local_fraction=0.5)

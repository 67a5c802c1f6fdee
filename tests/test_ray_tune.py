"""``nas.app.tune.NasSearcher``: nas strategies inside a Ray Tune ``Tuner`` (issue 5, item 4).

Unit tests drive the Searcher API directly (no Ray process); one slow test runs a tiny real
Tune experiment on a private local Ray instance bound to 127.0.0.1.
"""
from __future__ import annotations

import json

import pytest

from tests.ray_helpers import force_loopback, local_instance

force_loopback()
pytest.importorskip("ray.tune")

from ray.tune.search import Searcher  # noqa: E402

from nas.arch import Architecture  # noqa: E402
from nas.app.tune import NasSearcher  # noqa: E402
from nas.zoo import get_space  # noqa: E402

STRATEGY_OPTIONS = {"random": {}, "evolution": {"population": 4, "sample_size": 2},
                    "rl": {"batch_size": 2}, "tpe": {"n_startup_trials": 3}}


def score(config: dict) -> float:
    """A cheap deterministic score of an NB201 architecture: its number of 3x3 convolutions."""
    arch = Architecture.from_dict(config["arch"])
    return float(json.dumps(arch.to_dict()).count("nor_conv_3x3"))


def searcher(strategy: str, **kw) -> NasSearcher:
    return NasSearcher("nb201", strategy, seed=1, strategy_options=STRATEGY_OPTIONS[strategy], **kw)


def drive(s: NasSearcher, n: int, start: int = 0) -> list[dict]:
    """Suggest and complete ``n`` trials one at a time; returns the configs."""
    out = []
    for i in range(start, start + n):
        config = s.suggest(f"trial_{i}")
        assert isinstance(config, dict), config
        s.on_trial_complete(f"trial_{i}", {"score": score(config), "training_iteration": 1})
        out.append(config)
    return out


@pytest.mark.parametrize("strategy", sorted(STRATEGY_OPTIONS))
def test_every_strategy_suggests_valid_archs_and_learns(strategy):
    s = searcher(strategy, metric="score", mode="max")
    configs = drive(s, 6)
    space = get_space("nb201")
    for c in configs:
        arch = Architecture.from_dict(c["arch"])
        space.validate(arch)
        assert c["key"] == arch.key and c["proposal_id"].startswith("t")
    assert len({c["key"] for c in configs}) == 6  # never the same architecture twice
    assert s.n_told >= 6 and s.strategy.state_dict()["n_asked"] >= 6


def test_result_mapping_errors_and_unknown_ids():
    s = searcher("evolution", metric="loss", mode="min")
    told = []
    s.strategy.tell = lambda pid, r: told.append((pid, r))  # observe what the strategy hears
    a, b, c = (s.suggest(t) for t in ("a", "b", "c"))
    s.on_trial_complete("a", {"loss": 0.25, "macs": 10, "flag": True, "name": "x"})
    s.on_trial_complete("b", None, error=True)
    s.on_trial_complete("c", {"other": 1.0})
    s.on_trial_complete("never-suggested", {"loss": 1.0})  # tolerated, ignored
    s.on_trial_complete("a", {"loss": 0.0})  # completed twice: ignored
    assert [pid for pid, _ in told] == [a["proposal_id"], b["proposal_id"], c["proposal_id"]]
    ok, err, missing = (r for _, r in told)
    assert ok.status == "ok" and ok.metrics == {"loss": 0.25, "macs": 10.0, "val_acc": -0.25}
    assert err.status == "failed" and "error" in err.error
    assert missing.status == "failed" and "'loss'" in missing.error


def test_metric_and_mode_from_tune_config():
    s = searcher("random")
    assert s.set_search_properties("acc", "max", {"lr": 0.1}) is True
    assert s.metric == "acc" and s.mode == "max"
    s.suggest("x")
    s.strategy.tell = lambda pid, r: setattr(s, "heard", r)
    s.on_trial_complete("x", {"acc": 93.5})
    assert s.heard.metrics["val_acc"] == 93.5


@pytest.mark.parametrize("strategy", ["evolution", "tpe"])
def test_save_restore_round_trip_continues_identically(strategy, tmp_path):
    a = searcher(strategy, metric="score", mode="max")
    drive(a, 5)
    live = a.suggest("live_1")  # in flight at save time
    path = tmp_path / "searcher.json"
    a.save(str(path))
    state = json.loads(path.read_text())  # plain JSON, no pickle
    assert state["format"] == "nas/tune-searcher@1" and list(state["live"]) == ["live_1"]

    b = searcher(strategy)
    b.restore(str(path))
    assert b.metric == "score" and b.mode == "max"
    for s in (a, b):  # the restored searcher completes the live trial and continues the same way
        s.on_trial_complete("live_1", {"score": score(live)})
    assert b.strategy.state_dict() == a.strategy.state_dict()
    assert [c["key"] for c in drive(b, 3, start=10)] == [c["key"] for c in drive(a, 3, start=10)]


def test_the_searcher_is_assembled_like_a_search():
    """Names and options are checked by nas.app.launch.assemble, as for ``nas search``."""
    from nas.errors import ConfigError, UnknownName

    with pytest.raises(UnknownName, match="unknown strategy"):
        NasSearcher("nb201", "no-such-strategy")
    with pytest.raises(UnknownName, match="unknown search space"):
        NasSearcher("no-such-space", "random")
    with pytest.raises(ConfigError, match="bogus"):
        NasSearcher("nb201", "evolution", strategy_options={"bogus": 1})
    with pytest.raises(ConfigError, match="multi-objective"):
        NasSearcher("nb201", "evolution", objective="pareto")
    space = get_space("nb201")
    s = NasSearcher(space, "evolution", seed=2, objective="mnas", objective_options={"target": 1e8})
    assert s.space is space and s.objective.name == "mnas" and s.strategy.seed == 2


def test_restore_refuses_other_strategy_state(tmp_path):
    path = tmp_path / "s.json"
    searcher("random").save(str(path))
    from nas.errors import ConfigError

    with pytest.raises(ConfigError, match="strategy 'random'"):
        searcher("evolution").restore(str(path))


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_tiny_tune_run_with_nas_searcher(tmp_path):
    import ray
    from ray import tune

    def trainable(config):
        return {"score": score(config)}

    s = searcher("evolution")
    assert not ray.is_initialized()
    with local_instance(num_cpus=1):
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(search_alg=s, metric="score", mode="max", num_samples=6),
            run_config=tune.RunConfig(name="nas", storage_path=str(tmp_path), verbose=0),
        )
        grid = tuner.fit()
    assert grid.num_errors == 0 and len(grid) == 6
    keys = [r.config["key"] for r in grid]
    assert len(set(keys)) == 6
    for r in grid:
        assert r.metrics["score"] == score(r.config)
    assert s.n_told == 6
    assert s.strategy.state_dict()["history"] == 6  # evolution heard every result
    # Tune checkpointed the searcher through our JSON save(); a fresh searcher restores it
    fresh = searcher("evolution")
    fresh.restore_from_dir(str(tmp_path / "nas"))
    assert fresh.strategy.state_dict() == s.strategy.state_dict()
    assert grid.get_best_result().metrics["score"] == max(score(r.config) for r in grid)
    assert isinstance(Searcher.FINISHED, str)

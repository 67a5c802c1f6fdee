"""The one-shot conformance suite (:class:`nas.testing.OneShotConformance`) over every registered
one-shot method, with the bad options each must refuse, plus the generic one-shot strategy."""
from __future__ import annotations

import json
import random

import pytest

from nas.errors import ConfigError, NasError
from nas.registry import ONESHOT, SPACES, STRATEGIES, TRIALS, load_plugins
from nas.testing import OneShotConformance
from nas.types import Result
from strategies.oneshot.strategy import ONESHOT_RUNNER, OneShotStrategy

load_plugins()

#: options each registered method must refuse (the DARTS ones: Liu et al., ICLR 2019, §2.3 / App. A.1.1)
BAD_OPTIONS = {
    "darts": [{"order": 3}, {"order": True}, {"train_portion": 1.5}, {"w_lr": -1.0}, {"w_lr": float("nan")},
              {"alpha_init": "ones"}, {"w_lr_min": 1.0}, {"w_momentum": 1.0}, {"alpha_lr": "fast"},
              {"guards": ["darts_minus"]}, {"hessian_every": 1.5}, {"max_skips": True}, {"table": ""}],
}


def test_every_registered_method_is_covered():
    """DARTS here; the other methods in tests/test_oneshot_methods.py (each with a conformance class)."""
    from tests.test_oneshot_methods import BAD_OPTIONS as METHODS_BAD_OPTIONS

    assert "darts" in ONESHOT.names() and ONESHOT_RUNNER in TRIALS
    covered = set(BAD_OPTIONS) | set(METHODS_BAD_OPTIONS)
    assert set(ONESHOT.names()) <= covered, "list the bad options (and a Test class) of a new method"


class TestDarts(OneShotConformance):
    bad_options = BAD_OPTIONS["darts"]

    @pytest.fixture
    def method(self):
        return ONESHOT.get("darts")


def test_generic_strategy_runs_any_registered_method_by_name():
    space = SPACES.create("darts")
    strat = OneShotStrategy(space, seed=3, method="darts", order=2)
    assert strat.trial_runner == ONESHOT_RUNNER and strat.method.options["order"] == 2
    p = strat.ask()
    assert p.runner == ONESHOT_RUNNER and p.arch is None and p.config["method"] == "darts"
    assert strat.ask() is None
    twin = OneShotStrategy(space, seed=3, method="darts", order=2)
    twin.load_state_dict(json.loads(json.dumps(strat.state_dict())))
    assert twin.ask() is None and twin.state_dict() == strat.state_dict()
    strat.tell(p.id, Result("failed", error="diverged"))
    assert strat.done()
    with pytest.raises(NasError, match="unknown one-shot method 'nope'"):
        OneShotStrategy(space, method="nope")
    with pytest.raises(ConfigError, match="offers none"):
        OneShotStrategy(SPACES.create("nasnet"), method="darts")
    # the registered "darts" strategy is the generic class bound to the DARTS method
    darts = STRATEGIES.create("darts", space, seed=3, order=2)
    assert isinstance(darts, OneShotStrategy) and darts.ask().config == p.config


def test_proposals_carry_their_runner_and_old_records_read_as_train():
    from nas.types import DEFAULT_RUNNER, Proposal, arch_settings, trial_arch, trial_key, trial_runner

    p = Proposal("t00000", None, {"method": "darts", "order": 2}, runner=ONESHOT_RUNNER)
    assert Proposal.from_dict(json.loads(json.dumps(p.to_dict()))) == p
    legacy = {"id": "t00001", "arch": None, "config": {"resolution": 64}}  # a journal line written before runners
    assert Proposal.from_dict(legacy).runner == DEFAULT_RUNNER == trial_runner(legacy)
    assert arch_settings(legacy) == {"resolution": 64} and arch_settings({**p.to_dict()}) == {}
    derived = SPACES.create("darts").sample(random.Random(0))
    plain = SPACES.create("darts").sample(random.Random(1))
    rec = {"id": "t00000", "arch": None, "key": None, "result_arch": derived.to_dict(), "config": {"one_shot": "darts"}}
    assert trial_arch(rec) == derived and trial_key(rec) == derived.key  # the result's architecture ...
    assert arch_settings(rec) == {}  # (an old one-shot record: its config is no build setting of it)
    rec = {"id": "t00002", "arch": plain.to_dict(), "key": plain.key}
    assert trial_arch(rec) == plain and trial_key(rec) == plain.key  # ... else the proposal's
    assert trial_arch({"id": "t3", "arch": None}) is None and trial_key({"id": "t3", "arch": None}) is None


def test_evaluators_dispatch_on_the_runner():
    from evaluators.tabular import TabularEvaluator
    from nas.types import Proposal

    ev = TabularEvaluator(SPACES.create("nb201"))
    ev.submit(Proposal("t00000", None, {"method": "darts"}, runner=ONESHOT_RUNNER))
    ((pid, res),) = ev.results()
    assert pid == "t00000" and res.status == "failed" and "'oneshot' trial" in res.error
    # the train runner refuses a proposal without an architecture instead of guessing what to run
    from evaluators.candidate import evaluate_candidate
    from nas.config import SearchConfig

    res = evaluate_candidate(SPACES.create("darts"), Proposal("t00001", None), SearchConfig(space="darts"), None,
                             device="cpu")
    assert res.status == "failed" and "no architecture" in res.error
    assert TRIALS.get("train") is evaluate_candidate


@pytest.mark.ray
@pytest.mark.slow
def test_ray_runs_the_oneshot_trial_and_resumes_it_from_its_checkpoint(tmp_path):
    """The Ray payload carries the runner; a trial with a checkpoint reports the epoch it resumed from."""
    pytest.importorskip("ray")
    import torch

    from evaluators.data import load_for_config
    from evaluators.ray import RayEvaluator
    from nas.config import SearchConfig
    from nas.layout import CHECKPOINTS
    from nas.types import Proposal
    from tests.ray_helpers import local_instance

    space = SPACES.create("darts")
    cfg = SearchConfig(space="darts", strategy="darts", epochs=2, batch_size=256, channels=2, layers=3,
                       evaluator="ray", keep_weights=0)
    p = Proposal("t00000", None, {"method": "darts", **ONESHOT.get("darts").defaults}, runner=ONESHOT_RUNNER)
    run = tmp_path / "run"
    ckpt = run / CHECKPOINTS / "t00000.pt"
    ckpt.parent.mkdir(parents=True)

    class Killed(BaseException):
        pass

    def die(row):
        raise Killed

    with pytest.raises(Killed):  # this process dies after epoch 1: its checkpoint stays for the worker
        ONESHOT.create("darts").run(space, p, cfg, load_for_config(cfg, torch.device("cpu")), device="cpu",
                                    checkpoint=ckpt, on_epoch=die)
    assert ckpt.exists()
    with local_instance(num_cpus=1):
        ev = RayEvaluator(space, cfg, run_dir=run)
        ev.submit(p)
        results = []
        for _ in range(120):
            results += ev.results(timeout=5.0)
            if results:
                break
        ev.shutdown()
    ((pid, res),) = results
    assert pid == "t00000" and res.status == "ok", res.error
    space.validate(res.arch)
    assert res.worker["resumed_from_epoch"] == 1 and res.worker["node_id"] and not ckpt.exists()
    assert [r["epoch"] for r in res.report["history"]] == [1, 2]

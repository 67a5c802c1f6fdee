"""Objective scoring (non-finite results), evolution's mutation descriptions, and
``nas.app.launch``'s ``assemble`` / ``run_search`` / ``resume_config`` as an API (without the CLI)."""
from __future__ import annotations

import argparse
import math
import random
import re

import pytest

import tests.toy_plugin  # noqa: F401  (registers the toy space and evaluator)
from nas.config import SearchConfig
from nas.errors import ConfigError, DataError, NasError
from nas.app.launch import assemble, resume_config, run_search
from nas.registry import EVALUATORS
from nas.objectives import accuracy, mnas, pareto
from nas.app.rundir import RunDir, check_new, read_run_yaml
from nas.app.driver import Search
from nas.types import Result
from strategies._util import describe_mutation
from strategies.evolution import RegularizedEvolution
from tests.toy_plugin import ToyEvaluator, ToySpace

NAN, INF = math.nan, math.inf


# -- objectives ------------------------------------------------------------------------------
@pytest.mark.parametrize("metrics", [
    {"val_acc": NAN, "macs": 4e8}, {"val_acc": INF, "macs": 4e8}, {"val_acc": 90.0, "macs": NAN},
    {"val_acc": 90.0, "macs": INF}, {"val_acc": 90.0}, {"val_acc": 90.0, "macs": 0.0},
])
def test_mnas_score_is_none_for_non_finite_or_missing_metrics(metrics):
    assert mnas().score(Result("ok", metrics)) is None
    assert mnas().rank_score(Result("ok", metrics)) is None


def test_objective_scores_and_rank_score():
    assert mnas().score(Result("ok", {"val_acc": 90.0, "macs": 4e8})) == pytest.approx(90.0)
    assert mnas(target=2e8).score(Result("ok", {"val_acc": 90.0, "macs": 4e8})) == pytest.approx(90.0 * 2 ** -0.07)
    assert not mnas().multi and pareto().multi and not accuracy().multi
    assert accuracy().score(Result("ok", {"val_acc": NAN})) is None
    assert accuracy().score(Result("failed", {"val_acc": 90.0})) is None
    ok = Result("ok", {"val_acc": 80.0, "macs": 1e6})
    assert pareto().rank_score(ok) == 80.0 and accuracy().rank_score(ok) == 80.0
    with pytest.raises(ConfigError, match="multi-objective"):
        pareto().score(ok)


class _NanFirst(ToyEvaluator):
    """The first trial reports NaN accuracy; the rest are the toy results."""

    def evaluate(self, p):
        r = super().evaluate(p)
        return Result("ok", {**r.metrics, "val_acc": NAN}, worker=r.worker) if p.id == "t00000" else r


@pytest.mark.parametrize("objective", [accuracy(), mnas(target=5e4)])
def test_a_nan_trial_is_never_best_nor_a_population_member(objective):
    cfg = SearchConfig(space="toy", budget=6, evaluator="toy", seed=0)
    space = ToySpace(10)
    strat = RegularizedEvolution(space, seed=0, objective=objective, population=3, sample_size=2)
    s = Search(cfg, space, strat, _NanFirst(space, cfg)).run()
    assert s.n_ok == 6 and "t00000" not in s.scores
    assert s.best is not None and s.best["id"] != "t00000"
    assert s.best["id"] == max(s.scores, key=s.scores.get)
    assert all(math.isfinite(m["score"]) and m["id"] != "t00000" for m in strat.population)


# -- evolution: cached encodings give the same mutation descriptions ---------------------------------
def test_evolution_mutation_info_matches_describe_mutation():
    space = ToySpace(12)
    e = RegularizedEvolution(space, seed=3, population=4, sample_size=2)
    rng = random.Random(0)
    archs, n_mut = {}, 0
    for i in range(40):
        if i == 20:  # a restored strategy has no cached encodings: recomputed on demand
            state = e.state_dict()
            e = RegularizedEvolution(space, seed=3, population=4, sample_size=2)
            e.load_state_dict(state)
        p = e.ask()
        archs[p.id] = p.arch
        if p.info["origin"] == "mutation":
            n_mut += 1
            assert p.info["mutation"] == describe_mutation(space, archs[p.info["parent"]], p.arch)
            assert p.info["mutation"].startswith("bit")
        e.tell(p.id, Result("ok", {"val_acc": rng.random()}))
    assert n_mut > 20


# -- run_search / resume_config -------------------------------------------------------------------
def _cfg(tmp_path, **kw):
    base = dict(space="toy", evaluator="toy", budget=2, runs_dir=str(tmp_path / "runs"),
                strategy_options={"population": 3, "sample_size": 2})
    return SearchConfig(**{**base, **kw})


def test_run_search_leaves_the_callers_config_alone(tmp_path):
    cfg = _cfg(tmp_path)
    first = run_search(cfg, progress=False)
    second = run_search(cfg, progress=False)  # used to fail: "already exists"
    assert cfg.name is None and cfg == _cfg(tmp_path)
    assert first.run_dir != second.run_dir and first.n_ok == second.n_ok == 2


def test_resume_with_a_full_config_overrides_only_non_default_fields(tmp_path):
    cfg = _cfg(tmp_path, name="r")
    path = run_search(cfg, progress=False).run_dir
    s = run_search(SearchConfig(budget=4), resume=path, progress=False)  # used to fail: space nasnet != toy
    assert len(s.trials) == 4
    doc = read_run_yaml(path)
    assert doc["config"]["budget"] == 4 and doc["config"]["space"] == "toy"
    assert doc["history"][-1]["changed"] == {"budget": {"old": 2, "new": 4}}
    with pytest.raises(ConfigError, match="'seed'"):
        run_search(SearchConfig(budget=5, seed=3), resume=path, progress=False)


def test_resume_config_merges_options_and_resets_them_for_a_new_evaluator(tmp_path):
    cfg = _cfg(tmp_path, name="r", evaluator_options={"capacity": 1, "sleep": 0})
    path = run_search(cfg, progress=False).run_dir
    new, changed = resume_config(path, {"strategy_options": {"sample_size": 3}}, force=True)
    assert new.strategy_options == {"population": 3, "sample_size": 3}
    assert changed == {"strategy_options": ({"population": 3, "sample_size": 2}, {"population": 3, "sample_size": 3})}
    new, _ = resume_config(path, {"evaluator_options": {"sleep": 0.5}})
    assert new.evaluator_options == {"capacity": 1, "sleep": 0.5}
    new, _ = resume_config(path, {"evaluator": "local"})
    assert new.evaluator_options == {}
    new, _ = resume_config(path, {"evaluator": "local", "evaluator_options": {"threads": 1}})
    assert new.evaluator_options == {"threads": 1}
    new, changed = resume_config(path, {"strategy_options": {"population": 3}})  # nothing changes
    assert changed == {} and new.strategy_options == {"population": 3, "sample_size": 2}


def test_a_failing_config_update_on_resume_shuts_down_and_unlocks(tmp_path, monkeypatch):
    path = run_search(_cfg(tmp_path, name="r"), progress=False).run_dir
    closed = []
    monkeypatch.setattr(ToyEvaluator, "shutdown", lambda self: closed.append(True))

    def boom(self, config, changed):
        raise OSError("disk full")

    monkeypatch.setattr(RunDir, "update_config", boom)
    with pytest.raises(OSError, match="disk full"):
        run_search({"budget": 3}, resume=path, progress=False)
    assert closed == [True]
    RunDir.open(path).close()  # the lock was released


# -- assemble: the one function that puts a search together ----------------------------------------
def test_assemble_creates_every_part_through_the_registries_and_checks_the_evaluator(tmp_path):
    cfg = SearchConfig(space="toy", strategy="random", evaluator="toy", seed=3, objective="mnas",
                       objective_options={"target": 5e4}, strategy_options={"max_tries": 50})
    parts = assemble(cfg)
    assert isinstance(parts.space, ToySpace) and isinstance(parts.evaluator, ToyEvaluator)
    assert parts.strategy.space is parts.space and parts.strategy.seed == 3
    assert parts.strategy.objective is parts.objective and parts.objective.name == "mnas"
    assert parts.owns_evaluator
    parts.release()
    assert parts.evaluator.closed
    given = ToyEvaluator(parts.space, cfg)
    again = assemble(cfg, evaluator=given, space=parts.space)
    assert again.evaluator is given and again.space is parts.space and not again.owns_evaluator
    again.release()
    assert not given.closed  # the caller's evaluator is the caller's to shut down
    tune_like = assemble(cfg, with_evaluator=False)
    assert tune_like.evaluator is None


def test_assemble_shuts_down_an_evaluator_whose_check_fails(tmp_path, monkeypatch):
    closed = []
    monkeypatch.setattr(ToyEvaluator, "shutdown", lambda self: closed.append(True))
    cfg = SearchConfig(space="toy", evaluator="toy", data_dir=str(tmp_path / "missing"))
    with pytest.raises(DataError, match="does not exist"):
        assemble(cfg)
    assert closed == [True]


def test_assemble_refuses_an_evaluator_outside_the_contract(monkeypatch):
    class NotAnEvaluator:
        def __init__(self, space, config, *, run_dir=None):
            pass

    monkeypatch.setitem(EVALUATORS._entries, "not-an-evaluator", NotAnEvaluator)
    with pytest.raises(ConfigError, match="does not implement"):
        assemble(SearchConfig(space="toy", evaluator="not-an-evaluator"))


def test_assemble_reports_bad_names_and_options_before_any_evaluator_exists():
    for cfg, match in ((SearchConfig(space="toy", strategy="nope", evaluator="toy"), "unknown strategy"),
                       (SearchConfig(space="toy", evaluator="toy", strategy_options={"bogus": 1}), "bogus"),
                       (SearchConfig(space="toy", evaluator="nope"), "unknown evaluator")):
        with pytest.raises(NasError, match=match):
            assemble(cfg)


def test_check_new_allows_only_a_missing_path_or_an_empty_folder(tmp_path):
    assert check_new(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "empty").mkdir()
    check_new(tmp_path / "empty")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    (tmp_path / "file").write_text("")
    for name in ("full", "file"):
        with pytest.raises(ConfigError, match="already exists"):
            check_new(tmp_path / name)
    s = run_search(_cfg(tmp_path, name="empty", runs_dir=str(tmp_path)), progress=False)
    assert s.run_dir == tmp_path / "empty" and s.n_ok == 2


# -- shared option parsing -------------------------------------------------------------------------
def test_float_option_ranges():
    from strategies._util import float_option

    assert float_option("s", "x", 1, 0.0, 1.0) == 1.0 and float_option("s", "x", None, allow_none=True) is None
    assert float_option("s", "x", INF, 0.0) == INF  # only ``finite`` refuses infinities
    for value, kw, text in ((0.0, {"lo_open": True}, "in (0, 1]"), (1.5, {}, "in [0, 1]"), (NAN, {}, "in [0, 1]"),
                            (True, {}, "in [0, 1]"), ("0.5", {}, "in [0, 1]")):
        with pytest.raises(ConfigError, match=r"strategy 's': option 'x' must be a number " + re.escape(text)):
            float_option("s", "x", value, 0.0, 1.0, **kw)
    with pytest.raises(ConfigError, match="must be a finite number >= 1"):
        float_option("s", "x", INF, 1.0, finite=True)
    with pytest.raises(ConfigError, match="must be a number >= 0, got None"):
        float_option("s", "x", None, 0.0)


def test_cli_key_value_parsers():
    from nas.app.cli import key_value, strategy_key_value

    assert key_value("max-tries=7") == ("max_tries", 7) and key_value("x=") == ("x", None)
    assert strategy_key_value("evolution.sample-size=[1, 2]") == ("evolution", "sample_size", [1, 2])
    for parse, text in ((key_value, "foo"), (key_value, "=1"), (strategy_key_value, "population=3"),
                        (key_value, "x=[1"), (strategy_key_value, "e.x=[1")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_count_flags_report_the_flag_in_one_line(capsys):
    from nas.app.cli import main

    with pytest.raises(SystemExit) as e:
        main(["bench", "--strategy", "random", "--workers", "0"])
    assert e.value.code == 2
    assert capsys.readouterr().err == "nas: error: --workers must be >= 1, got 0\n"

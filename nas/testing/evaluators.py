"""``EvaluatorConformance``: the :class:`~evaluators.base.Evaluator` contract as pytest tests.

Subclass it and provide ``make_evaluator``, a fixture returning a factory ``(space, config,
run_dir) -> evaluator``; optionally override ``space`` (default: the registered ``nb201``
space), ``config`` (default: a tiny search config on ``digits``, one epoch, CPU) and
``bad_proposal`` (default: an architecture of another space, which no evaluator may train)::

    import pytest
    from nas.testing import EvaluatorConformance

    class TestMyEvaluator(EvaluatorConformance):
        @pytest.fixture
        def make_evaluator(self):
            return lambda space, config, run_dir: MyEvaluator(space, config, run_dir=run_dir)

The checks, on a tiny budget: the constructor takes ``(space, config, *, run_dir=None)``;
``check()`` runs before anything else and writes nothing into the run directory; the
declared attributes (``name``, ``simulated_time``, ``capacity()``, ``describe()``) have
their types; submitted proposals come back from ``results`` exactly once each with a valid
:class:`~nas.types.Result`; a proposal that cannot be evaluated is a ``failed`` (or
``timeout``) result with a reason, never an exception; ``shutdown`` is idempotent.
"""
from __future__ import annotations

import inspect
import json
import math
import random
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from evaluators.base import Evaluator
from nas.arch import Architecture
from nas.config import SearchConfig
from nas.types import STATUSES, Proposal, Result
from search_spaces.base import SearchSpace

#: seconds a conformance test waits for its results
RESULTS_TIMEOUT = 300.0


def collect(evaluator: Evaluator, ids: set[str], timeout: float = RESULTS_TIMEOUT) -> dict[str, list[Result]]:
    """Poll ``results`` until every id in ``ids`` came back (or ``timeout``); results by id."""
    got: dict[str, list[Result]] = {}
    deadline = time.monotonic() + timeout
    while not ids <= set(got) and time.monotonic() < deadline:
        for pid, result in evaluator.results(1.0):
            got.setdefault(pid, []).append(result)
    missing = ids - set(got)
    assert not missing, f"no result within {timeout:g}s for {sorted(missing)}"
    return got


def other_space_proposal(space: SearchSpace, pid: str = "t00900") -> Proposal:
    """A proposal whose architecture is a sample of ``space`` relabelled as another space."""
    a = space.sample(random.Random(0))
    return Proposal(pid, Architecture("not-" + space.name, cells=a.cells, blocks=a.blocks, macro=a.macro))


class EvaluatorConformance:
    """The evaluator contract; provide ``make_evaluator`` (see the module docstring)."""

    #: proposals evaluated by the submit/results test
    n_trials = 2

    @pytest.fixture
    def space(self) -> SearchSpace:
        from nas.registry import SPACES, load_plugins

        load_plugins()
        return SPACES.create("nb201")

    @pytest.fixture
    def config(self) -> SearchConfig:
        return SearchConfig(dataset="digits", epochs=1, batch_size=128, device="cpu", budget=self.n_trials, seed=0)

    @pytest.fixture
    def make_evaluator(self) -> Callable[[SearchSpace, SearchConfig, Path | None], Evaluator]:
        raise NotImplementedError("an EvaluatorConformance subclass provides the `make_evaluator` fixture")

    @pytest.fixture
    def run_dir(self, tmp_path: Path) -> Path:
        path = tmp_path / "run"
        path.mkdir()
        return path

    @pytest.fixture
    def evaluator(self, make_evaluator, space, config, run_dir) -> Iterator[Evaluator]:
        ev = make_evaluator(space, config, run_dir)
        try:
            yield ev
        finally:
            ev.shutdown()

    @pytest.fixture
    def bad_proposal(self, space) -> Proposal:
        return other_space_proposal(space)

    def proposals(self, space: SearchSpace) -> list[Proposal]:
        """``n_trials`` proposals of distinct sampled architectures."""
        rng, out, keys = random.Random(1), [], set()
        while len(out) < self.n_trials:
            a = space.sample(rng)
            if a.key not in keys:
                keys.add(a.key)
                out.append(Proposal(f"t{len(out):05d}", a))
        return out

    # -- the declared contract ------------------------------------------------------------------
    def test_constructor_takes_space_config_and_run_dir(self, evaluator):
        params = inspect.signature(type(evaluator).__init__).parameters
        names = list(params)
        assert names[1:3] == ["space", "config"], names
        assert "run_dir" in params and params["run_dir"].kind is inspect.Parameter.KEYWORD_ONLY
        assert params["run_dir"].default is None

    def test_declares_the_contract(self, evaluator):
        assert isinstance(evaluator, Evaluator)
        assert isinstance(evaluator.name, str) and evaluator.name
        assert isinstance(evaluator.simulated_time, bool)
        evaluator.check()
        cap = evaluator.capacity()
        assert isinstance(cap, int) and not isinstance(cap, bool) and cap >= 1
        d = evaluator.describe()
        assert d["name"] == evaluator.name
        json.dumps(d, default=str)

    def test_check_writes_nothing(self, evaluator, run_dir):
        evaluator.check()
        assert sorted(p.name for p in run_dir.iterdir()) == []

    def test_results_without_submissions_is_empty(self, evaluator):
        evaluator.check()
        assert evaluator.results(0.01) == []

    # -- evaluation -------------------------------------------------------------------------------
    def test_submitted_trials_come_back_once_with_valid_results(self, evaluator, space):
        evaluator.check()
        props = self.proposals(space)
        for p in props:
            evaluator.submit(p)
        got = collect(evaluator, {p.id for p in props})
        assert set(got) == {p.id for p in props}, "results for ids that were not submitted"
        for pid, results in got.items():
            assert len(results) == 1, f"{pid} came back {len(results)} times"
            r = results[0]
            assert isinstance(r, Result) and r.status in STATUSES
            assert r.status == "ok", f"{pid}: {r.error}"
            assert math.isfinite(r.metrics["val_acc"])
            assert all(isinstance(v, (int, float)) for v in r.metrics.values())
            json.dumps(r.to_dict(), default=str)
            if evaluator.simulated_time:
                assert r.cost is not None and r.cost >= 0, "simulated time needs a cost per result"
        assert evaluator.results(0.01) == []

    def test_a_bad_proposal_is_a_failed_result(self, evaluator, bad_proposal):
        evaluator.check()
        evaluator.submit(bad_proposal)
        (result,) = collect(evaluator, {bad_proposal.id})[bad_proposal.id]
        assert result.status in ("failed", "timeout")
        assert isinstance(result.error, str) and result.error

    def test_shutdown_is_idempotent(self, make_evaluator, space, config, run_dir):
        ev = make_evaluator(space, config, run_dir)
        ev.check()
        ev.shutdown()
        ev.shutdown()


def registered_evaluator(name: str, **kwargs: Any) -> Callable[[SearchSpace, SearchConfig, Path | None], Evaluator]:
    """A ``make_evaluator`` factory for the registered evaluator ``name``, as the launcher creates it."""
    from nas.registry import EVALUATORS

    return lambda space, config, run_dir: EVALUATORS.create(name, space, config, run_dir=run_dir, **kwargs)

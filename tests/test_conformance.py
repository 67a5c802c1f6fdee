"""The conformance suites of :mod:`nas.testing` over every registered space, strategy and evaluator.

Parametrized from the registries (after :func:`nas.registry.load_plugins`), plus the test-only
toy plugin (``tests/toy_plugin.py``), the one-file plugin space (``tests/plugin_space.py``) and
the space files shipped as examples (``search_spaces/examples/*.yaml``).
A combination is skipped, with the reason, only where it cannot run: a strategy that refuses a
space at construction (e.g. compound scaling outside ``mbconv``), a space without a model for
the model checks, a one-shot strategy for the ask/tell checks (``OneShotConformance`` covers
one-shot methods, in tests/test_oneshot_contract.py).
"""
from __future__ import annotations

from pathlib import Path

import pytest

import tests.plugin_space  # noqa: F401  (registers the one-file plugin space)
import tests.toy_plugin  # noqa: F401  (registers the toy space and evaluator)
from nas.config import SearchConfig
from nas.errors import NasError
from nas.registry import EVALUATORS, SPACES, STRATEGIES, load_plugins
from nas.testing import (EvaluatorConformance, SpaceConformance, StrategyConformance, registered_evaluator,
                         registered_strategy)

REPO = Path(__file__).resolve().parents[1]
load_plugins()
#: the space files shipped as examples (search_spaces/examples/*.yaml) register like any space file
EXAMPLE_SPACES = [SPACES.resolve(str(p)) for p in sorted((REPO / "search_spaces" / "examples").glob("*.yaml"))]
SPACE_NAMES = SPACES.names()
STRATEGY_NAMES = STRATEGIES.names()
#: evaluator -> the space it is checked on (tabular answers only NAS-Bench-201 cells; toy only toy bit strings)
EVALUATOR_SPACES = {"tabular": "nb201", "toy": "toy"}
#: evaluator -> its options in the checks (toy: a simulated cost per trial, as its simulated_time declares)
EVALUATOR_OPTIONS = {"toy": {"cost": 2.0}}


def test_the_registries_hold_the_first_party_and_plugin_entries():
    assert {"nasnet", "darts", "nb201", "mbconv", "toy", "plugin-ladder"} <= set(SPACE_NAMES)
    assert len(EXAMPLE_SPACES) >= 2 and set(EXAMPLE_SPACES) <= set(SPACE_NAMES)
    assert {"random", "evolution", "rl", "tpe", "darts", "scaling"} <= set(STRATEGY_NAMES)
    assert {"local", "ray", "tabular", "toy"} <= set(EVALUATORS.names())


class TestSpaces(SpaceConformance):
    @pytest.fixture(params=SPACE_NAMES)
    def space(self, request):
        return SPACES.create(request.param)


class TestStrategies(StrategyConformance):
    @pytest.fixture(params=STRATEGY_NAMES)
    def make_strategy(self, request, space):
        make = registered_strategy(request.param)
        try:
            make(space, 0)
        except NasError as e:
            pytest.skip(f"strategy {request.param!r} refuses space {space.name!r}: {e}")
        return make

    @pytest.fixture(params=SPACE_NAMES)
    def space(self, request):
        return SPACES.create(request.param)


def _evaluator_param(name: str):
    marks = [pytest.mark.ray, pytest.mark.slow] if name == "ray" else []
    return pytest.param(name, marks=marks, id=name)


@pytest.fixture(scope="module")
def ray_instance():
    """One private local Ray instance for the ray evaluator's checks (the evaluator uses the connection)."""
    from tests.ray_helpers import local_instance

    with local_instance(num_cpus=2):
        yield


class TestEvaluators(EvaluatorConformance):
    @pytest.fixture(params=[_evaluator_param(n) for n in EVALUATORS.names()])
    def evaluator_name(self, request):
        if request.param == "ray":
            pytest.importorskip("ray")
            request.getfixturevalue("ray_instance")
        return request.param

    @pytest.fixture
    def space(self, evaluator_name):
        return SPACES.create(EVALUATOR_SPACES.get(evaluator_name, "nb201"))

    @pytest.fixture
    def config(self, evaluator_name):
        return SearchConfig(space=EVALUATOR_SPACES.get(evaluator_name, "nb201"), evaluator=evaluator_name,
                            evaluator_options=EVALUATOR_OPTIONS.get(evaluator_name, {}), dataset="digits",
                            epochs=1, batch_size=128, device="cpu", budget=2, seed=0)

    @pytest.fixture
    def make_evaluator(self, evaluator_name):
        return registered_evaluator(evaluator_name)

"""Conformance suites for plugin authors, in the manner of ``optuna.testing``.

Each class is a set of pytest tests of one contract; subclass it in a test module (the name
must start with ``Test`` for pytest to collect it) and provide the object under test through
a fixture:

* :class:`SpaceConformance` (``space``): the :class:`~search_spaces.base.SearchSpace` contract;
* :class:`StrategyConformance` (``make_strategy``): the ask/tell contract of
  :class:`~strategies.base.Strategy`;
* :class:`EvaluatorConformance` (``make_evaluator``): the :class:`~evaluators.base.Evaluator`
  contract;
* :class:`OneShotConformance` (``method``): the one-shot method contract of
  :class:`~strategies.oneshot.base.OneShotMethod` (supernet, runner, derivation).

::

    import pytest
    from nas.testing import SpaceConformance

    class TestMySpace(SpaceConformance):
        @pytest.fixture
        def space(self):
            return MySpace()

The project runs these suites over every registered space, strategy and evaluator
(``tests/test_conformance.py``) and one-shot method (``tests/test_oneshot_contract.py``). Importing this package imports pytest; ``import nas`` does not
import it.
"""
from __future__ import annotations

from nas.testing.evaluators import EvaluatorConformance, registered_evaluator
from nas.testing.oneshot import OneShotConformance
from nas.testing.spaces import SpaceConformance
from nas.testing.strategies import StrategyConformance, registered_strategy

__all__ = ["EvaluatorConformance", "OneShotConformance", "SpaceConformance", "StrategyConformance",
           "registered_evaluator", "registered_strategy"]

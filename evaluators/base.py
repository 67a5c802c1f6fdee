"""The :class:`Evaluator` contract: how the driver gets proposals evaluated.

The driver (:mod:`nas.app.driver`) submits proposals and polls for finished results;
evaluators never call strategies (the split of Zoph & Le, ICLR 2017, §3.3 and Real et al.,
AAAI 2019, §3: a controller proposes, workers train). Everything the driver and the
launcher rely on is declared here, so neither reads an evaluator with ``getattr``:

``__init__(space, config, *, run_dir=None, ...)``
    Every registered evaluator is created by ``EVALUATORS.create(name, space, config,
    run_dir=...)`` (see :func:`nas.app.launch.assemble`): ``space`` is a space instance (a
    registered name is also accepted), ``config`` the :class:`~nas.config.SearchConfig` whose
    ``evaluator_options`` it reads, ``run_dir`` the run directory (``None``: in memory, e.g.
    ``nas bench``). Further keyword-only parameters are allowed. The constructor validates
    its options (``ConfigError``) but does no slow work.
:meth:`check`
    Called once, eagerly, before anything is written: load the data, reach the cluster,
    open the table. Raises a :class:`~nas.errors.NasError` (CLI exit code 2) on bad input.
:attr:`simulated_time`
    Whether ``Result.cost`` is simulated time (a tabular benchmark): the driver then measures
    ``time_budget`` in summed costs. Otherwise ``time_budget`` is wall time.
:meth:`capacity`
    How many trials can usefully run at once: the default ``--max-concurrent``.
:meth:`submit` / :meth:`results`
    A trial that diverges, runs out of memory or times out is a ``Result`` with status
    ``failed``/``timeout`` and an ``error`` reason, never an exception out of ``results``.
:meth:`shutdown` / :meth:`describe`
    Release workers (idempotent); a JSON-able summary for the run record.

:class:`nas.testing.EvaluatorConformance` checks all of this for a given evaluator.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

from nas.types import Proposal, Result


def resolve_space(space: Any) -> Any:
    """A space instance: ``space`` itself, or the registered space of that name."""
    if isinstance(space, str):
        from nas.zoo import get_space

        return get_space(space)
    return space


class Evaluator(ABC):
    """Base class of every registered evaluator (see the module docstring)."""

    name: ClassVar[str] = "evaluator"
    #: True when ``Result.cost`` is simulated time (a tabular benchmark): the driver then
    #: measures ``time_budget`` in summed costs and drops the result that would exceed it.
    #: False: ``time_budget`` is wall time, whatever ``cost`` says.
    simulated_time: ClassVar[bool] = False

    def __init__(self, space: Any, config: Any, *, run_dir: str | Path | None = None) -> None:
        self.space = resolve_space(space)
        self.config = config
        self.run_dir = None if run_dir is None else Path(run_dir)

    def check(self) -> Any:
        """Validate data, cluster and options now, before the run directory is written.

        Raises a :class:`~nas.errors.NasError`; returns an optional description of what was
        checked. The default checks nothing.
        """
        return None

    @abstractmethod
    def submit(self, proposal: Proposal) -> None:
        """Queue a proposal for evaluation."""

    @abstractmethod
    def results(self, timeout: float | None = None) -> list[tuple[str, Result]]:
        """Trials finished since the last call; waits up to ``timeout`` seconds for one."""

    def capacity(self) -> int:
        """How many trials can usefully run at once (default for ``--max-concurrent``)."""
        return 1

    def shutdown(self) -> None:
        """Release workers; idempotent."""

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary (name and settings) of this evaluator."""
        return {"name": self.name}

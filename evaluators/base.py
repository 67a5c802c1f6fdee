"""The :class:`Evaluator` contract (DESIGN §3).

The driver submits proposals and polls for finished results; evaluators never
call strategies. A trial that diverges, runs out of memory or times out is a
``Result`` with ``status`` ``failed``/``timeout`` and an ``error`` reason, never an
exception out of ``results``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from nas.types import Proposal, Result


class Evaluator(ABC):
    name: str = "evaluator"
    #: True when ``Result.cost`` is simulated time (a tabular benchmark): the driver then
    #: measures ``time_budget`` in summed costs and drops the result that would exceed it.
    #: False: ``time_budget`` is wall time, whatever ``cost`` says.
    simulated_time: bool = False

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
        return {"name": self.name}

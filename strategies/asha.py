"""ASHA, asynchronous successive halving: Li et al., MLSys 2020, Algorithm 2.

Rungs ``k = 0..K`` (``K = s_max = floor(log_eta(max_epochs / min_epochs))``, early-stopping
rate 0) train to ``max_epochs * eta^(k - K)`` epochs (integer, at least ``min_epochs``, the
top rung is ``max_epochs``). Whenever a worker is free, ``get_job`` looks from the highest
rung below the top down to rung 0 for a configuration that is among the best
``floor(|rung k| / eta)`` results of its rung and not yet promoted, and promotes the first it
finds (the best of those) one rung up, continued from its checkpoint. If there is none, a new
configuration starts at rung 0. So :meth:`ask` never waits for a rung to fill: it always has a
proposal, which keeps many (Ray) workers busy. Failed results are never promoted.

Options: ``eta`` (3), ``min_epochs`` (1), ``max_epochs`` (9; the learning-rate schedule of every
trial), ``sampler`` (``random``; any ask/tell strategy). Every rung result counts as one trial of
the search budget.
"""
from __future__ import annotations

import math
from typing import Any

from nas.types import Proposal, Result
from strategies._brackets import MultiFidelity, rung_budget, top_k


class ASHA(MultiFidelity):
    """Asynchronous successive halving (Li et al., MLSys 2020); options in the module docstring."""

    name = "asha"

    def _init_schedule(self) -> None:
        self.budgets = [rung_budget(self.eta, self.min_epochs, self.max_epochs, self.s_max - k)
                        for k in range(self.s_max + 1)]
        # per rung: the (lineage, score) results in arrival order, and the lineages promoted out of it
        self.rungs: list[list[tuple[str, float | None]]] = [[] for _ in self.budgets]
        self.promoted: list[set[str]] = [set() for _ in self.budgets]

    def ask(self) -> Proposal | None:
        found = self._promotable()
        if found is not None:
            k, lineage = found
            self.promoted[k].add(lineage)
            return self._promote(lineage, self.budgets[k + 1], {"rung": k + 1})
        return self._fresh(self.budgets[0], {"origin": "asha", "rung": 0})

    def _promotable(self) -> tuple[int, str] | None:
        """``get_job``'s promotion: (rung, lineage) of the best unpromoted top-``1/eta`` result, highest rung first."""
        for k in range(len(self.budgets) - 2, -1, -1):
            rung = self.rungs[k]
            for lineage in top_k(rung, int(math.floor(len(rung) / self.eta + 1e-9))):
                if lineage not in self.promoted[k]:
                    return k, lineage
        return None

    def _can_promote(self) -> bool:
        return self._promotable() is not None

    def _told(self, lineage: str, budget: int, score: float | None, result: Result) -> None:
        self.rungs[self.budgets.index(budget)].append((lineage, score))

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rungs": [[[lid, s] for lid, s in r] for r in self.rungs],
                "promoted": [sorted(p) for p in self.promoted]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.rungs = [[(str(lid), None if s is None else float(s)) for lid, s in r] for r in state["rungs"]]
        self.promoted = [set(p) for p in state["promoted"]]

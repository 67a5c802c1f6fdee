"""Hyperband, Li et al., JMLR 2018, Algorithm 1: brackets of successive halving over epochs.

With ``R = max_epochs / min_epochs`` and ``s_max = floor(log_eta R)``, Hyperband loops over
brackets ``s = s_max, s_max - 1, ..., 0`` (and then starts over). Bracket ``s`` draws
``n = ceil((s_max + 1) / (s + 1) * eta^s)`` new configurations and runs successive halving:
rung ``i`` (``i = 0..s``) trains ``n_i = floor(n * eta^-i)`` configurations to
``r_i = max_epochs * eta^(i - s)`` epochs (integer epochs, at least ``min_epochs``; see
:mod:`strategies._brackets`) and keeps the ``floor(n_i / eta)`` best for rung ``i + 1``. A kept
configuration is *promoted*: continued from its checkpoint, never retrained.

As in the paper, successive halving is synchronous: a rung's survivors are chosen once all its
results are in, so :meth:`ask` returns ``None`` while a rung is still being evaluated (``asha``
is the asynchronous variant that keeps every worker busy). Failed trials are never promoted.
A bracket whose rung keeps nobody (``floor(n_i / eta) == 0`` or every result failed) ends.

Options: ``eta`` (3), ``min_epochs`` (1), ``max_epochs`` (9; the length of the learning-rate
schedule of every trial, so the search's ``--epochs`` is not used), ``sampler`` (``random``;
any ask/tell strategy: ``evolution``, ``tpe``, ...). Every rung result counts as one trial of
the search budget.
"""
from __future__ import annotations

import math
from typing import Any

from nas.types import Proposal, Result
from strategies._brackets import MultiFidelity, rung_budget, top_k


class Hyperband(MultiFidelity):
    """Hyperband (Li et al., JMLR 2018) with promotion from checkpoints; options in the module docstring."""

    name = "hyperband"

    def _init_schedule(self) -> None:
        self.n_brackets = 0  # brackets started so far
        # the bracket in progress: {"s", "n", "rung", "queue": [lineage | None], "members": [lineage]}
        self.bracket: dict[str, Any] | None = None

    # -- the paper's schedule ---------------------------------------------------------------------
    def bracket_size(self, s: int) -> int:
        """``n = ceil((s_max + 1) / (s + 1) * eta^s)``, the configurations bracket ``s`` starts with."""
        return int(math.ceil((self.s_max + 1) / (s + 1) * self.eta ** s - 1e-9))

    def rung_size(self, n: int, i: int) -> int:
        """``n_i = floor(n * eta^-i)``."""
        return int(math.floor(n * self.eta ** (-i) + 1e-9))

    def budget_of(self, s: int, i: int) -> int:
        return rung_budget(self.eta, self.min_epochs, self.max_epochs, s - i)

    def _start_bracket(self) -> None:
        s = self.s_max - self.n_brackets % (self.s_max + 1)
        self.n_brackets += 1
        n = self.bracket_size(s)
        self.bracket = {"s": s, "n": n, "rung": 0, "queue": [None] * n, "members": []}

    # -- ask / tell -------------------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        for _ in range(self.s_max + 3):  # at most one pass over the brackets without a proposal
            if self.bracket is None:
                if self.exhausted:  # no new configuration left to start a bracket with
                    return None
                self._start_bracket()
            b = self.bracket
            assert b is not None
            budget = self.budget_of(b["s"], b["rung"])
            where = {"bracket": self.n_brackets - 1, "s": b["s"], "rung": b["rung"]}
            if b["queue"]:
                lineage = b["queue"].pop(0)
                if lineage is None:
                    p = self._fresh(budget, {"origin": "hyperband", **where})
                    if p is not None:
                        b["members"].append(p.id)
                        return p
                    b["queue"] = [q for q in b["queue"] if q is not None]  # the space is used up
                    continue
                b["members"].append(lineage)
                return self._promote(lineage, budget, where)
            if any(str(budget) not in self.lineages[m]["results"] for m in b["members"]):
                return None  # synchronous successive halving: wait for the rung to fill
            self._next_rung(b, budget)
        return None

    def _next_rung(self, b: dict[str, Any], budget: int) -> None:
        """All results of the current rung are in: keep the top ``floor(n_i / eta)``, or end the bracket."""
        i = b["rung"]
        n_i = len(b["members"])
        keep = top_k([(m, self.score_of(m, budget)) for m in b["members"]], int(math.floor(n_i / self.eta + 1e-9)))
        if i >= b["s"] or not keep:
            self.bracket = None
            return
        b["rung"], b["queue"], b["members"] = i + 1, list(keep), []

    def _told(self, lineage: str, budget: int, score: float | None, result: Result) -> None:
        pass  # ask() reads the results of the rung in progress

    def _can_promote(self) -> bool:
        return self.bracket is not None and (bool(self.bracket["queue"]) or bool(self.bracket["members"]))

    # -- state --------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        b = self.bracket
        return {**super().state_dict(), "n_brackets": self.n_brackets,
                "bracket": None if b is None else {**b, "queue": list(b["queue"]), "members": list(b["members"])}}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.n_brackets = int(state["n_brackets"])
        b = state["bracket"]
        self.bracket = None if b is None else {"s": int(b["s"]), "n": int(b["n"]), "rung": int(b["rung"]),
                                               "queue": list(b["queue"]), "members": list(b["members"])}

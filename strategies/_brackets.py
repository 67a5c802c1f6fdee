"""What the multi-fidelity strategies share: rung budgets, option checks, lineages, promotions.

Successive halving (Jamieson & Talwalkar, AISTATS 2016) as used by Hyperband (Li et al., JMLR
2018, Algorithm 1), BOHB (Falkner et al., ICML 2018) and ASHA (Li et al., MLSys 2020,
Algorithm 2) evaluates many configurations with a small budget and continues the best ones
with ``eta`` times more. Here a budget is a number of training epochs, and continuing a
configuration is a *promotion*: a :class:`~nas.types.Proposal` of the same ``lineage`` (so the
same seed and checkpoint) with a higher ``budget``, which the trainer continues from the
checkpoint the previous rung left (never a retraining). Every rung result is its own trial in
the journal.

Budgets are integer epochs: with ``s_max = floor(log_eta(max_epochs / min_epochs))`` rung
``i`` of a bracket with ``s`` halvings trains to ``max(min_epochs, floor(max_epochs *
eta^(i - s)))``, so the top rung is always ``max_epochs`` (1, 3, 9 for the defaults). Every
proposal sets ``config["epochs"] = max_epochs``: the learning-rate schedule is defined on the
maximum budget, and a rung stops part-way through it (what makes promotion exact).

New configurations come from a *sampler*, any ask/tell strategy of
:data:`nas.registry.STRATEGIES` (``random`` by default, ``evolution``, ``tpe``, ...); the
sampler is told the result of each configuration's first rung. A warm start
(:meth:`Strategy.warm_start`) seeds the sampler, so the seeds are the first new configurations
(journaled with ``info.sampled = "warm_start"``); a strategy without a sampler (BOHB) draws
them first itself.
"""
from __future__ import annotations

import math
from typing import Any, ClassVar, Sequence

from nas.arch import Architecture
from nas.errors import ConfigError
from nas.objectives import Objective
from nas.types import DEFAULT_RUNNER, Proposal, Result
from search_spaces.base import SearchSpace
from strategies._util import float_option, int_option
from strategies.base import Strategy

#: attempts at getting an unseen architecture from the sampler before the space counts as exhausted
MAX_SAMPLER_TRIES = 50


def check_fidelity(name: str, eta: Any, min_epochs: Any, max_epochs: Any) -> tuple[float, int, int]:
    """``(eta, min_epochs, max_epochs)`` checked: eta >= 2, integer epochs >= 1, min <= max (else ConfigError)."""
    eta_f = float_option(name, "eta", eta, 2.0, finite=True)
    lo = int_option(name, "min_epochs", min_epochs)
    hi = int_option(name, "max_epochs", max_epochs)
    if lo > hi:
        raise ConfigError(f"strategy {name!r}: option 'min_epochs' ({lo}) must be <= 'max_epochs' ({hi})")
    assert eta_f is not None
    return eta_f, lo, hi


def max_halvings(eta: float, min_epochs: int, max_epochs: int) -> int:
    """``s_max = floor(log_eta(max / min))`` (a tiny tolerance keeps exact powers exact)."""
    return int(math.floor(math.log(max_epochs / min_epochs) / math.log(eta) + 1e-9))


def rung_budget(eta: float, min_epochs: int, max_epochs: int, halvings_left: int) -> int:
    """The epochs of a rung ``halvings_left`` promotions below the top: ``max * eta^-k``, at least ``min``."""
    return max(min_epochs, int(math.floor(max_epochs * eta ** (-halvings_left) + 1e-9)))


class MultiFidelity(Strategy):
    """Base of ``hyperband``, ``bohb`` and ``asha``: lineages, proposals, the sampler, state.

    Subclasses implement :meth:`ask` / :meth:`_told` using :meth:`_fresh` (a new configuration
    at a budget) and :meth:`_promote` (a lineage continued to a higher budget).
    """

    #: takes the fidelity options ``eta``, ``min_epochs`` and ``max_epochs`` (``nas bench`` sets them
    #: from the fidelities of the table)
    multi_fidelity: ClassVar[bool] = True
    #: the seeds go to the sampler (which must support them) or, without one, to the subclass's model
    supports_warm_start = True

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None,
                 eta: Any = 3, min_epochs: Any = 1, max_epochs: Any = 9, sampler: Any = "random") -> None:
        super().__init__(space, seed=seed, objective=objective)
        self.eta, self.min_epochs, self.max_epochs = check_fidelity(self.name, eta, min_epochs, max_epochs)
        self.s_max = max_halvings(self.eta, self.min_epochs, self.max_epochs)
        self.sampler_name = sampler
        self.sampler = self._make_sampler(sampler)
        # lineage id -> {"arch", "results": {str(budget): score | None}, "sampler_id"}
        self.lineages: dict[str, dict[str, Any]] = {}
        # asked, not yet told: proposal id -> {"lineage", "budget"}
        self.pending: dict[str, dict[str, Any]] = {}
        self.seen: set[str] = set()
        self.exhausted = False
        self._init_schedule()

    def _init_schedule(self) -> None:
        """The subclass's own state, set up once the options above are checked (none here)."""

    # -- the sampler ------------------------------------------------------------------------
    def _make_sampler(self, sampler: Any) -> Strategy | None:
        if sampler is None:
            return None
        from nas.registry import STRATEGIES

        if not isinstance(sampler, str) or sampler not in STRATEGIES.names():
            raise ConfigError(f"strategy {self.name!r}: option 'sampler' must be one of "
                              f"{', '.join(STRATEGIES.names())}, got {sampler!r}")
        cls = STRATEGIES.get(sampler)
        if issubclass(cls, MultiFidelity) or getattr(cls, "trial_runner", DEFAULT_RUNNER) != DEFAULT_RUNNER:
            raise ConfigError(f"strategy {self.name!r}: option 'sampler' must be an ask/tell strategy that "
                              f"proposes architectures, not {sampler!r}")
        return STRATEGIES.create(sampler, self.space, seed=self.seed, objective=self.objective)

    def check_warm_start(self) -> None:
        super().check_warm_start()
        if self.sampler is not None and not self.sampler.supports_warm_start:
            raise ConfigError(f"strategy {self.name!r} with sampler {self.sampler_name!r} cannot be warm-started: "
                              f"strategy {self.sampler_name!r} takes no seeds")

    def warm_start(self, archs: Sequence[Architecture]) -> None:
        super().warm_start(archs)
        if self.sampler is not None:  # the sampler proposes the new configurations, so it gets the seeds
            self.sampler.warm_start(self.seeds)
            self.seeds = []

    def _sample(self, budget: int) -> tuple[Architecture, dict[str, Any], str | None] | None:
        """A configuration never proposed before: ``(arch, info, sampler proposal id)``, or None."""
        for _ in range(MAX_SAMPLER_TRIES):
            if self.sampler is None:
                got = self._model_sample(budget)
                if got is None:
                    return None
                arch, info, sid = got[0], got[1], None
            else:
                p = self.sampler.ask()
                if p is None or p.arch is None:
                    return None
                arch, info, sid = p.arch, {"sampler": self.sampler_name, **p.info}, p.id
                if p.info.get("origin") == "warm_start":  # "origin" is overwritten by the rung's
                    info["sampled"] = "warm_start"
            if arch.key not in self.seen:
                return arch, info, sid
            if sid is not None:  # the sampler's own duplicate: tell it the first result we have
                self.sampler.tell(sid, Result("failed", error="duplicate of an earlier configuration"))
        return None

    def _model_sample(self, budget: int) -> tuple[Architecture, dict[str, Any]] | None:
        """A subclass without a sampler (BOHB) proposes from its own model."""
        raise NotImplementedError

    # -- proposals ------------------------------------------------------------------------------
    def _fresh(self, budget: int, info: dict[str, Any]) -> Proposal | None:
        """A new configuration trained to ``budget`` (its own lineage), or None when none is left."""
        got = None if self.exhausted else self._sample(budget)
        if got is None:
            self.exhausted = True  # no new configuration is left; promotions may still be
            return None
        arch, sinfo, sid = got
        self.seen.add(arch.key)
        pid = self.new_id()
        self.lineages[pid] = {"arch": arch, "results": {}, "sampler_id": sid}
        self.pending[pid] = {"lineage": pid, "budget": budget}
        return Proposal(pid, arch, config={"epochs": self.max_epochs}, info={**sinfo, **info, "rung_epochs": budget},
                        budget=budget)

    def _promote(self, lineage: str, budget: int, info: dict[str, Any]) -> Proposal:
        """Continue ``lineage`` from its highest finished rung to ``budget`` epochs."""
        entry = self.lineages[lineage]
        done = max((int(b) for b in entry["results"]), default=0)
        pid = self.new_id()
        self.pending[pid] = {"lineage": lineage, "budget": budget}
        return Proposal(pid, entry["arch"], config={"epochs": self.max_epochs},
                        info={"origin": "promotion", "promotes": lineage, **info, "rung_epochs": budget},
                        budget=budget, lineage=lineage, from_budget=done)

    # -- tell ---------------------------------------------------------------------------------------
    def tell(self, proposal_id: str, result: Result) -> None:
        entry = self.pending.pop(proposal_id, None)
        if entry is None:
            return
        lineage, budget = entry["lineage"], int(entry["budget"])
        score = self.objective.score(result)
        rec = self.lineages[lineage]
        first = not rec["results"]
        rec["results"][str(budget)] = None if score is None else float(score)
        if first and self.sampler is not None and rec["sampler_id"] is not None:
            self.sampler.tell(rec["sampler_id"], result)
        self._told(lineage, budget, None if score is None else float(score), result)

    def _told(self, lineage: str, budget: int, score: float | None, result: Result) -> None:
        """Subclass hook: the rung result of ``lineage`` at ``budget`` arrived."""

    def score_of(self, lineage: str, budget: int) -> float | None:
        return self.lineages[lineage]["results"].get(str(budget))

    def done(self) -> bool:
        """No new configuration is left, no result is pending and no promotion can follow."""
        return self.exhausted and not self.pending and not self._can_promote()

    def _can_promote(self) -> bool:
        """Subclass hook: whether a promotion may still be proposed."""
        return False

    # -- state ------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "options": {"eta": self.eta, "min_epochs": self.min_epochs, "max_epochs": self.max_epochs,
                        "sampler": self.sampler_name},
            "lineages": {lid: {"arch": e["arch"].to_dict(), "results": dict(e["results"]),
                               "sampler_id": e["sampler_id"]} for lid, e in self.lineages.items()},
            "pending": {pid: dict(p) for pid, p in self.pending.items()},
            "seen": sorted(self.seen),
            "exhausted": self.exhausted,
            "sampler": None if self.sampler is None else self.sampler.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.lineages = {lid: {"arch": Architecture.from_dict(e["arch"]), "results": dict(e["results"]),
                               "sampler_id": e["sampler_id"]} for lid, e in state["lineages"].items()}
        self.pending = {pid: {"lineage": str(p["lineage"]), "budget": int(p["budget"])}
                        for pid, p in state["pending"].items()}
        self.seen = set(state["seen"])
        self.exhausted = bool(state["exhausted"])
        if self.sampler is not None:
            self.sampler.load_state_dict(state["sampler"])


def top_k(scored: list[tuple[str, float | None]], k: int) -> list[str]:
    """The ids of the ``k`` best ok results (failed ones never); ties: the earlier first."""
    ok = [(i, lid, s) for i, (lid, s) in enumerate(scored) if s is not None]
    ok.sort(key=lambda t: (-t[2], t[0]))
    return [lid for _, lid, _ in ok[:max(0, k)]]

"""Regularized (aging) evolution, Real et al. AAAI 2019, Algorithm 1 ("Aging Evolution").

Algorithm 1, as implemented here:

1. Fill the population with ``P`` random architectures.
2. Each cycle: draw ``S`` members uniformly **with replacement** (they stay in the
   population); the best of that sample by ``objective.score`` is the parent; the child is
   ``space.mutate(parent)`` (one hidden-state or op mutation, Real et al. 2019, "Methods Details").
3. When the child's result arrives, it joins the population on the right and the **oldest**
   member (left) dies (``aging=True``). With ``aging=False`` (``--no-aging``, the standard
   tournament baseline of the paper) the **worst member of the child's tournament sample**
   dies instead.

Warm start (:meth:`Strategy.warm_start`): the seeds are proposed first and make the initial
population (with random samples when there are fewer than ``P``); of more than ``P`` seeds only
the first (best) ``P`` are used: later ones would age the best out of the population.

Asynchronous workers (the paper distributes the cycle loop over workers): proposals are
made while earlier ones are still being evaluated. Random proposals still pending count
towards filling the initial population; once ``P`` are proposed, children are mutated from
the members whose results are in. If the population is still empty (every initial result
pending, more free workers than ``P``), another random architecture is proposed rather than
leaving the worker idle. With ``aging=False`` a sample member may have died before the child
returns; then the worst of the surviving sample members dies, or the worst of the whole
population if none survive.

Choices where the paper is silent (documented deviations):

* **Failed trials** (score ``None``: diverged, timed out, missing metric) never enter the
  population, so they can never be parents and do not push out a living member; they count
  as evaluated (history) only.
* **Deduplication**: a child whose canonical key was already proposed is re-mutated from
  the same parent (up to ``max_tries`` times), then replaced by a random unseen sample, so a
  seen architecture is never proposed twice. If that also fails the space is exhausted.

Defaults: ``P=10`` as in NAS-Bench-201's REA (Dong & Yang, ICLR 2020) and ``S=P`` (a tournament
as large as the population), which ``nas bench`` found better on NAS-Bench-201 than that
paper's ``S=3`` (BENCHMARKS.md); Real et al.'s CIFAR search used ``P=100, S=25``.
"""
from __future__ import annotations

from collections import deque
from typing import Any

from nas.arch import Architecture
from nas.errors import ConfigError
from nas.objectives import Objective
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies._util import bool_option, describe_change, encoding, int_option, sample_unseen, space_decisions
from strategies.base import Strategy


class RegularizedEvolution(Strategy):
    """Regularized (aging) evolution with tournament selection, Real et al. 2019.

    Options: ``population`` (P, default 10), ``sample_size`` (S, 1 <= S <= P; default null = P:
    a tournament as large as the population, drawn with replacement, which beat NAS-Bench-201's
    S = 3 on that benchmark, see BENCHMARKS.md; Real et al., AAAI 2019, used 2 <= S <= P),
    ``aging`` (default true; false removes the worst of the tournament sample instead of the
    oldest), ``max_tries`` (re-mutations/samples before giving up on finding an unseen
    architecture, default 50).
    """

    name = "evolution"
    supports_warm_start = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        objective: Objective | None = None,
        population: int = 10,
        sample_size: int | None = None,
        aging: bool = True,
        max_tries: int = 50,
    ) -> None:
        super().__init__(space, seed=seed, objective=objective)
        self.population_size = int_option(self.name, "population", population)
        self.sample_size = int_option(self.name, "sample_size",
                                      self.population_size if sample_size is None else sample_size)
        if self.sample_size > self.population_size:
            raise ConfigError(
                f"strategy 'evolution': option 'sample_size' ({sample_size}) must be <= 'population' ({population})"
            )
        self.aging = bool_option(self.name, "aging", aging)
        self.max_tries = int_option(self.name, "max_tries", max_tries)
        # members: {"id", "arch", "score"} (+ "enc": space.encode(arch) once known), oldest on the left
        self.population: deque[dict[str, Any]] = deque()
        # asked, not yet told: id -> {"arch", "origin", "sample": [member ids] | None} (+ "enc" for mutations)
        self.pending: dict[str, dict[str, Any]] = {}
        # computed once: describing a mutation is then a diff of two cached encodings
        self.decisions = space_decisions(space)
        self.seen: set[str] = set()
        self.history = 0
        self.n_failed = 0
        self.exhausted = False

    # -- ask --------------------------------------------------------------------------
    def warm_start(self, archs: Any) -> None:
        super().warm_start(archs)
        del self.seeds[self.population_size:]  # see the module docstring

    def ask(self) -> Proposal | None:
        if self.exhausted:
            return None
        seeded = self.take_seed(self.seen)
        if seeded is not None:  # counts as a member of the initial population, like a random sample
            return self._propose(seeded, "random", {"origin": "warm_start"}, None)
        n_random_pending = sum(1 for p in self.pending.values() if p["origin"] == "random")
        if not self.population or len(self.population) + n_random_pending < self.population_size:
            return self._random({"origin": "random"})
        pop = self.population
        sample = [pop[self.rng.randrange(len(pop))] for _ in range(self.sample_size)]
        parent = sample[0]
        for m in sample[1:]:  # the first best wins ties
            if m["score"] > parent["score"]:
                parent = m
        sample_ids = sorted({m["id"] for m in sample})
        for _ in range(self.max_tries):
            child = self.space.mutate(parent["arch"], self.rng)
            if child.key not in self.seen:
                enc = None if self.decisions is None else encoding(self.space, child)
                info = {"origin": "mutation", "parent": parent["id"],
                        "mutation": describe_change(self.decisions, self._encoding(parent), enc)}
                return self._propose(child, "mutation", info, sample_ids, {"enc": enc})
        return self._random({"origin": "random", "reason": f"mutations of {parent['id']} were all seen"},
                            sample_ids)

    def _random(self, info: dict[str, Any], sample_ids: list[str] | None = None) -> Proposal | None:
        arch = sample_unseen(self.space, self.rng, self.seen, self.max_tries)
        if arch is None:
            self.exhausted = True
            return None
        return self._propose(arch, "random", info, sample_ids)

    def _propose(self, arch: Architecture, origin: str, info: dict[str, Any],
                 sample_ids: list[str] | None, extra: dict[str, Any] | None = None) -> Proposal:
        self.seen.add(arch.key)
        pid = self.new_id()
        self.pending[pid] = {"arch": arch, "origin": origin, "sample": sample_ids, **(extra or {})}
        return Proposal(pid, arch, info=info)

    def _encoding(self, member: dict[str, Any]) -> list[int] | None:
        """The member's ``space.encode`` (None: not encodable), computed at most once per member."""
        if "enc" not in member:
            member["enc"] = None if self.decisions is None else encoding(self.space, member["arch"])
        return member["enc"]

    # -- tell ---------------------------------------------------------------------------
    def tell(self, proposal_id: str, result: Result) -> None:
        entry = self.pending.pop(proposal_id, None)
        if entry is None:
            return
        self.history += 1
        score = self.objective.score(result)
        if score is None:  # failed: never a parent, kills nobody
            self.n_failed += 1
            return
        member = {"id": proposal_id, "arch": entry["arch"], "score": float(score)}
        if "enc" in entry:  # a mutation's encoding, computed when it was described
            member["enc"] = entry["enc"]
        self.population.append(member)
        if len(self.population) > self.population_size:
            self._remove(entry["sample"])

    def _remove(self, sample_ids: list[str] | None) -> None:
        if self.aging:
            self.population.popleft()  # the oldest
            return
        ids = set(sample_ids or ())
        candidates = [m for m in self.population if m["id"] in ids] or list(self.population)
        worst = candidates[0]
        for m in candidates[1:]:  # the oldest of equally bad members dies
            if m["score"] < worst["score"]:
                worst = m
        self.population.remove(worst)

    def done(self) -> bool:
        return self.exhausted

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "population": [{"id": m["id"], "arch": m["arch"].to_dict(), "score": m["score"]}
                           for m in self.population],
            "pending": {pid: {"arch": p["arch"].to_dict(), "origin": p["origin"], "sample": p["sample"]}
                        for pid, p in self.pending.items()},
            "seen": sorted(self.seen),
            "history": self.history,
            "n_failed": self.n_failed,
            "exhausted": self.exhausted,
            "options": {"population": self.population_size, "sample_size": self.sample_size,
                        "aging": self.aging},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.population = deque(
            {"id": m["id"], "arch": Architecture.from_dict(m["arch"]), "score": float(m["score"])}
            for m in state["population"]
        )
        self.pending = {
            pid: {"arch": Architecture.from_dict(p["arch"]), "origin": p["origin"], "sample": p["sample"]}
            for pid, p in state["pending"].items()
        }
        self.seen = set(state["seen"])
        self.history = int(state["history"])
        self.n_failed = int(state["n_failed"])
        self.exhausted = bool(state["exhausted"])

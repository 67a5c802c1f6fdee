"""Local search (hill climbing with restarts) over the space's mutation neighbourhood.

White, Nolen, Nolen & Savani, "Local search is state of the art for neural architecture search
benchmarks" (2021), Algorithm 1: start from a random architecture, evaluate its neighbourhood,
move to the best neighbour while it improves, and restart from random when none does (a local
optimum). As implemented here:

1. **Start**: ``n_init`` uniformly random architectures; the best of them by ``objective.score``
   is the current architecture (White et al. start from one; the best of a few random samples is
   the common NASLib variant).
2. **Neighbourhood**: ``space.neighbours(arch)`` where a space offers it, else the distinct
   architectures found in ``max_tries`` draws of ``space.mutate(arch)`` (for NB201: every one-edge
   change, 24 cells). Neighbours are evaluated in a seeded random order.
3. **Move**: with ``first_improvement`` (default true) the search moves as soon as a neighbour beats
   the current architecture (the "first improvement" variant of the paper's §3, far cheaper per
   step on large neighbourhoods); otherwise when the whole neighbourhood is in, to its best member
   if that beats the current one (the paper's Algorithm 1).
4. **Restart**: when a neighbourhood holds nothing better, the current architecture is a local
   optimum and the search starts again from step 1.

Warm start (:meth:`Strategy.warm_start`): the seeds replace the first start's random samples
(that start evaluates ``max(n_init, number of seeds)`` architectures, the seeds first).

Deduplication: an architecture whose canonical key was already proposed is never proposed again;
a neighbour evaluated earlier (e.g. in another climb) counts with its known score, free. Failed
trials (score ``None``) never become the current architecture. With several trials in flight,
``ask`` returns ``None`` while the start or the neighbourhood is still being evaluated.
"""
from __future__ import annotations

from typing import Any, Sequence

from nas.arch import Architecture
from nas.objectives import Objective
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies._util import bool_option, int_option, sample_unseen
from strategies.base import Strategy


def neighbourhood(space: SearchSpace, arch: Architecture, rng: Any, tries: int) -> list[Architecture]:
    """The distinct neighbours of ``arch`` (by key, ``arch`` itself excluded), in a seeded random order.

    ``space.neighbours(arch)`` when the space defines it, else ``tries`` draws of ``space.mutate``.
    """
    hook = getattr(space, "neighbours", None)
    found = list(hook(arch)) if callable(hook) else [space.mutate(arch, rng) for _ in range(tries)]
    out: dict[str, Architecture] = {}
    for n in found:
        if n.key != arch.key:
            out.setdefault(n.key, n)
    archs = list(out.values())
    if callable(hook):
        rng.shuffle(archs)
    return archs


class LocalSearch(Strategy):
    """Local search with restarts (White et al. 2021).

    Options: ``n_init`` (random architectures per start, default 10), ``first_improvement``
    (move on the first better neighbour, default true), ``max_tries`` (mutation draws that make a
    neighbourhood, and samples tried for an unseen random architecture; default 100).
    """

    name = "local"
    supports_warm_start = True

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None,
                 n_init: int = 10, first_improvement: bool = True, max_tries: int = 100) -> None:
        super().__init__(space, seed=seed, objective=objective)
        self.n_init = int_option(self.name, "n_init", n_init)
        self.first_improvement = bool_option(self.name, "first_improvement", first_improvement)
        self.max_tries = int_option(self.name, "max_tries", max_tries)
        self.seen: set[str] = set()
        self.scores: dict[str, float | None] = {}  # key -> score of every told trial (None: failed)
        self.archs: dict[str, Architecture] = {}   # key -> architecture of the current round's members
        self.pending: dict[str, dict[str, Any]] = {}  # id -> {"key", "round"}
        self.round = 0          # bumped at every move and restart; results of older rounds only fill `scores`
        self.phase = "init"     # "init": random start; "climb": evaluating the current neighbourhood
        self.init_left = self.n_init
        self.current: dict[str, Any] | None = None  # {"key", "score"}; its arch is in self.archs
        self.queue: list[Architecture] = []         # neighbours still to propose
        self.neigh: list[str] = []                  # keys of the current neighbourhood
        self.restarts = 0
        self.exhausted = False

    def warm_start(self, archs: Sequence[Architecture]) -> None:
        """Seed the first start: its ``max(n_init, len(seeds))`` architectures begin with the seeds."""
        super().warm_start(archs)
        self.init_left = max(self.n_init, len(self.seeds))

    # -- ask ------------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        for _ in range(self.max_tries):  # each pass makes progress (a move, a restart) or returns
            if self.exhausted:
                return None
            if self.phase == "init":
                if self.init_left > 0:
                    origin = "warm_start"
                    arch = self.take_seed(self.seen)
                    if arch is None:
                        origin, arch = "random", sample_unseen(self.space, self.rng, self.seen, self.max_tries)
                    if arch is None:
                        self.exhausted = True
                        return None
                    self.init_left -= 1
                    return self._propose(arch, {"origin": origin, "restart": self.restarts})
                if self._waiting():
                    return None
                told = [k for k in self.archs if self.scores.get(k) is not None]
                if not told:  # every start failed: draw another start
                    self._restart()
                    continue
                best = max(told, key=lambda k: self.scores[k])  # type: ignore[arg-type, return-value]
                self._move(best)
                continue
            while self.queue:
                arch = self.queue.pop()
                if arch.key not in self.seen:
                    assert self.current is not None
                    return self._propose(arch, {"origin": "neighbour", "parent": self.current["key"]})
            if self._waiting():
                return None
            best_key = self._best_neighbour()
            if best_key is not None:
                self._move(best_key)
            else:
                self._restart()
        return None

    def _waiting(self) -> bool:
        return any(p["round"] == self.round for p in self.pending.values())

    def _propose(self, arch: Architecture, info: dict[str, Any]) -> Proposal:
        self.seen.add(arch.key)
        self.archs[arch.key] = arch
        pid = self.new_id()
        self.pending[pid] = {"key": arch.key, "round": self.round}
        return Proposal(pid, arch, info=info)

    def _best_neighbour(self) -> str | None:
        """The best evaluated neighbour if it beats the current architecture, else None."""
        assert self.current is not None
        known = [k for k in self.neigh if self.scores.get(k) is not None]
        if not known:
            return None
        best = max(known, key=lambda k: self.scores[k])  # type: ignore[arg-type, return-value]
        return best if self.scores[best] > self.current["score"] else None  # type: ignore[operator]

    def _move(self, key: str) -> None:
        """Make ``key`` the current architecture and set up its neighbourhood (moving on at once
        when, with first improvement, an already-evaluated neighbour is better)."""
        for _ in range(self.max_tries):
            arch = self.archs[key]
            self.round += 1
            self.phase = "climb"
            self.current = {"key": key, "score": self.scores[key]}
            neigh = neighbourhood(self.space, arch, self.rng, self.max_tries)
            self.archs = {key: arch, **{n.key: n for n in neigh}}
            self.neigh = [n.key for n in neigh]
            self.queue = [n for n in reversed(neigh) if n.key not in self.seen]  # popped from the end
            better = self._best_neighbour() if self.first_improvement else None
            if better is None:
                return
            key = better
        self.queue = []

    def _restart(self) -> None:
        self.round += 1
        self.restarts += 1
        self.phase = "init"
        self.init_left = self.n_init
        self.current = None
        self.archs, self.queue, self.neigh = {}, [], []

    # -- tell -------------------------------------------------------------------------------
    def tell(self, proposal_id: str, result: Result) -> None:
        entry = self.pending.pop(proposal_id, None)
        if entry is None:
            return
        score = self.objective.score(result)
        key = entry["key"]
        self.scores[key] = None if score is None else float(score)
        if (self.first_improvement and score is not None and entry["round"] == self.round
                and self.phase == "climb" and self.current is not None and key in self.neigh
                and score > self.current["score"]):
            self._move(key)

    def done(self) -> bool:
        return self.exhausted

    # -- state ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "seen": sorted(self.seen), "scores": self.scores,
            "archs": {k: a.to_dict() for k, a in self.archs.items()},
            "pending": self.pending, "round": self.round, "phase": self.phase, "init_left": self.init_left,
            "current": self.current, "queue": [a.to_dict() for a in self.queue], "neigh": self.neigh,
            "restarts": self.restarts, "exhausted": self.exhausted,
            "options": {"n_init": self.n_init, "first_improvement": self.first_improvement,
                        "max_tries": self.max_tries},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.seen = set(state["seen"])
        self.scores = {k: (None if v is None else float(v)) for k, v in state["scores"].items()}
        self.archs = {k: Architecture.from_dict(a) for k, a in state["archs"].items()}
        self.pending = {pid: {"key": p["key"], "round": int(p["round"])} for pid, p in state["pending"].items()}
        self.round = int(state["round"])
        self.phase = str(state["phase"])
        self.init_left = int(state["init_left"])
        self.current = None if state["current"] is None else dict(state["current"])
        self.queue = [Architecture.from_dict(a) for a in state["queue"]]
        self.neigh = list(state["neigh"])
        self.restarts = int(state["restarts"])
        self.exhausted = bool(state["exhausted"])

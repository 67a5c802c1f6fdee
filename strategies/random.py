"""Random search: uniform samples from the space, never the same architecture twice.

The baseline of every NAS comparison (Real et al. 2019 "RS"; Li & Talwalkar 2019). Samples
are deduplicated on the isomorphism-aware ``Architecture.key`` (README, "Architecture format"), so two samples
that compute the same function are evaluated once. When ``max_tries`` consecutive samples
are all known, the space looks exhausted: ``ask`` returns ``None`` and ``done()`` is true.
A warm start (:meth:`Strategy.warm_start`) proposes its seeds before the first sample.
"""
from __future__ import annotations

from typing import Any

from nas.objectives import Objective
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies._util import int_option, sample_unseen
from strategies.base import Strategy


class RandomSearch(Strategy):
    """Uniform random sampling, deduplicated on the canonical architecture key.

    Options: ``max_tries`` (default 100) consecutive duplicate samples before giving up.
    """

    name = "random"
    supports_warm_start = True

    def __init__(
        self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None, max_tries: int = 100
    ) -> None:
        super().__init__(space, seed=seed, objective=objective)
        self.max_tries = int_option(self.name, "max_tries", max_tries)
        self.seen: set[str] = set()
        self.exhausted = False

    def ask(self) -> Proposal | None:
        if self.exhausted:
            return None
        seeded = self.take_seed(self.seen)
        if seeded is not None:
            self.seen.add(seeded.key)
            return Proposal(self.new_id(), seeded, info={"origin": "warm_start"})
        arch = sample_unseen(self.space, self.rng, self.seen, self.max_tries)
        if arch is None:
            self.exhausted = True
            return None
        self.seen.add(arch.key)
        return Proposal(self.new_id(), arch, info={"origin": "random"})

    def tell(self, proposal_id: str, result: Result) -> None:
        """Random search ignores results."""

    def done(self) -> bool:
        return self.exhausted

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "seen": sorted(self.seen), "exhausted": self.exhausted}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.seen = set(state["seen"])
        self.exhausted = bool(state["exhausted"])  # older snapshots also hold an unused "n_told"

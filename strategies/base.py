"""The :class:`Strategy` ask/tell contract (README, "Other plugins"), modelled on Optuna's samplers.

The driver calls :meth:`Strategy.ask` while it has free evaluation slots,
journals each finished trial, then calls :meth:`Strategy.tell`. Strategies never
see evaluators, and never see ``Result.report`` (the driver passes
``result.for_strategy()``). ``state_dict`` must be JSON-serializable and capture
everything, RNG state included, so that a resumed search proposes exactly what an
uninterrupted one would.
"""
from __future__ import annotations

import random
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from nas.errors import ConfigError
from nas.objectives import Objective, accuracy
from nas.types import DEFAULT_RUNNER, Proposal, Result
from search_spaces.base import SearchSpace


def rng_state(rng: random.Random) -> list[Any]:
    """JSON-serializable ``random.Random`` state."""
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def set_rng_state(rng: random.Random, state: list[Any]) -> None:
    version, internal, gauss = state
    rng.setstate((version, tuple(internal), gauss))


class Strategy(ABC):
    """Base class: id allocation, RNG, objective and the seen-key set."""

    name: ClassVar[str]
    supports_multi_objective: ClassVar[bool] = False
    #: the trial runner (``nas.registry.TRIALS``) of this strategy's proposals: ``train`` trains each
    #: proposed architecture; a one-shot strategy's single trial is run by ``oneshot``
    trial_runner: ClassVar[str] = DEFAULT_RUNNER

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None) -> None:
        self.space = space
        self.seed = seed
        self.objective = objective or accuracy()
        if self.objective.multi and not self.supports_multi_objective:
            raise ConfigError(
                f"strategy {self.name!r} cannot optimize the multi-objective {self.objective.name!r}; "
                "use --strategy tpe (NSGA-II)"
            )
        self.rng = random.Random(seed)
        self.n_asked = 0

    def new_id(self) -> str:
        """Deterministic trial ids ``t00000, t00001, ...``."""
        pid = f"t{self.n_asked:05d}"
        self.n_asked += 1
        return pid

    @abstractmethod
    def ask(self) -> Proposal | None:
        """Next proposal, or ``None`` if nothing can be proposed until results arrive."""

    @abstractmethod
    def tell(self, proposal_id: str, result: Result) -> None:
        """Report a finished trial. Unknown ids are ignored."""

    def done(self) -> bool:
        """True when the strategy has nothing more to propose (e.g. a finished grid)."""
        return False

    def state_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seed": self.seed, "n_asked": self.n_asked, "rng": rng_state(self.rng)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ConfigError(f"strategy state is for {state.get('name')!r}, not {self.name!r}")
        self.seed = state["seed"]
        self.n_asked = state["n_asked"]
        set_rng_state(self.rng, state["rng"])

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
from typing import Any, ClassVar, Container, Sequence

from nas.arch import Architecture
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
    """Base class: id allocation, RNG, objective, and the warm-start seeds.

    Warm start (README, "Warm start"): a strategy with ``supports_warm_start`` accepts
    :meth:`warm_start` before its first proposal; the seeds (e.g. the best architectures of a
    zero-cost proxy pre-screen, after Abdelfattah et al., ICLR 2021, §5) then replace its first
    uniform samples, in order (:meth:`take_seed`). They are part of :meth:`state_dict`.
    """

    name: ClassVar[str]
    supports_multi_objective: ClassVar[bool] = False
    #: the trial runner (``nas.registry.TRIALS``) of this strategy's proposals: ``train`` trains each
    #: proposed architecture; a one-shot strategy's single trial is run by ``oneshot``
    trial_runner: ClassVar[str] = DEFAULT_RUNNER
    #: whether seeding the first proposals with given architectures means something for this
    #: strategy (:meth:`warm_start`); e.g. not for a policy-gradient controller or a one-shot method
    supports_warm_start: ClassVar[bool] = False

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
        self.seeds: list[Architecture] = []  # warm-start architectures not yet proposed, first first

    def new_id(self) -> str:
        """Deterministic trial ids ``t00000, t00001, ...``."""
        pid = f"t{self.n_asked:05d}"
        self.n_asked += 1
        return pid

    # -- warm start ---------------------------------------------------------------------------
    def check_warm_start(self) -> None:
        """Raise ConfigError unless this strategy, with its options, can be warm-started."""
        if not self.supports_warm_start:
            raise ConfigError(f"strategy {self.name!r} cannot be warm-started: it has no initial population, "
                              "design or predictor data to seed")

    def warm_start(self, archs: Sequence[Architecture]) -> None:
        """Seed the first proposals with ``archs`` (in order, duplicates by key dropped).

        Only before the first :meth:`ask`; ConfigError if the strategy cannot be warm-started.
        """
        self.check_warm_start()
        if self.n_asked:
            raise ConfigError(f"strategy {self.name!r}: a warm start must come before the first proposal")
        out: dict[str, Architecture] = {}
        for arch in archs:
            self.space.validate(arch)
            out.setdefault(arch.key, arch)
        self.seeds = list(out.values())

    def take_seed(self, seen: Container[str]) -> Architecture | None:
        """The next warm-start seed whose key is not in ``seen`` (seeds in ``seen`` are dropped), or None."""
        while self.seeds:
            arch = self.seeds.pop(0)
            if arch.key not in seen:
                return arch
        return None

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
        state = {"name": self.name, "seed": self.seed, "n_asked": self.n_asked, "rng": rng_state(self.rng)}
        if self.supports_warm_start:
            state["seeds"] = [a.to_dict() for a in self.seeds]
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("name") != self.name:
            raise ConfigError(f"strategy state is for {state.get('name')!r}, not {self.name!r}")
        self.seed = state["seed"]
        self.n_asked = state["n_asked"]
        set_rng_state(self.rng, state["rng"])
        self.seeds = [Architecture.from_dict(a) for a in state.get("seeds") or ()]  # older states: none

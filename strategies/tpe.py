"""Optuna TPE (and NSGA-II for ``--objective pareto``) over a space's ``decisions()``.

Each decision of :meth:`SearchSpace.decisions` becomes one categorical Optuna parameter
(choice indices ``0..n-1``), so the strategy works for every space whose ``decode`` accepts
any in-range choice vector. Proposals come from Optuna's ask/tell interface
(Bergstra et al. 2011, TPE; Optuna's multivariate TPE, Falkner et al. 2018; Deb et al.
2002, NSGA-II for the Pareto objective ``val_acc`` vs ``macs``).

Local refinement (option ``local_fraction``, default 0 = plain TPE): after the startup
trials, each proposal is, with that probability, an unseen ``space.mutate`` of the best
architecture so far (Real et al.'s mutation), enqueued into the study so that TPE's model
sees it like any other trial. This interleaves TPE's global model with hill-climbing on its
incumbent, in the spirit of SMAC's local search around incumbents and BOHB's random
fraction; it is only for single objectives.

Warm start (:meth:`Strategy.warm_start`): each seed, in order, is enqueued into the study
(``study.enqueue_trial`` with its decisions) and proposed before any TPE sample; the seeds count
towards the ``n_startup_trials``.

Deduplication (documented deviation from plain Optuna): a sampled architecture whose
canonical ``Architecture.key`` was already evaluated is not proposed again. Optuna is told
the known result for that trial (so the model still sees where it sampled) and asked
again, up to ``max_tries`` times; then a uniformly random unseen architecture is enqueued
instead. A key still in flight is told as failed (ignored by TPE) and re-asked. No budget
is spent twice on the same function.

Determinism and resume: before every ask the sampler is re-created with the seed
``mix(seed, number of study trials)``, so the next proposal depends only on the recorded
trials. ``state_dict`` holds every study trial (params, state, values, system attributes)
in order; ``load_state_dict`` rebuilds the study with ``study.add_trial``, so proposals
after a round trip are identical. With ``storage=PATH`` (``runs/NAME/optuna.journal``;
``.db``/``.sqlite`` for SQLite) the study lives in that Optuna storage and can be opened by
Optuna tools; the strategy snapshot stays authoritative (the storage may hold one trial the
snapshot missed at a crash), so the stored study is rebuilt from it when the strategy loads.
"""
from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from nas.arch import Architecture
from nas.errors import ConfigError
from nas.objectives import Objective
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies._util import bool_option, float_option, int_option, sample_unseen
from strategies.base import Strategy

STUDY_NAME = "nas"


def _mix(seed: int, n: int) -> int:
    """A 32-bit sampler seed from the strategy seed and the trial count (SplitMix-style)."""
    x = (seed * 0x9E3779B97F4A7C15 + n * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) % 2**64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) % 2**64
    return (x ^ (x >> 31)) % 2**32


class TPEStrategy(Strategy):
    """Optuna TPE over ``decisions()``; NSGA-II for multi-objective (``--objective pareto``).

    Options: ``n_startup_trials`` (random trials before TPE, default 10), ``n_ei_candidates``
    (24), ``gamma`` (fraction of trials in TPE's "good" group, capped at 25 as in Optuna;
    default 0.1, Optuna's), ``multivariate`` (true), ``group`` (false), ``population_size``
    (NSGA-II, 50), ``local_fraction`` (probability of proposing an unseen mutation of the best
    architecture so far instead of a TPE sample, 0), ``max_tries`` (duplicate samples before a
    random unseen one, 100), ``storage`` (path of an Optuna journal/SQLite file; in memory when absent).
    """

    name = "tpe"
    supports_multi_objective = True
    supports_warm_start = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        objective: Objective | None = None,
        n_startup_trials: int = 10,
        n_ei_candidates: int = 24,
        gamma: float = 0.1,
        multivariate: bool = True,
        group: bool = False,
        population_size: int = 50,
        local_fraction: float = 0.0,
        max_tries: int = 100,
        storage: str | None = None,
    ) -> None:
        super().__init__(space, seed=seed, objective=objective)
        self.n_startup_trials = int_option(self.name, "n_startup_trials", n_startup_trials, minimum=0)
        self.n_ei_candidates = int_option(self.name, "n_ei_candidates", n_ei_candidates)
        self.gamma = float_option(self.name, "gamma", gamma, 0.0, 1.0, lo_open=True)
        self.multivariate = bool_option(self.name, "multivariate", multivariate)
        self.group = bool_option(self.name, "group", group)
        if self.group and not self.multivariate:
            raise ConfigError("strategy 'tpe': option 'group' needs multivariate=true")
        self.population_size = int_option(self.name, "population_size", population_size, minimum=2)
        self.max_tries = int_option(self.name, "max_tries", max_tries)
        self.local_fraction = float_option(self.name, "local_fraction", local_fraction, 0.0, 1.0)
        if self.local_fraction and self.objective.multi:
            raise ConfigError("strategy 'tpe': option 'local_fraction' needs a single objective")
        self.best: dict[str, Any] | None = None  # {"score", "arch", "id"}: incumbent (local_fraction)
        if storage is not None and (not isinstance(storage, str) or not storage):
            raise ConfigError(f"strategy 'tpe': option 'storage' must be a file path, got {storage!r}")
        self.storage = storage
        self.decisions = space.decisions()
        self.known: dict[str, list[float] | None] = {}  # evaluated key -> objective values (None: failed)
        self.inflight: dict[str, str] = {}  # key -> proposal id
        self.pending: dict[str, tuple[int, str]] = {}  # proposal id -> (trial number, key)
        self.exhausted = False
        self._study: Any = None
        self._trials: list[dict[str, Any]] = []  # records to rebuild the study from (load_state_dict)

    # -- Optuna objects -------------------------------------------------------------------
    def _distributions(self) -> dict[str, Any]:
        from optuna.distributions import CategoricalDistribution

        return {d.name: CategoricalDistribution(list(range(len(d)))) for d in self.decisions}

    def _sampler(self, seed: int) -> Any:
        import optuna

        if self.objective.multi:
            return optuna.samplers.NSGAIISampler(population_size=self.population_size, seed=seed)
        frac = self.gamma
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning for group=True
            return optuna.samplers.TPESampler(
                n_startup_trials=self.n_startup_trials, n_ei_candidates=self.n_ei_candidates,
                gamma=lambda n: min(math.ceil(frac * n), 25), seed=seed,
                multivariate=self.multivariate, group=self.group,
            )

    @property
    def study(self) -> Any:
        """The Optuna study, created on first use (constructing the strategy touches no file)."""
        if self._study is None:
            import optuna

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            storage = None
            if self.storage is not None:
                storage = _open_storage(self.storage)
                try:
                    optuna.delete_study(study_name=STUDY_NAME, storage=storage)
                except KeyError:
                    pass
            dirs = ["maximize"] if not self.objective.multi else list(self.objective.directions)
            self._study = optuna.create_study(storage=storage, study_name=STUDY_NAME, directions=dirs,
                                              sampler=self._sampler(self.seed))
            dists = self._distributions()
            for rec in self._trials:
                self._study.add_trial(_frozen(rec, dists))
            self._trials = []
        return self._study

    # -- ask / tell ---------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        if self.exhausted:
            return None
        import optuna

        study, dists = self.study, self._distributions()
        seeded = self.take_seed(set(self.known) | set(self.inflight))
        if seeded is not None:
            study.enqueue_trial({d.name: c for d, c in zip(self.decisions, self.space.encode(seeded))})
            trial = self._ask(dists)
            return self._propose(trial, seeded, {"origin": "warm_start", "trial": trial.number})
        local = self._local_candidate()
        if local is not None:
            study.enqueue_trial({d.name: c for d, c in zip(self.decisions, self.space.encode(local))})
            trial = self._ask(dists)
            return self._propose(trial, local, {"origin": "local", "trial": trial.number,
                                                "parent": self.best["id"]})
        for _ in range(self.max_tries):
            trial = self._ask(dists)
            choices = [int(trial.params[d.name]) for d in self.decisions]
            arch = self.space.decode(choices)
            key = arch.key
            if key in self.known:  # already evaluated: tell Optuna what it gave, ask again
                vals = self.known[key]
                study.tell(trial, vals, state=optuna.trial.TrialState.FAIL if vals is None else None)
                continue
            if key in self.inflight:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
                continue
            return self._propose(trial, arch, {"origin": "tpe", "trial": trial.number})
        # the model keeps proposing known architectures: a random unseen one instead
        arch = sample_unseen(self.space, self.rng, set(self.known) | set(self.inflight), self.max_tries)
        if arch is None:
            self.exhausted = True
            return None
        study.enqueue_trial({d.name: c for d, c in zip(self.decisions, self.space.encode(arch))})
        trial = self._ask(dists)
        return self._propose(trial, arch, {"origin": "random", "trial": trial.number})

    def _ask(self, dists: dict[str, Any]) -> Any:
        """``study.ask`` with a sampler seeded from (seed, number of trials): resume-exact."""
        study = self.study
        study.sampler = self._sampler(_mix(self.seed, len(study.get_trials(deepcopy=False))))
        return study.ask(dists)

    def _propose(self, trial: Any, arch: Any, info: dict[str, Any]) -> Proposal:
        pid = self.new_id()
        self.pending[pid] = (trial.number, arch.key)
        self.inflight[arch.key] = pid
        return Proposal(pid, arch, info=info)

    def _local_candidate(self) -> Any:
        """An unseen mutation of the incumbent, with probability ``local_fraction`` after startup."""
        if not self.local_fraction or self.best is None or len(self.known) < self.n_startup_trials:
            return None
        if self.rng.random() >= self.local_fraction:
            return None
        for _ in range(self.max_tries):
            child = self.space.mutate(self.best["arch"], self.rng)
            if child.key not in self.known and child.key not in self.inflight:
                return child
        return None

    def tell(self, proposal_id: str, result: Result) -> None:
        entry = self.pending.pop(proposal_id, None)
        if entry is None:
            return
        import optuna

        number, key = entry
        self.inflight.pop(key, None)
        vals = self._values(result)
        self.known[key] = vals
        if vals is not None and not self.objective.multi and (self.best is None or vals[0] > self.best["score"]):
            self.best = {"score": vals[0], "arch": self._arch_of(number), "id": proposal_id}
        if vals is None:
            self.study.tell(number, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(number, vals)

    def _arch_of(self, number: int) -> Any:
        params = self.study.get_trials(deepcopy=False)[number].params
        return self.space.decode([int(params[d.name]) for d in self.decisions])

    def _values(self, result: Result) -> list[float] | None:
        if self.objective.multi:
            v = self.objective.values(result)
            return None if v is None else [float(x) for x in v]
        s = self.objective.score(result)  # None: failed or not finite
        return None if s is None else [s]

    def done(self) -> bool:
        return self.exhausted

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        trials = self._trials if self._study is None else [
            {"params": {k: int(v) for k, v in t.params.items()}, "state": t.state.name,
             "values": None if t.values is None else list(t.values),
             "system_attrs": dict(t.system_attrs)}
            for t in self._study.get_trials(deepcopy=False)
        ]
        return {
            **super().state_dict(),
            "trials": trials,
            "known": dict(self.known),
            "inflight": dict(self.inflight),
            "pending": {pid: [num, key] for pid, (num, key) in self.pending.items()},
            "exhausted": self.exhausted,
            "best": None if self.best is None else {**self.best, "arch": self.best["arch"].to_dict()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.known = {k: (None if v is None else [float(x) for x in v]) for k, v in state["known"].items()}
        self.inflight = dict(state["inflight"])
        self.pending = {pid: (int(num), str(key)) for pid, (num, key) in state["pending"].items()}
        self.exhausted = bool(state["exhausted"])
        self._trials = list(state["trials"])
        b = state.get("best")
        self.best = None if b is None else {**b, "arch": Architecture.from_dict(b["arch"])}
        self._study = None  # rebuilt from the records on next use


def _frozen(rec: dict[str, Any], dists: dict[str, Any]) -> Any:
    import optuna

    state = optuna.trial.TrialState[rec["state"]]
    return optuna.trial.create_trial(
        params={k: int(v) for k, v in rec["params"].items()},
        distributions={k: dists[k] for k in rec["params"]},
        values=rec["values"] if state == optuna.trial.TrialState.COMPLETE else None,
        state=state, system_attrs=dict(rec.get("system_attrs") or {}),
    )


def _open_storage(path: str) -> Any:
    """An Optuna storage in a file: SQLite for ``.db``/``.sqlite``, else a journal file."""
    import optuna

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.suffix in (".db", ".sqlite", ".sqlite3"):
        return optuna.storages.RDBStorage(f"sqlite:///{p}")
    from optuna.storages.journal import JournalFileBackend

    return optuna.storages.JournalStorage(JournalFileBackend(str(p)))

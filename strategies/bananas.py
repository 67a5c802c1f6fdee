"""BANANAS: Bayesian optimisation with a neural-predictor ensemble (White et al., AAAI 2021).

Algorithm 1 of White, Neiswanger & Savani, "BANANAS: Bayesian Optimization with Neural
Architectures for Neural Architecture Search", AAAI 2021, as implemented here:

1. ``n_init`` uniformly random architectures are evaluated.
2. Each iteration trains the ensemble (:class:`strategies.predictor.EnsemblePredictor`, on
   :func:`strategies.predictor.features`: one-hot decisions plus the space's path encoding) on
   every result so far, then builds ``candidates`` unseen architectures by mutating the
   ``n_mutate`` best architectures (the paper's acquisition optimisation, §5: mutations of the best
   architectures found so far; each candidate is 1..``max_mutations`` successive mutations).
3. The acquisition function ranks the candidates and the ``batch`` best are proposed: independent
   Thompson sampling ``its`` (default, the paper's choice: one draw from N(mean, std) of the
   ensemble per candidate) or ``ucb`` (mean + ``beta`` std).

Warm start (:meth:`Strategy.warm_start`): the seeds are proposed first and replace the first of
the ``n_init`` random architectures (more seeds than ``n_init``: all of them), so the predictor's
first fit is on the seeds' results.

Deviations and choices (documented): the ensemble trains on standardised scores (the paper's MAE
on raw accuracy, otherwise the same); failed trials (score ``None``) are left out of the
training data; when fewer than ``batch`` unseen mutations exist, random unseen architectures fill
the batch; a space without an encoding falls back to random proposals (``origin: random``).

State: the trial data (architecture, score), the proposals not yet made and the RNG. The
ensemble itself is not stored: it is retrained from that data with a seed derived from the
search seed and the iteration number, which is deterministic (see :mod:`strategies.predictor`),
so a resumed search proposes exactly what an uninterrupted one would.
"""
from __future__ import annotations

import math
from typing import Any

from nas.arch import Architecture
from nas.errors import ConfigError
from nas.objectives import Objective
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies._util import float_option, int_option, sample_unseen
from strategies.base import Strategy
from strategies.predictor import EnsemblePredictor, features

ACQUISITIONS = ("its", "ucb")


class Bananas(Strategy):
    """Predictor-guided search (BANANAS, White et al. 2021).

    Options: ``n_init`` (10), ``batch`` (proposals per predictor fit, 5), ``candidates`` (mutations
    scored per fit, 100), ``n_mutate`` (best architectures mutated, 2), ``max_mutations`` (1),
    ``acquisition`` (``its`` | ``ucb``), ``beta`` (UCB weight, 1.0), ``members`` (ensemble size, 5),
    ``hidden`` (32), ``layers`` (3), ``epochs`` (200), ``lr`` (0.01), ``max_tries`` (100).
    """

    name = "bananas"
    supports_warm_start = True

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None,
                 n_init: int = 10, batch: int = 5, candidates: int = 100, n_mutate: int = 2,
                 max_mutations: int = 1, acquisition: str = "its", beta: float = 1.0, members: int = 5,
                 hidden: int = 32, layers: int = 3, epochs: int = 200, lr: float = 0.01,
                 max_tries: int = 100) -> None:
        super().__init__(space, seed=seed, objective=objective)
        n = self.name
        self.n_init = int_option(n, "n_init", n_init)
        self.batch = int_option(n, "batch", batch)
        self.candidates = int_option(n, "candidates", candidates)
        self.n_mutate = int_option(n, "n_mutate", n_mutate)
        self.max_mutations = int_option(n, "max_mutations", max_mutations)
        if acquisition not in ACQUISITIONS:
            raise ConfigError(f"strategy 'bananas': option 'acquisition' must be one of {ACQUISITIONS}, "
                              f"got {acquisition!r}")
        self.acquisition = acquisition
        self.beta = float_option(n, "beta", beta, 0.0, finite=True)
        self.members = int_option(n, "members", members)
        self.hidden = int_option(n, "hidden", hidden)
        self.layers = int_option(n, "layers", layers, minimum=0)
        self.epochs = int_option(n, "epochs", epochs)
        self.lr = float_option(n, "lr", lr, 0.0, lo_open=True, finite=True)
        self.max_tries = int_option(n, "max_tries", max_tries)
        self.seen: set[str] = set()
        self.data: list[dict[str, Any]] = []          # {"id", "arch", "score"} of every ok trial
        self.pending: dict[str, Architecture] = {}
        self.queue: list[dict[str, Any]] = []         # chosen, not yet proposed: {"arch", "info"}
        self.fits = 0
        self.n_failed = 0
        self.exhausted = False
        self._features: dict[str, list[float] | None] = {}

    # -- ask ------------------------------------------------------------------------------
    def ask(self) -> Proposal | None:
        if self.exhausted:
            return None
        seeded = self.take_seed(self.seen)
        if seeded is not None:
            return self._propose(seeded, {"origin": "warm_start"})
        while self.queue:
            item = self.queue.pop(0)
            if item["arch"].key not in self.seen:
                return self._propose(item["arch"], item["info"])
        if self.n_asked < self.n_init:
            return self._random({"origin": "random"})
        if len(self.data) < 2:  # too few results to fit: wait for them, or sample while nothing is pending
            return None if self.pending else self._random({"origin": "random", "reason": "too few results"})
        self._plan()
        if self.queue:
            item = self.queue.pop(0)
            return self._propose(item["arch"], item["info"])
        return self._random({"origin": "random", "reason": "no unseen mutation to score"})

    def _random(self, info: dict[str, Any]) -> Proposal | None:
        arch = sample_unseen(self.space, self.rng, self.seen, self.max_tries)
        if arch is None:
            self.exhausted = True
            return None
        return self._propose(arch, info)

    def _propose(self, arch: Architecture, info: dict[str, Any]) -> Proposal:
        self.seen.add(arch.key)
        pid = self.new_id()
        self.pending[pid] = arch
        return Proposal(pid, arch, info=info)

    def _feat(self, arch: Architecture) -> list[float] | None:
        if arch.key not in self._features:
            self._features[arch.key] = features(self.space, arch)
        return self._features[arch.key]

    def _candidates(self) -> list[tuple[Architecture, str]]:
        """Up to ``candidates`` unseen, distinct mutations of the ``n_mutate`` best architectures."""
        best = sorted(self.data, key=lambda d: -d["score"])[: self.n_mutate]
        out: dict[str, tuple[Architecture, str]] = {}
        per_parent = max(1, math.ceil(self.candidates / len(best)))
        for parent in best:
            found = 0
            for _ in range(per_parent * 3):
                child = parent["arch"]
                for _ in range(1 + self.rng.randrange(self.max_mutations)):
                    child = self.space.mutate(child, self.rng)
                if child.key in self.seen or child.key in out:
                    continue
                out[child.key] = (child, parent["id"])
                found += 1
                if found >= per_parent:
                    break
        return list(out.values())[: self.candidates]

    def _plan(self) -> None:
        """Fit the ensemble on the data so far and queue the ``batch`` best candidates by acquisition."""
        train = [(self._feat(d["arch"]), d["score"]) for d in self.data]
        train = [(f, s) for f, s in train if f is not None]
        cands = [(a, p, self._feat(a)) for a, p in self._candidates()]
        cands = [c for c in cands if c[2] is not None]
        self.fits += 1
        if len(train) < 2 or not cands:
            return
        model = EnsemblePredictor(members=self.members, hidden=self.hidden, layers=self.layers,
                                  epochs=self.epochs, lr=self.lr)
        model.fit([f for f, _ in train], [s for _, s in train], seed=self.seed * 1_000_003 + self.fits)
        mean, std = model.predict([c[2] for c in cands])
        if self.acquisition == "its":
            acq = [self.rng.gauss(m, s) if s > 0 else m for m, s in zip(mean, std)]
        else:
            acq = [m + self.beta * s for m, s in zip(mean, std)]
        order = sorted(range(len(cands)), key=lambda i: -acq[i])[: self.batch]
        self.queue = [{"arch": cands[i][0],
                       "info": {"origin": "predictor", "parent": cands[i][1], "fit": self.fits,
                                "predicted": round(mean[i], 4), "uncertainty": round(std[i], 4)}}
                      for i in order]

    # -- tell ------------------------------------------------------------------------------
    def tell(self, proposal_id: str, result: Result) -> None:
        arch = self.pending.pop(proposal_id, None)
        if arch is None:
            return
        score = self.objective.score(result)
        if score is None:
            self.n_failed += 1
            return
        self.data.append({"id": proposal_id, "arch": arch, "score": float(score)})

    def done(self) -> bool:
        return self.exhausted

    # -- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "seen": sorted(self.seen),
            "data": [{"id": d["id"], "arch": d["arch"].to_dict(), "score": d["score"]} for d in self.data],
            "pending": {pid: a.to_dict() for pid, a in self.pending.items()},
            "queue": [{"arch": q["arch"].to_dict(), "info": q["info"]} for q in self.queue],
            "fits": self.fits, "n_failed": self.n_failed, "exhausted": self.exhausted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.seen = set(state["seen"])
        self.data = [{"id": d["id"], "arch": Architecture.from_dict(d["arch"]), "score": float(d["score"])}
                     for d in state["data"]]
        self.pending = {pid: Architecture.from_dict(a) for pid, a in state["pending"].items()}
        self.queue = [{"arch": Architecture.from_dict(q["arch"]), "info": dict(q["info"])} for q in state["queue"]]
        self.fits = int(state["fits"])
        self.n_failed = int(state["n_failed"])
        self.exhausted = bool(state["exhausted"])

"""BOHB: Hyperband whose new configurations come from a density model per budget.

Falkner et al., ICML 2018, §4 and Algorithm 2. The brackets, rungs and promotions are
Hyperband's (:mod:`strategies.hyperband`); only the sampling of a bracket's new
configurations differs:

* with probability ``random_fraction`` (rho = 1/3), or while no budget has at least
  ``N_min + 2`` observations (``N_min = d + 1``, ``d`` the number of decisions of the space), a
  configuration is drawn uniformly at random;
* otherwise the model uses the *largest* budget ``b`` with at least ``N_min + 2`` observations:
  its results are split into the best ``n_good = max(N_min, top_fraction * |D_b|)`` (q = 15%)
  and the rest (at least ``N_min``), a density ``l(x)`` is fitted on the good and ``g(x)`` on the
  bad ones, ``n_samples`` (64) candidates are drawn from ``l`` with its bandwidth widened by
  ``bandwidth_factor`` (3), and the candidate maximising ``l(x) / g(x)`` is proposed.

Deviation (documented): the decisions of a search space are categorical, so both densities are
products of Aitchison-Aitken kernels (the categorical kernel of the statsmodels KDE that BOHB's
reference implementation uses), each with a fixed bandwidth ``bandwidth`` (0.2) instead of one
estimated by statsmodels. Scores are the search objective's (accuracy by default); failed
results count as the worst.

Warm start (:meth:`Strategy.warm_start`): the seeds are the first new configurations, before any
random or model sample (``info.sampled = "warm_start"``).

Options: Hyperband's ``eta`` (3), ``min_epochs`` (1), ``max_epochs`` (9), and ``random_fraction``
(1/3), ``top_fraction`` (0.15), ``n_samples`` (64), ``bandwidth`` (0.2), ``bandwidth_factor`` (3).
"""
from __future__ import annotations

import math
from typing import Any

from nas.arch import Architecture
from nas.errors import ConfigError
from nas.objectives import Objective
from nas.types import Result
from search_spaces.base import SearchSpace
from strategies._util import encoding, float_option, int_option, space_decisions
from strategies.hyperband import Hyperband


class BOHB(Hyperband):
    """BOHB (Falkner et al., ICML 2018); options in the module docstring."""

    name = "bohb"

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None,
                 eta: Any = 3, min_epochs: Any = 1, max_epochs: Any = 9, random_fraction: Any = 1 / 3,
                 top_fraction: Any = 0.15, n_samples: Any = 64, bandwidth: Any = 0.2,
                 bandwidth_factor: Any = 3.0) -> None:
        super().__init__(space, seed=seed, objective=objective, eta=eta, min_epochs=min_epochs,
                         max_epochs=max_epochs, sampler=None)
        self.random_fraction = float_option(self.name, "random_fraction", random_fraction, 0.0, 1.0)
        self.top_fraction = float_option(self.name, "top_fraction", top_fraction, 0.0, 1.0, lo_open=True)
        self.n_samples = int_option(self.name, "n_samples", n_samples)
        self.bandwidth = float_option(self.name, "bandwidth", bandwidth, 0.0, 1.0, lo_open=True)
        self.bandwidth_factor = float_option(self.name, "bandwidth_factor", bandwidth_factor, 1.0, finite=True)
        decisions = space_decisions(space)
        if not decisions:
            raise ConfigError(f"strategy 'bohb' needs a space with decisions(); {space.name!r} has none")
        self.sizes = [len(d) for d in decisions]
        self.n_min = len(self.sizes) + 1
        # budget -> [(encoding, score)], score None for a failed result
        self.observations: dict[str, list[tuple[list[int], float | None]]] = {}

    # -- the model ---------------------------------------------------------------------------------
    def _model_sample(self, budget: int) -> tuple[Architecture, dict[str, Any]] | None:
        seeded = self.take_seed(self.seen)
        if seeded is not None:
            return seeded, {"origin": "bohb", "sampled": "warm_start"}
        model_budget = self._model_budget()
        if model_budget is None or self.rng.random() < self.random_fraction:
            return self.space.sample(self.rng), {"origin": "bohb", "sampled": "random"}
        good, bad = self._split(self.observations[model_budget])
        lam = [min(self.bandwidth * self.bandwidth_factor, (c - 1) / c) for c in self.sizes]
        best, best_ratio = None, -math.inf
        for _ in range(self.n_samples):
            centre = good[self.rng.randrange(len(good))]
            x = [self._draw(v, c, lw) for v, c, lw in zip(centre, self.sizes, lam)]
            ratio = self._log_density(x, good) - self._log_density(x, bad)
            if ratio > best_ratio:
                best, best_ratio = x, ratio
        assert best is not None
        return self.space.decode(best), {"origin": "bohb", "sampled": "model", "model_budget": int(model_budget)}

    def _model_budget(self) -> str | None:
        """The largest budget with at least ``N_min + 2`` observations (None: not yet)."""
        ready = [b for b, obs in self.observations.items() if len(obs) >= self.n_min + 2]
        return max(ready, key=int) if ready else None

    def _split(self, obs: list[tuple[list[int], float | None]]) -> tuple[list[list[int]], list[list[int]]]:
        ranked = sorted(range(len(obs)), key=lambda i: (-(obs[i][1] if obs[i][1] is not None else -math.inf), i))
        n_good = max(self.n_min, int(self.top_fraction * len(obs)))
        n_good = min(n_good, len(obs) - 1)
        good = [obs[i][0] for i in ranked[:n_good]]
        bad = [obs[i][0] for i in ranked[n_good:]]
        return good, bad

    def _draw(self, value: int, size: int, lam: float) -> int:
        """One draw from the Aitchison-Aitken kernel centred on ``value`` (keep it with 1 - lam)."""
        if size == 1 or self.rng.random() >= lam:
            return value
        other = self.rng.randrange(size - 1)
        return other if other < value else other + 1

    def _log_density(self, x: list[int], points: list[list[int]]) -> float:
        """log of the mean over ``points`` of the product kernel at ``x`` (bandwidth ``self.bandwidth``)."""
        total = 0.0
        for p in points:
            logk = 0.0
            for xv, pv, c in zip(x, p, self.sizes):
                lam = min(self.bandwidth, (c - 1) / c) if c > 1 else 0.0
                logk += math.log(1.0 - lam) if xv == pv else math.log(lam / (c - 1))
            total += math.exp(logk)
        return math.log(max(total / len(points), 1e-300))

    def _told(self, lineage: str, budget: int, score: float | None, result: Result) -> None:
        enc = encoding(self.space, self.lineages[lineage]["arch"])
        if enc is not None:
            self.observations.setdefault(str(budget), []).append((enc, score))

    # -- state -------------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["options"].update({"random_fraction": self.random_fraction, "top_fraction": self.top_fraction,
                                 "n_samples": self.n_samples, "bandwidth": self.bandwidth,
                                 "bandwidth_factor": self.bandwidth_factor})
        state["observations"] = {b: [[list(e), s] for e, s in obs] for b, obs in self.observations.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.observations = {b: [([int(v) for v in e], None if s is None else float(s)) for e, s in obs]
                             for b, obs in state["observations"].items()}

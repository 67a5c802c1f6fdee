"""Search strategies, registered lazily so that listing them imports neither torch nor Optuna.

Each entry is a ``"module:Class"`` string (see :mod:`nas.registry`); ``STRATEGIES.create(name, space,
seed=..., objective=..., **options)`` imports the module on first use and rejects unknown options.
"""
from __future__ import annotations

from nas.registry import STRATEGIES

STRATEGIES.add("random", "strategies.random:RandomSearch",
               "uniform random sampling, deduplicated on the canonical architecture key")
STRATEGIES.add("evolution", "strategies.evolution:RegularizedEvolution",
               "regularized (aging) evolution, Real et al. 2019 Algorithm 1")
STRATEGIES.add("rl", "strategies.rl:ReinforceController", "REINFORCE with an LSTM controller (Zoph & Le 2017, ENAS)")
STRATEGIES.add("tpe", "strategies.tpe:TPEStrategy", "Optuna TPE over decisions(); NSGA-II for --objective pareto")
STRATEGIES.add("darts", "strategies.darts:DartsStrategy",
               "DARTS one-shot supernet search, first or second order (Liu et al. 2019); space darts only")
STRATEGIES.add("scaling", "strategies.scaling:CompoundScaling",
               "EfficientNet compound scaling: grid over (alpha, beta, gamma), then phi = 2.. (space mbconv only)")

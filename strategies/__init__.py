"""Search strategies, registered lazily so that listing them imports neither torch nor Optuna.

Each entry is a ``"module:Class"`` string (see :mod:`nas.registry`); ``STRATEGIES.create(name, space,
seed=..., objective=..., **options)`` imports the module on first use and rejects unknown options.
The one-shot methods (:data:`nas.registry.ONESHOT`) and their trial runner (:data:`nas.registry.TRIALS`,
``"oneshot"``) are registered here too.
"""
from __future__ import annotations

from nas.registry import ONESHOT, STRATEGIES, TRIALS

STRATEGIES.add("random", "strategies.random:RandomSearch",
               "uniform random sampling, deduplicated on the canonical architecture key")
STRATEGIES.add("evolution", "strategies.evolution:RegularizedEvolution",
               "regularized (aging) evolution, Real et al. 2019 Algorithm 1")
STRATEGIES.add("rl", "strategies.rl:ReinforceController", "REINFORCE with an LSTM controller (Zoph & Le 2017, ENAS)")
STRATEGIES.add("tpe", "strategies.tpe:TPEStrategy", "Optuna TPE over decisions(); NSGA-II for --objective pareto")
STRATEGIES.add("darts", "strategies.oneshot.strategy:DartsStrategy",
               "DARTS one-shot supernet search, first or second order (Liu et al. 2019); spaces with a supernet")
STRATEGIES.add("scaling", "strategies.scaling:CompoundScaling",
               "EfficientNet compound scaling: grid over (alpha, beta, gamma), then phi = 2.. (space mbconv only)")

ONESHOT.add("darts", "strategies.oneshot.darts:Darts", "DARTS, first or second order (Liu et al., ICLR 2019)")
TRIALS.add("oneshot", "strategies.oneshot.strategy:run_oneshot_trial",
           "one-shot search as one trial: the method named in the proposal's config")

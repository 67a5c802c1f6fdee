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
STRATEGIES.add("local", "strategies.local:LocalSearch",
               "local search with restarts over the mutation neighbourhood (White et al. 2021)")
STRATEGIES.add("bananas", "strategies.bananas:Bananas",
               "BANANAS: an ensemble of MLP predictors with Thompson sampling over mutations (White et al. 2021)")
STRATEGIES.add("darts", "strategies.oneshot.strategy:DartsStrategy",
               "DARTS one-shot supernet search, first or second order (Liu et al. 2019); spaces with a supernet")
STRATEGIES.add("gdas", "strategies.oneshot.gdas:GdasStrategy",
               "GDAS: Gumbel-softmax one-path supernet search (Dong & Yang 2019); spaces with a supernet")
STRATEGIES.add("pcdarts", "strategies.oneshot.pcdarts:PcDartsStrategy",
               "PC-DARTS: partial channels + edge normalization (Xu et al. 2020); spaces with a supernet")
STRATEGIES.add("enas", "strategies.oneshot.enas:EnasStrategy",
               "ENAS: LSTM controller over shared-supernet paths (Pham et al. 2018); spaces with a supernet")
STRATEGIES.add("rsws", "strategies.oneshot.rsws:RandomSearchWSStrategy",
               "random search with weight sharing (Li & Talwalkar 2019); spaces with a supernet")
STRATEGIES.add("scaling", "strategies.scaling:CompoundScaling",
               "EfficientNet compound scaling: grid over (alpha, beta, gamma), then phi = 2.. (space mbconv only)")
STRATEGIES.add("hyperband", "strategies.hyperband:Hyperband",
               "Hyperband, brackets of successive halving over epochs with promotion (Li et al., JMLR 2018)")
STRATEGIES.add("bohb", "strategies.bohb:BOHB",
               "BOHB, Hyperband with a density model per budget (Falkner et al., ICML 2018)")
STRATEGIES.add("asha", "strategies.asha:ASHA",
               "ASHA, asynchronous successive halving with promotion (Li et al., MLSys 2020)")

ONESHOT.add("darts", "strategies.oneshot.darts:Darts", "DARTS, first or second order (Liu et al., ICLR 2019)")
ONESHOT.add("gdas", "strategies.oneshot.gdas:Gdas", "GDAS, Gumbel-softmax sampled paths (Dong & Yang, CVPR 2019)")
ONESHOT.add("pcdarts", "strategies.oneshot.pcdarts:PcDarts",
            "PC-DARTS, partial channels and edge normalization (Xu et al., ICLR 2020)")
ONESHOT.add("enas", "strategies.oneshot.enas:Enas", "ENAS, REINFORCE controller over shared weights (Pham et al., ICML 2018)")
ONESHOT.add("rsws", "strategies.oneshot.rsws:RandomSearchWS",
            "random search with weight sharing (Li & Talwalkar, UAI 2019)")
TRIALS.add("oneshot", "strategies.oneshot.strategy:run_oneshot_trial",
           "one-shot search as one trial: the method named in the proposal's config")

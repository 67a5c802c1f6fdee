"""BANANAS (White et al., AAAI 2021): the ensemble predictor learns, the path encoding, the strategy."""
from __future__ import annotations

import random

import pytest
from scipy.stats import spearmanr

from nas.errors import ConfigError
from nas.registry import SPACES, load_plugins
from nas.types import Result
from search_spaces.nb201 import Nb201Space
from strategies.bananas import Bananas
from strategies.predictor import EnsemblePredictor, features

load_plugins()


def synthetic(space, arch) -> float:
    """A fixed objective with interactions: per-decision weights plus a bonus for equal neighbours."""
    enc = space.encode(arch)
    w = random.Random(len(enc))
    table = [[w.uniform(0, 1) for _ in range(16)] for _ in enc]
    base = sum(table[i][c % 16] for i, c in enumerate(enc))
    return base + 0.5 * sum(1 for a, b in zip(enc, enc[1:]) if a == b)


@pytest.mark.parametrize("space_name", ["nb201", "darts"])
def test_the_predictor_ranks_held_out_architectures(space_name):
    space = SPACES.create(space_name)
    rng = random.Random(0)
    archs = {}
    while len(archs) < 300:
        a = space.sample(rng)
        archs.setdefault(a.key, a)
    archs = list(archs.values())
    train, test = archs[:150], archs[150:]
    model = EnsemblePredictor().fit([features(space, a) for a in train], [synthetic(space, a) for a in train], seed=0)
    mean, std = model.predict([features(space, a) for a in test])
    rho = spearmanr(mean, [synthetic(space, a) for a in test]).statistic
    assert rho >= 0.5, rho
    assert all(s >= 0 for s in std) and any(s > 0 for s in std)  # the ensemble disagrees somewhere


def test_fit_is_deterministic_for_a_seed():
    space = Nb201Space()
    archs = [space.sample(random.Random(i)) for i in range(30)]
    X, y = [features(space, a) for a in archs], [synthetic(space, a) for a in archs]
    a = EnsemblePredictor(epochs=20).fit(X, y, seed=3).predict(X)
    b = EnsemblePredictor(epochs=20).fit(X, y, seed=3).predict(X)
    c = EnsemblePredictor(epochs=20).fit(X, y, seed=4).predict(X)
    assert a == b and a != c


def test_nb201_path_encoding_counts_the_live_paths():
    space = Nb201Space()
    conv, none = space.ops.index("nor_conv_3x3"), space.ops.index("none")
    assert sum(space.path_encoding(space.decode([conv] * 6))) == 4
    assert sum(space.path_encoding(space.decode([none] * 6))) == 0
    # cutting edge 1<-0 removes the paths 0->1->3 and 0->1->2->3
    assert sum(space.path_encoding(space.decode([none] + [conv] * 5))) == 2
    one, two = space.decode([conv] * 6), space.decode([conv] * 5 + [space.ops.index("skip_connect")])
    assert space.path_encoding(one) != space.path_encoding(two)
    assert SPACES.create("nasnet").path_encoding(SPACES.create("nasnet").sample(random.Random(0))) is None


def test_bananas_proposes_predicted_mutations_after_the_initial_samples():
    space = Nb201Space()
    b = Bananas(space, seed=0, n_init=8, batch=4, epochs=50)
    origins = []
    for _ in range(20):
        p = b.ask()
        origins.append(p.info["origin"])
        b.tell(p.id, Result("ok", {"val_acc": synthetic(space, p.arch)}))
    assert origins[:8] == ["random"] * 8 and set(origins[8:]) == {"predictor"}
    assert b.fits == 3


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="acquisition"):
        Bananas(Nb201Space(), acquisition="ei")
    with pytest.raises(ConfigError, match="batch"):
        Bananas(Nb201Space(), batch=0)


@pytest.mark.slow
def test_bananas_beats_random_on_a_short_bench():
    from nas.app.bench import BenchConfig, run_bench

    res = run_bench(BenchConfig(strategies=("bananas", "random"), runs=4, seed=0, workers=1))
    s = res["strategies"]
    assert s["bananas"]["signal_mean"] > s["random"]["signal_mean"]
    assert s["bananas"]["report_mean"] > s["random"]["report_mean"]

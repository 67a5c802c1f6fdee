"""Zero-cost proxies (Mellor et al., ICML 2021; Abdelfattah et al., ICLR 2021): determinism and the trial metric."""
from __future__ import annotations

import math
import random

import pytest
import torch
from torch import nn

from evaluators.proxies import PROXIES, check_proxies, naswot, proxy_batch, proxy_scores
from nas.config import SearchConfig
from nas.errors import ConfigError
from nas.settings import build_settings
from search_spaces.nb201 import Nb201Space


def _builder(space, arch, info):
    settings = build_settings(space, info, SearchConfig(space=space.name))
    return lambda: space.build(arch, **settings)


def test_proxies_are_deterministic_for_a_seed_and_batch(digits):
    space = Nb201Space()
    arch = space.sample(random.Random(3))
    x, y = proxy_batch(digits, 32, seed=0)
    x2, y2 = proxy_batch(digits, 32, seed=0)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    a, _ = proxy_scores(_builder(space, arch, digits.info), list(PROXIES), x, y, seed=7)
    b, _ = proxy_scores(_builder(space, arch, digits.info), list(PROXIES), x, y, seed=7)
    assert a == b and set(a) == {f"proxy_{n}" for n in PROXIES}
    assert all(math.isfinite(v) for v in a.values())
    c, _ = proxy_scores(_builder(space, arch, digits.info), ["synflow", "snip"], x, y, seed=8)
    assert c["proxy_synflow"] != a["proxy_synflow"]  # another initialisation, another score


def test_naswot_counts_distinct_activation_patterns():
    # an identity "network" whose ReLU sees the input: K is the agreement matrix of the input signs
    net = nn.Sequential(nn.ReLU())
    same = torch.ones(4, 3)
    distinct = torch.tensor([[1., 1., 1.], [1., -1., -1.], [-1., 1., -1.], [-1., -1., 1.]])
    assert naswot(net, same, None) == -math.inf  # identical codes: K is singular
    # distinct codes: K = 3 on the diagonal, 1 elsewhere -> det = 2^3 * 6 = 48
    assert naswot(net, distinct, None) == pytest.approx(math.log(48.0))


def test_synflow_is_the_path_norm_of_a_linear_chain():
    net = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1., -2.], [3., 0.5]]))
        net[1].weight.copy_(torch.tensor([[-1., 2.]]))
    from evaluators.proxies import synflow

    # R = |w2| |W1| 1 = 1*(1+2) + 2*(3+0.5) = 10; sum |theta dR/dtheta| = R per layer = 20
    assert synflow(net, torch.zeros(1, 2), None) == pytest.approx(20.0)
    assert net[0].weight[0, 1].item() == -2.0  # signs restored


def test_unknown_proxy_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown proxy 'zen'"):
        check_proxies(["naswot", "zen"])
    with pytest.raises(ConfigError, match="proxies"):
        SearchConfig().update({"proxies": [1]})


def test_proxies_are_trial_metrics_and_leave_training_unchanged(digits):
    from evaluators.candidate import evaluate_candidate
    from nas.types import Proposal

    space = Nb201Space()
    arch = space.sample(random.Random(0))
    plain = SearchConfig(space="nb201", epochs=1)
    with_proxies = SearchConfig(space="nb201", epochs=1, proxies=["naswot", "grad_norm"])
    r0 = evaluate_candidate(space, Proposal("t00000", arch), plain, digits, device="cpu")
    r1 = evaluate_candidate(space, Proposal("t00000", arch), with_proxies, digits, device="cpu")
    assert r0.status == r1.status == "ok"
    assert r1.metrics["val_acc"] == r0.metrics["val_acc"]
    assert {"proxy_naswot", "proxy_grad_norm", "proxy_seconds"} <= set(r1.metrics)
    assert r1.metrics["proxy_seconds"] > 0 and "proxy_naswot" not in r0.metrics

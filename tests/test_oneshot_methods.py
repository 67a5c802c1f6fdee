"""GDAS, PC-DARTS, ENAS and RSWS: the one-shot contract on every space with a supernet, their
mixed ops, and tests that they learn on a task whose best op per edge is known by construction."""
from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nas.nn.mixed_ops import EdgeNormalizedSupernet, SampledMixedOp, SampledSupernet, channel_shuffle, probe_edges
from nas.nn.supernet import DartsSupernet, MixedOp
from nas.registry import ONESHOT, SPACES, load_plugins
from nas.testing import OneShotConformance

load_plugins()
REPO = Path(__file__).resolve().parents[1]
#: every space offering a supernet: registered ones and the shipped space files
SUPERNET_SPACES = [n for n in SPACES.names() if SPACES.create(n).has_supernet()] + [
    n for n in (SPACES.resolve(str(p)) for p in sorted((REPO / "search_spaces" / "examples").glob("*.yaml")))
    if SPACES.create(n).has_supernet()]

BAD_OPTIONS = {
    "gdas": [{"tau_max": 0.0}, {"tau_min": 20.0}, {"tau_max": "hot"}, {"w_lr": -1.0}, {"alpha_init": "ones"}],
    "pcdarts": [{"k": 0}, {"k": 2.5}, {"order": 3}, {"train_portion": 1.5}],
    "enas": [{"controller_lr": 0.0}, {"baseline_decay": 1.0}, {"hidden": 0}, {"controller_steps": -1},
             {"entropy_weight": -1.0}, {"w_momentum": 1.0}],
    "rsws": [{"n_candidates": 0}, {"eval_batches": 0}, {"w_lr_min": 1.0}, {"train_portion": 0.0}],
}
#: options that keep the conformance trials at a few seconds (the tiny supernet has 2 channels: K=2)
FAST = {"gdas": {}, "pcdarts": {"k": 2, "hessian_every": 0}, "enas": {"controller_steps": 3, "final_samples": 3},
        "rsws": {"n_candidates": 4, "eval_batches": 1}}


class _Methods(OneShotConformance):
    method_name = ""

    @property
    def bad_options(self):  # type: ignore[override]
        return BAD_OPTIONS[self.method_name]

    @pytest.fixture
    def method(self):
        return functools.partial(ONESHOT.get(self.method_name), **FAST[self.method_name])




class TestGdas(_Methods):
    method_name = "gdas"


class TestPcDarts(_Methods):
    method_name = "pcdarts"


class TestEnas(_Methods):
    method_name = "enas"


class TestRandomSearchWS(_Methods):
    method_name = "rsws"


@pytest.fixture(scope="module")
def digits():
    """The conformance suite's data: 48 training and 64 validation digits."""
    from evaluators.batches import TensorSource
    from evaluators.data import DataBundle, load_data

    d = load_data("digits", seed=0)
    return DataBundle(d.info, TensorSource(d.train.x[:48], d.train.y[:48]), TensorSource(d.val.x[:64], d.val.y[:64]),
                      d.test)


@pytest.mark.slow
@pytest.mark.parametrize("space_name", [n for n in SUPERNET_SPACES if n != "darts"])
@pytest.mark.parametrize("name", sorted(FAST))
def test_each_method_searches_every_space_with_a_supernet(name, space_name, digits):
    """One epoch of each method on each other space with a supernet; the result builds and runs."""
    suite, data = TestGdas(), digits
    space = SPACES.create(space_name)
    m = ONESHOT.create(name, **FAST[name])
    res = m.run(space, suite.proposal(m), suite.config(epochs=1), data, device="cpu")
    assert res.status == "ok", res.error
    space.validate(res.arch)
    net = space.build(res.arch, in_channels=1, num_classes=10, channels=4, layers=3)
    out = net(data.val.x[:2])
    out = out[0] if isinstance(out, tuple) else out
    assert out.shape == (2, 10) and bool(torch.isfinite(out).all())


# -- the mixed ops ---------------------------------------------------------------------------------
def tiny_net(seed: int = 0) -> DartsSupernet:
    torch.manual_seed(seed)
    return DartsSupernet(8, 10, 3, in_channels=1)


def test_probe_finds_every_edge_its_row_and_the_node_groups():
    probes, groups = probe_edges(tiny_net(), (2, 1, 8, 8))
    assert len(probes) == 3 * 14
    assert {(p.param, p.row) for p in probes.values()} == {(a, r) for a in (0, 1) for r in range(14)}
    assert groups == [[[0, 1], [2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12, 13]]] * 2
    assert {p.stride for p in probes.values() if p.param == 0} == {1}  # normal cells
    assert {p.stride for p in probes.values() if p.param == 1} == {1, 2}  # reductions: stride 2 from the inputs


def test_channel_shuffle_interleaves_groups():
    x = torch.arange(8.0).view(1, 8, 1, 1)
    assert channel_shuffle(x, 4).flatten().tolist() == [0, 2, 4, 6, 1, 3, 5, 7]


def test_sampled_path_runs_only_the_chosen_op_and_matches_the_discrete_sum():
    net = SampledSupernet(tiny_net(), (2, 1, 8, 8))
    sizes = net.path_sizes()
    assert sizes == [8] * 28
    x = torch.randn(4, 1, 8, 8)
    path = [3] * 28  # skip_connect everywhere
    net.set_path(path)
    out = net(x)
    ref = tiny_net()  # the same weights, DARTS' weighted sum with exact one-hot weights
    with torch.no_grad():
        for a in ref.arch_parameters():
            a.fill_(-1e4)
            a[:, 3] = 0.0
    assert torch.allclose(out, ref(x), atol=1e-5)


def test_gdas_forward_is_one_hot_and_its_gradient_reaches_every_alpha():
    net = SampledSupernet(tiny_net(), (2, 1, 8, 8), gumbel=True, tau=lambda e: 1.0)
    net.train()
    calls = []
    for m in net.modules():
        if isinstance(m, SampledMixedOp):
            for op in m._ops:
                op.register_forward_hook(lambda mod, i, o: calls.append(1))
    x, y = torch.randn(4, 1, 8, 8), torch.randint(0, 10, (4,))
    F.cross_entropy(net(x), y).backward()
    assert len(calls) == 3 * 14  # one op per edge per cell
    g = net.net.alphas_normal.grad
    assert g is not None and bool((g.abs().sum(1) > 0).all())


def test_partial_channels_keep_the_shape_and_normalise_beta_per_node():
    net = EdgeNormalizedSupernet(tiny_net(), (2, 1, 8, 8), k=4)
    x = torch.randn(4, 1, 8, 8)
    assert net(x).shape == (4, 10)
    assert len(net.arch_parameters()) == 4
    w = net.edge_weights()
    for rows in ([0, 1], [2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12, 13]):
        assert abs(sum(w[0][r] for r in rows) - 1.0) < 1e-6
    full = sum(p.numel() for p in tiny_net().weights())
    assert sum(p.numel() for p in net.weights()) < 0.4 * full  # the ops see a quarter of the channels
    with pytest.raises(ValueError, match="K=3"):
        EdgeNormalizedSupernet(tiny_net(), (2, 1, 8, 8), k=3)


# -- learning: a task whose best op per edge is known by construction --------------------------------
#: toy ops over channels: the zero op, the identity and the negation
TOY_OPS = {"zero": lambda x: x * 0.0, "identity": lambda x: x, "negate": lambda x: -x}


class _Fn(torch.nn.Module):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    def forward(self, x):
        return TOY_OPS[self.name](x)


class ToyMixed(MixedOp):
    """A MixedOp over the toy ops (so that PC-DARTS can rebuild it on a channel part)."""

    def __init__(self, C: int, stride: int, primitives=tuple(TOY_OPS)) -> None:
        torch.nn.Module.__init__(self)
        self._ops = torch.nn.ModuleList(_Fn(n) for n in primitives)


class ToySupernet(torch.nn.Module):
    """logits = exp(s) · (e0(signal) + e1(noise)): e0 must be the identity, e1 the zero op.

    ``signal`` is the label's one-hot (times 3) plus unit noise, ``noise`` is noise of scale 3: the
    identity on e0 carries the label (negation inverts it, zero loses it), and any op but zero on
    e1 adds noise (identity and negation equally).
    """

    primitives = tuple(TOY_OPS)

    def __init__(self, C: int = 8) -> None:
        super().__init__()
        self.C = C
        self.alphas = torch.nn.Parameter(torch.zeros(2, len(TOY_OPS)))
        self.edges = torch.nn.ModuleList([ToyMixed(C, 1), ToyMixed(C, 1)])
        self.scale = torch.nn.Parameter(torch.tensor(0.0))  # exp(): positive, so negation cannot be undone

    def arch_parameters(self):
        return [self.alphas]

    def weights(self):
        return [self.scale]

    def named_weights(self):
        return [("scale", self.scale)]

    def forward(self, x):
        w = F.softmax(self.alphas, dim=-1)
        h = self.edges[0](x[:, :self.C], w[0]) + self.edges[1](x[:, self.C:], w[1])
        return self.scale.exp() * h.flatten(1)


def toy_batch(gen: torch.Generator, n: int = 64, C: int = 8, k: int = 1):
    y = torch.randint(0, C, (n,), generator=gen)
    signal = 3.0 * F.one_hot(y, C).float() + torch.randn(n, C, generator=gen)
    noise = 3.0 * torch.randn(n, C, generator=gen)
    x = torch.cat([signal, noise], 1).view(n, 2 * C, 1, 1)
    if k > 1:  # PC-DARTS shuffles channels: the label is where the class channel ends up
        y = channel_shuffle(F.one_hot(y, C).float().view(n, C, 1, 1), k).flatten(1).argmax(1)
    return x, y


def search_toy(model, steps: int, gen: torch.Generator, *, k: int = 1, lr: float = 3e-4, epochs: int = 1):
    """First-order DARTS steps (the Architect and SGD of the DARTS loop) on the toy task."""
    from strategies.oneshot.architect import Architect

    arch = Architect(model, order=1, lr=lr, weight_decay=0.0)
    w_opt = torch.optim.SGD(model.weights(), lr=0.05, momentum=0.9)
    for e in range(epochs):
        model.train()
        for _ in range(steps):
            (xt, yt), (xv, yv) = toy_batch(gen, k=k), toy_batch(gen, k=k)
            arch.step(xt, yt, xv, yv, 0.05, w_opt)
            loss = F.cross_entropy(model(xt), yt)
            w_opt.zero_grad()
            loss.backward(inputs=model.weights())
            w_opt.step()
        model.eval()  # the epoch's validation: GDAS' τ moves on


def test_gdas_learns_the_right_op_per_edge():
    from strategies.oneshot.gdas import Gdas

    torch.manual_seed(0)
    gdas, epochs = Gdas(), 10
    model = SampledSupernet(ToySupernet(), (2, 16, 1, 1), gumbel=True, tau=lambda e: gdas.tau(e, epochs))
    search_toy(model, 40, torch.Generator().manual_seed(0), lr=0.05, epochs=epochs)
    assert int(model.epoch) == epochs and gdas.tau(epochs - 1, epochs) == pytest.approx(0.1)
    best = model.net.alphas.argmax(1).tolist()
    assert best == [TOY_OPS_INDEX["identity"], TOY_OPS_INDEX["zero"]], model.net.alphas


def test_pcdarts_learns_the_right_op_per_edge():
    torch.manual_seed(0)
    model = EdgeNormalizedSupernet(ToySupernet(), (2, 16, 1, 1), k=2)
    search_toy(model, 300, torch.Generator().manual_seed(0), k=2, lr=0.05)
    best = model.net.alphas.argmax(1).tolist()
    assert best == [TOY_OPS_INDEX["identity"], TOY_OPS_INDEX["zero"]], model.net.alphas
    w = model.edge_weights()[0]
    assert w[0] > w[1], "edge normalization should favour the informative edge"


def test_enas_controller_shifts_probability_towards_the_right_ops():
    from strategies.oneshot.enas import Enas
    from strategies.oneshot.rsws import path_accuracy

    torch.manual_seed(0)
    enas = Enas(controller_lr=3.5e-3)
    model = SampledSupernet(ToySupernet(), (2, 16, 1, 1))
    enas.setup(model, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    right = [TOY_OPS_INDEX["identity"], TOY_OPS_INDEX["zero"]]
    before = enas.controller.probabilities(right)
    w_opt = torch.optim.SGD(model.weights(), lr=0.05)
    for _ in range(3):  # the two ENAS phases: shared weights on sampled paths, then the controller
        model.train()
        for _ in range(20):
            model.set_path(enas.train_path(model, gen))
            x, y = toy_batch(gen)
            loss = F.cross_entropy(model(x), y)
            w_opt.zero_grad()
            loss.backward()
            w_opt.step()
        for _ in range(100):
            path = enas.controller.sample(gen)[0]
            enas.reinforce(path, path_accuracy(model, path, [toy_batch(gen)]))
    after = enas.controller.probabilities(right)
    for t, op in enumerate(right):
        assert after[t][op] > before[t][op] + 0.1, (before, after)
    assert enas.epoch_path(model, gen) == right


TOY_OPS_INDEX = {n: i for i, n in enumerate(TOY_OPS)}


@pytest.mark.parametrize("name", sorted(FAST))
def test_registered_strategy_defaults_are_the_methods(name):
    from nas.registry import STRATEGIES

    strat = STRATEGIES.create(name, SPACES.create("darts"), seed=0)
    assert strat.method.name == name and strat.method.options == ONESHOT.get(name)().options

"""DARTS: supernet, derivation rule, first/second-order architect, the search trial and the strategy.

Facts checked against the paper and its released code (never against this code): the supernet
weight count 1,930,618, the derivation rule (Liu et al., ICLR 2019, §2.4) and the second-order
gradient (§2.3, eqs. 7-8), which is compared with an exact double-backprop computation of the
same unrolled objective.
"""
from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from evaluators.batches import TensorSource
from evaluators.data import DataBundle, load_data
from nas.arch import Architecture
from nas.config import SearchConfig
from nas.errors import ConfigError
from nas.registry import ONESHOT, SPACES, STRATEGIES, load_plugins
from nas.types import Proposal, Result
from search_spaces.darts import PRIMITIVES, DartsSpace
from strategies.oneshot.architect import Architect
from strategies.oneshot.base import split_source
from strategies.oneshot.strategy import run_oneshot_trial

load_plugins()
SPACE = DartsSpace()


# -- supernet ---------------------------------------------------------------------------------
def test_supernet_has_quark0_weight_count_and_separate_alphas():
    net = SPACE.supernet(channels=16, num_classes=10, layers=8)
    assert sum(p.numel() for p in net.weights()) == 1_930_618  # the released code's count, alphas excluded
    alphas = net.arch_parameters()
    assert [tuple(a.shape) for a in alphas] == [(14, 8), (14, 8)]
    assert not {id(a) for a in alphas} & {id(p) for p in net.weights()}
    assert {"alphas_normal", "alphas_reduce"} <= set(net.state_dict())
    assert all(a.abs().max() < 0.01 and a.std() > 0 for a in alphas)  # quark0: 1e-3 * randn
    zero = SPACE.supernet(channels=4, layers=3, alpha_init="zeros")
    assert all(not a.detach().any() for a in zero.arch_parameters())  # the paper's init
    with pytest.raises(ConfigError, match="unexpected option"):
        SPACE.supernet(channels=4, C=4)


def test_supernet_runs_on_tiny_digits_inputs():
    net = SPACE.supernet(channels=4, num_classes=10, layers=3, in_channels=1)
    out = net(torch.randn(3, 1, 8, 8))
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(a.grad is not None for a in net.arch_parameters())


# -- derivation (DARTS §2.4) ------------------------------------------------------------------
OP = {name: k for k, name in enumerate(PRIMITIVES)}


def weights_with(rows: dict[int, dict[str, float]]) -> list[list[float]]:
    """14x8 softmax-like rows: uniform, except the given edges (the rest of each row spread evenly)."""
    out = []
    for e in range(14):
        spec = rows.get(e, {})
        rest = (1.0 - sum(spec.values())) / (8 - len(spec))
        out.append([spec.get(name, rest) for name in PRIMITIVES])
    return out


def test_derivation_ignores_none_and_lists_strongest_edge_first():
    # node 1 (edges 2, 3, 4 from states 0, 1, 2): edge 2 is dominated by 'none' -> ignored;
    # edge 4 (from node 0 = state 2) is stronger than edge 3 and comes first.
    w = weights_with({
        2: {"none": 0.93, "sep_conv_3x3": 0.01},
        3: {"sep_conv_5x5": 0.40},
        4: {"none": 0.50, "dil_conv_5x5": 0.45},  # 'none' is this edge's largest weight: never chosen
    })
    from nas.nn.supernet import derive_cell

    gene = derive_cell(w)
    assert gene[2:4] == [("dil_conv_5x5", 2), ("sep_conv_5x5", 1)]
    assert len(gene) == 8 and all(op != "none" for op, _ in gene)


def test_derivation_ties_go_to_lower_state_and_lower_op():
    from nas.nn.supernet import derive_cell

    gene = derive_cell(weights_with({}))  # all equal: every tie rule at once
    assert gene == [("max_pool_3x3", 0), ("max_pool_3x3", 1)] * 4  # lowest op index, states 0 and 1


def test_supernet_genotype_from_hand_set_alphas_is_a_valid_darts_architecture():
    net = SPACE.supernet(channels=4, layers=3, in_channels=1)
    target = {"normal": [("sep_conv_3x3", 1), ("skip_connect", 0), ("dil_conv_3x3", 2), ("sep_conv_5x5", 0),
                         ("max_pool_3x3", 3), ("avg_pool_3x3", 1), ("dil_conv_5x5", 4), ("sep_conv_3x3", 2)],
              "reduce": [("max_pool_3x3", 0), ("avg_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
                         ("sep_conv_5x5", 3), ("dil_conv_3x3", 0), ("skip_connect", 2), ("max_pool_3x3", 4)]}
    with torch.no_grad():
        for alphas, cell in zip(net.arch_parameters(), ("normal", "reduce")):
            alphas.zero_()
            alphas[:, OP["none"]] = 5.0  # strongest everywhere, and must be ignored
            starts = [0, 2, 5, 9]
            for i in range(4):
                for rank, (op, j) in enumerate(target[cell][2 * i:2 * i + 2]):
                    alphas[starts[i] + j, OP[op]] = 3.0 - rank  # first listed = strongest
    g = net.genotype()
    assert g["normal"] == target["normal"] and g["reduce"] == target["reduce"]
    assert g["normal_concat"] == g["reduce_concat"] == [2, 3, 4, 5]
    arch = SPACE.from_derived(g)
    SPACE.validate(arch)
    assert SPACE.to_genotype(arch).startswith("Genotype(normal=[('sep_conv_3x3', 1), ('skip_connect', 0)")


# -- the architect (DARTS §2.3) ---------------------------------------------------------------------
def smooth(net: nn.Module) -> nn.Module:
    """ReLU -> Softplus and max -> avg pooling: a network whose ∇_α L is smooth in w."""
    for parent in list(net.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(parent, name, nn.Softplus())
            elif isinstance(child, nn.MaxPool2d):
                setattr(parent, name, nn.AvgPool2d(3, child.stride, 1, count_include_pad=False))
    return net


def tiny_problem(seed: int = 0):
    torch.manual_seed(seed)
    net = SPACE.supernet(channels=2, num_classes=10, layers=3, in_channels=1).double()
    with torch.no_grad():
        for a in net.arch_parameters():
            a.normal_(0.0, 0.5)
    batches = [(torch.randn(8, 1, 8, 8, dtype=torch.float64), torch.randint(0, 10, (8,))) for _ in range(2)]
    return net, batches


def exact_hypergradient(arch: Architect, net: nn.Module, batches, lr: float, opt) -> list[torch.Tensor]:
    """d/dα L_val(w′(α), α) with w′ = w − ξ(μ·buf + ∇_w L_train(w, α) + λw), by double backprop."""
    (xt, yt), (xv, yv) = batches
    names, ws = zip(*net.named_weights())
    bufs = {n: b.clone() for n, b in net.named_buffers()}
    grads = torch.autograd.grad(arch._loss(names, ws, bufs, xt, yt), ws, create_graph=True)
    unrolled = [w - lr * (g + arch.w_weight_decay * w + arch.w_momentum * opt.state[w]["momentum_buffer"])
                for w, g in zip(ws, grads)]
    return list(torch.autograd.grad(arch._loss(names, unrolled, bufs, xv, yv), arch.alphas))


def with_momentum(net: nn.Module, batches, lr: float = 0.05):
    """An SGD optimizer that has taken one step (so it has momentum buffers)."""
    opt = torch.optim.SGD(net.weights(), lr=lr, momentum=0.9, weight_decay=3e-4)
    x, y = batches[0]
    nn.functional.cross_entropy(net(x), y).backward(inputs=net.weights())
    opt.step()
    return opt


def relative_error(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    fa, fb = torch.cat([t.flatten() for t in a]), torch.cat([t.flatten() for t in b])
    return float((fa - fb).norm() / fb.norm())


def test_second_order_gradient_matches_double_backprop_with_quark0_radius():
    net, batches = tiny_problem()
    smooth(net)
    opt = with_momentum(net, batches)
    arch = Architect(net, order=2)  # fd_radius 0.01 as quark0
    lr = 0.5  # a large ξ makes the implicit (Hessian) term a large part of the gradient
    (xt, yt), (xv, yv) = batches
    approx, _ = arch.hypergradient(xt, yt, xv, yv, lr, opt)
    exact = exact_hypergradient(arch, net, batches, lr, opt)
    first_order_only = exact_hypergradient(arch, net, batches, 0.0, opt)
    assert relative_error(first_order_only, exact) > 0.05  # the implicit term matters here ...
    assert relative_error(approx, exact) < 5e-3  # ... and the finite difference gets it right


def test_finite_difference_is_exact_on_the_relu_supernet_at_a_tiny_radius():
    net, batches = tiny_problem(1)
    opt = with_momentum(net, batches)
    arch = Architect(net, order=2, fd_radius=1e-6)  # float64: no unit switches inside ±ε
    (xt, yt), (xv, yv) = batches
    approx, _ = arch.hypergradient(xt, yt, xv, yv, 0.5, opt)
    assert relative_error(approx, exact_hypergradient(arch, net, batches, 0.5, opt)) < 1e-5


@pytest.mark.parametrize("order", [1, 2])
def test_architect_step_moves_only_the_alphas(order):
    net, batches = tiny_problem(2)
    opt = with_momentum(net, batches)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    arch = Architect(net, order=order)
    (xt, yt), (xv, yv) = batches
    for _ in range(3):
        arch.step(xt, yt, xv, yv, 0.025, opt)
    after = net.state_dict()
    for name in ("alphas_normal", "alphas_reduce"):
        assert 0 < float((before[name] - after[name]).abs().max()) < 0.01  # Adam, lr 3e-4
    buffers = {n for n, _ in net.named_buffers()}
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    if order == 1:  # quark0: the validation forward pass updates the BN running statistics
        assert changed - buffers == {"alphas_normal", "alphas_reduce"}
    else:  # the unrolled and ±ε passes run on copies of the buffers
        assert changed == {"alphas_normal", "alphas_reduce"}


# -- the search trial ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_digits() -> DataBundle:
    """48 training and 64 validation digits: one DARTS step per epoch at batch 24."""
    d = load_data("digits", seed=0)
    return DataBundle(d.info, TensorSource(d.train.x[:48], d.train.y[:48]), TensorSource(d.val.x[:64], d.val.y[:64]),
                      d.test)


def config(**kw) -> SearchConfig:
    return SearchConfig(**{"space": "darts", "strategy": "darts", "epochs": 2, "batch_size": 24, "channels": 2,
                           "layers": 3, **kw})


def proposal(**settings) -> Proposal:
    return Proposal("t00000", None, {"method": "darts", **settings}, runner="oneshot")


def run_darts(space, p: Proposal, cfg: SearchConfig, data, **kw) -> Result:
    """The DARTS method's trial for ``p`` (its options: ``p.config`` less ``method``)."""
    options = {k: v for k, v in p.config.items() if k != "method"}
    return ONESHOT.create("darts", **options).run(space, p, cfg, data, **kw)


def test_split_source_is_seeded_disjoint_and_complete(small_digits):
    a, b = split_source(small_digits.train, 0.5, seed=3)
    a2, _ = split_source(small_digits.train, 0.5, seed=3)
    assert len(a) == len(b) == 24 and torch.equal(a.x, a2.x)
    rows = {tuple(r.tolist()) for r in torch.cat([a.x, b.x]).flatten(1)}
    assert len(rows) == len({tuple(r.tolist()) for r in small_digits.train.x.flatten(1)})


class Killed(BaseException):
    """Stands for the process dying after an epoch's checkpoint was written."""


def test_resume_from_epoch_checkpoint_gives_identical_alphas(small_digits, tmp_path):
    p = proposal(order=2)
    full = run_darts(SPACE, p, config(), small_digits, device="cpu", checkpoint=tmp_path / "a.pt")
    assert full.status == "ok", full.error
    assert not (tmp_path / "a.pt").exists()  # removed once the result is returned

    def die(row):
        if row["epoch"] == 1:
            raise Killed
    ckpt = tmp_path / "b.pt"
    with pytest.raises(Killed):
        run_darts(SPACE, p, config(), small_digits, device="cpu", checkpoint=ckpt, on_epoch=die)
    assert ckpt.exists()
    resumed = run_darts(SPACE, p, config(), small_digits, device="cpu", checkpoint=ckpt)
    assert resumed.status == "ok"
    for key in ("alphas_normal", "alphas_reduce", "genotype"):
        assert resumed.arch.meta[key] == full.arch.meta[key]
    assert resumed.metrics["val_acc"] == full.metrics["val_acc"]
    assert [r["train_loss"] for r in resumed.report["history"]] == [r["train_loss"] for r in full.report["history"]]


def test_resumed_search_reports_the_epoch_it_continued_from(small_digits, tmp_path):
    """``worker["resumed_from_epoch"]`` comes from the search itself (Ray and local alike)."""
    def die(row):
        raise Killed
    ckpt = tmp_path / "c.pt"
    with pytest.raises(Killed):
        run_darts(SPACE, proposal(), config(), small_digits, device="cpu", checkpoint=ckpt, on_epoch=die)
    resumed = run_darts(SPACE, proposal(), config(), small_digits, device="cpu", checkpoint=ckpt)
    assert resumed.status == "ok" and resumed.worker["resumed_from_epoch"] == 1 and not ckpt.exists()
    fresh = run_darts(SPACE, proposal(), config(epochs=1), small_digits, device="cpu", checkpoint=ckpt)
    assert fresh.status == "ok" and fresh.worker["resumed_from_epoch"] == 0


def test_search_result_carries_the_derived_architecture(small_digits):
    res = run_darts(SPACE, proposal(), config(epochs=1), small_digits, device="cpu")
    assert res.status == "ok" and res.arch is not None
    arch = res.arch
    SPACE.validate(arch)
    assert arch.space == "darts" and arch.meta["genotype"] == SPACE.to_genotype(arch)
    probs = arch.meta["alphas_normal"]
    assert len(probs) == 14 and all(len(r) == 8 and math.isclose(sum(r), 1.0, rel_tol=1e-6) for r in probs)
    assert Architecture.from_dict(json.loads(json.dumps(res.to_dict()["result_arch"]))) == arch
    # params/macs are those of the derived evaluation network with the search's build settings
    from nas.nn.measure import count_params

    net = SPACE.build(arch, in_channels=1, num_classes=10, channels=2, layers=3)
    assert res.metrics["params"] == count_params(net)
    assert res.metrics["supernet_params"] > res.metrics["params"]
    assert res.metrics["epochs"] == 1 and 0.0 <= res.metrics["val_acc"] <= 100.0


def test_divergence_timeout_and_bad_settings_are_results(small_digits):
    bad_x = TensorSource(torch.full_like(small_digits.train.x, float("nan")), small_digits.train.y)
    nan_data = DataBundle(small_digits.info, bad_x, small_digits.val, small_digits.test)
    res = run_darts(SPACE, proposal(), config(), nan_data, device="cpu")
    assert res.status == "failed" and "diverged" in res.error
    res = run_darts(SPACE, proposal(), config(trial_timeout=1e-6), small_digits, device="cpu")
    assert res.status == "timeout"
    res = run_oneshot_trial(SPACE, proposal(order=3), config(), small_digits, device="cpu")
    assert res.status == "failed" and "order" in res.error


# -- the strategy -------------------------------------------------------------------------------------
def test_strategy_asks_once_and_is_done_after_its_result():
    strat = STRATEGIES.create("darts", SPACE, seed=0, order=2, w_lr=0.05)
    assert strat.trial_runner == "oneshot" and not strat.done()
    p = strat.ask()
    assert p.arch is None and p.runner == "oneshot" and p.config["method"] == "darts" and p.config["order"] == 2
    assert p.config["w_lr"] == 0.05 and p.config["alpha_lr"] == 3e-4 and p.config["train_portion"] == 0.5
    assert strat.ask() is None and not strat.done()
    state = json.loads(json.dumps(strat.state_dict()))
    twin = STRATEGIES.create("darts", SPACE, seed=0, order=2, w_lr=0.05)
    twin.load_state_dict(state)
    assert twin.ask() is None and twin.state_dict() == state
    derived = SPACE.sample(random.Random(0))
    strat.tell("t99999", Result("ok", {"val_acc": 1.0}))  # unknown id: ignored
    assert not strat.done()
    strat.tell(p.id, Result("ok", {"val_acc": 50.0}, arch=derived))
    assert strat.done() and strat.ask() is None
    assert json.loads(json.dumps(strat.state_dict()))["result"]["arch"] == derived.to_dict()


def test_strategy_refuses_other_spaces_and_bad_options():
    without = [n for n in SPACES.names() if not SPACES.create(n).has_supernet()]
    assert "nasnet" in without and "darts" not in without
    for name in without:  # refused because the space offers no supernet, whatever its name
        with pytest.raises(ConfigError, match=f"space '{name}' offers none"):
            STRATEGIES.create("darts", SPACES.create(name))
    with pytest.raises(ConfigError, match="order"):
        STRATEGIES.create("darts", SPACE, order=3)
    with pytest.raises(ConfigError, match="train_portion"):
        STRATEGIES.create("darts", SPACE, train_portion=1.5)
    from nas.objectives import pareto

    with pytest.raises(ConfigError, match="multi-objective"):
        STRATEGIES.create("darts", SPACE, objective=pareto())


@pytest.mark.slow
def test_cli_search_journals_and_exports_the_derived_architecture(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    argv = ["search", "--space", "darts", "--strategy", "darts", "--epochs", "1", "--channels", "2",
            "--layers", "3", "--batch-size", "256", "--name", "d", "--runs-dir", str(tmp_path)]
    proc = subprocess.run([sys.executable, "-m", "nas", *argv], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the strategy is done" in proc.stdout
    run = tmp_path / "d"
    trials = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    assert len(trials) == 1 and trials[0]["status"] == "ok" and trials[0]["arch"] is None
    derived = Architecture.from_dict(trials[0]["result_arch"])
    SPACE.validate(derived)
    exported = Architecture.load(next((run / "best").glob("1-*")) / "arch.yaml")
    assert exported == derived and exported.meta["genotype"] == derived.meta["genotype"]
    assert not list((run / "checkpoints").glob("*.pt"))
    from nas.app.export import export_top

    (folder,) = export_top(run, top=1, formats="yaml", out=tmp_path / "again")
    assert Architecture.load(Path(folder) / "arch.yaml") == derived

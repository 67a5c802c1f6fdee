"""One-shot search on any cell space: the NB201 supernet, DARTS on nb201/darts/S3, the collapse
diagnostics (Hessian eigenvalue vs the explicit Hessian), the guards and a learning test."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from nas.config import SearchConfig
from nas.registry import ONESHOT, SPACES, load_plugins
from nas.testing import OneShotConformance
from nas.types import Proposal
from strategies.oneshot.diagnostics import (
    dominant_eigenvalue,
    explicit_hessian,
    mean_entropy,
    param_free_share,
)
from strategies.oneshot.guards import capped_derive, should_stop_early
from strategies.oneshot.strategy import ONESHOT_RUNNER

load_plugins()
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


@pytest.fixture(scope="module")
def data():
    from evaluators.batches import TensorSource
    from evaluators.data import DataBundle, load_data

    d = load_data("digits", seed=0)
    return DataBundle(d.info, TensorSource(d.train.x[:48], d.train.y[:48]),
                      TensorSource(d.val.x[:64], d.val.y[:64]), d.test)


def _set_alphas(net, choice):
    with torch.no_grad():
        net.alphas.zero_()
        for e, op in enumerate(choice):
            net.alphas[e, OPS.index(op)] = 1.0


# -- the NB201 supernet ------------------------------------------------------------------------
def test_nb201_supernet_mixes_all_ops_and_derives_the_argmax_per_edge():
    space = SPACES.create("nb201")
    assert space.has_supernet()
    net = space.supernet(channels=4, layers=1, in_channels=1)
    assert [tuple(a.shape) for a in net.arch_parameters()] == [(6, 5)] and net.primitives == OPS
    assert len(net.weights()) + 1 == len(list(net.parameters()))
    assert net(torch.randn(3, 1, 8, 8)).shape == (3, 10)
    choice = ("nor_conv_3x3", "none", "skip_connect", "avg_pool_3x3", "nor_conv_1x1", "none")
    _set_alphas(net, choice)
    arch = space.derive(net)
    space.validate(arch)
    assert space.encode(arch) == [OPS.index(o) for o in choice]
    assert arch.meta["nb201"] == space.to_string(arch)
    # the alphas are what the model mixes: moving them changes the output
    x = torch.randn(4, 1, 8, 8)
    y0 = net(x)
    with torch.no_grad():
        net.alphas[0, 3] += 2.0
    assert not torch.allclose(net(x), y0)


# -- DARTS on every space with a supernet -----------------------------------------------------------
@pytest.mark.parametrize("name", ["nb201", "darts", "darts_s3"])
def test_darts_derives_an_architecture_that_exports_and_records_diagnostics(name, data, tmp_path):
    from nas.app.export import export_arch
    from nas.settings import build_settings

    space = SPACES.create(name)
    m = ONESHOT.create("darts", hessian_iters=3)
    cfg = SearchConfig(space=name, epochs=1, batch_size=24, channels=2, layers=1 if name == "nb201" else 3)
    res = m.run(space, Proposal("t00000", None, {"method": "darts", **m.options}, runner=ONESHOT_RUNNER), cfg, data,
                device="cpu")
    assert res.status == "ok", res.error
    space.validate(res.arch)
    (row,) = res.report["history"]
    assert 0.0 <= row["param_free_share"] <= 1.0 and row["param_free_share"] == param_free_share(res.arch)
    assert 0.0 < row["entropy"] <= torch.log(torch.tensor(float(len(res.arch.meta["primitives"])))).item() + 1e-9
    assert isinstance(row["hessian_eigenvalue"], float)
    if name == "nb201":  # the table lookup, labelled as such
        look = res.report["table_lookup"]
        assert look["table_arch"] == space.to_string(res.arch) == row["arch_text"]
        assert "not measured" in look["note"] and 0 < res.metrics["table_cifar10_test_acc_200ep"] <= 100
        assert row["table_cifar10_test_acc_200ep"] == res.metrics["table_cifar10_test_acc_200ep"]
    else:
        assert "table_lookup" not in res.report and not any(k.startswith("table_") for k in res.metrics)
    kw = {**build_settings(space, data.info, cfg), "channels": 2}
    out = export_arch(res.arch, tmp_path / "x", space=space, build_kwargs=kw, formats=("yaml", "py"), dataset=data.info)
    assert (out / "model.py").is_file() and (out / "arch.yaml").is_file()
    net = space.build(res.arch, **kw)
    loss = nn.functional.cross_entropy(net(data.val.x[:8]), data.val.y[:8])
    loss.backward()  # the derived network trains
    assert torch.isfinite(loss)


def test_table_option_none_and_bad_table(data):
    space = SPACES.create("nb201")
    m = ONESHOT.create("darts", table="none", hessian_every=0)
    cfg = SearchConfig(space="nb201", epochs=1, batch_size=24, channels=2, layers=1)
    res = m.run(space, Proposal("t00000", None, {"method": "darts", **m.options}, runner=ONESHOT_RUNNER), cfg, data,
                device="cpu")
    assert res.status == "ok" and "table_lookup" not in res.report
    assert "hessian_eigenvalue" not in res.report["history"][0]
    m = ONESHOT.create("darts", table="/no/such/table.csv", hessian_every=0)
    res = m.run(space, Proposal("t00000", None, {"method": "darts", **m.options}, runner=ONESHOT_RUNNER), cfg, data,
                device="cpu")
    assert res.status == "failed" and "no such table" in res.error


class TestDartsOnNb201(OneShotConformance):
    """The one-shot contract, SIGKILL-and-resume equality included, for DARTS on the nb201 supernet."""

    layers = 1
    bad_options = [{"guards": ["nope"]}, {"hessian_every": -1}, {"table": 3}, {"early_stop_ratio": 1.5},
                   {"hessian_iters": 0}]

    @pytest.fixture
    def space(self):
        return SPACES.create("nb201")

    @pytest.fixture
    def method(self):
        def make(**options):
            return ONESHOT.get("darts")(**{"hessian_iters": 3, **options})
        make.name = "darts"
        return make


# -- the Hessian eigenvalue --------------------------------------------------------------------------
def test_power_iteration_matches_the_explicit_hessian_to_one_percent(data):
    torch.manual_seed(0)
    net = SPACES.create("nb201").supernet(channels=2, layers=1, in_channels=1).double()
    with torch.no_grad():
        net.alphas.normal_(0, 0.5)
    x, y = data.train.x[:32].double(), data.train.y[:32]
    H = explicit_hessian(net, x, y)
    assert H.shape == (30, 30) and torch.allclose(H, H.T, atol=1e-8)
    ev = torch.linalg.eigvalsh(0.5 * (H + H.T))
    dominant = ev[ev.abs().argmax()].item()
    got = dominant_eigenvalue(net, x, y, iters=500, tol=1e-10, seed=1)
    assert abs(got - dominant) <= 0.01 * abs(dominant), (got, ev[-3:].tolist(), ev[:2].tolist())
    assert all(p.grad is None for p in net.parameters())


def test_entropy_is_log_k_for_uniform_and_zero_for_one_hot():
    net = SPACES.create("nb201").supernet(channels=2, layers=1, in_channels=1, alpha_init="zeros")
    assert mean_entropy(net) == pytest.approx(torch.log(torch.tensor(5.0)).item())
    with torch.no_grad():
        net.alphas[:, 3] = 1e4
    assert mean_entropy(net) == pytest.approx(0.0, abs=1e-6)


# -- the guards ----------------------------------------------------------------------------------------
def test_skip_cap_keeps_at_most_two_skips_and_takes_the_next_best_op():
    space = SPACES.create("nb201")
    net = space.supernet(channels=2, layers=1, in_channels=1, alpha_init="zeros")
    _set_alphas(net, ["skip_connect"] * 5 + ["nor_conv_1x1"])
    with torch.no_grad():
        net.alphas[:5, OPS.index("skip_connect")] = torch.tensor([5.0, 1.5, 4.0, 1.2, 3.0])
        net.alphas[:5, OPS.index("nor_conv_3x3")] = 0.5  # the runner-up on the skip edges
    before = net.alphas.detach().clone()
    arch = capped_derive(space, net, {"m": 1}, max_skips=2)
    ops = [OPS[k] for k in space.encode(arch)]
    # the two strongest skips (edges 0 and 2) stay; the others fall back to their runner-up
    assert ops == ["skip_connect", "nor_conv_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3", "nor_conv_1x1"]
    assert arch.meta["skips_removed"] == 3 and arch.meta["m"] == 1
    assert torch.equal(net.alphas.detach(), before)  # α untouched
    m = ONESHOT.create("darts", guards="skip_cap")
    assert m.derive(space, net) == arch


def test_early_stop_rule_and_option_checks():
    assert not should_stop_early([1.0] * 9, 5, 0.75)
    assert not should_stop_early([1.0] * 10, 5, 0.75)
    assert should_stop_early([1.0] * 5 + [2.0] * 5, 5, 0.75)
    assert not should_stop_early([1.0] * 5 + [1.3] * 5, 5, 0.75)
    from nas.errors import ConfigError

    with pytest.raises(ConfigError, match="guards"):
        ONESHOT.create("darts", guards=["early_stop"], hessian_every=0)
    with pytest.raises(ConfigError, match="guards"):
        ONESHOT.create("darts", guards=["darts_minus"])
    with pytest.raises(ConfigError, match="max_skips"):
        ONESHOT.create("darts", max_skips=-1)
    assert ONESHOT.create("darts", guards="skip_cap,early_stop").options["guards"] == ["early_stop", "skip_cap"]


def test_early_stop_returns_the_architecture_of_k_epochs_before(data, monkeypatch, tmp_path):
    import strategies.oneshot.diagnostics as diag

    growing = iter([1.0, 1.0, 4.0, 4.0, 4.0])  # λ̄ jumps x4 at epoch 3 with k = 1
    monkeypatch.setattr(diag, "dominant_eigenvalue", lambda *a, **k: next(growing))
    space = SPACES.create("nb201")
    m = ONESHOT.create("darts", guards=["early_stop"], early_stop_window=1, alpha_lr=0.05)
    cfg = SearchConfig(space="nb201", epochs=4, batch_size=24, channels=2, layers=1)
    p = Proposal("t00000", None, {"method": "darts", **m.options}, runner=ONESHOT_RUNNER)
    res = m.run(space, p, cfg, data, device="cpu")
    assert res.status == "ok", res.error
    hist = res.report["history"]
    assert [r["epoch"] for r in hist] == [1, 2, 3] and hist[-1]["early_stop"] == 2
    assert res.arch.meta["early_stopped"] == {"at_epoch": 3, "returned_epoch": 2}
    assert res.arch.key == hist[1]["derived"]
    assert json.loads(json.dumps(res.to_dict()))["result_arch"]["meta"]["early_stopped"]["returned_epoch"] == 2


# -- a test that learns ---------------------------------------------------------------------------------
class _Edges(nn.Module):
    """Three independent NB201 mixed edges on three channel groups; output = their sum."""

    def __init__(self, C: int):
        super().__init__()
        from nas.nn.supernet import MixedOp

        self.C, self.primitives = C, OPS
        self.edges = nn.ModuleList(MixedOp(C, 1, OPS, pool_bn=False) for _ in range(3))
        self.alphas = nn.Parameter(torch.zeros(3, len(OPS)))

    def arch_parameters(self):
        return [self.alphas]

    def named_weights(self):
        return [(n, p) for n, p in self.named_parameters() if n != "alphas"]

    def weights(self):
        return [p for _, p in self.named_weights()]

    def forward(self, x):
        w = torch.softmax(self.alphas, dim=-1)
        return sum(e(x[:, i * self.C:(i + 1) * self.C], w[i]) for i, e in enumerate(self.edges))


@pytest.mark.parametrize("order", [1, 2])
def test_darts_puts_the_highest_weight_on_the_op_that_generated_the_data(order):
    """Target = nor_conv_3x3(x0) + avg_pool_3x3(x1) + skip(x2) with a fixed random teacher conv: each
    edge's target is exactly one op's output (a ReLU-conv cannot produce the identity or the pool of
    signed inputs; pooling and skip cannot produce a learned conv), so DARTS must find it per edge."""
    from nas.nn.ops import make_op
    from strategies.oneshot.architect import Architect
    from strategies.oneshot.darts import darts_step

    torch.manual_seed(0)
    C = 3
    teacher = make_op("nor_conv_3x3", C, C, 1, affine=False)
    pool = make_op("avg_pool_3x3", C, C, 1, affine=False)
    want = ["nor_conv_3x3", "avg_pool_3x3", "skip_connect"]

    def batch(n=32):
        x = torch.randn(n, 3 * C, 6, 6)
        with torch.no_grad():
            y = teacher(x[:, :C]) + pool(x[:, C:2 * C]) + x[:, 2 * C:]
        return x, y

    net = _Edges(C)
    mse = nn.MSELoss()
    w_opt = torch.optim.SGD(net.weights(), lr=0.05, momentum=0.9)
    arch = Architect(net, order=order, lr=0.03, weight_decay=0.0, w_momentum=0.9, w_weight_decay=0.0)
    arch.criterion = mse
    for _ in range(150):
        darts_step(net, arch, w_opt, batch(), batch(), 0.05, 5.0, mse)
    got = [OPS[k] for k in net.alphas.argmax(-1).tolist()]
    assert got == want, torch.softmax(net.alphas, -1)


@pytest.mark.slow
def test_cli_darts_on_nb201_journals_the_curve_and_status_prints_it(tmp_path, capsys):
    """``nas search --space nb201 --strategy darts`` end to end; ``nas status`` shows the per-epoch curve."""
    from nas.app.cli import main
    from nas.app.rundir import RunDir

    rc = main(["search", "--space", "nb201", "--strategy", "darts", "--epochs", "2", "--channels", "2",
               "--layers", "1", "--strategy-option", "guards=[skip_cap]", "--strategy-option", "hessian_iters=3",
               "--runs-dir", str(tmp_path), "--name", "r"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    (rec,) = RunDir(tmp_path / "r").read_trials()
    assert rec["status"] == "ok" and rec["result_arch"]["space"] == "nb201"
    hist = rec["report"]["history"]
    assert [r["epoch"] for r in hist] == [1, 2] and all("hessian_eigenvalue" in r for r in hist)
    assert rec["metrics"]["table_cifar10_test_acc_200ep"] == rec["report"]["table_lookup"]["table_cifar10_test_acc_200ep"]
    assert main(["status", str(tmp_path / "r")]) == 0
    out, _ = capsys.readouterr()
    lines = [ln for ln in out.splitlines() if ln.strip().startswith(("1 ", "2 "))]
    assert "eigenvalue" in out and "param-free" in out and len(lines) == 2
    assert hist[-1]["arch_text"] in lines[-1]

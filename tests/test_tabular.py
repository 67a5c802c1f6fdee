"""The NAS-Bench-201 tabular evaluator: lookup, cost spec, report isolation, other tables."""
from __future__ import annotations

import csv
import random

import pytest

from evaluators.tabular import (
    DEFAULT_TABLE,
    TabularEvaluator,
    load_table,
    nb201_edges,
    nb201_macs,
)
from evaluators.tabular_columns import parse_cost_spec
from nas.config import SearchConfig
from nas.errors import ConfigError
from nas.registry import EVALUATORS, SPACES, load_plugins
from nas.app.driver import Search
from nas.types import Proposal, Result
from strategies.base import Strategy

load_plugins()


@pytest.fixture(scope="module")
def space():
    return SPACES.create("nb201")


@pytest.fixture(scope="module")
def rows():
    with open(DEFAULT_TABLE, newline="") as f:
        return list(csv.DictReader(f))


def test_registered_lazily():
    assert "tabular" in EVALUATORS


def test_lookup_index_6111_row(space, rows):
    row = rows[6111]
    assert row["arch_index"] == "6111"
    ev = TabularEvaluator(space)
    res = ev.lookup(space.from_string(row["arch"]))
    assert res.ok
    assert res.metrics["val_acc"] == pytest.approx(84.384)
    assert res.report["cifar10_test_acc_200ep"] == pytest.approx(94.3733)
    assert res.report["arch_index"] == 6111
    assert res.cost == pytest.approx(12 * 14.3987 + 4.5461)
    assert res.metrics["params"] == pytest.approx(1.0735e6)
    assert "cifar10_test_acc_200ep" not in res.metrics


def test_lookup_matches_csv_on_random_rows(space, rows):
    ev = TabularEvaluator(space)
    rng = random.Random(3)
    for row in rng.sample(rows, 40):
        res = ev.lookup(space.from_string(row["arch"]))
        assert res.metrics["val_acc"] == pytest.approx(float(row["cifar10_valid_acc_12ep"]))
        assert res.report["cifar10_test_acc_200ep"] == pytest.approx(float(row["cifar10_test_acc_200ep"]))
        cost = 12 * float(row["train_time_per_epoch_s"]) + float(row["valid_eval_time_s"])
        assert res.cost == pytest.approx(cost)


def test_every_sampled_arch_is_in_the_table(space):
    ev = TabularEvaluator(space)
    rng = random.Random(0)
    assert all(ev.lookup(space.sample(rng)).ok for _ in range(200))
    assert len(ev.table.index) == 15625


@pytest.mark.parametrize("spec, terms", [
    ("12*train_time_per_epoch_s + valid_eval_time_s", [(12.0, "train_time_per_epoch_s"), (1.0, "valid_eval_time_s")]),
    ("a", [(1.0, "a")]),
    ("0.5 * a+b*2 + 3", [(0.5, "a"), (2.0, "b"), (3.0, None)]),
    ("1e2*x", [(100.0, "x")]),
])
def test_cost_spec_parsing(spec, terms):
    assert parse_cost_spec(spec) == terms


@pytest.mark.parametrize("spec", ["", "a - b", "a**2", "__import__('os').system('x')", "2*", "a*b", "(a)", "a +"])
def test_cost_spec_rejects(spec):
    with pytest.raises(ConfigError):
        parse_cost_spec(spec)


def test_macs_match_reference_counts():
    # AutoDL-Projects TinyNetwork(16, 5) counts: CIFAR-10 min/max, NB201 docs example arch, ImageNet16-120 and CIFAR-100 ranges
    assert nb201_macs(["none"] * 6) == 7_783_040
    assert nb201_macs(["nor_conv_3x3"] * 6) == 220_119_680
    example = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert nb201_macs(nb201_edges(example)) == 113_951_360
    assert nb201_macs(["avg_pool_3x3"] * 6, num_classes=120, resolution=16) == 1_953_280
    assert nb201_macs(["nor_conv_3x3"] * 6, num_classes=120, resolution=16) == 55_037_440
    assert nb201_macs(["skip_connect"] * 6, num_classes=100) == 7_788_800


def test_edges_tolerate_order_and_reject_bad_strings():
    a = nb201_edges("|a~0|+|b~1|c~0|+|d~2|e~0|f~1|")
    assert a == ("a", "c", "b", "e", "f", "d")
    for bad in ("|a~0|+|b~0|", "|a~0|+|b~0|b~0|+|a~0|a~1|a~2|", "|a~1|+|b~0|c~1|+|d~0|e~1|f~2|", "x"):
        with pytest.raises(ValueError):
            nb201_edges(bad)


class Spy(Strategy):
    """Proposes random architectures and keeps every result it is told."""

    name = "spy"

    def __init__(self, space, seed=0, objective=None):
        super().__init__(space, seed=seed, objective=objective)
        self.told: list[Result] = []

    def ask(self):
        return Proposal(self.new_id(), self.space.sample(self.rng))

    def tell(self, proposal_id, result):
        self.told.append(result)


def test_report_never_reaches_the_strategy(space):
    ev = TabularEvaluator(space)
    spy = Spy(space, seed=1)
    cfg = SearchConfig(space="nb201", strategy="spy", budget=None, time_budget=3000, evaluator="tabular")
    summary = Search(cfg, space, spy, ev).run()
    assert summary.trials and len(spy.told) >= len(summary.trials)
    reports = {t["report"]["cifar10_test_acc_200ep"] for t in summary.trials}
    for res in spy.told:
        assert res.report == {}
        assert not reports & set(res.metrics.values())
    # simulated budget: the run stopped before the next evaluation would exceed 3000 s
    assert sum(t["cost"] for t in summary.trials) <= 3000


def _write_other_table(path, rows, n):
    """A CSV of another shape: renamed and reordered columns, a subset of the rows."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch_s", "acc_fast", "arch", "acc_final", "eval_s"])
        for r in rows[:n]:
            w.writerow([r["train_time_per_epoch_s"], r["cifar10_valid_acc_200ep"], r["arch"],
                        r["cifar10_trainsplit_test_acc_200ep"], r["valid_eval_time_s"]])


def test_table_of_another_shape(space, rows, tmp_path):
    path = tmp_path / "other.csv"
    _write_other_table(path, rows, 50)
    ev = TabularEvaluator(space, None, table=str(path), signal="acc_fast", report="acc_final",
                          cost="2*epoch_s + eval_s")
    r = rows[7]
    res = ev.lookup(space.from_string(r["arch"]))
    assert res.metrics["val_acc"] == pytest.approx(float(r["cifar10_valid_acc_200ep"]))
    assert res.report == {"acc_final": pytest.approx(float(r["cifar10_trainsplit_test_acc_200ep"]))}
    assert res.cost == pytest.approx(2 * float(r["train_time_per_epoch_s"]) + float(r["valid_eval_time_s"]))
    missing = ev.lookup(space.from_string(rows[60]["arch"]))
    assert missing.status == "failed" and "not in other.csv" in missing.error


def test_options_through_search_config(space, rows, tmp_path):
    path = tmp_path / "other.csv"
    _write_other_table(path, rows, 10)
    cfg = SearchConfig(space="nb201", evaluator="tabular",
                       evaluator_options={"table": str(path), "signal": "acc_fast", "report": "acc_final",
                                          "cost": "epoch_s"})
    ev = EVALUATORS.create("tabular", space, cfg, run_dir=None)
    assert ev.signal == "acc_fast" and len(ev.table.raw) == 10


def test_bad_inputs(space, rows, tmp_path):
    with pytest.raises(ConfigError, match="no column 'nope'"):
        TabularEvaluator(space, None, signal="nope")
    with pytest.raises(ConfigError, match="unexpected option"):
        TabularEvaluator(space, None, tabel="x")
    with pytest.raises(ConfigError, match="only nb201"):
        TabularEvaluator(SPACES.create("darts"))
    with pytest.raises(ConfigError, match="no such table"):
        TabularEvaluator(space, None, table=str(tmp_path / "missing.csv"))
    dup = tmp_path / "dup.csv"
    dup.write_text(f"arch,s\n{rows[0]['arch']},1\n{rows[0]['arch']},2\n")
    with pytest.raises(ConfigError, match="appears twice"):
        load_table(dup)
    bad = tmp_path / "bad.csv"
    bad.write_text("arch,s\n|none~0|+|none~0|,1\n")
    with pytest.raises(ConfigError, match="line 2"):
        load_table(bad)

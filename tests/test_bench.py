"""``nas bench``: strategies compared on the NB201 table in simulated time."""
from __future__ import annotations

import csv
import json

import pytest

from evaluators.tabular import DEFAULT_TABLE
from nas.app.bench import anytime_mean
from nas.app.cli import main


def _bench(tmp_path, *args):
    out = tmp_path / "out"
    code = main(["bench", "--out", str(out), "--workers", "1", "--json", *args])
    return code, out


@pytest.mark.slow
def test_evolution_beats_random(tmp_path, capsys):
    code, out = _bench(tmp_path, "--strategy", "random", "--strategy", "evolution", "--runs", "20", "--seed", "0")
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert json.loads((out / "bench.json").read_text())["runs"] == 20
    rand, evo = result["strategies"]["random"], result["strategies"]["evolution"]
    assert evo["report_mean"] > rand["report_mean"]
    assert evo["signal_mean"] > rand["signal_mean"]
    for r in (rand, evo):
        assert r["runs"] == 20 and 50 < r["evals_mean"] < 200  # ~12000 s / ~120 s per evaluation
        assert 80 < r["report_mean"] <= result["table_reference"]["optimum"]
    md = (out / "bench.md").read_text()
    assert "REA 93.92 ± 0.30" in md and "RS 93.70 ± 0.36" in md and "published: optimal" in md
    with open(out / "anytime.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["time_s", "random", "evolution"]
    assert float(rows[-1][0]) == 12000 and float(rows[-1][2]) == pytest.approx(evo["report_mean"], abs=1e-3)


def test_same_seed_same_result(tmp_path, capsys):
    args = ("--strategy", "evolution", "--runs", "3", "--seed", "7", "--time-budget", "3000")
    _bench(tmp_path, *args)
    first = json.loads(capsys.readouterr().out)["strategies"]["evolution"]["per_run"]
    _bench(tmp_path, *args)
    assert json.loads(capsys.readouterr().out)["strategies"]["evolution"]["per_run"] == first


def test_table_of_another_shape(tmp_path, capsys):
    """--table/--signal/--report/--cost with renamed, reordered columns; no published rows then."""
    path = tmp_path / "other.csv"
    with open(DEFAULT_TABLE, newline="") as f, open(path, "w", newline="") as g:
        w = csv.writer(g)
        w.writerow(["fast", "slow", "arch", "t"])
        reports = []
        for r in csv.DictReader(f):
            w.writerow([r["cifar10_test_acc_12ep"], r["cifar10_valid_acc_200ep"], r["arch"], r["train_time_per_epoch_s"]])
            reports.append(float(r["cifar10_valid_acc_200ep"]))
    code, out = _bench(tmp_path, "--strategy", "random", "--runs", "4", "--table", str(path), "--signal", "fast",
                       "--report", "slow", "--cost", "20*t + 5", "--time-budget", "4000")
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["signal"], result["report"], result["cost"]) == ("fast", "slow", "20*t + 5")
    r = result["strategies"]["random"]
    assert r["evals_mean"] < 4000 / (20 * 4 + 5)  # the cheapest row trains ~4 s per epoch
    assert all(run["report"] in reports for run in r["per_run"])
    assert result["table_reference"]["optimum"] == max(reports)
    assert "published" not in (out / "bench.md").read_text()


def test_bad_input_exits_2(tmp_path, capsys):
    assert _bench(tmp_path, "--strategy", "nope", "--runs", "2")[0] == 2
    assert _bench(tmp_path, "--strategy", "random", "--runs", "2", "--signal", "missing_col")[0] == 2
    assert _bench(tmp_path, "--runs", "2")[0] == 2  # no strategy and no --all
    assert _bench(tmp_path, "--strategy", "random", "--runs", "2", "--cost", "import os")[0] == 2
    assert _bench(tmp_path, "--strategy", "random", "--option", "evolution.population=4")[0] == 2
    assert _bench(tmp_path, "--strategy", "evolution", "--runs", "2", "--option", "evolution.pop=4")[0] == 2
    err = capsys.readouterr().err
    assert err.count("nas: error:") == 6 and "Traceback" not in err


def test_a_bench_run_is_the_search_nas_search_runs(tmp_path):
    """``nas bench`` puts each run together with the same function as ``nas search``: one bench run
    and a journaled tabular search with its settings make the same trials."""
    from nas.app.bench import BENCH_OPTIONS, run_once, search_config
    from nas.app.launch import run_search

    opts = BENCH_OPTIONS.get("evolution", {})  # the strategy's defaults are the bench settings
    bench = run_once("nb201", "evolution", opts, 4, 3000.0, {})
    cfg = search_config("nb201", "evolution", opts, 4, 3000.0, {})
    cfg.name, cfg.runs_dir = "tab", str(tmp_path)
    summary = run_search(cfg, progress=False)
    assert len(summary.trials) == bench["evals"] > 5
    assert summary.best["metrics"]["val_acc"] == bench["signal"]
    assert summary.best["report"]["cifar10_test_acc_200ep"] == bench["report"]


def test_anytime_mean_steps():
    traces = [[(10.0, 90.0), (30.0, 92.0)], [(20.0, 80.0)]]
    assert anytime_mean(traces, [0, 10, 20, 30, 40]) == [None, 90.0, 85.0, 86.0, 86.0]

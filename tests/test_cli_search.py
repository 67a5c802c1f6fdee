"""``nas search`` / ``nas status`` / ``nas strategies`` from the command line (in process).

Bad input must exit 2 with exactly one ``nas: error:`` line on stderr and write nothing.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import tests.toy_plugin  # noqa: F401  (registers the toy space and evaluator)
from tests.faults import cli
from nas.config import SearchConfig
from nas.app.rundir import RunDir, read_run_yaml

TOY = ["search", "--space", "toy", "--evaluator", "toy", "--population", "3", "--sample-size", "2"]




def snapshot_tree(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "malformed.yaml").write_text("budget: [1, 2\n")
    (tmp_path / "unknown.yaml").write_text("budget: 3\nbogus_field: 1\n")
    (tmp_path / "wrongtype.yaml").write_text("epochs: many\n")
    (tmp_path / "notarun").mkdir()
    return {"runs": tmp_path / "runs", "dir": tmp_path}


BAD = {
    "bad flag value": (["--budget", "abc"], "--budget"),
    "unknown flag": (["--bogus"], "unrecognized"),
    "unknown space": (["--space", "nosuch"], "unknown search space 'nosuch'"),
    "unknown strategy": (["--strategy", "nosuch"], "unknown strategy 'nosuch'"),
    "unknown evaluator": (["--evaluator", "nosuch"], "unknown evaluator 'nosuch'"),
    "unknown objective": (["--objective", "nosuch"], "unknown objective 'nosuch'"),
    "malformed yaml": (["--config", "{dir}/malformed.yaml"], "malformed.yaml: line"),
    "unknown config field": (["--config", "{dir}/unknown.yaml"], "unknown field 'bogus_field'"),
    "config wrong type": (["--config", "{dir}/wrongtype.yaml"], "field 'epochs' must be an integer"),
    "missing config": (["--config", "{dir}/missing.yaml"], "no such config file"),
    "bad strategy option": (["--population", "0"], "option 'population'"),
    "option of another strategy": (["--strategy", "random"], "unexpected option(s) population, sample_size"),
    "strategy option syntax": (["--strategy-option", "foo"], "KEY=VALUE"),
    "multi-objective unsupported": (["--objective", "pareto"], "multi-objective"),
    "bad epochs": (["--epochs", "0"], "field 'epochs' must be >= 1"),
    "bad time budget": (["--time-budget", "-5"], "'time_budget' must be > 0"),
    "bad name": (["--name", "a/b"], "plain directory name"),
    "missing data dir": (["--data-dir", "{dir}/nope"], "does not exist"),
    "missing dataset (local evaluator)": (["--space", "nb201", "--evaluator", "local", "--dataset", "cifar10",
                                           "--data-dir", "{dir}/nope"], "cifar10 not found"),
    "resume of a non-run": (["--resume", "{dir}/notarun"], "not a run directory"),
    "force without resume": (["--force"], "--force only makes sense with --resume"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_exits_2_with_one_error_line_and_writes_nothing(case, files, capsys):
    extra, expected = BAD[case]
    extra = [a.format(dir=files["dir"]) for a in extra]
    rc, out, err = cli(capsys, *TOY, "--budget", "2", "--runs-dir", str(files["runs"]), *extra)
    assert rc == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nas: error: "), err
    assert expected in lines[0]
    assert not files["runs"].exists()


def test_search_then_status(tmp_path, capsys):
    runs = tmp_path / "runs"
    rc, out, err = cli(capsys, *TOY, "--budget", "4", "--runs-dir", str(runs), "--name", "r")
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"search {runs / 'r'}: space toy, strategy evolution")
    assert [ln.split()[0] for ln in lines[1:5]] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]  # one line per trial
    assert "stopped: budget of 4 trials reached" in out and "top 5" in out
    run = RunDir(runs / "r")
    journal = run.read_trials()
    assert len(journal) == 4
    best = max(journal, key=lambda t: t["metrics"]["val_acc"])
    assert best["id"] in out

    rc, out, err = cli(capsys, "status", str(runs / "r"), "--json")
    info = json.loads(out)
    assert rc == 0 and info["n_trials"] == 4 and info["n_ok"] == 4 and not info["running"]
    assert info["best"]["id"] == best["id"]
    assert [t["id"] for t in info["top"]] == [t["id"] for t in sorted(journal, key=lambda t: -t["metrics"]["val_acc"])]
    rc, out, err = cli(capsys, "status", str(runs / "r"), "--top", "2")
    assert rc == 0 and f"best      {best['id']}" in out and "4/4 done" in out


def test_precedence_defaults_config_flags(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"budget": 3, "epochs": 2, "seed": 7, "strategy_options": {"population": 4}}))
    rc, _, err = cli(capsys, "search", "--space", "toy", "--evaluator", "toy", "--config", str(cfg),
                     "--budget", "2", "--sample-size", "2", "--runs-dir", str(tmp_path / "runs"), "--name", "p")
    assert rc == 0, err
    c = read_run_yaml(tmp_path / "runs" / "p")["config"]
    assert (c["budget"], c["epochs"], c["seed"]) == (2, 2, 7)  # flag > config file > default
    assert c["lr"] == SearchConfig().lr and c["dataset"] == SearchConfig().dataset
    assert c["strategy_options"] == {"population": 4, "sample_size": 2}


def test_resume_rules(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert cli(capsys, *TOY, "--budget", "3", "--runs-dir", str(runs), "--name", "r")[0] == 0
    path = runs / "r"
    before = snapshot_tree(path)

    for flags, field in ((["--seed", "5"], "'seed'"), (["--population", "7"], "'strategy_options'"),
                         (["--space", "nb201"], "'space'")):
        rc, out, err = cli(capsys, "search", "--resume", str(path), *flags)
        assert rc == 2 and err.count("\n") == 1 and err.startswith("nas: error:") and field in err
        assert snapshot_tree(path) == before

    holder = RunDir.open(path)  # a live driver holds the run
    try:
        rc, out, err = cli(capsys, "search", "--resume", str(path), "--budget", "5")
    finally:
        holder.close()
    assert rc == 2 and err.startswith("nas: error:") and "locked" in err and err.count("\n") == 1
    assert len(RunDir(path).read_trials()) == 3

    rc, out, err = cli(capsys, "search", "--resume", str(path), "--budget", "5")  # budget is resumable
    assert rc == 0, err
    assert [t["id"] for t in RunDir(path).read_trials()] == [f"t{i:05d}" for i in range(5)]
    doc = read_run_yaml(path)
    assert doc["config"]["budget"] == 5 and doc["history"][-1]["changed"]["budget"] == {"old": 3, "new": 5}

    rc, out, err = cli(capsys, "search", "--resume", str(path), "--budget", "6", "--seed", "9", "--force")
    assert rc == 0, err
    assert read_run_yaml(path)["config"]["seed"] == 9 and len(RunDir(path).read_trials()) == 6


def test_exit_1_when_every_trial_fails(tmp_path, capsys):
    rc, out, err = cli(capsys, *TOY, "--budget", "3", "--runs-dir", str(tmp_path), "--name", "f",
                       "--evaluator-option", "fail_all=true")
    assert rc == 1 and "every trial failed" in err and "toy failure" in err
    assert len(RunDir(tmp_path / "f").read_trials()) == 3


def test_strategies_lists_options(capsys):
    rc, out, err = cli(capsys, "strategies", "--json")
    rows = {r["name"]: r for r in json.loads(out)}
    assert rc == 0 and {"random", "evolution"} <= set(rows)
    assert rows["evolution"]["options"] == {"population": 10, "sample_size": None, "aging": True, "max_tries": 50}
    rc, out, err = cli(capsys, "strategies")
    assert rc == 0 and "evolution" in out and "population=10" in out


@pytest.mark.slow
def test_real_search_nb201_on_digits(tmp_path, capsys):
    """End to end with the real nb201 space and local evaluator (tiny: 3 trials x 1 epoch)."""
    rc, out, err = cli(capsys, "search", "--space", "nb201", "--strategy", "evolution", "--budget", "3",
                       "--epochs", "1", "--runs-dir", str(tmp_path), "--name", "real")
    assert rc == 0, err
    journal = RunDir(tmp_path / "real").read_trials()
    assert [t["status"] for t in journal] == ["ok"] * 3
    for t in journal:
        assert 0 <= t["metrics"]["val_acc"] <= 100 and t["metrics"]["params"] > 0 and t["metrics"]["macs"] > 0
    best = max(journal, key=lambda t: t["metrics"]["val_acc"])
    rows = [ln for ln in out.split("top 5")[1].splitlines() if ln.startswith("│ t")]
    assert len(rows) == 3 and best["id"] in rows[0]  # the table starts with the best trial
    rc, out, err = cli(capsys, "status", str(tmp_path / "real"), "--json")
    assert json.loads(out)["best"]["id"] == best["id"]

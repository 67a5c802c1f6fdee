"""``nas compare``: the leaderboard's pieces, its bad-input handling, and end to end with a SIGKILL."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.app.cli import main
from nas.app.compare import CompareStrategy, leaderboard, model_entry, pareto_front, write_report

REPO = Path(__file__).resolve().parents[1]


def _records(rows):
    """Journal-like records: (model, seed, test_acc, macs) -> ok trials."""
    return [{"id": f"t{i:05d}", "status": "ok", "info": {"model": m, "seed": s},
             "metrics": {"test_acc": a, "val_acc": a, "params": 10 * c, "macs": c, "latency_ms": 1.0,
                         "train_seconds": 2.0}} for i, (m, s, a, c) in enumerate(rows)]


def test_pareto_front_keeps_only_undominated_points():
    pts = [(1.0, 50.0), (2.0, 60.0), (3.0, 55.0), (2.0, 60.0), (4.0, 90.0), (0.5, 10.0)]
    assert pareto_front(pts) == [5, 0, 1, 3, 4]  # (3, 55) is beaten by (2, 60); ties both stay
    assert pareto_front([]) == []


def test_leaderboard_aggregates_seeds_and_ranks_by_mean_test_accuracy():
    spec = {"models": [{"name": "a", "kind": "baseline"}, {"name": "b", "kind": "found"},
                       {"name": "c", "kind": "literature"}], "seeds": [0, 1]}
    recs = _records([("a", 0, 80.0, 100), ("a", 1, 90.0, 100), ("b", 0, 95.0, 50), ("b", 1, 93.0, 50)])
    recs.append({"id": "t00009", "status": "failed", "info": {"model": "c", "seed": 0}, "metrics": {}})
    rows = leaderboard(recs, spec)
    assert [r["name"] for r in rows] == ["b", "a", "c"]
    assert rows[0]["test_acc_mean"] == pytest.approx(94.0) and rows[0]["test_acc_std"] == pytest.approx(2 ** 0.5)
    assert rows[1]["test_acc_std"] == pytest.approx(50 ** 0.5) and rows[1]["seeds"] == 2
    assert rows[2]["test_acc_mean"] is None and rows[2]["seeds"] == 0


def test_write_report_writes_table_csv_and_png(tmp_path):
    spec = {"models": [{"name": "a", "kind": "baseline"}, {"name": "b", "kind": "found"}], "seeds": [0]}
    write_report(tmp_path, _records([("a", 0, 80.0, 100), ("b", 0, 85.0, 60)]), spec)
    table = (tmp_path / "leaderboard.md").read_text()
    assert "| b | found | 600 | 60 |" in table and "85.00 ± 0.00" in table
    rows = list(csv.DictReader((tmp_path / "leaderboard.csv").open()))
    assert [r["name"] for r in rows] == ["b", "a"] and float(rows[1]["test_acc_mean"]) == 80.0
    assert (tmp_path / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_strategy_proposes_every_model_seed_pair_once():
    models = [model_entry("lenet5"), model_entry("darts-v2")]
    assert [m["kind"] for m in models] == ["baseline", "literature"]
    s = CompareStrategy(None, {"models": models, "seeds": [0, 1], "recipe": "search", "overrides": {"epochs": 1}})
    asked = [s.ask() for _ in range(4)]
    assert [(p.info["model"], p.config["seed"]) for p in asked] == [("lenet5", 0), ("lenet5", 1), ("darts-v2", 0),
                                                                   ("darts-v2", 1)]
    assert all(p.runner == "compare" and p.arch is None for p in asked)
    assert s.ask() is None and s.done()
    restored = CompareStrategy(None, {"models": models, "seeds": [0, 1], "recipe": "search"})
    restored.load_state_dict(json.loads(json.dumps(s.state_dict())))
    assert restored.done()


@pytest.mark.parametrize("argv, needle", [
    (["compare"], "nothing to compare"),
    (["compare", "no-such-net"], "no-such-net"),
    (["compare", "lenet5", "lenet5"], "given twice"),
    (["compare", "lenet5", "--epochs", "0"], "epochs"),
    (["compare", "--run", "/nonexistent/run"], "/nonexistent/run"),
    (["compare", "--resume", "/nonexistent/run"], "/nonexistent/run"),
    (["compare", "lenet5", "--dataset", "no-such-set"], "no-such-set"),
])
def test_bad_input_is_one_line_and_writes_nothing(argv, needle, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code = main(argv) if "--epochs" not in argv else _argparse_exit(argv)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("nas: error:") and len(err.strip().splitlines()) == 1, err
    assert needle in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def _argparse_exit(argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code


def _nas(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "nas", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


@pytest.mark.slow
def test_compare_end_to_end_sigkill_then_resume_retrains_nothing_finished(tmp_path, capsys, monkeypatch):
    """A run's best + three baselines on digits; killed after two trials, resumed, nothing finished rerun."""
    monkeypatch.chdir(tmp_path)
    assert main(["search", "--space", "nb201", "--strategy", "random", "--budget", "1", "--epochs", "1",
                 "--name", "s", "--device", "cpu"]) == 0
    capsys.readouterr()
    assert main(["status", "runs/s"]) == 0
    assert "nas compare --run runs/s --top 3" in capsys.readouterr().out
    card = next((tmp_path / "runs/s/best").glob("*/card.md")).read_text()
    assert "nas compare runs/s/best/" in card
    args = ["compare", "--run", "runs/s", "lenet5", "resnet20", "mlp-mixer", "--epochs", "1", "--seeds", "3",
            "--name", "c", "--device", "cpu"]
    proc = subprocess.Popen([sys.executable, "-m", "nas", *args], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    journal = tmp_path / "runs/c/trials.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 2:
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the comparison ended before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {json.loads(line)["id"]: json.loads(line) for line in journal.read_text().splitlines()}
    assert 2 <= len(before) < 4
    r = _nas("compare", "--resume", "runs/c", "--device", "cpu", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    after = [json.loads(line) for line in journal.read_text().splitlines()]
    ids = [rec["id"] for rec in after]
    assert len(ids) == len(set(ids)) == 4  # 4 models x 1 seed, each trained exactly once
    for rec in after:
        if rec["id"] in before:
            assert rec == before[rec["id"]]  # finished before the kill: journaled once, untouched
    assert all(rec["status"] == "ok" and rec["config"]["seed"] == 3 for rec in after)
    rows = list(csv.DictReader((tmp_path / "runs/c/leaderboard.csv").open()))
    assert {row["kind"] for row in rows} == {"found", "baseline"} and len(rows) == 4
    assert all(int(row["seeds"]) == 1 and 0 <= float(row["test_acc_mean"]) <= 100 for row in rows)
    assert "| lenet5 | baseline |" in (tmp_path / "runs/c/leaderboard.md").read_text()
    assert (tmp_path / "runs/c/leaderboard.png").stat().st_size > 1000
    assert "leaderboard:" in r.stdout

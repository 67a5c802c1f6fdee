"""The Python API (nas.search / nas.resume / nas.load_run) end to end, and the README's example."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import nas
from nas.errors import ConfigError, NasError

ROOT = Path(__file__).resolve().parents[1]
TOY = dict(space="toy", evaluator="toy", strategy="evolution", strategy_options={"population": 4, "sample_size": 2},
           max_concurrent=1, seed=3)


@pytest.fixture(autouse=True)
def _toy_plugin():
    import tests.toy_plugin  # noqa: F401  (registers the toy space and evaluator)


@pytest.mark.slow
def test_search_on_digits_end_to_end(tmp_path):
    run = nas.search(space="nb201", strategy="random", budget=2, epochs=1, runs_dir=str(tmp_path), name="d",
                     progress=False)
    assert run.path == tmp_path / "d" and (run.path / "report.html").is_file()
    df = run.trials_dataframe()
    assert df.shape[0] == 2 and list(df["number"]) == [0, 1]
    for col in ("id", "state", "value", "key", "datetime_start", "datetime_complete", "duration",
                "metrics_val_acc", "metrics_params", "metrics_macs"):
        assert col in df.columns, col
    assert (df["state"] == "ok").all() and (df["value"] == df["metrics_val_acc"]).all()
    assert (df["duration"].dt.total_seconds() > 0).all()
    best = run.best(2)
    assert [b["score"] for b in best] == sorted(df["value"], reverse=True)[:2]
    arch = run.architecture(best[0]["id"])
    assert arch.key == best[0]["key"] and arch.space == "nb201"
    (folder,) = run.export(top=1, formats="yaml")
    assert (folder / "arch.yaml").is_file() and nas.Architecture.from_yaml((folder / "arch.yaml").read_text()) == arch
    reopened = nas.load_run(run.path)
    assert reopened.trials_dataframe()["id"].tolist() == df["id"].tolist() and reopened.summary is None


def test_dataframe_columns_follow_the_journal_and_failed_trials_have_no_value(tmp_path):
    run = nas.search(**TOY, budget=6, evaluator_options={"fail_every": 3}, runs_dir=str(tmp_path), name="f",
                     progress=False)
    df = run.trials_dataframe()
    assert df.shape[0] == 6 and set(df["state"]) == {"ok", "failed"}
    failed = df[df["state"] == "failed"]
    assert len(failed) == 2 and failed["value"].isna().all() and failed["error"].notna().all()
    ok = df[df["state"] == "ok"]
    assert ok["value"].notna().all() and (ok["origin"].isin(["random", "mutation"])).all()
    assert run.summary is not None and run.summary.n_failed == 2
    with pytest.raises(ConfigError, match="no trial 't99999'"):
        run.architecture("t99999")
    with pytest.raises(ConfigError, match="k must be an integer"):
        run.best(0)


def test_resume_after_a_crash_matches_an_uninterrupted_run(tmp_path):
    ref = nas.search(**TOY, budget=8, runs_dir=str(tmp_path), name="ref", progress=False)
    env = {**os.environ, "NAS_PLUGINS": "tests.toy_plugin", "PYTHONPATH": str(ROOT), "NAS_CRASH_AFTER": "journal:3"}
    code = ("import nas\nnas.search(space='toy', evaluator='toy', strategy='evolution', max_concurrent=1, seed=3, "
            f"strategy_options={{'population': 4, 'sample_size': 2}}, budget=8, runs_dir={str(tmp_path)!r}, "
            "name='crash', progress=False)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr  # the driver SIGKILLed itself after the third journal line
    crashed = nas.load_run(tmp_path / "crash")  # a killed run opens read-only
    assert len(crashed.trials()) == 3
    resumed = nas.resume(tmp_path / "crash", progress=False)
    seq = lambda run: [(t["id"], t["key"], t["status"], t["metrics"]) for t in run.trials()]  # noqa: E731
    assert seq(resumed) == seq(ref) and len(seq(ref)) == 8


@pytest.mark.parametrize("settings, message", [
    ({"epochs": 0}, "field 'epochs' must be >= 1"),
    ({"bugdet": 3}, "unknown field 'bugdet'"),
    ({"strategy": "nope"}, "nope"),
    ({"strategy_options": {"population": 2, "sample_size": 5}}, "sample_size"),
])
def test_a_bad_setting_raises_the_cli_error_and_writes_nothing(tmp_path, settings, message):
    with pytest.raises(NasError, match=re.escape(message)):
        nas.search(**{**TOY, **settings}, runs_dir=str(tmp_path), name="bad", progress=False)
    assert not (tmp_path / "bad").exists()


def test_resume_refuses_a_change_that_alters_the_search_without_force(tmp_path):
    nas.search(**TOY, budget=2, runs_dir=str(tmp_path), name="r", progress=False)
    with pytest.raises(ConfigError, match="pass --force"):
        nas.resume(tmp_path / "r", seed=4, progress=False)
    assert len(nas.resume(tmp_path / "r", budget=3, progress=False).trials()) == 3


def test_load_run_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(NasError):
        nas.load_run(tmp_path)


@pytest.mark.slow
def test_the_readme_python_example_runs_as_written(tmp_path):
    example = (ROOT / "docs" / "example_api.py").read_text()
    readme = (ROOT / "README.md").read_text()
    body = example.split('"""', 2)[2].strip()
    if "## Python API" in readme:  # the README shows the same code (after the lead merges the section)
        assert body in readme
    r = subprocess.run([sys.executable, str(ROOT / "docs" / "example_api.py")], cwd=tmp_path, capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    run = nas.load_run(tmp_path / "runs" / "api-example")
    assert len(run.trials()) == 4 and (run.path / "report.html").is_file() and "4 ok trials" in r.stdout
    assert any((p / "model.py").is_file() for p in (run.path / "best").iterdir())
    assert not math.isnan(run.trials_dataframe()["value"].max())

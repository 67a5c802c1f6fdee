"""Run directory: run.yaml, atomic snapshot, torn journal repair, flock-based locking (DESIGN §4)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nas.config import SearchConfig
from nas.errors import ConfigError, RunLocked
from nas.app.rundir import RunDir, is_run_dir, lock_holder, read_run_yaml


def make_run(tmp_path: Path, name: str = "r") -> RunDir:
    return RunDir.create(tmp_path / name, SearchConfig(name=name).to_dict())


def test_create_writes_run_yaml_with_config_and_versions(tmp_path):
    run = make_run(tmp_path)
    try:
        doc = yaml.safe_load((run.path / "run.yaml").read_text())
        assert doc["format"] == "nas/run@1"
        assert SearchConfig.from_dict(doc["config"]) == SearchConfig(name="r")
        assert set(doc["versions"]) == {"nas", "torch", "ray", "python"}
        assert doc["versions"]["python"].count(".") == 2
        assert is_run_dir(run.path) and not is_run_dir(tmp_path)
        assert json.loads((run.path / "lock").read_text())["pid"] == os.getpid()
    finally:
        run.close()
    assert (run.path / "lock").read_text() == ""  # released and emptied


def test_create_refuses_existing_run_and_open_refuses_non_run(tmp_path):
    make_run(tmp_path).close()
    with pytest.raises(ConfigError, match="already exists"):
        make_run(tmp_path)
    with pytest.raises(ConfigError, match="not a run directory"):
        RunDir.open(tmp_path)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "run.yaml").write_text("format: other\n")
    with pytest.raises(ConfigError, match="format"):
        read_run_yaml(tmp_path / "bad")


def test_update_config_records_history(tmp_path):
    run = make_run(tmp_path)
    cfg = run.read_config()
    cfg["budget"] = 40
    run.update_config(cfg, {"budget": (20, 40)})
    run.close()
    doc = read_run_yaml(run.path)
    assert doc["config"]["budget"] == 40
    assert doc["history"][-1]["changed"] == {"budget": {"old": 20, "new": 40}}


def test_snapshot_is_atomic(tmp_path, monkeypatch):
    run = make_run(tmp_path)
    run.save_snapshot({"strategy": {"a": 1}, "pending": []})
    assert run.load_snapshot()["strategy"] == {"a": 1}

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        run.save_snapshot({"strategy": {"a": 2}, "pending": []})
    monkeypatch.undo()
    assert run.load_snapshot()["strategy"] == {"a": 1}  # the old snapshot survives intact
    assert sorted(p.name for p in run.path.iterdir()) == ["lock", "run.yaml", "strategy.json"]  # no temp left
    run.close()


def test_torn_journal_line_is_repaired_on_open(tmp_path):
    run = make_run(tmp_path)
    run.append_trial({"id": "t00000", "status": "ok"})
    run.append_trial({"id": "t00001", "status": "ok"})
    run.close()
    with open(run.trials_path, "a") as f:  # a crash in the middle of an append
        f.write('{"id": "t00002", "sta')
    run = RunDir.open(run.path)
    assert [r["id"] for r in run.read_trials()] == ["t00000", "t00001"]
    assert run.trials_path.read_bytes().endswith(b"}\n")
    run.append_trial({"id": "t00002", "status": "failed"})
    assert [r["id"] for r in run.read_trials()] == ["t00000", "t00001", "t00002"]
    run.close()


def test_corrupt_line_in_the_middle_is_an_error(tmp_path):
    run = make_run(tmp_path)
    run.trials_path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n')
    with pytest.raises(ConfigError, match="line 2"):
        run.read_trials()
    run.close()


HOLD = """
import sys, time
from nas.app.rundir import RunDir
run = RunDir.open(sys.argv[1])
print("locked", flush=True)
time.sleep(60)
"""


def test_lock_held_by_live_process_then_released_by_sigkill(tmp_path):
    make_run(tmp_path).close()
    path = tmp_path / "r"
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(RunLocked, match=f"pid {proc.pid} on host"):
            RunDir.open(path)
        assert lock_holder(path)["pid"] == proc.pid
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run = RunDir.open(path)  # the kernel dropped the dead driver's flock
    assert lock_holder(path)["pid"] == os.getpid()
    run.close()


def test_second_driver_in_same_process_is_refused(tmp_path):
    run = make_run(tmp_path)
    with pytest.raises(RunLocked):
        RunDir.open(run.path)
    run.close()
    RunDir.open(run.path).close()  # free again once released

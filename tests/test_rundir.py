"""Run directory: run.yaml, atomic snapshot, torn journal repair, flock-based locking."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nas.config import SearchConfig
from nas.errors import ConfigError, RunLocked
from nas.app.rundir import RunDir, is_run_dir, read_run_yaml
from nas.app.runlock import lock_holder


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


# -- corrupt run directories: exit 2, one line naming the file and line, nothing written ---------------
def _lines(run: Path, name: str = "trials.jsonl") -> list[str]:
    return (run / name).read_text().splitlines(keepends=True)


def _edit_line(run: Path, i: int, text: str, name: str = "trials.jsonl") -> None:
    lines = _lines(run, name)
    lines[i] = text + "\n"
    (run / name).write_text("".join(lines))


def _edit_record(run: Path, i: int, change) -> None:
    rec = json.loads(_lines(run)[i])
    change(rec)
    _edit_line(run, i, json.dumps(rec))


def _edit_snapshot(run: Path, change) -> None:
    snap = json.loads((run / "strategy.json").read_text())
    change(snap)
    (run / "strategy.json").write_text(json.dumps(snap))


def _edit_config(run: Path, **fields) -> None:
    doc = yaml.safe_load((run / "run.yaml").read_text())
    doc["config"].update(fields)
    (run / "run.yaml").write_text(yaml.safe_dump(doc))


def _trials_dir(run: Path) -> None:
    (run / "trials.jsonl").unlink()
    (run / "trials.jsonl").mkdir()


def _bad_pending_arch(snap: dict) -> None:
    snap["pending"] = [{"id": "t00009", "arch": {"format": "nope"}, "config": {}, "info": {}}]


SEARCH, STATUS, EXPORT = "search", "status", "export"
CORRUPT = {  # case: (corrupt the run, commands that read that file, what the one line must name)
    "garbage strategy.json": (lambda r: (r / "strategy.json").write_text("{garbage"), (SEARCH, STATUS),
                              ("strategy.json", "line 1", "not valid JSON")),
    "corrupt middle journal line": (lambda r: _edit_line(r, 1, '{"id": "t00001", "sta'), (SEARCH, STATUS, EXPORT),
                                    ("trials.jsonl", "line 2", "not valid JSON")),
    "journal line is an array": (lambda r: _edit_line(r, 1, "[1, 2, 3]"), (SEARCH, STATUS, EXPORT),
                                 ("trials.jsonl: line 2", "JSON object, got array")),
    "journal line lacks status": (lambda r: _edit_record(r, 2, lambda d: d.pop("status")), (SEARCH, STATUS, EXPORT),
                                  ("trials.jsonl: line 3", "'status'")),
    "val_acc is a string": (lambda r: _edit_record(r, 0, lambda d: d["metrics"].update(val_acc="99.1")),
                            (SEARCH, STATUS, EXPORT), ("trials.jsonl: line 1", "'metrics.val_acc' must be a number")),
    "objective_options is a list": (lambda r: _edit_config(r, objective_options=[1, 2]), (SEARCH, STATUS, EXPORT),
                                    ("run.yaml", "objective_options")),
    "snapshot pending is a string": (lambda r: _edit_snapshot(r, lambda s: s.update(pending="t00001")),
                                     (SEARCH, STATUS), ("strategy.json", "'pending' must be an array")),
    "snapshot n_told is a string": (lambda r: _edit_snapshot(r, lambda s: s.update(n_told="3")),
                                    (SEARCH, STATUS), ("strategy.json", "'n_told'")),
    "snapshot strategy is a list": (lambda r: _edit_snapshot(r, lambda s: s.update(strategy=[])),
                                    (SEARCH, STATUS), ("strategy.json", "'strategy' must be an object")),
    "snapshot pending arch is bad": (lambda r: _edit_snapshot(r, _bad_pending_arch), (SEARCH, STATUS),
                                     ("strategy.json: pending[0]", "'format'")),
    "trials.jsonl is a directory": (_trials_dir, (SEARCH, STATUS, EXPORT), ("trials.jsonl", "cannot read")),
    "corrupt middle pending line": (lambda r: _edit_line(r, 0, "{oops", "pending.jsonl"), (SEARCH,),
                                    ("pending.jsonl", "line 1", "not valid JSON")),
    "pending line is an array": (lambda r: _edit_line(r, 1, "[]", "pending.jsonl"), (SEARCH,),
                                 ("pending.jsonl: line 2", "JSON object")),
}


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory) -> Path:
    import tests.toy_plugin  # noqa: F401  (registers the toy space and evaluator)
    from nas.app.launch import run_search

    runs = tmp_path_factory.mktemp("corrupt")
    run_search({"space": "toy", "evaluator": "toy", "budget": 3, "max_concurrent": 1, "seed": 1,
                "strategy_options": {"population": 2, "sample_size": 2}, "runs_dir": str(runs), "name": "base"},
               progress=False)
    return runs / "base"


@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_a_corrupt_run_directory_is_refused_and_left_as_it_was(case, toy_run, tmp_path, capsys):
    from tests.faults import assert_one_error_line, cli, tree_state

    corrupt, commands, needles = CORRUPT[case]
    run = tmp_path / "r"
    shutil.copytree(toy_run, run)
    corrupt(run)
    before = tree_state(run)
    for command in commands:
        argv = {SEARCH: ["search", "--resume", str(run), "--budget", "5"],  # a change that rewrites run.yaml
                STATUS: ["status", str(run)], EXPORT: ["export", str(run)]}[command]
        rc, out, err = cli(capsys, *argv)
        assert rc == 2, (command, err)
        assert_one_error_line(err, *needles)
        assert tree_state(run) == before, command


def test_a_creation_killed_before_run_yaml_can_be_created_again(tmp_path):
    path = tmp_path / "r"
    path.mkdir()
    (path / "lock").write_text("")  # what a driver killed between mkdir and run.yaml leaves
    (path / ".run.yaml.abc123.tmp").write_text("format: nas/run")
    run = make_run(tmp_path)
    run.close()
    assert sorted(p.name for p in path.iterdir()) == ["lock", "run.yaml"]
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "notes.txt").write_text("mine")  # anything else: not ours to reuse
    with pytest.raises(ConfigError, match="already exists"):
        make_run(tmp_path, "s")


def test_a_failed_creation_leaves_nothing_behind(tmp_path):
    from tests.faults import inject

    with pytest.raises(ConfigError, match="cannot create the run directory"):
        RunDir.create(tmp_path / "runs" / ("x" * 300), SearchConfig().to_dict())  # ENAMETOOLONG
    assert not (tmp_path / "runs").exists()
    from nas.errors import MachineFault

    with inject(1, "EIO"), pytest.raises(MachineFault, match="run.yaml"):
        RunDir.create(tmp_path / "runs" / "r", SearchConfig().to_dict())
    assert not (tmp_path / "runs").exists()
    with inject(1, "EROFS"), pytest.raises(ConfigError, match="Read-only file system"):
        RunDir.create(tmp_path / "runs" / "r", SearchConfig().to_dict())
    assert not (tmp_path / "runs").exists()


def test_a_strategy_state_the_strategy_cannot_load_is_one_error_line(toy_run, tmp_path, capsys):
    """Checked by the strategy itself once the search starts: exit 2, the journal and snapshot unchanged."""
    from tests.faults import assert_one_error_line, cli, tree_state

    run = tmp_path / "r"
    shutil.copytree(toy_run, run)
    _edit_snapshot(run, lambda s: s.update(strategy={"unexpected": [1, 2]}))
    before = tree_state(run)
    rc, out, err = cli(capsys, "search", "--resume", str(run))
    assert rc == 2
    assert_one_error_line(err, "strategy.json: field 'strategy' is not a state of strategy 'evolution'")
    after = tree_state(run)
    assert {k: v for k, v in after.items() if k != "lock"} == {k: v for k, v in before.items() if k != "lock"}
    assert (run / "lock").read_text() == ""


def test_a_garbage_lock_file_reads_as_no_holder(tmp_path):
    make_run(tmp_path).close()
    for garbage in (b"\xff\xfe\x00", b"[1, 2]", b'{"pid": [1]}', b"{" * 10000):
        (tmp_path / "r" / "lock").write_bytes(garbage)
        info = lock_holder(tmp_path / "r")
        from nas.app.runlock import holder_alive

        assert info is None or holder_alive(info) in (True, False, None)
    RunDir.open(tmp_path / "r").close()  # a garbage holder record does not block a resume

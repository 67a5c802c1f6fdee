"""Machine faults (a full disk, an I/O error) are not candidate failures.

A write that fails with ENOSPC or EIO (injected with the ``NAS_FAULT_AT`` hook of
:mod:`nas.io`, see :mod:`tests.faults`) must stop the search with exit code 75 and one
``nas: error: machine fault: ...`` line, journal nothing for the interrupted trial, and
the resume (without the fault) must end with the journal of a run that never faulted.
"""
from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import time
from pathlib import Path

import pytest

import tests.toy_plugin  # noqa: F401  (registers the toy space and evaluator)
from nas.app.launch import run_search
from nas.errors import EXIT_MACHINE_FAULT, MachineFault, is_machine_fault
from nas.io import append_jsonl, atomic_write_text, read_jsonl, write_count
from tests.faults import assert_one_error_line, cli, inject, nas_process, sequence, trials

TOY = ["search", "--space", "toy", "--evaluator", "toy", "--strategy", "evolution", "--population", "4",
       "--sample-size", "2", "--budget", "6", "--max-concurrent", "1", "--seed", "3"]
TABULAR = ["search", "--space", "nb201", "--evaluator", "tabular", "--strategy", "evolution", "--budget", "5",
           "--max-concurrent", "1", "--seed", "2"]
DIGITS = ["search", "--space", "nb201", "--evaluator", "local", "--strategy", "random", "--budget", "2",
          "--epochs", "2", "--max-concurrent", "1", "--seed", "1", "--channels", "4", "--layers", "1"]


# -- the primitives --------------------------------------------------------------------------------
def test_machine_fault_is_classified_worded_and_picklable():
    e = MachineFault.from_os_error(OSError(errno.ENOSPC, "No space left on device"), "runs/r/x.pt")
    assert e.exit_code == EXIT_MACHINE_FAULT == 75
    assert str(e).startswith("machine fault: runs/r/x.pt: [Errno 28] No space left on device; free space")
    assert "resume with: nas search --resume runs/r" in str(e.for_run("runs/r"))
    assert "make the file system writable" in str(MachineFault.from_os_error(OSError(errno.EROFS, "ro"), "p"))
    back = pickle.loads(pickle.dumps(e.for_run("runs/r")))  # crosses a Ray task boundary
    assert isinstance(back, MachineFault) and str(back) == str(e.for_run("runs/r"))
    assert is_machine_fault(OSError(errno.EIO, "io")) and is_machine_fault(e)
    assert not is_machine_fault(OSError(errno.ENOENT, "missing")) and not is_machine_fault(ValueError("x"))


def test_a_failed_append_leaves_no_partial_line(tmp_path):
    log = tmp_path / "log.jsonl"
    append_jsonl(log, {"id": "a"})
    before = log.read_bytes()
    with inject(1, "ENOSPC"), pytest.raises(MachineFault, match=r"log.jsonl: \[Errno 28\]"):
        append_jsonl(log, {"id": "b", "payload": "x" * 100})  # the hook writes half the line first
    assert log.read_bytes() == before
    with inject(2, "EIO", path="log.jsonl"):
        append_jsonl(log, {"id": "b"})
        atomic_write_text(tmp_path / "other.txt", "not counted")  # other paths are not counted
        assert write_count() == 1
        with pytest.raises(MachineFault, match="Input/output error"):
            append_jsonl(log, {"id": "c"})
    assert [r["id"] for r in read_jsonl(log)] == ["a", "b"]


def test_a_failed_atomic_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "snap.json"
    atomic_write_text(target, "old\n")
    with inject(1, "ENOSPC", always=True), pytest.raises(MachineFault):
        atomic_write_text(target, "new\n")
    assert target.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["snap.json"]


# -- a search under faults -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def toy_reference(tmp_path_factory):
    """The uninterrupted toy search and how many writes the search makes (the export after it not counted)."""
    return _reference(tmp_path_factory.mktemp("toyref"), TOY)


def _reference(runs: Path, argv: list[str], name: str = "ref") -> tuple[list[tuple], int]:
    """The journal of ``nas ARGV`` run by the driver alone (no export), and its number of writes."""
    from nas.app.cli import build_parser
    from nas.app.cli.search import overrides_from_args
    from nas.config import SearchConfig

    args = build_parser().parse_args([*argv, "--runs-dir", str(runs), "--name", name])
    with inject(10**9):  # counts writes, never fails
        run_search(SearchConfig().update(overrides_from_args(args)), progress=False)
        n_writes = write_count()
    return sequence(trials(runs / name)), n_writes


def _fault_then_resume(capsys, argv: list[str], run: Path, reference, k: int, errno_name: str,
                       always: bool) -> str:
    """Run ``nas ARGV`` into ``run`` with the k-th write failing, check the stop, resume, check the journal."""
    with inject(k, errno_name, always=always):
        rc, out, err = cli(capsys, *argv, "--runs-dir", str(run.parent), "--name", run.name)
    if rc == 0:  # k is past the search's writes (e.g. in the export of the best trial)
        assert sequence(trials(run)) == reference
        return "after"
    assert rc == EXIT_MACHINE_FAULT, (k, err)
    assert err.startswith("nas: error: machine fault: ") and err.count("\n") == 1, err
    if (run / "run.yaml").exists():
        assert f"resume with: nas search --resume {run}" in err, err
        journal = run / "trials.jsonl"
        assert not journal.exists() or journal.read_bytes()[-1:] in (b"", b"\n")  # no partial line
        done = trials(run)
        assert all(t["status"] == "ok" for t in done)  # nothing journaled as the fault's victim
        assert sequence(done) == reference[:len(done)]
        run_search(resume=run, progress=False)  # the driver alone: the CLI would export the best again
    else:  # the fault hit while creating the run: nothing is left, the same command runs again
        assert not run.exists()
        _reference(run.parent, argv, run.name)
    got = trials(run)
    assert len({t["id"] for t in got}) == len(got)  # no trial twice
    assert sequence(got) == reference
    return "search"


@pytest.mark.slow
def test_fault_sweep_over_every_write_of_a_toy_search(capsys, tmp_path, toy_reference):
    reference, n_writes = toy_reference
    assert n_writes > 20
    faults = 0
    for k in range(1, n_writes + 3):  # and two writes of the export after the search
        errno_name = ("ENOSPC", "EIO")[k % 2]
        always = k % 3 == 0  # the disk stays full: every later write fails too
        run = tmp_path / f"k{k}"
        where = _fault_then_resume(capsys, TOY, run, reference, k, errno_name, always)
        faults += where == "search"
    assert faults == n_writes  # every write of the search was hit once and survived


@pytest.mark.slow
def test_fault_sweep_on_a_tabular_search(capsys, tmp_path):
    reference, n_writes = _reference(tmp_path, TABULAR)
    assert len(reference) == 5
    for k in range(1, n_writes + 1):
        run = tmp_path / f"k{k}"
        _fault_then_resume(capsys, TABULAR, run, reference, k, "ENOSPC", always=k % 4 == 1)


# -- the disk-full cases of a real training search -------------------------------------------------
@pytest.fixture(scope="module")
def digits_reference(tmp_path_factory):
    ref, _ = _reference(tmp_path_factory.mktemp("digitsref"), DIGITS)
    assert [r[2] for r in ref] == ["ok", "ok"]
    return ref


@pytest.mark.slow
@pytest.mark.parametrize("path,k,errno_name", [
    ("checkpoints", 3, "ENOSPC"),  # t00001's epoch-1 checkpoint, inside the trial's training
    ("checkpoints", 4, "EIO"),     # t00001's epoch-2 checkpoint: the resume continues from epoch 1
    ("weights", 2, "ENOSPC"),      # t00001's trained weights, after its training
    ("trials.jsonl", 2, "ENOSPC"),  # the journal append of t00001
])
def test_disk_full_in_a_training_search_stops_then_resume_reruns_the_trial(capsys, tmp_path, digits_reference,
                                                                           path, k, errno_name):
    run = tmp_path / "r"
    with inject(k, errno_name, path=path):
        rc, out, err = cli(capsys, *DIGITS, "--runs-dir", str(tmp_path), "--name", "r")
    assert rc == EXIT_MACHINE_FAULT
    assert_one_error_line(err, "machine fault:", path, f"resume with: nas search --resume {run}")
    assert [t["id"] for t in trials(run)] == ["t00000"]  # t00001 is not journaled as failed
    assert (run / "trials.jsonl").read_bytes().endswith(b"\n")
    pending = [p["id"] for p in json.loads((run / "strategy.json").read_text())["pending"]]
    assert pending == ["t00001"]  # still pending: the resume re-runs it
    run_search(resume=run, progress=False)
    assert sequence(trials(run)) == digits_reference
    if path == "checkpoints" and k == 4:
        assert trials(run)[1]["worker"]["resumed_from_epoch"] == 1


@pytest.mark.slow
def test_disk_filled_to_zero_in_a_subprocess_is_one_line_and_exit_75(tmp_path):
    """The disk stays full from the 8th write on: no traceback, the resume repairs and finishes."""
    args = [*TOY, "--runs-dir", str(tmp_path), "--name", "r"]
    r = nas_process(*args, env={"NAS_FAULT_AT": "8:ENOSPC:always"})
    assert r.returncode == EXIT_MACHINE_FAULT, r.stderr
    assert_one_error_line(r.stderr, "machine fault:", "No space left on device", "free space and resume with")
    run = tmp_path / "r"
    with open(run / "trials.jsonl", "ab") as f:  # and a torn line, as a crash would leave
        f.write(b'{"id": "t0000')
    r = nas_process("search", "--resume", str(run))
    assert r.returncode == 0, r.stderr
    ref = nas_process(*TOY, "--runs-dir", str(tmp_path), "--name", "ref")
    assert ref.returncode == 0, ref.stderr
    assert sequence(trials(run)) == sequence(trials(tmp_path / "ref"))


# -- the lock ---------------------------------------------------------------------------------------
@pytest.mark.slow
def test_deleting_the_lock_does_not_let_a_second_driver_in(tmp_path):
    run = tmp_path / "r"
    args = [*TOY, "--budget", "12", "--runs-dir", str(tmp_path), "--name", "r", "--evaluator-option", "sleep=0.3"]
    proc = nas_process(*args, wait=False)
    try:
        t0 = time.monotonic()
        while not (run / "trials.jsonl").exists() and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        (run / "lock").unlink()
        second = nas_process("search", "--resume", str(run), "--evaluator-option", "sleep=0")
        assert second.returncode == 2
        assert_one_error_line(second.stderr, "run is locked by another driver")
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    ids = [t["id"] for t in trials(run)]
    assert ids == [f"t{i:05d}" for i in range(12)]
    submitted = [p["id"] for p in read_jsonl(run / "pending.jsonl")]
    assert sorted(submitted) == ids  # each trial submitted (evaluated) exactly once


def test_lock_checks_before_each_write(tmp_path, monkeypatch):
    from nas.app import runlock
    from nas.app.rundir import RunDir
    from nas.config import SearchConfig
    from nas.errors import RunLocked

    run = RunDir.create(tmp_path / "r", SearchConfig(name="r").to_dict())
    try:
        (run.path / "lock").unlink()  # deleted under a driver that holds the directory lock:
        run.append_trial({"id": "t00000", "key": None, "status": "ok"})  # re-created and locked again
        assert runlock.lock_holder(run.path)["pid"] == os.getpid()
        with pytest.raises(RunLocked, match="locked by another driver"):
            RunDir.open(run.path)
    finally:
        run.close()
    monkeypatch.setattr(runlock, "_flock_dir", lambda path: None)  # a file system without directory locks
    run = RunDir.open(tmp_path / "r")
    try:
        (run.path / "lock").unlink()
        with pytest.raises(RunLocked, match="deleted or replaced"):
            run.append_trial({"id": "t00001", "key": None, "status": "ok"})
        assert len(run.read_trials()) == 1  # stopped before writing
    finally:
        run.close()
    run = RunDir.open(tmp_path / "r")
    os.rename(run.path, tmp_path / "moved")
    (tmp_path / "r").mkdir()
    with pytest.raises(RunLocked, match="moved or replaced"):
        run.save_snapshot({"strategy": {}, "pending": []})
    run.close()


# -- Ray: a worker's machine fault reaches the driver ---------------------------------------------------
@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_ray_workers_machine_fault_stops_the_search_and_the_trial_stays_pending(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    from evaluators.ray import RayEvaluator
    from nas.config import SearchConfig
    from nas.zoo import get_space
    from tests.faults import ROOT

    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the workers import tests.faults
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    cfg = SearchConfig(space="nb201", strategy="random", evaluator="ray", budget=3, max_concurrent=1, seed=4,
                       device="cpu", runs_dir=str(tmp_path), name="r", evaluator_options={"address": "local"})
    run = tmp_path / "r"
    ev = RayEvaluator(get_space("nb201"), cfg, run_dir=run, evaluate="tests.faults:full_disk_candidate")
    try:
        with pytest.raises(MachineFault) as info:
            run_search(cfg, evaluator=ev, progress=False)
        assert f"resume with: nas search --resume {run}" in str(info.value)
        assert "t00001.pt: [Errno 28] No space left on device" in str(info.value)
        assert [t["id"] for t in trials(run)] == ["t00000"]  # not journaled as failed
        pending = [p["id"] for p in json.loads((run / "strategy.json").read_text())["pending"]]
        assert pending == ["t00001"]
        ev.evaluate_kwargs = {"fail_id": "none"}  # the disk has space again
        summary = run_search({}, resume=run, evaluator=ev, progress=False)
    finally:
        ev.shutdown()
    assert summary.n_ok == 3 and [t["id"] for t in trials(run)] == ["t00000", "t00001", "t00002"]

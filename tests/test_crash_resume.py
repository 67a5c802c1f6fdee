"""Crash safety: SIGKILL ``python -m nas search`` at many points, resume, compare.

With ``--max-concurrent 1`` and a fixed seed, a killed-and-resumed search must journal every
trial exactly once and make exactly the trial sequence (ids, keys, metrics) of an
uninterrupted one. ``NAS_CRASH_AFTER=point:N`` makes the driver SIGKILL itself at the N-th
write-protocol event (see ``nas.app.driver.Search._event``); other kills come from outside.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.io import read_jsonl

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BASE = ["--space", "toy", "--evaluator", "toy", "--strategy", "evolution", "--population", "4",
        "--sample-size", "2", "--budget", "12", "--max-concurrent", "1", "--seed", "3"]


def nas(*args: str, crash: str | None = None, wait: bool = True, **kw):
    env = {**os.environ, "NAS_PLUGINS": "tests.toy_plugin", "PYTHONPATH": str(ROOT)}
    env.pop("NAS_CRASH_AFTER", None)
    if crash:
        env["NAS_CRASH_AFTER"] = crash
    cmd = [sys.executable, "-m", "nas", "search", *args]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, **kw)


def trials(run: Path) -> list[dict]:
    return list(read_jsonl(run / "trials.jsonl"))


def sequence(run: Path) -> list[tuple]:
    return [(t["id"], t["key"], t["status"], tuple(sorted(t["metrics"].items()))) for t in trials(run)]


def wait_for_lines(path: Path, n: int, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if path.exists() and path.read_text().count("\n") >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {n} lines")


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> list[tuple]:
    runs = tmp_path_factory.mktemp("ref")
    r = nas(*BASE, "--runs-dir", str(runs), "--name", "ref")
    assert r.returncode == 0, r.stderr
    seq = sequence(runs / "ref")
    assert len(seq) == 12 and len({s[0] for s in seq}) == 12
    return seq


def check_resumed(run: Path, reference: list[tuple]) -> None:
    r = nas("--resume", str(run))
    assert r.returncode == 0, r.stderr
    ids = [t["id"] for t in trials(run)]
    assert len(ids) == len(set(ids)) == 12  # every trial exactly once
    assert sequence(run) == reference


@pytest.mark.parametrize("point", ["ask:4", "pending:5", "submit:6", "journal:3", "tell:7", "snapshot:9"])
def test_sigkill_at_a_protocol_point_then_resume(point, reference, tmp_path):
    run = tmp_path / "r"
    r = nas(*BASE, "--runs-dir", str(tmp_path), "--name", "r", crash=point)
    assert r.returncode == -signal.SIGKILL
    n_before = len(trials(run))
    assert 0 < n_before < 12
    check_resumed(run, reference)
    submitted = [p["id"] for p in read_jsonl(run / "pending.jsonl")]
    journaled_before = {t["id"] for t in trials(run)[:n_before]}
    assert all(submitted.count(i) == 1 for i in journaled_before)  # a journaled trial is never re-run


def test_sigkill_while_a_trial_runs_then_resume(reference, tmp_path):
    run = tmp_path / "r"
    proc = nas(*BASE, "--runs-dir", str(tmp_path), "--name", "r", "--evaluator-option", "sleep=0.3", wait=False)
    wait_for_lines(run / "trials.jsonl", 3)
    time.sleep(0.15)  # inside the 4th trial's evaluation
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert 3 <= len(trials(run)) < 12
    check_resumed(run, reference)


def test_repeated_crashes_then_resume(reference, tmp_path):
    run = tmp_path / "r"
    assert nas(*BASE, "--runs-dir", str(tmp_path), "--name", "r", crash="journal:2").returncode == -signal.SIGKILL
    assert nas("--resume", str(run), crash="tell:3").returncode == -signal.SIGKILL
    assert nas("--resume", str(run), crash="ask:2").returncode == -signal.SIGKILL
    check_resumed(run, reference)


def test_second_driver_on_a_locked_run_exits_2(tmp_path):
    run = tmp_path / "r"
    proc = nas(*BASE, "--runs-dir", str(tmp_path), "--name", "r", "--evaluator-option", "sleep=0.3", wait=False)
    try:
        wait_for_lines(run / "trials.jsonl", 1)
        r = nas("--resume", str(run))
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("nas: error:")
        assert f"pid {proc.pid}" in r.stderr and "locked" in r.stderr
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    r = nas("--resume", str(run), "--evaluator-option", "sleep=0")  # the dead driver's lock is gone
    assert r.returncode == 0, r.stderr
    assert len(trials(run)) == 12


REAL = ["--space", "nb201", "--evaluator", "local", "--strategy", "evolution", "--budget", "2", "--epochs", "2",
        "--max-concurrent", "1", "--seed", "1"]


def real_sequence(run: Path) -> list[tuple]:
    """Ids, keys and the deterministic metrics (timings and latency vary between runs)."""
    return [(t["id"], t["key"], t["status"], t["metrics"]["val_acc"], t["metrics"]["params"], t["metrics"]["macs"])
            for t in trials(run)]


def test_real_nb201_digits_killed_twice_then_resumed(tmp_path):
    ref = nas(*REAL, "--runs-dir", str(tmp_path), "--name", "ref")
    assert ref.returncode == 0, ref.stderr
    run = tmp_path / "r"
    r = nas(*REAL, "--runs-dir", str(tmp_path), "--name", "r", crash="journal:1")
    assert r.returncode == -signal.SIGKILL and len(trials(run)) == 1
    proc = nas("--resume", str(run), wait=False)  # killed from outside after an epoch checkpoint of t00001
    try:
        t0 = time.monotonic()
        while not list((run / "checkpoints").glob("t00001*")) and time.monotonic() - t0 < 120:
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert len(trials(run)) == 1, "t00001 finished before the kill"
    assert list((run / "checkpoints").glob("t00001*")), "no epoch checkpoint of the running trial"
    r = nas("--resume", str(run))
    assert r.returncode == 0, r.stderr
    assert real_sequence(run) == real_sequence(tmp_path / "ref")

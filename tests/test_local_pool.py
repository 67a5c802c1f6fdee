"""The local evaluator's worker processes: several candidates at once, crash-safe, deterministic.

Real training throughout (tiny NB201 cells on ``digits``, one epoch). Checks: a result depends
only on (seed, trial id), not on the worker or the number of workers; trials really overlap;
a worker killed mid-trial fails that trial with a reason and is replaced; a machine fault in a
worker stops the search (not a failed trial); a SIGKILLed driver leaves no worker behind and
its run resumes with every trial once; bad options exit 2.
"""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluators.local import LocalEvaluator
from evaluators.local_pool import exit_reason, process_alive
from nas.config import SearchConfig
from nas.errors import ConfigError, MachineFault
from nas.io import read_jsonl
from nas.types import Proposal
from nas.zoo import get_space

ROOT = Path(__file__).resolve().parents[1]
TINY = {"space": "nb201", "epochs": 1, "channels": 4, "layers": 1, "seed": 0}  # seed 0: the fixture's split


def evaluator(tmp_path: Path | None, workers: int | None, digits, **config) -> LocalEvaluator:
    """In-process trials use the ``digits`` fixture; worker processes load the same split themselves."""
    options = {} if workers is None else {"workers": workers}
    cfg = SearchConfig(**{**TINY, **config}, evaluator_options=options)
    return LocalEvaluator(get_space("nb201"), cfg, run_dir=tmp_path, data=digits)


def run_all(ev: LocalEvaluator, proposals: list[Proposal], timeout: float = 120.0) -> dict:
    for p in proposals:
        ev.submit(p)
    out: dict = {}
    t0 = time.monotonic()
    while len(out) < len(proposals):
        assert time.monotonic() - t0 < timeout, f"only {sorted(out)} finished"
        out.update(ev.results(0.2))
    return out


def proposals(n: int, seed: int = 1) -> list[Proposal]:
    import random

    space, rng = get_space("nb201"), random.Random(seed)
    return [Proposal(f"t{i:05d}", space.sample(rng)) for i in range(n)]


def comparable(result) -> tuple:
    m = result.metrics
    return result.status, m["val_acc"], m["params"], m["macs"], json.dumps(result.report["history"])


def test_result_depends_only_on_seed_and_trial_id(digits, tmp_path):
    ps = proposals(4)
    one = evaluator(tmp_path / "one", 1, digits)
    two = evaluator(tmp_path / "two", 2, digits)
    try:
        assert one.capacity() == 1 and two.capacity() == 2
        a = run_all(one, ps)
        b = run_all(two, list(reversed(ps)))  # other order, other workers
    finally:
        one.shutdown()
        two.shutdown()
    assert {k: comparable(v) for k, v in a.items()} == {k: comparable(v) for k, v in b.items()}
    assert {r.worker["local_worker"] for r in b.values()} == {0, 1}
    assert len({r.worker["pid"] for r in b.values()}) == 2
    assert all(r.worker["pid"] != os.getpid() for r in b.values())
    assert all(r.worker["pid"] == os.getpid() for r in a.values())  # workers=1: in this process


def test_two_workers_overlap_in_time(digits):
    ev = evaluator(None, 2, digits, epochs=2)
    try:
        for p in proposals(2, seed=3):
            ev.submit(p)
        t0 = time.monotonic()
        first = []
        while not first:
            first = ev.results(0.1)
        # the second trial started at the same time as the first, so it is (nearly) done too
        rest = []
        while not rest:
            rest = ev.results(0.1)
        assert len(first) + len(rest) == 2
        first_cost = first[0][1].cost
        assert time.monotonic() - t0 < 1.8 * first_cost + 1.0
    finally:
        ev.shutdown()


def test_a_killed_worker_fails_its_trial_and_is_replaced(digits, tmp_path):
    ev = evaluator(tmp_path, 2, digits, epochs=30)
    ps = proposals(2, seed=4)
    try:
        ev.submit(ps[0])
        assert ev.results(0.05) == []
        pool = ev._pool
        victim = next(w for w in pool._workers if w is not None and w.trial == ps[0].id)
        os.kill(victim.process.pid, signal.SIGKILL)
        got = []
        t0 = time.monotonic()
        while not got:
            assert time.monotonic() - t0 < 30
            got = ev.results(0.2)
        (pid, result), = got
        assert pid == ps[0].id and result.status == "failed"
        assert "SIGKILL" in result.error and "out-of-memory" in result.error
        assert not (tmp_path / "checkpoints" / f"{ps[0].id}.pt").exists()  # final: nothing left to resume
        ev.config.epochs = 1  # the next trial, on a fresh worker, finishes
        done = run_all(ev, [ps[1]])
        assert done[ps[1].id].status == "ok"
        idle = done[ps[1].id].worker["pid"]
        assert idle != victim.process.pid
        os.kill(idle, signal.SIGKILL)  # a worker that dies while idle is replaced before its next trial
        time.sleep(0.2)
        again = run_all(ev, [Proposal("t00009", ps[1].arch)])
        assert again["t00009"].status == "ok" and again["t00009"].worker["pid"] not in (idle, victim.process.pid)
    finally:
        ev.shutdown()


def test_machine_fault_in_a_worker_is_raised_not_a_failed_trial(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("NAS_FAULT_AT", "1:ENOSPC:always")  # the nas.io hook, forwarded to the workers
    monkeypatch.setenv("NAS_FAULT_PATH", "checkpoints")
    ev = evaluator(tmp_path, 2, digits)
    try:
        ev.submit(proposals(1, seed=6)[0])
        t0 = time.monotonic()
        with pytest.raises(MachineFault, match="No space left"):
            while time.monotonic() - t0 < 60:
                ev.results(0.2)
    finally:
        ev.shutdown()


def test_auto_workers(digits, monkeypatch):
    import evaluators.local as local

    monkeypatch.setattr(local, "usable_cores", lambda: 4)
    cfg = SearchConfig(**TINY)
    assert LocalEvaluator(get_space("nb201"), cfg).capacity() == 4  # digits: one per core
    assert LocalEvaluator(get_space("nb201"), SearchConfig(**TINY, budget=3)).capacity() == 3  # no idle worker
    assert LocalEvaluator(get_space("nb201"), SearchConfig(**TINY, evaluator_options={"threads": 2})).capacity() == 2
    assert LocalEvaluator(get_space("nb201"), cfg, data=digits).capacity() == 1  # a bundle handed in: in-process
    assert evaluator(None, 3, digits).capacity() == 3


def test_an_unpicklable_space_is_refused_at_check(digits):
    space = copy.copy(get_space("nb201"))
    space.hook = lambda: None  # a lambda cannot be pickled
    ev = LocalEvaluator(space, SearchConfig(**TINY, evaluator_options={"workers": 2}))
    with pytest.raises(ConfigError, match="workers=1"):
        ev.check()


@pytest.mark.parametrize("bad", [0, -1, "many", True, 1.5])
def test_bad_workers_option(bad):
    with pytest.raises(ConfigError, match="workers"):
        LocalEvaluator(get_space("nb201"), SearchConfig(evaluator_options={"workers": bad}))


def stuck_job(proposal: Proposal):  # module level: the workers import it by name
    time.sleep(300)  # one call that never returns in time (the trainer's own timeout cannot see it)


def test_a_stuck_trial_is_killed_at_the_hard_limit():
    from evaluators.local_pool import WorkerPool, hard_limit

    assert hard_limit(None) is None and hard_limit(10) == 40.0 and hard_limit(1000) == 1100.0
    pool = WorkerPool(1, stuck_job, hard_limit=1.0)
    try:
        pool.start(proposals(1)[0])
        t0 = time.monotonic()
        got = []
        while not got:
            assert time.monotonic() - t0 < 30
            got = pool.collect(5.0)  # wakes up at the limit, not after the 5 s
        (pid, result), = got
        assert pid == "t00000" and result.status == "timeout" and "killed" in result.error
        assert 1.0 <= time.monotonic() - t0 < 10.0
        assert not process_alive(result.worker["pid"])
    finally:
        pool.shutdown()


def test_exit_reason_words():
    assert "SIGKILL" in exit_reason(-signal.SIGKILL) and "out-of-memory" in exit_reason(-9)
    assert "status 3" in exit_reason(3)
    assert "SIGSEGV" in exit_reason(-signal.SIGSEGV)


def test_cli_bad_workers_option_exits_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nas", "search", "--space", "nb201", "--budget", "1",
                        "--evaluator-option", "workers=0", "--runs-dir", str(tmp_path)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("nas: error:") and "workers" in r.stderr
    assert not any(tmp_path.iterdir())


@pytest.mark.slow
def test_sigkill_driver_with_two_workers_then_resume(tmp_path):
    """Kill the driver while both workers train: no worker survives it, the run stays unlocked,
    and the resumed search journals every trial exactly once and reaches its budget."""
    args = [sys.executable, "-m", "nas", "search", "--space", "nb201", "--strategy", "random", "--budget", "6",
            "--epochs", "3", "--channels", "4", "--layers", "1", "--runs-dir", str(tmp_path), "--name", "r",
            "--evaluator-option", "workers=2", "--keep-weights", "all"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NAS_CRASH_AFTER", None)
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    run = tmp_path / "r"
    journal = run / "trials.jsonl"
    t0 = time.monotonic()
    while not (journal.exists() and journal.read_text().count("\n") >= 2):
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() - t0 < 120
        time.sleep(0.05)
    children = [int(p) for p in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()]
    assert len(children) == 2
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    t0 = time.monotonic()
    while any(process_alive(c) for c in children):
        assert time.monotonic() - t0 < 5, "a worker outlived its driver"
        time.sleep(0.05)
    before = list(read_jsonl(journal))
    checkpointed = {f.stem for f in (run / "checkpoints").glob("*.pt")}  # trials killed after an epoch
    r = subprocess.run([sys.executable, "-m", "nas", "search", "--resume", str(run)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    after = list(read_jsonl(journal))
    ids = [t["id"] for t in after]
    assert len(ids) == len(set(ids)) == 6
    assert after[: len(before)] == before  # nothing journaled before the kill changed
    assert all(t["status"] == "ok" for t in after)
    resumed = {t["id"] for t in after[len(before):] if t["worker"].get("resumed_from_epoch", 0) > 0}
    assert checkpointed - {t["id"] for t in before} <= resumed  # they continued, not restarted

"""Chaos: a 1,000-trial tabular NB201 search SIGKILLed at random moments, 50 times, resumed each time.

The kill times come from a seeded RNG: a quarter of the kills land at any moment after the
process starts (also while it imports, creates the run or replays the journal), the others
a short random delay after the journal has grown (in the middle of the ask / snapshot /
pending / journal / tell writes); either way a session is killed at the latest once it has
journaled a random 1-12 new trials, so the kill count does not depend on the machine's speed.
After the last kill the search is resumed to the end; its journal must equal, trial for trial
(ids, keys, statuses, metrics, report, cost, provenance), that of the same search run without
interruption, with no trial journaled twice.
``NAS_CHAOS_KILLS`` sets the number of kills (default 50).
"""
from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path

import pytest

from tests.faults import nas_process, sequence, trials

pytestmark = pytest.mark.slow
BUDGET = 1000
ARGS = ["search", "--space", "nb201", "--evaluator", "tabular", "--strategy", "evolution", "--budget", str(BUDGET),
        "--max-concurrent", "1", "--seed", "7"]
KILLS = int(os.environ.get("NAS_CHAOS_KILLS", "50"))
#: wall-clock bound of the kill phase (seconds); the test fails if it cannot make KILLS kills in it
KILL_PHASE_LIMIT = 420.0


def uninterrupted() -> list[dict]:
    """The same search, uninterrupted, in memory (the driver without a run directory)."""
    from nas.app.driver import Search
    from nas.app.launch import assemble
    from nas.app.rundir import json_record
    from nas.config import SearchConfig

    cfg = SearchConfig(space="nb201", evaluator="tabular", strategy="evolution", budget=BUDGET, max_concurrent=1,
                       seed=7)
    parts = assemble(cfg)
    try:
        summary = Search(cfg, parts.space, parts.strategy, parts.evaluator, run=None).run()
    finally:
        parts.release()
    return [json_record(t) for t in summary.trials]


def journal_lines(run: Path) -> int:
    """Complete lines of the journal so far (0 before it exists)."""
    try:
        return (run / "trials.jsonl").read_bytes().count(b"\n")
    except OSError:
        return 0


def test_chaos_sigkill_50_times_then_resume_equals_the_uninterrupted_run(tmp_path):
    run = tmp_path / "chaos"
    rng = random.Random(20261201)
    kills = sessions = 0
    t0 = time.monotonic()
    while kills < KILLS:
        assert time.monotonic() - t0 < KILL_PHASE_LIMIT, f"only {kills} kills in {KILL_PHASE_LIMIT:g}s"
        fresh = not (run / "run.yaml").exists()  # killed before the run existed: start it again
        argv = [*ARGS, "--runs-dir", str(tmp_path), "--name", "chaos"] if fresh else ["search", "--resume", str(run)]
        proc = nas_process(*argv, wait=False)
        sessions += 1
        started, lines0 = time.monotonic(), journal_lines(run)
        # at most ``cap`` new trials per session, however fast the machine: an idle machine journals
        # hundreds of tabular trials a second, and 50 sessions must not finish the 1,000
        cap = rng.randint(1, 12)

        def grown() -> bool:
            return journal_lines(run) - lines0 >= cap

        if rng.random() < 0.25:  # any moment of the session, start-up included
            deadline = started + rng.uniform(0.0, 3.0)
            while time.monotonic() < deadline and proc.poll() is None and not grown():
                time.sleep(0.002)
        else:  # a short random delay after the journal grew
            while journal_lines(run) == lines0 and proc.poll() is None and time.monotonic() - started < 60:
                time.sleep(0.002)
            end = time.monotonic() + rng.uniform(0.0, 0.4)
            while time.monotonic() < end and proc.poll() is None and not grown():
                time.sleep(0.002)
        if proc.poll() is not None:
            pytest.fail(f"session {sessions} ended by itself (rc {proc.returncode}) after {kills} kills: "
                        f"{proc.stderr.read()[-2000:]}")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stderr.close()
        kills += 1
        done = trials(run) if (run / "trials.jsonl").exists() else []
        assert len({t["id"] for t in done}) == len(done), "a trial was journaled twice"
    n_before_last = len(trials(run))
    assert n_before_last < BUDGET, "the search finished before the last kill: make it longer"
    final = nas_process("search", "--resume", str(run), timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    got, want = trials(run), uninterrupted()
    assert len(got) == len(want) == BUDGET
    assert sequence(got) == sequence(want)
    assert [t.get("info") for t in got] == [t.get("info") for t in want]
    print(f"\nchaos: {kills} SIGKILLs in {sessions} sessions survived; {n_before_last} of {BUDGET} trials "
          f"journaled before the final resume; {time.monotonic() - t0:.0f}s")

"""The search driver: the ask / submit / collect / journal / tell loop.

:class:`Search` owns the loop. While fewer than ``max_concurrent`` trials are in flight and
the budget allows, it asks the strategy and submits the proposal; it then collects finished
results, journals them and tells the strategy ``result.for_strategy()`` (never ``report``).
With a :class:`~nas.app.rundir.RunDir` it follows the crash-consistency protocol documented in
:mod:`nas.app.rundir`; with ``run=None`` the journal lives in memory only (no files, no fsync),
which ``nas bench`` uses for fast tabular searches.

Budgets
    ``budget``: number of finished trials (ok + failed + timeout). ``time_budget`` (seconds):
    wall time accumulated over all sessions of the run. When results carry simulated
    ``Result.cost`` (evaluators that declare ``simulated_time = True``, such as the tabular
    NAS-Bench-201 evaluator; see :class:`evaluators.base.Evaluator`) it is the sum of those
    costs instead, and the search stops when the next result
    would exceed the budget; that result is discarded (not journaled, not told; it stays
    pending in the snapshot). Training evaluators report real seconds in ``cost`` and declare
    ``simulated_time = False``: their budget is wall time, and when it runs out no new trial
    starts while trials in flight are finished (as in Optuna's ``timeout``). With several
    trials in flight, simulated time is the sum of costs (sequential-equivalent time).
Deduplication (safety net; strategies deduplicate themselves)
    A proposal whose key (with ``@budget`` for a rung of a multi-fidelity search:
    :attr:`nas.types.Proposal.dedup_key`) is already in the journal is not evaluated: the strategy is told the
    journaled result, nothing is journaled or counted. A proposal whose key is in flight waits
    for that trial's result. After :data:`MAX_DUPLICATE_RUN` duplicates in a row the search
    stops (the space looks exhausted).
Fidelity
    A proposal may carry a ``budget`` in epochs (multi-fidelity strategies: Hyperband, BOHB,
    ASHA); each rung is its own trial (journaled with ``budget``, and a promotion with its
    ``lineage``), counted in ``budget`` like any trial. The driver treats it like any proposal.
Stopping
    ``done()`` or ``ask() is None`` with nothing in flight stops the search. Failed and timed
    out trials are journaled with their reason and the search goes on. A machine fault (a
    full disk, an I/O error: :class:`~nas.errors.MachineFault`) stops it at once without
    journaling the interrupted trials (see :meth:`Search.run`).
"""
from __future__ import annotations

import os
import signal
import time
from collections import deque
from typing import Any, Protocol

from nas.arch import Architecture
from nas.config import SearchConfig
from nas.errors import ConfigError, MachineFault, as_machine_fault, is_machine_fault
from nas.app.rundir import RunDir, json_record, result_of
from nas.app.summary import SearchSummary
from nas.layout import storage_of, trial_weights_path
from nas.types import Proposal, Result, trial_dedup_key

#: duplicates in a row after which the space is considered exhausted
MAX_DUPLICATE_RUN = 200
#: seconds to wait in ``evaluator.results`` before refreshing progress / checking the clock
POLL_SECONDS = 0.5


class Progress(Protocol):
    def start(self, search: "Search") -> None: ...
    def trial_finished(self, record: dict[str, Any], search: "Search") -> None: ...
    def tick(self, search: "Search") -> None: ...
    def stop(self, search: "Search") -> None: ...


def _crash_point() -> tuple[str, int] | None:
    """``NAS_CRASH_AFTER=point:N`` (test hook): SIGKILL self after the N-th ``point`` event."""
    spec = os.environ.get("NAS_CRASH_AFTER")
    if not spec:
        return None
    point, _, n = spec.partition(":")
    return point, int(n or 1)


class Search:
    """One search: ``Search(config, space, strategy, evaluator, run=..., progress=...).run()``.

    The driver does not shut the evaluator down (its creator does). ``elapsed``: seconds the run
    has already spent before its first session's loop (a warm start's pre-screen,
    :mod:`nas.app.warm_start`), counted in :attr:`elapsed` and so in ``time_budget``; a resumed
    run's snapshot replaces it with the time it recorded.
    """

    def __init__(self, config: SearchConfig, space: Any, strategy: Any, evaluator: Any, *,
                 run: RunDir | None = None, progress: Progress | None = None, elapsed: float = 0.0) -> None:
        self.config, self.space, self.strategy, self.evaluator = config, space, strategy, evaluator
        self.run_dir, self.progress = run, progress
        self.objective = strategy.objective
        self.budget, self.time_budget = config.budget, config.time_budget
        self.max_concurrent = config.max_concurrent or max(1, int(evaluator.capacity()))
        self.trials: list[dict[str, Any]] = []
        self.scores: dict[str, float] = {}
        self.best: dict[str, Any] | None = None
        self.n_ok = self.n_failed = self.n_duplicates = self.n_told = 0
        self.sim_elapsed, self.simulated = 0.0, False
        # the Evaluator contract declares whether Result.cost is simulated time
        self._simulated_cost = bool(evaluator.simulated_time)
        self._by_key: dict[str, dict[str, Any]] = {}
        self._pending: dict[str, Proposal] = {}  # asked, not yet told (ask order)
        self._pending_dicts: dict[str, dict[str, Any]] = {}
        self._queue: deque[Proposal] = deque()  # restored on resume, not yet dispatched
        self._inflight: dict[str, tuple[Proposal, float, str | None]] = {}
        self._inflight_keys: dict[str, str] = {}
        self._followers: dict[str, list[Proposal]] = {}
        self._dup_run = 0
        self._weights_kept: set[str] = set()
        self._elapsed0, self._t0 = float(elapsed), time.perf_counter()
        self.stopped_reason: str | None = None
        self._halt = False
        self._crash = _crash_point() if run is not None else None
        self._events: dict[str, int] = {}

    # -- time -------------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        """Wall seconds over all sessions of this run."""
        return self._elapsed0 + time.perf_counter() - self._t0

    @property
    def used_time(self) -> float:
        """What the time budget is measured in: simulated cost if results carry it, else wall."""
        return self.sim_elapsed if self.simulated else self.elapsed

    @property
    def n_finished(self) -> int:
        return len(self.trials)

    @property
    def n_running(self) -> int:
        return len(self._inflight)

    # -- main loop ----------------------------------------------------------------------
    def run(self) -> SearchSummary:
        """Run the search to its end. A machine fault in any write (a :class:`~nas.errors.MachineFault`,
        or an OSError of :data:`~nas.errors.FAULT_ERRNOS`) stops it at once: nothing more is written,
        the trials in flight stay pending (none is journaled as failed) and the fault is raised
        again naming the resume command, which re-runs exactly those trials."""
        try:
            return self._run()
        except MachineFault as e:
            raise self._machine_fault(e) from e
        except OSError as e:
            if not is_machine_fault(e):
                raise
            raise self._machine_fault(as_machine_fault(e)) from e

    def _machine_fault(self, e: MachineFault) -> MachineFault:
        self.stopped_reason = "machine fault"
        return e if self.run_dir is None else e.for_run(self.run_dir.path)

    def _run(self) -> SearchSummary:
        self._t0 = time.perf_counter()
        if self.run_dir is not None:
            self._restore()
            self._snapshot()
        if self.progress is not None:
            self.progress.start(self)
        try:
            while True:
                self._fill()
                if not self._inflight or self._halt:
                    break
                try:
                    batch = self.evaluator.results(POLL_SECONDS)
                except KeyboardInterrupt:  # state is consistent here: save the clock, then stop
                    if self.run_dir is not None:
                        self._snapshot()
                    raise
                for pid, result in batch:
                    self._finish(pid, result)
                    if self._halt:
                        break
                if self.progress is not None:
                    self.progress.tick(self)
            if self.run_dir is not None:
                self._snapshot()
        finally:
            if self.progress is not None:
                self.progress.stop(self)
        return SearchSummary(
            trials=self.trials, best=self.best, n_ok=self.n_ok, n_failed=self.n_failed,
            elapsed=self.elapsed, stopped_reason=self.stopped_reason or "finished",
            n_duplicates=self.n_duplicates, run_dir=None if self.run_dir is None else self.run_dir.path,
            scores=self.scores,
        )

    def _can_submit(self) -> bool:
        if self.budget is not None and self.n_finished + len(self._inflight) >= self.budget:
            if self.n_finished >= self.budget and self.stopped_reason is None:
                self.stopped_reason = f"budget of {self.budget} trials reached"
            return False
        if self.time_budget is not None and self.used_time >= self.time_budget:
            if self.stopped_reason is None:
                kind = "simulated" if self.simulated else "wall"
                self.stopped_reason = f"time budget of {self.time_budget:g}s ({kind}) reached"
            return False
        return True

    def _fill(self) -> None:
        while self.stopped_reason is None and len(self._inflight) < self.max_concurrent and self._can_submit():
            if self._queue:
                self._dispatch(self._queue.popleft())
                continue
            if self.strategy.done():
                self.stopped_reason = "the strategy is done"
                return
            p = self.strategy.ask()
            if p is None:
                if not self._inflight:
                    self.stopped_reason = "the strategy has nothing more to propose"
                return
            self._pending[p.id] = p
            if self.run_dir is not None:
                self._snapshot()
                self._event("ask")
            self._dispatch(p)

    def _dispatch(self, p: Proposal) -> None:
        key = p.dedup_key  # the architecture key, with @budget for a rung of a multi-fidelity search
        if key is not None:
            rec = self._by_key.get(key)
            if rec is not None:
                self._tell(p, result_of(rec))
                self._duplicate()
                if self.run_dir is not None:
                    self._snapshot()
                return
            if key in self._inflight_keys:
                self._followers.setdefault(key, []).append(p)
                self._duplicate()
                return
        self._submit(p, key)

    def _duplicate(self) -> None:
        self.n_duplicates += 1
        self._dup_run += 1
        if self._dup_run >= MAX_DUPLICATE_RUN and self.stopped_reason is None:
            self.stopped_reason = (f"{self._dup_run} duplicate proposals in a row: "
                                   "the search space looks exhausted")

    def _submit(self, p: Proposal, key: str | None) -> None:
        self._dup_run = 0
        started = time.time()
        self._inflight[p.id] = (p, started, key)
        if key is not None:
            self._inflight_keys[key] = p.id
        if self.run_dir is not None:
            self.run_dir.append_pending({**self._proposal_dict(p), "submitted": started})
            self._event("pending")
        self.evaluator.submit(p)
        if self.run_dir is not None:
            self._event("submit")

    def _finish(self, pid: str, result: Result) -> None:
        entry = self._inflight.pop(pid, None)
        if entry is None:  # not ours (or already discarded): ignore
            return
        p, started, key = entry
        if key is not None:
            self._inflight_keys.pop(key, None)
        if result.cost is not None and self._simulated_cost:  # simulated: may not overrun the budget
            if self.time_budget is not None and self.sim_elapsed + result.cost > self.time_budget:
                self.stopped_reason = (f"time budget of {self.time_budget:g}s (simulated) reached: "
                                       "the next evaluation would exceed it")
                self._halt = True  # the result is discarded; the proposal stays pending
                return
        finished = time.time()
        rec = {
            "id": pid, "key": None if p.arch is None else p.arch.key, "arch": p.arch, "status": result.status, "metrics": result.metrics,
            "error": result.error, "worker": result.worker, "report": result.report, "cost": result.cost,
            "info": p.info, "config": p.config, "runner": p.runner, "started": started, "finished": finished,
            "seconds": finished - started,
        }
        if p.budget is not None:  # a rung: journaled with its fidelity (and what it continued)
            rec["budget"] = p.budget
        if p.lineage is not None:
            rec["lineage"], rec["from_budget"] = p.lineage, p.from_budget
        if result.arch is not None:
            rec["result_arch"] = result.arch
        self._add_record(rec, result)
        if self.run_dir is not None:
            self.run_dir.append_trial(json_record(rec))
            self._event("journal")
            self._prune_weights(pid)
        told = result.for_strategy()
        self._tell(p, told)
        for f in self._followers.pop(key, ()) if key is not None else ():
            self._tell(f, told)
        if self.run_dir is not None:
            self._event("tell")
            self._snapshot()
        if self.progress is not None:
            self.progress.trial_finished(rec, self)

    def _prune_weights(self, new_id: str) -> None:
        """Keep trained weights only for the top ``config.keep_weights`` trials (None: all)."""
        k = getattr(self.config, "keep_weights", None)
        if k is None:
            return
        top = set(sorted(self.scores, key=lambda i: -self.scores[i])[:k])
        storage = storage_of(self.config)  # weights live on shared storage when the search has one
        for tid in (self._weights_kept | {new_id}) - top:
            trial_weights_path(self.run_dir.path, tid).unlink(missing_ok=True)
            if storage is not None:
                trial_weights_path(self.run_dir.path, tid, storage).unlink(missing_ok=True)
        self._weights_kept = top

    def _tell(self, p: Proposal, result: Result) -> None:
        self.strategy.tell(p.id, result)
        self.n_told += 1
        del self._pending[p.id]
        self._pending_dicts.pop(p.id, None)

    def _add_record(self, rec: dict[str, Any], result: Result) -> None:
        self.trials.append(rec)
        dedup = trial_dedup_key(rec)
        if dedup is not None:
            self._by_key.setdefault(dedup, rec)
        if result.cost is not None:
            self.sim_elapsed += result.cost
            self.simulated = self._simulated_cost
        if result.status == "ok":
            self.n_ok += 1
            score = self.objective.rank_score(result)  # Pareto: val_acc
            if score is not None:
                self.scores[rec["id"]] = score
                if self.best is None or score > self.scores[self.best["id"]]:
                    self.best = rec
        else:
            self.n_failed += 1

    # -- persistence ------------------------------------------------------------------------
    def _proposal_dict(self, p: Proposal) -> dict[str, Any]:
        d = self._pending_dicts.get(p.id)
        if d is None:
            d = self._pending_dicts[p.id] = p.to_dict()
        return d

    def _snapshot(self) -> None:
        assert self.run_dir is not None
        self.run_dir.save_snapshot({
            "strategy": self.strategy.state_dict(),
            "pending": [self._proposal_dict(p) for p in self._pending.values()],
            "n_told": self.n_told,
            "n_trials": len(self.trials),
            "n_duplicates": self.n_duplicates,
            "elapsed": self.elapsed,
        })
        self._event("snapshot")

    def _restore(self) -> None:
        """Replay the journal and the snapshot (see :mod:`nas.app.rundir`, "Crash-consistency")."""
        assert self.run_dir is not None
        for d in self.run_dir.read_trials():
            rec = {"key": None, **d}
            rec["arch"] = None if d.get("arch") is None else Architecture.from_dict(d["arch"])
            if d.get("result_arch") is not None:
                rec["result_arch"] = Architecture.from_dict(d["result_arch"])
            self._add_record(rec, result_of(rec))
        self._weights_kept = set(self.scores)  # pruned again at the next result
        snap = self.run_dir.load_snapshot()
        if snap is None:
            if self.trials:
                raise ConfigError(f"{self.run_dir.snapshot_path}: missing although trials exist; cannot resume")
            return
        try:
            self.strategy.load_state_dict(snap["strategy"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:  # a corrupt strategy state
            raise ConfigError(f"{self.run_dir.snapshot_path}: field 'strategy' is not a state of strategy "
                              f"{self.config.strategy!r} ({type(e).__name__}: {e})"[:500]) from None
        self._elapsed0 = float(snap.get("elapsed", 0.0))
        self.n_duplicates = int(snap.get("n_duplicates", 0))
        self.n_told = int(snap.get("n_told", 0))
        for d in snap.get("pending", []):
            p = Proposal.from_dict(d)
            self._pending[p.id] = p
        by_id = {rec["id"]: rec for rec in self.trials}
        for p in list(self._pending.values()):
            rec = by_id.get(p.id)
            if rec is not None:  # journaled before the crash: tell, never re-run
                self._tell(p, result_of(rec))
            else:
                self._queue.append(p)

    def _event(self, point: str) -> None:
        """Count write-protocol events; ``NAS_CRASH_AFTER=point:N`` kills the driver at the N-th."""
        if self._crash is None or self._crash[0] != point:
            return
        n = self._events[point] = self._events.get(point, 0) + 1
        if n >= self._crash[1]:
            os.kill(os.getpid(), signal.SIGKILL)


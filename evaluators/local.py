"""The ``local`` evaluator: trains candidates on this machine, several at once (README, "Evaluators").

``workers`` worker processes (:mod:`evaluators.local_pool`) each train one candidate at a time; the driver keeps that many trials in flight (:meth:`capacity` is the
default ``--max-concurrent``). With ``workers: 1`` trials run in this process, one at a time:
``submit`` only queues and ``results`` runs the oldest queued trial to completion, so a search
with a fixed seed makes exactly the same trials in the same order every time (and after a
resume). With several workers a trial's result still depends only on (seed, trial id), but
the order in which results arrive, and so what an adaptive strategy proposes next, depends on
timing.

The dataset is loaded on first use (or eagerly by :meth:`LocalEvaluator.check`, which the CLI
calls so that a missing dataset fails with exit code 2 before anything is written), in the
driver with one worker and once per worker process otherwise (from the configuration: a
``data`` bundle handed to the constructor is used in-process only, so it makes ``auto`` one
worker). With a run directory, each
trial checkpoints to ``<run_dir>/checkpoints/<trial id>.pt`` after every epoch, so a trial
that was running when a search was killed continues from its last epoch on resume.

Options (``evaluator_options``)
    ``threads``: torch CPU threads per trial. When unset and training runs on the CPU,
    ``digits`` uses one thread: its models are so small that intra-op parallelism costs more
    than it gains (one epoch of an NB201 cell: 0.5 s with 1 thread vs 2.4-31 s with 2 threads
    on 2 busy cores; a whole default search: see BENCHMARKS.md, "Cores"); other datasets keep
    torch's default (all cores).
    ``workers``: trials at once, an integer >= 1 or ``auto`` (the default): on the CPU as many
    as fit the cores at that thread count (``cores // threads``; ``digits``: one per core, at
    most the trial budget), on a GPU one, and one with a ``data`` bundle handed in or a space
    that cannot be sent to a worker process (pickled: e.g. one defined interactively).
"""
from __future__ import annotations

import os
import pickle
import sys
from collections import deque
from pathlib import Path
from typing import Any

from evaluators.base import Evaluator
from evaluators.local_pool import WorkerPool, hard_limit
from evaluators.proxies import check_proxies
from nas.errors import ConfigError, MachineFault
from nas.layout import CHECKPOINTS, trial_weights_path
from nas.types import Proposal, Result


class TrialContext:
    """What a trial needs besides its proposal: space, configuration, device, threads, run directory.

    Picklable (the dataset and the resolved device are dropped and made again on first use), so
    a worker process receives it once and runs :meth:`run` for each proposal, exactly as the
    driver does with one worker.
    """

    def __init__(self, space: Any, config: Any, device: Any, threads: int | None,
                 run_dir: Path | None, data: Any = None) -> None:
        self.space, self.config, self.device_spec = space, config, device
        self.threads, self.run_dir = threads, run_dir
        self._data, self._device = data, None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_data": None, "_device": None}

    @property
    def device(self) -> Any:
        """The resolved ``torch.device`` (``auto`` → cuda if available, else cpu)."""
        if self._device is None:
            from evaluators.trainer import resolve_device

            self._device = resolve_device(self.device_spec)
        return self._device

    @property
    def data(self) -> Any:
        """The dataset bundle, loaded on first use."""
        if self._data is None:
            from evaluators.data import load_for_config

            self._data = load_for_config(self.config, self.device)
        return self._data

    def run(self, proposal: Proposal) -> Result:
        """Evaluate one proposal in this process (the driver's, or a worker's)."""
        from evaluators.candidate import set_threads
        from nas.registry import TRIALS, load_plugins

        load_plugins()  # the trial runners: "train" (evaluators), "oneshot" (strategies), plugins
        run_trial = TRIALS.get(proposal.runner)
        set_threads(self.threads, self.device, self.data.info)
        ckpt_dir = weights = None
        if self.run_dir is not None:
            ckpt_dir = self.run_dir / CHECKPOINTS
            if self.config.keep_weights != 0:
                weights = trial_weights_path(self.run_dir, proposal.id)
        return run_trial(self.space, proposal, self.config, self.data, device=self.device,
                         checkpoint_dir=ckpt_dir, weights_path=weights)


class LocalEvaluator(Evaluator):
    """Training on this machine: ``workers`` trials at once (see the module docstring)."""

    name = "local"

    def __init__(self, space: Any, config: Any, *, run_dir: str | Path | None = None,
                 data: Any = None, device: Any = None) -> None:
        super().__init__(space, config, run_dir=run_dir)
        check_proxies(getattr(config, "proxies", None) or [])  # bad names: exit 2 before any write
        self._given_data = data is not None
        options = dict(getattr(config, "evaluator_options", None) or {})
        unknown = sorted(set(options) - {"threads", "workers"})
        if unknown:
            raise ConfigError(f"evaluator 'local': unknown option(s) {', '.join(unknown)}; accepted: threads, workers")
        self.threads: int | None = _count_option("threads", options.get("threads"))
        workers = options.get("workers", "auto")
        self._workers_option: int | None = None if workers == "auto" else _count_option("workers", workers, "or 'auto'")
        self.context = TrialContext(self.space, config, device if device is not None else config.device,
                                    self.threads, self.run_dir, data)
        self._queue: deque[Proposal] = deque()
        self._pool: WorkerPool | None = None
        self._faults: deque[MachineFault] = deque()
        self._ship: tuple[str | None, bool] | None = None  # see _sendable
        self._running: dict[str, Proposal] = {}  # trials on workers, by id

    # -- setup ------------------------------------------------------------------------------
    @property
    def device(self) -> Any:
        """The resolved ``torch.device`` (``auto`` → cuda if available, else cpu)."""
        return self.context.device

    @property
    def data(self) -> Any:
        """The dataset bundle (in this process), loaded on first use."""
        return self.context.data

    def check(self) -> Any:
        """Resolve the device and load the dataset now; raises ConfigError/DataError. Returns its info.

        With several workers, also checks that the space can be sent to them (pickled).
        """
        info = self.data.info
        if self.workers > 1:
            self._check_sendable()
        return info

    def _sendable(self) -> tuple[str | None, bool]:
        """(why the trial context cannot be sent to worker processes, or None; whether it needs
        the driver's ``__main__`` module, i.e. refers to a class defined in the main script)."""
        if self._ship is None:
            try:
                blob = pickle.dumps(self.context)
            except Exception as e:  # noqa: BLE001 - any pickling error: the reason is the message
                self._ship = (f"{type(e).__name__}: {e}", False)
            else:
                needs_main = b"__main__" in blob
                main = sys.modules.get("__main__")
                if needs_main and getattr(main, "__file__", None) is None:  # an interactive session
                    self._ship = ("it refers to objects defined interactively (in __main__)", True)
                else:
                    self._ship = (None, needs_main)
        return self._ship

    def _check_sendable(self) -> None:
        reason, _ = self._sendable()
        if reason is not None:
            raise ConfigError(f"evaluator 'local': the space cannot be sent to worker processes ({reason}); "
                              "define it in an importable module, or use --evaluator-option workers=1")

    @property
    def workers(self) -> int:
        """Trials at once: the ``workers`` option, or ``auto`` resolved once (see the module docstring)."""
        if self._workers_option is None:
            self._workers_option = self._auto_workers()
        return self._workers_option

    def _auto_workers(self) -> int:
        if self._given_data or self.device.type != "cpu" or self._sendable()[0] is not None:
            return 1
        threads = self.threads
        if threads is None and self.data.info.family == "digits":
            threads = 1
        if threads is None:  # torch's default: every core for one trial
            return 1
        n = max(1, usable_cores() // threads)
        budget = getattr(self.config, "budget", None)
        return n if budget is None else max(1, min(n, int(budget)))

    # -- Evaluator contract -----------------------------------------------------------------------
    def submit(self, proposal: Proposal) -> None:
        self._queue.append(proposal)

    def results(self, timeout: float | None = None) -> list[tuple[str, Result]]:
        """Finished trials. One worker: runs the next queued trial here and returns it (``timeout``
        unused: a trial's own limit is ``config.trial_timeout``). Several: starts queued trials on
        idle workers and waits up to ``timeout`` seconds for one to finish.

        A worker's :class:`~nas.errors.MachineFault` is raised here; trials that finished together
        with it are returned first and the fault is raised by the next call.
        """
        if self._faults:
            raise self._faults.popleft()
        if self.workers == 1:
            if not self._queue:
                return []
            proposal = self._queue.popleft()
            return [(proposal.id, self.context.run(proposal))]
        if self._pool is None:
            self._check_sendable()
            self._pool = WorkerPool(self.workers, self.context.run, import_main=self._sendable()[1],
                                    hard_limit=hard_limit(getattr(self.config, "trial_timeout", None)))
        pool = self._pool
        self._dispatch()
        out = []
        for pid, outcome in pool.collect(timeout):
            proposal = self._running.pop(pid, None)
            if isinstance(outcome, MachineFault):
                self._faults.append(outcome)
                continue
            if "exitcode" in outcome.worker and proposal is not None:  # its worker died (or was killed): final
                self._remove_checkpoint(proposal)
            out.append((pid, outcome))
        self._dispatch()
        if self._faults and not out:
            raise self._faults.popleft()
        return out

    def _dispatch(self) -> None:
        assert self._pool is not None
        while self._queue and self._pool.free():
            proposal = self._queue.popleft()
            self._pool.start(proposal)
            self._running[proposal.id] = proposal

    def _remove_checkpoint(self, proposal: Proposal) -> None:
        if self.run_dir is not None:
            from evaluators.candidate import checkpoint_path

            checkpoint_path(self.run_dir / CHECKPOINTS, proposal.trial).unlink(missing_ok=True)

    def capacity(self) -> int:
        return self.workers

    def shutdown(self) -> None:
        self._queue.clear()
        self._faults.clear()
        self._running.clear()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def describe(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "device": str(self.context._device or self.context.device_spec)}
        if self._workers_option is not None or self.context._data is not None:
            d["workers"] = self.workers
        return d


def usable_cores() -> int:
    """CPU cores this process may use: its affinity mask where the platform has one, capped by a
    cgroup v2 CPU quota (``/sys/fs/cgroup/cpu.max``, e.g. a container's CPU limit)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return cores


def _count_option(name: str, value: Any, alternative: str = "") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        extra = f" {alternative}" if alternative else ""
        raise ConfigError(f"evaluator 'local': option {name} must be an integer >= 1{extra}, got {value!r}")
    return value

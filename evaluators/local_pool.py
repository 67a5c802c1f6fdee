"""Worker processes for the ``local`` evaluator: several candidates at once on one machine.

The unit of work is the same as in-process (:data:`nas.registry.TRIALS` runners, e.g.
:func:`~evaluators.candidate.evaluate_candidate`); only where it runs changes. Workers are
started with ``multiprocessing``'s ``forkserver`` method (``spawn`` where there is none): a
clean server process imports torch and the trial code once, and each worker is forked from it.
Not from the driver: a process that has run autograd (any backward pass: a zero-cost proxy, a
user's own training before the search) cannot be forked into one that runs it again (PyTorch
refuses: "Unable to handle autograd's threading in combination with fork-based
multiprocessing"), and a clean worker inherits none of the driver's open files or locks.

A worker receives its job once, pickled (``job``: a picklable callable, e.g. the evaluator's
:class:`~evaluators.local.TrialContext` with the space and the configuration), so a space class
must be importable by module path. ``multiprocessing`` would also re-run the driver's main
script in every worker (an unguarded script that starts a search would then start one per
worker); unless the job refers to something defined in that script (``import_main``), the
script's path is hidden while a worker starts, so a plain script needs no
``if __name__ == "__main__":`` guard. A worker then owns one duplex pipe:
the driver sends it one proposal (``Proposal.to_dict()``) at a time and receives one message back:

``("ok", trial id, Result.to_dict())``
    the trial's result, ``ok``/``failed``/``timeout`` alike (a bad candidate never kills a worker).
``("fault", trial id, detail, errno)``
    a :class:`~nas.errors.MachineFault` (full disk, I/O error) while writing a checkpoint or
    weights: not a result, the trial stays pending and the driver stops the search.

Failures of the process itself
    A worker that dies while running a trial (killed by the kernel's out-of-memory killer, a
    segfault in a native library, ``kill -9``) makes that trial a ``failed`` result naming the
    exit status (``worker["exitcode"]``), final like any failed trial (the evaluator removes its
    checkpoint); a fresh worker replaces it for the next trial, and one that died while idle is
    replaced before it is given one.
The driver dies
    Every worker holds the read end of a pipe whose write end only the driver has; a thread
    waiting on it exits the worker the moment the driver is gone, even by SIGKILL (backstops:
    ``PR_SET_PDEATHSIG`` for its parent, the fork server, and a once-a-second check), so no
    worker outlives its driver to finish a trial, or remove its checkpoint, behind a resumed
    session's back. Workers ignore ``SIGINT``: a Ctrl-C stops
    the driver, which then terminates them (their checkpoints stay for a resume).
A hung trial
    ``trial_timeout`` is checked by the trainer between steps; a trial still running
    ``hard_limit`` seconds after it started (the evaluator's: the timeout plus a grace of
    :func:`hard_limit`) is stuck inside one call, so its worker is killed and the trial is a
    ``timeout`` result.
Determinism
    A trial's seed is :func:`~evaluators.candidate.trial_seed` of (search seed, trial id) and
    every worker runs with the same torch thread count, so a result does not depend on which
    worker ran it (measured metrics such as ``latency_ms`` and ``train_seconds`` aside).
"""
from __future__ import annotations

import atexit
import multiprocessing as mp
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from multiprocessing.connection import Connection, wait
from typing import Any, Callable, Iterator

from nas.errors import MachineFault, as_machine_fault, is_machine_fault
from nas.types import Proposal, Result

#: seconds between a worker's checks that its parent is still alive
PARENT_POLL_SECONDS = 1.0
#: seconds a worker gets to exit after ``stop`` before it is terminated
STOP_GRACE_SECONDS = 2.0
_PR_SET_PDEATHSIG = 1
#: environment variables only the driver reads (its own crash test hook)
DRIVER_ONLY_ENV = frozenset({"NAS_CRASH_AFTER"})


#: modules the fork server imports once, so that workers start without importing torch again
PRELOAD = ["torch", "evaluators.candidate", "evaluators.data", "evaluators.local"]


def start_method() -> str:
    """``forkserver`` where the platform has it (Linux, macOS), else ``spawn``."""
    return "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"


def _context() -> Any:
    ctx = mp.get_context(start_method())
    if ctx.get_start_method() == "forkserver":
        ctx.set_forkserver_preload(PRELOAD)  # ignored once this process's fork server runs
    return ctx


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (a dead process not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:  # no /proc (not Linux: kill said it exists), or it just vanished
        return not os.path.isdir("/proc")


def _die_with_driver(driver: int, lifeline: Connection) -> None:
    """Exit at once when the driver is gone: ``lifeline`` (a pipe the driver holds open and never
    writes) reaches end-of-file the moment the driver exits, even by SIGKILL. Backstops: the kernel's
    ``PR_SET_PDEATHSIG`` for the parent (Linux) and a once-a-second check of both processes."""
    parent = os.getppid()
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no prctl (not Linux): the threads below still notice
        pass
    if not process_alive(driver):  # the driver died before the watchers started
        os._exit(1)

    def wait_for_eof() -> None:
        try:
            while True:
                lifeline.recv()
        except (EOFError, OSError):
            os._exit(1)

    def poll() -> None:
        while True:
            time.sleep(PARENT_POLL_SECONDS)
            if os.getppid() != parent or not process_alive(driver):
                os._exit(1)

    threading.Thread(target=wait_for_eof, name="nas-driver-lifeline", daemon=True).start()
    threading.Thread(target=poll, name="nas-parent-watch", daemon=True).start()


def driver_env() -> dict[str, str]:
    """The driver's ``NAS_*`` variables (plugins, test hooks), given to each worker as it starts:
    the fork server's own environment is the driver's of the moment it started."""
    return {k: v for k, v in os.environ.items() if k.startswith("NAS_") and k not in DRIVER_ONLY_ENV}


def _worker_main(conn: Connection, lifeline: Connection, job: Callable[[Proposal], Result], driver: int,
                 env: dict[str, str]) -> None:
    """A worker's loop: receive a proposal dict, run ``job``, send the message back; ``None`` stops."""
    _die_with_driver(driver, lifeline)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for key in [k for k in os.environ if k.startswith("NAS_")]:
        del os.environ[key]
    os.environ.update(env)
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        proposal = Proposal.from_dict(msg)
        try:
            reply: tuple[Any, ...] = ("ok", proposal.id, job(proposal).to_dict())
        except BaseException as e:  # noqa: BLE001 - a worker reports, never dies, on any error
            if is_machine_fault(e):
                fault = as_machine_fault(e)
                reply = ("fault", proposal.id, fault.detail, fault.errno)
            else:
                reply = ("ok", proposal.id, Result("failed", error=f"worker error: {type(e).__name__}: {e}").to_dict())
        conn.send(reply)


def hard_limit(trial_timeout: float | None) -> float | None:
    """Seconds after which a trial's worker is killed: ``trial_timeout`` plus max(30 s, 10 %)."""
    if trial_timeout is None:
        return None
    return float(trial_timeout) + max(30.0, 0.1 * float(trial_timeout))


def exit_reason(code: int | None) -> str:
    """Words for a dead worker's exit status (``-9``: killed by SIGKILL, often the out-of-memory killer)."""
    if code is None:
        return "worker process vanished"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = " (the out-of-memory killer, or kill -9)" if -code == signal.SIGKILL else ""
        return f"worker process killed by {name}{hint}"
    return f"worker process exited with status {code}"


@contextmanager
def _main_script_hidden(hide: bool) -> Iterator[None]:
    """Make ``multiprocessing`` start a worker without importing the driver's main script or module.

    It re-imports ``__main__`` in a worker from its ``__spec__`` (``python -m pkg.mod``) or, without
    one, its ``__file__`` (``python script.py``); with both absent for the moment of the start, it
    imports nothing. (A package's ``__main__``, e.g. ``python -m nas``, it skips by itself.)
    """
    main = sys.modules.get("__main__")
    if not hide or main is None:
        yield
        return
    saved = {k: main.__dict__[k] for k in ("__file__", "__spec__") if k in main.__dict__}
    main.__dict__.pop("__file__", None)
    if "__spec__" in saved:
        main.__spec__ = None
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(main, k, v)


class _Worker:
    def __init__(self, ctx: Any, job: Callable[[Proposal], Result], index: int, import_main: bool) -> None:
        self.index = index
        self.conn, child = ctx.Pipe(duplex=True)
        lifeline, self._lifeline = ctx.Pipe(duplex=False)  # the worker's read end, our write end
        self.process = ctx.Process(target=_worker_main, args=(child, lifeline, job, os.getpid(), driver_env()),
                                   name=f"nas-local-worker-{index}")  # not daemonic: may start DataLoader workers
        with _main_script_hidden(not import_main):
            self.process.start()
        child.close()
        lifeline.close()
        self.trial: str | None = None  # the trial it runs now
        self.started = 0.0  # time.monotonic() when it got that trial

    def close(self) -> None:
        """Close our pipe ends: the worker sees its lifeline end and exits."""
        for end in (self._lifeline, self.conn):
            try:
                end.close()
            except OSError:
                pass


class WorkerPool:
    """``size`` worker processes running ``job(proposal) -> Result``; started lazily, one trial each at a time."""

    def __init__(self, size: int, job: Callable[[Proposal], Result], *, import_main: bool = False,
                 hard_limit: float | None = None) -> None:
        self.size = int(size)
        self._job = job
        self._hard_limit = hard_limit
        self._import_main = import_main
        self._ctx = _context()
        self._workers: list[_Worker | None] = [None] * self.size
        atexit.register(self.shutdown)  # workers are not daemonic: never leave one behind at exit

    @property
    def running(self) -> int:
        return sum(1 for w in self._workers if w is not None and w.trial is not None)

    def free(self) -> bool:
        return self.running < self.size

    def start(self, proposal: Proposal) -> None:
        """Send ``proposal`` to an idle worker (forking one if needed); requires :meth:`free`."""
        for w in self._workers:
            if w is not None and w.trial is None and not w.process.is_alive():  # died while idle
                self._workers[w.index] = None
                w.close()
        for attempt in range(2):
            w = next((w for w in self._workers if w is not None and w.trial is None), None)
            if w is None:
                i = self._workers.index(None)
                w = self._workers[i] = _Worker(self._ctx, self._job, i, self._import_main)
            try:
                w.conn.send(proposal.to_dict())
            except OSError:  # it died just now: a fresh worker gets the trial
                self._workers[w.index] = None
                w.close()
                if attempt:
                    raise
                continue
            w.trial, w.started = proposal.id, time.monotonic()
            return

    def collect(self, timeout: float | None) -> list[tuple[str, Result | MachineFault]]:
        """Finished trials (a result, or the machine fault that stopped one); waits up to ``timeout``."""
        busy = [w for w in self._workers if w is not None and w.trial is not None]
        if not busy:
            return []
        if self._hard_limit is not None:  # wake up for the first trial that would overrun it
            due = min(w.started for w in busy) + self._hard_limit - time.monotonic()
            timeout = max(0.0, due) if timeout is None else max(0.0, min(timeout, due))
        waitables: list[Any] = [w.conn for w in busy] + [w.process.sentinel for w in busy]
        ready = set(wait(waitables, timeout))
        out: list[tuple[str, Result | MachineFault]] = []
        for w in busy:
            if w.conn not in ready and w.process.sentinel not in ready:
                if self._hard_limit is not None and time.monotonic() - w.started > self._hard_limit:
                    out.append((str(w.trial), self._kill_stuck(w)))
                continue
            trial, w.trial = w.trial, None
            assert trial is not None
            msg = None
            try:
                if w.conn.poll():
                    msg = w.conn.recv()
            except (EOFError, OSError):
                msg = None
            if msg is None:  # the process died mid-trial: that trial failed, a new worker takes its place
                w.process.join(STOP_GRACE_SECONDS)
                out.append((trial, Result("failed", error=exit_reason(w.process.exitcode),
                                          worker={"local_worker": w.index, "pid": w.process.pid,
                                                  "exitcode": w.process.exitcode})))
                w.close()
                self._workers[w.index] = None
            elif msg[0] == "fault":
                out.append((trial, MachineFault(msg[2], msg[3])))
            else:
                result = Result.from_dict(msg[2])
                result.worker = {**result.worker, "local_worker": w.index}
                out.append((trial, result))
        return out

    def _kill_stuck(self, w: _Worker) -> Result:
        """Kill the worker of a trial past the hard limit; the trial is a ``timeout`` result."""
        w.process.kill()
        w.process.join(STOP_GRACE_SECONDS)
        w.close()
        self._workers[w.index] = None
        return Result("timeout", error=f"the trial ran {self._hard_limit:g}s, past trial_timeout plus its grace, "
                                       "without stopping (stuck in one call): its worker was killed",
                      worker={"local_worker": w.index, "pid": w.process.pid, "exitcode": w.process.exitcode})

    def shutdown(self) -> None:
        """Stop every worker (idempotent): closing its lifeline ends it at once, idle or busy (a busy
        one's trial stays pending, its checkpoint in place for a resume)."""
        atexit.unregister(self.shutdown)
        workers = [w for w in self._workers if w is not None]
        self._workers = [None] * self.size
        for w in workers:
            w.close()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for w in workers:
            w.process.join(max(0.0, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(STOP_GRACE_SECONDS)

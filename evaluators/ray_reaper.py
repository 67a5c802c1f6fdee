"""A watchdog that ends a private Ray instance's processes when its driver is gone.

Why: when a driver that started a private instance (``ray.init(address="local")``) is
SIGKILLed, Ray's GCS, raylet and workers follow it, but Ray 2.60's ``ray::DashboardAgent``
and ``ray::RuntimeEnvAgent`` (children of the raylet) stay alive with PPID 1 and ignore
SIGTERM: measured here, they were still running minutes later.

How: :func:`start_reaper` (called by :class:`evaluators.ray.RayEvaluator` right after it
starts a private instance) runs this file as a separate small process (standard library only,
its own session, so a Ctrl-C of the driver does not reach it). Its stdin is a pipe whose only
write end the driver holds: the kernel closes it when the driver dies, however it dies, and
the evaluator closes it after ``ray.shutdown()``. Until then the reaper records, twice a
second, the processes the instance started (the ones ``ray.init`` launched and all their
descendants, with their start times, so a reused pid is never hit). At end-of-file it
SIGKILLs every recorded process still alive and every process (other than the driver) whose
command line or open files name the instance's session directory, then exits.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, Iterable

#: seconds between scans of the driver's descendants
SCAN_SECONDS = 0.5


def _stat(pid: int) -> tuple[int, int] | None:
    """``(ppid, start time)`` of ``pid`` from /proc, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), int(fields[19])


def _pids() -> list[int]:
    return [int(e) for e in os.listdir("/proc") if e.isdigit()]


def descendants(roots: Iterable[int] | dict[int, int]) -> dict[int, int]:
    """``{pid: start time}`` of every live process in ``roots`` and of their descendants.

    With ``roots`` a ``{pid: start time}`` mapping, a root whose pid now belongs to another
    process (another start time) is not followed.
    """
    info = {pid: st for pid in _pids() if (st := _stat(pid)) is not None}
    starts = roots if isinstance(roots, dict) else {}
    frontier = {p for p in roots if p in info and starts.get(p, info[p][1]) == info[p][1]}
    out: dict[int, int] = {p: info[p][1] for p in frontier}
    while frontier:
        frontier = {p for p, (pp, _) in info.items() if pp in frontier and p not in out}
        out.update({p: info[p][1] for p in frontier})
    return out


def mentions(pid: int, marker: str) -> bool:
    """Whether ``pid``'s command line or one of its open files contains ``marker``."""
    try:
        if marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
            return True
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if marker in os.readlink(f"/proc/{pid}/fd/{fd}"):
                    return True
            except OSError:
                continue
    except OSError:
        return False
    return False


def _kill(pids: Iterable[tuple[int, int | None]]) -> None:
    for pid, start in pids:
        st = _stat(pid)
        if st is None or (start is not None and st[1] != start):
            continue  # gone, or the pid now belongs to another process
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def reap(driver: int, roots: list[int], session_dir: str, stdin: IO[bytes]) -> None:
    """Track the instance's processes until ``stdin`` reaches EOF, then kill what is left of them."""
    known: dict[int, int] = descendants(roots)  # the roots are alive: ray.init just started them
    spare = {os.getpid(), driver}
    while True:
        known.update(descendants(known))
        ready, _, _ = select.select([stdin], [], [], SCAN_SECONDS)
        if ready and not os.read(stdin.fileno(), 4096):
            break
    known.update(descendants(known))  # children started since the last scan
    marker = os.path.basename(session_dir.rstrip("/"))
    _kill((pid, start) for pid, start in known.items() if pid not in spare)
    _kill((pid, None) for pid in _pids() if pid not in spare and pid not in known and mentions(pid, marker))


def start_reaper(session_dir: str, roots: Iterable[int]) -> subprocess.Popen:
    """Start the reaper of this process's private Ray instance (``roots``: the pids ``ray.init``
    started); close its ``stdin`` (:func:`stop_reaper`) to end it."""
    return subprocess.Popen(
        [sys.executable, "-S", "-E", os.path.abspath(__file__), str(os.getpid()), str(session_dir),
         ",".join(str(int(p)) for p in roots)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, close_fds=True,
        start_new_session=True)


def stop_reaper(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    """Tell the reaper the instance was shut down (it kills any leftover) and wait for it."""
    if proc is None:
        return
    try:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait(timeout)
    except (OSError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait()


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reap(int(sys.argv[1]), [int(p) for p in sys.argv[3].split(",") if p], sys.argv[2], sys.stdin.buffer)

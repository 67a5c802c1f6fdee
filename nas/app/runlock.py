"""The lock of a run directory: one driver at a time, even if ``lock`` is deleted.

A driver takes two ``fcntl.flock`` locks: one on the run directory itself (a descriptor
opened on the directory) and one on the file ``lock``. The kernel drops both when the driver
dies, even by SIGKILL, so a stale lock never blocks a resume; a second live driver gets
:class:`~nas.errors.RunLocked` (exit 2) naming the holder's pid and host.

* The directory lock cannot be bypassed by deleting or replacing ``lock``: a second driver
  is refused even then. Before every write of the journal, the pending log, the snapshot or
  ``run.yaml`` the driver checks that the path still names the directory it locked (not
  moved or replaced) and that ``lock`` is still the file it locked; a deleted ``lock`` is
  re-created and locked again, and if another process took it meanwhile, or the directory
  was replaced, the driver stops (RunLocked) before writing anything.
* Limits. ``flock`` locks are advisory: they stop other ``nas`` drivers, not other programs
  writing into the directory. On network file systems they may not be shared between hosts:
  NFS (Linux >= 2.6.12) maps ``flock`` to POSIX byte-range locks, which cover all clients but
  cannot lock a directory, and other network file systems (or ``local_lock`` NFS mounts) lock
  only on the local host. Where directories cannot be locked, the ``lock`` file alone
  protects the run, and deleting it lets a second driver in; the first one then notices at
  its next write and stops before writing, but a trial it was running may have been started
  by both. Drivers on different hosts without a shared lock manager are not stopped at all:
  run one driver per run directory.
* Forked children. A process forked from the driver (e.g. a ``DataLoader`` worker of an
  in-process trial) would share the driver's locked descriptors and so keep the run locked after
  the driver died; an ``os.register_at_fork`` hook closes them in every child (closing a
  duplicate leaves the driver's lock in place). The local evaluator's workers are not forks of
  the driver (they start from a fork server) and hold none.
"""
from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import socket
import weakref
from pathlib import Path
from typing import Any

from nas.errors import ConfigError, RunLocked
from nas.io import faults_as_machine_fault

LOCK = "lock"
#: errno of a flock that another holder blocks
_BUSY = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def lock_holder(path: str | Path) -> dict[str, Any] | None:
    """The ``{"pid", "host", ...}`` recorded in ``lock``, or ``None`` (read-only, takes no lock)."""
    try:
        text = (Path(path) / LOCK).read_text(encoding="utf-8")
        info = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):  # missing, empty or not ours
        return None
    return info if isinstance(info, dict) else None


def holder_alive(info: dict[str, Any] | None) -> bool | None:
    """Whether the recorded holder is alive: True/False on this host, None if unknowable."""
    if not info or "pid" not in info:
        return False
    if info.get("host") != socket.gethostname():
        return None
    try:
        os.kill(int(info["pid"]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True
    return True


#: the live locks of this process, whose descriptors a forked child closes (see the module docstring)
_LIVE: "weakref.WeakSet[RunLock]" = weakref.WeakSet()


def _close_in_child() -> None:
    for lock in list(_LIVE):
        for fd in (lock._lock_fd, lock._dir_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        lock._lock_fd = lock._dir_fd = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


class RunLock:
    """The locks of one driver on one run directory; :meth:`acquire` takes them or raises RunLocked."""

    def __init__(self, path: Path, dir_fd: int | None, lock_fd: int) -> None:
        _LIVE.add(self)
        self.path = path
        self._dir_fd = dir_fd  # flock on the directory itself (None: not supported here)
        self._lock_fd: int | None = lock_fd  # flock on the file ``lock``
        st = os.stat(path)
        self._dir_id = (st.st_dev, st.st_ino)
        self._holder_written = False

    @classmethod
    def acquire(cls, path: str | Path) -> "RunLock":
        """Lock the directory, then the ``lock`` file (creating it empty if missing); writes nothing else."""
        path = Path(path)
        dir_fd = _flock_dir(path)
        try:
            return cls(path, dir_fd, _flock_file(path))
        except BaseException:
            if dir_fd is not None:
                os.close(dir_fd)
            raise

    def write_holder(self) -> None:
        """Record this process (pid, host, since) in ``lock``."""
        assert self._lock_fd is not None, "released"
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()})
        with faults_as_machine_fault(self.path / LOCK):
            os.ftruncate(self._lock_fd, 0)
            os.pwrite(self._lock_fd, (text + "\n").encode(), 0)
            os.fsync(self._lock_fd)
        self._holder_written = True

    def check_held(self) -> None:
        """Raise :class:`RunLocked` unless this driver still holds the run (see the module docstring)."""
        if self._lock_fd is None:
            raise RunLocked(f"{self.path}: this driver released the run; stopping before writing")
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        if st is None or (st.st_dev, st.st_ino) != self._dir_id:
            raise RunLocked(f"{self.path}: the run directory was moved or replaced while this driver ran; "
                            "stopping before writing")
        if _same_file(self._lock_fd, self.path / LOCK):
            return
        if self._dir_fd is None:
            raise RunLocked(f"{self.path}: the run's lock file was deleted or replaced while this driver ran "
                            "(another driver may hold the run now); stopping before writing")
        try:
            fd = _flock_file(self.path)
        except RunLocked:
            raise RunLocked(f"{self.path}: the run's lock file was replaced by another process's while "
                            "this driver ran; stopping before writing") from None
        old, self._lock_fd = self._lock_fd, fd
        os.close(old)
        self.write_holder()

    def release(self) -> None:
        """Drop the locks; ``lock`` is emptied if this driver wrote it and it is still the locked file."""
        fd, self._lock_fd = self._lock_fd, None
        dir_fd, self._dir_fd = self._dir_fd, None
        try:
            if fd is not None:
                if self._holder_written and _same_file(fd, self.path / LOCK):
                    try:
                        os.ftruncate(fd, 0)
                    except OSError:
                        pass
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            self._holder_written = False
            if fd is not None:
                os.close(fd)
            if dir_fd is not None:
                os.close(dir_fd)


def _flock_file(run: Path) -> int:
    """An fd of ``run/lock`` with an exclusive flock on it, or RunLocked."""
    path = run / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise ConfigError(f"{path}: cannot open the run's lock file: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno not in _BUSY:
            raise
        raise _locked_error(run) from None
    if not _same_file(fd, path):  # replaced between open and flock
        os.close(fd)
        raise _locked_error(run)
    return fd


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd`` (not deleted, not replaced)."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _flock_dir(path: Path) -> int | None:
    """Take an exclusive flock on the directory ``path`` itself; None where it cannot be locked (NFS)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise ConfigError(f"{path}: cannot open the run directory: {e.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        os.close(fd)
        if e.errno in _BUSY:
            raise _locked_error(path) from None
        return None  # e.g. EBADF/ENOLCK on NFS: the lock file alone protects the run
    return fd


def _locked_error(path: Path) -> RunLocked:
    info = lock_holder(path) or {}
    if "pid" in info:
        who = f"pid {info.get('pid', '?')} on host {info.get('host', '?')}"
    else:
        who = f"whose pid is not recorded in {LOCK} (deleted, or not written yet)"
    hint = ""
    if info and holder_alive(info) is False:
        hint = " (that pid is gone; a worker process it started may still hold the lock)"
    return RunLocked(f"{path}: run is locked by another driver, {who}{hint}")

"""The run directory ``runs/<name>/`` and its crash-consistency protocol (DESIGN §4).

Files
-----
``run.yaml``
    ``{format: nas/run@1, created, config: SearchConfig.to_dict(), versions: {nas, torch, ray, python},
    history: [...]}``. Written atomically when the run is created. A resume that changes resumable
    fields (``nas.config.RESUME_MUTABLE``, or any field with ``--force``) rewrites it atomically
    and appends the change to ``history``, so the next resume sees the new budget.
``trials.jsonl``
    One JSON line per finished trial (``ok``/``failed``/``timeout``): ``id, key, arch, status,
    metrics, error, worker, report, cost, info, config, started, finished, seconds``
    (``started``/``finished`` are Unix timestamps). Appended with flush + fsync
    (:func:`nas.io.append_jsonl`); this is the durability point of a trial.
``pending.jsonl``
    Append-only log of every submitted proposal (``Proposal.to_dict()`` + ``submitted``).
    Informational: the authoritative pending list is in ``strategy.json``.
``strategy.json``
    Atomic snapshot ``{"strategy": strategy.state_dict(), "pending": [proposals asked but not
    yet told], "n_told": int, "elapsed": wall seconds accumulated over all sessions, ...}``,
    rewritten (temp file + ``os.replace``) after every ask and every tell.
``lock``
    ``{"pid", "host", "since"}`` of the driver, held with ``fcntl.flock``: the kernel drops the
    lock when the driver dies, even by SIGKILL, so a stale file never blocks a resume. A second
    live driver gets :class:`~nas.errors.RunLocked` (exit 2) naming the holder's pid and host.
``best/``
    Exported top-k (``nas export``; the top-1 at the end of a search).

Crash-consistency protocol
--------------------------
The driver writes, per trial, in this order::

    ask -> snapshot -> append pending -> submit ... result -> append journal (fsync) -> tell -> snapshot

Invariants: (1) a trial is in ``trials.jsonl`` iff its result is durable; (2) the snapshot's
strategy state and pending list always agree, because both are written in one atomic file.
On resume (:meth:`nas.app.driver.Search` with a run) the driver repairs a torn last journal line,
replays ``trials.jsonl``, loads the snapshot, and for each pending proposal:

* its id is already in the journal (crash after the journal write, before the snapshot):
  the strategy is told the journaled result; the trial is **not** run again;
* otherwise it is re-submitted with the same id (evaluators seed a trial from
  ``(seed, trial id)``, so the re-run gives the same result).

A crash between ``ask`` and its snapshot loses the ask, but the restored strategy state
predates it, so the same proposal is asked again. Hence, with a fixed seed and
``max_concurrent == 1``, a killed-and-resumed search makes exactly the trial sequence of an
uninterrupted one, and no trial in the journal ever runs twice.
"""
from __future__ import annotations

import datetime as _dt
import errno
import fcntl
import json
import os
import platform
import socket
from pathlib import Path
from typing import Any

import yaml

from nas.errors import ConfigError, RunLocked
from nas.io import (
    append_jsonl, atomic_write_json, atomic_write_text, read_jsonl, read_yaml_doc, repair_jsonl,
)
from nas.types import Result

RUN_FORMAT = "nas/run@1"
SNAPSHOT_FORMAT = "nas/snapshot@1"
RUN_YAML = "run.yaml"
TRIALS = "trials.jsonl"
PENDING = "pending.jsonl"
SNAPSHOT = "strategy.json"
LOCK = "lock"
BEST = "best"
def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")


def versions() -> dict[str, str | None]:
    """Versions of nas, torch, ray and python, read from package metadata (imports nothing)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for pkg in ("nas", "torch", "ray"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = None
    out["python"] = platform.python_version()
    return out


def check_new(path: str | Path) -> Path:
    """``path`` as a :class:`Path` if a new run may be created there, else raise ConfigError.

    A new run needs a path that does not exist or is an empty directory (it holds nothing a
    run could overwrite, and lets users pre-create the folder, e.g. a mount point).
    """
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise ConfigError(f"{path}: already exists; resume it with --resume {path} or pick another --name")
    return path


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / RUN_YAML).is_file()


def read_run_yaml(path: str | Path) -> dict[str, Any]:
    """Read and check ``run.yaml`` of the run at ``path``; returns the whole document."""
    p = Path(path) / RUN_YAML
    if not p.is_file():
        raise ConfigError(f"{path}: not a run directory (no {RUN_YAML})")
    return read_yaml_doc(p, RUN_FORMAT, "config")


def lock_holder(path: str | Path) -> dict[str, Any] | None:
    """The ``{"pid", "host", ...}`` recorded in ``lock``, or ``None`` (read-only, takes no lock)."""
    try:
        text = (Path(path) / LOCK).read_text()
    except OSError:
        return None
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
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
    except (PermissionError, ValueError, OverflowError):
        return True
    return True


class RunDir:
    """One run directory. Create with :meth:`create`, reopen with :meth:`open` (both lock it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None

    # -- paths ----------------------------------------------------------------------
    @property
    def trials_path(self) -> Path:
        return self.path / TRIALS

    @property
    def pending_path(self) -> Path:
        return self.path / PENDING

    @property
    def snapshot_path(self) -> Path:
        return self.path / SNAPSHOT

    # -- life cycle -------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> "RunDir":
        """Make a new run directory, lock it and write ``run.yaml`` (atomically)."""
        path = check_new(path)
        path.mkdir(parents=True, exist_ok=True)
        run = cls(path)
        run.lock()
        doc = {"format": RUN_FORMAT, "created": now_iso(), "config": dict(config), "versions": versions(),
               "history": []}
        atomic_write_text(path / RUN_YAML, yaml.safe_dump(doc, sort_keys=False))
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """Lock an existing run and repair a torn last line of its logs."""
        read_run_yaml(path)
        run = cls(path)
        run.lock()
        repair_jsonl(run.trials_path)
        repair_jsonl(run.pending_path)
        return run

    def lock(self) -> None:
        """Take the run's exclusive ``flock`` or raise :class:`RunLocked` naming the holder."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            info = lock_holder(self.path) or {}
            who = f"pid {info.get('pid', '?')} on host {info.get('host', '?')}"
            hint = ""
            if holder_alive(info) is False:
                hint = " (that pid is gone; a worker process it started may still hold the lock)"
            raise RunLocked(f"{self.path}: run is locked by another driver, {who}{hint}") from None
        text = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()})
        os.ftruncate(fd, 0)
        os.pwrite(fd, (text + "\n").encode(), 0)
        os.fsync(fd)
        self._lock_fd = fd

    def close(self) -> None:
        """Release the lock (the ``lock`` file stays, emptied)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- run.yaml -----------------------------------------------------------------------
    def read_config(self) -> dict[str, Any]:
        return dict(read_run_yaml(self.path)["config"])

    def update_config(self, config: dict[str, Any], changed: dict[str, tuple[Any, Any]]) -> None:
        """Rewrite ``run.yaml`` with ``config`` after a resume changed ``changed`` fields."""
        doc = read_run_yaml(self.path)
        doc["config"] = dict(config)
        doc.setdefault("history", []).append(
            {"resumed": now_iso(), "changed": {k: {"old": old, "new": new} for k, (old, new) in changed.items()}}
        )
        atomic_write_text(self.path / RUN_YAML, yaml.safe_dump(doc, sort_keys=False))

    # -- journal, pending log, snapshot -------------------------------------------------------
    def read_trials(self) -> list[dict[str, Any]]:
        return read_records(self.trials_path)

    def append_trial(self, record: dict[str, Any]) -> None:
        append_jsonl(self.trials_path, record)

    def append_pending(self, record: dict[str, Any]) -> None:
        append_jsonl(self.pending_path, record)

    def save_snapshot(self, snapshot: dict[str, Any]) -> None:
        atomic_write_json(self.snapshot_path, {"format": SNAPSHOT_FORMAT, **snapshot})

    def load_snapshot(self) -> dict[str, Any] | None:
        return read_snapshot(self.path)


def read_records(path: Path) -> list[dict[str, Any]]:
    """All records of a JSON-lines log (a torn last line is ignored)."""
    try:
        return list(read_jsonl(path))
    except ValueError as e:
        raise ConfigError(str(e)) from None


def read_snapshot(path: str | Path) -> dict[str, Any] | None:
    p = Path(path) / SNAPSHOT
    if not p.exists():
        return None
    try:
        snap = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ConfigError(f"{p}: cannot read strategy snapshot: {e}") from None
    if not isinstance(snap, dict) or snap.get("format") != SNAPSHOT_FORMAT:
        raise ConfigError(f"{p}: field 'format' must be {SNAPSHOT_FORMAT!r}")
    return snap


def result_of(rec: dict[str, Any]) -> Result:
    """The strategy-visible result of a journal record (no ``report``)."""
    return Result(rec["status"], dict(rec.get("metrics") or {}), rec.get("error"), dict(rec.get("worker") or {}),
                  {}, rec.get("cost"), rec.get("result_arch"))


def json_record(rec: dict[str, Any]) -> dict[str, Any]:
    """A driver trial record with its architectures as plain dicts, ready for the journal."""
    out = dict(rec)
    arch = rec["arch"]
    out["arch"] = None if arch is None else arch.to_dict()
    if rec.get("result_arch") is not None:
        out["result_arch"] = rec["result_arch"].to_dict()
    return out

"""The run directory ``runs/<name>/``, its lock and its crash-consistency protocol.

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
    (``started``/``finished`` are Unix timestamps), plus, for a rung of a multi-fidelity search,
    ``budget`` (epochs trained to) and, for a promotion, ``lineage`` and ``from_budget`` (the trial
    it continued and the epochs that trial had reached; older journals have none: the config's
    epochs). Every rung is its own line. Appended with flush + fsync
    (:func:`nas.io.append_jsonl`); this is the durability point of a trial.
``pending.jsonl``
    Append-only log of every submitted proposal (``Proposal.to_dict()`` + ``submitted``).
    Informational: the authoritative pending list is in ``strategy.json``.
``strategy.json``
    Atomic snapshot ``{"strategy": strategy.state_dict(), "pending": [proposals asked but not
    yet told], "n_told": int, "elapsed": wall seconds accumulated over all sessions, ...}``,
    rewritten (temp file + ``os.replace``) after every ask and every tell.
``lock``
    ``{"pid", "host", "since"}`` of the driver holding the run (see "Locking" below); emptied
    when it stops.
``warm_start.json``
    Only for a search with a warm start (``--warm-start``, :mod:`nas.app.warm_start`): the zero-cost
    proxy pre-screen, written atomically before the first trial (settings, seconds, every sampled
    key with its score, and the seeds). A resume reads it, never recomputes it.
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
  ``(seed, trial id)``, a promotion from ``(seed, lineage)``, so the re-run gives the same result;
  a trial with a checkpoint, a promotion too, continues from its last finished epoch).

A crash between ``ask`` and its snapshot loses the ask, but the restored strategy state
predates it, so the same proposal is asked again. Hence, with a fixed seed and
``max_concurrent == 1``, a killed-and-resumed search makes exactly the trial sequence of an
uninterrupted one, and no trial in the journal ever runs twice.

A machine fault (:class:`~nas.errors.MachineFault`: a full disk, an I/O error) in any of
these writes leaves the same states as a crash at that point: an atomic write keeps the old
file, a failed journal append is cut back to the previous line; the driver stops, and the
resume re-runs the interrupted trials.

Check before write
------------------
:meth:`RunDir.open` (a resume) takes the lock and then checks the whole directory
(:func:`validate_run`: ``run.yaml`` and its config, every journal line, every
``pending.jsonl`` line, the snapshot's fields and types; see :mod:`nas.app.runcheck`)
before it writes anything: a corrupt run directory is a :class:`~nas.errors.ConfigError`
naming the file and line, and no file of the run changes.

Locking
-------
A driver holds the run with :class:`nas.app.runlock.RunLock`: a ``flock`` on the directory
itself and one on ``lock``, checked before every write (what it protects against, and its
limits on network file systems, are in :mod:`nas.app.runlock`).
"""
from __future__ import annotations

import errno
import os
import platform
from pathlib import Path
from typing import Any

import yaml

from nas.app.runcheck import (
    check_config_mapping, check_proposal, check_records, check_snapshot, check_trial_record, parse_json_file,
)
from nas.app.runlock import LOCK, RunLock, now_iso
from nas.errors import ConfigError, MachineFault
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
BEST = "best"


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
    if path.exists() and (not path.is_dir() or not _empty_or_unborn(path)):
        raise ConfigError(f"{path}: already exists; resume it with --resume {path} or pick another --name")
    return path


def _unborn_leftovers(names: list[str]) -> bool:
    """Whether ``names`` are only what a :meth:`RunDir.create` killed before ``run.yaml`` leaves."""
    return RUN_YAML not in names and all(
        n == LOCK or (n.startswith(f".{RUN_YAML}.") and n.endswith(".tmp")) for n in names)


def _empty_or_unborn(path: Path) -> bool:
    """An empty folder, or one whose creation as a run was killed before ``run.yaml`` was written."""
    try:
        return _unborn_leftovers(os.listdir(path))
    except OSError:
        return False


def is_run_dir(path: str | Path) -> bool:
    return (Path(path) / RUN_YAML).is_file()


def read_run_yaml(path: str | Path) -> dict[str, Any]:
    """Read and check ``run.yaml`` of the run at ``path``; returns the whole document."""
    p = Path(path) / RUN_YAML
    if not p.is_file():
        raise ConfigError(f"{path}: not a run directory (no {RUN_YAML})")
    doc = read_yaml_doc(p, RUN_FORMAT, "config")
    check_config_mapping(doc["config"], f"{p}: config")
    return doc


def validate_run(path: str | Path) -> None:
    """Check everything a resume reads, without writing: ``run.yaml`` (and its config), every line
    of ``trials.jsonl`` and ``pending.jsonl``, and ``strategy.json``. Raises ConfigError naming the
    file and line of the first problem."""
    path = Path(path)
    read_run_yaml(path)
    read_records(path / TRIALS)
    read_records(path / PENDING, check_proposal)
    read_snapshot(path)


class RunDir:
    """One run directory. Create with :meth:`create`, reopen with :meth:`open` (both lock it)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock: RunLock | None = None

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

    @property
    def locked(self) -> bool:
        return self._lock is not None

    # -- life cycle -------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, config: dict[str, Any]) -> "RunDir":
        """Make a new run directory, lock it and write ``run.yaml`` (atomically).

        A path that cannot be created (or a read-only file system) is a ConfigError, a full
        disk or an I/O error a MachineFault; either way the folders and files made so far are
        removed again. What a creation killed before ``run.yaml`` left behind is reused.
        """
        path = check_new(path)
        made = _missing_dirs(path)
        run = cls(path)
        try:
            path.mkdir(parents=True, exist_ok=True)
            run.lock()
            for leftover in path.glob(f".{RUN_YAML}.*.tmp"):  # from a creation that was killed
                leftover.unlink(missing_ok=True)
            run.write_holder()
            doc = {"format": RUN_FORMAT, "created": now_iso(), "config": dict(config), "versions": versions(),
                   "history": []}
            atomic_write_text(path / RUN_YAML, yaml.safe_dump(doc, sort_keys=False))
        except (OSError, MachineFault) as e:
            run.close()
            for name in (RUN_YAML, LOCK):  # the folder was empty (check_new): these are ours
                try:
                    (path / name).unlink(missing_ok=True)
                except OSError:
                    pass
            for d in made:  # deepest first; one that is not empty (or never made) stays
                try:
                    d.rmdir()
                except OSError:
                    continue
            if isinstance(e, MachineFault) and e.errno != errno.EROFS:
                raise  # a full disk, an I/O error: exit 75, nothing left behind
            why = e.detail if isinstance(e, MachineFault) else f"[Errno {e.errno}] {e.strerror}"
            raise ConfigError(f"{path}: cannot create the run directory: {why}") from None
        except BaseException:
            run.close()
            raise
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        """Lock an existing run, check all of it (:func:`validate_run`), then record the holder and
        repair a torn last line of its logs. Nothing is written when a check fails."""
        read_run_yaml(path)
        run = cls(path)
        run.lock()
        try:
            validate_run(run.path)
            run.write_holder()
            repair_jsonl(run.trials_path)
            repair_jsonl(run.pending_path)
        except BaseException:
            run.close()
            raise
        return run

    def lock(self) -> None:
        """Take the run's lock (:class:`~nas.app.runlock.RunLock`) or raise RunLocked; writes nothing."""
        if self._lock is None:
            self._lock = RunLock.acquire(self.path)

    def write_holder(self) -> None:
        """Record this process (pid, host, since) in ``lock``."""
        assert self._lock is not None, "lock() first"
        self._lock.write_holder()

    def check_held(self) -> None:
        """Before a write: raise RunLocked unless this driver still holds the run."""
        if self._lock is not None:
            self._lock.check_held()

    def close(self) -> None:
        """Release the lock (the ``lock`` file stays, emptied if this driver wrote it)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

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
        self.check_held()
        doc["config"] = dict(config)
        doc.setdefault("history", []).append(
            {"resumed": now_iso(), "changed": {k: {"old": old, "new": new} for k, (old, new) in changed.items()}}
        )
        atomic_write_text(self.path / RUN_YAML, yaml.safe_dump(doc, sort_keys=False))

    # -- journal, pending log, snapshot -------------------------------------------------------
    def read_trials(self) -> list[dict[str, Any]]:
        return read_records(self.trials_path)

    def append_trial(self, record: dict[str, Any]) -> None:
        self.check_held()
        append_jsonl(self.trials_path, record)

    def append_pending(self, record: dict[str, Any]) -> None:
        self.check_held()
        append_jsonl(self.pending_path, record)

    def save_snapshot(self, snapshot: dict[str, Any]) -> None:
        self.check_held()
        atomic_write_json(self.snapshot_path, {"format": SNAPSHOT_FORMAT, **snapshot})

    def load_snapshot(self) -> dict[str, Any] | None:
        return read_snapshot(self.path)


def read_records(path: Path, check: Any = check_trial_record) -> list[dict[str, Any]]:
    """All records of a JSON-lines log (a torn last line is ignored), each passed through ``check``
    (default: a journal record, :func:`nas.app.runcheck.check_trial_record`)."""
    path = Path(path)
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path}: cannot read: not a regular file")
    try:
        records = list(read_jsonl(path))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {str(e).splitlines()[0]}") from None
    except RecursionError:
        raise ConfigError(f"{path}: a line is nested too deeply") from None
    return check_records(path, records, check)


def read_snapshot(path: str | Path) -> dict[str, Any] | None:
    """The checked ``strategy.json`` of the run at ``path``, or None if there is none."""
    p = Path(path) / SNAPSHOT
    if not p.exists():
        return None
    return check_snapshot(parse_json_file(p, "strategy snapshot"), str(p), SNAPSHOT_FORMAT)


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


def _missing_dirs(path: Path) -> list[Path]:
    """The folders ``path.mkdir(parents=True)`` would create, deepest first."""
    out = []
    p = path
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out

"""Crash-safe file primitives: nothing a crash or a full disk interrupts is lost or torn.

* :func:`atomic_write_text` / :func:`atomic_write_json` write a temp file in the
  same directory, fsync it, then ``os.replace`` it over the target, so a reader
  sees either the old or the new content, never a torn file.
* :func:`append_jsonl` appends one line and fsyncs before returning; a write that fails
  half-way is cut back to where the line started, so the log never keeps a partial line
  from a failed write (a torn line can only come from a crash, and
  :func:`repair_jsonl` removes it).
* :func:`read_jsonl` tolerates a torn last line (a crash mid-append) and
  ignores it; a corrupt line elsewhere is an error.

Machine faults. Every write helper here turns an :class:`OSError` whose errno is in
:data:`nas.errors.FAULT_ERRNOS` (no space, I/O error, read-only file system, ...) into a
:class:`~nas.errors.MachineFault` naming the file, so that callers can tell a fault of the
machine from a failure of the work being done.

Fault injection (test hook). ``NAS_FAULT_AT=K[:ERRNO]`` (e.g. ``5:ENOSPC``, ``3:EIO``; the
default errno is ENOSPC) makes the ``K``-th write of this process through these helpers
fail with that errno, as the disk would: an append first writes half of its line.
``NAS_FAULT_AT=K:ERRNO:always`` makes every write from the ``K``-th on fail (a disk that
stays full); ``NAS_FAULT_PATH=TEXT`` counts only writes to paths containing ``TEXT``.
:func:`write_count` is the number of writes counted so far.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from nas.errors import FAULT_ERRNOS, MachineFault

_WRITES = 0  # writes through this module's helpers in this process (for NAS_FAULT_AT)


def write_count() -> int:
    """How many writes this process made through the helpers of this module."""
    return _WRITES


def _injected_fault(path: str | Path) -> int | None:
    """Count one write; the errno ``NAS_FAULT_AT`` asks this write to fail with, or None."""
    global _WRITES
    only = os.environ.get("NAS_FAULT_PATH")
    if only and only not in str(path):
        return None
    _WRITES += 1
    spec = os.environ.get("NAS_FAULT_AT")
    if not spec:
        return None
    k, _, rest = spec.partition(":")
    name, _, mode = rest.partition(":")
    code = getattr(errno, name or "ENOSPC", None)
    if not k.strip().isdigit() or not isinstance(code, int):
        raise ValueError(f"NAS_FAULT_AT={spec!r}: expected K[:ERRNO[:always]], e.g. 5:ENOSPC")
    hit = _WRITES >= int(k) if mode == "always" else _WRITES == int(k)
    return code if hit else None


@contextlib.contextmanager
def faults_as_machine_fault(path: str | Path) -> Iterator[None]:
    """Re-raise an :class:`OSError` of :data:`~nas.errors.FAULT_ERRNOS` as :class:`MachineFault` naming ``path``."""
    try:
        yield
    except OSError as e:
        if e.errno in FAULT_ERRNOS:
            raise MachineFault.from_os_error(e, path) from None
        raise


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@functools.cache
def _file_mode() -> int:
    """The mode ``open()`` would give a new file (0o666 minus the umask); mkstemp uses 0o600.

    Reading the umask means setting it briefly (process-wide), so this runs once, on the
    first atomic write rather than at import time.
    """
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, ``os.replace``, fsync of the folder)."""
    path = Path(path)
    with faults_as_machine_fault(path):
        code = _injected_fault(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            os.fchmod(fd, _file_mode())
            with os.fdopen(fd, "wb") as f:
                if code is not None:
                    raise OSError(code, os.strerror(code))
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        _fsync_dir(path.parent)


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line, then fsync (the journal's durability point).

    If the write or the fsync fails, the file is cut back to its previous length (best
    effort) before the error propagates, so a failed append leaves no partial line.
    """
    line = (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode("utf-8")
    with faults_as_machine_fault(path):
        code = _injected_fault(path)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, _file_mode())
        try:
            start = os.fstat(fd).st_size
            try:
                if code is not None:  # as a full disk does: part of the line gets written
                    os.write(fd, line[: len(line) // 2])
                    raise OSError(code, os.strerror(code))
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except BaseException:
                try:
                    os.ftruncate(fd, start)
                except OSError:
                    pass
                raise
        finally:
            os.close(fd)


def read_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Yield records; a torn *last* line (crash mid-write) is skipped silently."""
    path = Path(path)
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        lines = f.readlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):  # JSONDecodeError, an int over 4,300 digits, nesting too deep
            if i == len(lines) - 1 and not line.endswith("\n"):
                return
            raise ValueError(f"{path}: line {i + 1} is not valid JSON") from None
        yield record


def repair_jsonl(path: str | Path) -> bool:
    """Truncate a torn last line left by a crash mid-append. Returns True if it cut."""
    path = Path(path)
    if not path.exists():
        return False
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    cut = data.rfind(b"\n") + 1
    with faults_as_machine_fault(path), open(path, "r+b") as f:
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    return True


def read_yaml_doc(path: str | Path, fmt: str, body: str) -> dict[str, Any]:
    """Read a ``{format: fmt, body: {...}}`` YAML document written by the toolkit.

    Raises :class:`~nas.errors.ConfigError` naming the file when it cannot be read or
    does not have that shape.
    """
    from nas.errors import ConfigError
    from nas.limits import load_yaml_file  # size, nesting, alias and integer limits

    p = Path(path)
    try:
        doc = load_yaml_file(p, error=ConfigError)
    except FileNotFoundError:
        raise ConfigError(f"{p}: cannot read: no such file") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt or not isinstance(doc.get(body), dict):
        raise ConfigError(f"{p}: field 'format' must be {fmt!r} with a {body!r} mapping")
    return doc

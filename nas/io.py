"""Crash-safe file primitives (DESIGN §4: "Nothing lost").

* :func:`atomic_write_text` / :func:`atomic_write_json` write a temp file in the
  same directory, fsync it, then ``os.replace`` it over the target, so a reader
  sees either the old or the new content, never a torn file.
* :func:`append_jsonl` appends one line, flushes and fsyncs before returning.
* :func:`read_jsonl` tolerates a torn last line (a crash mid-append) and
  ignores it; a corrupt line elsewhere is an error.
"""
from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "wb") as f:
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
    """Append one JSON line, then flush and fsync (the journal's durability point)."""
    line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
    with open(path, "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


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
            yield json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1 and not line.endswith("\n"):
                return
            raise ValueError(f"{path}: line {i + 1} is not valid JSON") from None


def repair_jsonl(path: str | Path) -> bool:
    """Truncate a torn last line left by a crash mid-append. Returns True if it cut."""
    path = Path(path)
    if not path.exists():
        return False
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return False
    cut = data.rfind(b"\n") + 1
    with open(path, "r+b") as f:
        f.truncate(cut)
        f.flush()
        os.fsync(f.fileno())
    return True


def yaml_problem(e: BaseException) -> str:
    """One line describing a YAML parse error: ``line N malformed YAML: <problem>``.

    Callers prefix the file name (``f"{path}: {yaml_problem(e)}"``). The line is omitted
    when PyYAML gives no position.
    """
    mark = getattr(e, "problem_mark", None)
    loc = f"line {mark.line + 1} " if mark is not None else ""
    lines = str(e).splitlines()
    problem = getattr(e, "problem", None) or (lines[0] if lines else type(e).__name__)
    return f"{loc}malformed YAML: {problem}"


def read_yaml_doc(path: str | Path, fmt: str, body: str) -> dict[str, Any]:
    """Read a ``{format: fmt, body: {...}}`` YAML document written by the toolkit.

    Raises :class:`~nas.errors.ConfigError` naming the file when it cannot be read or
    does not have that shape.
    """
    import yaml

    from nas.errors import ConfigError

    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: {yaml_problem(e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: cannot read: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict) or doc.get("format") != fmt or not isinstance(doc.get(body), dict):
        raise ConfigError(f"{p}: field 'format' must be {fmt!r} with a {body!r} mapping")
    return doc

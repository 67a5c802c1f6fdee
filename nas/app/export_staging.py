"""Staging folders of ``nas export``: a folder is never half-exported, and a killed export leaves nothing.

An export writes into a hidden sibling ``.<name>.<random>.tmp`` of its destination and then
swaps it in with renames (the previous folder goes to ``.<name>.<random>.old`` for a moment,
then is deleted). While it exists, each such folder is locked by its export (``flock`` on the
folder itself; the kernel drops the lock when the process dies, however it dies). So a folder
of that name pattern that is *not* locked was left by an export that was killed, and the next
export removes it (:func:`remove_stale`); one that is locked belongs to an export still running
and is left alone. Nothing else is touched: only hidden folders of exactly that pattern.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from nas.errors import ConfigError

#: the random part ``tempfile.mkdtemp`` puts between prefix and suffix
_RANDOM = r"[a-z0-9_]{8}"
#: staging folders of ranked export folders (``<rank>-<trial id>``), as ``export_top`` writes them
RANKED_STAGING = re.compile(r"^\.\d+-[A-Za-z0-9_.-]+\." + _RANDOM + r"\.(tmp|old)$")


def staging_pattern(name: str) -> re.Pattern[str]:
    """The names of the staging folders of destination ``name``."""
    return re.compile("^" + re.escape(f".{name}.") + _RANDOM + r"\.(tmp|old)$")


def _try_lock(path: Path, blocking: bool = False) -> int | None:
    """An fd of folder ``path`` holding an exclusive ``flock``, or None (locked elsewhere, or gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError:
        os.close(fd)
        return None
    return fd


def remove_stale(parent: Path, pattern: re.Pattern[str]) -> list[str]:
    """Delete the unlocked staging folders in ``parent`` whose names match ``pattern``; returns their names."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        if not pattern.match(entry.name) or not entry.is_dir(follow_symlinks=False):
            continue
        fd = _try_lock(Path(entry.path))
        if fd is None:  # a running export's (or it vanished meanwhile)
            continue
        try:
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.name)
        finally:
            os.close(fd)
    return removed


def _locked_tempdir(parent: Path, name: str, suffix: str) -> tuple[Path, int]:
    """A new hidden ``.<name>.<random><suffix>`` folder in ``parent``, locked; ``(path, fd)``."""
    for _ in range(5):
        path = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=suffix, dir=parent))
        fd = _try_lock(path, blocking=True)
        if fd is not None and os.fstat(fd).st_nlink > 0:
            return path, fd
        if fd is not None:  # removed by another export's clean-up before we locked it
            os.close(fd)
    raise ConfigError(f"{parent}: cannot create a staging folder for {name!r}")  # pragma: no cover


def check_destination(out_dir: Path) -> None:
    """Refuse to replace a folder that is not an earlier export (it could hold anything)."""
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "card.md").is_file():
        raise ConfigError(f"{out_dir}: exists and is not an export folder (no card.md); choose another destination")
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir}: exists and is not a folder")


@contextmanager
def staging(out_dir: Path) -> Iterator[Path]:
    """A locked staging folder for ``out_dir`` (stale ones of ``out_dir`` are removed first).

    Call :func:`swap_in` inside the block; on an exception the staging folder is deleted.
    """
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(out_dir.parent, staging_pattern(out_dir.name))
    stage, fd = _locked_tempdir(out_dir.parent, out_dir.name, ".tmp")
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        os.close(fd)


def swap_in(stage: Path, out_dir: Path) -> None:
    """Replace ``out_dir`` by the staged folder (two renames; the old one is then deleted)."""
    old = fd = None
    try:
        if out_dir.exists():
            old, fd = _locked_tempdir(out_dir.parent, out_dir.name, ".old")
            os.replace(out_dir, old / "x")
        os.replace(stage, out_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if fd is not None:
            os.close(fd)


__all__ = ["RANKED_STAGING", "check_destination", "remove_stale", "staging", "staging_pattern", "swap_in"]

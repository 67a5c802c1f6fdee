"""Fault-injection harness for the tests: failing writes, CLI runs, journal and tree comparisons.

The toolkit's write helpers (:mod:`nas.io`) read two test hooks from the environment:

* ``NAS_FAULT_AT=K[:ERRNO[:always]]``: the ``K``-th write fails with ``ERRNO`` (default
  ENOSPC), like a full disk (an append first writes half of its line); with ``always`` every
  write from the ``K``-th on fails (the disk stays full).
* ``NAS_FAULT_PATH=TEXT``: only writes to paths containing ``TEXT`` are counted (e.g.
  ``checkpoints`` or ``trials.jsonl``), so a test can hit one kind of write.

:func:`inject` sets them for an in-process run (and resets the write counter); :func:`cli`
runs ``nas`` in-process and returns ``(exit code, stdout, stderr)``; :func:`nas_process` runs
it as a subprocess. :func:`sequence` is what two runs of one search must agree on, and
:func:`tree_state` what must not change when a command refuses a corrupt run directory.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import nas.io
from nas.io import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
#: metrics that are measured (time, latency) and so differ between two runs of one trial
VOLATILE_METRICS = frozenset({"latency_ms", "train_seconds"})


@contextlib.contextmanager
def inject(k: int, errno_name: str = "ENOSPC", *, always: bool = False, path: str | None = None) -> Iterator[None]:
    """Make the ``k``-th write (of paths containing ``path``, if given) of this process fail."""
    saved = {name: os.environ.get(name) for name in ("NAS_FAULT_AT", "NAS_FAULT_PATH")}
    os.environ["NAS_FAULT_AT"] = f"{k}:{errno_name}" + (":always" if always else "")
    if path is None:
        os.environ.pop("NAS_FAULT_PATH", None)
    else:
        os.environ["NAS_FAULT_PATH"] = path
    nas.io._WRITES = 0
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        nas.io._WRITES = 0


def cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    """Run ``nas ARGV`` in this process; ``(exit code, stdout, stderr)`` (argparse's exits included)."""
    from nas.app.cli import main

    capsys.readouterr()
    try:
        rc = main(list(argv))
    except SystemExit as e:  # argparse errors
        rc = int(e.code or 0)
    out, err = capsys.readouterr()
    return rc, out, err


def nas_process(*argv: str, env: dict[str, str] | None = None, wait: bool = True,
                timeout: float = 300) -> Any:
    """``python -m nas ARGV`` as a subprocess (toy plugin loaded, test hooks cleared unless given)."""
    full = {**os.environ, "NAS_PLUGINS": "tests.toy_plugin", "PYTHONPATH": str(ROOT)}
    for name in ("NAS_CRASH_AFTER", "NAS_FAULT_AT", "NAS_FAULT_PATH"):
        full.pop(name, None)
    full.update(env or {})
    cmd = [sys.executable, "-m", "nas", *argv]
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
    return subprocess.run(cmd, cwd=ROOT, env=full, capture_output=True, text=True, timeout=timeout)


def trials(run: Path) -> list[dict[str, Any]]:
    return list(read_jsonl(Path(run) / "trials.jsonl"))


def sequence(records: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Ids, keys, statuses, metrics (measured timings left out), report and cost of each trial."""
    out = []
    for t in records:
        metrics = tuple(sorted((k, v) for k, v in (t.get("metrics") or {}).items() if k not in VOLATILE_METRICS))
        cost = t.get("cost") if (t.get("worker") or {}).get("evaluator") == "tabular" else None
        out.append((t["id"], t.get("key"), t["status"], metrics, tuple(sorted((t.get("report") or {}).items())),
                    cost))
    return out


def assert_one_error_line(err: str, *needles: str) -> None:
    """``err`` is exactly one ``nas: error:`` line, no traceback, containing every needle."""
    assert err.startswith("nas: error:") and err.count("\n") == 1, err
    assert "Traceback" not in err, err
    for n in needles:
        assert n in err, (n, err)


def tree_state(path: Path) -> dict[str, tuple[Any, ...]]:
    """Every file and folder under ``path``: bytes and mtime of each file, and which folders exist.

    (A folder's own mtime is left out: a command may probe that its output folder is writable
    with a file it removes again.)
    """
    out: dict[str, tuple[Any, ...]] = {}
    for p in sorted(Path(path).rglob("*")):
        rel = str(p.relative_to(path))
        out[rel] = ("dir",) if p.is_dir() else ("file", p.read_bytes(), p.stat().st_mtime_ns)
    return out


def full_disk_candidate(space: Any, proposal: Any, config: Any, data: Any, *, device: Any,
                        checkpoint_dir: Any = None, weights_path: Any = None, fail_id: str = "t00001") -> Any:
    """A Ray ``evaluate`` function for the tests: trial ``fail_id`` hits a full disk, the others score their key."""
    import errno

    from nas.errors import MachineFault
    from nas.types import Result

    if proposal.id == fail_id:
        where = f"{checkpoint_dir}/{proposal.id}.pt"
        raise MachineFault.from_os_error(OSError(errno.ENOSPC, "No space left on device"), where)
    key = proposal.arch.key
    return Result("ok", {"val_acc": int(key[:4], 16) / 655.36}, None, {"device": str(device)})


full_disk_candidate.needs_data = False  # type: ignore[attr-defined]

"""Checks of what a run directory holds, field by field, before anything trusts it.

A resume (:meth:`nas.app.rundir.RunDir.open`), ``nas status`` and ``nas export`` read the
journal and the snapshot through these checks, so a corrupt run directory (a line that is
not a JSON object, a missing ``status``, a metric that is a string, a snapshot whose fields
have the wrong types, a journal that is a directory) is a
:class:`~nas.errors.ConfigError` naming the file, the line and the field (CLI exit 2), not a
traceback somewhere later. The checks only read; they never repair.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from nas.arch import Architecture
from nas.config import SearchConfig
from nas.errors import ConfigError, InvalidArchitecture
from nas.types import STATUSES

#: journal record fields and the JSON types they may have (None: the field may be null)
_OPTIONAL_DICTS = ("worker", "report", "info", "config")
_OPTIONAL_NUMBERS = ("cost", "started", "finished", "seconds")
_OPTIONAL_STRINGS = ("error", "key", "runner", "lineage")
#: fidelity fields (epochs; absent in older journals: the config's epochs)
_OPTIONAL_EPOCHS = ("budget", "from_budget")
#: snapshot counters and their types
_SNAPSHOT_COUNTS = ("n_told", "n_trials", "n_duplicates")


def _kind(v: Any) -> str:
    return "null" if v is None else {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(v), type(v).__name__)


def is_number(v: Any) -> bool:
    """An int or float, not a bool (JSON ``true`` is not a number here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_arch(value: Any, where: str) -> None:
    """``value`` is an architecture mapping (``Architecture.from_dict`` accepts it) or null."""
    if value is None:
        return
    try:
        Architecture.from_dict(value, where=where)
    except InvalidArchitecture as e:
        raise ConfigError(str(e)) from None


def check_trial_record(rec: Any, where: str) -> dict[str, Any]:
    """``rec`` as a journal record, or :class:`ConfigError` naming ``where`` and the bad field."""
    if not isinstance(rec, dict):
        raise ConfigError(f"{where}: a trial record must be a JSON object, got {_kind(rec)}")
    tid = rec.get("id")
    if not isinstance(tid, str) or not tid:
        raise ConfigError(f"{where}: field 'id' must be a non-empty string, got {_kind(tid)}")
    if rec.get("status") not in STATUSES:
        raise ConfigError(f"{where}: field 'status' must be one of {', '.join(STATUSES)}, "
                          f"got {rec.get('status')!r}"[:300])
    metrics = rec.get("metrics")
    if metrics is not None and not isinstance(metrics, dict):
        raise ConfigError(f"{where}: field 'metrics' must be an object, got {_kind(metrics)}")
    for name, v in (metrics or {}).items():
        if v is not None and not is_number(v):
            raise ConfigError(f"{where}: field 'metrics.{name}' must be a number, got {_kind(v)}")
    for name in _OPTIONAL_DICTS:
        if rec.get(name) is not None and not isinstance(rec[name], dict):
            raise ConfigError(f"{where}: field {name!r} must be an object, got {_kind(rec[name])}")
    for name in _OPTIONAL_NUMBERS:
        if rec.get(name) is not None and not is_number(rec[name]):
            raise ConfigError(f"{where}: field {name!r} must be a number, got {_kind(rec[name])}")
    for name in _OPTIONAL_STRINGS:
        if rec.get(name) is not None and not isinstance(rec[name], str):
            raise ConfigError(f"{where}: field {name!r} must be a string, got {_kind(rec[name])}")
    check_epochs(rec, where)
    check_arch(rec.get("arch"), f"{where}: field 'arch'")
    check_arch(rec.get("result_arch"), f"{where}: field 'result_arch'")
    return rec


def check_epochs(rec: Mapping[str, Any], where: str) -> None:
    """The fidelity fields ``budget`` / ``from_budget``, where present, are integers >= 0 (null allowed)."""
    for name in _OPTIONAL_EPOCHS:
        v = rec.get(name)
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 0):
            raise ConfigError(f"{where}: field {name!r} must be an integer number of epochs >= 0, got {v!r}"[:300])
    if rec.get("lineage") is not None and not isinstance(rec["lineage"], str):
        raise ConfigError(f"{where}: field 'lineage' must be a string, got {_kind(rec['lineage'])}")


def check_proposal(d: Any, where: str) -> dict[str, Any]:
    """``d`` as a ``Proposal.to_dict()`` (a snapshot's pending entry, a ``pending.jsonl`` line)."""
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: a proposal must be a JSON object, got {_kind(d)}")
    if not isinstance(d.get("id"), str) or not d["id"]:
        raise ConfigError(f"{where}: field 'id' must be a non-empty string, got {_kind(d.get('id'))}")
    for name in ("config", "info"):
        if d.get(name) is not None and not isinstance(d[name], dict):
            raise ConfigError(f"{where}: field {name!r} must be an object, got {_kind(d[name])}")
    if d.get("runner") is not None and not isinstance(d["runner"], str):
        raise ConfigError(f"{where}: field 'runner' must be a string, got {_kind(d['runner'])}")
    check_epochs(d, where)
    check_arch(d.get("arch"), f"{where}: field 'arch'")
    return d


def check_snapshot(snap: Any, where: str, fmt: str) -> dict[str, Any]:
    """``snap`` as a strategy snapshot (``strategy.json``) of format ``fmt``."""
    if not isinstance(snap, dict):
        raise ConfigError(f"{where}: the snapshot must be a JSON object, got {_kind(snap)}")
    if snap.get("format") != fmt:
        raise ConfigError(f"{where}: field 'format' must be {fmt!r}")
    if not isinstance(snap.get("strategy"), dict):
        raise ConfigError(f"{where}: field 'strategy' must be an object, got {_kind(snap.get('strategy'))}")
    pending = snap.get("pending", [])
    if not isinstance(pending, list):
        raise ConfigError(f"{where}: field 'pending' must be an array, got {_kind(pending)}")
    for i, d in enumerate(pending):
        check_proposal(d, f"{where}: pending[{i}]")
    for name in _SNAPSHOT_COUNTS:
        v = snap.get(name, 0)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"{where}: field {name!r} must be an integer >= 0, got {v!r}"[:300])
    elapsed = snap.get("elapsed", 0.0)
    if not is_number(elapsed) or not math.isfinite(elapsed) or elapsed < 0:
        raise ConfigError(f"{where}: field 'elapsed' must be a number >= 0, got {elapsed!r}"[:300])
    return snap


def parse_json_file(path: Path, what: str) -> Any:
    """The JSON value in ``path``; :class:`ConfigError` naming the file (and line) if unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read {what}: {str(e).splitlines()[0]}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: line {e.lineno}: {what} is not valid JSON ({e.msg})") from None
    except RecursionError:
        raise ConfigError(f"{path}: {what} is nested too deeply") from None


def check_records(path: Path, records: list[Any], check: Any = check_trial_record) -> list[dict[str, Any]]:
    """Check each record of the JSON-lines log at ``path``; messages give the 1-based line number.

    ``records`` are the parsed lines in order (blank lines were skipped by the reader, so the
    number is recounted from the file only when a record fails).
    """
    for i, rec in enumerate(records):
        try:
            check(rec, f"{path}: record {i + 1}")
        except ConfigError:
            raise ConfigError(str(_with_line(path, i, check, rec))) from None
    return records


def _with_line(path: Path, index: int, check: Any, rec: Any) -> str:
    """The error of record ``index`` with its line number in the file (blank lines counted)."""
    line = index + 1
    try:
        seen = -1
        with open(path, encoding="utf-8") as f:
            for n, text in enumerate(f, start=1):
                if text.strip():
                    seen += 1
                    if seen == index:
                        line = n
                        break
    except (OSError, UnicodeDecodeError):
        pass
    try:
        check(rec, f"{path}: line {line}")
    except ConfigError as e:
        return str(e)
    return f"{path}: line {line}: invalid record"  # pragma: no cover - check is deterministic


def check_config_mapping(config: Mapping[str, Any], where: str) -> None:
    """A stored ``config`` mapping passes :meth:`SearchConfig.from_dict` (types of every field)."""
    SearchConfig.from_dict(config, where=where)

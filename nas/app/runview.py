"""Read-only views of a run directory for the Python API (:mod:`nas.app.api`) and the report
(:mod:`nas.app.report`): the trial table as a pandas frame. Reads ``run.yaml`` and the journal
without a lock, so it works while a search runs.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def trials_dataframe(run_dir: str | Path, records: list[dict[str, Any]] | None = None) -> Any:
    """One row per finished trial, in journal order (a :class:`pandas.DataFrame`).

    Columns, after Optuna's ``study.trials_dataframe()``: ``number`` (0, 1, ...), ``id``,
    ``state`` (ok, failed, timeout), ``value`` (the objective's ranking score; NaN when the
    trial has none), ``key`` (architecture key), ``datetime_start``, ``datetime_complete``,
    ``duration`` (pandas timedeltas), ``metrics_<name>`` for every metric (val_acc, params,
    macs, ...), ``report_<name>`` for numbers strategies never see, ``origin``, ``parent``,
    ``runner`` and ``error``. ``records``: the journal when the caller has read it already.
    """
    import pandas as pd

    from nas.app.export import rank_trials
    from nas.app.rundir import TRIALS, read_records
    from nas.types import trial_key

    if records is None:
        records = read_records(Path(run_dir) / TRIALS)
    _, ranked = rank_trials(run_dir, records)
    scores = {str(rec["id"]): score for score, rec in ranked}
    rows = []
    for n, rec in enumerate(records):
        info = rec.get("info") or {}
        row: dict[str, Any] = {
            "number": n, "id": rec.get("id"), "state": rec.get("status"),
            "value": scores.get(str(rec.get("id")), math.nan), "key": trial_key(rec),
            "datetime_start": _stamp(rec.get("started")), "datetime_complete": _stamp(rec.get("finished")),
        }
        for prefix in ("metrics", "report"):
            for name, v in sorted((rec.get(prefix) or {}).items()):
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    row[f"{prefix}_{name}"] = v
        row.update(origin=info.get("origin"), parent=info.get("parent"), runner=rec.get("runner"),
                   error=rec.get("error"))
        rows.append(row)
    head = ["number", "id", "state", "value", "key", "datetime_start", "datetime_complete"]
    df = pd.DataFrame.from_records(rows, columns=None if rows else head)
    if rows:
        df["duration"] = df["datetime_complete"] - df["datetime_start"]
        cols = head + ["duration"] + [c for c in df.columns if c not in head and c != "duration"]
        df = df[cols]
    return df


def _stamp(t: Any) -> Any:
    """A journal time (seconds since the epoch) as a pandas timestamp (NaT when absent)."""
    import pandas as pd

    return pd.to_datetime(t, unit="s") if isinstance(t, (int, float)) else pd.NaT


__all__ = ["trials_dataframe"]

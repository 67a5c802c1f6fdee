"""Where a trial's files go (shared by the driver, the evaluators and ``nas export``).

The run directory itself (:mod:`nas.app.rundir`) is the application's; evaluators only need
to know the two folders they write into: ``checkpoints/`` (per-epoch trial checkpoints) and
``weights/`` (the final ``state_dict`` of ok trials, for ``nas export``).

Both live in the *trial folder* of a run (:func:`trial_root`): the run directory, or, when the
search was given shared storage (the ``storage`` evaluator option, ``--storage``: a directory
every node of a cluster sees), ``<storage>/<run name>``. :func:`trial_weights_path` is the one
answer to "where are the trained weights of this trial": workers write there, the driver
prunes there and ``nas export`` reads there (:func:`find_trial_weights`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

WEIGHTS = "weights"
CHECKPOINTS = "checkpoints"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(text: str) -> str:
    """A file-name-safe version of a trial id (used for weights and checkpoints)."""
    return _UNSAFE.sub("_", str(text)) or "_"


def storage_of(config: Any) -> str | None:
    """The shared-storage directory of a search config (``evaluator_options["storage"]``), or None."""
    options = getattr(config, "evaluator_options", None) or {}
    value = options.get("storage") if isinstance(options, dict) else None
    return value if isinstance(value, str) and value.strip() else None


def trial_root(run_dir: str | Path, storage: str | Path | None = None) -> Path:
    """The folder holding a run's ``checkpoints/`` and ``weights/``: ``<storage>/<run name>`` or the run dir.

    With ``storage`` the path is absolute (workers on other nodes have another cwd).
    """
    if storage is None:
        return Path(run_dir)
    return Path(storage).expanduser().resolve() / Path(run_dir).resolve().name


def trial_weights_path(run_dir: str | Path, trial_id: str, storage: str | Path | None = None) -> Path:
    """Where a run keeps the final ``state_dict`` of an ok trial: ``<trial root>/weights/<id>.pt``."""
    return trial_root(run_dir, storage) / WEIGHTS / f"{safe_name(trial_id)}.pt"


def find_trial_weights(run_dir: str | Path, trial_id: str, storage: str | Path | None = None) -> Path | None:
    """The trained weights of a trial if the run kept them, else None.

    Looks in the trial folder of ``storage`` first, then in the run directory (a run resumed
    without ``--storage`` keeps the weights of its earlier sessions where they were written).
    """
    places = [trial_weights_path(run_dir, trial_id, storage)] if storage is not None else []
    places.append(trial_weights_path(run_dir, trial_id))
    return next((p for p in places if p.is_file()), None)

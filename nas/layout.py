"""Where a trial's files go inside a run directory (shared by the driver and the evaluators).

The run directory itself (:mod:`nas.app.rundir`) is the application's; evaluators only need
to know the two folders they write into: ``checkpoints/`` (per-epoch trial checkpoints) and
``weights/`` (the final ``state_dict`` of ok trials, for ``nas export``).
"""
from __future__ import annotations

import re
from pathlib import Path

WEIGHTS = "weights"
CHECKPOINTS = "checkpoints"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(text: str) -> str:
    """A file-name-safe version of a trial id (used for weights and checkpoints)."""
    return _UNSAFE.sub("_", str(text)) or "_"


def trial_weights_path(run_dir: str | Path, trial_id: str) -> Path:
    """Where a run keeps the final ``state_dict`` of an ok trial: ``RUN/weights/<id>.pt``."""
    return Path(run_dir) / WEIGHTS / f"{safe_name(trial_id)}.pt"

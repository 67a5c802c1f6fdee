"""The result of a search: :class:`SearchSummary`, what :meth:`nas.app.driver.Search.run` returns
(the journal records in finishing order, the best trial, the counts, the stop reason and the
objective score of each ok trial), with its exit code and top-k ranking.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SearchSummary:
    """What a finished (or stopped) search returns.

    ``trials`` are the journal records in finishing order, with ``arch`` (and
    ``result_arch``, an architecture the trial produced) as :class:`Architecture` objects; ``scores``
    maps the id of each ok trial to its objective score (Pareto: ``val_acc``).
    """

    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    n_ok: int
    n_failed: int
    elapsed: float
    stopped_reason: str
    n_duplicates: int = 0
    run_dir: Path | None = None
    scores: dict[str, float] = field(default_factory=dict, repr=False)

    @property
    def exit_code(self) -> int:
        """1 when trials ran and every one failed, else 0 (a machine fault raises instead: exit 75)."""
        return 1 if self.trials and self.n_ok == 0 else 0

    def top(self, k: int = 5) -> list[dict[str, Any]]:
        """The ``k`` best ok trials by objective score (ties: earlier first)."""
        ranked = sorted((t for t in self.trials if t["id"] in self.scores), key=lambda t: -self.scores[t["id"]])
        return ranked[:k]

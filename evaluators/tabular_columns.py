"""The columns of a tabular benchmark and the options that name them: :class:`Table` (a CSV's rows
with numeric columns converted on demand), the parsers of the ``tabular`` evaluator's options
(:func:`parse_cost_spec` for the cost spec, the ``fidelities`` map of epochs to columns, column
names, positive integers), the default fidelity columns and :func:`table_summary` (a table's
reference points). Reading a CSV into a :class:`Table` lives in :mod:`evaluators.tabular`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from nas.errors import ConfigError

#: the NB201 fidelities (epochs -> validation column), used where the table has the column
DEFAULT_FIDELITIES: dict[int, str] = {12: "cifar10_valid_acc_12ep", 200: "cifar10_valid_acc_200ep"}

_TERM = re.compile(
    r"^(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"(?:\s*\*\s*(?P<col>[A-Za-z_][A-Za-z0-9_.]*))?"
    r"|(?P<col2>[A-Za-z_][A-Za-z0-9_.]*)(?:\s*\*\s*(?P<num2>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+))?)$"
)


def parse_cost_spec(spec: str) -> list[tuple[float, str | None]]:
    """Parse ``"12*train_time_per_epoch_s + valid_eval_time_s"`` into ``[(12.0, col), (1.0, col)]``.

    Terms are joined by ``+``; each is ``number*column``, ``column*number``, ``column`` or a
    constant ``number`` (column ``None``). Anything else is a :class:`ConfigError`.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("evaluator 'tabular': option 'cost' must be a non-empty string like 'a*col + col'")
    terms: list[tuple[float, str | None]] = []
    for raw in spec.split("+"):
        term = raw.strip()
        m = _TERM.match(term)
        if m is None:
            raise ConfigError(
                f"evaluator 'tabular': cost spec {spec!r}: bad term {term!r}; "
                "expected number*column, column, or number joined by '+'"
            )
        if m.group("col2") is not None:
            terms.append((float(m.group("num2") or 1.0), m.group("col2")))
        else:
            terms.append((float(m.group("num")), m.group("col")))
    return terms


@dataclass
class Table:
    """A benchmark CSV: arch → row, plus numeric columns converted on demand."""

    path: Path
    header: list[str]
    raw: list[list[str]]
    index: dict[tuple[str, ...], int]
    keys: list[tuple[str, ...]]
    _columns: dict[str, list[float]] = field(default_factory=dict)

    def column(self, name: str) -> list[float]:
        """Column ``name`` as floats (``nan`` where empty); ConfigError if absent or not numeric."""
        col = self._columns.get(name)
        if col is not None:
            return col
        if name not in self.header:
            raise ConfigError(f"{self.path}: no column {name!r}; columns: {', '.join(self.header)}")
        j = self.header.index(name)
        values = []
        for i, row in enumerate(self.raw):
            cell = row[j].strip()
            try:
                values.append(float(cell) if cell else math.nan)
            except ValueError:
                raise ConfigError(f"{self.path}: line {i + 2}: column {name!r} is not a number: {cell!r}") from None
        self._columns[name] = values
        return values

    def has(self, name: str) -> bool:
        return name in self.header


def _column_name(value: Any, option: str) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"evaluator 'tabular': option {option!r} must be a column name, got {value!r}")
    return value


def _fidelities(value: Any, table: Table) -> dict[int, str]:
    """Option ``fidelities``: ``{epochs: column}``, a mapping or ``"12:col,200:col"`` (unset: the defaults the table has)."""
    if value is None:
        return {e: c for e, c in DEFAULT_FIDELITIES.items() if table.has(c)}
    if isinstance(value, str):
        value = dict(part.partition(":")[::2] for part in value.split(","))
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"evaluator 'tabular': option 'fidelities' must map epochs to columns "
                          f"(e.g. '12:col12,200:col200'), got {value!r}"[:300])
    out: dict[int, str] = {}
    for epochs, col in value.items():
        text = str(epochs).strip()
        if isinstance(epochs, bool) or not text.isdigit() or int(text) < 1:
            raise ConfigError(f"evaluator 'tabular': option 'fidelities': epochs must be an integer >= 1, "
                              f"got {epochs!r}")
        out[int(text)] = _column_name(str(col).strip(), "fidelities")
        table.column(out[int(text)])  # a missing or non-numeric column is a ConfigError now
    return out


def _positive_int(value: Any, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"evaluator 'tabular': option {option!r} must be an integer >= 1, got {value!r}")
    return value


def table_summary(table: Table, signal: str, report: str) -> Mapping[str, float]:
    """Reference points of a table: best report value, and the report of the best signal row."""
    sig, rep = table.column(signal), table.column(report)
    rows = [i for i in range(len(sig)) if math.isfinite(sig[i]) and math.isfinite(rep[i])]
    best_sig = max(rows, key=lambda i: sig[i])
    return {"optimum": max(rep[i] for i in rows), "best_signal_report": rep[best_sig],
            "best_signal": sig[best_sig]}

"""The ``tabular`` evaluator: NAS-Bench-201 architectures answered from a CSV table.

NAS-Bench-201 (Dong & Yang, ICLR 2020) trained every one of the 15,625 cells,
so a search can be *simulated*: instead of training, look the architecture up. The
protocol of the published NB201 search results (Dong & Yang, ICLR 2020, §5):

* the **search signal** (``Result.metrics["val_acc"]``) is the 12-epoch validation accuracy,
  column ``cifar10_valid_acc_12ep`` by default;
* the **simulated cost** (``Result.cost``, seconds) is ``12 * train_time_per_epoch_s +
  valid_eval_time_s``; the driver adds costs up and stops when the next one would exceed
  the time budget;
* the **reported number** (``Result.report``) is the 200-epoch test accuracy
  ``cifar10_test_acc_200ep``. The driver journals it but passes ``result.for_strategy()``
  to strategies, so no strategy ever sees it.

Signal, report and cost are options (``signal``, ``report``, ``cost``), so any CSV of the
same shape works: a column ``arch`` of NB201 strings (``|op~0|+|op~0|op~1|+|...|``) plus
numeric columns. The cost spec is a sum of ``number*column``, ``column`` or ``number``
terms, parsed by :func:`evaluators.tabular_columns.parse_cost_spec` (never ``eval``'d). A copy of the NB201 CIFAR-10 table ships as package
data (``evaluators/tables/nb201_cifar10.csv``, provenance in its ``README.md``).

Fidelities (Li et al., JMLR 2018): a proposal with a ``budget`` (epochs) is answered from that
fidelity's column. Option ``fidelities`` maps epochs to columns; by default those of ``12:
cifar10_valid_acc_12ep, 200: cifar10_valid_acc_200ep`` the table has (the packaged table has only
these two; any other budget fails the trial, naming them). Cost: ``epochs * epoch_time +
eval_time`` (options ``epoch_time``, ``eval_time``; default columns ``train_time_per_epoch_s``,
``valid_eval_time_s``); a promotion pays only the epochs it adds, ``(budget - from_budget) *
epoch_time + eval_time``. NB201 trained both columns separately, so a promoted architecture's
200-epoch value is the table's, not a continuation of its 12-epoch run.

Other metrics: ``params`` (from ``params_mb``·1e6 or ``params`` when the table has it) and
``macs``, from a ``macs`` option naming a column or else counted exactly from the cell (see
:func:`nb201_macs`), so the Pareto objective (``val_acc`` vs ``macs``) works on the table.
Tables are read once per process and cached.
"""
from __future__ import annotations

import csv
import math
import os
from collections import deque
from pathlib import Path
from typing import Any, Sequence

from evaluators.base import Evaluator
from evaluators.tabular_columns import Table, _column_name, _fidelities, _positive_int, parse_cost_spec
from nas.arch import Architecture
from nas.errors import ConfigError, InvalidArchitecture
from nas.genotype import format_nb201
from nas.types import DEFAULT_RUNNER, Proposal, Result

TABLES_DIR = Path(__file__).resolve().parent / "tables"
DEFAULT_TABLE = TABLES_DIR / "nb201_cifar10.csv"
DEFAULT_SIGNAL = "cifar10_valid_acc_12ep"
DEFAULT_REPORT = "cifar10_test_acc_200ep"
DEFAULT_COST = "12*train_time_per_epoch_s + valid_eval_time_s"
DEFAULT_EPOCH_TIME = "train_time_per_epoch_s"
DEFAULT_EVAL_TIME = "valid_eval_time_s"


# -- the table ---------------------------------------------------------------------------


def nb201_edges(text: str) -> tuple[str, ...]:
    """The six edge ops of an NB201 string in canonical (node, source) order.

    Tolerates any order of edges inside a node group; raises ``ValueError`` when the string
    is not a complete 3-node NB201 cell.
    """
    groups = text.strip().split("+")
    out: list[str] = []
    if len(groups) != 3:
        raise ValueError(f"expected 3 node groups, got {len(groups)}")
    for j, group in enumerate(groups, start=1):
        if not (group.startswith("|") and group.endswith("|")):
            raise ValueError(f"node {j}: {group!r} must look like |op~src|...|")
        by_src: dict[int, str] = {}
        for edge in group[1:-1].split("|"):
            op, sep, src = edge.partition("~")
            if not sep or not src.isdigit() or not op:
                raise ValueError(f"node {j}: bad edge {edge!r}")
            by_src[int(src)] = op
        if sorted(by_src) != list(range(j)):
            raise ValueError(f"node {j} must read nodes 0..{j - 1} once each")
        out.extend(by_src[i] for i in range(j))
    return tuple(out)


_CACHE: dict[tuple[str, int, int, str], Table] = {}


def load_table(path: str | Path | None = None, arch_column: str = "arch") -> Table:
    """Read (and cache per process) a CSV with an ``arch`` column of NB201 strings."""
    p = Path(path) if path is not None else DEFAULT_TABLE
    try:
        st = os.stat(p)
    except OSError:
        raise ConfigError(f"{p}: no such table file") from None
    ck = (str(p.resolve()), st.st_mtime_ns, st.st_size, arch_column)
    cached = _CACHE.get(ck)
    if cached is not None:
        return cached
    try:
        with open(p, newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise ConfigError(f"{p}: cannot read table: {e}") from None
    if not rows:
        raise ConfigError(f"{p}: empty table")
    header = [h.strip() for h in rows[0]]
    if arch_column not in header:
        raise ConfigError(f"{p}: no column {arch_column!r} of NB201 arch strings; columns: {', '.join(header)}")
    a = header.index(arch_column)
    raw, index, keys = [], {}, []
    for n, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise ConfigError(f"{p}: line {n}: {len(row)} fields, header has {len(header)}")
        try:
            key = nb201_edges(row[a])
        except ValueError as e:
            raise ConfigError(f"{p}: line {n}: bad NB201 arch string {row[a]!r}: {e}") from None
        if key in index:
            raise ConfigError(f"{p}: line {n}: architecture {row[a]!r} appears twice")
        index[key] = len(raw)
        raw.append(row)
        keys.append(key)
    if not raw:
        raise ConfigError(f"{p}: table has a header but no rows")
    table = Table(p, header, raw, index, keys)
    _CACHE[ck] = table
    return table


# -- MACs of an NB201 TinyNetwork -----------------------------------------------------------


def nb201_macs(ops: Sequence[str], *, num_classes: int = 10, resolution: int = 32,
               channels: int = 16, layers: int = 5) -> int:
    """Exact conv/linear MACs of ``TinyNetwork(C, N)`` with this cell (Dong & Yang, ICLR 2020, §2).

    Counted as (``out_elems·Cin/groups·kh·kw`` for convs, ``in·out`` for the
    classifier; BN, pooling and sums are free): stem 3×3 conv, three stages of ``layers``
    cells, two ResNet basic blocks (3×3 s2, 3×3, 1×1 shortcut) and the classifier. Every
    ``nor_conv`` edge is counted even on a dead path, as a profiler of the built model
    would. On CIFAR-10: 7,783,040 (no conv) to 220,119,680 (all 3×3).
    """
    n3 = sum(op == "nor_conv_3x3" for op in ops)
    n1 = sum(op == "nor_conv_1x1" for op in ops)
    side, c = resolution, channels
    macs = side * side * c * 3 * 9  # stem
    for stage in range(3):
        macs += layers * side * side * c * c * (9 * n3 + n1)
        if stage < 2:
            side = (side + 1) // 2
            macs += side * side * (2 * c) * c * 9 + side * side * (2 * c) * (2 * c) * 9 + side * side * (2 * c) * c
            c *= 2
    return macs + c * num_classes


# -- the evaluator -----------------------------------------------------------------------


class TabularEvaluator(Evaluator):
    """Answers ``nb201`` architectures from a NAS-Bench-201-shaped CSV (simulated cost).

    Options (``evaluator_options`` or keywords): ``table`` (CSV path; default the packaged
    CIFAR-10 table), ``signal`` (column seen by strategies as ``val_acc``), ``report`` (column
    journaled in ``Result.report`` only), ``cost`` (spec, see :func:`~evaluators.tabular_columns.parse_cost_spec`),
    ``macs`` (a column to read MACs from; default: counted from the cell), ``num_classes`` and
    ``resolution`` (for the counted MACs). ``capacity()`` is 1: simulated evaluations run one
    after another, as in the NB201 protocol.
    """

    name = "tabular"
    simulated_time = True  # Result.cost is simulated training time (the driver's time budget uses it)

    def __init__(self, space: Any, config: Any = None, *, run_dir: str | Path | None = None,
                 **options: Any) -> None:
        super().__init__(space, config, run_dir=run_dir)
        opts: dict[str, Any] = dict(getattr(config, "evaluator_options", None) or {})
        opts.update(options)
        accepted = {"table", "signal", "report", "cost", "macs", "num_classes", "resolution", "fidelities",
                    "epoch_time", "eval_time"}
        bad = sorted(set(opts) - accepted)
        if bad:
            raise ConfigError(f"evaluator 'tabular' got unexpected option(s) {', '.join(bad)}; "
                              f"accepted: {', '.join(sorted(accepted))}")
        space_name = getattr(self.space, "name", None)
        if space_name != "nb201":
            raise ConfigError(f"evaluator 'tabular' answers only nb201 architectures, not space {space_name!r}")
        self.table = load_table(opts.get("table"))
        self.signal = _column_name(opts.get("signal", DEFAULT_SIGNAL), "signal")
        self.report = _column_name(opts.get("report", DEFAULT_REPORT), "report")
        self.cost_spec = str(opts.get("cost", DEFAULT_COST))
        self.cost_terms = parse_cost_spec(self.cost_spec)
        self.macs_column = opts.get("macs")
        self.num_classes = _positive_int(opts.get("num_classes", 10), "num_classes")
        self.resolution = _positive_int(opts.get("resolution", 32), "resolution")
        t = self.table
        self._signal, self._report = t.column(self.signal), t.column(self.report)
        self._cost = [(w, None if c is None else t.column(c)) for w, c in self.cost_terms]
        self._macs = None if self.macs_column is None else t.column(_column_name(self.macs_column, "macs"))
        self._params, self._params_scale = None, 1.0
        if t.has("params_mb"):
            self._params, self._params_scale = t.column("params_mb"), 1e6
        elif t.has("params"):
            self._params = t.column("params")
        self._index_col = t.column("arch_index") if t.has("arch_index") else None
        self.fidelities = _fidelities(opts.get("fidelities"), t)
        self._fidelity = {e: t.column(c) for e, c in self.fidelities.items()}
        self._epoch_time = self._eval_time = None
        if self.fidelities:
            self._epoch_time = t.column(_column_name(opts.get("epoch_time", DEFAULT_EPOCH_TIME), "epoch_time"))
            self._eval_time = t.column(_column_name(opts.get("eval_time", DEFAULT_EVAL_TIME), "eval_time"))
        self._queue: deque[tuple[str, Result]] = deque()
        self._rows: dict[tuple, int] = {}  # Architecture.spec -> row

    # -- lookup -------------------------------------------------------------------------
    def row_of(self, arch: Architecture) -> int:
        """Table row of ``arch``; raises :class:`InvalidArchitecture` when it is not there."""
        self.space.check_space(arch)  # an architecture of another space is not looked up by its cell
        if arch.cells is None or len(arch.cells) != 1:
            raise InvalidArchitecture("the tabular evaluator needs a one-cell NB201 architecture")
        row = self._rows.get(arch.spec)
        if row is not None:
            return row
        (g,) = arch.cells.values()
        try:
            key = nb201_edges(format_nb201(g))
        except ValueError as e:
            raise InvalidArchitecture(f"not an NB201 cell: {e}") from None
        row = self.table.index.get(key)
        if row is None:
            raise InvalidArchitecture(f"architecture {format_nb201(g)!r} is not in {self.table.path.name}")
        self._rows[arch.spec] = row
        return row

    def lookup(self, arch: Architecture, budget: int | None = None, from_budget: int = 0) -> Result:
        """The :class:`Result` for ``arch`` (``failed`` if it is missing or has no value).

        With ``budget`` (epochs) the signal is that fidelity's column and the cost the epochs
        added since ``from_budget`` plus one evaluation (see the module docstring).
        """
        try:
            row = self.row_of(arch)
        except InvalidArchitecture as e:
            return Result("failed", error=str(e), worker={"evaluator": self.name})
        report = self._report[row]
        if budget is None:
            signal = self._signal[row]
            cost = sum(w * (1.0 if col is None else col[row]) for w, col in self._cost)
        elif budget not in self._fidelity:
            have = ", ".join(str(e) for e in sorted(self.fidelities)) or "none"
            return Result("failed", error=f"budget {budget} epochs is not a fidelity of {self.table.path.name} "
                                         f"(it has: {have})", worker={"evaluator": self.name})
        else:
            assert self._epoch_time is not None and self._eval_time is not None
            signal = self._fidelity[budget][row]
            cost = (budget - min(max(from_budget, 0), budget)) * self._epoch_time[row] + self._eval_time[row]
        if not (math.isfinite(signal) and math.isfinite(cost)):
            return Result("failed", error=f"table row {row} has no {self.signal!r} or cost value",
                          worker={"evaluator": self.name}, cost=cost if math.isfinite(cost) else None)
        metrics: dict[str, float] = {"val_acc": signal, "train_seconds": cost}
        if self._params is not None and math.isfinite(self._params[row]):
            metrics["params"] = self._params[row] * self._params_scale
        if self._macs is not None:
            if math.isfinite(self._macs[row]):
                metrics["macs"] = self._macs[row]
        else:
            metrics["macs"] = float(nb201_macs(self.table.keys[row], num_classes=self.num_classes,
                                               resolution=self.resolution))
        rep: dict[str, Any] = {self.report: report}
        if self._index_col is not None:
            rep["arch_index"] = int(self._index_col[row])
        return Result("ok", metrics=metrics, worker={"evaluator": self.name}, report=rep, cost=cost)

    # -- Evaluator contract -------------------------------------------------------------
    def submit(self, proposal: Proposal) -> None:
        if proposal.runner != DEFAULT_RUNNER:  # a table answers architecture trials only
            res = Result("failed", error=f"the tabular evaluator looks architectures up; "
                                         f"it cannot run a {proposal.runner!r} trial")
        elif proposal.arch is None:
            res = Result("failed", error="the tabular evaluator needs an architecture")
        else:
            res = self.lookup(proposal.arch, proposal.budget, proposal.from_budget)
        self._queue.append((proposal.id, res))

    def results(self, timeout: float | None = None) -> list[tuple[str, Result]]:
        out = list(self._queue)
        self._queue.clear()
        return out

    def capacity(self) -> int:
        return 1

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "table": str(self.table.path), "rows": len(self.table.raw),
                "signal": self.signal, "report": self.report, "cost": self.cost_spec,
                "fidelities": {str(e): c for e, c in sorted(self.fidelities.items())}}

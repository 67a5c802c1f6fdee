"""Progress display for ``nas search``.

On a terminal, a rich live bar (trials done/total, running, failed, best ``val_acc`` so far,
elapsed, ETA) with one line printed above it per finished trial. When stdout is not a TTY
(CI logs, pipes), exactly one plain line per finished trial and nothing else.
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from nas.types import trial_key


def fmt_count(x: Any) -> str:
    """12345 -> '12.3k', 3.4e6 -> '3.40M'; '-' for missing."""
    if x is None:
        return "-"
    x = float(x)
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= div:
            return f"{x / div:.2f}{unit}" if unit != "k" else f"{x / div:.1f}{unit}"
    return f"{x:g}"


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = int(round(max(0.0, seconds)))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def fmt_acc(x: Any) -> str:
    """Accuracy as a fraction (4 decimals) or in percent (2 decimals)."""
    if x is None:
        return "-"
    x = float(x)
    return f"{x:.2f}" if abs(x) > 1.5 else f"{x:.4f}"


def header(search: Any) -> str:
    """One line naming the run and its budget, printed when the search starts."""
    c = search.config
    where = "in memory" if search.run_dir is None else str(search.run_dir.path)
    budget = [f"{c.budget} trials"] if c.budget is not None else []
    if c.time_budget is not None:
        budget.append(f"{c.time_budget:g}s")
    resumed = f", resumed at {search.n_finished} trials" if search.n_finished else ""
    return (f"search {where}: space {c.space}, strategy {c.strategy}, objective {c.objective}, "
            f"budget {' or '.join(budget)}, {search.max_concurrent} at a time{resumed}")


def trial_line(rec: dict[str, Any]) -> str:
    m = rec.get("metrics") or {}
    text = f"{rec['id']} {rec['status']:<7} val_acc={fmt_acc(m.get('val_acc'))}"
    text += f" params={fmt_count(m.get('params'))} macs={fmt_count(m.get('macs'))} {rec.get('seconds', 0.0):.1f}s"
    if rec.get("error"):
        text += f" error: {str(rec['error']).splitlines()[0][:120]}"
    return text


class _Base:
    def __init__(self) -> None:
        self._t0 = time.perf_counter()
        self._n0 = 0

    def start(self, search: Any) -> None:
        self._t0 = time.perf_counter()
        self._n0 = search.n_finished

    def eta(self, search: Any) -> float | None:
        """Seconds left: from this session's trial rate and the budget, capped by a time budget."""
        left = []
        done = search.n_finished - self._n0
        if search.budget is not None and done > 0:
            rate = (time.perf_counter() - self._t0) / done
            left.append(rate * max(0, search.budget - search.n_finished))
        if search.time_budget is not None and not search.simulated:
            left.append(max(0.0, search.time_budget - search.elapsed))
        return min(left) if left else None

    def status(self, search: Any) -> str:
        best = search.best
        best_txt = "-" if best is None else f"{fmt_acc(best['metrics'].get('val_acc'))} ({best['id']})"
        return (f"running {search.n_running} · failed {search.n_failed} · best val_acc {best_txt} · "
                f"elapsed {fmt_time(search.elapsed)} · ETA {fmt_time(self.eta(search))}")

    def tick(self, search: Any) -> None:
        pass

    def stop(self, search: Any) -> None:
        pass


class PlainProgress(_Base):
    """One line per finished trial (non-TTY output)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream

    def start(self, search: Any) -> None:
        super().start(search)
        out = self.stream or sys.stdout
        out.write(header(search) + "\n")
        out.flush()

    def trial_finished(self, record: dict[str, Any], search: Any) -> None:
        total = "?" if search.budget is None else str(search.budget)
        out = self.stream or sys.stdout
        out.write(f"[{search.n_finished:>{len(total)}}/{total}] {trial_line(record)} | {self.status(search)}\n")
        out.flush()


class RichProgress(_Base):
    """A live rich progress bar with a line per finished trial printed above it.

    The stats column is re-rendered by rich's refresh thread, so elapsed time and ETA keep
    moving while a trial trains in the main thread.
    """

    def __init__(self, console: Any = None) -> None:
        super().__init__()
        self.console = console
        self._bar: Any = None
        self._task: Any = None

    def start(self, search: Any) -> None:
        super().start(search)
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
        from rich.text import Text

        owner = self

        class StatsColumn(ProgressColumn):
            def render(self, task: Any) -> Text:
                return Text(owner.status(search))

        self._bar = Progress(
            TextColumn("[bold]trials"), BarColumn(), MofNCompleteColumn(), StatsColumn(),
            console=self.console, transient=False, refresh_per_second=2,
        )
        self._task = self._bar.add_task("search", total=search.budget, completed=search.n_finished)
        self._bar.start()
        self._bar.console.print(header(search), highlight=False, markup=False)

    def trial_finished(self, record: dict[str, Any], search: Any) -> None:
        if self._bar is None:
            return
        from rich.markup import escape

        style = "green" if record["status"] == "ok" else "red"
        self._bar.console.print(f"[{style}]{escape(trial_line(record))}[/{style}]", markup=True, highlight=False)
        self._bar.update(self._task, completed=search.n_finished)

    def tick(self, search: Any) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=search.n_finished)

    def stop(self, search: Any) -> None:
        if self._bar is not None:
            self.tick(search)
            self._bar.stop()
            self._bar = None


def make_progress(stream: TextIO | None = None) -> Any:
    """Rich display when stdout is a terminal, else plain lines."""
    out = stream or sys.stdout
    if hasattr(out, "isatty") and out.isatty():
        return RichProgress()
    return PlainProgress(stream)


def top_rows(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Table rows (id, key, val_acc, params, macs, status) of journal records."""
    rows = []
    for t in trials:
        m = t.get("metrics") or {}
        rows.append({"id": t["id"], "key": trial_key(t) or "-", "val_acc": fmt_acc(m.get("val_acc")),
                     "params": fmt_count(m.get("params")), "macs": fmt_count(m.get("macs")),
                     "status": t["status"]})
    return rows


def print_top(trials: list[dict[str, Any]], title: str = "top trials", file: TextIO | None = None) -> None:
    """Print the top-k table with rich (plain text when not on a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col, justify in (("id", "left"), ("key", "left"), ("val_acc", "right"), ("params", "right"),
                         ("macs", "right"), ("status", "left")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for row in top_rows(trials):
        table.add_row(*(str(v) for v in row.values()))
    if not trials:
        table.add_row("-", "(no successful trial)", "-", "-", "-", "-")
    Console(file=file or sys.stdout).print(table)

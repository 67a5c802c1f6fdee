"""``nas strategies``: list the registered search strategies, their summaries and options.

Options are read from each strategy's constructor signature (keyword arguments after
``space``, ``seed`` and ``objective``); pass them with ``--strategy-option KEY=VALUE``.
"""
from __future__ import annotations

import argparse
import inspect
import json
import sys
from typing import Any

_COMMON = {"self", "space", "seed", "objective"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("strategies", help="list search strategies and their options",
                              description="List the registered search strategies and their options.")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def options_of(factory: Any) -> dict[str, Any]:
    """``{option: default}`` from a strategy class's constructor."""
    out: dict[str, Any] = {}
    for p in inspect.signature(factory).parameters.values():
        if p.name in _COMMON or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[p.name] = None if p.default is p.empty else p.default
    return out


def describe() -> list[dict[str, Any]]:
    from nas.app.bench import BENCH_NOTES
    from nas.registry import STRATEGIES, load_plugins
    from nas.types import DEFAULT_RUNNER

    load_plugins()
    rows = []
    for name in STRATEGIES.names():
        row: dict[str, Any] = {"name": name, "summary": STRATEGIES.summary(name)}
        try:
            factory = STRATEGIES.get(name)
        except ImportError as e:  # an optional dependency is missing
            row["error"] = f"unavailable: {e}"
        else:
            row["options"] = options_of(factory)
            row["multi_objective"] = bool(getattr(factory, "supports_multi_objective", False))
            row["trial_runner"] = str(getattr(factory, "trial_runner", DEFAULT_RUNNER))  # what runs its trials
            if name in BENCH_NOTES:
                row["bench_note"] = BENCH_NOTES[name]
        rows.append(row)
    return rows


def run(args: argparse.Namespace) -> int:
    rows = describe()
    if args.json:
        json.dump(rows, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="strategies (options: --strategy-option KEY=VALUE)", title_justify="left")
    for col in ("name", "summary", "options"):
        table.add_column(col)
    for r in rows:
        opts = r.get("error") or ", ".join(f"{k}={v!r}" for k, v in r["options"].items()) or "-"
        table.add_row(r["name"], r["summary"], opts)
    console = Console()
    console.print(table)
    from nas.app.bench import BENCH_NOTES  # where nas bench's options differ from these defaults, and why

    for name, why in BENCH_NOTES.items():
        console.print(f"{name}: {why}", highlight=False)
    return 0

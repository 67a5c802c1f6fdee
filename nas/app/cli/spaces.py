"""``nas spaces``: list the registered search spaces, their op sets, decisions and sizes.

``size`` is the exact number of distinct encodings (``space.size()``, the
product of the decision cardinalities). For ``nb201`` the number of distinct
*non-isomorphic* cells (``distinct_keys``: what ``Architecture.key`` tells
apart) is shown too.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("spaces", help="list search spaces, op sets and sizes",
                              description="List the registered search spaces: op sets, number of decisions, "
                                          "number of distinct encodings (and of non-isomorphic NB201 cells).")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


# -- listing -------------------------------------------------------------------------------------
def describe_space(name: str) -> dict[str, Any]:
    """One row of ``nas spaces --json``."""
    from nas.registry import SPACES

    space = SPACES.create(name)
    row = {"name": name, "summary": SPACES.summary(name), **space.describe()}
    row["decision_names"] = [d.name for d in space.decisions()]
    row["build_defaults"] = dict(getattr(space, "build_defaults", {}) or {})
    return row


def describe() -> list[dict[str, Any]]:
    from nas.registry import SPACES, load_plugins

    load_plugins()
    rows = []
    for name in SPACES.names():
        try:
            rows.append(describe_space(name))
        except ImportError as e:  # an optional dependency of a plugin space is missing
            rows.append({"name": name, "summary": SPACES.summary(name), "error": f"unavailable: {e}"})
    return rows


def _size_text(n: int) -> str:
    """Exact count with thousands separators, four groups per line, plus ``≈ m·10^e`` when large."""
    groups = f"{n:,}".split(",")
    lines = [",".join(groups[i : i + 4]) + ("," if i + 4 < len(groups) else "") for i in range(0, len(groups), 4)]
    if n >= 10**7:
        mant, exp = f"{n:.2e}".split("e")
        lines.insert(0, f"≈ {mant}·10^{int(exp)}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    rows = describe()
    if args.json:
        json.dump(rows, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="search spaces: size = distinct encodings (exact); NB201 also non-isomorphic cells",
                  title_justify="left", show_lines=True)
    table.add_column("space", no_wrap=True)
    table.add_column("decisions", justify="right")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("ops", ratio=1)
    table.add_column("summary", ratio=1)
    for r in rows:
        if "error" in r:
            table.add_row(r["name"], "", "", r["error"], r["summary"])
            continue
        size = _size_text(r["size"])
        if "distinct_keys" in r:
            size += f"\n{r['distinct_keys']:,} non-isomorphic"
        ops = f"{len(r['ops'])}: " + ", ".join(r["ops"])
        if isinstance(r.get("choices"), dict):  # block spaces: per-stage choices instead of edge ops
            ops += "; per stage " + "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in r["choices"].items())
        table.add_row(r["name"], str(r["decisions"]), size, ops, r["summary"])
    Console().print(table)
    return 0

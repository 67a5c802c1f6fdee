"""``nas spaces [--space FILE ...]``: list the search spaces, their op sets, decisions and sizes.

``size`` is the exact number of distinct encodings (``space.size()``, the
product of the decision cardinalities). For ``nb201`` the number of distinct
*non-isomorphic* cells (``distinct_keys``: what ``Architecture.key`` tells
apart) is shown too.

The list has the registered spaces (built-in, and plugin spaces from ``nas.plugins``
entry points or ``NAS_PLUGINS``), the shipped example space files
(``search_spaces/examples/``) and every ``--space FILE`` given; ``from`` says which
(``built-in``, ``plugin``, ``example file``, ``file``) and ``origin`` the module or file.
A malformed space file is an error (exit 2), like everywhere else.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("spaces", help="list search spaces, op sets and sizes",
                              description="List the registered search spaces: op sets, number of decisions, "
                                          "number of distinct encodings (and of non-isomorphic NB201 cells).")
    p.add_argument("--space", action="append", default=[], metavar="FILE",
                   help="also list this space file (format: nas/space@1); repeatable")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


# -- listing -------------------------------------------------------------------------------------
def describe_space(name: str, source: str | None = None) -> dict[str, Any]:
    """One row of ``nas spaces --json``; ``source`` as :func:`space_source` gives it (default: computed)."""
    from nas.registry import SPACES

    space = SPACES.create(name)
    row = {"name": name, "summary": SPACES.summary(name), **space.describe()}
    row["decision_names"] = [d.name for d in space.decisions()]
    row["build_defaults"] = dict(getattr(space, "build_defaults", {}) or {})
    row["from"] = source or space_source(name)
    row["origin"] = _display_path(SPACES.origin(name))
    return row


def space_source(name: str) -> str:
    """``built-in`` (the ``search_spaces`` package), ``plugin`` (other code) or ``file`` (defined by data)."""
    from nas.registry import SPACES

    if SPACES.definition(name) is not None:
        return "file"
    return "built-in" if SPACES.origin(name).startswith("search_spaces.") else "plugin"


def _display_path(origin: str) -> str:
    """A file origin relative to the working directory when it lies below it."""
    try:
        return str(Path(origin).resolve().relative_to(Path.cwd()))
    except (ValueError, OSError):
        return origin


def describe(files: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows for the registered spaces, the shipped example files and ``files`` (space files)."""
    from nas.registry import SPACES, load_plugins
    from search_spaces.file_space import example_files

    load_plugins()
    given = [SPACES.resolve(str(f)) for f in files]  # a malformed file fails before anything prints
    examples = [SPACES.resolve(str(f)) for f in example_files()]
    sources = {**{n: "example file" for n in examples}, **{n: "file" for n in given}}
    rows = []
    for name in SPACES.names():
        try:
            rows.append(describe_space(name, sources.get(name)))
        except ImportError as e:  # an optional dependency of a plugin space is missing
            rows.append({"name": name, "summary": SPACES.summary(name), "error": f"unavailable: {e}",
                         "from": "plugin", "origin": SPACES.origin(name)})
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
    rows = describe(args.space)
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
    table.add_column("from", ratio=1)
    for r in rows:
        origin = f"{r['from']}\n{r['origin']}"
        if "error" in r:
            table.add_row(r["name"], "", "", r["error"], r["summary"], origin)
            continue
        size = _size_text(r["size"])
        if "distinct_keys" in r:
            size += f"\n{r['distinct_keys']:,} non-isomorphic"
        ops = f"{len(r['ops'])}: " + ", ".join(r["ops"])
        extra = [o for o in r.get("primitives", ()) if o not in r["ops"]]
        if extra:  # e.g. 'none': a primitive of the one-shot supernet only
            ops += f" (+ {', '.join(extra)} in the supernet)"
        if isinstance(r.get("choices"), dict):  # block spaces: per-stage choices instead of edge ops
            ops += "; per stage " + "; ".join(f"{k} {', '.join(map(str, v))}" for k, v in r["choices"].items())
        table.add_row(r["name"], str(r["decisions"]), size, ops, r["summary"], origin)
    Console().print(table)
    return 0

"""Helpers shared by the search-space tests: isomorphic relabelling and an exact isomorphism oracle."""
from __future__ import annotations

import csv
import random
from pathlib import Path

import networkx as nx

from nas.arch import Architecture, canonical_cell
from nas.cell import cell_spec, make_cell, n_inputs_of

REPO = Path(__file__).resolve().parents[1]
MALFORMED_DIR = Path(__file__).resolve().parent / "malformed"


def relabel_variant(arch: Architecture, rng: random.Random) -> Architecture:
    """An isomorphic copy of a cell architecture: intermediate nodes renumbered along a
    random topological order (references rewired) and each node's input slots shuffled.
    The concat list keeps the same nodes, written in index order."""
    assert arch.cells is not None
    cells = {}
    for name, g in arch.cells.items():
        n_in = n_inputs_of(g)
        nodes, concat = cell_spec(g)
        deps = {f"n{i}": {s for _, s in ins if s.startswith("n")} for i, (_, ins) in enumerate(nodes)}
        order: list[str] = []
        while len(order) < len(nodes):
            ready = sorted(n for n in deps if n not in order and deps[n] <= set(order))
            order.append(rng.choice(ready))
        mapping = {old: f"n{k}" for k, old in enumerate(order)}
        new_nodes = []
        for old in order:
            combine, ins = nodes[int(old[1:])]
            new_ins = [(op, mapping.get(src, src)) for op, src in ins]
            rng.shuffle(new_ins)
            new_nodes.append((combine, new_ins))
        new_concat = sorted((mapping[c] for c in concat), key=lambda s: int(s[1:]))
        cells[name] = make_cell(new_nodes, new_concat, n_in)
    return Architecture(arch.space, cells=cells, macro=arch.macro)


def exactly_isomorphic(a: Architecture, b: Architecture) -> bool:
    """Ground truth for the key: same space and macro, and for each cell an exact
    (VF2) isomorphism of the canonical cells respecting node roles and edge ops."""
    if a.space != b.space or dict(a.macro) != dict(b.macro):
        return False
    if a.cells is None or b.cells is None:
        return a.spec == b.spec
    if list(a.cells) != list(b.cells):
        return False

    def node_match(x: dict, y: dict) -> bool:
        return x["label"] == y["label"]

    def edge_match(x: dict, y: dict) -> bool:
        return x["op"] == y["op"]

    return all(
        nx.is_isomorphic(
            canonical_cell(a.cells[k]), canonical_cell(b.cells[k]), node_match=node_match, edge_match=edge_match
        )
        for k in a.cells
    )


def random_choices(space, rng: random.Random) -> list[int]:
    return [rng.randrange(len(d)) for d in space.decisions()]


def nb201_csv() -> Path:
    """The NAS-Bench-201 CIFAR-10 table shipped as package data."""
    from evaluators.tabular import DEFAULT_TABLE

    return DEFAULT_TABLE


def nb201_rows() -> list[dict[str, str]]:
    p = nb201_csv()
    assert p is not None
    with p.open(newline="") as f:
        return list(csv.DictReader(f))


def read_case(path: Path) -> tuple[str, str]:
    """A malformed-corpus file → (input for resolve_arch, expected message fragment).

    The first line is ``# expect: <fragment>``. For ``*.yaml`` files the input is
    the file's path; for ``*.txt`` files it is the text without ``#`` comment lines.
    """
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("# expect:"), f"{path.name}: first line must be '# expect: <fragment>'"
    fragment = first[len("# expect:") :].strip()
    if path.suffix == ".yaml":
        return str(path), fragment
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#")).strip()
    return body, fragment

"""Cells as ``networkx`` DAGs with operations on edges (README, "Architecture format").

Node names and attributes:

* ``in0`` (c_{k-2}) and ``in1`` (c_{k-1}): ``role="input"``. NB201 cells have
  only ``in0``.
* ``n0 … n{B-1}``: intermediate nodes, ``role="node"`` and ``combine`` (``add``
  or ``concat``).
* ``out``: ``role="output"`` with ``concat``, the tuple of intermediate nodes
  whose outputs are concatenated in depth.

Each edge into an intermediate node carries ``op`` (a name from the space's op
set) and is keyed by its *slot*, the position of the input within the node, so
that a node may read the same state twice (NASNet-A's ``avg_pool(h)+avg_pool(h)``)
and the genotype order round-trips exactly. Cells are therefore
``networkx.MultiDiGraph`` objects (a ``DiGraph`` subclass). Edges into ``out``
carry ``op="concat"``.

The functions here are generic; each search space adds its own rules in
``validate`` on top of :func:`check_cell`.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import networkx as nx

from nas.errors import InvalidArchitecture

OUT = "out"
CONCAT_EDGE = "concat"
COMBINES = ("add", "concat")

NodeSpec = tuple[str, tuple[tuple[str, str], ...]]  # (combine, ((op, source), ...))


def input_names(n_inputs: int) -> tuple[str, ...]:
    return tuple(f"in{i}" for i in range(n_inputs))


def node_name(i: int) -> str:
    return f"n{i}"


def make_cell(
    nodes: Sequence[tuple[str, Sequence[tuple[str, str]]]],
    concat: Iterable[str],
    n_inputs: int = 2,
) -> nx.MultiDiGraph:
    """Build a cell graph from ``[(combine, [(op, source), ...]), ...]`` and ``concat``.

    Sources are node names (``in0``, ``in1``, ``n0``, ...). No validation happens
    here beyond what is needed to build the graph; call :func:`check_cell`.
    """
    g = nx.MultiDiGraph()
    for name in input_names(n_inputs):
        g.add_node(name, role="input")
    for i, (combine, _) in enumerate(nodes):
        g.add_node(node_name(i), role="node", combine=combine)
    concat = tuple(concat)
    g.add_node(OUT, role="output", concat=concat)
    for i, (_, inputs) in enumerate(nodes):
        dst = node_name(i)
        for slot, (op, src) in enumerate(inputs):
            if src not in g:
                raise InvalidArchitecture(f"node {dst}: input {src!r} is not a node of the cell")
            g.add_edge(src, dst, key=slot, op=op)
    for src in concat:
        if src not in g or g.nodes[src].get("role") != "node":
            raise InvalidArchitecture(f"concat: {src!r} is not an intermediate node")
        g.add_edge(src, OUT, key=0, op=CONCAT_EDGE)
    return g


def inner_nodes(g: nx.MultiDiGraph) -> list[str]:
    """Intermediate node names in index order (``n0``, ``n1``, ...)."""
    names = [n for n, d in g.nodes(data=True) if d.get("role") == "node"]
    return sorted(names, key=lambda n: int(n[1:]))


def n_inputs_of(g: nx.MultiDiGraph) -> int:
    return sum(1 for _, d in g.nodes(data=True) if d.get("role") == "input")


def node_inputs(g: nx.MultiDiGraph, node: str) -> list[tuple[str, str]]:
    """``[(op, source), ...]`` of an intermediate node, in slot order."""
    edges = [(k, d["op"], u) for u, _, k, d in g.in_edges(node, keys=True, data=True)]
    return [(op, u) for _, op, u in sorted(edges)]


def cell_spec(g: nx.MultiDiGraph) -> tuple[tuple[NodeSpec, ...], tuple[str, ...]]:
    """Inverse of :func:`make_cell`: ``(nodes, concat)`` in a hashable form."""
    nodes = tuple(
        (g.nodes[n]["combine"], tuple(node_inputs(g, n))) for n in inner_nodes(g)
    )
    return nodes, tuple(g.nodes[OUT]["concat"])


def unused_nodes(g: nx.MultiDiGraph) -> list[str]:
    """Intermediate nodes that no other intermediate node consumes (NASNet's output rule)."""
    inner = inner_nodes(g)
    used = {u for u, v in g.edges() if v != OUT}
    return [n for n in inner if n not in used]


def node_index(name: str, n_inputs: int) -> int:
    """Position of a state in the flat DARTS indexing: inputs first, then n0, n1, ..."""
    if name.startswith("in"):
        return int(name[2:])
    return n_inputs + int(name[1:])


def state_name(index: int, n_inputs: int) -> str:
    """Inverse of :func:`node_index`."""
    return f"in{index}" if index < n_inputs else node_name(index - n_inputs)


def check_cell(
    g: nx.MultiDiGraph,
    *,
    where: str,
    ops: Sequence[str],
    n_inputs: int,
    n_nodes: int | None = None,
    arity: int | None = None,
    combines: Sequence[str] = ("add",),
    distinct_inputs: bool = False,
) -> None:
    """Generic structural checks; raises :class:`InvalidArchitecture` naming the problem.

    ``where`` prefixes every message (for example ``"cell 'normal'"``). Checks, in
    order: node set, combine values, unknown ops, arity, inputs from later nodes
    or unknown states, cycles, concat list, and that every node reaches ``out``.
    """
    inner = inner_nodes(g)
    expected_inputs = set(input_names(n_inputs))
    inputs = {n for n, d in g.nodes(data=True) if d.get("role") == "input"}
    if inputs != expected_inputs:
        raise InvalidArchitecture(
            f"{where}: expected input nodes {sorted(expected_inputs)}, got {sorted(inputs)}"
        )
    if OUT not in g:
        raise InvalidArchitecture(f"{where}: missing output node 'out'")
    if n_nodes is not None and len(inner) != n_nodes:
        raise InvalidArchitecture(f"{where}: expected {n_nodes} intermediate nodes, got {len(inner)}")
    if [node_name(i) for i in range(len(inner))] != inner:
        raise InvalidArchitecture(f"{where}: intermediate nodes must be n0..n{len(inner) - 1}, got {inner}")
    order = {name: node_index(name, n_inputs) for name in (*sorted(inputs), *inner)}
    for n in inner:
        combine = g.nodes[n].get("combine")
        if combine not in combines:
            raise InvalidArchitecture(
                f"{where}, node {n}: combine {combine!r} not allowed (allowed: {', '.join(combines)})"
            )
        ins = node_inputs(g, n)
        if not ins:
            raise InvalidArchitecture(f"{where}, node {n}: has no inputs")
        if arity is not None and len(ins) != arity:
            raise InvalidArchitecture(f"{where}, node {n}: expected {arity} inputs, got {len(ins)}")
        for op, src in ins:
            if op not in ops:
                raise InvalidArchitecture(f"{where}, node {n}: unknown op {op!r}")
            if src not in order:
                raise InvalidArchitecture(f"{where}, node {n}: input {src!r} is not a state of the cell")
            if order[src] >= order[n]:
                raise InvalidArchitecture(
                    f"{where}, node {n}: input {src} is not an earlier state (cells are feed-forward)"
                )
        if distinct_inputs and len({s for _, s in ins}) != len(ins):
            raise InvalidArchitecture(f"{where}, node {n}: the same input is used twice")
    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        raise InvalidArchitecture(f"{where}: cycle through {' -> '.join(str(e[0]) for e in cycle)}")
    concat = tuple(g.nodes[OUT].get("concat", ()))
    if not concat:
        raise InvalidArchitecture(f"{where}: empty concat list")
    if len(set(concat)) != len(concat):
        raise InvalidArchitecture(f"{where}: concat list {list(concat)} repeats a node")
    for c in concat:
        if c not in inner:
            raise InvalidArchitecture(f"{where}: concat entry {c!r} is not an intermediate node")
    into_out = {u for u, _ in g.in_edges(OUT)}
    if into_out != set(concat):
        raise InvalidArchitecture(f"{where}: edges into 'out' do not match the concat list")
    reaches_out = nx.ancestors(g, OUT)
    for n in inner:
        if n not in reaches_out:
            raise InvalidArchitecture(f"{where}, node {n}: output is never used (unreachable from 'out')")

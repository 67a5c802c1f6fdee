"""The :class:`Architecture` value type, its canonical key and YAML form.

An architecture is ``{space, cells: {normal, reduce} | blocks: [...], macro}``.
Cell-based spaces (``nasnet``, ``darts``, ``nb201``) hold ``networkx`` cell
graphs (see :mod:`nas.cell`); block-based spaces (``mbconv``) hold a tuple of
per-stage dicts. ``macro`` holds search-relevant macro settings (for example
EfficientNet's width/depth coefficients) and is part of the key; ``meta`` holds
free-form provenance (name, source) and is not.

Architectures are immutable in practice: spaces and strategies return new ones.
YAML is read within the input limits of :mod:`nas.limits` (file size, nesting, aliases,
integer length).
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

from nas.cell import OUT, cell_spec, make_cell, n_inputs_of
from nas.errors import InvalidArchitecture
from nas.io import atomic_write_text
from nas.limits import load_yaml, read_text

FORMAT = "nas/arch@1"
ZERO_OPS = frozenset({"none"})


@dataclass(eq=False)
class Architecture:
    """One point of a search space. Compare with ``==`` (exact) or ``.key`` (isomorphism)."""

    space: str
    cells: Mapping[str, nx.MultiDiGraph] | None = None
    blocks: tuple[Mapping[str, Any], ...] | None = None
    macro: Mapping[str, Any] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.cells is None) == (self.blocks is None):
            raise InvalidArchitecture("an architecture has either cells or blocks, not both or neither")
        if self.blocks is not None:
            self.blocks = tuple(dict(b) for b in self.blocks)
        self.macro = dict(self.macro)
        self.meta = dict(self.meta)

    # -- identity -------------------------------------------------------------
    @cached_property
    def spec(self) -> tuple:
        """Exact, hashable structure (cells in order with their input counts, blocks, macro); used for ``==``.

        At least as fine as :attr:`key` (the key cache and ``SearchSpace.ensure_valid`` memoize
        on it): scalars carry their type, so ``se: 0`` and ``se: 0.0`` differ, as their keys do.
        """
        cells = None
        if self.cells is not None:
            cells = tuple((name, n_inputs_of(g), cell_spec(g)) for name, g in self.cells.items())
        blocks = None if self.blocks is None else tuple([_freeze(b) for b in self.blocks])
        return (self.space, cells, blocks, _freeze(self.macro))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Architecture) and self.spec == other.spec

    def __hash__(self) -> int:
        return hash(self.spec)

    @cached_property
    def key(self) -> str:
        """Canonical isomorphism-aware key (16 hex chars); see :func:`arch_key`."""
        return arch_key(self)

    def __repr__(self) -> str:
        name = self.meta.get("name")
        return f"Architecture(space={self.space!r}{', name=' + repr(name) if name else ''}, key={self.key})"

    # -- serialization --------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain-data form used by YAML, JSON journals and Ray payloads."""
        d: dict[str, Any] = {"format": FORMAT, "space": self.space}
        if self.meta:
            d["meta"] = dict(self.meta)
        d["macro"] = dict(self.macro)
        if self.cells is not None:
            d["cells"] = {name: _cell_to_dict(g) for name, g in self.cells.items()}
        else:
            d["blocks"] = [dict(b) for b in self.blocks or ()]
        return d

    @classmethod
    def from_dict(cls, d: Any, where: str = "architecture") -> "Architecture":
        """Inverse of :meth:`to_dict`. Checks shape only; ``space.validate`` checks semantics."""
        if not isinstance(d, Mapping):
            raise InvalidArchitecture(f"{where}: expected a mapping, got {type(d).__name__}")
        fmt = d.get("format")
        if fmt != FORMAT:
            raise InvalidArchitecture(f"{where}: field 'format' must be {FORMAT!r}, got {fmt!r}")
        unknown = set(d) - {"format", "space", "meta", "macro", "cells", "blocks"}
        if unknown:
            raise InvalidArchitecture(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        space = d.get("space")
        if not isinstance(space, str) or not space:
            raise InvalidArchitecture(f"{where}: field 'space' must be a non-empty string")
        macro = d.get("macro") or {}
        meta = d.get("meta") or {}
        for fname, val in (("macro", macro), ("meta", meta)):
            if not isinstance(val, Mapping):
                raise InvalidArchitecture(f"{where}: field {fname!r} must be a mapping")
        if ("cells" in d) == ("blocks" in d):
            raise InvalidArchitecture(f"{where}: exactly one of 'cells' or 'blocks' is required")
        if "cells" in d:
            cells_d = d["cells"]
            if not isinstance(cells_d, Mapping) or not cells_d:
                raise InvalidArchitecture(f"{where}: field 'cells' must be a non-empty mapping")
            cells = {str(k): _cell_from_dict(v, f"{where}: cells.{k}") for k, v in cells_d.items()}
            return cls(space, cells=cells, macro=macro, meta=meta)
        blocks = d["blocks"]
        if not isinstance(blocks, list) or not all(isinstance(b, Mapping) for b in blocks):
            raise InvalidArchitecture(f"{where}: field 'blocks' must be a list of mappings")
        return cls(space, blocks=tuple(blocks), macro=macro, meta=meta)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, default_flow_style=None, width=100)

    @classmethod
    def from_yaml(cls, text: str, where: str = "<yaml>") -> "Architecture":
        data = load_yaml(text, where, error=InvalidArchitecture)  # size, depth, alias and int limits
        return cls.from_dict(data, where)

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, self.to_yaml())

    @classmethod
    def load(cls, path: str | Path) -> "Architecture":
        p = Path(path)
        try:
            text = read_text(p, error=InvalidArchitecture)  # refuses files over nas.limits.MAX_TEXT_BYTES
        except FileNotFoundError:
            raise InvalidArchitecture(f"{p}: no such file") from None
        return cls.from_yaml(text, where=str(p))


# -- helpers ------------------------------------------------------------------

_SCALARS = frozenset({"str", "int", "float", "bool", "NoneType"})


def _freeze(x: Any) -> Any:
    """Hashable form of plain data, as fine as its JSON (which the key hashes).

    A scalar becomes ``(value, type name)``, so ``0``, ``0.0`` and ``False`` differ. A
    mapping becomes its sorted items and a list or tuple its items, followed by one
    signature string: ``"{}:int,float"`` / ``"[]:str"`` (the value types, in order) when
    every value is a scalar, the common case (blocks, macro), else ``"{}"`` / ``"[]"``
    with the values frozen. The last element thus tells the three forms apart, and one
    tuple and one string per container keep ``.spec`` cheap to build and to keep.
    """
    if isinstance(x, Mapping):
        items = sorted(x.items())
        names = [type(v).__name__ for _, v in items]
        if _SCALARS.issuperset(names):
            items.append("{}:" + ",".join(names))
            return tuple(items)
        return (*[(k, _freeze(v)) for k, v in items], "{}")
    if isinstance(x, (list, tuple)):
        names = [type(v).__name__ for v in x]
        if _SCALARS.issuperset(names):
            return (*x, "[]:" + ",".join(names))
        return (*map(_freeze, x), "[]")
    return (x, type(x).__name__)


def _cell_to_dict(g: nx.MultiDiGraph) -> dict[str, Any]:
    nodes, concat = cell_spec(g)
    return {
        "inputs": n_inputs_of(g),
        "nodes": [{"combine": c, "inputs": [[op, src] for op, src in ins]} for c, ins in nodes],
        "concat": list(concat),
    }


def _cell_from_dict(d: Any, where: str) -> nx.MultiDiGraph:
    if not isinstance(d, Mapping):
        raise InvalidArchitecture(f"{where}: expected a mapping with 'nodes' and 'concat'")
    unknown = set(d) - {"inputs", "nodes", "concat"}
    if unknown:
        raise InvalidArchitecture(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    n_in = d.get("inputs", 2)
    if not isinstance(n_in, int) or isinstance(n_in, bool) or n_in not in (1, 2):
        raise InvalidArchitecture(f"{where}.inputs: must be 1 or 2, got {n_in!r}")
    nodes_d = d.get("nodes")
    if not isinstance(nodes_d, list) or not nodes_d:
        raise InvalidArchitecture(f"{where}.nodes: must be a non-empty list")
    nodes = []
    for i, nd in enumerate(nodes_d):
        w = f"{where}.nodes[{i}]"
        if not isinstance(nd, Mapping) or "inputs" not in nd:
            raise InvalidArchitecture(f"{w}: expected a mapping with 'inputs'")
        combine = nd.get("combine", "add")
        ins = nd["inputs"]
        if not isinstance(ins, list) or not ins:
            raise InvalidArchitecture(f"{w}.inputs: must be a non-empty list of [op, source]")
        pairs = []
        for j, pair in enumerate(ins):
            if (
                not isinstance(pair, (list, tuple))
                or len(pair) != 2
                or not all(isinstance(x, str) for x in pair)
            ):
                raise InvalidArchitecture(f"{w}.inputs[{j}]: expected [op, source], got {pair!r}")
            pairs.append((pair[0], pair[1]))
        nodes.append((combine, pairs))
    concat = d.get("concat")
    if not isinstance(concat, list) or not all(isinstance(c, str) for c in concat):
        raise InvalidArchitecture(f"{where}.concat: must be a list of node names")
    try:
        return make_cell(nodes, concat, n_in)
    except InvalidArchitecture as e:
        raise InvalidArchitecture(f"{where}: {e}") from None


# -- canonical key --------------------------------------------------------------

def _canonical_parts(g: nx.MultiDiGraph) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Node labels and merged edge labels of the functional skeleton (see :func:`canonical_cell`)."""
    labels: dict[str, str] = {}
    for n, d in g.nodes(data=True):
        role = d.get("role")
        labels[n] = n if role == "input" else ("out" if role == "output" else f"node:{d.get('combine')}")
    return canonical_parts(labels, [(u, v, d["op"]) for u, v, d in g.edges(data=True)])


def _closure(start: set[str], edges: list[tuple[str, str]]) -> set[str]:
    """Nodes reachable from ``start`` along ``(src, dst)`` edges (fixed point; cells are tiny)."""
    seen = set(start)
    changed = True
    while changed:
        changed = False
        for u, v in edges:
            if u in seen and v not in seen:
                seen.add(v)
                changed = True
    return seen


def canonical_parts(
    labels: dict[str, str], edges: list[tuple[str, str, str]]
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """:func:`canonical_cell` on plain data: ``labels`` (inputs labelled by their own name,
    intermediate nodes ``node:<combine>``, ``out``) and ``(src, dst, op)`` edges."""
    inputs = [n for n, lab in labels.items() if lab == n and n != OUT]
    live = [e for e in edges if e[2] not in ZERO_OPS]
    fed = _closure(set(inputs), [(u, v) for u, v, _ in live])
    live = [e for e in live if e[0] in fed]
    reach = _closure({OUT}, [(v, u) for u, v, _ in live])
    keep = (fed & reach) | {OUT} | set(inputs)
    merged: dict[tuple[str, str], list[str]] = {}
    for u, v, op in live:
        if u in keep and v in keep:
            merged.setdefault((u, v), []).append(op)
    return (
        {n: lab for n, lab in labels.items() if n in keep},
        {e: "+".join(sorted(ops)) for e, ops in merged.items()},
    )


def canonical_cell(g: nx.MultiDiGraph) -> nx.DiGraph:
    """Functional skeleton of a cell, the graph the key hashes.

    Zero (``none``) edges are dropped, then nodes that no longer depend on any
    input (their value is zero) are dropped with their out-edges, then nodes
    that no longer reach ``out``. Parallel edges between the same two states are
    merged into one edge labelled with the sorted op names, because the combine
    is commutative. Nodes are labelled by role: inputs by name (c_{k-2} and
    c_{k-1} differ), intermediate nodes by combine, the output by role.
    """
    labels, edges = _canonical_parts(g)
    h = nx.DiGraph()
    for n, lab in labels.items():
        h.add_node(n, label=lab)
    for (u, v), op in edges.items():
        h.add_edge(u, v, op=op)
    return h


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def wl_hash(labels: dict[str, str], edges: dict[tuple[str, str], str]) -> str:
    """Weisfeiler-Lehman graph hash over node labels and edge labels, in and out edges.

    The same refinement as ``networkx.weisfeiler_lehman_graph_hash`` (each round a
    node's label becomes the hash of its label and the sorted multisets of
    ``(edge label, neighbour label)`` over its in- and out-edges; the graph hash
    is the hash of the sorted label multisets of every round), written here so
    that keys stored in journals do not change with the networkx version
    (networkx 3.5 changed its directed hashes). Runs ``len(labels)`` rounds, enough
    to propagate through any path of the DAG.
    """
    succ: dict[str, list[tuple[str, str]]] = {n: [] for n in labels}
    pred: dict[str, list[tuple[str, str]]] = {n: [] for n in labels}
    for (u, v), op in edges.items():
        succ[u].append((op, v))
        pred[v].append((op, u))
    history = [",".join(sorted(labels.values()))]
    for _ in range(len(labels)):
        labels = {
            n: _digest(
                lab
                + "|" + ",".join(sorted(f"{op}>{labels[v]}" for op, v in succ[n]))
                + "|" + ",".join(sorted(f"{op}<{labels[u]}" for op, u in pred[n]))
            )
            for n, lab in labels.items()
        }
        history.append(",".join(sorted(labels.values())))
    return _digest(";".join(history))


_KEY_CACHE: dict[tuple, str] = {}


def arch_key(arch: Architecture) -> str:
    """Isomorphism-aware key: a Weisfeiler-Lehman hash (:func:`wl_hash`) of each canonical
    cell (:func:`canonical_cell`) over edge ops and node roles, plus blocks and macro."""
    cached = _KEY_CACHE.get(arch.spec)
    if cached is not None:
        return cached
    parts: list[Any] = [arch.space, json.dumps(arch.macro, sort_keys=True, default=str)]
    if arch.cells is not None:
        for name, g in arch.cells.items():
            parts.append((name, wl_hash(*_canonical_parts(g))))
    else:
        parts.append(json.dumps(list(arch.blocks or ()), sort_keys=True, default=str))
    key = hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
    if len(_KEY_CACHE) > 200_000:
        _KEY_CACHE.clear()
    _KEY_CACHE[arch.spec] = key
    return key


__all__ = ["Architecture", "FORMAT", "arch_key", "canonical_cell"]

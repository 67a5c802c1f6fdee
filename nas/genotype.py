"""Parse and format the two de-facto architecture strings of the literature.

* The DARTS ``Genotype(normal=[(op, input), ...], normal_concat=[...], reduce=[...],
  reduce_concat=[...])`` namedtuple repr (Liu et al., "DARTS: Differentiable Architecture
  Search", ICLR 2019; ``cnn/genotypes.py`` of their code). Two consecutive pairs per
  intermediate node; index 0 is c_{k-2}, 1 is c_{k-1}, ≥2 an intermediate node.
  ``range(a, b)`` is accepted for the concat lists. The string is tokenized and parsed,
  **never** ``eval``-ed.
* The NAS-Bench-201 string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (Dong & Yang,
  "NAS-Bench-201", ICLR 2020; ``Structure.tostr`` of their code).

Both parse into :mod:`nas.cell` graphs and format back to the identical string.

Input limits (:mod:`nas.limits`) are checked before the work they bound: the string's
length (``MAX_STRING_CHARS``), the digits of an integer (``MAX_INT_DIGITS``), the bracket
nesting (``MAX_NESTING``) and the items of one list or ``range(...)`` (``MAX_LIST_ITEMS``,
checked before the range is expanded).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

import networkx as nx

from nas.cell import OUT, cell_spec, make_cell, n_inputs_of, node_index, state_name
from nas.errors import InvalidArchitecture
from nas.limits import MAX_INT_DIGITS, MAX_LIST_ITEMS, MAX_NESTING, MAX_STRING_CHARS

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'[^'\\]*'|"[^"\\]*")
      | (?P<int>-?\d+)
      | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
      | (?P<punct>[()\[\],=])
    )""",
    re.VERBOSE,
)

GENOTYPE_FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def _tokenize(text: str) -> list[tuple[str, Any, int]]:
    tokens: list[tuple[str, Any, int]] = []
    pos = 0
    text = text.rstrip()
    if len(text) > MAX_STRING_CHARS:
        raise InvalidArchitecture(f"genotype string: {len(text):,} characters, over the limit of {MAX_STRING_CHARS:,}")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise InvalidArchitecture(
                f"genotype string: unexpected character {text[pos:].lstrip()[:1]!r} at position {pos}"
            )
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "int" and len(raw.lstrip("-")) > MAX_INT_DIGITS:
            raise InvalidArchitecture(
                f"genotype string: integer at position {m.start(kind)} has more than {MAX_INT_DIGITS} digits"
            )
        value: Any = raw[1:-1] if kind == "str" else int(raw) if kind == "int" else raw
        tokens.append((kind, value, m.start(kind)))
        pos = m.end()
    return tokens


class _Parser:
    """Recursive-descent parser for the small literal grammar of a Genotype repr."""

    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0  # open brackets around the value being parsed

    def _peek(self) -> tuple[str, Any, int] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def _expect(self, value: str) -> None:
        tok = self._peek()
        if tok is None or tok[0] != "punct" or tok[1] != value:
            got = "end of string" if tok is None else repr(tok[1])
            at = "" if tok is None else f" at position {tok[2]}"
            raise InvalidArchitecture(f"genotype string: expected {value!r}, got {got}{at}")
        self.i += 1

    def _accept(self, value: str) -> bool:
        tok = self._peek()
        if tok is not None and tok[0] == "punct" and tok[1] == value:
            self.i += 1
            return True
        return False

    def value(self) -> Any:
        tok = self._peek()
        if tok is None:
            raise InvalidArchitecture("genotype string: unexpected end of string")
        kind, val, pos = tok
        if kind in ("str", "int"):
            self.i += 1
            return val
        if kind == "name" and val == "range":
            self.i += 1
            self._expect("(")
            args = self._nested(")", pos)
            if len(args) not in (1, 2) or not all(isinstance(a, int) for a in args):
                raise InvalidArchitecture(f"genotype string: range() takes 1 or 2 integers at position {pos}")
            if len(range(*args)) > MAX_LIST_ITEMS:  # len() of a range allocates nothing
                raise InvalidArchitecture(
                    f"genotype string: range() at position {pos} has more than {MAX_LIST_ITEMS:,} items"
                )
            return list(range(*args))
        if kind == "punct" and val in "[(":
            self.i += 1
            items = self._nested("]" if val == "[" else ")", pos)
            return items if val == "[" else tuple(items)
        raise InvalidArchitecture(f"genotype string: unexpected {val!r} at position {pos}")

    def _nested(self, close: str, pos: int) -> list[Any]:
        """The items up to ``close``, one bracket level deeper (at most ``MAX_NESTING``)."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise InvalidArchitecture(f"genotype string: nested deeper than {MAX_NESTING} levels at position {pos}")
        try:
            return self._items(close)
        finally:
            self.depth -= 1

    def _items(self, close: str) -> list[Any]:
        items: list[Any] = []
        if self._accept(close):
            return items
        while True:
            if len(items) >= MAX_LIST_ITEMS:
                raise InvalidArchitecture(f"genotype string: a list has more than {MAX_LIST_ITEMS:,} items")
            items.append(self.value())
            if self._accept(close):
                return items
            self._expect(",")
            if self._accept(close):  # trailing comma
                return items

    def genotype(self) -> dict[str, Any]:
        tok = self._peek()
        if tok is None or tok[0] != "name" or tok[1] != "Genotype":
            raise InvalidArchitecture("genotype string: must start with 'Genotype('")
        self.i += 1
        self._expect("(")
        fields: dict[str, Any] = {}
        positional = 0
        while not self._accept(")"):
            if fields or positional:
                self._expect(",")
                if self._accept(")"):
                    break
            tok = self._peek()
            nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
            if tok and tok[0] == "name" and nxt and nxt[1] == "=":
                name = tok[1]
                if name not in GENOTYPE_FIELDS:
                    raise InvalidArchitecture(f"genotype string: unknown field {name!r}")
                if name in fields:
                    raise InvalidArchitecture(f"genotype string: field {name!r} given twice")
                self.i += 2
                fields[name] = self.value()
            else:
                if positional >= len(GENOTYPE_FIELDS):
                    raise InvalidArchitecture("genotype string: too many fields")
                fields[GENOTYPE_FIELDS[positional]] = self.value()
                positional += 1
        if self._peek() is not None:
            raise InvalidArchitecture(f"genotype string: trailing text at position {self._peek()[2]}")
        missing = [f for f in GENOTYPE_FIELDS if f not in fields]
        if missing:
            raise InvalidArchitecture(f"genotype string: missing field(s) {', '.join(missing)}")
        return fields


def _pairs_to_cell(pairs: Any, concat: Any, field: str) -> nx.MultiDiGraph:
    if not isinstance(pairs, list) or not pairs:
        raise InvalidArchitecture(f"genotype string: {field} must be a non-empty list of (op, input) pairs")
    for j, p in enumerate(pairs):
        if not (isinstance(p, tuple) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int)):
            raise InvalidArchitecture(f"genotype string: {field}[{j}] must be ('op', input_index), got {p!r}")
    if len(pairs) % 2:
        raise InvalidArchitecture(
            f"genotype string: {field} has {len(pairs)} pairs; two per intermediate node are required"
        )
    n_nodes = len(pairs) // 2
    nodes = []
    for i in range(n_nodes):
        ins = []
        for op, idx in pairs[2 * i : 2 * i + 2]:
            if not 0 <= idx < i + 2:
                raise InvalidArchitecture(
                    f"genotype string: {field} node {i + 2} reads input {idx}; "
                    f"valid inputs are 0..{i + 1}"
                )
            ins.append((op, state_name(idx, 2)))
        nodes.append(("add", ins))
    field_c = f"{field}_concat"
    if not isinstance(concat, list) or not concat or not all(isinstance(c, int) for c in concat):
        raise InvalidArchitecture(f"genotype string: {field_c} must be a non-empty list of integers")
    names = []
    for c in concat:
        if not 2 <= c < n_nodes + 2:
            raise InvalidArchitecture(
                f"genotype string: {field_c} entry {c} is not an intermediate node (2..{n_nodes + 1})"
            )
        names.append(state_name(c, 2))
    if len(set(names)) != len(names):
        raise InvalidArchitecture(f"genotype string: {field_c} repeats a node")
    return make_cell(nodes, names, 2)


def parse_genotype(text: str) -> dict[str, nx.MultiDiGraph]:
    """Parse a DARTS ``Genotype(...)`` string into ``{"normal": cell, "reduce": cell}``."""
    if not isinstance(text, str):
        raise InvalidArchitecture("genotype string: expected a string")
    fields = _Parser(text).genotype()
    return {
        "normal": _pairs_to_cell(fields["normal"], fields["normal_concat"], "normal"),
        "reduce": _pairs_to_cell(fields["reduce"], fields["reduce_concat"], "reduce"),
    }


def format_genotype(cells: Mapping[str, nx.MultiDiGraph]) -> str:
    """Format ``{"normal", "reduce"}`` 2-input, 2-inputs-per-node, ``add`` cells as a Genotype string."""
    parts = []
    for name in ("normal", "reduce"):
        if name not in cells:
            raise InvalidArchitecture(f"Genotype strings need a {name!r} cell")
        g = cells[name]
        if n_inputs_of(g) != 2:
            raise InvalidArchitecture(f"cell {name!r}: Genotype strings need 2-input cells")
        nodes, concat = cell_spec(g)
        pairs = []
        for i, (combine, ins) in enumerate(nodes):
            if combine != "add" or len(ins) != 2:
                raise InvalidArchitecture(
                    f"cell {name!r}, node n{i}: Genotype strings need 2 inputs combined by add"
                )
            pairs += [f"({op!r}, {node_index(src, 2)})" for op, src in ins]
        idx = ", ".join(str(node_index(c, 2)) for c in concat)
        parts.append(f"{name}=[{', '.join(pairs)}], {name}_concat=[{idx}]")
    return f"Genotype({', '.join(parts)})"


_NB201_EDGE = re.compile(r"^([A-Za-z_][A-Za-z_0-9]*)~(\d+)$")


def parse_nb201(text: str) -> nx.MultiDiGraph:
    """Parse ``|op~0|+|op~0|op~1|+...`` into a 1-input cell whose output is the last node."""
    if not isinstance(text, str) or not text.strip():
        raise InvalidArchitecture("NB201 string: empty")
    text = text.strip()
    if len(text) > MAX_STRING_CHARS:
        raise InvalidArchitecture(f"NB201 string: {len(text):,} characters, over the limit of {MAX_STRING_CHARS:,}")
    groups = text.split("+")
    nodes = []
    for j, group in enumerate(groups, start=1):
        if len(group) < 2 or not (group.startswith("|") and group.endswith("|")):
            raise InvalidArchitecture(f"NB201 string: node {j} {group!r} must look like |op~src|...|")
        edges = group[1:-1].split("|")
        ins = []
        seen = set()
        for e in edges:
            m = _NB201_EDGE.match(e)
            if m is None:
                raise InvalidArchitecture(f"NB201 string: node {j}: bad edge {e!r}, expected op~source")
            op, src = m.group(1), int(m.group(2))
            if src >= j:
                raise InvalidArchitecture(
                    f"NB201 string: node {j} reads node {src}; only earlier nodes 0..{j - 1} are allowed"
                )
            if src in seen:
                raise InvalidArchitecture(f"NB201 string: node {j} reads node {src} twice")
            seen.add(src)
            ins.append((op, state_name(src, 1)))
        nodes.append(("add", ins))
    return make_cell(nodes, [f"n{len(nodes) - 1}"], 1)


def format_nb201(g: nx.MultiDiGraph) -> str:
    """Inverse of :func:`parse_nb201`."""
    if n_inputs_of(g) != 1:
        raise InvalidArchitecture("NB201 strings need a 1-input cell")
    nodes, concat = cell_spec(g)
    if list(concat) != [f"n{len(nodes) - 1}"]:
        raise InvalidArchitecture("NB201 strings need the last node as the only output")
    groups = []
    for combine, ins in nodes:
        if combine != "add":
            raise InvalidArchitecture("NB201 strings need add-combined nodes")
        groups.append("|" + "|".join(f"{op}~{node_index(src, 1)}" for op, src in ins) + "|")
    return "+".join(groups)


__all__ = ["parse_genotype", "format_genotype", "parse_nb201", "format_nb201", "OUT"]

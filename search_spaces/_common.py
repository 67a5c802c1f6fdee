"""Small helpers shared by the spaces: build-option checks and cell editing.

Nothing here imports torch. ``lower`` methods call :func:`take_options` first so
that a misspelled option is a :class:`~nas.errors.ConfigError` naming it, before
any model code runs (bad input is one precise message, see the README).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import networkx as nx

from nas.arch import Architecture
from nas.cell import CONCAT_EDGE, OUT, cell_spec, make_cell, n_inputs_of, node_index
from nas.errors import ConfigError, InvalidArchitecture

# A cell in editable form: [[combine, [[op, source], ...]], ...]
EditableNodes = list[list[Any]]


#: build settings every space's ``lower`` takes as named keyword arguments
NAMED_SETTINGS = ("in_channels", "num_classes", "channels", "layers")


def take_options(space: str, given: Mapping[str, Any], accepted: Mapping[str, Any],
                 named: Sequence[str] = ()) -> dict[str, Any]:
    """Merge ``given`` build options over ``accepted`` defaults; unknown keys are a ConfigError.

    ``named`` are the space's other named keyword arguments (listed in the message).
    """
    bad = sorted(set(given) - set(accepted))
    if bad:
        known = sorted({*accepted, *named} - set(NAMED_SETTINGS))
        raise ConfigError(
            f"space {space!r}: build got unexpected option(s) {', '.join(bad)}; "
            f"accepted: {', '.join([*NAMED_SETTINGS, *known])}"
        )
    out = dict(accepted)
    out.update(given)
    return out


def check_int(space: str, name: str, value: Any, minimum: int = 1) -> int:
    """A positive (or ``>= minimum``) integer build option."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"space {space!r}: build option {name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_float(space: str, name: str, value: Any, lo: float, hi: float, hi_open: bool = True) -> float:
    """A real build option in ``[lo, hi)`` (or ``[lo, hi]``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if ok:
        ok = lo <= value < hi if hi_open else lo <= value <= hi
    if not ok:
        bracket = ")" if hi_open else "]"
        raise ConfigError(
            f"space {space!r}: build option {name} must be a number in [{lo}, {hi}{bracket}, got {value!r}"
        )
    return float(value)


def check_bool(space: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"space {space!r}: build option {name} must be true or false, got {value!r}")
    return value


def check_cell_names(space: str, arch: Architecture, names: Sequence[str]) -> None:
    """The architecture has cells (not blocks), exactly ``names``, in that order, and no macro."""
    if arch.cells is None:
        raise InvalidArchitecture(f"space {space!r}: expected cells {list(names)}, got blocks")
    got = list(arch.cells)
    if got != list(names):
        raise InvalidArchitecture(f"space {space!r}: expected cells {list(names)} in that order, got {got}")
    if arch.macro:
        raise InvalidArchitecture(
            f"space {space!r}: takes no macro settings, got {', '.join(sorted(map(str, arch.macro)))}"
        )


def with_concat(g: nx.MultiDiGraph, concat: Sequence[str]) -> nx.MultiDiGraph:
    """A copy of ``g`` whose output concatenates ``concat`` instead.

    Spaces validate a cell with the concat their rule *expects* first (so that a
    wrong concat list never masks a structural error such as a backward edge),
    then compare the actual list with the expected one.
    """
    return set_concat(g.copy(), concat)


def set_concat(g: nx.MultiDiGraph, concat: Sequence[str]) -> nx.MultiDiGraph:
    """Make ``g``'s output concatenate ``concat`` (in place, as :func:`nas.cell.make_cell` would); returns ``g``."""
    if OUT not in g:
        return g
    g.remove_edges_from(list(g.in_edges(OUT, keys=True)))
    g.nodes[OUT]["concat"] = tuple(concat)
    for c in concat:
        g.add_edge(c, OUT, key=0, op=CONCAT_EDGE)
    return g


def editable(g: nx.MultiDiGraph) -> EditableNodes:
    """Mutable copy of a cell's nodes: ``[[combine, [[op, source], ...]], ...]``."""
    nodes, _ = cell_spec(g)
    return [[combine, [[op, src] for op, src in ins]] for combine, ins in nodes]


def assemble(nodes: EditableNodes, concat: Sequence[str], n_inputs: int) -> nx.MultiDiGraph:
    """Inverse of :func:`editable` with a given concat list."""
    return make_cell([(c, [(op, src) for op, src in ins]) for c, ins in nodes], concat, n_inputs)


def flat_cell(g: nx.MultiDiGraph) -> tuple[list[tuple[str, list[tuple[str, int]]]], list[int]]:
    """``(nodes, concat)`` in the flat DARTS indexing that ``nas.nn`` compiles.

    nodes = ``[(combine, [(op, input_index), ...]), ...]`` with 0 = first cell
    input, ``n_inputs + i`` = node ``n{i}``; concat = state indices.
    """
    n_in = n_inputs_of(g)
    nodes, concat = cell_spec(g)
    flat = [(combine, [(op, node_index(src, n_in)) for op, src in ins]) for combine, ins in nodes]
    return flat, [node_index(c, n_in) for c in concat]


def states_before(i: int, n_inputs: int = 2) -> list[str]:
    """Names of the states node ``n{i}`` may read: the cell inputs, then n0..n{i-1}."""
    return [f"in{k}" for k in range(n_inputs)] + [f"n{k}" for k in range(i)]

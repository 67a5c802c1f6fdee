"""Plain-text rendering of architectures for ``nas show`` (torch-free).

A cell is written one intermediate node per line, in the notation of the DARTS
and NASNet papers (DARTS §2.1: a node is the sum of its inputs' operations;
NASNet §3: the combine is add or concat)::

    n2 = sep_conv_3x3(in0) + sep_conv_3x3(in1)      # combine = add
    n3 = concat(avg_pool_3x3(in1), skip_connect(n0)) # combine = concat
    out = concat(n0, n1, n2, n3)

``in0`` is c_{k-2} and ``in1`` c_{k-1} (NB201 cells have only ``in0``, which is
NB201 node 0; ``n{i}`` is NB201 node ``i+1``). Block spaces are written as a table
of their blocks (the space's ``block_label`` names each block's op, if it has one).
Nothing here imports torch or matplotlib.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import networkx as nx

from nas.arch import Architecture
from nas.cell import cell_spec, n_inputs_of
from nas.errors import InvalidArchitecture

#: What each input state of a cell is (DARTS/NASNet convention: Liu et al., ICLR 2019, §2.1).
INPUT_ROLES = {2: {"in0": "c_{k-2}", "in1": "c_{k-1}"}, 1: {"in0": "cell input (NB201 node 0)"}}


def node_lines(g: nx.MultiDiGraph) -> list[str]:
    """``["n0 = op(src) + op(src)", ..., "out = concat(...)"]`` for one cell."""
    nodes, concat = cell_spec(g)
    lines = []
    for i, (combine, ins) in enumerate(nodes):
        terms = [f"{op}({src})" for op, src in ins]
        rhs = f"concat({', '.join(terms)})" if combine == "concat" else " + ".join(terms)
        lines.append(f"n{i} = {rhs}")
    out = concat[0] if len(concat) == 1 else f"concat({', '.join(concat)})"
    lines.append(f"out = {out}")
    return lines


def cell_title(name: str) -> str:
    """``cell`` for a space's only cell (NB201's ``cell``), else ``cell <name>``."""
    return "cell" if name == "cell" else f"cell {name}"


def cell_text(name: str, g: nx.MultiDiGraph) -> list[str]:
    """A titled cell block: the inputs' roles, then one line per node, indented."""
    n_in = n_inputs_of(g)
    roles = INPUT_ROLES.get(n_in, {})
    inputs = ", ".join(f"{k} = {v}" for k, v in roles.items())
    if n_in == 1:
        inputs += "; n{i} = NB201 node i+1"
    return [cell_title(name) + (f"  ({inputs})" if inputs else "")] + [f"  {line}" for line in node_lines(g)]


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> list[str]:
    """A fixed-width text table (right-aligned numbers, left-aligned text)."""
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[c]) for r in cells) for c in range(len(header))]
    numeric = [all(isinstance(row[c], (int, float)) for row in rows) for c in range(len(header))]

    def line(r: list[str]) -> str:
        return indent + "  ".join(v.rjust(w) if num else v.ljust(w) for v, w, num in zip(r, widths, numeric)).rstrip()

    return [line(cells[0]), indent + "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def blocks_text(blocks: Sequence[Mapping[str, Any]], macro: Mapping[str, Any],
                label: Callable[[Mapping[str, Any]], str] | None = None) -> list[str]:
    """A table of a block space's blocks, one row per block, plus the macro line.

    The columns are the blocks' fields in order of first appearance; ``label`` (the space's
    ``block_label``, e.g. ``MBConv6 k3x3`` for the EfficientNet-B0 Table 1 layout) adds an
    ``op`` column.
    """
    fields: list[str] = []
    for b in blocks:
        fields += [str(f) for f in b if str(f) not in fields]
    rows = [[s] + ([label(b)] if label is not None else []) + [b.get(f, "") for f in fields]
            for s, b in enumerate(blocks, start=1)]
    lines = ["blocks (unscaled; the macro coefficients below scale them):" if macro else "blocks:"]
    lines += table(["block", *(["op"] if label is not None else []), *fields], rows)
    if macro:
        lines.append("macro: " + ", ".join(f"{k}={v!r}" for k, v in macro.items()))
    return lines


def arch_strings(arch: Architecture, space: Any) -> dict[str, str]:
    """``{format: string}`` for each of the space's ``text_formats`` that can express ``arch``.

    An architecture a format cannot express (e.g. a NASNet cell with a concat-combined
    node has no ``Genotype(...)`` string) simply has no entry.
    """
    out: dict[str, str] = {}
    for fmt in getattr(space, "text_formats", ()):
        try:
            text = space.to_text(arch, fmt)
        except InvalidArchitecture:
            text = None
        if text is not None:
            out[fmt] = text
    return out


def header_lines(arch: Architecture) -> list[str]:
    lines = []
    name = arch.meta.get("name")
    if name:
        lines.append(f"name:   {name}")
    lines.append(f"space:  {arch.space}")
    lines.append(f"key:    {arch.key}")
    source = arch.meta.get("source")
    if source:
        lines.append(f"source: {' '.join(str(source).split())}")
    return lines


def render_arch(arch: Architecture, space: Any) -> str:
    """The full text of ``nas show`` without the model section."""
    lines = header_lines(arch)
    if arch.cells is not None:
        for name, g in arch.cells.items():
            lines.append("")
            lines += cell_text(name, g)
    else:
        lines.append("")
        lines += blocks_text(arch.blocks or (), arch.macro, getattr(space, "block_label", None))
    titles = getattr(space, "text_titles", {}) or {}
    for fmt, text in arch_strings(arch, space).items():
        lines += ["", f"{titles.get(fmt, fmt)}: {text}"]
    return "\n".join(lines) + "\n"


def human(n: float, digits: int = 1) -> str:
    """``528359040`` → ``528.4M`` (decimal prefixes, as papers quote params and MACs)."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= div:
            return f"{n / div:.{digits}f}{suffix}"
    return str(int(n))


def render_model(m: Mapping[str, Any]) -> str:
    """The model section: what was built, params (without/with auxiliary head) and MACs."""
    settings = ", ".join(f"{k}={v}" for k, v in m["build"].items())
    shape = "x".join(str(d) for d in m["input_shape"])
    aux = m.get("params_with_aux")
    lines = [
        f"model:  {m['model']} ({settings})",
        f"data:   {m['dataset']} ({m['num_classes']} classes, input {shape})",
        f"params: {m['params']:,} ({human(m['params'], 2)})" + (", without the auxiliary head" if aux else ""),
    ]
    if aux is not None:
        lines.append(f"params with auxiliary head: {aux:,} ({human(aux, 2)})")
    lines.append(f"MACs:   {m['macs']:,} ({human(m['macs'])}) per image, conv + linear layers")
    return "\n".join(lines) + "\n"


__all__ = ["INPUT_ROLES", "arch_strings", "blocks_text", "cell_text", "cell_title", "header_lines", "human",
           "node_lines", "render_arch", "render_model", "table"]

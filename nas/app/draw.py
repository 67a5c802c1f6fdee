"""PNG drawings of architectures for ``nas show --png`` (matplotlib, imported lazily).

Each cell is drawn as its DAG, in the style of the DARTS/NASNet paper figures:
inputs on the left, ``out`` on the right, nodes placed in columns by
topological generation (``networkx.topological_generations``), and every edge
labelled with its operation (edges into ``out`` are the dashed concat edges).
Nodes combined by concatenation (NASNet) are drawn in another colour. Block
spaces (``mbconv``) are drawn as the chain stem → stages → head.

Geometry is planned first (:func:`plan_cell`, no matplotlib): each edge gets
the least-curved arc that keeps clear of the other nodes and of the edges
already placed, and each label the first spot along its edge that does not
cover a node or another label. Drawing uses only the object-oriented
matplotlib API with the Agg canvas (no ``pyplot``, no global backend switch)
and returns PNG bytes, so that the caller writes the file atomically. Text that comes from
the architecture (its name, macro values) is drawn as plain text (no mathtext), on one line.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import networkx as nx

from nas.arch import Architecture
from nas.cell import OUT, n_inputs_of
from nas.errors import ConfigError
from nas.app.render import INPUT_ROLES, cell_title

_NODE_COLORS = {"input": "#cfe2f3", "node": "#fff2cc", "concat": "#f9cb9c", "output": "#d9ead3"}
_INPUT_ROLES = {**INPUT_ROLES, 1: {"in0": "input"}}  # a short label under the circle
_RADIUS = 0.28  # node circle radius, data units
_DX, _DY = 1.9, 1.1  # column and row spacing, data units
_RADS = (0.0, 0.18, -0.18, 0.32, -0.32, 0.45, -0.45, 0.6, -0.6)  # arc3 curvatures tried, in order
_INCH = 1.3  # inches per data unit
_LABEL_TS = (0.5, 0.4, 0.6, 0.3, 0.7, 0.45, 0.55, 0.35, 0.65, 0.25, 0.75, 0.2, 0.8)  # label spots tried
_MARGIN = 0.35  # data units around the drawing
Point = tuple[float, float]
Box = tuple[float, float, float, float]


@dataclass
class EdgePlan:
    src: str
    dst: str
    op: str
    rad: float
    label_at: Point | None  # None for the concat edges into ``out``


@dataclass
class CellPlan:
    pos: dict[str, Point]
    edges: list[EdgePlan] = field(default_factory=list)
    bounds: Box = (0.0, 0.0, 0.0, 0.0)  # xmin, ymin, xmax, ymax of everything drawn


def _order(n: str) -> tuple[int, int]:
    if n.startswith("in"):
        return (0, int(n[2:]))
    return (1, int(n[1:])) if n.startswith("n") else (2, 0)


def layout(g: nx.MultiDiGraph) -> dict[str, Point]:
    """Positions: x = topological generation (inputs first, ``out`` last), y centred per column.

    Within a column nodes are ordered by the mean height of their predecessors
    (the barycentre heuristic), which removes most edge crossings.
    """
    gens = [[n for n in gen if n != OUT] for gen in nx.topological_generations(g)]
    gens = [gen for gen in gens if gen] + [[OUT]]
    pos: dict[str, Point] = {}
    for x, gen in enumerate(gens):

        def bary(n: str) -> tuple[float, tuple[int, int]]:
            ys = [pos[u][1] for u in g.predecessors(n) if u in pos]
            return (-sum(ys) / len(ys) if ys else 0.0, _order(n))

        for k, n in enumerate(sorted(gen, key=bary if x else _order)):
            pos[n] = (_DX * x, _DY * ((len(gen) - 1) / 2 - k))
    return pos


def _dist(p: Point, q: Point) -> float:
    return ((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2) ** 0.5


def bezier(p0: Point, p1: Point, rad: float, t: float) -> Point:
    """Point at ``t`` on matplotlib's ``arc3,rad=rad`` curve (a quadratic Bezier; equal aspect)."""
    (x0, y0), (x1, y1) = p0, p1
    cx, cy = (x0 + x1) / 2 + rad * (y1 - y0), (y0 + y1) / 2 - rad * (x1 - x0)
    a, b, c = (1 - t) ** 2, 2 * t * (1 - t), t**2
    return a * x0 + b * cx + c * x1, a * y0 + b * cy + c * y1


def _route(p0: Point, p1: Point, obstacles: list[Point], taken: set[float], drawn: list[Point]) -> float:
    """The curvature of an edge: clear of every other node first, then away from edges already
    placed (points near the edge's own end nodes do not count), then as straight as possible."""
    best: tuple[float, float] | None = None
    for rad in _RADS:
        if rad in taken:  # a parallel edge (NASNet may read one state twice) needs its own arc
            continue
        pts = [bezier(p0, p1, rad, t / 20) for t in range(1, 20)]
        clear = min((min(_dist(p, o) for p in pts) for o in obstacles), default=9.0)
        inner = [p for p in pts if _dist(p, p0) > 0.6 and _dist(p, p1) > 0.6]
        crowd = sum(1 for p in inner for q in drawn if _dist(p, q) < 0.22)
        score = 1000.0 * (clear <= _RADIUS + 0.12) + crowd + 8.0 * abs(rad)
        if best is None or score < best[0]:
            best = (score, rad)
    assert best is not None
    return best[1]


def _label_box(xy: Point, text: str) -> Box:
    w, h = 0.048 * len(text) + 0.08, 0.2  # approximate extent of a 7.5 pt label in data units
    return xy[0] - w / 2, xy[1] - h / 2, xy[0] + w / 2, xy[1] + h / 2


def _overlap(a: Box, b: Box) -> float:
    """Area of the intersection of two boxes."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def plan_cell(g: nx.MultiDiGraph) -> CellPlan:
    """Node positions, edge curvatures and label spots of one cell (no matplotlib)."""
    plan = CellPlan(layout(g))
    pos = plan.pos
    occupied: list[Box] = [(x - _RADIUS, y - _RADIUS - 0.3, x + _RADIUS, y + _RADIUS) for x, y in pos.values()]
    used: dict[tuple[str, str], set[float]] = {}
    drawn: list[Point] = []  # sample points of the edges placed so far
    edges = sorted(g.edges(keys=True, data=True), key=lambda e: (e[1] == OUT, _order(e[1]), _order(e[0]), e[2]))
    for u, v, _, d in edges:
        taken = used.setdefault((u, v), set())
        rad = _route(pos[u], pos[v], [pos[n] for n in g if n not in (u, v)], taken, drawn)
        taken.add(rad)
        drawn += [bezier(pos[u], pos[v], rad, t / 20) for t in range(1, 20)]
        label_at = None
        if v != OUT:  # the spot along the edge where the label covers the least of nodes and labels
            best: tuple[float, Point] | None = None
            for t in _LABEL_TS:
                xy = bezier(pos[u], pos[v], rad, t)
                cover = sum(_overlap(_label_box(xy, d["op"]), o) for o in occupied)
                if best is None or cover < best[0] - 1e-9:
                    best = (cover, xy)
                if cover == 0:
                    break
            assert best is not None
            label_at = best[1]
            occupied.append(_label_box(label_at, d["op"]))
        plan.edges.append(EdgePlan(u, v, d["op"], rad, label_at))
    xs = [p[0] for p in drawn] + [b[0] for b in occupied] + [b[2] for b in occupied]
    ys = [p[1] for p in drawn] + [b[1] for b in occupied] + [b[3] for b in occupied]
    plan.bounds = (min(xs) - _MARGIN, min(ys) - _MARGIN, max(xs) + _MARGIN, max(ys) + _MARGIN)
    return plan


def _matplotlib() -> tuple[Any, Any, Any]:
    try:
        from matplotlib import patches
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ConfigError("--png needs matplotlib, which is not installed (python -m pip install matplotlib)") from None
    return Figure, FigureCanvasAgg, patches


def _op_colors(ops: Sequence[str]) -> dict[str, Any]:
    """One colour per op, the same in every cell of a drawing: tab10's dark colours first."""
    from matplotlib import colormaps

    cmap = colormaps["tab20"]
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return {op: cmap(order[i % 20]) for i, op in enumerate(sorted(ops))}


def _draw_cell(ax: Any, patches: Any, name: str, g: nx.MultiDiGraph, plan: CellPlan,
               colors: Mapping[str, Any]) -> None:
    pos = plan.pos
    roles = _INPUT_ROLES.get(n_inputs_of(g), {})
    circles = {}
    for n, d in g.nodes(data=True):
        role = d.get("role")
        kind = "concat" if role == "node" and d.get("combine") == "concat" else role
        circles[n] = patches.Circle(pos[n], _RADIUS, facecolor=_NODE_COLORS.get(kind, "white"),
                                    edgecolor="black", zorder=3)
        ax.add_patch(circles[n])
        x, y = pos[n]
        ax.text(x, y, n, ha="center", va="center", fontsize=10, fontweight="bold", zorder=4, parse_math=False)
        below = roles.get(n) if role == "input" else ("concat" if kind == "concat" else None)
        if below:
            ax.text(x, y - _RADIUS - 0.06, below, ha="center", va="top", fontsize=8, zorder=4, parse_math=False)
    for e in plan.edges:
        concat = e.label_at is None
        color = "0.55" if concat else colors[e.op]
        ax.annotate(
            "", xy=pos[e.dst], xytext=pos[e.src], zorder=2,
            arrowprops=dict(arrowstyle="-|>", color=color, lw=1.1 if concat else 1.6,
                            linestyle="--" if concat else "-", connectionstyle=f"arc3,rad={e.rad}",
                            patchA=circles[e.src], patchB=circles[e.dst], shrinkA=1, shrinkB=1),
        )
        if e.label_at is not None:
            ax.text(*e.label_at, e.op, ha="center", va="center", fontsize=7.5, color=color, zorder=5, parse_math=False,
                    bbox=dict(boxstyle="round,pad=0.15", facecolor="white", edgecolor=color, alpha=0.9, lw=0.6))
    x0, y0, x1, y1 = plan.bounds
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(_plain_text(cell_title(name)), fontsize=11, loc="left", parse_math=False)


def _draw_blocks(ax: Any, patches: Any, blocks: Sequence[Mapping[str, Any]], macro: Mapping[str, Any]) -> None:
    labels = ["stem\n3x3 conv"]
    for s, b in enumerate(blocks, start=1):
        se = ", SE" if b.get("se") else ""
        labels.append(f"stage {s}\nMBConv{b.get('expand')} k{b.get('kernel')}\n"
                      f"x{b.get('layers')}, {b.get('channels')} ch\nstride {b.get('stride')}{se}")
    labels.append("head\n1x1 conv\npool, fc")
    w, h, gap = 1.5, 1.5, 0.5
    for i, text in enumerate(labels):
        x = i * (w + gap)
        ax.add_patch(patches.FancyBboxPatch((x, 0), w, h, boxstyle="round,pad=0.05", facecolor="#fff2cc",
                                            edgecolor="black"))
        ax.text(x + w / 2, h / 2, text, ha="center", va="center", fontsize=8, parse_math=False)
        if i:
            ax.annotate("", xy=(x, h / 2), xytext=(x - gap, h / 2), arrowprops=dict(arrowstyle="-|>"))
    ax.set_xlim(-0.3, len(labels) * (w + gap))
    ax.set_ylim(-0.3, h + 0.3)
    ax.set_aspect("equal")
    ax.axis("off")
    if macro:
        ax.set_title(_plain_text("macro: " + ", ".join(f"{k}={v}" for k, v in macro.items())), fontsize=9, loc="left",
                     parse_math=False)


def draw_arch(arch: Architecture, title: str | None = None, dpi: int = 110) -> bytes:
    """PNG bytes of ``arch``: one row per cell (or the block chain). Raises ConfigError without matplotlib."""
    Figure, FigureCanvasAgg, patches = _matplotlib()
    head = 0.35  # inches for each title line
    if arch.cells is not None:
        cells = list(arch.cells.items())
        plans = [plan_cell(g) for _, g in cells]
        width = max(p.bounds[2] - p.bounds[0] for p in plans)
        heights = [p.bounds[3] - p.bounds[1] for p in plans]
        fig_h = _INCH * sum(heights) + head * (len(cells) + 1)
        fig = Figure(figsize=(_INCH * width, fig_h))
        axes = fig.subplots(len(cells), 1, squeeze=False, gridspec_kw={"height_ratios": heights})[:, 0]
        fig.subplots_adjust(left=0, right=1, bottom=0, top=1 - 2 * head / fig_h,
                            hspace=head * len(cells) / (_INCH * sum(heights)))
        colors = _op_colors({e.op for p in plans for e in p.edges if e.label_at is not None})
        for ax, (name, g), plan in zip(axes, cells, plans):
            _draw_cell(ax, patches, name, g, plan, colors)
    else:
        fig = Figure(figsize=(2.0 * (len(arch.blocks or ()) + 2), 2.6))
        _draw_blocks(fig.subplots(), patches, arch.blocks or (), arch.macro)
    name = _plain_text(str(title or arch.meta.get("name") or arch.space))
    fig.suptitle(f"{name}  (space {arch.space}, key {arch.key})", fontsize=11, y=1 - 0.08 / fig.get_figheight(),
                 va="top", parse_math=False)
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    except (ValueError, RuntimeError, OverflowError, MemoryError) as e:  # e.g. an image too large to raster
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ConfigError(f"cannot draw the architecture: {first}") from None
    return buf.getvalue()


def _plain_text(text: str, limit: int = 120) -> str:
    """User text (names, macro values) as one short line; drawn with ``parse_math=False``, so
    ``$...$`` is shown as typed instead of being parsed as TeX by mathtext."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


__all__ = ["CellPlan", "EdgePlan", "bezier", "draw_arch", "layout", "plan_cell"]

"""The NAS-Bench-201 cell space (Dong & Yang, ICLR 2020, §2.1).

One cell with a single input (node 0) and three computed nodes 1–3; node j
sums op(node i) over *all* earlier nodes i, so the cell has all six edges
1←0, 2←0, 2←1, 3←0, 3←1, 3←2, each carrying one of five ops, and its output
is node 3: 5^6 = 15,625 cells. In :mod:`nas.cell` terms the NB201 nodes
0, 1, 2, 3 are ``in0``, ``n0``, ``n1``, ``n2``, and the only concat entry is
``n2``. The architecture holds one cell named ``cell``.

The six decisions are the edge ops in the order of the NB201 string
``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (AutoDL ``Structure.tostr``);
:meth:`Nb201Space.to_string` / :meth:`Nb201Space.from_string` convert to and
from that string, which is how the tabular evaluator looks architectures up; it is the
space's text format ``nb201`` (:meth:`Nb201Space.from_text` / :meth:`Nb201Space.to_text`).
Mutation changes one edge's op (the REA mutation of the NB201 paper, §5).
"""
from __future__ import annotations

import itertools
import random
from typing import Any, ClassVar, Sequence

from nas.arch import Architecture, canonical_parts, wl_hash
from nas.cell import OUT, check_cell, node_inputs, state_name
from nas.errors import InvalidArchitecture
from nas.genotype import format_nb201, parse_nb201
from nas.spec import ModelSpec
from nas.types import Decision
from nas.settings import space_defaults
from search_spaces._common import (
    assemble,
    check_cell_names,
    check_int,
    editable,
    flat_cell,
    take_options,
    with_concat,
)
from search_spaces.base import SearchSpace

#: AutoDL ``NAS_BENCH_201`` op list, in its order (Dong & Yang, ICLR 2020, §2.1).
NB201_OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: Edges (to, from) in NB201 node numbers, in NB201 string order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
CELL = "cell"
N_NODES = 3


class Nb201Space(SearchSpace):
    """NAS-Bench-201: 1-input cell, 3 nodes, all 6 edges, 5 ops, output = last node (15,625 cells)."""

    name = "nb201"
    ops = NB201_OPS
    #: ``"*"``: the benchmark's TinyNetwork(C=16, N=5), also for its ImageNet16-120 setting
    #: (16×16 inputs); ``digits``: a tiny proxy (C=8, 1 cell per stage).
    build_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "*": {"channels": 16, "layers": 5, "stem_stride": 1},
        "digits": {"channels": 8, "layers": 1},
    }
    text_formats = ("nb201",)
    text_titles = {"nb201": "NB201 string"}
    _distinct_keys: ClassVar[int | None] = None

    # -- flat categorical view --------------------------------------------------------
    def decisions(self) -> list[Decision]:
        """The six edge ops, named ``j<-i``, in NB201 string order."""
        return [Decision(f"{j}<-{i}", self.ops) for j, i in EDGES]

    def encode(self, arch: Architecture) -> list[int]:
        self.ensure_valid(arch)
        assert arch.cells is not None
        nodes = editable(arch.cells[CELL])
        return [self.ops.index(op) for _, ins in nodes for op, _ in ins]

    def decode(self, choices: Sequence[int]) -> Architecture:
        c = self.check_choices(choices)
        nodes: list[list[Any]] = [["add", []] for _ in range(N_NODES)]
        for (j, i), k in zip(EDGES, c):
            nodes[j - 1][1].append([self.ops[k], state_name(i, 1)])
        return Architecture(self.name, cells={CELL: assemble(nodes, [state_name(N_NODES, 1)], 1)})

    def mutate(self, arch: Architecture, rng: random.Random) -> Architecture:
        """Change one uniformly chosen edge to a different op (NB201 REA mutation)."""
        choices = self.encode(arch)
        e = rng.randrange(len(EDGES))
        choices[e] = rng.choice([k for k in range(len(self.ops)) if k != choices[e]])
        return self.decode(choices)

    # -- validation ---------------------------------------------------------------------
    def validate(self, arch: Architecture) -> None:
        self.check_space(arch)
        check_cell_names(self.name, arch, (CELL,))
        assert arch.cells is not None
        g = arch.cells[CELL]
        where = f"cell {CELL!r}"
        last = state_name(N_NODES, 1)
        check_cell(
            with_concat(g, [last]) if last in g else g,
            where=where,
            ops=self.ops,
            n_inputs=1,
            n_nodes=N_NODES,
            combines=("add",),
            distinct_inputs=True,
        )
        for j in range(1, N_NODES + 1):
            srcs = [s for _, s in node_inputs(g, state_name(j, 1))]
            want = [state_name(i, 1) for i in range(j)]
            if srcs != want:
                raise InvalidArchitecture(
                    f"{where}, node {state_name(j, 1)}: NB201 node {j} must read every earlier node once, "
                    f"in order {want}, got {srcs}"
                )
        concat = list(g.nodes[OUT].get("concat", ()))
        if concat != [last]:
            raise InvalidArchitecture(f"{where}: concat must be [{last!r}] (the output is the last node), got {concat}")

    # -- NB201 strings --------------------------------------------------------------
    def to_string(self, arch: Architecture) -> str:
        """The NB201 arch string, e.g. ``|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|...|``."""
        self.ensure_valid(arch)
        assert arch.cells is not None
        return format_nb201(arch.cells[CELL])

    def from_string(self, text: str) -> Architecture:
        """Parse and validate an NB201 arch string."""
        arch = Architecture(self.name, cells={CELL: parse_nb201(text)})
        try:
            self.ensure_valid(arch)
        except InvalidArchitecture as e:
            raise InvalidArchitecture(f"NB201 string: {e}") from None
        return arch

    def all_archs(self) -> list[Architecture]:
        """Every cell of the space, in choice-vector (base-5) order."""
        return [self.decode(list(c)) for c in itertools.product(range(len(self.ops)), repeat=len(EDGES))]

    def distinct_keys(self) -> int:
        """Number of non-isomorphic cells: distinct cell hashes over all 15,625 cells.

        Uses the key's own canonicalization and hash (:func:`nas.arch.canonical_parts`,
        :func:`nas.arch.wl_hash`) on plain data, skipping graph construction (~1 s).
        """
        cls = type(self)
        if cls._distinct_keys is None:
            labels = {"in0": "in0", **{state_name(j, 1): "node:add" for j in range(1, N_NODES + 1)}, OUT: "out"}
            hashes = set()
            for ops in itertools.product(self.ops, repeat=len(EDGES)):
                edges = [(state_name(i, 1), state_name(j, 1), op) for (j, i), op in zip(EDGES, ops)]
                edges.append((state_name(N_NODES, 1), OUT, "concat"))
                hashes.add(wl_hash(*canonical_parts(labels, edges)))
            cls._distinct_keys = len(hashes)
        return cls._distinct_keys

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d["distinct_keys"] = self.distinct_keys()
        return d

    def accepts_text(self, text: str) -> bool:
        return text.lstrip().startswith("|")

    def from_text(self, text: str) -> Architecture:
        return self.from_string(text.strip())

    def to_text(self, arch: Architecture, fmt: str | None = None) -> str | None:
        if fmt not in (None, "nb201"):
            return None
        try:
            return self.to_string(arch)
        except InvalidArchitecture:
            return None

    # -- path encoding (BANANAS, White et al., AAAI 2021, §5) ------------------------------
    #: the cell's four input-to-output paths as edge indices into ``EDGES``: 0->3, 0->1->3, 0->2->3, 0->1->2->3
    PATHS: ClassVar[tuple[tuple[int, ...], ...]] = ((3,), (0, 4), (1, 5), (0, 2, 5))

    def path_encoding(self, arch: Architecture) -> list[int]:
        """One entry per (path, sequence of non-``none`` ops on it): 4 + 16 + 16 + 64 = 100 entries;
        1 where the cell computes that path (a ``none`` edge cuts every path through it)."""
        choices = self.encode(arch)
        real = len(self.ops) - 1  # op 0 is "none"
        out: list[int] = []
        for path in self.PATHS:
            block = [0] * real ** len(path)
            ops = [choices[e] for e in path]
            if all(k > 0 for k in ops):
                idx = 0
                for k in ops:
                    idx = idx * real + (k - 1)
                block[idx] = 1
            out += block
        return out

    # -- the model ------------------------------------------------------------------------
    def lower(self, arch: Architecture, *, in_channels: int = 3, num_classes: int = 10, channels: int | None = None,
              layers: int | None = None, **options: Any) -> ModelSpec:
        """``TinyNetwork`` (Dong & Yang, ICLR 2020, Fig. 1): ``channels`` = C, ``layers`` = cells per stage N.

        Defaults (``build_defaults["*"]``): C=16, N=5. Option: ``stem_stride`` (default 1).
        """
        everywhere = space_defaults(self)
        opts = take_options(self.name, options, {"stem_stride": everywhere["stem_stride"]})
        C = check_int(self.name, "channels", everywhere["channels"] if channels is None else channels)
        N = check_int(self.name, "layers", everywhere["layers"] if layers is None else layers)
        kwargs = {"C": C, "N": N, "num_classes": check_int(self.name, "num_classes", num_classes),
                  "in_channels": check_int(self.name, "in_channels", in_channels),
                  "stem_stride": check_int(self.name, "stem_stride", opts["stem_stride"])}
        self.ensure_valid(arch)
        assert arch.cells is not None
        nodes = [pairs for _, pairs in flat_cell(arch.cells[CELL])[0]]
        return ModelSpec("TinyNetwork", (nodes,), kwargs)

    # -- one-shot search: the supernet this space offers (strategies.oneshot) ----------------
    #: supernet size: the NB201 search network's C=16, N=5 (Dong & Yang, ICLR 2020, §5); tiny on digits
    supernet_defaults: ClassVar[dict[str, dict[str, Any]]] = {
        "*": {"channels": 16, "layers": 5}, "digits": {"channels": 8, "layers": 1}}

    def supernet(self, **settings: Any) -> Any:
        """The NB201 search network (``nas.nn.supernet_nb201.NB201Supernet``; Dong & Yang 2020, §5).

        A mixed op over all five ops (``none`` included) on each of the six edges, one shared
        ``(6, 5)`` α matrix. Settings: ``channels`` (C, 16), ``layers`` (cells per stage N, 5),
        ``num_classes`` (10), ``in_channels`` (3), ``alpha_init`` (``randn``: 1e-3·randn as the
        DARTS code, default; ``zeros``).
        """
        from nas.errors import ConfigError

        opts = take_options(self.name, settings, {"channels": 16, "num_classes": 10, "layers": 5,
                                                  "in_channels": 3, "alpha_init": "randn"})
        for key in ("channels", "num_classes", "layers", "in_channels"):
            check_int(self.name, key, opts[key])
        if opts["alpha_init"] not in ("randn", "zeros"):
            raise ConfigError(f"space 'nb201': supernet option alpha_init must be 'randn' or 'zeros', "
                              f"got {opts['alpha_init']!r}")
        from nas.nn.supernet_nb201 import NB201Supernet

        return NB201Supernet(opts["channels"], opts["layers"], opts["num_classes"], in_channels=opts["in_channels"],
                             alpha_init=opts["alpha_init"], primitives=self.ops)

    def derive(self, supernet: Any, meta: dict[str, Any] | None = None) -> Architecture:
        """The NB201 rule (Dong & Yang 2020, §5): on every edge the op of largest weight, ``none`` included.

        ``meta`` gains the NB201 string (``nb201``) of the derived cell.
        """
        nodes = [["add", [[op, state_name(i, 1)] for op, i in pairs]] for pairs in supernet.genotype()]
        arch = Architecture(self.name, cells={CELL: assemble(nodes, [state_name(N_NODES, 1)], 1)})
        self.ensure_valid(arch)
        return Architecture(self.name, cells=arch.cells, meta={**dict(meta or {}), "nb201": self.to_string(arch)})


def to_string(arch: Architecture) -> str:
    """Module-level shortcut for :meth:`Nb201Space.to_string`."""
    return Nb201Space().to_string(arch)


def from_string(text: str) -> Architecture:
    """Module-level shortcut for :meth:`Nb201Space.from_string`."""
    return Nb201Space().from_string(text)

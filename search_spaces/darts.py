"""The DARTS CNN search space, discrete form (Liu et al., ICLR 2019, §2.1, §3.1.1).

A normal and a reduction cell with 4 intermediate nodes. Node ``n{i}`` reads
two *distinct* earlier states (c_{k-2}, c_{k-1}, n0..n{i-1}) through one of the
7 non-zero DARTS ops each and adds them; the cell output concatenates all four
intermediate nodes. ``none`` (the zero op) is a supernet primitive only: derived
genotypes exclude it (Liu et al., ICLR 2019, §2.4), so discrete architectures never use it.
:data:`PRIMITIVES` is the one table of DARTS op names (each one an op of ``nas.nn.ops``,
which defines it); :data:`DARTS_OPS` is derived from it.

Flat categorical view: per cell, per node, first the node's *unordered* input
pair as one categorical over the C(i+2, 2) pairs, then the op applied to the
lower-indexed state of the pair (``op_a``) and to the higher one (``op_b``).
Every choice vector therefore decodes to a valid architecture, and the space
has ∏_{i=0..3} C(i+2, 2)·7² = 1,037,664,180 ≈ 10^9 encodings per cell, the
count of DARTS §3.1.1 / App. C (≈ 10^18 for the pair of cells).

Genotypes derived by DARTS list a node's two edges strongest first, so the
slot order of a literature genotype may differ from the canonical (index)
order that :meth:`DartsSpace.decode` produces; such architectures encode fine
and ``decode(encode(a))`` has the same ``.key`` (not the same ``.spec``).
"""
from __future__ import annotations

from typing import Any

from nas.arch import Architecture
from nas.cell import state_name
from nas.errors import ConfigError, InvalidArchitecture
from search_spaces._common import check_int, take_options
from search_spaces.cellspace import CELL_NAMES, TwoInputCellSpace, input_sets

#: quark0/darts ``PRIMITIVES`` in its order ('none' first): the columns of the
#: supernet's alpha matrices (Liu et al., ICLR 2019, §3.1.1). Keep this order.
PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: Ops of discrete DARTS architectures: PRIMITIVES without 'none' (the zero op of the supernet).
DARTS_OPS: tuple[str, ...] = tuple(op for op in PRIMITIVES if op != "none")
N_NODES = 4


class DartsSpace(TwoInputCellSpace):
    """DARTS cells: 4 nodes, 2 distinct inputs each, 7 non-zero ops, add, concat of all nodes."""

    name = "darts"
    ops = DARTS_OPS
    primitives = PRIMITIVES
    n_nodes = N_NODES
    combines = ("add",)
    distinct_inputs = True
    mutation_kinds = ("hidden", "op")
    output = "all"
    concat_rule = "DARTS rule: all intermediate nodes, in index order"
    none_hint = "'none' is a supernet-only primitive; derived genotypes exclude it"

    def size_per_cell(self) -> int:
        """∏_{i} C(i+2, 2)·7² (DARTS App. C: ≈10^9)."""
        n = 1
        for i in range(self.n_nodes):
            n *= len(input_sets(i, self.arity)) * len(self.ops) ** self.arity
        return n

    # -- one-shot search: the supernet this space offers (strategies.oneshot) ----------------
    #: supernet size: quark0's C=16, 8 cells (Liu et al. 2019, §3.1.1); a tiny proxy on digits
    supernet_defaults = {"*": {"channels": 16, "layers": 8}, "digits": {"channels": 8, "layers": 3}}

    def supernet(self, **settings: Any) -> Any:
        """The DARTS search network (``nas.nn.supernet.DartsSupernet``; Liu et al. 2019, §2.2).

        Settings: ``channels`` (C, default 16), ``layers`` (cells, 8), ``num_classes`` (10),
        ``in_channels`` (3) and ``alpha_init`` (``randn``: the released code's ``1e-3·randn``,
        default; ``zeros``: the paper's, App. A.1.1). ``supernet(channels=16, layers=8)`` has
        the released code's 1,930,618 weights (alphas excluded).
        """
        opts = take_options(self.name, settings, {"channels": 16, "num_classes": 10, "layers": 8,
                                                  "in_channels": 3, "alpha_init": "randn"})
        for key in ("channels", "num_classes", "layers", "in_channels"):
            check_int(self.name, key, opts[key])
        if opts["alpha_init"] not in ("randn", "zeros"):
            raise ConfigError(f"space 'darts': supernet option alpha_init must be 'randn' or 'zeros', "
                              f"got {opts['alpha_init']!r}")
        from nas.nn.supernet import DartsSupernet

        return DartsSupernet(opts["channels"], opts["num_classes"], opts["layers"], in_channels=opts["in_channels"],
                             alpha_init=opts["alpha_init"], primitives=PRIMITIVES)

    def derive(self, supernet: Any, meta: dict[str, Any] | None = None) -> Architecture:
        """The DARTS rule (Liu et al. 2019, §2.4): per node the 2 strongest edges, by their strongest
        non-``none`` op (``DartsSupernet.genotype``); ``meta`` gains the ``Genotype(...)`` string."""
        arch = self.from_derived(supernet.genotype(), meta)
        return Architecture(arch.space, cells=arch.cells, meta={**arch.meta, "genotype": self.to_genotype(arch)})

    def from_derived(self, genotype: dict[str, Any], meta: dict[str, Any] | None = None) -> Architecture:
        """The Architecture of a derived genotype (``DartsSupernet.genotype()``), slot order kept.

        ``genotype`` holds the released code's flat ``(op, input_index)`` pairs, two per node,
        strongest first; the concat is the DARTS rule (all four nodes).
        """
        cells = {}
        for cell in CELL_NAMES:
            pairs = list(genotype[cell])
            if len(pairs) != 2 * self.n_nodes:
                raise InvalidArchitecture(f"derived {cell} cell: expected {2 * self.n_nodes} edges, got {len(pairs)}")
            cells[cell] = [["add", [[op, state_name(int(j), 2)] for op, j in pairs[2 * i:2 * i + 2]]]
                           for i in range(self.n_nodes)]
        arch = self.from_nodes(cells)
        arch = Architecture(self.name, cells=arch.cells, meta=dict(meta or {}))
        self.ensure_valid(arch)
        return arch

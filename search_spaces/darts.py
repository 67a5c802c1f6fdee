"""The DARTS CNN search space, discrete form (Liu et al. 2019, §2.1, §3.1.1; REFERENCE §1.1, §4.2).

A normal and a reduction cell with 4 intermediate nodes. Node ``n{i}`` reads
two *distinct* earlier states (c_{k-2}, c_{k-1}, n0..n{i-1}) through one of the
7 non-zero DARTS ops each and adds them; the cell output concatenates all four
intermediate nodes. ``none`` (the zero op) is a supernet primitive only: derived
genotypes exclude it (REFERENCE §4.2), so discrete architectures never use it.

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

from itertools import combinations
from typing import Sequence

import networkx as nx

from nas.arch import Architecture
from nas.cell import inner_nodes, node_index
from nas.errors import InvalidArchitecture
from nas.types import Decision
from search_spaces._common import editable, states_before
from search_spaces.cellspace import CELL_NAMES, TwoInputCellSpace

#: quark0/darts ``PRIMITIVES`` in its order ('none' first): the columns of the
#: supernet's alpha matrices (REFERENCE §1.1). Keep this order.
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
#: Ops of discrete DARTS architectures: PRIMITIVES without 'none'.
DARTS_OPS: tuple[str, ...] = PRIMITIVES[1:]
N_NODES = 4


def input_pairs(i: int) -> list[tuple[str, str]]:
    """Unordered input pairs of node ``n{i}``, lower index first, in lexicographic order."""
    return list(combinations(states_before(i), 2))


class DartsSpace(TwoInputCellSpace):
    """DARTS cells: 4 nodes, 2 distinct inputs each, 7 non-zero ops, add, concat of all nodes."""

    name = "darts"
    ops = DARTS_OPS
    primitives = PRIMITIVES
    n_nodes = N_NODES
    combines = ("add",)
    distinct_inputs = True
    mutation_kinds = ("hidden", "op")
    concat_rule = "DARTS rule: all intermediate nodes, in index order"

    def expected_concat(self, g: nx.MultiDiGraph) -> list[str]:
        return inner_nodes(g)

    # -- flat categorical view ----------------------------------------------------
    def decisions(self) -> list[Decision]:
        """Per cell, per node: inputs (unordered pair), op_a (lower input), op_b (higher input)."""
        out = []
        for cell in CELL_NAMES:
            for i in range(self.n_nodes):
                p = f"{cell}.n{i}"
                pairs = tuple(f"{a},{b}" for a, b in input_pairs(i))
                out += [
                    Decision(f"{p}.inputs", pairs),
                    Decision(f"{p}.op_a", self.ops),
                    Decision(f"{p}.op_b", self.ops),
                ]
        return out

    def encode(self, arch: Architecture) -> list[int]:
        self.ensure_valid(arch)
        assert arch.cells is not None
        choices: list[int] = []
        for cell in CELL_NAMES:
            for i, (_, ins) in enumerate(editable(arch.cells[cell])):
                lo, hi = sorted(ins, key=lambda e: node_index(e[1], 2))
                choices += [
                    input_pairs(i).index((lo[1], hi[1])),
                    self.ops.index(lo[0]),
                    self.ops.index(hi[0]),
                ]
        return choices

    def decode(self, choices: Sequence[int]) -> Architecture:
        c = self.check_choices(choices)
        cells = {}
        k = 0
        for cell in CELL_NAMES:
            nodes = []
            for i in range(self.n_nodes):
                pair, op_a, op_b = c[k : k + 3]
                k += 3
                a, b = input_pairs(i)[pair]
                nodes.append(["add", [[self.ops[op_a], a], [self.ops[op_b], b]]])
            cells[cell] = nodes
        return self.from_nodes(cells)

    def _extra_checks(self, g: nx.MultiDiGraph, where: str) -> None:
        for _, v, d in g.edges(data=True):
            if v != "out" and d.get("op") == "none":
                raise InvalidArchitecture(
                    f"{where}, node {v}: unknown op 'none' for space 'darts' "
                    "('none' is a supernet-only primitive; derived genotypes exclude it)"
                )

    def size_per_cell(self) -> int:
        """∏_{i} C(i+2, 2)·7² (DARTS App. C: ≈10^9)."""
        n = 1
        for i in range(self.n_nodes):
            n *= len(input_pairs(i)) * len(self.ops) ** 2
        return n

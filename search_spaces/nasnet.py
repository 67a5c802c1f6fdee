"""The NASNet search space (Zoph et al. 2018, CVPR, §3; REFERENCE §1.2).

A normal and a reduction cell, each with B=5 intermediate nodes ("blocks").
Every block makes the controller's five predictions (NASNet §3, Fig. 3):

1. input a: any earlier state (c_{k-2}, c_{k-1} or an earlier block);
2. input b: likewise (the same state as input a is allowed, e.g. NASNet-A's
   ``avg_pool(h)+avg_pool(h)``);
3. op a and 4. op b: one of the 13 NASNet operations;
5. combine: element-wise ``add`` or ``concat`` along the filter dimension.

That is 2×5B predictions for the two cells. The cell output concatenates every
intermediate node that no other node consumes ("all unused hidden states",
NASNet §3). Deviation: the TF reference also concatenates an unused *cell
input* (REFERENCE §2.3); like quark0/darts' transcriptions this space
concatenates intermediate nodes only, so the input states never enter ``out``.
"""
from __future__ import annotations

from typing import Sequence

import networkx as nx

from nas.arch import Architecture
from nas.cell import COMBINES, unused_nodes
from nas.types import Decision
from search_spaces._common import editable, states_before
from search_spaces.cellspace import CELL_NAMES, TwoInputCellSpace

#: The 13 NASNet operations in the order of NASNet §3, named as in ``nas.nn.ops``.
NASNET_OPS: tuple[str, ...] = (
    "skip_connect",  # identity
    "conv_3x1_1x3",  # 1x3 then 3x1 convolution
    "conv_7x1_1x7",  # 1x7 then 7x1 convolution
    "dil_conv_3x3",  # 3x3 dilated convolution
    "avg_pool_3x3",
    "max_pool_3x3",
    "max_pool_5x5",
    "max_pool_7x7",
    "conv_1x1",
    "conv_3x3",
    "sep_conv_3x3",  # 3x3 depthwise-separable conv
    "sep_conv_5x5",
    "sep_conv_7x7",
)
N_NODES = 5


class NasnetSpace(TwoInputCellSpace):
    """NASNet cells: B=5 blocks, 2 inputs each (repeats allowed), 13 ops, add|concat, unused-node output."""

    name = "nasnet"
    ops = NASNET_OPS
    n_nodes = N_NODES
    combines = COMBINES
    distinct_inputs = False
    mutation_kinds = ("hidden", "op", "combine")
    concat_rule = "NASNet rule: the intermediate nodes no other node consumes, in index order"
    none_hint = f"NASNet's identity is 'skip_connect'; known: {', '.join(NASNET_OPS)}"

    def expected_concat(self, g: nx.MultiDiGraph) -> list[str]:
        return unused_nodes(g)

    # -- flat categorical view ----------------------------------------------------
    def decisions(self) -> list[Decision]:
        """Per cell, per block: input_a, input_b, op_a, op_b, combine (NASNet's 5 steps)."""
        out = []
        for cell in CELL_NAMES:
            for i in range(self.n_nodes):
                states = tuple(states_before(i))
                p = f"{cell}.n{i}"
                out += [
                    Decision(f"{p}.input_a", states),
                    Decision(f"{p}.input_b", states),
                    Decision(f"{p}.op_a", self.ops),
                    Decision(f"{p}.op_b", self.ops),
                    Decision(f"{p}.combine", self.combines),
                ]
        return out

    def encode(self, arch: Architecture) -> list[int]:
        self.ensure_valid(arch)
        assert arch.cells is not None
        choices: list[int] = []
        for cell in CELL_NAMES:
            for i, (combine, ins) in enumerate(editable(arch.cells[cell])):
                states = states_before(i)
                (op_a, src_a), (op_b, src_b) = ins
                choices += [
                    states.index(src_a),
                    states.index(src_b),
                    self.ops.index(op_a),
                    self.ops.index(op_b),
                    self.combines.index(combine),
                ]
        return choices

    def decode(self, choices: Sequence[int]) -> Architecture:
        c = self.check_choices(choices)
        cells = {}
        k = 0
        for cell in CELL_NAMES:
            nodes = []
            for i in range(self.n_nodes):
                states = states_before(i)
                a, b, op_a, op_b, comb = c[k : k + 5]
                k += 5
                nodes.append([self.combines[comb], [[self.ops[op_a], states[a]], [self.ops[op_b], states[b]]]])
            cells[cell] = nodes
        return self.from_nodes(cells)

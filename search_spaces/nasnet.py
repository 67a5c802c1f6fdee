"""The NASNet search space (Zoph et al., CVPR 2018, §3).

A normal and a reduction cell, each with B=5 intermediate nodes ("blocks").
Every block makes the controller's five predictions (NASNet §3, Fig. 3):

1. input a: any earlier state (c_{k-2}, c_{k-1} or an earlier block);
2. input b: likewise (the same state as input a is allowed, e.g. NASNet-A's
   ``avg_pool(h)+avg_pool(h)``);
3. op a and 4. op b: one of the 13 NASNet operations;
5. combine: element-wise ``add`` or ``concat`` along the filter dimension.

That is 2×5B predictions for the two cells, which is exactly the generic flat view of
:class:`~search_spaces.cellspace.TwoInputCellSpace` (``input_a``, ``input_b``, ``op_a``,
``op_b``, ``combine`` per block). The cell output concatenates every intermediate node
that no other node consumes ("all unused hidden states", NASNet §3). Deviation: the TF
reference also concatenates an unused *cell input*; like quark0/darts' transcriptions
this space concatenates intermediate nodes only, so the input states never enter ``out``.
"""
from __future__ import annotations

from nas.cell import COMBINES
from search_spaces.cellspace import TwoInputCellSpace

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
    output = "unused"
    mutation_kinds = ("hidden", "op", "combine")
    concat_rule = "NASNet rule: the intermediate nodes no other node consumes, in index order"
    none_hint = f"NASNet's identity is 'skip_connect'; known: {', '.join(NASNET_OPS)}"

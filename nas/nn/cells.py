"""A compiled two-input cell (quark0/darts ``cnn/model.py`` ``Cell``; Liu et al., ICLR 2019, §2.1).

The cell is described with plain data so that it can be rebuilt from a standalone
``model.py``:

* ``nodes``: ``[(combine, [(op, input_index), ...]), ...]``, one entry per
  intermediate node, with DARTS flat indexing: 0 = c_{k-2}, 1 = c_{k-1}, 2+i = node i.
  A node may have any number of inputs and may read the same state twice.
* ``combine``: ``"add"`` (sum, width C) or ``"concat"`` (channel concat, width k*C for
  k inputs). Ops reading a wider state map its width down to C.
* ``concat``: the state indices concatenated into the cell output.

Module names (``preprocess0``, ``preprocess1``, ``_ops``) and the op order follow
quark0, so parameter counts (and state-dict keys) match the reference.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn

from nas.nn.ops import FactorizedReduce, Identity, ReLUConvBN, make_op

COMBINES = ("add", "concat")


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Per-sample drop path (quark0 ``utils.drop_path``): zero whole samples, rescale by 1/keep."""
    keep = 1.0 - drop_prob
    mask = torch.empty((x.size(0), 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(keep)
    return x / keep * mask


def _check_cell_spec(nodes, concat) -> Tuple[List[Tuple[str, List[Tuple[str, int]]]], List[int]]:
    """Normalise ``nodes``/``concat`` to lists and check the DAG shape; ``ValueError`` if bad."""
    clean: List[Tuple[str, List[Tuple[str, int]]]] = []
    for j, node in enumerate(nodes):
        if not isinstance(node, (list, tuple)) or len(node) != 2:
            raise ValueError(f"cell node {j}: expected (combine, [(op, input), ...]), got {node!r}")
        combine, inputs = node
        if combine not in COMBINES:
            raise ValueError(f"cell node {j}: combine must be one of {COMBINES}, got {combine!r}")
        if not isinstance(inputs, (list, tuple)) or len(inputs) == 0:
            raise ValueError(f"cell node {j}: needs at least one (op, input) pair, got {inputs!r}")
        pairs: List[Tuple[str, int]] = []
        for pair in inputs:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"cell node {j}: expected an (op, input_index) pair, got {pair!r}")
            op, index = pair
            if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 2 + j:
                raise ValueError(f"cell node {j} (state {2 + j}): input index {index!r} is not an "
                                 f"earlier state (valid: 0..{1 + j})")
            pairs.append((str(op), index))
        clean.append((combine, pairs))
    if len(clean) == 0:
        raise ValueError("a cell needs at least one intermediate node")
    concat_list = list(concat)
    if len(concat_list) == 0:
        raise ValueError("cell concat list is empty")
    for c in concat_list:
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < 2 + len(clean):
            raise ValueError(f"cell concat entry {c!r} is not a state index (valid: 0..{1 + len(clean)})")
    return clean, concat_list


class Cell(nn.Module):
    """A normal or reduction cell built from ``nodes`` and ``concat`` (see the module docstring).

    ``preprocess0`` is ``FactorizedReduce(C_pp, C)`` if the previous cell reduced, else
    a 1x1 ReLU-Conv-BN; ``preprocess1`` is a 1x1 ReLU-Conv-BN from ``C_p``. In a reduction
    cell, stride 2 applies to edges from the two inputs only (quark0 ``cnn/model.py``). Drop path
    (Zoph et al., CVPR 2018, §4: ScheduledDropPath) is applied in training to every op output that is not an ``Identity``.
    ``out_channels`` is the sum of the widths of the concatenated states.
    """

    def __init__(self, nodes: Sequence, concat: Sequence[int], C_pp: int, C_p: int, C: int,
                 reduction: bool, reduction_prev: bool, affine: bool = True):
        super().__init__()
        spec, concat_list = _check_cell_spec(nodes, concat)
        if reduction and any(c < 2 for c in concat_list):
            raise ValueError("a reduction cell cannot concatenate its inputs (resolutions differ)")
        self.reduction = bool(reduction)
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_pp, C, affine=affine)
        else:
            self.preprocess0 = ReLUConvBN(C_pp, C, 1, 1, 0, affine=affine)
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, affine=affine)

        widths = [C, C]
        self._ops = nn.ModuleList()
        indices: List[int] = []
        closes_node: List[bool] = []
        concat_node: List[bool] = []
        is_identity: List[bool] = []
        for j, (combine, pairs) in enumerate(spec):
            for k, (name, index) in enumerate(pairs):
                stride = 2 if reduction and index < 2 else 1
                try:
                    op = make_op(name, widths[index], C, stride, affine)
                except (KeyError, ValueError) as exc:
                    raise ValueError(f"cell node {j}, input {k}: {exc.args[0] if exc.args else exc}") from None
                self._ops.append(op)
                indices.append(index)
                closes_node.append(k == len(pairs) - 1)
                concat_node.append(combine == "concat")
                is_identity.append(isinstance(op, Identity))
            widths.append(C * len(pairs) if combine == "concat" else C)
        self._indices = indices
        self._closes_node = closes_node
        self._concat_node = concat_node
        self._is_identity = is_identity
        self._concat = concat_list
        self.out_channels = sum(widths[i] for i in concat_list)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        pending: List[torch.Tensor] = []
        for k, op in enumerate(self._ops):
            h = op(states[self._indices[k]])
            if self.training and drop_prob > 0.0 and not self._is_identity[k]:
                h = drop_path(h, drop_prob)
            pending.append(h)
            if self._closes_node[k]:
                if self._concat_node[k]:
                    states.append(torch.cat(pending, dim=1))
                else:
                    total = pending[0]
                    for t in pending[1:]:
                        total = total + t
                    states.append(total)
                pending = []
        return torch.cat([states[i] for i in self._concat], dim=1)

"""NAS-Bench-201 cell and macro skeleton (AutoDL ``cell_infers``; Dong & Yang, ICLR 2020, §2.1, Fig. 1).

``nodes`` is a list per computed node of ``[(op, src_index), ...]`` with src 0 = the cell
input and src j = computed node j (1-based, as in the NB201 arch string
``|op~src|+|op~src|op~src|+...``). Node j is the sum of its incoming edges and the
cell output is the last node.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn

from nas.nn.ops import ReLUConvBN, make_op


def _check_nb201_nodes(nodes: Sequence) -> List[List[Tuple[str, int]]]:
    """Normalise ``nodes`` to lists of ``(op, src)`` and check sources; ``ValueError`` if bad."""
    clean: List[List[Tuple[str, int]]] = []
    if not isinstance(nodes, (list, tuple)) or len(nodes) == 0:
        raise ValueError(f"NB201 cell needs a non-empty list of nodes, got {nodes!r}")
    for j, node in enumerate(nodes, start=1):
        if not isinstance(node, (list, tuple)) or len(node) == 0:
            raise ValueError(f"NB201 node {j}: expected a non-empty list of (op, src), got {node!r}")
        pairs: List[Tuple[str, int]] = []
        for pair in node:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"NB201 node {j}: expected an (op, src) pair, got {pair!r}")
            op, src = pair
            if isinstance(src, bool) or not isinstance(src, int) or not 0 <= src < j:
                raise ValueError(f"NB201 node {j}: source {src!r} is not an earlier node (valid: 0..{j - 1})")
            pairs.append((str(op), src))
        clean.append(pairs)
    return clean


class NB201Cell(nn.Module):
    """AutoDL ``InferCell`` with C_in == C_out == C and stride 1 (every op gets ``affine=True``)."""

    def __init__(self, nodes: Sequence, C: int):
        super().__init__()
        spec = _check_nb201_nodes(nodes)
        self.layers = nn.ModuleList()
        srcs: List[int] = []
        closes: List[bool] = []
        for j, pairs in enumerate(spec, start=1):
            for k, (name, src) in enumerate(pairs):
                try:
                    self.layers.append(make_op(name, C, C, 1, True))
                except (KeyError, ValueError) as exc:
                    raise ValueError(f"NB201 node {j}, edge {k}: {exc.args[0] if exc.args else exc}") from None
                srcs.append(src)
                closes.append(k == len(pairs) - 1)
        self._srcs = srcs
        self._closes = closes
        self.out_channels = C

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states = [x]
        pending: List[torch.Tensor] = []
        for k, op in enumerate(self.layers):
            pending.append(op(states[self._srcs[k]]))
            if self._closes[k]:
                total = pending[0]
                for t in pending[1:]:
                    total = total + t
                states.append(total)
                pending = []
        return states[-1]


class ResNetBasicblock(nn.Module):
    """NB201 reduction block: 3x3 ReLU-Conv-BN (stride) -> 3x3 ReLU-Conv-BN, plus shortcut.

    Shortcut at stride 2: AvgPool2d(2, 2) -> 1x1 conv (no BN); 1x1 conv alone if only the
    width changes. The pool uses ``ceil_mode=True`` so odd sizes match the conv path
    (identical to AutoDL for even sizes).
    """

    def __init__(self, C_in: int, C_out: int, stride: int):
        super().__init__()
        self.conv_a = ReLUConvBN(C_in, C_out, 3, stride, 1, affine=True)
        self.conv_b = ReLUConvBN(C_out, C_out, 3, 1, 1, affine=True)
        if stride == 2:
            self.downsample: nn.Module = nn.Sequential(
                nn.AvgPool2d(2, stride=2, padding=0, ceil_mode=True),
                nn.Conv2d(C_in, C_out, 1, stride=1, padding=0, bias=False),
            )
        elif C_in != C_out:
            self.downsample = ReLUConvBN(C_in, C_out, 1, 1, 0, affine=True)
        else:
            self.downsample = nn.Identity()
        self.out_channels = C_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class TinyNetwork(nn.Module):
    """NB201 macro skeleton (Dong & Yang, ICLR 2020, Fig. 1).

    Stem Conv3x3(in_channels -> C, stride ``stem_stride``) + BN; N cells at C; ResNet block
    to 2C (stride 2); N cells; ResNet block to 4C; N cells; BN + ReLU; GAP; Linear.
    """

    #: model.py export (:mod:`nas.spec`): positional arguments as (variable name, kind), and their comment
    EXPORT_ARGS = (("CELL", "sum_cell"),)
    EXPORT_COMMENT = "# NAS-Bench-201 cell: node j = sum of op(node src) over [(op, src), ...]; node 0 = cell input"

    def __init__(self, nodes: Sequence, *, C: int = 16, N: int = 5, num_classes: int = 10,
                 in_channels: int = 3, stem_stride: int = 1):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C, 3, stride=stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        channels = [C] * N + [2 * C] + [2 * C] * N + [4 * C] + [4 * C] * N
        reductions = [False] * N + [True] + [False] * N + [True] + [False] * N
        self.cells = nn.ModuleList()
        C_prev = C
        for C_curr, reduction in zip(channels, reductions):
            if reduction:
                self.cells.append(ResNetBasicblock(C_prev, C_curr, 2))
            else:
                self.cells.append(NB201Cell(nodes, C_curr))
            C_prev = C_curr
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(x.view(x.size(0), -1))

"""The NAS-Bench-201 search network (supernet): Dong & Yang, ICLR 2020, §2.1 and §5 (DARTS on NB201).

The macro skeleton is the benchmark's ``TinyNetwork`` (Fig. 1): a 3x3 stem to C channels with BN,
three stages of ``N`` cells at C, 2C and 4C channels separated by the ResNet basic blocks
(stride 2), then BN + ReLU, global average pooling and a linear classifier. In the search
network every cell is a :class:`NB201SearchCell`: each of the six edges j←i (i < j, nodes 0..3)
is a :class:`~nas.nn.supernet.MixedOp` over the five NB201 ops (``none``, ``skip_connect``,
``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``), built with ``affine=False`` as the paper's
search cells; node j sums its mixed edges and the cell output is node 3. All cells share one
``(6, 5)`` matrix of architecture parameters (``alphas``, 1e-3·randn as the DARTS code, or zeros),
ordered as the NB201 string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``.

Unlike the DARTS supernet there is no extra BN after the pooling op (the NB201 search cell
has none). BatchNorm uses batch statistics throughout the search (no running buffers), as the
DARTS search does (Liu et al., ICLR 2019, App. A.1.1).

Derivation (Dong & Yang 2020, §5): on every edge the op of largest weight, ``none`` included
(:meth:`NB201Supernet.genotype`).
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.nn.nb201 import ResNetBasicblock
from nas.nn.supernet import MixedOp

#: the NB201 op list in its order (Dong & Yang 2020, §2.1): the columns of ``alphas``
NB201_PRIMITIVES: Tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: the six edges (to, from) in NB201 string order: the rows of ``alphas``
NB201_EDGES: Tuple[Tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


class NB201SearchCell(nn.Module):
    """Node j = Σ_{i<j} MixedOp_{j←i}(node i), for j = 1..3; the output is node 3."""

    def __init__(self, C: int, primitives: Sequence[str] = NB201_PRIMITIVES):
        super().__init__()
        # the NB201 search cell pools without a following BN (unlike DARTS' MixedOp)
        self.edges = nn.ModuleList(MixedOp(C, 1, primitives, pool_bn=False) for _ in NB201_EDGES)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [x]
        k = 0
        for j in range(1, 4):
            s = self.edges[k](states[0], weights[k])
            k += 1
            for i in range(1, j):
                s = s + self.edges[k](states[i], weights[k])
                k += 1
            states.append(s)
        return states[-1]


class NB201Supernet(nn.Module):
    """The NB201 search network ``(C, N)``: see the module docstring."""

    def __init__(self, C: int = 16, N: int = 5, num_classes: int = 10, *, in_channels: int = 3,
                 alpha_init: str = "randn", primitives: Sequence[str] = NB201_PRIMITIVES):
        super().__init__()
        if C < 1 or N < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError(f"bad supernet size C={C}, N={N}, classes={num_classes}, in={in_channels}")
        if alpha_init not in ("randn", "zeros"):
            raise ValueError(f"alpha_init must be 'randn' (DARTS code) or 'zeros' (paper), got {alpha_init!r}")
        self.primitives = tuple(primitives)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        self.cells = nn.ModuleList()
        C_prev = C
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            if stage > 0:
                self.cells.append(ResNetBasicblock(C_prev, width, 2))
            self.cells.extend(NB201SearchCell(width, self.primitives) for _ in range(N))
            C_prev = width
        self.lastact = nn.Sequential(nn.BatchNorm2d(C_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_prev, num_classes)
        shape = (len(NB201_EDGES), len(self.primitives))
        init = 1e-3 * torch.randn(shape) if alpha_init == "randn" else torch.zeros(shape)
        self.alphas = nn.Parameter(init)
        for m in self.modules():  # batch statistics during the search (no running buffers)
            if isinstance(m, nn.BatchNorm2d):
                m.track_running_stats = False
                m.running_mean = m.running_var = m.num_batches_tracked = None

    # -- parameters -----------------------------------------------------------------
    def arch_parameters(self) -> List[nn.Parameter]:
        """``[alphas]``: one ``(6, 5)`` matrix shared by every cell."""
        return [self.alphas]

    def weights(self) -> List[nn.Parameter]:
        """Every parameter except the alphas."""
        return [p for p in self.parameters() if p is not self.alphas]

    def named_weights(self) -> List[Tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.named_parameters() if p is not self.alphas]

    # -- forward ----------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.softmax(self.alphas, dim=-1)
        x = self.stem(x)
        for cell in self.cells:
            x = cell(x, w) if isinstance(cell, NB201SearchCell) else cell(x)
        x = self.global_pooling(self.lastact(x))
        return self.classifier(x.view(x.size(0), -1))

    # -- derivation -------------------------------------------------------------------
    def genotype(self) -> List[List[Tuple[str, int]]]:
        """Per computed node j = 1..3 the ``(op, source)`` pairs: the argmax op per edge, ``none`` included.

        Ties go to the lower op index (``argmax`` returns the first maximum).
        """
        with torch.no_grad():
            best = self.alphas.detach().float().cpu().argmax(dim=-1).tolist()
        nodes: List[List[Tuple[str, int]]] = [[] for _ in range(3)]
        for (j, i), k in zip(NB201_EDGES, best):
            nodes[j - 1].append((self.primitives[k], i))
        return nodes

"""The DARTS search network (supernet): Liu et al., ICLR 2019, §2.2, as the released ``cnn/model_search.py``.

Every edge of a search cell is a :class:`MixedOp`: the softmax(α)-weighted sum of all
eight ``PRIMITIVES`` (the released code's order, ``none`` first), each built with
``affine=False``; the pooling ops are followed by ``BatchNorm2d(C, affine=False)`` (search
model only). A cell has 4 intermediate nodes; node ``i`` sums the mixed ops from all
``2 + i`` earlier states, giving 2+3+4+5 = 14 edges, and the cell output concatenates the
last ``multiplier = 4`` states. The network is quark0's ``Network``: a 3x3 stem to
``stem_multiplier * C = 3C`` channels (BN with affine, as quark0), ``layers`` cells with
reductions (channels doubled, stride 2 on the edges from the two cell inputs) at
``layers // 3`` and ``2 * layers // 3``, global average pooling and a linear classifier.

Architecture parameters: ``alphas_normal`` and ``alphas_reduce``, each ``(14, 8)``, are
``nn.Parameter`` attributes so that they move with ``.to()`` and are saved in
``state_dict()``; :meth:`DartsSupernet.arch_parameters` returns them and
:meth:`DartsSupernet.weights` returns every *other* parameter. quark0 keeps the alphas out
of ``parameters()`` altogether and counts only the weights, so the weight count here is
the quark0 count (1,930,618 for ``C=16, layers=8, num_classes=10``).

Alpha initialisation: the paper (App. A.1.1) says "zero
initialization"; the released code uses ``1e-3 * randn``. We follow the code
(``alpha_init="randn"``, default); ``alpha_init="zeros"`` gives the paper's version.

Deviations, none of which changes a parameter count: every ReLU is out-of-place (as in
``nas.nn.ops``), ``FactorizedReduce`` pads odd inputs (see ``nas.nn.ops``), and ``in_channels``
is a parameter so that 1x8x8 digits work.
"""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.nn.ops import FactorizedReduce, ReLUConvBN, make_op

#: quark0/darts ``PRIMITIVES`` (DARTS §3.1.1 plus ``none``): the column order of the alpha matrices.
SEARCH_PRIMITIVES: Tuple[str, ...] = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)


class MixedOp(nn.Module):
    """Σ_o w_o · o(x) over ``primitives`` (quark0 ``MixedOp``); pools get a BN(affine=False).

    ``pool_bn=False`` leaves the pools bare, as the NAS-Bench-201 search cell does
    (Dong & Yang, ICLR 2020; :mod:`nas.nn.supernet_nb201`).
    """

    def __init__(self, C: int, stride: int, primitives: Sequence[str] = SEARCH_PRIMITIVES, pool_bn: bool = True):
        super().__init__()
        self._ops = nn.ModuleList()
        for name in primitives:
            op = make_op(name, C, C, stride, affine=False)
            if pool_bn and "pool" in name:
                op = nn.Sequential(op, nn.BatchNorm2d(C, affine=False))
            self._ops.append(op)

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        out = weights[0] * self._ops[0](x)
        for k in range(1, len(self._ops)):
            out = out + weights[k] * self._ops[k](x)
        return out


class SearchCell(nn.Module):
    """A DARTS search cell: ``steps`` nodes, each the sum of mixed ops from all earlier states."""

    def __init__(self, steps: int, multiplier: int, C_pp: int, C_p: int, C: int, reduction: bool,
                 reduction_prev: bool, primitives: Sequence[str] = SEARCH_PRIMITIVES):
        super().__init__()
        self.reduction = bool(reduction)
        if reduction_prev:
            self.preprocess0: nn.Module = FactorizedReduce(C_pp, C, affine=False)
        else:
            self.preprocess0 = ReLUConvBN(C_pp, C, 1, 1, 0, affine=False)
        self.preprocess1 = ReLUConvBN(C_p, C, 1, 1, 0, affine=False)
        self._steps = steps
        self._multiplier = multiplier
        self._ops = nn.ModuleList()
        for i in range(steps):
            for j in range(2 + i):
                stride = 2 if reduction and j < 2 else 1
                self._ops.append(MixedOp(C, stride, primitives))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        offset = 0
        for _ in range(self._steps):
            s = self._ops[offset](states[0], weights[offset])
            for j in range(1, len(states)):
                s = s + self._ops[offset + j](states[j], weights[offset + j])
            offset += len(states)
            states.append(s)
        return torch.cat(states[-self._multiplier:], dim=1)


def num_edges(steps: int) -> int:
    """Edges of a search cell: Σ_{i<steps} (2 + i) = 14 for 4 steps."""
    return sum(2 + i for i in range(steps))


class DartsSupernet(nn.Module):
    """quark0's search ``Network(C, num_classes, layers)``; see the module docstring."""

    def __init__(self, C: int = 16, num_classes: int = 10, layers: int = 8, *, in_channels: int = 3,
                 steps: int = 4, multiplier: int = 4, stem_multiplier: int = 3, alpha_init: str = "randn",
                 primitives: Sequence[str] = SEARCH_PRIMITIVES):
        super().__init__()
        if layers < 1 or C < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError(f"bad supernet size C={C}, layers={layers}, classes={num_classes}, in={in_channels}")
        if alpha_init not in ("randn", "zeros"):
            raise ValueError(f"alpha_init must be 'randn' (quark0 code) or 'zeros' (paper), got {alpha_init!r}")
        self.primitives = tuple(primitives)
        self._steps, self._multiplier = steps, multiplier
        C_curr = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_curr, 3, padding=1, bias=False),
            nn.BatchNorm2d(C_curr),
        )
        C_pp, C_p, C_curr = C_curr, C_curr, C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_curr *= 2
            cell = SearchCell(steps, multiplier, C_pp, C_p, C_curr, reduction, reduction_prev, self.primitives)
            self.cells.append(cell)
            reduction_prev = reduction
            C_pp, C_p = C_p, multiplier * C_curr
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_p, num_classes)
        k, n = num_edges(steps), len(self.primitives)
        if alpha_init == "randn":  # quark0 code: 1e-3 * randn (the paper says zeros)
            self.alphas_normal = nn.Parameter(1e-3 * torch.randn(k, n))
            self.alphas_reduce = nn.Parameter(1e-3 * torch.randn(k, n))
        else:
            self.alphas_normal = nn.Parameter(torch.zeros(k, n))
            self.alphas_reduce = nn.Parameter(torch.zeros(k, n))
        # DARTS App. A.1.1: "BN always uses batch statistics" during search. quark0 keeps running
        # statistics and evaluates in eval mode, which after few steps gives chance-level val_acc;
        # we follow the paper (no running buffers; no parameter is affected).
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.track_running_stats = False
                m.running_mean = m.running_var = m.num_batches_tracked = None

    # -- parameters -----------------------------------------------------------------
    def arch_parameters(self) -> List[nn.Parameter]:
        """``[alphas_normal, alphas_reduce]`` (optimised by the architect's Adam)."""
        return [self.alphas_normal, self.alphas_reduce]

    def weights(self) -> List[nn.Parameter]:
        """Every parameter except the alphas (optimised by SGD)."""
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def named_weights(self) -> List[Tuple[str, nn.Parameter]]:
        return [(n, p) for n, p in self.named_parameters() if not n.startswith("alphas_")]

    # -- forward ----------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w_normal = F.softmax(self.alphas_normal, dim=-1)
        w_reduce = F.softmax(self.alphas_reduce, dim=-1)
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, w_reduce if cell.reduction else w_normal)
        out = self.global_pooling(s1)
        return self.classifier(out.view(out.size(0), -1))

    # -- derivation ---------------------------------------------------------------------
    def genotype(self) -> dict:
        """The discrete cells of DARTS §2.4 (the space's rule, ``DartsSpace.derive``): see :func:`derive_cell`.

        Returns ``{"normal": [...], "normal_concat": [...], "reduce": [...], "reduce_concat": [...]}``
        with quark0's flat ``(op, input_index)`` pairs, two per node, strongest first.
        """
        with torch.no_grad():
            w_n = F.softmax(self.alphas_normal, dim=-1).cpu().tolist()
            w_r = F.softmax(self.alphas_reduce, dim=-1).cpu().tolist()
        concat = list(range(2 + self._steps - self._multiplier, self._steps + 2))
        return {"normal": derive_cell(w_n, self._steps, self.primitives), "normal_concat": concat,
                "reduce": derive_cell(w_r, self._steps, self.primitives), "reduce_concat": list(concat)}


def derive_cell(weights: Sequence[Sequence[float]], steps: int = 4,
                primitives: Sequence[str] = SEARCH_PRIMITIVES, k: int = 2) -> List[Tuple[str, int]]:
    """Discretise one cell from its softmax weights (quark0 ``Network.genotype._parse``; DARTS §2.4).

    For node ``i`` (incoming edges from states ``0 .. i+1``): an edge's strength is its
    largest non-``none`` weight; keep the ``k = 2`` strongest edges, on each the
    non-``none`` op of largest weight, and list them strongest first. Ties go to the
    lower state index and the lower op index (Python's stable sort and quark0's strict
    ``>`` comparison), so the rule is deterministic.
    """
    none = primitives.index("none") if "none" in primitives else -1
    gene: List[Tuple[str, int]] = []
    start = 0
    for i in range(steps):
        n = 2 + i
        W = weights[start:start + n]
        cand = [o for o in range(len(primitives)) if o != none]
        strength = [max(W[j][o] for o in cand) for j in range(n)]
        edges = sorted(range(n), key=lambda j: -strength[j])[:k]
        for j in edges:
            best = cand[0]
            for o in cand[1:]:
                if W[j][o] > W[j][best]:
                    best = o
            gene.append((primitives[best], j))
        start += n
    return gene

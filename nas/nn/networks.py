"""Evaluation networks stacking compiled cells (quark0/darts ``cnn/model.py``; Liu et al., ICLR 2019, §3.2).

``normal`` and ``reduce`` are ``(nodes, concat)`` tuples as taken by :class:`Cell`.
Reduction cells sit at ``layers//3`` and ``2*layers//3`` and double the channels; the
auxiliary head (training only) reads the output of the cell at ``2*layers//3``.
Parameter names containing ``auxiliary`` are excluded from the reported parameter
count, as quark0's ``count_parameters_in_MB`` does.

Deviations, none of which changes a parameter count or the result at the reference
input sizes: every ReLU is out-of-place; the auxiliary heads fall back to an adaptive
2x2 average pool when their fixed 5x5 pool would not give a 2x2 map (small inputs such
as 8x8 digits); NetworkImageNet uses a global average pool instead of ``AvgPool2d(7)``
(identical on the 7x7 map of a 224x224 input).
"""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.nn.cells import Cell


class AuxPool(nn.Module):
    """quark0's ``AvgPool2d(5, stride, count_include_pad=False)`` when it yields 2x2, else adaptive 2x2."""

    def __init__(self, stride: int):
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.size(2), x.size(3)
        if h >= 5 and w >= 5 and (h - 5) // self.stride == 1 and (w - 5) // self.stride == 1:
            return F.avg_pool2d(x, 5, stride=self.stride, padding=0, count_include_pad=False)
        return F.adaptive_avg_pool2d(x, 2)


class AuxiliaryHeadCIFAR(nn.Module):
    """ReLU -> AvgPool(5, s3) to 2x2 -> 1x1 conv 128 -> BN -> ReLU -> 2x2 conv 768 -> BN -> ReLU -> Linear."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            AuxPool(3),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.BatchNorm2d(768),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))


class AuxiliaryHeadImageNet(nn.Module):
    """As the CIFAR head with pool stride 2 and no BN after the 768 conv (quark0, on purpose)."""

    def __init__(self, C: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            AuxPool(2),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        return self.classifier(x.view(x.size(0), -1))


def _stack_cells(normal: Tuple, reduce: Tuple, C_pp: int, C_p: int, C: int, layers: int,
                 reduction_prev: bool) -> Tuple[nn.ModuleList, int, int]:
    """Build the cell stack; returns (cells, channels into the aux head, final channels)."""
    if layers < 1:
        raise ValueError(f"layers must be >= 1, got {layers}")
    cells = nn.ModuleList()
    C_curr = C
    C_aux = C_p
    for i in range(layers):
        reduction = i in (layers // 3, 2 * layers // 3)
        if reduction:
            C_curr *= 2
        nodes, concat = reduce if reduction else normal
        cell = Cell(nodes, concat, C_pp, C_p, C_curr, reduction, reduction_prev)
        cells.append(cell)
        reduction_prev = reduction
        C_pp, C_p = C_p, cell.out_channels
        if i == 2 * layers // 3:
            C_aux = C_p
    return cells, C_aux, C_p


def _unpack_genotype(cell, name: str) -> Tuple:
    if not isinstance(cell, (list, tuple)) or len(cell) != 2:
        raise ValueError(f"{name} must be a (nodes, concat) pair, got {type(cell).__name__}")
    return tuple(cell)


class NetworkCIFAR(nn.Module):
    """DARTS/NASNet CIFAR network (Liu et al., ICLR 2019, §3.2; Zoph et al., CVPR 2018, Fig. 2).

    Stem: Conv3x3(in_channels -> stem_multiplier*C, stride ``stem_stride``) + BN, then
    ``layers`` cells, global average pool and a Linear classifier. In training mode with
    ``auxiliary=True`` ``forward`` returns ``(logits, logits_aux)``, otherwise ``logits``.
    ``drop_path_prob`` is a plain attribute (the trainer ramps it).
    """

    #: model.py export (:mod:`nas.spec`): positional arguments as (variable name, kind), and their comment
    EXPORT_ARGS = (("NORMAL", "cell"), ("REDUCE", "cell"))
    EXPORT_COMMENT = ("# cells: (nodes, concat); node = (combine, [(op, input state), ...]);\n"
                      "# states: 0 = previous-previous cell, 1 = previous cell, 2 + i = node i (DARTS indexing)")

    def __init__(self, normal: Sequence, reduce: Sequence, *, C: int, num_classes: int, layers: int,
                 auxiliary: bool = False, in_channels: int = 3, stem_multiplier: int = 3,
                 stem_stride: int = 1, drop_path_prob: float = 0.0):
        super().__init__()
        normal = _unpack_genotype(normal, "normal")
        reduce = _unpack_genotype(reduce, "reduce")
        self._layers = layers
        self.drop_path_prob = float(drop_path_prob)
        C_stem = stem_multiplier * C
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, C_stem, 3, stride=stem_stride, padding=1, bias=False),
            nn.BatchNorm2d(C_stem),
        )
        self.cells, C_aux, C_last = _stack_cells(normal, reduce, C_stem, C_stem, C, layers, False)
        self.auxiliary_head = AuxiliaryHeadCIFAR(C_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_last, num_classes)

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        logits_aux: Optional[torch.Tensor] = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == 2 * self._layers // 3 and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        out = self.global_pooling(s1)
        logits = self.classifier(out.view(out.size(0), -1))
        if logits_aux is not None:
            return logits, logits_aux
        return logits


class NetworkImageNet(nn.Module):
    """DARTS ImageNet network (Liu et al., ICLR 2019, §3.3, mobile setting): two stems (224 -> 56 -> 28), cells, GAP, Linear.

    The first cell has ``reduction_prev=True`` (its ``preprocess0`` is a FactorizedReduce).
    ``drop_path_prob`` is a plain attribute (the trainer ramps it).
    """

    EXPORT_ARGS = NetworkCIFAR.EXPORT_ARGS
    EXPORT_COMMENT = NetworkCIFAR.EXPORT_COMMENT

    def __init__(self, normal: Sequence, reduce: Sequence, *, C: int, num_classes: int, layers: int,
                 auxiliary: bool = False, in_channels: int = 3, drop_path_prob: float = 0.0):
        super().__init__()
        normal = _unpack_genotype(normal, "normal")
        reduce = _unpack_genotype(reduce, "reduce")
        self._layers = layers
        self.drop_path_prob = float(drop_path_prob)
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, C // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C // 2),
            nn.ReLU(inplace=False),
            nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(C),
        )
        self.cells, C_aux, C_last = _stack_cells(normal, reduce, C, C, C, layers, True)
        self.auxiliary_head = AuxiliaryHeadImageNet(C_aux, num_classes) if auxiliary else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(C_last, num_classes)

    def forward(self, x: torch.Tensor) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        logits_aux: Optional[torch.Tensor] = None
        s0 = self.stem0(x)
        s1 = self.stem1(s0)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == 2 * self._layers // 3 and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        out = self.global_pooling(s1)
        logits = self.classifier(out.view(out.size(0), -1))
        if logits_aux is not None:
            return logits, logits_aux
        return logits

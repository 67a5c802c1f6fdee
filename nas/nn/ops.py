"""Candidate operations for cell-based search spaces (Zoph et al., CVPR 2018, §3; Liu et al., ICLR 2019, §3.1.1; Dong & Yang, ICLR 2020, §2.1).

Every op is built by one factory in :data:`OPS` with the signature
``(C_in, C_out, stride, affine) -> nn.Module``; :func:`make_op` is the checked entry
point. One name has exactly one definition across all spaces:

* DARTS (quark0/darts ``cnn/operations.py``): ``none``, ``max_pool_3x3``,
  ``avg_pool_3x3``, ``skip_connect``, ``sep_conv_3x3``, ``sep_conv_5x5``,
  ``dil_conv_3x3``, ``dil_conv_5x5``, plus ``sep_conv_7x7`` and ``conv_7x1_1x7`` used
  by the NASNet/AmoebaNet genotypes.
* NASNet's 13 ops (Zoph et al. 2018, §3): ``skip_connect`` (identity), ``conv_3x1_1x3``,
  ``conv_7x1_1x7``, ``dil_conv_3x3``, ``avg_pool_3x3``, ``max_pool_3x3``,
  ``max_pool_5x5``, ``max_pool_7x7``, ``conv_1x1``, ``conv_3x3``, ``sep_conv_3x3``,
  ``sep_conv_5x5``, ``sep_conv_7x7``. The paper's "3x3 dilated convolution" is the
  DARTS ``DilConv`` (depthwise-separable, dilation 2) so that ``dil_conv_3x3`` has a
  single meaning; ``conv_1x1``/``conv_3x3`` are ReLU-Conv-BN.
* NAS-Bench-201 (AutoDL ``cell_operations.py``): ``none``, ``skip_connect``,
  ``nor_conv_1x1``, ``nor_conv_3x3``, ``avg_pool_3x3``. ``nor_conv_*`` is ReLU-Conv-BN
  with ``bias = not affine`` (as NB201), so it differs from ``conv_*`` only when
  ``affine=False``.

Channel changes (``C_in != C_out``) are supported by every factory. Convolutions do it
natively; pools (at any stride) get a 1x1 ReLU-Conv-BN in front, as NB201 does for
``avg_pool_3x3``; ``skip_connect`` is a 1x1 ReLU-Conv-BN at stride 1 and a
``FactorizedReduce`` at stride 2; ``none`` returns zeros with ``C_out`` channels. With
``C_in == C_out`` the modules are exactly the reference definitions, so parameter
counts match quark0 and AutoDL.

This module is part of the standalone ``model.py`` export: it imports only torch.
"""
from typing import Callable, Dict

import torch
import torch.nn as nn
import torch.nn.functional as F


class ReLUConvBN(nn.Module):
    """ReLU -> Conv2d -> BatchNorm2d (the DARTS "ReLU-Conv-BN order", Liu et al., ICLR 2019, §3.1.1)."""

    def __init__(self, C_in: int, C_out: int, kernel_size, stride, padding,
                 affine: bool = True, dilation: int = 1, bias: bool = False):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, kernel_size, stride=stride, padding=padding,
                      dilation=dilation, bias=bias),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class DilConv(nn.Module):
    """ReLU -> depthwise dilated conv (stride) -> pointwise 1x1 -> BN, applied once."""

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 dilation: int, affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding,
                      dilation=dilation, groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class SepConv(nn.Module):
    """Depthwise-separable conv applied twice (DARTS §3.1.1); stride only in the first depthwise.

    ReLU -> dw(k, stride) -> pw(C_in->C_in) -> BN(C_in) -> ReLU -> dw(k, 1) -> pw(C_in->C_out) -> BN(C_out).
    """

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, padding: int,
                 affine: bool = True):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=stride, padding=padding,
                      groups=C_in, bias=False),
            nn.Conv2d(C_in, C_in, 1, bias=False),
            nn.BatchNorm2d(C_in, affine=affine),
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_in, kernel_size, stride=1, padding=padding,
                      groups=C_in, bias=False),
            nn.Conv2d(C_in, C_out, 1, bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Identity(nn.Module):
    """The identity op; the cell's drop path skips edges whose op is an ``Identity``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Zero(nn.Module):
    """The ``none`` op: subsample by ``stride`` then multiply by zero (quark0 ``Zero``).

    With ``C_out != C_in`` it returns zeros of shape ``(N, C_out, H', W')`` instead.
    """

    def __init__(self, stride: int, C_in: int = -1, C_out: int = -1):
        super().__init__()
        self.stride = stride
        self.C_in = C_in
        self.C_out = C_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.C_out < 0 or self.C_out == self.C_in:
            return x.mul(0.0)
        return x.new_zeros((x.size(0), self.C_out, x.size(2), x.size(3)))


class FactorizedReduce(nn.Module):
    """Halve the resolution with two shifted 1x1 stride-2 convs (quark0 ``FactorizedReduce``).

    ReLU, ``conv_1`` on ``x`` and ``conv_2`` on ``x[:, :, 1:, 1:]`` (C_in -> C_out/2 each),
    concatenated, then BN(C_out). Requires ``C_out`` even. Deviation for odd inputs
    (quark0 crashes there): the shifted path is zero-padded on the right/bottom first,
    as TF NASNet's ``factorized_reduction`` does, so both paths give ceil(H/2) x ceil(W/2).
    For even sizes the padding is never sampled and the result equals quark0's.
    """

    def __init__(self, C_in: int, C_out: int, affine: bool = True):
        super().__init__()
        if C_out % 2 != 0:
            raise ValueError(f"FactorizedReduce needs an even C_out, got {C_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(C_in, C_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(C_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = F.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        out = torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1)
        return self.bn(out)


class FactorizedConv(nn.Module):
    """ReLU -> Conv(1 x k, stride (1, s)) -> Conv(k x 1, stride (s, 1)) -> BN.

    quark0's ``conv_7x1_1x7`` (k=7): no BN/ReLU between the two convs (the TF AmoebaNet
    ``1x7_7x1`` has one; we follow quark0 for parameter parity). ``conv_3x1_1x3`` is the
    same with k=3. With ``C_in != C_out`` the first conv changes the width.
    """

    def __init__(self, C_in: int, C_out: int, kernel_size: int, stride: int, affine: bool = True):
        super().__init__()
        pad = kernel_size // 2
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(C_in, C_out, (1, kernel_size), stride=(1, stride), padding=(0, pad), bias=False),
            nn.Conv2d(C_out, C_out, (kernel_size, 1), stride=(stride, 1), padding=(pad, 0), bias=False),
            nn.BatchNorm2d(C_out, affine=affine),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


def _pool_op(kind: str, k: int, C_in: int, C_out: int, stride: int, affine: bool) -> nn.Module:
    """Pooling as in quark0 (avg: ``count_include_pad=False``); a 1x1 ReLU-Conv-BN adapts widths."""
    if kind == "avg":
        pool: nn.Module = nn.AvgPool2d(k, stride=stride, padding=k // 2, count_include_pad=False)
    else:
        pool = nn.MaxPool2d(k, stride=stride, padding=k // 2)
    if C_in == C_out:
        return pool
    return nn.Sequential(ReLUConvBN(C_in, C_out, 1, 1, 0, affine=affine), pool)


def _skip_op(C_in: int, C_out: int, stride: int, affine: bool) -> nn.Module:
    if stride == 1 and C_in == C_out:
        return Identity()
    if stride == 1:
        return ReLUConvBN(C_in, C_out, 1, 1, 0, affine=affine)
    return FactorizedReduce(C_in, C_out, affine=affine)


OpFactory = Callable[[int, int, int, bool], nn.Module]

OPS: Dict[str, OpFactory] = {
    "none": lambda C_in, C_out, stride, affine: Zero(stride, C_in, C_out),
    "skip_connect": lambda C_in, C_out, stride, affine: _skip_op(C_in, C_out, stride, affine),
    "avg_pool_3x3": lambda C_in, C_out, stride, affine: _pool_op("avg", 3, C_in, C_out, stride, affine),
    "max_pool_3x3": lambda C_in, C_out, stride, affine: _pool_op("max", 3, C_in, C_out, stride, affine),
    "max_pool_5x5": lambda C_in, C_out, stride, affine: _pool_op("max", 5, C_in, C_out, stride, affine),
    "max_pool_7x7": lambda C_in, C_out, stride, affine: _pool_op("max", 7, C_in, C_out, stride, affine),
    "sep_conv_3x3": lambda C_in, C_out, stride, affine: SepConv(C_in, C_out, 3, stride, 1, affine),
    "sep_conv_5x5": lambda C_in, C_out, stride, affine: SepConv(C_in, C_out, 5, stride, 2, affine),
    "sep_conv_7x7": lambda C_in, C_out, stride, affine: SepConv(C_in, C_out, 7, stride, 3, affine),
    "dil_conv_3x3": lambda C_in, C_out, stride, affine: DilConv(C_in, C_out, 3, stride, 2, 2, affine),
    "dil_conv_5x5": lambda C_in, C_out, stride, affine: DilConv(C_in, C_out, 5, stride, 4, 2, affine),
    "conv_7x1_1x7": lambda C_in, C_out, stride, affine: FactorizedConv(C_in, C_out, 7, stride, affine),
    "conv_3x1_1x3": lambda C_in, C_out, stride, affine: FactorizedConv(C_in, C_out, 3, stride, affine),
    "conv_1x1": lambda C_in, C_out, stride, affine: ReLUConvBN(C_in, C_out, 1, stride, 0, affine),
    "conv_3x3": lambda C_in, C_out, stride, affine: ReLUConvBN(C_in, C_out, 3, stride, 1, affine),
    "nor_conv_1x1": lambda C_in, C_out, stride, affine: ReLUConvBN(
        C_in, C_out, 1, stride, 0, affine, bias=not affine),
    "nor_conv_3x3": lambda C_in, C_out, stride, affine: ReLUConvBN(
        C_in, C_out, 3, stride, 1, affine, bias=not affine),
}


def make_op(name: str, C_in: int, C_out: int, stride: int, affine: bool = True) -> nn.Module:
    """Build op ``name`` mapping ``C_in`` to ``C_out`` channels with the given stride.

    Raises ``KeyError`` for an unknown name and ``ValueError`` for bad channel counts,
    a stride other than 1 or 2, or an odd ``C_out`` where ``FactorizedReduce`` is needed.
    """
    if name not in OPS:
        raise KeyError(f"unknown op {name!r}; known ops: {', '.join(sorted(OPS))}")
    for arg, value in (("C_in", C_in), ("C_out", C_out)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"op {name!r}: {arg} must be a positive int, got {value!r}")
    if isinstance(stride, bool) or stride not in (1, 2):
        raise ValueError(f"op {name!r}: stride must be 1 or 2, got {stride!r}")
    if name == "skip_connect" and stride == 2 and C_out % 2 != 0:
        raise ValueError(f"op 'skip_connect' at stride 2 (FactorizedReduce) needs an even C_out, got {C_out}")
    return OPS[name](C_in, C_out, stride, bool(affine))

"""Shared pieces of the hand-written baselines: the dataset facts they are built for, stems, init.

Every builder in this package is ``build(info) -> nn.Module`` where ``info`` has
``in_channels``, ``num_classes``, ``image_size`` and ``family`` (``digits``, ``cifar``
or ``imagenet``; e.g. :class:`evaluators.data.DatasetInfo`). The ``imagenet`` family
gets a network's ImageNet variant where its paper has one, every other family the
small-input (CIFAR-style) variant.
"""
from __future__ import annotations

from typing import Any, Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F


class Info(Protocol):
    """The dataset facts a baseline is built for."""

    in_channels: int
    num_classes: int
    image_size: int
    family: str


def is_imagenet(info: Any) -> bool:
    """Whether ``info`` asks for the ImageNet variant (the ``imagenet`` family)."""
    return getattr(info, "family", "cifar") == "imagenet"


class ResizeTo(nn.Module):
    """Bilinear resize of inputs smaller than ``size`` (any size with ``exact``) to ``size`` x ``size``.

    Part of the small-input stem of networks whose downsampling needs a minimum input size
    (VGG's five 2x2 max pools, AlexNet's, LeNet-5's 32x32 retina).
    """

    def __init__(self, size: int, exact: bool = False):
        super().__init__()
        self.size, self.exact = int(size), bool(exact)  # exact: also shrink larger inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[-2:]) == (self.size, self.size) or (not self.exact and min(x.shape[-2:]) >= self.size):
            return x
        return F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)


def conv_bn(C_in: int, C_out: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    """conv (same padding, no bias) - BN - optional ReLU."""
    layers: list[nn.Module] = [nn.Conv2d(C_in, C_out, kernel, stride, kernel // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(C_out)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def he_init(model: nn.Module) -> nn.Module:
    """He-normal (fan_out) conv weights, unit BN, zero biases (He et al., ICCV 2015); returns ``model``."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
    return model

"""Wide ResNets (Zagoruyko & Komodakis, BMVC 2016) and ResNeXt-29 for CIFAR (Xie et al., CVPR 2017)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.nn.baselines.common import he_init


class WideBlock(nn.Module):
    """B(3,3) pre-activation block with optional dropout between the convs (Zagoruyko & Komodakis, §2)."""

    def __init__(self, C_in: int, C_out: int, stride: int, dropout: float):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(C_in)
        self.conv1 = nn.Conv2d(C_in, C_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(C_out)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(C_out, C_out, 3, 1, 1, bias=False)
        self.shortcut = nn.Conv2d(C_in, C_out, 1, stride, bias=False) if stride != 1 or C_in != C_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv2(self.drop(F.relu(self.bn2(self.conv1(pre)))))
        return out + identity


class WideResNet(nn.Module):
    """WRN-d-k: a 3x3 conv with 16 filters, three groups of (d-4)/6 blocks at 16k/32k/64k filters,
    BN-ReLU, global pooling, linear (Zagoruyko & Komodakis 2016, Table 1). WRN-28-10 has 36.5M
    parameters (Table 4)."""

    def __init__(self, depth: int, k: int, num_classes: int = 10, in_channels: int = 3, dropout: float = 0.0):
        super().__init__()
        if (depth - 4) % 6 != 0:
            raise ValueError(f"WRN depth must be 6n+4, got {depth}")
        n = (depth - 4) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        blocks, C_in = [], 16
        for i, C_out in enumerate((16 * k, 32 * k, 64 * k)):
            for b in range(n):
                blocks.append(WideBlock(C_in, C_out, 2 if (b == 0 and i > 0) else 1, dropout))
                C_in = C_out
        self.blocks = nn.Sequential(*blocks)
        self.bn = nn.BatchNorm2d(C_in)
        self.fc = nn.Linear(C_in, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.blocks(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class ResNeXtBlock(nn.Module):
    """ResNeXt bottleneck, form (c) of Xie et al. Fig. 3: 1x1 to D = cardinality x width, grouped
    3x3 (cardinality groups), 1x1 to C_out, each with BN; projection shortcut when shapes differ."""

    def __init__(self, C_in: int, C_out: int, stride: int, cardinality: int, width: int):
        super().__init__()
        D = cardinality * width
        self.body = nn.Sequential(
            nn.Conv2d(C_in, D, 1, bias=False), nn.BatchNorm2d(D), nn.ReLU(inplace=True),
            nn.Conv2d(D, D, 3, stride, 1, groups=cardinality, bias=False), nn.BatchNorm2d(D), nn.ReLU(inplace=True),
            nn.Conv2d(D, C_out, 1, bias=False), nn.BatchNorm2d(C_out))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or C_in != C_out:
            self.shortcut = nn.Sequential(nn.Conv2d(C_in, C_out, 1, stride, bias=False), nn.BatchNorm2d(C_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class CifarResNeXt(nn.Module):
    """ResNeXt-29 for CIFAR (Xie et al. 2017, §5.3): a 3x3 conv with 64 filters, three stages of three
    blocks with outputs 256/512/1024 and bottleneck width ``width`` doubling per stage; 8x64d
    has 34.4M parameters (Table 7)."""

    def __init__(self, cardinality: int = 8, width: int = 64, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True))
        blocks, C_in = [], 64
        for i, C_out in enumerate((256, 512, 1024)):
            for b in range(3):
                blocks.append(ResNeXtBlock(C_in, C_out, 2 if (b == 0 and i > 0) else 1, cardinality, width * 2 ** i))
                C_in = C_out
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(C_in, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def wrn_28_10(info: Any) -> nn.Module:
    """WRN-28-10 (Zagoruyko & Komodakis 2016)."""
    return WideResNet(28, 10, info.num_classes, info.in_channels)


def wrn_16_8(info: Any) -> nn.Module:
    """WRN-16-8 (Zagoruyko & Komodakis 2016)."""
    return WideResNet(16, 8, info.num_classes, info.in_channels)


def resnext29_8x64d(info: Any) -> nn.Module:
    """ResNeXt-29, 8x64d (Xie et al. 2017)."""
    return CifarResNeXt(8, 64, info.num_classes, info.in_channels)

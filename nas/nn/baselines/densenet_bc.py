"""DenseNet-BC for CIFAR (Huang et al., CVPR 2017, §3-4), built from torchvision's DenseNet classes."""
from __future__ import annotations

from typing import Any

import torch.nn as nn


def densenet_bc(depth: int, k: int, num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """DenseNet-BC of ``depth`` and growth rate ``k``: a 3x3 conv with 2k filters feeding the first of
    three dense blocks of (depth-4)/6 bottleneck layers (BN-ReLU-1x1 conv 4k, BN-ReLU-3x3 conv k),
    transitions with compression 0.5 (Huang et al. 2017, Table 2: BC-100 k=12 0.8M, BC-190 k=40 25.6M)."""
    from torchvision.models.densenet import DenseNet

    n = (depth - 4) // 6
    m = DenseNet(growth_rate=k, block_config=(n, n, n), num_init_features=2 * k, bn_size=4, drop_rate=0.0,
                 num_classes=num_classes)
    m.features.conv0 = nn.Conv2d(in_channels, 2 * k, 3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(m.features.conv0.weight)
    for name in ("norm0", "relu0", "pool0"):  # the first conv feeds the first block directly (CIFAR variant)
        setattr(m.features, name, nn.Identity())
    return m


def densenet_bc_100(info: Any) -> nn.Module:
    """DenseNet-BC-100, k=12 (Huang et al. 2017)."""
    return densenet_bc(100, 12, info.num_classes, info.in_channels)


def densenet_bc_190(info: Any) -> nn.Module:
    """DenseNet-BC-190, k=40 (Huang et al. 2017)."""
    return densenet_bc(190, 40, info.num_classes, info.in_channels)

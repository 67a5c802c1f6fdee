"""Channel/spatial attention ResNets: SE-ResNet (Hu et al., CVPR 2018) and CBAM-ResNet (Woo et al., ECCV 2018).

Both are ResNet-50 (He et al. 2016, Table 1) with an attention module on the residual branch of
every bottleneck, before the addition; the skeleton is torchvision's ``ResNet``.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn as nn
from torchvision.models.resnet import Bottleneck, ResNet


class SqueezeExcite(nn.Module):
    """Squeeze (global average pool) and excitation (FC-ReLU-FC-sigmoid, reduction r=16) (Hu et al., §3)."""

    def __init__(self, C: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2d(C, C // reduction, 1)
        self.fc2 = nn.Conv2d(C // reduction, C, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(s))))


class CBAM(nn.Module):
    """Channel attention (a shared MLP over average- and max-pooled descriptors, r=16) followed by
    spatial attention (a 7x7 conv over channel-wise average and max maps) (Woo et al., §3, eq. 2-3)."""

    def __init__(self, C: int, reduction: int = 16, kernel: int = 7):
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(C, C // reduction, 1, bias=False), nn.ReLU(inplace=True),
                                 nn.Conv2d(C // reduction, C, 1, bias=False))
        self.spatial = nn.Sequential(nn.Conv2d(2, 1, kernel, padding=kernel // 2, bias=False), nn.BatchNorm2d(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(x.mean((2, 3), keepdim=True))
        mx = self.mlp(x.amax((2, 3), keepdim=True))
        x = x * torch.sigmoid(avg + mx)
        maps = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.spatial(maps))


class AttentionBottleneck(Bottleneck):
    """torchvision's bottleneck with ``attention(C_out)`` applied to the residual branch."""

    attention: Callable[[int], nn.Module] = SqueezeExcite

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.att = type(self).attention(self.bn3.num_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.att(self.bn3(self.conv3(out)))
        return self.relu(out + identity)


class SEBottleneck(AttentionBottleneck):
    """SE-ResNet bottleneck (Hu et al. 2018, Fig. 3)."""

    attention = SqueezeExcite


class CBAMBottleneck(AttentionBottleneck):
    """CBAM-ResNet bottleneck (Woo et al. 2018, Fig. 3)."""

    attention = CBAM


def se_resnet50(num_classes: int = 1000) -> nn.Module:
    """SE-ResNet-50: 28.1M parameters for 1000 classes (Hu et al. 2018, Table 2)."""
    return ResNet(SEBottleneck, [3, 4, 6, 3], num_classes=num_classes)


def cbam_resnet50(num_classes: int = 1000) -> nn.Module:
    """CBAM-ResNet-50: 28.1M parameters for 1000 classes (Woo et al. 2018, Table 4)."""
    return ResNet(CBAMBottleneck, [3, 4, 6, 3], num_classes=num_classes)

"""MobileNetV1 (Howard et al., arXiv 2017) and Xception (Chollet, CVPR 2017): depthwise-separable networks."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from nas.nn.baselines.common import conv_bn, he_init, is_imagenet

#: Howard et al. 2017, Table 1: (output channels, stride) of the 13 depthwise-separable layers
MOBILENET_V1 = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
                (512, 1), (512, 1), (1024, 2), (1024, 1))


class MobileNetV1(nn.Module):
    """A 3x3/2 conv with 32 filters, 13 depthwise-separable layers (3x3 depthwise-BN-ReLU, 1x1-BN-ReLU),
    global pooling and a classifier: 4.2M parameters for ImageNet (Howard et al., Table 1 and 8).
    ``stem_stride`` 1 is the small-input variant."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, stem_stride: int = 2):
        super().__init__()
        layers: list[nn.Module] = [conv_bn(in_channels, 32, 3, stem_stride)]
        C = 32
        for C_out, stride in MOBILENET_V1:
            layers += [conv_bn(C, C, 3, stride, groups=C), conv_bn(C, C_out, 1)]
            C = C_out
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(C, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


class SeparableConv(nn.Sequential):
    """Depthwise 3x3 then pointwise 1x1, no nonlinearity in between (Chollet, §3), then BN."""

    def __init__(self, C_in: int, C_out: int):
        super().__init__(nn.Conv2d(C_in, C_in, 3, 1, 1, groups=C_in, bias=False),
                         nn.Conv2d(C_in, C_out, 1, bias=False), nn.BatchNorm2d(C_out))


class XceptionBlock(nn.Module):
    """ReLU-SepConv-BN repeated over ``widths``, then (if ``stride``) a 3x3/2 max pool; the residual is
    identity or a strided 1x1 conv-BN (Chollet, Fig. 5)."""

    def __init__(self, C_in: int, widths: tuple[int, ...], stride: int, first_relu: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        C = C_in
        for i, w in enumerate(widths):
            if i > 0 or first_relu:
                layers.append(nn.ReLU(inplace=False))
            layers.append(SeparableConv(C, w))
            C = w
        if stride > 1:
            layers.append(nn.MaxPool2d(3, stride, padding=1))
        self.body = nn.Sequential(*layers)
        self.skip: nn.Module = nn.Identity()
        if stride > 1 or C_in != C:
            self.skip = nn.Sequential(nn.Conv2d(C_in, C, 1, stride, bias=False), nn.BatchNorm2d(C))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.skip(x)


class Xception(nn.Module):
    """Xception (Chollet 2017, Fig. 5): entry flow (3x3/2 conv 32, 3x3 conv 64, blocks of 128, 256 and 728
    with stride 2), middle flow (8 blocks of three 728-wide separable convs), exit flow (728-1024 with
    stride 2, then separable 1536 and 2048 with ReLU), global pooling, classifier; 22.9M parameters
    for ImageNet (Table 3). ``stem_stride`` 1 is the small-input variant."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, stem_stride: int = 2):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 32, 3, stem_stride, 1, bias=False), nn.BatchNorm2d(32),
                                  nn.ReLU(inplace=True), conv_bn(32, 64, 3))
        blocks = [XceptionBlock(64, (128, 128), 2, first_relu=False), XceptionBlock(128, (256, 256), 2),
                  XceptionBlock(256, (728, 728), 2)]
        blocks += [XceptionBlock(728, (728, 728, 728), 1) for _ in range(8)]
        blocks.append(XceptionBlock(728, (728, 1024), 2))
        self.blocks = nn.Sequential(*blocks)
        self.exit = nn.Sequential(SeparableConv(1024, 1536), nn.ReLU(inplace=True), SeparableConv(1536, 2048),
                                  nn.ReLU(inplace=True))
        self.fc = nn.Linear(2048, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.exit(self.blocks(self.stem(x))).mean((2, 3)))


def mobilenet_v1(info: Any) -> nn.Module:
    """MobileNetV1 (Howard et al. 2017); stride-1 first conv for small inputs."""
    return MobileNetV1(info.num_classes, info.in_channels, 2 if is_imagenet(info) else 1)


def xception(info: Any) -> nn.Module:
    """Xception (Chollet 2017); stride-1 first conv for small inputs."""
    return Xception(info.num_classes, info.in_channels, 2 if is_imagenet(info) else 1)

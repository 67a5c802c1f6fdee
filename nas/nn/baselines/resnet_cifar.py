"""ResNets for CIFAR: He et al. (CVPR 2016, §4.2) with option A shortcuts, the pre-activation
ResNets (He et al., ECCV 2016) and stochastic depth (Huang et al., ECCV 2016)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.nn.baselines.common import he_init


class ShortcutA(nn.Module):
    """Option A shortcut: subsample by ``stride`` and zero-pad the extra channels (no parameters)."""

    def __init__(self, C_in: int, C_out: int, stride: int):
        super().__init__()
        self.stride = stride
        self.pad = C_out - C_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.pad > 0:
            x = F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x


class BasicBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU (He et al. 2016, Fig. 2).

    ``survival`` < 1 turns on stochastic depth (Huang et al. 2016, eq. 2-3): in training the
    residual branch is kept with that probability, at test time it is scaled by it.
    """

    def __init__(self, C_in: int, C_out: int, stride: int, survival: float = 1.0):
        super().__init__()
        self.conv1 = nn.Conv2d(C_in, C_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(C_out)
        self.conv2 = nn.Conv2d(C_out, C_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(C_out)
        self.shortcut: nn.Module = nn.Identity() if stride == 1 and C_in == C_out else ShortcutA(C_in, C_out, stride)
        self.survival = float(survival)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = self.shortcut(x)
        if self.training and self.survival < 1.0 and torch.rand(()).item() >= self.survival:
            return F.relu(identity)
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if not self.training and self.survival < 1.0:
            out = out * self.survival
        return F.relu(out + identity)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR (He et al. 2016, §4.2): a 3x3 conv with 16 filters, three stages of
    n basic blocks at 16/32/64 filters (stride 2 at the start of stages 2 and 3), global average
    pooling and a linear classifier; option A shortcuts, He-normal init.

    ``p_last`` < 1: stochastic depth with the linear decay rule, block l of L survives with
    1 - l/L (1 - p_last) (Huang et al. 2016, eq. 4; p_L = 0.5 in the paper).
    """

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3, width: int = 16,
                 p_last: float = 1.0):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ValueError(f"CIFAR ResNet depth must be 6n+2 >= 8, got {depth}")
        n = (depth - 2) // 6
        total, index = 3 * n, 0
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, C_in = [], width
        for i, C_out in enumerate((width, 2 * width, 4 * width)):
            blocks = []
            for b in range(n):
                index += 1
                survival = 1.0 - index / total * (1.0 - p_last)
                blocks.append(BasicBlock(C_in if b == 0 else C_out, C_out, 2 if (b == 0 and i > 0) else 1, survival))
            stages.append(nn.Sequential(*blocks))
            C_in = C_out
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(C_in, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class PreActBlock(nn.Module):
    """BN-ReLU-conv3x3-BN-ReLU-conv3x3 with an identity (or 1x1 projection) shortcut (He et al. 2016b, Fig. 1b)."""

    expansion = 1

    def __init__(self, C_in: int, planes: int, stride: int):
        super().__init__()
        C_out = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(C_in)
        self.conv1 = nn.Conv2d(C_in, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, C_out, 3, 1, 1, bias=False)
        self.shortcut = (nn.Conv2d(C_in, C_out, 1, stride, bias=False) if stride != 1 or C_in != C_out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + identity


class PreActBottleneck(nn.Module):
    """Pre-activation bottleneck: BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (x4 channels) (He et al. 2016b, §4)."""

    expansion = 4

    def __init__(self, C_in: int, planes: int, stride: int):
        super().__init__()
        C_out = planes * self.expansion
        self.bn1 = nn.BatchNorm2d(C_in)
        self.conv1 = nn.Conv2d(C_in, planes, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, C_out, 1, bias=False)
        self.shortcut = (nn.Conv2d(C_in, C_out, 1, stride, bias=False) if stride != 1 or C_in != C_out else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.bn1(x))
        identity = x if self.shortcut is None else self.shortcut(pre)
        out = self.conv1(pre)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + identity


class PreActResNet(nn.Module):
    """Pre-activation ResNet for CIFAR (He et al., ECCV 2016, §4): depth 6n+2 with basic blocks or
    9n+2 with bottlenecks (ResNet-164: n=18, 1.7M parameters, Table 2), stages at 16/32/64
    planes, a final BN-ReLU before global pooling."""

    def __init__(self, depth: int, bottleneck: bool, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        per = 9 if bottleneck else 6
        if (depth - 2) % per != 0:
            raise ValueError(f"pre-activation ResNet depth must be {per}n+2, got {depth}")
        n = (depth - 2) // per
        block = PreActBottleneck if bottleneck else PreActBlock
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        stages, C_in = [], 16
        for i, planes in enumerate((16, 32, 64)):
            blocks = []
            for b in range(n):
                blocks.append(block(C_in, planes, 2 if (b == 0 and i > 0) else 1))
                C_in = planes * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.bn = nn.BatchNorm2d(C_in)
        self.fc = nn.Linear(C_in, num_classes)
        he_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stages(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def cifar_resnet(depth: int, p_last: float = 1.0):
    """A builder ``info -> CifarResNet(depth)``."""

    def build(info: Any) -> nn.Module:
        return CifarResNet(depth, num_classes=info.num_classes, in_channels=info.in_channels, p_last=p_last)

    build.__name__ = f"resnet{depth}" + ("_sd" if p_last < 1 else "")
    build.__doc__ = f"ResNet-{depth} for CIFAR (He et al. 2016)" + (", stochastic depth" if p_last < 1 else "")
    return build


resnet20, resnet32, resnet44, resnet56, resnet110 = (cifar_resnet(d) for d in (20, 32, 44, 56, 110))
#: Huang et al. 2016, §4: ResNet-110 with stochastic depth, linear decay to p_L = 0.5
resnet110_sd = cifar_resnet(110, p_last=0.5)


def preact_resnet110(info: Any) -> nn.Module:
    """Pre-activation ResNet-110, basic blocks (He et al. 2016b)."""
    return PreActResNet(110, False, info.num_classes, info.in_channels)


def preact_resnet164(info: Any) -> nn.Module:
    """Pre-activation ResNet-164, bottlenecks (He et al. 2016b)."""
    return PreActResNet(164, True, info.num_classes, info.in_channels)

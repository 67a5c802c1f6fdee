"""LeNet-5 (LeCun et al., Proc. IEEE 1998, §II.B) and Network-in-Network (Lin et al., ICLR 2014)."""
from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.nn.baselines.common import ResizeTo

#: LeCun et al. 1998, Table I: the input maps (of S2's 6) each of C3's 16 maps sees
C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (0, 4, 5), (0, 1, 5),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (0, 3, 4, 5), (0, 1, 4, 5), (0, 1, 2, 5),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def squash(x: torch.Tensor) -> torch.Tensor:
    """LeCun et al.'s sigmoid, f(a) = A tanh(S a) with A = 1.7159, S = 2/3 (Appendix A)."""
    return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Subsample(nn.Module):
    """S2/S4: the sum of each 2x2 window times a trainable coefficient plus a trainable bias, per map."""

    def __init__(self, C: int):
        super().__init__()
        self.coef = nn.Parameter(torch.ones(C))
        self.bias = nn.Parameter(torch.zeros(C))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.avg_pool2d(x, 2) * 4.0
        return s * self.coef.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class PartialConv(nn.Module):
    """C3: 16 5x5 convolutions, each over the subset of S2's maps that :data:`C3_TABLE` gives."""

    def __init__(self, table: tuple[tuple[int, ...], ...] = C3_TABLE, kernel: int = 5):
        super().__init__()
        self.table = [list(t) for t in table]
        self.convs = nn.ModuleList(nn.Conv2d(len(t), 1, kernel) for t in table)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([conv(x[:, idx]) for conv, idx in zip(self.convs, self.table)], dim=1)


class RBFOutput(nn.Module):
    """The output layer: one Euclidean RBF unit per class, y_i = sum_j (x_j - w_ij)^2 (eq. 7).

    The logits are the negated distances, so the closest centre wins.
    """

    def __init__(self, C_in: int, num_classes: int):
        super().__init__()
        self.centres = nn.Parameter(torch.empty(num_classes, C_in).uniform_(-1.0, 1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -((x.unsqueeze(1) - self.centres.unsqueeze(0)) ** 2).sum(-1)


class LeNet5(nn.Module):
    """LeNet-5 as LeCun et al. 1998 lay it out: 32x32 input, C1 (6@28x28), S2, C3 (16@10x10, partial
    connections), S4, C5 (120), F6 (84), RBF output; 60,840 parameters for 10 classes (§II.B).

    MNIST's 28x28 digits are zero-padded to 32x32 as in the paper; other sizes are resized.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1):
        super().__init__()
        self.resize = ResizeTo(32, exact=True)
        self.c1 = nn.Conv2d(in_channels, 6, 5)
        self.s2 = Subsample(6)
        self.c3 = PartialConv()
        self.s4 = Subsample(16)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.output = RBFOutput(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] == 28 and x.shape[-2] == 28:
            x = F.pad(x, (2, 2, 2, 2))
        x = self.resize(x)
        x = squash(self.s2(self.c1(x)))
        x = squash(self.s4(self.c3(x)))
        x = squash(self.c5(x)).flatten(1)
        return self.output(squash(self.f6(x)))


def _mlpconv(C_in: int, widths: tuple[int, int, int], kernel: int) -> list[nn.Module]:
    """One mlpconv layer: a kxk conv then two 1x1 convs (a per-pixel MLP), each with ReLU."""
    a, b, c = widths
    return [nn.Conv2d(C_in, a, kernel, padding=kernel // 2), nn.ReLU(inplace=True),
            nn.Conv2d(a, b, 1), nn.ReLU(inplace=True), nn.Conv2d(b, c, 1), nn.ReLU(inplace=True)]


class NetworkInNetwork(nn.Module):
    """NIN for CIFAR-10 (Lin et al., ICLR 2014, §4.2; the authors' cifar10 configuration): three
    mlpconv layers (192-160-96, 192-192-192, 192-192-classes) with 3x3/2 pooling and dropout 0.5
    between them, and global average pooling instead of fully connected layers (§3.2)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        layers = _mlpconv(in_channels, (192, 160, 96), 5)
        layers += [nn.MaxPool2d(3, 2, padding=1), nn.Dropout(0.5)]
        layers += _mlpconv(96, (192, 192, 192), 5)
        layers += [nn.AvgPool2d(3, 2, padding=1), nn.Dropout(0.5)]
        layers += _mlpconv(192, (192, 192, num_classes), 3)[:-1]  # no ReLU on the class maps
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.05)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x)).flatten(1)


def lenet5(info: Any) -> nn.Module:
    """LeNet-5 (LeCun et al. 1998)."""
    return LeNet5(info.num_classes, info.in_channels)


def nin(info: Any) -> nn.Module:
    """Network-in-Network, CIFAR configuration (Lin et al. 2014)."""
    return NetworkInNetwork(info.num_classes, info.in_channels)

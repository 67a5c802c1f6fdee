"""Hand-designed baselines and literature architectures, buildable for any dataset.

:func:`build_baseline` ``(name, info, **options)`` returns a freshly initialised
``nn.Module`` for a dataset described by ``info`` (``in_channels``, ``num_classes``,
``family``; e.g. :func:`evaluators.data.dataset_info`). No pretrained weights are ever
downloaded. Names are matched case-insensitively, ignoring ``-``, ``_`` and spaces
(``ResNet-20`` = ``resnet20``); an unknown name raises :class:`~nas.errors.UnknownName`
listing the known ones.

Hand-designed networks
----------------------
``resnet20/32/44/56/110``
    He et al. 2016, "Deep Residual Learning", §4.2: a 3x3 conv with 16 filters, three
    stages of n basic blocks (depth 6n+2) at 16/32/64 filters, the first block of stages
    2 and 3 with stride 2, global average pooling and a linear classifier. Shortcuts are
    **option A** as in the paper's CIFAR experiments: identity, and where the shape
    changes, stride-2 subsampling plus zero-padding of the new channels (no parameters).
    ResNet-20 has 0.27M and ResNet-56 0.85M parameters (paper, Table 6).
``resnet18``, ``mobilenetv2``, ``densenet121``
    the torchvision builders (``weights=None``). For the ``digits`` and ``cifar`` families
    (small inputs) the common CIFAR stem variant is used: ResNet-18's 7x7/2 conv and max
    pool become a 3x3/1 conv and no pool; DenseNet-121's likewise; MobileNetV2's first
    conv gets stride 1. The first conv also takes the dataset's ``in_channels``.
``densenet-bc-100``
    DenseNet-BC with growth rate k=12 and depth 100 for CIFAR (Huang et al. 2017, Table
    2: 0.8M parameters): a 3x3 conv with 2k filters, three dense blocks of 16 bottleneck
    layers (BN-ReLU-1x1 conv 4k, BN-ReLU-3x3 conv k), transitions with compression 0.5,
    built with torchvision's ``DenseNet`` classes.

Literature architectures
------------------------
Every architecture of :mod:`nas.zoo` (``nasnet-a``, ``amoebanet-a``, ``darts-v1``,
``darts-v2``, ``efficientnet-b0``, ``nb201-best``, ...) is a baseline too, built by its
space with the space's ``build_defaults`` for the dataset family (DARTS CIFAR network
C=36, 20 cells for ``cifar``); ``options`` are passed on to ``space.build``
(``channels``, ``layers``, ``auxiliary``, ...).
"""
from __future__ import annotations

import re
from typing import Any, Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from nas.errors import ConfigError, UnknownName
from nas.registry import Registry

BASELINES = Registry("baseline")


def normalize(name: str) -> str:
    """Lower-case, without ``-``, ``_`` and spaces: the form names are matched in."""
    return re.sub(r"[-_\s]", "", str(name).lower())


# -- He et al. CIFAR ResNets (option A) -------------------------------------------------------
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
    """conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU (He et al. 2016, Fig. 2)."""

    def __init__(self, C_in: int, C_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(C_in, C_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(C_out)
        self.conv2 = nn.Conv2d(C_out, C_out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(C_out)
        self.shortcut: nn.Module = nn.Identity() if stride == 1 and C_in == C_out else ShortcutA(C_in, C_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for CIFAR (He et al. 2016, §4.2), option A shortcuts, He-normal init."""

    def __init__(self, depth: int, num_classes: int = 10, in_channels: int = 3, width: int = 16):
        super().__init__()
        if (depth - 2) % 6 != 0 or depth < 8:
            raise ConfigError(f"CIFAR ResNet depth must be 6n+2 >= 8, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        stages, C_in = [], width
        for i, C_out in enumerate((width, 2 * width, 4 * width)):
            blocks = [BasicBlock(C_in if b == 0 else C_out, C_out, 2 if (b == 0 and i > 0) else 1) for b in range(n)]
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


def _small(info: Any) -> bool:
    return getattr(info, "family", "cifar") in ("digits", "cifar")


def _no_options(name: str, options: dict[str, Any]) -> None:
    if options:
        raise ConfigError(f"baseline {name!r} takes no build options, got {', '.join(sorted(options))} "
                          "(--channels/--layers apply to search-space architectures only)")


def _cifar_resnet(depth: int) -> Callable[..., nn.Module]:
    def build(info: Any, **options: Any) -> nn.Module:
        _no_options(f"resnet{depth}", options)
        return CifarResNet(depth, num_classes=info.num_classes, in_channels=info.in_channels)

    build.__doc__ = f"ResNet-{depth} for CIFAR (He et al. 2016), option A shortcuts"
    return build


# -- torchvision networks ------------------------------------------------------------------------------
def resnet18(info: Any, **options: Any) -> nn.Module:
    """torchvision ResNet-18; 3x3/1 stem without max pool for small inputs."""
    import torchvision

    _no_options("resnet18", options)
    m = torchvision.models.resnet18(weights=None, num_classes=info.num_classes)
    if _small(info):
        m.conv1 = nn.Conv2d(info.in_channels, 64, 3, stride=1, padding=1, bias=False)
        m.maxpool = nn.Identity()
    elif info.in_channels != 3:
        m.conv1 = nn.Conv2d(info.in_channels, 64, 7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
    return m


def mobilenetv2(info: Any, **options: Any) -> nn.Module:
    """torchvision MobileNetV2; first conv at stride 1 for small inputs."""
    import torchvision

    _no_options("mobilenetv2", options)
    m = torchvision.models.mobilenet_v2(weights=None, num_classes=info.num_classes)
    first = m.features[0][0]
    stride = 1 if _small(info) else 2
    if stride != first.stride[0] or info.in_channels != first.in_channels:
        conv = nn.Conv2d(info.in_channels, first.out_channels, 3, stride=stride, padding=1, bias=False)
        nn.init.kaiming_normal_(conv.weight, mode="fan_out")
        m.features[0][0] = conv
    return m


def densenet121(info: Any, **options: Any) -> nn.Module:
    """torchvision DenseNet-121; 3x3/1 stem without max pool for small inputs."""
    import torchvision

    _no_options("densenet121", options)
    m = torchvision.models.densenet121(weights=None, num_classes=info.num_classes)
    C = m.features.conv0.out_channels
    if _small(info):
        m.features.conv0 = nn.Conv2d(info.in_channels, C, 3, stride=1, padding=1, bias=False)
        m.features.pool0 = nn.Identity()
    elif info.in_channels != 3:
        m.features.conv0 = nn.Conv2d(info.in_channels, C, 7, stride=2, padding=3, bias=False)
    nn.init.kaiming_normal_(m.features.conv0.weight)
    return m


def densenet_bc_100(info: Any, **options: Any) -> nn.Module:
    """DenseNet-BC (k=12, depth 100) for CIFAR (Huang et al. 2017), torchvision DenseNet blocks."""
    from torchvision.models.densenet import DenseNet

    _no_options("densenet-bc-100", options)
    k = 12
    n = (100 - 4) // 6  # bottleneck layers per block: (depth - 4) / 6 = 16
    m = DenseNet(growth_rate=k, block_config=(n, n, n), num_init_features=2 * k, bn_size=4, drop_rate=0.0,
                 num_classes=info.num_classes)
    m.features.conv0 = nn.Conv2d(info.in_channels, 2 * k, 3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(m.features.conv0.weight)
    for name in ("norm0", "relu0", "pool0"):  # Huang et al.: the first conv feeds the first block directly
        setattr(m.features, name, nn.Identity())
    return m


# -- literature architectures through nas.zoo -----------------------------------------------------
def _zoo_builder(zoo_name: str) -> Callable[..., nn.Module]:
    def build(info: Any, **options: Any) -> nn.Module:
        from nas.settings import build_settings
        from nas.zoo import get_space, load_genotype

        arch = load_genotype(zoo_name)
        space = get_space(arch.space)
        return space.build(arch, **build_settings(space, info, options))  # the space's defaults, then the options

    build.__doc__ = f"literature architecture {zoo_name!r} (nas.zoo), built by its space"
    return build


def _register() -> None:
    for depth in (20, 32, 44, 56, 110):
        BASELINES.add(f"resnet{depth}", _cifar_resnet(depth),
                      f"ResNet-{depth} for CIFAR (He et al. 2016 §4.2), option A shortcuts")
    BASELINES.add("resnet18", resnet18, "torchvision ResNet-18 (3x3 stem, no max pool for small inputs)")
    BASELINES.add("mobilenetv2", mobilenetv2, "torchvision MobileNetV2 (stride-1 first conv for small inputs)")
    BASELINES.add("densenet121", densenet121, "torchvision DenseNet-121 (3x3 stem, no pool for small inputs)")
    BASELINES.add("densenet-bc-100", densenet_bc_100, "DenseNet-BC k=12, depth 100 for CIFAR (Huang et al. 2017)")
    from nas.zoo import list_genotypes

    for zoo_name in list_genotypes():
        if zoo_name not in BASELINES:
            BASELINES.add(zoo_name, _zoo_builder(zoo_name), f"literature architecture (nas.zoo {zoo_name})")


_register()


def list_baselines() -> list[str]:
    """Every baseline name: hand-designed networks first, then the zoo architectures."""
    return BASELINES.names()


def canonical_name(name: str) -> str | None:
    """The registered spelling of ``name`` (``ResNet-20`` -> ``resnet20``), or ``None``.

    Looked up in the registry as it is now, so baselines registered after import are found.
    """
    return {normalize(n): n for n in BASELINES.names()}.get(normalize(name))


def is_zoo_baseline(name: str) -> bool:
    """Whether ``name`` is a literature architecture from :mod:`nas.zoo` (built by a space)."""
    from nas.zoo import list_genotypes

    return canonical_name(name) in set(list_genotypes())


def build_baseline(name: str, info: Any, **options: Any) -> nn.Module:
    """Build baseline ``name`` for a dataset ``info`` (in_channels, num_classes, family)."""
    canon = canonical_name(name)
    if canon is None:
        raise UnknownName(f"unknown baseline {name!r}; known: {', '.join(list_baselines())}")
    return BASELINES.get(canon)(info, **options)


__all__ = ["BASELINES", "CifarResNet", "build_baseline", "canonical_name", "is_zoo_baseline", "list_baselines",
           "normalize"]

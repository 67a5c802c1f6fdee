"""MBConv blocks and EfficientNet (Tan & Le, ICML 2019), structured like torchvision.

The module tree mirrors ``torchvision.models.efficientnet`` (``features``, ``avgpool``,
``classifier``; ``MBConv.block`` / ``stochastic_depth``; SE ``fc1``/``fc2``), so the
B0–B7 parameter counts are identical and torchvision state dicts load with
``strict=True``. The stage table and coefficients of B0–B7 live in the ``mbconv`` search
space (``search_spaces.mbconv``); here ``stages`` is plain data: a list of dicts
``{kernel, expand, se, layers, channels, stride}`` with *unscaled* output channels and
layer counts; ``se`` is the squeeze ratio (0 = no SE module, 0.25 = EfficientNet).

Rounding (tensorflow/tpu ``efficientnet_model.py``): ``round_filters`` is TF's ``round_filters`` = torchvision's
``_make_divisible`` (divisor 8, never more than 10% down), ``round_repeats`` is
``ceil(depth * r)``. The head width is ``round_filters(head_channels, width)`` (TF); for
B0–B7 it equals torchvision's "4 x last stage channels".
"""
import math
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

STAGE_KEYS = ("kernel", "expand", "se", "layers", "channels", "stride")


def round_filters(filters: float, width: float = 1.0, divisor: int = 8,
                  min_value: Optional[int] = None) -> int:
    """Scale ``filters`` by ``width`` and round to a multiple of ``divisor`` (at most 10% down)."""
    v = filters * width
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


def round_repeats(repeats: int, depth: float = 1.0) -> int:
    """``ceil(depth * repeats)`` (TF ``round_repeats`` = torchvision ``adjust_depth``)."""
    return int(math.ceil(depth * repeats))


def conv_bn_act(C_in: int, C_out: int, kernel: int, stride: int = 1, groups: int = 1,
                act: bool = True, bn_eps: float = 1e-5, bn_momentum: float = 0.1) -> nn.Sequential:
    """Conv(k, stride, 'same' padding, no bias) -> BN -> SiLU (torchvision ``Conv2dNormActivation``)."""
    layers: List[nn.Module] = [
        nn.Conv2d(C_in, C_out, kernel, stride=stride, padding=(kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(C_out, eps=bn_eps, momentum=bn_momentum),
    ]
    if act:
        layers.append(nn.SiLU(inplace=False))
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """SE: GAP -> 1x1 conv to ``squeeze`` -> SiLU -> 1x1 conv back -> sigmoid -> scale the input."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.activation = nn.SiLU(inplace=False)
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return x * self.scale_activation(scale)


class StochasticDepth(nn.Module):
    """Row-mode stochastic depth: in training drop whole samples with prob ``p``, rescale by 1/(1-p)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        noise = torch.empty((x.size(0), 1, 1, 1), dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise = noise / survival
        return x * noise


class InputResize(nn.Module):
    """Bilinear resize of the input by ``scale`` (EfficientNet's resolution on a fixed-size dataset).

    Each spatial side becomes ``floor(side * scale + 0.5)`` (at least 1); no parameters.
    Compound scaling trains a model with macro resolution r on data of native size s as if
    the data were 224 px: the model sees ``s * r / 224`` px (``search_spaces.mbconv``).
    """

    def __init__(self, scale: float):
        super().__init__()
        if not scale > 0:
            raise ValueError(f"InputResize scale must be > 0, got {scale!r}")
        self.scale = float(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = max(1, int(math.floor(x.size(2) * self.scale + 0.5)))
        w = max(1, int(math.floor(x.size(3) * self.scale + 0.5)))
        return F.interpolate(x, size=[h, w], mode="bilinear", align_corners=False)


class MBConv(nn.Module):
    """Mobile inverted bottleneck (MnasNet/EfficientNet; torchvision ``MBConv``).

    expand 1x1 (only if the expanded width differs) -> depthwise kxk (stride) -> SE
    (squeeze = max(1, int(C_in * se)); omitted if ``se == 0``) -> project 1x1 (no
    activation). Residual with stochastic depth ``drop_prob`` only if stride 1 and C_in == C_out.
    """

    def __init__(self, C_in: int, C_out: int, kernel: int, stride: int, expand: float,
                 se: float = 0.25, drop_prob: float = 0.0, bn_eps: float = 1e-5,
                 bn_momentum: float = 0.1):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"MBConv stride must be 1 or 2, got {stride!r}")
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"MBConv kernel must be a positive odd int, got {kernel!r}")
        if expand < 1:
            raise ValueError(f"MBConv expand ratio must be >= 1, got {expand!r}")
        if not 0.0 <= se <= 1.0:
            raise ValueError(f"MBConv se ratio must be in [0, 1], got {se!r}")
        self.use_res_connect = stride == 1 and C_in == C_out
        bn = {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
        expanded = round_filters(C_in, expand)
        layers: List[nn.Module] = []
        if expanded != C_in:
            layers.append(conv_bn_act(C_in, expanded, 1, **bn))
        layers.append(conv_bn_act(expanded, expanded, kernel, stride, groups=expanded, **bn))
        if se > 0:
            layers.append(SqueezeExcitation(expanded, max(1, int(C_in * se))))
        layers.append(conv_bn_act(expanded, C_out, 1, act=False, **bn))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(drop_prob)
        self.out_channels = C_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out


def _check_stages(stages: Sequence) -> List[Dict]:
    clean: List[Dict] = []
    if not isinstance(stages, (list, tuple)) or len(stages) == 0:
        raise ValueError("EfficientNet needs a non-empty list of stage dicts")
    for i, stage in enumerate(stages):
        if not isinstance(stage, dict) or set(stage) != set(STAGE_KEYS):
            got = sorted(stage) if isinstance(stage, dict) else type(stage).__name__
            raise ValueError(f"EfficientNet stage {i}: expected keys {list(STAGE_KEYS)}, got {got}")
        if int(stage["layers"]) < 1 or int(stage["channels"]) < 1:
            raise ValueError(f"EfficientNet stage {i}: layers and channels must be >= 1")
        clean.append(dict(stage))
    return clean


class EfficientNet(nn.Module):
    """EfficientNet built from a stage table and compound-scaling coefficients.

    ``stem_stride=2`` is the ImageNet stem; use 1 for tiny inputs. ``drop_connect`` is the
    final stochastic-depth rate, ramped linearly over blocks (block_idx / total_blocks).
    ``input_scale`` != 1 resizes the input first (:class:`InputResize`, no parameters).
    """

    #: model.py export (:mod:`nas.spec`): positional arguments as (variable name, kind), and their comment
    EXPORT_ARGS = (("STAGES", "stages"),)
    EXPORT_COMMENT = "# MBConv stages (unscaled channels/layers; MODEL_KWARGS width/depth scale them)"

    def __init__(self, stages: Sequence, *, width: float = 1.0, depth: float = 1.0, dropout: float = 0.2,
                 drop_connect: float = 0.2, num_classes: int = 1000, in_channels: int = 3,
                 stem_stride: int = 2, stem_channels: int = 32, head_channels: int = 1280,
                 bn_eps: float = 1e-5, bn_momentum: float = 0.1, input_scale: float = 1.0):
        super().__init__()
        spec = _check_stages(stages)
        self.resize = None if input_scale == 1.0 else InputResize(input_scale)
        bn = {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
        C_prev = round_filters(stem_channels, width)
        features: List[nn.Module] = [conv_bn_act(in_channels, C_prev, 3, stem_stride, **bn)]
        repeats = [round_repeats(int(s["layers"]), depth) for s in spec]
        total_blocks = sum(repeats)
        block_id = 0
        for stage, n in zip(spec, repeats):
            C_out = round_filters(int(stage["channels"]), width)
            blocks: List[nn.Module] = []
            for r in range(n):
                blocks.append(MBConv(C_prev, C_out, int(stage["kernel"]), int(stage["stride"]) if r == 0 else 1,
                                     float(stage["expand"]), float(stage["se"]),
                                     drop_connect * block_id / total_blocks, **bn))
                C_prev = C_out
                block_id += 1
            features.append(nn.Sequential(*blocks))
        C_head = round_filters(head_channels, width)
        features.append(conv_bn_act(C_prev, C_head, 1, **bn))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(C_head, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's init: kaiming-normal (fan_out) convs, unit BN, uniform(+-1/sqrt(out)) Linear."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                bound = 1.0 / math.sqrt(m.out_features)
                nn.init.uniform_(m.weight, -bound, bound)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.resize is not None:
            x = self.resize(x)
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))

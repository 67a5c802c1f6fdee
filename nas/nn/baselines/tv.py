"""torchvision's models (``torchvision.models.get_model(name, weights=None)``) with small-input stems.

Only the stem is adapted, as is common for CIFAR-sized inputs: the first convolution takes the
dataset's channels and, for the ``digits`` and ``cifar`` families, loses its stride and the
max pool after it (ResNet/ResNeXt, DenseNet, GoogLeNet), gets stride 1 (MobileNet, EfficientNet)
or becomes a 3x3/1 conv (AlexNet, ConvNeXt, Swin, Inception-v3's first convs keep their size but
get stride 1 and padding); networks that need a minimum input size to downsample (VGG's five
2x2 pools: 32, AlexNet: 16) first resize smaller inputs up to it. ViT-B/16 on small inputs
embeds 4x4 patches. Everything after the stem is torchvision's, so ImageNet variants
(``imagenet`` family, 3 channels) have exactly torchvision's parameter count.
"""
from __future__ import annotations

from typing import Any, Callable

import torch.nn as nn

from nas.nn.baselines.common import ResizeTo, is_imagenet


def _conv_like(conv: nn.Conv2d, in_channels: int, kernel: int | None = None, stride: int | None = None,
               padding: int | None = None) -> nn.Conv2d:
    """A fresh conv like ``conv`` with ``in_channels`` and, where given, another kernel/stride/padding."""
    k = conv.kernel_size[0] if kernel is None else kernel
    new = nn.Conv2d(in_channels, conv.out_channels, k, stride=conv.stride[0] if stride is None else stride,
                    padding=conv.padding[0] if padding is None else padding, bias=conv.bias is not None)
    nn.init.kaiming_normal_(new.weight, mode="fan_out", nonlinearity="relu")
    if new.bias is not None:
        nn.init.zeros_(new.bias)
    return new


def _stem(model: nn.Module, kind: str, info: Any) -> nn.Module:
    """Adapt ``model``'s stem of ``kind`` to ``info`` (see the module docstring)."""
    small, C = not is_imagenet(info), info.in_channels
    if kind == "resnet":
        if small:
            model.conv1, model.maxpool = _conv_like(model.conv1, C, 3, 1, 1), nn.Identity()
        elif C != 3:
            model.conv1 = _conv_like(model.conv1, C)
    elif kind == "densenet":
        f = model.features
        if small:
            f.conv0, f.pool0 = _conv_like(f.conv0, C, 3, 1, 1), nn.Identity()
        elif C != 3:
            f.conv0 = _conv_like(f.conv0, C)
    elif kind == "features00":  # MobileNetV2/V3, EfficientNet: features[0][0] is the first 3x3/2 conv
        first = model.features[0][0]
        if small or C != 3:
            model.features[0][0] = _conv_like(first, C, stride=1 if small else None)
    elif kind in ("convnext", "swin"):  # features[0][0]: the 4x4/4 patchify conv
        first = model.features[0][0]
        if small:
            model.features[0][0] = _conv_like(first, C, 3, 1, 1)
        elif C != 3:
            model.features[0][0] = _conv_like(first, C)
    elif kind == "vgg":
        if small or C != 3:
            model.features[0] = _conv_like(model.features[0], C)
        if small:
            model.features = nn.Sequential(ResizeTo(32), *model.features)
    elif kind == "alexnet":
        if small:
            model.features[0] = _conv_like(model.features[0], C, 3, 1, 1)
            model.features = nn.Sequential(ResizeTo(16), *model.features)
        elif C != 3:
            model.features[0] = _conv_like(model.features[0], C)
    elif kind == "googlenet":
        if small:
            model.conv1.conv, model.maxpool1 = _conv_like(model.conv1.conv, C, 3, 1, 1), nn.Identity()
        elif C != 3:
            model.conv1.conv = _conv_like(model.conv1.conv, C)
    elif kind == "inception":
        if small:
            model.Conv2d_1a_3x3.conv = _conv_like(model.Conv2d_1a_3x3.conv, C, 3, 1, 1)
            model.Conv2d_2a_3x3.conv.padding = (1, 1)
            model.Conv2d_4a_3x3.conv.padding = (1, 1)
            model.maxpool1, model.maxpool2 = nn.Identity(), nn.Identity()
        elif C != 3:
            model.Conv2d_1a_3x3.conv = _conv_like(model.Conv2d_1a_3x3.conv, C)
    elif kind == "vit":
        if small or C != 3:
            patch = 4 if small else model.patch_size
            model.conv_proj = _conv_like(model.conv_proj, C, patch, patch, 0)
            model.patch_size, model.image_size = patch, info.image_size
    else:
        raise ValueError(f"unknown stem kind {kind!r}")
    return model


def _extra(tv_name: str, info: Any) -> dict[str, Any]:
    """Builder keywords beyond ``num_classes``: no auxiliary heads; ViT's sequence length."""
    if tv_name in ("googlenet", "inception_v3"):
        return {"aux_logits": False, "init_weights": True}
    if tv_name.startswith("vit_") and not is_imagenet(info):
        if info.image_size % 4:
            raise ValueError(f"ViT with 4x4 patches needs an image size divisible by 4, got {info.image_size}")
        return {"image_size": info.image_size * 4}  # 16x16 patches of 4x the size: the same token count
    if tv_name.startswith("vit_") and info.image_size != 224:
        return {"image_size": info.image_size}
    return {}


def torchvision_builder(tv_name: str, stem: str) -> Callable[[Any], nn.Module]:
    """A builder ``info -> torchvision.models.get_model(tv_name, weights=None, ...)`` with the stem adapted."""

    def build(info: Any) -> nn.Module:
        import torchvision

        model = torchvision.models.get_model(tv_name, weights=None, num_classes=info.num_classes,
                                             **_extra(tv_name, info))
        return _stem(model, stem, info)

    build.__name__ = tv_name
    build.__doc__ = f"torchvision {tv_name} (weights=None), {stem} stem adapted to the input"
    return build


alexnet = torchvision_builder("alexnet", "alexnet")
vgg11 = torchvision_builder("vgg11_bn", "vgg")
vgg13 = torchvision_builder("vgg13_bn", "vgg")
vgg16 = torchvision_builder("vgg16_bn", "vgg")
vgg19 = torchvision_builder("vgg19_bn", "vgg")
googlenet = torchvision_builder("googlenet", "googlenet")
inception_v3 = torchvision_builder("inception_v3", "inception")
resnet18 = torchvision_builder("resnet18", "resnet")
resnet34 = torchvision_builder("resnet34", "resnet")
resnet50 = torchvision_builder("resnet50", "resnet")
resnet101 = torchvision_builder("resnet101", "resnet")
resnet152 = torchvision_builder("resnet152", "resnet")
resnext50_32x4d = torchvision_builder("resnext50_32x4d", "resnet")
densenet121 = torchvision_builder("densenet121", "densenet")
mobilenet_v2 = torchvision_builder("mobilenet_v2", "features00")
mobilenet_v3_large = torchvision_builder("mobilenet_v3_large", "features00")
mobilenet_v3_small = torchvision_builder("mobilenet_v3_small", "features00")
efficientnet_b0 = torchvision_builder("efficientnet_b0", "features00")
efficientnet_b1 = torchvision_builder("efficientnet_b1", "features00")
efficientnet_b2 = torchvision_builder("efficientnet_b2", "features00")
efficientnet_b3 = torchvision_builder("efficientnet_b3", "features00")
efficientnet_b4 = torchvision_builder("efficientnet_b4", "features00")
efficientnet_b5 = torchvision_builder("efficientnet_b5", "features00")
efficientnet_b6 = torchvision_builder("efficientnet_b6", "features00")
efficientnet_b7 = torchvision_builder("efficientnet_b7", "features00")
efficientnet_v2_s = torchvision_builder("efficientnet_v2_s", "features00")
vit_b_16 = torchvision_builder("vit_b_16", "vit")
swin_t = torchvision_builder("swin_t", "swin")
convnext_tiny = torchvision_builder("convnext_tiny", "convnext")


def se_resnet50(info: Any) -> nn.Module:
    """SE-ResNet-50 (Hu et al., CVPR 2018) on torchvision's ResNet skeleton; small-input stem as ResNet's."""
    from nas.nn.baselines.attention import se_resnet50 as make

    return _stem(make(info.num_classes), "resnet", info)


def cbam_resnet50(info: Any) -> nn.Module:
    """CBAM-ResNet-50 (Woo et al., ECCV 2018) on torchvision's ResNet skeleton; small-input stem as ResNet's."""
    from nas.nn.baselines.attention import cbam_resnet50 as make

    return _stem(make(info.num_classes), "resnet", info)

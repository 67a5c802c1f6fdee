"""Hand-designed baseline networks, one small module per family, and their catalog.

:data:`CATALOG` is plain data (nothing is imported): registry name -> :class:`Entry`, whose
``target`` is a lazy ``"module:attr"`` builder ``build(info) -> nn.Module`` (see
:mod:`nas.nn.baselines.common` for ``info``). The application registers the catalog in
:data:`nas.registry.BASELINES`. ``imagenet`` says whether the paper has an ImageNet variant;
where it does not, the small-input (CIFAR) network is built for every dataset.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One baseline: its builder, family and paper, and whether it has an ImageNet variant."""

    target: str
    family: str
    paper: str
    imagenet: bool


_M = "nas.nn.baselines."
_TV = _M + "tv:"
_HE16 = "He et al., CVPR 2016"
_RES_CIFAR = "He et al., CVPR 2016, §4.2 (CIFAR, option A)"
_EFF = "Tan & Le, ICML 2019"

CATALOG: dict[str, Entry] = {
    **{f"resnet{d}": Entry(_M + f"resnet_cifar:resnet{d}", "ResNet (CIFAR)", _RES_CIFAR, False)
       for d in (20, 32, 44, 56, 110)},
    "lenet5": Entry(_M + "classic:lenet5", "LeNet", "LeCun et al., Proc. IEEE 1998", False),
    "nin": Entry(_M + "classic:nin", "Network-in-Network", "Lin et al., ICLR 2014", False),
    "alexnet": Entry(_TV + "alexnet", "AlexNet", "Krizhevsky et al., NeurIPS 2012", True),
    **{f"vgg{d}": Entry(_TV + f"vgg{d}", "VGG (BN)", "Simonyan & Zisserman, ICLR 2015", True) for d in (11, 13, 16, 19)},
    "googlenet": Entry(_TV + "googlenet", "Inception", "Szegedy et al., CVPR 2015", True),
    "inception-v3": Entry(_TV + "inception_v3", "Inception", "Szegedy et al., CVPR 2016", True),
    **{f"resnet{d}": Entry(_TV + f"resnet{d}", "ResNet", _HE16, True) for d in (18, 34, 50, 101, 152)},
    "preact-resnet110": Entry(_M + "resnet_cifar:preact_resnet110", "pre-activation ResNet",
                              "He et al., ECCV 2016", False),
    "preact-resnet164": Entry(_M + "resnet_cifar:preact_resnet164", "pre-activation ResNet",
                              "He et al., ECCV 2016", False),
    "resnet110-sd": Entry(_M + "resnet_cifar:resnet110_sd", "stochastic-depth ResNet", "Huang et al., ECCV 2016",
                          False),
    "wrn-28-10": Entry(_M + "wide:wrn_28_10", "Wide ResNet", "Zagoruyko & Komodakis, BMVC 2016", False),
    "wrn-16-8": Entry(_M + "wide:wrn_16_8", "Wide ResNet", "Zagoruyko & Komodakis, BMVC 2016", False),
    "resnext29-8x64d": Entry(_M + "wide:resnext29_8x64d", "ResNeXt", "Xie et al., CVPR 2017", False),
    "resnext50-32x4d": Entry(_TV + "resnext50_32x4d", "ResNeXt", "Xie et al., CVPR 2017", True),
    "densenet-bc-100": Entry(_M + "densenet_bc:densenet_bc_100", "DenseNet", "Huang et al., CVPR 2017", False),
    "densenet-bc-190": Entry(_M + "densenet_bc:densenet_bc_190", "DenseNet", "Huang et al., CVPR 2017", False),
    "densenet121": Entry(_TV + "densenet121", "DenseNet", "Huang et al., CVPR 2017", True),
    "se-resnet50": Entry(_TV + "se_resnet50", "SE-ResNet", "Hu et al., CVPR 2018", True),
    "cbam-resnet50": Entry(_TV + "cbam_resnet50", "CBAM-ResNet", "Woo et al., ECCV 2018", True),
    "xception": Entry(_M + "mobile:xception", "Xception", "Chollet, CVPR 2017", True),
    "mobilenetv1": Entry(_M + "mobile:mobilenet_v1", "MobileNet", "Howard et al., arXiv 2017", True),
    "mobilenetv2": Entry(_TV + "mobilenet_v2", "MobileNet", "Sandler et al., CVPR 2018", True),
    "mobilenetv3-large": Entry(_TV + "mobilenet_v3_large", "MobileNet", "Howard et al., ICCV 2019", True),
    "mobilenetv3-small": Entry(_TV + "mobilenet_v3_small", "MobileNet", "Howard et al., ICCV 2019", True),
    **{f"efficientnet-b{i}": Entry(_TV + f"efficientnet_b{i}", "EfficientNet", _EFF, True) for i in range(8)},
    "efficientnetv2-s": Entry(_TV + "efficientnet_v2_s", "EfficientNet", "Tan & Le, ICML 2021", True),
    "vit-b16": Entry(_TV + "vit_b_16", "ViT", "Dosovitskiy et al., ICLR 2021", True),
    "vit-small-p4": Entry(_M + "transformers:vit_small_p4", "ViT", "Dosovitskiy et al., ICLR 2021", False),
    "mlp-mixer": Entry(_M + "transformers:mlp_mixer", "MLP-Mixer", "Tolstikhin et al., NeurIPS 2021", True),
    "swin-t": Entry(_TV + "swin_t", "Swin", "Liu et al., ICCV 2021", True),
    "convnext-t": Entry(_TV + "convnext_tiny", "ConvNeXt", "Liu et al., CVPR 2022", True),
}

__all__ = ["CATALOG", "Entry"]

"""Hand-designed baselines: parameter counts against the papers and torchvision, any dataset, no downloads."""
from __future__ import annotations

import pytest
import torch
import torchvision

from evaluators.data import DatasetInfo, dataset_info
from nas.app.baselines import build_baseline, canonical_name, list_baselines
from nas.errors import ConfigError, UnknownName

CIFAR10 = dataset_info("cifar10")
DIGITS = dataset_info("digits")
IMAGENET10 = DatasetInfo("imagenet-10", 3, 10, 224, "imagenet")
IMAGENET = DatasetInfo("imagenet", 3, 1000, 224, "imagenet")


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a baseline tried to download weights")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.mark.parametrize("name, millions", [("resnet20", 0.27), ("resnet56", 0.85)])
def test_cifar_resnets_match_he_et_al_table_6(name, millions):
    count = n_params(build_baseline(name, CIFAR10))
    assert abs(count - millions * 1e6) <= 0.01 * millions * 1e6, count


def test_resnet110_rounds_to_the_published_1_7m():
    assert round(n_params(build_baseline("resnet110", CIFAR10)) / 1e6, 1) == 1.7


def test_cifar_resnet_option_a_count_is_exact():
    """ResNet-20, option A: the conv/BN/FC weights counted by hand (shortcuts have no parameters)."""
    convs = 3 * 16 * 9 + 6 * 16 * 16 * 9 + (16 * 32 + 5 * 32 * 32) * 9 + (32 * 64 + 5 * 64 * 64) * 9
    bns = 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)
    assert n_params(build_baseline("ResNet-20", CIFAR10)) == convs + bns + 64 * 10 + 10


def test_torchvision_baselines_equal_torchvision_builders():
    for name, builder in (("resnet18", torchvision.models.resnet18), ("mobilenetv2", torchvision.models.mobilenet_v2),
                          ("densenet121", torchvision.models.densenet121)):
        assert n_params(build_baseline(name, IMAGENET10)) == n_params(builder(weights=None, num_classes=10)), name
    # CIFAR stem variants: ResNet-18's 7x7 conv becomes 3x3 (no max pool); MobileNetV2 only changes a stride
    tv18 = n_params(torchvision.models.resnet18(weights=None, num_classes=10))
    assert n_params(build_baseline("resnet18", CIFAR10)) == tv18 - 64 * 3 * 49 + 64 * 3 * 9
    assert n_params(build_baseline("resnet18", DIGITS)) == tv18 - 64 * 3 * 49 + 64 * 1 * 9
    assert n_params(build_baseline("mobilenetv2", CIFAR10)) == n_params(
        torchvision.models.mobilenet_v2(weights=None, num_classes=10))


def test_efficientnet_b0_and_darts_v2_reference_counts():
    # REFERENCE §7.5: torchvision efficientnet_b0 has 5,288,548 parameters
    b0 = build_baseline("efficientnet-b0", IMAGENET)
    assert n_params(b0) == n_params(torchvision.models.efficientnet_b0(weights=None)) == 5_288_548
    # REFERENCE §3.3: DARTS_V2 at C=36, L=20 on CIFAR-10 has 3,349,342 parameters
    assert n_params(build_baseline("darts-v2", CIFAR10)) == 3_349_342


def test_densenet_bc_100_count():
    """DenseNet-BC, k=12, depth 100 (Huang et al. 2017, Table 2: 0.8M), counted layer by layer."""
    k, n, c = 12, 16, 24
    total = 3 * c * 9  # first 3x3 conv, 2k filters
    for block in range(3):
        for _ in range(n):  # BN(c), 1x1 conv c->4k, BN(4k), 3x3 conv 4k->k
            total += 2 * c + c * 4 * k + 2 * 4 * k + 4 * k * k * 9
            c += k
        if block < 2:  # transition: BN(c), 1x1 conv c->c/2
            total += 2 * c + c * (c // 2)
            c //= 2
    total += 2 * c + c * 10 + 10  # final BN and classifier
    count = n_params(build_baseline("densenet-bc-100", CIFAR10))
    assert count == total and abs(count - 0.8e6) < 0.05e6


@pytest.mark.parametrize("name", [n for n in list_baselines() if n not in ("densenet121", "resnet110")])
def test_every_baseline_runs_on_small_inputs(name):
    torch.manual_seed(0)
    model = build_baseline(name, DIGITS).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 8, 8))
    assert out.shape == (2, 10)


def test_names_and_errors():
    names = list_baselines()
    for n in ("resnet20", "resnet56", "resnet18", "mobilenetv2", "densenet-bc-100", "efficientnet-b0",
              "nasnet-a", "amoebanet-a", "darts-v2"):
        assert n in names
    assert canonical_name("ResNet_56") == "resnet56" and canonical_name("DenseNet-BC-100") == "densenet-bc-100"
    with pytest.raises(UnknownName, match="unknown baseline 'vgg16'; known: resnet20, "):
        build_baseline("vgg16", CIFAR10)
    with pytest.raises(ConfigError, match="takes no build options"):
        build_baseline("resnet20", CIFAR10, channels=8)
    small = build_baseline("darts-v2", CIFAR10, channels=8, layers=5)  # zoo entries take space options
    assert n_params(small) < 200_000


def test_baselines_registered_after_import_are_found():
    from nas.app.baselines import BASELINES

    name = "Late-Net_7"
    BASELINES.add(name, lambda info, **options: torch.nn.Linear(info.in_channels, info.num_classes), "a test net")
    try:
        assert canonical_name("latenet7") == name and canonical_name("LATE NET 7") == name
        assert isinstance(build_baseline("late-net-7", DIGITS), torch.nn.Linear)
    finally:
        BASELINES._entries.pop(name)  # the registry has no public removal; keep other tests' view unchanged
        BASELINES._summaries.pop(name)
    assert canonical_name("latenet7") is None

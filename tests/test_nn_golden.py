"""Golden parameter and MAC counts of compiled models against the reference code (quark0/darts, torchvision, AutoDL-Projects).

The expected numbers come from the reference implementations (quark0/darts, torchvision,
NAS-Bench-201), never from this code: DARTS counts are those of quark0/darts cnn/model.py, EfficientNet is
compared with torchvision built in the test, NB201 with the benchmark CSV.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
import torchvision

from nas.nn import EfficientNet, NetworkCIFAR, NetworkImageNet, TinyNetwork
from nas.nn.measure import count_macs, count_params
from search_spaces.mbconv import B0_STAGES, EFFICIENTNET_COEFFICIENTS

from evaluators.tabular import DEFAULT_TABLE as NB201_CSV  # noqa: E402  (packaged copy of the table)


def _cell(pairs, concat):
    """quark0 flat genotype (two pairs per node) -> (nodes, concat) for Cell."""
    return [("add", [pairs[i], pairs[i + 1]]) for i in range(0, len(pairs), 2)], concat


# quark0/darts cnn/genotypes.py
DARTS_V2 = (
    _cell([("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
           ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)], [2, 3, 4, 5]),
    _cell([("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
           ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)], [2, 3, 4, 5]),
)
DARTS_V1 = (
    _cell([("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
           ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)], [2, 3, 4, 5]),
    _cell([("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
           ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)], [2, 3, 4, 5]),
)
NASNET = (
    _cell([("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 0), ("sep_conv_3x3", 0),
           ("avg_pool_3x3", 1), ("skip_connect", 0), ("avg_pool_3x3", 0), ("avg_pool_3x3", 0),
           ("sep_conv_3x3", 1), ("skip_connect", 1)], [2, 3, 4, 5, 6]),
    _cell([("sep_conv_5x5", 1), ("sep_conv_7x7", 0), ("max_pool_3x3", 1), ("sep_conv_7x7", 0),
           ("avg_pool_3x3", 1), ("sep_conv_5x5", 0), ("skip_connect", 3), ("avg_pool_3x3", 2),
           ("sep_conv_3x3", 2), ("max_pool_3x3", 1)], [4, 5, 6]),
)
AMOEBA = (
    _cell([("avg_pool_3x3", 0), ("max_pool_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 2),
           ("sep_conv_3x3", 0), ("avg_pool_3x3", 3), ("sep_conv_3x3", 1), ("skip_connect", 1),
           ("skip_connect", 0), ("avg_pool_3x3", 1)], [4, 5, 6]),
    _cell([("avg_pool_3x3", 0), ("sep_conv_3x3", 1), ("max_pool_3x3", 0), ("sep_conv_7x7", 2),
           ("sep_conv_7x7", 0), ("avg_pool_3x3", 1), ("max_pool_3x3", 0), ("max_pool_3x3", 1),
           ("conv_7x1_1x7", 0), ("sep_conv_3x3", 5)], [3, 4, 6]),
)


@pytest.fixture(scope="module")
def darts_v2_cifar():
    torch.manual_seed(0)
    return NetworkCIFAR(*DARTS_V2, C=36, num_classes=10, layers=20, auxiliary=True)


def test_darts_v2_cifar_params(darts_v2_cifar):
    assert count_params(darts_v2_cifar) == 3_349_342
    assert count_params(darts_v2_cifar, exclude_aux=False) == 3_825_768


def test_darts_v2_cifar_macs(darts_v2_cifar):
    assert count_macs(darts_v2_cifar, (1, 3, 32, 32)) == 528_359_040


def test_darts_v2_cifar_channel_trace(darts_v2_cifar):
    widths = [cell.out_channels for cell in darts_v2_cifar.cells]
    assert widths[:6] == [144] * 6 and widths[6:13] == [288] * 7 and widths[13:] == [576] * 7
    assert [i for i, c in enumerate(darts_v2_cifar.cells) if c.reduction] == [6, 13]
    assert darts_v2_cifar.classifier.in_features == 576


@pytest.mark.parametrize("genotype,expected", [
    (DARTS_V1, 3_169_414), (NASNET, 3_830_950), (AMOEBA, 3_145_078),
])
def test_cifar_genotype_params(genotype, expected):
    net = NetworkCIFAR(*genotype, C=36, num_classes=10, layers=20, auxiliary=False)
    assert count_params(net) == expected


def test_darts_v2_imagenet_params():
    net = NetworkImageNet(*DARTS_V2, C=48, num_classes=1000, layers=14, auxiliary=True)
    assert count_params(net) == 4_718_752
    assert count_params(net, exclude_aux=False) == 5_979_528


def _torchvision_count(name: str) -> int:
    torch.manual_seed(0)
    return sum(p.numel() for p in getattr(torchvision.models, f"efficientnet_{name}")(weights=None).parameters())


def _ours(name: str) -> EfficientNet:
    c = EFFICIENTNET_COEFFICIENTS[name]
    return EfficientNet([dict(b) for b in B0_STAGES], width=c["width"], depth=c["depth"], dropout=c["dropout"],
                        num_classes=1000)


def test_efficientnet_b0_matches_torchvision_exactly():
    torch.manual_seed(0)
    ours = _ours("b0").eval()
    assert count_params(ours) == 5_288_548
    reference = torchvision.models.efficientnet_b0(weights=None).eval()
    reference.load_state_dict(ours.state_dict(), strict=True)  # same module tree, same shapes
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), reference(x), atol=1e-5)


@pytest.mark.parametrize("name", ["b1", "b2", "b3"])
def test_efficientnet_scaled_params_match_torchvision(name):
    assert count_params(_ours(name)) == _torchvision_count(name)


# NB201 genotypes, hard-coded: node j = [(op, src), ...] (AutoDL-Projects cell_searchs/genotypes.py).
NB201_CASES = {
    1: [[("nor_conv_3x3", 0)], [("nor_conv_3x3", 0), ("avg_pool_3x3", 1)],
        [("skip_connect", 0), ("nor_conv_3x3", 1), ("skip_connect", 2)]],          # README example
    3: [[("avg_pool_3x3", 0)], [("skip_connect", 0), ("none", 1)],
        [("none", 0), ("none", 1), ("skip_connect", 2)]],                          # no convs: the minimum
    1462: [[("nor_conv_3x3", 0)], [("nor_conv_3x3", 0), ("nor_conv_3x3", 1)],
           [("nor_conv_3x3", 0), ("nor_conv_3x3", 1), ("nor_conv_3x3", 2)]],       # all conv3x3: the maximum
    6111: [[("nor_conv_3x3", 0)], [("nor_conv_3x3", 0), ("nor_conv_3x3", 1)],
           [("skip_connect", 0), ("nor_conv_3x3", 1), ("nor_conv_1x1", 2)]],       # best test accuracy
    11472: [[("nor_conv_3x3", 0)], [("none", 0), ("nor_conv_3x3", 1)],
            [("skip_connect", 0), ("none", 1), ("skip_connect", 2)]],              # the ResNet cell
    0: [[("avg_pool_3x3", 0)], [("nor_conv_1x1", 0), ("skip_connect", 1)],
        [("nor_conv_1x1", 0), ("skip_connect", 1), ("skip_connect", 2)]],
}
NB201_EXACT = {1: 802_426, 3: 73_306, 1462: 1_531_546}  # counted with AutoDL-Projects' TinyNetwork(16, 5), CIFAR-10


def _nb201_string(nodes) -> str:
    return "+".join("|" + "|".join(f"{op}~{src}" for op, src in node) + "|" for node in nodes)


@pytest.fixture(scope="module")
def nb201_rows():
    with NB201_CSV.open() as f:
        return {int(r["arch_index"]): r for r in csv.DictReader(f) if int(r["arch_index"]) in NB201_CASES}


@pytest.mark.parametrize("index", sorted(NB201_CASES))
def test_nb201_params_match_benchmark(index, nb201_rows):
    row = nb201_rows[index]
    nodes = NB201_CASES[index]
    assert row["arch"] == _nb201_string(nodes)
    net = TinyNetwork(nodes, C=16, N=5, num_classes=10)
    params = count_params(net)
    assert params == pytest.approx(float(row["params_mb"]) * 1e6, rel=0.01)
    if index in NB201_EXACT:
        assert params == NB201_EXACT[index]


@pytest.mark.parametrize("index,macs", [(1, 113_951_360), (3, 7_783_040), (1462, 220_119_680)])
def test_nb201_macs_match_reference(index, macs):
    assert count_macs(TinyNetwork(NB201_CASES[index], C=16, N=5, num_classes=10), (1, 3, 32, 32)) == macs

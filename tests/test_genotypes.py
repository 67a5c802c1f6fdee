"""The literature genotype zoo (``nas/genotypes/*.yaml``) and the architecture resolver."""
from __future__ import annotations

import pytest

import search_spaces  # noqa: F401  (registers the first-party spaces)
from nas.arch import Architecture
from nas.errors import InvalidArchitecture
from nas.genotype import format_genotype
from nas.registry import SPACES
from nas.settings import space_defaults
from nas.zoo import get_space, list_genotypes, load_genotype, resolve_arch
from tests.space_helpers import nb201_rows


def _g(normal, nc, reduce, rc) -> str:
    pairs = lambda ps: ", ".join(f"({op!r}, {i})" for op, i in ps)  # noqa: E731
    return f"Genotype(normal=[{pairs(normal)}], normal_concat={nc}, reduce=[{pairs(reduce)}], reduce_concat={rc})"


# quark0/darts cnn/genotypes.py (Liu et al., ICLR 2019), as printed by its namedtuple repr.
DARTS_V2 = (
    "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), "
    "('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=[2, 3, 4, 5], "
    "reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), "
    "('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])"
)
QUARK0 = {
    "darts-v2": DARTS_V2,
    "darts-v1": _g(
        [("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
         ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)], [2, 3, 4, 5],
        [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
         ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)], [2, 3, 4, 5],
    ),
    "nasnet-a": _g(
        [("sep_conv_5x5", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 0), ("sep_conv_3x3", 0), ("avg_pool_3x3", 1),
         ("skip_connect", 0), ("avg_pool_3x3", 0), ("avg_pool_3x3", 0), ("sep_conv_3x3", 1), ("skip_connect", 1)],
        [2, 3, 4, 5, 6],
        [("sep_conv_5x5", 1), ("sep_conv_7x7", 0), ("max_pool_3x3", 1), ("sep_conv_7x7", 0), ("avg_pool_3x3", 1),
         ("sep_conv_5x5", 0), ("skip_connect", 3), ("avg_pool_3x3", 2), ("sep_conv_3x3", 2), ("max_pool_3x3", 1)],
        [4, 5, 6],
    ),
    "amoebanet-a": _g(
        [("avg_pool_3x3", 0), ("max_pool_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_5x5", 2), ("sep_conv_3x3", 0),
         ("avg_pool_3x3", 3), ("sep_conv_3x3", 1), ("skip_connect", 1), ("skip_connect", 0), ("avg_pool_3x3", 1)],
        [4, 5, 6],
        [("avg_pool_3x3", 0), ("sep_conv_3x3", 1), ("max_pool_3x3", 0), ("sep_conv_7x7", 2), ("sep_conv_7x7", 0),
         ("avg_pool_3x3", 1), ("max_pool_3x3", 0), ("max_pool_3x3", 1), ("conv_7x1_1x7", 0), ("sep_conv_3x3", 5)],
        [3, 4, 6],
    ),
}
SPACE_OF = {
    "darts-v2": "darts", "darts-v1": "darts", "nasnet-a": "nasnet", "amoebanet-a": "nasnet",
    "nb201-resnet": "nb201", "nb201-best": "nb201", "efficientnet-b0": "mbconv",
}
# Parameter counts of the quark0 model code (Liu et al., ICLR 2019, Table 1), excluding the auxiliary head.
CIFAR_PARAMS = {"darts-v2": 3_349_342, "darts-v1": 3_169_414, "nasnet-a": 3_830_950, "amoebanet-a": 3_145_078}
IMAGENET_PARAMS = {"darts-v2": 4_718_752, "darts-v1": 4_510_432, "nasnet-a": 5_564_320, "amoebanet-a": 4_627_360}
NB201_RESNET = "|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|skip_connect~2|"


def test_zoo_lists_expected_names():
    assert set(SPACE_OF) <= set(list_genotypes())


@pytest.mark.parametrize("name", sorted(SPACE_OF))
def test_zoo_genotype_validates_in_its_space(name):
    a = load_genotype(name)
    assert a.space == SPACE_OF[name]
    SPACES.create(a.space).validate(a)
    for field in ("name", "source", "notes"):
        assert isinstance(a.meta.get(field), str) and a.meta[field], field


def test_every_shipped_file_validates():
    for name in list_genotypes():
        a = load_genotype(name)
        get_space(a.space).validate(a)


@pytest.mark.parametrize("name", sorted(QUARK0))
def test_quark0_genotype_strings(name):
    a = load_genotype(name)
    assert format_genotype(a.cells) == QUARK0[name]
    assert resolve_arch(QUARK0[name]) == Architecture(a.space, cells=a.cells)


def test_darts_v2_format_equals_quark0():
    assert get_space("darts").to_genotype(load_genotype("darts-v2")) == DARTS_V2


def test_genotype_string_picks_its_space():
    assert resolve_arch(QUARK0["darts-v1"]).space == "darts"
    assert resolve_arch(QUARK0["amoebanet-a"]).space == "nasnet"


@pytest.mark.parametrize("spelling", ["DARTS-V2", "darts_v2", " Darts-V2 ", "darts"])
def test_names_are_case_insensitive(spelling):
    assert resolve_arch(spelling) == load_genotype("darts-v2")


def test_unknown_name_lists_known():
    with pytest.raises(InvalidArchitecture, match="known: .*darts-v2"):
        load_genotype("darts-v3")
    with pytest.raises(InvalidArchitecture, match="cannot resolve"):
        resolve_arch("resnet-50")


def test_resolve_yaml_path_and_nb201_string(tmp_path):
    a = load_genotype("nasnet-a")
    p = tmp_path / "arch.yaml"
    a.save(p)
    b = resolve_arch(str(p))
    assert b == a and b.meta == a.meta
    assert resolve_arch(NB201_RESNET) == load_genotype("nb201-resnet")
    assert get_space("nb201").to_string(load_genotype("nb201-resnet")) == NB201_RESNET


def test_resolve_existing_file_wins_over_zoo_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    load_genotype("darts-v1").save(tmp_path / "darts-v2")
    assert resolve_arch("darts-v2") == load_genotype("darts-v1")


def test_nb201_genotypes_match_benchmark_table():
    rows = {r["arch"]: r for r in nb201_rows()}
    space = get_space("nb201")
    best = space.to_string(load_genotype("nb201-best"))
    assert rows[best]["arch_index"] == "6111"
    assert max(rows.values(), key=lambda r: float(r["cifar10_test_acc_200ep"]))["arch"] == best
    assert NB201_RESNET in rows


@pytest.mark.parametrize("name", ["nb201-best", "nb201-resnet"])
def test_nb201_genotype_params_match_benchmark(name):
    pytest.importorskip("torch")
    space = get_space("nb201")
    a = load_genotype(name)
    row = {r["arch"]: r for r in nb201_rows()}[space.to_string(a)]
    model = space.build(a, num_classes=10, **space_defaults(space, "cifar"))
    params = sum(p.numel() for p in model.parameters())
    assert abs(params / 1e6 - float(row["params_mb"])) < 1e-4


@pytest.mark.parametrize("name", sorted(CIFAR_PARAMS))
def test_cell_genotype_param_counts(name):
    pytest.importorskip("torch")
    a = load_genotype(name)
    space = get_space(a.space)

    def count(model):
        return sum(p.numel() for n, p in model.named_parameters() if "auxiliary" not in n)

    assert count(space.build(a, num_classes=10, **{**space_defaults(space, "cifar"), "auxiliary": True})) == CIFAR_PARAMS[name]
    imagenet = space.build(a, num_classes=1000, **space_defaults(space, "imagenet"))
    assert count(imagenet) == IMAGENET_PARAMS[name]


def test_efficientnet_b0_param_count():
    pytest.importorskip("torch")
    a = load_genotype("efficientnet-b0")
    space = get_space("mbconv")
    model = space.build(a, num_classes=1000, **space_defaults(space, "imagenet"))
    assert sum(p.numel() for p in model.parameters()) == 5_288_548  # torchvision efficientnet_b0


def test_efficientnet_b0_matches_space_table():
    from search_spaces.mbconv import B0_STAGES, EFFICIENTNET_COEFFICIENTS

    a = load_genotype("efficientnet-b0")
    assert [dict(b) for b in a.blocks] == [dict(b) for b in B0_STAGES]
    assert dict(a.macro) == EFFICIENTNET_COEFFICIENTS["b0"]

"""The SearchSpace contract (DESIGN §3), checked for every registered space."""
from __future__ import annotations

import json
import random

import pytest

import search_spaces  # noqa: F401  (registers the first-party spaces)
from nas.arch import Architecture
from nas.errors import ConfigError, InvalidArchitecture
from nas.registry import SPACES
from nas.types import Decision
from nas.zoo import list_genotypes, load_genotype
from tests.space_helpers import exactly_isomorphic, random_choices, relabel_variant

SPACE_NAMES = SPACES.names()


@pytest.fixture(params=SPACE_NAMES)
def space(request):
    return SPACES.create(request.param)


def needs_model(space) -> None:
    """Spaces without ``build_defaults`` (e.g. the test-only toy space) declare no model."""
    if not space.build_defaults:
        pytest.skip(f"space {space.name!r} declares no build_defaults (no model)")


def zoo_of(space) -> list[Architecture]:
    return [a for a in map(load_genotype, list_genotypes()) if a.space == space.name]


def test_first_party_spaces_registered():
    assert {"nasnet", "darts", "nb201", "mbconv"} <= set(SPACE_NAMES)
    for name in ("nasnet", "darts", "nb201", "mbconv"):
        assert {"digits", "cifar", "imagenet"} <= set(SPACES.create(name).build_defaults)


def test_sample_validates(space):
    rng = random.Random(0)
    archs = [space.sample(rng) for _ in range(30)]
    for a in archs:
        assert a.space == space.name
        space.validate(a)
    assert len({a.spec for a in archs}) > 1  # sampling is random, not constant


def test_sample_is_deterministic_given_rng(space):
    assert space.sample(random.Random(7)) == space.sample(random.Random(7))


def test_mutate_returns_different_valid_arch(space):
    for seed in range(40):
        rng = random.Random(seed)
        a = space.sample(rng)
        for _ in range(4):
            b = space.mutate(a, rng)
            space.validate(b)
            assert b.spec != a.spec
            a = b


def test_mutate_literature_archs(space):
    for z in zoo_of(space):
        for seed in range(20):
            b = space.mutate(z, random.Random(seed))
            space.validate(b)
            assert b.spec != z.spec


def test_mutate_is_deterministic_given_rng(space):
    a = space.sample(random.Random(1))
    assert space.mutate(a, random.Random(3)) == space.mutate(a, random.Random(3))


def test_decisions_are_categorical(space):
    decs = space.decisions()
    assert decs and all(isinstance(d, Decision) and len(d) >= 1 for d in decs)
    assert sum(len(d) >= 2 for d in decs) >= len(decs) - 2  # only DARTS' two n0 input pairs are forced
    assert len({d.name for d in decs}) == len(decs)
    for d in decs:  # options must be plain values (Optuna categorical distributions need them)
        assert all(isinstance(o, (str, int, float)) for o in d.options)


def test_encode_decode_round_trip(space):
    rng = random.Random(0)
    for _ in range(30):
        a = space.sample(rng)
        c = space.encode(a)
        assert space.decode(c) == a
        c2 = random_choices(space, rng)
        assert space.encode(space.decode(c2)) == c2


def test_encode_literature_archs(space):
    for z in zoo_of(space):
        c = space.encode(z)
        d = space.decode(c)
        space.validate(d)
        assert d.key == z.key
        assert space.encode(d) == c


def test_every_choice_vector_decodes_to_valid_arch(space):
    rng = random.Random(5)
    decs = space.decisions()
    vectors = [[0] * len(decs), [len(d) - 1 for d in decs]] + [random_choices(space, rng) for _ in range(50)]
    for c in vectors:
        space.validate(space.decode(c))


def test_decode_rejects_bad_choice_vectors(space):
    n = len(space.decisions())
    with pytest.raises(InvalidArchitecture, match="expected"):
        space.decode([0] * (n - 1))
    with pytest.raises(InvalidArchitecture, match="out of range"):
        space.decode([0] * (n - 1) + [99])
    with pytest.raises(InvalidArchitecture, match="out of range"):
        space.decode([True] + [0] * (n - 1))


def test_yaml_and_dict_round_trip(space):
    rng = random.Random(2)
    for a in [space.sample(rng) for _ in range(10)] + zoo_of(space):
        b = Architecture.from_yaml(a.to_yaml())
        assert b == a and b.key == a.key
        space.validate(b)
        c = Architecture.from_dict(json.loads(json.dumps(a.to_dict())))
        assert c == a and c.key == a.key


def test_validate_rejects_other_space(space):
    a = space.sample(random.Random(0))
    other = Architecture("not-" + space.name, cells=a.cells, blocks=a.blocks, macro=a.macro)
    with pytest.raises(InvalidArchitecture, match="space"):
        space.validate(other)


def test_key_equal_for_isomorphic_relabelling(space):
    if space.sample(random.Random(0)).cells is None:
        pytest.skip("block-based space: no node relabelling exists")
    rng = random.Random(11)
    nontrivial = 0
    for _ in range(40):
        a = space.sample(rng)
        for _ in range(3):
            v = relabel_variant(a, rng)
            try:
                space.validate(v)
            except InvalidArchitecture:
                continue  # e.g. NB201 fixes the slot order
            assert v.key == a.key
            assert exactly_isomorphic(a, v)
            nontrivial += v.spec != a.spec
    if space.name in ("nasnet", "darts"):
        assert nontrivial > 20


def test_key_matches_exact_isomorphism(space):
    """key(a) == key(b) exactly when the canonical cells are isomorphic (VF2 oracle)."""
    rng = random.Random(3)
    same = diff = 0
    for _ in range(60):
        a = space.sample(rng)
        for b in (space.mutate(a, rng), space.sample(rng)):
            iso = exactly_isomorphic(a, b)
            assert (a.key == b.key) == iso, (a.to_yaml(), b.to_yaml())
            same += iso
            diff += not iso
    assert diff > 0
    if space.name == "nb201":  # mutations of dead edges (behind 'none') keep the function
        assert same > 0


def test_build_forward_digits(space):
    needs_model(space)
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    a = space.sample(random.Random(4))
    defaults = space.build_defaults["digits"]
    model = space.build(a, in_channels=1, num_classes=7, **defaults)
    x = torch.randn(4, 1, 8, 8)
    model.train()
    out = model(x)
    assert out.shape == (4, 7) and torch.isfinite(out).all()
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (4, 7)


def test_build_defaults_families_accepted(space):
    needs_model(space)
    pytest.importorskip("torch")
    a = space.sample(random.Random(6))
    for family, defaults in space.build_defaults.items():
        model = space.build(a, num_classes=10, **defaults)
        assert sum(p.numel() for p in model.parameters()) > 0, family


def test_build_rejects_unknown_option(space):
    needs_model(space)
    a = space.sample(random.Random(0))
    with pytest.raises(ConfigError, match="bogus_option"):
        space.build(a, bogus_option=1)


def test_build_validates_before_torch(space):
    needs_model(space)
    a = space.sample(random.Random(0))
    d = a.to_dict()
    if "cells" in d:
        first = next(iter(d["cells"].values()))
        first["nodes"][0]["inputs"][0][0] = "conv_9x9"
    else:
        d["blocks"][0]["kernel"] = 9
    bad = Architecture.from_dict(d)
    with pytest.raises(InvalidArchitecture):
        space.build(bad, **space.build_defaults["digits"])


def test_describe(space):
    d = space.describe()
    assert d["name"] == space.name
    assert d["decisions"] == len(space.decisions())
    assert isinstance(d["size"], int) and d["size"] == space.size() > 1
    assert list(d["ops"]) == list(space.ops)


# -- space-specific facts -------------------------------------------------------------

def test_space_sizes_follow_the_papers():
    from math import comb

    darts = SPACES.create("darts")
    per_cell = 1
    for i in range(4):  # DARTS App. C: prod_k C(k+1, 2) * 7^2 over the 4 nodes, ~10^9 per cell
        per_cell *= comb(i + 2, 2) * 7**2
    assert darts.size_per_cell() == per_cell == 1_037_664_180
    assert darts.size() == per_cell**2
    nasnet_cell = 1
    for i in range(5):  # two inputs from i+2 states, two of 13 ops, add|concat
        nasnet_cell *= (i + 2) ** 2 * 13**2 * 2
    assert SPACES.create("nasnet").size() == nasnet_cell**2
    assert SPACES.create("nb201").size() == 5**6 == 15_625
    assert SPACES.create("mbconv").size() == (3 * 4 * 2 * 4) ** 7


def test_op_sets():
    from search_spaces.darts import PRIMITIVES

    assert PRIMITIVES == ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
                          "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
    assert SPACES.create("darts").ops == PRIMITIVES[1:]
    assert len(SPACES.create("nasnet").ops) == 13
    assert SPACES.create("nb201").ops == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert [d.name for d in SPACES.create("nb201").decisions()] == ["1<-0", "2<-0", "2<-1", "3<-0", "3<-1", "3<-2"]


def test_ops_exist_in_the_op_library():
    ops = pytest.importorskip("nas.nn.ops")
    for name in SPACE_NAMES:
        space = SPACES.create(name)
        if space.sample(random.Random(0)).cells is not None:
            assert set(space.ops) <= set(ops.OPS), name


def _diff_count(space, a, b) -> int:
    """Number of elementary fields (input source, op, combine, block field) that differ."""
    if a.blocks is not None:
        return sum(x != y for x, y in zip(space.encode(a), space.encode(b)))
    from nas.cell import cell_spec

    n = 0
    for name in a.cells:
        for (ca, ia), (cb, ib) in zip(cell_spec(a.cells[name])[0], cell_spec(b.cells[name])[0]):
            n += ca != cb
            n += sum((oa != ob) + (sa != sb) for (oa, sa), (ob, sb) in zip(ia, ib))
    return n


def test_mutation_changes_exactly_one_thing(space):
    rng = random.Random(9)
    for _ in range(100):
        a = space.sample(rng)
        assert _diff_count(space, a, space.mutate(a, rng)) == 1


def test_nasnet_mutation_kinds_all_occur():
    space = SPACES.create("nasnet")
    rng = random.Random(0)
    seen = {"op": 0, "src": 0, "combine": 0}
    from nas.cell import cell_spec

    for _ in range(300):
        a = space.sample(rng)
        b = space.mutate(a, rng)
        for name in a.cells:
            for (ca, ia), (cb, ib) in zip(cell_spec(a.cells[name])[0], cell_spec(b.cells[name])[0]):
                seen["combine"] += ca != cb
                seen["op"] += sum(x[0] != y[0] for x, y in zip(ia, ib))
                seen["src"] += sum(x[1] != y[1] for x, y in zip(ia, ib))
    assert all(v > 50 for v in seen.values()), seen


def test_darts_pair_decision_is_unordered():
    space = SPACES.create("darts")
    a = load_genotype("darts-v2")  # n2 lists (sep_conv_3x3, c_{k-1}) before (skip_connect, c_{k-2})
    d = a.to_dict()
    for node in d["cells"]["normal"]["nodes"]:
        node["inputs"].reverse()
    b = Architecture.from_dict(d)
    space.validate(b)
    assert b != a and b.key == a.key and space.encode(b) == space.encode(a)


def test_mbconv_b0_and_macro():
    from search_spaces.mbconv import B0_MACRO, with_macro

    space = SPACES.create("mbconv")
    b0 = load_genotype("efficientnet-b0")
    assert space.decode(space.encode(b0)) == b0  # B0 is a member, macro included
    wider = with_macro(b0, width=1.1)
    space.validate(wider)
    assert wider.key != b0.key and space.encode(wider) == space.encode(b0)
    assert with_macro(b0, width=1, resolution=224.0).key == b0.key  # coerced to canonical types
    assert space.mutate(wider, random.Random(0)).macro == {**B0_MACRO, "width": 1.1}


@pytest.mark.parametrize(
    "name, kwargs, match",
    [
        ("darts", {"stem": "mnist"}, "stem must be"),
        ("darts", {"stem": "imagenet", "stem_stride": 2}, "stem_stride applies"),
        ("nasnet", {"channels": 0}, "channels must be an integer"),
        ("nasnet", {"drop_path_prob": 1.5}, "drop_path_prob"),
        ("nb201", {"layers": -1}, "layers must be an integer"),
        ("nb201", {"auxiliary": True}, "unexpected option"),
        ("mbconv", {"layers": 3}, "layers is not used"),
        ("mbconv", {"width_mult": 0}, "width_mult"),
    ],
)
def test_build_rejects_bad_options(name, kwargs, match):
    space = SPACES.create(name)
    with pytest.raises(ConfigError, match=match):
        space.build(space.sample(random.Random(0)), **kwargs)

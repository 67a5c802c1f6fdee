"""Facts of the first-party search spaces (sizes, op sets, mutation kinds, build options).

The generic SearchSpace contract runs over every registered space in tests/test_conformance.py
(``nas.testing.SpaceConformance``); this file holds what is specific to one space.
"""
from __future__ import annotations

import random

import pytest

import search_spaces  # noqa: F401  (registers the first-party spaces)
from nas.arch import Architecture
from nas.errors import ConfigError
from nas.registry import SPACES
from nas.testing.spaces import exactly_isomorphic, relabel_variant
from nas.zoo import load_genotype

SPACE_NAMES = SPACES.names()


def test_first_party_spaces_registered():
    assert {"nasnet", "darts", "nb201", "mbconv"} <= set(SPACE_NAMES)
    for name in ("nasnet", "darts", "nb201", "mbconv"):
        assert {"digits"} <= set(SPACES.create(name).build_defaults)


def test_cell_relabellings_are_nontrivial_on_nasnet_and_darts():
    """Where a space allows node renumbering and slot order freely, the key-invariance check of
    SpaceConformance meets many genuinely different encodings of one cell."""
    for name in ("nasnet", "darts"):
        space, rng, nontrivial = SPACES.create(name), random.Random(11), 0
        for _ in range(40):
            a = space.sample(rng)
            for _ in range(3):
                v = relabel_variant(a, rng)
                space.validate(v)
                assert v.key == a.key and exactly_isomorphic(a, v)
                nontrivial += v.spec != a.spec
        assert nontrivial > 20, name


def test_nb201_dead_edge_mutations_keep_the_key():
    """NB201 mutations behind a 'none' edge keep the function, hence the key (VF2 agrees)."""
    space, rng, same = SPACES.create("nb201"), random.Random(3), 0
    for _ in range(60):
        a = space.sample(rng)
        b = space.mutate(a, rng)
        iso = exactly_isomorphic(a, b)
        assert (a.key == b.key) == iso
        same += iso
    assert same > 0


def test_darts_decisions_force_only_the_first_input_pairs():
    decs = SPACES.create("darts").decisions()
    assert sum(len(d) < 2 for d in decs) == 2  # node n0 of each cell reads (in0, in1)


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

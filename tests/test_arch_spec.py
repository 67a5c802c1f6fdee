"""``Architecture.spec`` is at least as fine as ``.key``: both memos keyed on it (the key
cache and ``SearchSpace.ensure_valid``) never mix up architectures whose keys differ."""
from __future__ import annotations

import pytest

import nas.arch
import search_spaces  # noqa: F401  (registers the first-party spaces)
from nas.arch import Architecture
from nas.cell import make_cell
from nas.errors import InvalidArchitecture
from nas.zoo import get_space

NODES = [("add", [("skip_connect", "in0")]), ("add", [("sep_conv_3x3", "n0")])]


def _fresh_key(arch: Architecture) -> str:
    nas.arch._KEY_CACHE.clear()
    return Architecture(arch.space, cells=arch.cells, blocks=arch.blocks, macro=arch.macro).key


def test_input_count_is_part_of_spec_and_key_is_order_independent():
    one = Architecture("x", cells={"cell": make_cell(NODES, ["n1"], 1)})
    two = Architecture("x", cells={"cell": make_cell(NODES, ["n1"], 2)})  # in1 unused: same nodes/concat
    assert one != two and one.spec != two.spec
    want_one, want_two = _fresh_key(one), _fresh_key(two)
    assert want_one != want_two
    for first, second in ((one, two), (two, one)):
        nas.arch._KEY_CACHE.clear()
        got = {id(a): Architecture(a.space, cells=a.cells).key for a in (first, second)}
        assert got == {id(one): want_one, id(two): want_two}


def _mbconv_with_se(se: object) -> Architecture:
    space = get_space("mbconv")
    base = space.decode([0] * len(space.decisions()))
    blocks = [{**b, "se": se} for b in base.blocks]
    return Architecture("mbconv", blocks=tuple(blocks), macro=base.macro)


def test_scalar_types_are_part_of_spec():
    as_float, as_int, as_bool = _mbconv_with_se(0.0), _mbconv_with_se(0), _mbconv_with_se(False)
    assert len({as_float.spec, as_int.spec, as_bool.spec}) == 3
    assert as_float != as_int
    assert _fresh_key(as_float) != _fresh_key(as_int)
    macro = [Architecture("x", blocks=(), macro={"m": v}) for v in (0, 0.0, False)]
    assert len({a.spec for a in macro}) == 3


def test_ensure_valid_memo_does_not_pass_an_int_se_after_a_float_one():
    space = get_space("mbconv")
    space.ensure_valid(_mbconv_with_se(0.0))
    with pytest.raises(InvalidArchitecture, match="se must be one of"):
        space.ensure_valid(_mbconv_with_se(0))

"""Property tests (hypothesis) for the spaces and the two literature string formats."""
from __future__ import annotations

import itertools
import random
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import search_spaces  # noqa: F401  (registers the first-party spaces)
from nas.arch import Architecture, canonical_cell
from nas.genotype import format_genotype, format_nb201, parse_genotype, parse_nb201
from nas.registry import SPACES
from search_spaces.nb201 import NB201_OPS
from tests.space_helpers import nb201_rows

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPACE_NAMES = SPACES.names()


def choice_vectors(space, fixed: dict[str, int] | None = None):
    """A hypothesis strategy of valid choice vectors; ``fixed`` pins decisions by name suffix."""
    parts = []
    for d in space.decisions():
        pinned = [v for suffix, v in (fixed or {}).items() if d.name.endswith(suffix)]
        parts.append(st.just(pinned[0]) if pinned else st.integers(0, len(d) - 1))
    return st.tuples(*parts).map(list)


def space_and_choices(fixed_by_space: dict[str, dict[str, int]] | None = None, names=SPACE_NAMES):
    def per_space(name):
        space = SPACES.create(name)
        fixed = (fixed_by_space or {}).get(name)
        return choice_vectors(space, fixed).map(lambda c: (space, c))

    return st.sampled_from(list(names)).flatmap(per_space)


@SETTINGS
@given(space_and_choices())
def test_decode_of_any_choice_vector_is_valid(sc):
    space, choices = sc
    a = space.decode(choices)
    space.validate(a)
    assert space.encode(a) == choices


@SETTINGS
@given(space_and_choices(), st.integers(0, 2**32 - 1), st.integers(1, 12))
def test_mutation_chains_stay_valid(sc, seed, steps):
    space, choices = sc
    rng = random.Random(seed)
    a = space.decode(choices)
    for _ in range(steps):
        b = space.mutate(a, rng)
        space.validate(b)
        assert b.spec != a.spec
        assert space.decode(space.encode(b)).key == b.key
        a = b


@SETTINGS
@given(space_and_choices())
def test_yaml_round_trip(sc):
    space, choices = sc
    a = space.decode(choices)
    b = Architecture.from_yaml(a.to_yaml())
    assert b == a and b.key == a.key
    space.validate(b)


# NASNet cells combined by concat cannot be written as a Genotype string: pin combine=add.
GENOTYPE_SPACES = space_and_choices({"nasnet": {".combine": 0}}, names=("darts", "nasnet"))


@SETTINGS
@given(GENOTYPE_SPACES)
def test_genotype_string_round_trip(sc):
    space, choices = sc
    a = space.decode(choices)
    text = format_genotype(a.cells)
    assert text.startswith("Genotype(normal=[(") and "eval" not in text
    cells = parse_genotype(text)
    b = Architecture(space.name, cells=cells)
    assert b == a
    assert space.from_genotype(space.to_genotype(a)) == a
    assert format_genotype(cells) == text


@SETTINGS
@given(st.tuples(*[st.sampled_from(NB201_OPS)] * 6))
def test_nb201_string_round_trip(ops):
    o = ops
    text = f"|{o[0]}~0|+|{o[1]}~0|{o[2]}~1|+|{o[3]}~0|{o[4]}~1|{o[5]}~2|"
    space = SPACES.create("nb201")
    a = space.from_string(text)
    assert space.to_string(a) == text
    assert [NB201_OPS[k] for k in space.encode(a)] == list(ops)


@pytest.fixture(scope="module")
def nb201_all():
    """Every NB201 architecture with its string, in choice-vector order (decoded once per module)."""
    space = SPACES.create("nb201")
    return [(a, format_nb201(a.cells["cell"])) for a in space.all_archs()]


def test_nb201_strings_for_every_choice_vector(nb201_all):
    """All 15,625 choice vectors give distinct strings that parse back to the same architecture."""
    space = SPACES.create("nb201")
    vectors = list(itertools.product(range(len(NB201_OPS)), repeat=6))
    assert len(nb201_all) == len(vectors) == space.size() == 5**6
    for (a, text), c in zip(nb201_all, vectors):
        assert re.findall(r"([a-z_0-9]+)~", text) == [NB201_OPS[k] for k in c]  # decision order = string order
        assert Architecture("nb201", cells={"cell": parse_nb201(text)}) == a
    assert len({text for _, text in nb201_all}) == 5**6


def test_nb201_space_equals_benchmark_table(nb201_all):
    """The benchmark's 15,625 arch strings are exactly this space's strings."""
    assert {r["arch"] for r in nb201_rows()} == {text for _, text in nb201_all}


def _exact_form(h) -> tuple:
    """Exact canonical form of a small canonical cell: minimum over intermediate-node renamings."""
    inner = [n for n, d in h.nodes(data=True) if d["label"].startswith("node")]
    best = None
    for perm in itertools.permutations(range(len(inner))):
        name = dict(zip(inner, (f"v{p}" for p in perm)))
        form = (
            tuple(sorted((d["label"], name.get(n, n)) for n, d in h.nodes(data=True))),
            tuple(sorted((name.get(u, u), name.get(v, v), d["op"]) for u, v, d in h.edges(data=True))),
        )
        best = form if best is None or form < best else best
    return best


@pytest.mark.slow
def test_nb201_distinct_keys_are_isomorphism_classes(nb201_all):
    """Over the whole NB201 space the key partitions cells exactly like graph isomorphism
    (exact canonical forms by brute force over node renamings), and describe() reports that count."""
    space = SPACES.create("nb201")
    n_keys = space.describe()["distinct_keys"]  # first: it warms the key cache used below
    key_to_form: dict[str, tuple] = {}
    form_to_key: dict[tuple, str] = {}
    for a, _ in nb201_all:
        form = _exact_form(canonical_cell(a.cells["cell"]))
        assert key_to_form.setdefault(a.key, form) == form  # no two classes share a key
        assert form_to_key.setdefault(form, a.key) == a.key  # no class is split over two keys
    assert n_keys == len(key_to_form) == len(form_to_key)
    assert len(key_to_form) < space.size()

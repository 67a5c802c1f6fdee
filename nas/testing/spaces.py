"""``SpaceConformance``: the :class:`~search_spaces.base.SearchSpace` contract as pytest tests.

Subclass it in a test module and provide the space under test as the ``space`` fixture::

    import pytest
    from nas.testing import SpaceConformance

    class TestMySpace(SpaceConformance):
        @pytest.fixture
        def space(self):
            return MySpace()

Every check runs real computation: sampling, mutation (Real et al., AAAI 2019, §2: one
mutation away, always a different architecture), the flat categorical view and its
``encode``/``decode`` round trips (what the RL controller and TPE search over), YAML/JSON
round trips, validation errors, the isomorphism-aware key against an exact (VF2) oracle,
the architecture strings the space declares, the literature architectures of the zoo, and,
where the space has a model, ``lower`` to a checked :class:`~nas.spec.ModelSpec` plus a
build and a forward pass of a tiny network on ``digits``-shaped input.
"""
from __future__ import annotations

import json
import random
from typing import Any

import networkx as nx
import pytest

from nas.arch import Architecture, canonical_cell
from nas.cell import cell_spec, make_cell, n_inputs_of
from nas.errors import ConfigError, InvalidArchitecture
from nas.types import Decision
from search_spaces.base import SearchSpace


# -- helpers (also usable on their own) ----------------------------------------------------
def random_choices(space: SearchSpace, rng: random.Random) -> list[int]:
    """A uniformly random in-range choice vector of ``space``."""
    return [rng.randrange(len(d)) for d in space.decisions()]


def relabel_variant(arch: Architecture, rng: random.Random) -> Architecture:
    """An isomorphic copy of a cell architecture: intermediate nodes renumbered along a
    random topological order (references rewired) and each node's input slots shuffled.
    The concat list keeps the same nodes, written in index order."""
    assert arch.cells is not None
    cells = {}
    for name, g in arch.cells.items():
        n_in = n_inputs_of(g)
        nodes, concat = cell_spec(g)
        deps = {f"n{i}": {s for _, s in ins if s.startswith("n")} for i, (_, ins) in enumerate(nodes)}
        order: list[str] = []
        while len(order) < len(nodes):
            ready = sorted(n for n in deps if n not in order and deps[n] <= set(order))
            order.append(rng.choice(ready))
        mapping = {old: f"n{k}" for k, old in enumerate(order)}
        new_nodes = []
        for old in order:
            combine, ins = nodes[int(old[1:])]
            new_ins = [(op, mapping.get(src, src)) for op, src in ins]
            rng.shuffle(new_ins)
            new_nodes.append((combine, new_ins))
        new_concat = sorted((mapping[c] for c in concat), key=lambda s: int(s[1:]))
        cells[name] = make_cell(new_nodes, new_concat, n_in)
    return Architecture(arch.space, cells=cells, macro=arch.macro)


def exactly_isomorphic(a: Architecture, b: Architecture) -> bool:
    """Ground truth for the key: same space and macro, and for each cell an exact (VF2)
    isomorphism of the canonical cells respecting node roles and edge ops."""
    if a.space != b.space or dict(a.macro) != dict(b.macro):
        return False
    if a.cells is None or b.cells is None:
        return a.spec == b.spec
    if list(a.cells) != list(b.cells):
        return False
    return all(
        nx.is_isomorphic(canonical_cell(a.cells[k]), canonical_cell(b.cells[k]),
                         node_match=lambda x, y: x["label"] == y["label"], edge_match=lambda x, y: x["op"] == y["op"])
        for k in a.cells
    )


def mutation_distance(space: SearchSpace, a: Architecture, b: Architecture) -> int:
    """Elementary fields that differ: per node the combine, each input's source and op (cell
    spaces), or the choices of the flat view (block spaces)."""
    if a.cells is None or b.cells is None:
        return sum(x != y for x, y in zip(space.encode(a), space.encode(b)))
    n = 0
    for name in a.cells:
        for (ca, ia), (cb, ib) in zip(cell_spec(a.cells[name])[0], cell_spec(b.cells[name])[0]):
            n += (ca != cb) + abs(len(ia) - len(ib))
            n += sum((oa != ob) + (sa != sb) for (oa, sa), (ob, sb) in zip(ia, ib))
    return n


def has_model(space: SearchSpace) -> bool:
    """Whether the space lowers architectures to a model (it overrides ``lower``)."""
    return type(space).lower is not SearchSpace.lower


def corrupted(arch: Architecture) -> Architecture:
    """``arch`` with one field made invalid: the first op of a cell becomes ``conv_9x9``, or the
    first field of the first block becomes a string no space uses."""
    d = arch.to_dict()
    if d.get("cells"):
        first = next(iter(d["cells"].values()))
        first["nodes"][0]["inputs"][0][0] = "conv_9x9"
    else:
        key = next(iter(d["blocks"][0]))
        d["blocks"][0][key] = "not_a_value"
    return Architecture.from_dict(d)


def digits_settings(space: SearchSpace) -> dict[str, Any]:
    """The merged build settings of ``space`` for the embedded digits dataset (1×8×8, 10 classes)."""
    from evaluators.data import dataset_info
    from nas.settings import build_settings

    return build_settings(space, dataset_info("digits"))


class SpaceConformance:
    """The search-space contract; provide the ``space`` fixture (see the module docstring).

    ``zoo_archs`` (a fixture, default: the zoo's architectures of this space) adds
    literature architectures to the mutation and encoding checks.
    """

    n_samples = 30

    @pytest.fixture
    def space(self) -> SearchSpace:
        raise NotImplementedError("a SpaceConformance subclass provides the space under test as the `space` fixture")

    @pytest.fixture
    def zoo_archs(self, space: SearchSpace) -> list[Architecture]:
        from nas.zoo import list_genotypes, load_genotype

        archs = []
        for name in list_genotypes():
            a = load_genotype(name)
            if a.space == space.name:
                archs.append(a)
        return archs

    # -- sampling and mutation ---------------------------------------------------------------
    def test_is_a_search_space(self, space):
        assert isinstance(space, SearchSpace)
        assert isinstance(space.name, str) and space.name

    def test_sample_validates(self, space):
        rng = random.Random(0)
        archs = [space.sample(rng) for _ in range(self.n_samples)]
        for a in archs:
            assert a.space == space.name
            space.validate(a)
        assert len({a.spec for a in archs}) > 1, "sampling is constant"

    def test_sample_is_deterministic_given_rng(self, space):
        assert space.sample(random.Random(7)) == space.sample(random.Random(7))

    def test_mutate_returns_a_different_valid_arch(self, space):
        for seed in range(20):
            rng = random.Random(seed)
            a = space.sample(rng)
            for _ in range(4):
                b = space.mutate(a, rng)
                space.validate(b)
                assert b.spec != a.spec
                a = b

    def test_mutation_changes_exactly_one_thing(self, space):
        rng = random.Random(9)
        for _ in range(50):
            a = space.sample(rng)
            assert mutation_distance(space, a, space.mutate(a, rng)) == 1

    def test_mutate_is_deterministic_given_rng(self, space):
        a = space.sample(random.Random(1))
        assert space.mutate(a, random.Random(3)) == space.mutate(a, random.Random(3))

    def test_mutate_literature_archs(self, space, zoo_archs):
        for z in zoo_archs:
            for seed in range(10):
                b = space.mutate(z, random.Random(seed))
                space.validate(b)
                assert b.spec != z.spec

    # -- the flat categorical view -----------------------------------------------------------
    def test_decisions_are_categorical(self, space):
        decs = space.decisions()
        assert decs and all(isinstance(d, Decision) and len(d) >= 1 for d in decs)
        assert any(len(d) >= 2 for d in decs), "nothing to choose"
        assert len({d.name for d in decs}) == len(decs), "decision names repeat"
        for d in decs:  # plain values: Optuna's categorical distributions need them
            assert all(isinstance(o, (str, int, float)) for o in d.options), d.name

    def test_encode_decode_round_trip(self, space):
        rng = random.Random(0)
        for _ in range(self.n_samples):
            a = space.sample(rng)
            c = space.encode(a)
            assert space.decode(c) == a
            c2 = random_choices(space, rng)
            assert space.encode(space.decode(c2)) == c2

    def test_every_choice_vector_decodes_to_a_valid_arch(self, space):
        rng = random.Random(5)
        decs = space.decisions()
        vectors = [[0] * len(decs), [len(d) - 1 for d in decs]] + [random_choices(space, rng) for _ in range(30)]
        for c in vectors:
            space.validate(space.decode(c))

    def test_decode_rejects_bad_choice_vectors(self, space):
        n = len(space.decisions())
        with pytest.raises(InvalidArchitecture, match="expected"):
            space.decode([0] * (n - 1))
        with pytest.raises(InvalidArchitecture, match="out of range"):
            space.decode([0] * (n - 1) + [10**6])
        with pytest.raises(InvalidArchitecture, match="out of range"):
            space.decode([True] + [0] * (n - 1))

    def test_encode_literature_archs(self, space, zoo_archs):
        for z in zoo_archs:
            c = space.encode(z)
            d = space.decode(c)
            space.validate(d)
            assert d.key == z.key
            assert space.encode(d) == c

    def test_size_and_describe(self, space):
        d = space.describe()
        assert d["name"] == space.name
        assert d["decisions"] == len(space.decisions())
        assert isinstance(d["size"], int) and d["size"] == space.size() > 1
        assert list(d["ops"]) == list(space.ops)
        json.dumps(d)

    # -- values, validation and keys ------------------------------------------------------------
    def test_yaml_and_dict_round_trip(self, space, zoo_archs):
        rng = random.Random(2)
        for a in [space.sample(rng) for _ in range(10)] + list(zoo_archs):
            b = Architecture.from_yaml(a.to_yaml())
            assert b == a and b.key == a.key
            space.validate(b)
            c = Architecture.from_dict(json.loads(json.dumps(a.to_dict())))
            assert c == a and c.key == a.key

    def test_validate_rejects_another_space(self, space):
        a = space.sample(random.Random(0))
        other = Architecture("not-" + space.name, cells=a.cells, blocks=a.blocks, macro=a.macro)
        with pytest.raises(InvalidArchitecture, match="space"):
            space.validate(other)

    def test_validate_rejects_a_corrupted_arch(self, space):
        with pytest.raises(InvalidArchitecture):
            space.validate(corrupted(space.sample(random.Random(0))))

    def test_key_is_equal_for_isomorphic_relabellings(self, space):
        if space.sample(random.Random(0)).cells is None:
            pytest.skip("block-based space: no node relabelling exists")
        rng = random.Random(11)
        for _ in range(20):
            a = space.sample(rng)
            for _ in range(3):
                v = relabel_variant(a, rng)
                try:
                    space.validate(v)
                except InvalidArchitecture:
                    continue  # the space fixes the slot or node order
                assert v.key == a.key
                assert exactly_isomorphic(a, v)

    def test_key_matches_exact_isomorphism(self, space):
        """key(a) == key(b) exactly when the architectures are isomorphic (VF2 oracle)."""
        rng = random.Random(3)
        diff = 0
        for _ in range(30):
            a = space.sample(rng)
            for b in (space.mutate(a, rng), space.sample(rng)):
                iso = exactly_isomorphic(a, b)
                assert (a.key == b.key) == iso, (a.to_yaml(), b.to_yaml())
                diff += not iso
        assert diff > 0

    def test_architecture_strings_round_trip(self, space):
        if not space.text_formats:
            pytest.skip(f"space {space.name!r} declares no architecture strings")
        rng = random.Random(4)
        for fmt in space.text_formats:
            for _ in range(10):
                a = space.sample(rng)
                text = space.to_text(a, fmt)
                if text is None:  # the format cannot express this architecture
                    continue
                assert space.accepts_text(text), text
                assert space.from_text(text).key == a.key

    # -- the model --------------------------------------------------------------------------------
    def _needs_model(self, space: SearchSpace) -> None:
        if not has_model(space):
            pytest.skip(f"space {space.name!r} has no model (it does not implement lower)")

    def test_lower_gives_a_checked_model_spec(self, space):
        self._needs_model(space)
        from nas.spec import ModelSpec, check_spec

        a = space.sample(random.Random(4))
        spec = space.model_spec(a, **digits_settings(space))
        assert isinstance(spec, ModelSpec)
        check_spec(spec)
        assert space.model_spec(a, **digits_settings(space)) == spec  # plain data, deterministic

    def test_build_and_forward_on_digits(self, space):
        self._needs_model(space)
        torch = pytest.importorskip("torch")
        torch.manual_seed(0)
        model = space.build(space.sample(random.Random(4)), **digits_settings(space))
        x = torch.randn(4, 1, 8, 8)
        model.train()
        out = model(x)
        out = out[0] if isinstance(out, tuple) else out  # an auxiliary head returns (logits, aux)
        assert out.shape == (4, 10) and torch.isfinite(out).all()
        out.sum().backward()
        assert any(p.grad is not None for p in model.parameters())
        model.eval()
        with torch.no_grad():
            assert model(x).shape == (4, 10)

    def test_build_defaults_of_every_family_build(self, space):
        self._needs_model(space)
        pytest.importorskip("torch")
        from nas.settings import space_defaults

        a = space.sample(random.Random(6))
        for family in space.build_defaults:
            if family == "*":
                continue
            model = space.build(a, num_classes=10, **space_defaults(space, family))
            assert sum(p.numel() for p in model.parameters()) > 0, family

    def test_build_rejects_an_unknown_option(self, space):
        self._needs_model(space)
        with pytest.raises(ConfigError, match="bogus_option"):
            space.build(space.sample(random.Random(0)), bogus_option=1)

    def test_build_validates_before_building(self, space):
        self._needs_model(space)
        with pytest.raises(InvalidArchitecture):
            space.build(corrupted(space.sample(random.Random(0))), **digits_settings(space))

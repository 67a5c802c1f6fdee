"""Common base of the two 2-input cell spaces, ``nasnet`` and ``darts``.

Both search a *normal* and a *reduction* cell; each cell reads the outputs of
the two previous cells (``in0`` = c_{k-2}, ``in1`` = c_{k-1}) and has
``n_nodes`` intermediate nodes with two inputs each (NASNet §3, DARTS §2.1).
The subclasses differ in op set, input rules, combine choice and concat rule.

Mutation follows Real et al. 2019 (REFERENCE §5.2): choose a cell uniformly,
then one of its nodes ("pairwise combinations") uniformly, then one of the
node's two inputs uniformly, then a mutation kind uniformly from
:attr:`mutation_kinds`:

* ``hidden``: replace that input's source by another valid earlier state
  (staying feed-forward and obeying the space's input rule). Sources are
  limited to states *earlier in index order*, as in the NASNet/DARTS encodings
  where a node can only read states created before it. When no such state
  exists (DARTS node ``n0`` reads both cell inputs and must read two distinct
  states) the mutation falls back to an op mutation.
* ``op``: replace that input's op with a different op of the space.
* ``combine`` (NASNet only): switch the node's combine between add and concat.

Real et al.'s identity mutation is *not* done here: :meth:`mutate` always
returns an architecture with a different ``.spec``; a strategy that wants the
identity mutation keeps the parent itself.

Compiling uses ``nas.nn.networks.NetworkCIFAR`` / ``NetworkImageNet``
(quark0/darts ``cnn/model.py``, REFERENCE §3.1–3.2).
"""
from __future__ import annotations

import random
from typing import Any, ClassVar

import networkx as nx

from nas.arch import Architecture
from nas.cell import OUT, check_cell
from nas.errors import ConfigError, InvalidArchitecture
from nas.genotype import format_genotype, parse_genotype
from search_spaces._common import (
    EditableNodes,
    assemble,
    check_bool,
    check_cell_names,
    check_float,
    check_int,
    editable,
    flat_cell,
    set_concat,
    states_before,
    take_options,
    with_concat,
)
from search_spaces.base import SearchSpace

CELL_NAMES = ("normal", "reduce")

#: Build settings per dataset family. ``digits`` (1×8×8 inputs) is a tiny proxy
#: that trains in seconds on a CPU; ``cifar`` is the DARTS evaluation network
#: (C=36, 20 cells; REFERENCE §3.5); ``imagenet`` the DARTS mobile-setting
#: network (C=48, 14 cells, ImageNet stem; REFERENCE §3.5).
CELL_BUILD_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"channels": 8, "layers": 3, "stem": "cifar", "stem_stride": 1},
    "cifar": {"channels": 36, "layers": 20, "stem": "cifar", "stem_stride": 1},
    "imagenet": {"channels": 48, "layers": 14, "stem": "imagenet"},
}


class TwoInputCellSpace(SearchSpace):
    """Shared implementation; subclasses set the class variables and hooks below."""

    n_nodes: ClassVar[int]
    combines: ClassVar[tuple[str, ...]] = ("add",)
    distinct_inputs: ClassVar[bool] = False
    mutation_kinds: ClassVar[tuple[str, ...]] = ("hidden", "op")
    concat_rule: ClassVar[str] = ""
    #: why ``none`` (the zero op) is not an op of the space, appended to the error naming it
    none_hint: ClassVar[str] = ""
    build_defaults = CELL_BUILD_DEFAULTS

    # -- hooks ----------------------------------------------------------------
    def expected_concat(self, g: nx.MultiDiGraph) -> list[str]:
        """The concat list this space's output rule requires for ``g``."""
        raise NotImplementedError

    def _extra_checks(self, g: nx.MultiDiGraph, where: str) -> None:
        """Space rules checked before the generic :func:`nas.cell.check_cell`.

        ``none`` is a supernet-only primitive: name it with :attr:`none_hint` rather than
        as just another unknown op.
        """
        if "none" in self.ops:
            return
        for _, v, d in g.edges(data=True):
            if v != OUT and d.get("op") == "none":
                hint = f" ({self.none_hint})" if self.none_hint else ""
                raise InvalidArchitecture(f"{where}, node {v}: unknown op 'none' for space {self.name!r}{hint}")

    # -- validation ---------------------------------------------------------------
    def validate(self, arch: Architecture) -> None:
        """Check space, cell names, then each cell: structure, ops, inputs, concat rule."""
        self.check_space(arch)
        check_cell_names(self.name, arch, CELL_NAMES)
        assert arch.cells is not None
        for name, g in arch.cells.items():
            where = f"cell {name!r}"
            self._extra_checks(g, where)
            expected = self.expected_concat(g)
            check_cell(
                with_concat(g, expected),
                where=where,
                ops=self.ops,
                n_inputs=2,
                n_nodes=self.n_nodes,
                arity=2,
                combines=self.combines,
                distinct_inputs=self.distinct_inputs,
            )
            actual = list(g.nodes[OUT].get("concat", ()))
            if actual != expected:
                raise InvalidArchitecture(
                    f"{where}: concat must be {expected} ({self.concat_rule}), got {actual}"
                )

    # -- mutation ---------------------------------------------------------------------
    def hidden_alternatives(self, ins: list[list[str]], node: int, slot: int) -> list[str]:
        """States that input ``slot`` of node ``n{node}`` may be rewired to."""
        current = ins[slot][1]
        taken = {current} | ({src for _, src in ins} if self.distinct_inputs else set())
        return [s for s in states_before(node) if s not in taken]

    def mutate(self, arch: Architecture, rng: random.Random) -> Architecture:
        """One Real et al. 2019 mutation (see module docstring); always a different spec."""
        self.ensure_valid(arch)
        assert arch.cells is not None
        cell = rng.choice(CELL_NAMES)
        node = rng.randrange(self.n_nodes)
        slot = rng.randrange(2)
        kind = rng.choice(self.mutation_kinds)
        cells = {name: editable(g) for name, g in arch.cells.items()}
        nodes: EditableNodes = cells[cell]
        combine, ins = nodes[node]
        if kind == "hidden":
            choices = self.hidden_alternatives(ins, node, slot)
            if choices:
                ins[slot][1] = rng.choice(choices)
            else:
                kind = "op"
        if kind == "op":
            ins[slot][0] = rng.choice([o for o in self.ops if o != ins[slot][0]])
        elif kind == "combine":
            nodes[node][0] = rng.choice([c for c in self.combines if c != combine])
        return self.from_nodes(cells)

    def from_nodes(self, cells: dict[str, EditableNodes]) -> Architecture:
        """Architecture from editable nodes; the concat follows the space's rule."""
        graphs = {}
        for name in CELL_NAMES:
            g = assemble(cells[name], [], 2)
            graphs[name] = set_concat(g, self.expected_concat(g))
        return Architecture(self.name, cells=graphs)

    # -- Genotype strings -------------------------------------------------------------
    def to_genotype(self, arch: Architecture) -> str:
        """The DARTS ``Genotype(...)`` string (REFERENCE §2); needs add-combined nodes."""
        self.ensure_valid(arch)
        assert arch.cells is not None
        return format_genotype(arch.cells)

    def from_genotype(self, text: str) -> Architecture:
        """Parse (never eval) a ``Genotype(...)`` string and validate it in this space."""
        arch = Architecture(self.name, cells=parse_genotype(text))
        self.ensure_valid(arch)
        return arch

    # -- compiling ------------------------------------------------------------------------
    def build(
        self,
        arch: Architecture,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        channels: int | None = None,
        layers: int | None = None,
        **macro: Any,
    ) -> Any:
        """Compile into ``NetworkCIFAR`` (``stem="cifar"``) or ``NetworkImageNet``.

        ``channels``/``layers`` are DARTS' C and number of cells (defaults C=36,
        20 cells for the CIFAR stem, C=48, 14 cells for the ImageNet stem).
        Options: ``auxiliary`` (bool), ``stem`` (``cifar``|``imagenet``),
        ``stem_stride`` (CIFAR stem only, default 1), ``drop_path_prob``
        (in [0, 1); training recipes usually ramp the model's attribute).
        """
        opts = take_options(
            self.name, macro, {"auxiliary": False, "stem": "cifar", "stem_stride": None, "drop_path_prob": 0.0}
        )
        stem = opts["stem"]
        if stem not in ("cifar", "imagenet"):
            raise ConfigError(f"space {self.name!r}: build option stem must be 'cifar' or 'imagenet', got {stem!r}")
        imagenet = stem == "imagenet"
        default = self.build_defaults[stem]
        C = check_int(self.name, "channels", channels if channels is not None else default["channels"])
        L = check_int(self.name, "layers", layers if layers is not None else default["layers"])
        check_int(self.name, "in_channels", in_channels)
        check_int(self.name, "num_classes", num_classes)
        aux = check_bool(self.name, "auxiliary", opts["auxiliary"])
        dpp = check_float(self.name, "drop_path_prob", opts["drop_path_prob"], 0.0, 1.0)
        if imagenet and opts["stem_stride"] is not None:
            raise ConfigError(f"space {self.name!r}: build option stem_stride applies to stem='cifar' only")
        stride = check_int(self.name, "stem_stride", 1 if opts["stem_stride"] is None else opts["stem_stride"])
        self.ensure_valid(arch)
        assert arch.cells is not None
        normal, reduce = flat_cell(arch.cells["normal"]), flat_cell(arch.cells["reduce"])
        from nas.nn import networks

        if imagenet:
            model = networks.NetworkImageNet(
                normal, reduce, C=C, num_classes=num_classes, layers=L, auxiliary=aux, in_channels=in_channels
            )
            model.drop_path_prob = dpp  # a plain attribute there (the trainer ramps it)
            return model
        return networks.NetworkCIFAR(
            normal,
            reduce,
            C=C,
            num_classes=num_classes,
            layers=L,
            auxiliary=aux,
            in_channels=in_channels,
            stem_multiplier=3,
            stem_stride=stride,
            drop_path_prob=dpp,
        )

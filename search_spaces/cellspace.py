"""Two-input cell spaces as data: the common base of ``nasnet``, ``darts`` and YAML-defined cell spaces.

A space searches a *normal* and a *reduction* cell; each cell reads the outputs of the
two previous cells (``in0`` = c_{k-2}, ``in1`` = c_{k-1}) and has :attr:`n_nodes`
intermediate nodes with :attr:`arity` inputs each (Zoph et al., CVPR 2018, §3; Liu et
al., ICLR 2019, §2.1). Everything that distinguishes one such space from another is a
class variable, so a subclass (or a space read from a YAML file) only sets them:

* :attr:`ops`: op names of the op library (``nas.nn.ops.OPS``);
* :attr:`n_nodes`, :attr:`arity`: intermediate nodes and inputs per node;
* :attr:`combines`: ``("add",)``, ``("concat",)`` or both (then a searched choice);
* :attr:`distinct_inputs`: whether a node's inputs must be different states;
* :attr:`output`: ``"all"`` (the cell concatenates every intermediate node, DARTS) or
  ``"unused"`` (the nodes no other node consumes, NASNet);
* :attr:`build_defaults`: the network settings (see :mod:`nas.settings`).

Flat categorical view (generic over those variables), per cell and node ``n{i}``:
with distinct inputs, first the node's *unordered* input set as one categorical over
the ``C(i+2, arity)`` sets (``inputs``), else one source per input slot (``input_a``,
``input_b``, ...); then one op per slot (``op_a``, ``op_b``, ...; with distinct inputs
slot ``a`` is the lowest-indexed state); then ``combine`` when there is a choice.
Every choice vector decodes to a valid architecture.

Mutation follows Real et al., AAAI 2019, §2 (the NASNet-space mutations): choose a
cell uniformly, then one of its nodes, then one of the node's inputs, then a mutation
kind uniformly from :attr:`mutation_kinds`:

* ``hidden``: replace that input's source by another valid earlier state (sources
  are states *earlier in index order*, as in the NASNet/DARTS encodings). When no such
  state exists (a DARTS node ``n0`` reads both cell inputs and must read two distinct
  states) the mutation falls back to an op mutation.
* ``op``: replace that input's op with a different op of the space.
* ``combine`` (only with two combines): switch the node's combine.

Real et al.'s identity mutation is *not* done here: :meth:`mutate` always returns an
architecture with a different ``.spec``; a strategy that wants it keeps the parent.

Model (:meth:`TwoInputCellSpace.lower`): ``nas.nn.networks.NetworkCIFAR`` (the DARTS
CIFAR network, ``stem="cifar"``) or ``NetworkImageNet`` (the DARTS mobile-setting
network, ``stem="imagenet"``); quark0/darts ``cnn/model.py``, Liu et al., ICLR 2019, §3.2.
"""
from __future__ import annotations

import random
from functools import lru_cache
from itertools import combinations
from typing import Any, ClassVar, Sequence

import networkx as nx

from nas.arch import Architecture
from nas.cell import OUT, check_cell, inner_nodes, node_index, unused_nodes
from nas.errors import ConfigError, InvalidArchitecture
from nas.genotype import format_genotype, parse_genotype
from nas.settings import space_defaults
from nas.spec import ModelSpec
from nas.types import Decision
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
N_INPUTS = 2
#: the cell output rules (:attr:`TwoInputCellSpace.output`) and how error messages describe them
OUTPUT_RULES = {
    "all": "all intermediate nodes, in index order",
    "unused": "the intermediate nodes no other node consumes, in index order",
}
STEMS = ("cifar", "imagenet")

#: Network settings: ``"*"`` for every dataset, then per dataset family. ``digits`` (1×8×8
#: inputs) is a tiny proxy that trains in seconds on a CPU; ``cifar`` is the DARTS CIFAR
#: evaluation network (C=36, 20 cells); ``imagenet`` the DARTS mobile-setting network (C=48,
#: 14 cells, ImageNet stem); Liu et al., ICLR 2019, §3.3 and App. A.2. ``stem="imagenet"``
#: without ``channels``/``layers`` takes the ``imagenet`` row's sizes, ``stem="cifar"`` the
#: ``cifar`` row's.
CELL_BUILD_DEFAULTS: dict[str, dict[str, Any]] = {
    "*": {"stem": "cifar", "auxiliary": False, "drop_path_prob": 0.0},
    "digits": {"channels": 8, "layers": 3, "stem_stride": 1},
    "cifar": {"channels": 36, "layers": 20, "stem_stride": 1},
    "imagenet": {"channels": 48, "layers": 14, "stem": "imagenet"},
}
_SLOTS = "abcdefghijklmnopqrstuvwxyz"


@lru_cache(maxsize=None)
def input_sets(i: int, arity: int = 2) -> tuple[tuple[str, ...], ...]:
    """The unordered input sets of node ``n{i}`` (lowest index first), in lexicographic order."""
    return tuple(combinations(states_before(i, N_INPUTS), arity))


class TwoInputCellSpace(SearchSpace):
    """A normal and a reduction two-input cell; subclasses set the class variables below."""

    n_nodes: ClassVar[int]
    arity: ClassVar[int] = 2
    combines: ClassVar[tuple[str, ...]] = ("add",)
    distinct_inputs: ClassVar[bool] = False
    output: ClassVar[str] = "all"
    mutation_kinds: ClassVar[tuple[str, ...]] = ("hidden", "op")
    #: how error messages name the output rule (default: :data:`OUTPUT_RULES`)
    concat_rule: ClassVar[str] = ""
    #: why ``none`` (the zero op) is not an op of the space, appended to the error naming it
    none_hint: ClassVar[str] = ""
    build_defaults = CELL_BUILD_DEFAULTS
    text_formats = ("genotype",)
    text_titles = {"genotype": "genotype"}

    # -- rules ------------------------------------------------------------------------
    def expected_concat(self, g: nx.MultiDiGraph) -> list[str]:
        """The concat list the space's :attr:`output` rule requires for ``g``."""
        return unused_nodes(g) if self.output == "unused" else inner_nodes(g)

    def _extra_checks(self, g: nx.MultiDiGraph, where: str) -> None:
        """``none`` is a supernet-only primitive: name it with :attr:`none_hint`, not as just another unknown op."""
        if "none" in self.ops:
            return
        for _, v, d in g.edges(data=True):
            if v != OUT and d.get("op") == "none":
                hint = f" ({self.none_hint})" if self.none_hint else ""
                raise InvalidArchitecture(f"{where}, node {v}: unknown op 'none' for space {self.name!r}{hint}")

    # -- validation ---------------------------------------------------------------------
    def validate(self, arch: Architecture) -> None:
        """Check space, cell names, then each cell: structure, ops, inputs, concat rule."""
        self.check_space(arch)
        check_cell_names(self.name, arch, CELL_NAMES)
        assert arch.cells is not None
        for name, g in arch.cells.items():
            where = f"cell {name!r}"
            self._extra_checks(g, where)
            expected = self.expected_concat(g)
            check_cell(with_concat(g, expected), where=where, ops=self.ops, n_inputs=N_INPUTS,
                       n_nodes=self.n_nodes, arity=self.arity, combines=self.combines,
                       distinct_inputs=self.distinct_inputs)
            actual = list(g.nodes[OUT].get("concat", ()))
            if actual != expected:
                rule = self.concat_rule or OUTPUT_RULES.get(self.output, self.output)
                raise InvalidArchitecture(f"{where}: concat must be {expected} ({rule}), got {actual}")

    # -- flat categorical view ----------------------------------------------------------
    def decisions(self) -> list[Decision]:
        """Per cell, per node: the inputs, one op per input, then the combine (see the module docstring)."""
        out = []
        slots = _SLOTS[: self.arity]
        for cell in CELL_NAMES:
            for i in range(self.n_nodes):
                p = f"{cell}.n{i}"
                if self.distinct_inputs:
                    out.append(Decision(f"{p}.inputs", tuple(",".join(s) for s in input_sets(i, self.arity))))
                else:
                    states = tuple(states_before(i, N_INPUTS))
                    out += [Decision(f"{p}.input_{s}", states) for s in slots]
                out += [Decision(f"{p}.op_{s}", self.ops) for s in slots]
                if len(self.combines) > 1:
                    out.append(Decision(f"{p}.combine", self.combines))
        return out

    def encode(self, arch: Architecture) -> list[int]:
        self.ensure_valid(arch)
        assert arch.cells is not None
        choices: list[int] = []
        for cell in CELL_NAMES:
            for i, (combine, ins) in enumerate(editable(arch.cells[cell])):
                if self.distinct_inputs:
                    ins = sorted(ins, key=lambda e: node_index(e[1], N_INPUTS))
                    choices.append(input_sets(i, self.arity).index(tuple(src for _, src in ins)))
                else:
                    states = states_before(i, N_INPUTS)
                    choices += [states.index(src) for _, src in ins]
                choices += [self.ops.index(op) for op, _ in ins]
                if len(self.combines) > 1:
                    choices.append(self.combines.index(combine))
        return choices

    def decode(self, choices: Sequence[int]) -> Architecture:
        c = self.check_choices(choices)
        cells = {}
        k = 0
        for cell in CELL_NAMES:
            nodes = []
            for i in range(self.n_nodes):
                if self.distinct_inputs:
                    srcs = list(input_sets(i, self.arity)[c[k]])
                    k += 1
                else:
                    states = states_before(i, N_INPUTS)
                    srcs = [states[j] for j in c[k : k + self.arity]]
                    k += self.arity
                ops = [self.ops[j] for j in c[k : k + self.arity]]
                k += self.arity
                combine = self.combines[0]
                if len(self.combines) > 1:
                    combine = self.combines[c[k]]
                    k += 1
                nodes.append([combine, [[op, src] for op, src in zip(ops, srcs)]])
            cells[cell] = nodes
        return self.from_nodes(cells)

    # -- mutation ---------------------------------------------------------------------------
    def hidden_alternatives(self, ins: list[list[str]], node: int, slot: int) -> list[str]:
        """States that input ``slot`` of node ``n{node}`` may be rewired to."""
        current = ins[slot][1]
        taken = {current} | ({src for _, src in ins} if self.distinct_inputs else set())
        return [s for s in states_before(node, N_INPUTS) if s not in taken]

    def mutate(self, arch: Architecture, rng: random.Random) -> Architecture:
        """One Real et al. 2019 mutation (see the module docstring); always a different spec."""
        self.ensure_valid(arch)
        assert arch.cells is not None
        kinds = [k for k in self.mutation_kinds if k != "combine" or len(self.combines) > 1]
        for _ in range(1000):  # only a degenerate space (one op, no rewiring) needs more than one try
            child = self._mutate_once(arch, rng, kinds)
            if child is not None:
                return child
        raise InvalidArchitecture(f"space {self.name!r}: no mutation changes this architecture")

    def _mutate_once(self, arch: Architecture, rng: random.Random, kinds: list[str]) -> Architecture | None:
        assert arch.cells is not None
        cell = rng.choice(CELL_NAMES)
        node = rng.randrange(self.n_nodes)
        slot = rng.randrange(self.arity)
        kind = rng.choice(kinds)
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
            others = [o for o in self.ops if o != ins[slot][0]]
            if not others:  # a one-op space: only the wiring can change
                return None
            ins[slot][0] = rng.choice(others)
        elif kind == "combine":
            nodes[node][0] = rng.choice([c for c in self.combines if c != combine])
        return self.from_nodes(cells)

    def from_nodes(self, cells: dict[str, EditableNodes]) -> Architecture:
        """Architecture from editable nodes; the concat follows the space's rule."""
        graphs = {}
        for name in CELL_NAMES:
            g = assemble(cells[name], [], N_INPUTS)
            graphs[name] = set_concat(g, self.expected_concat(g))
        return Architecture(self.name, cells=graphs)

    # -- Genotype strings (quark0/darts ``cnn/genotypes.py``) ----------------------------------
    def to_genotype(self, arch: Architecture) -> str:
        """The DARTS ``Genotype(...)`` string; needs add-combined two-input nodes."""
        self.ensure_valid(arch)
        assert arch.cells is not None
        return format_genotype(arch.cells)

    def from_genotype(self, text: str) -> Architecture:
        """Parse (never eval) a ``Genotype(...)`` string and validate it in this space."""
        arch = Architecture(self.name, cells=parse_genotype(text))
        self.ensure_valid(arch)
        return arch

    def accepts_text(self, text: str) -> bool:
        return text.lstrip().startswith("Genotype")

    def from_text(self, text: str) -> Architecture:
        return self.from_genotype(text.strip())

    def to_text(self, arch: Architecture, fmt: str | None = None) -> str | None:
        if fmt not in (None, "genotype"):
            return None
        try:
            return self.to_genotype(arch)
        except InvalidArchitecture:  # e.g. a concat-combined node: no Genotype string
            return None

    # -- the model ----------------------------------------------------------------------------
    def lower(self, arch: Architecture, *, in_channels: int = 3, num_classes: int = 10,
              channels: int | None = None, layers: int | None = None, stem_stride: int | None = None,
              **options: Any) -> ModelSpec:
        """``NetworkCIFAR`` (``stem="cifar"``) or ``NetworkImageNet`` (``stem="imagenet"``).

        ``channels``/``layers`` are DARTS' C and number of cells (unset: the
        :attr:`build_defaults` row of the stem's family). Options (defaults in
        ``build_defaults["*"]``): ``auxiliary`` (bool), ``stem`` (``cifar``|``imagenet``),
        ``stem_stride`` (CIFAR stem only, default 1), ``drop_path_prob`` (in [0, 1);
        training recipes usually ramp the model's attribute).
        """
        opts = take_options(self.name, options, space_defaults(self), named=("stem_stride",))
        stem = opts["stem"]
        if stem not in STEMS:
            raise ConfigError(f"space {self.name!r}: build option stem must be 'cifar' or 'imagenet', got {stem!r}")
        sizes = space_defaults(self, stem)
        C = check_int(self.name, "channels", channels if channels is not None else sizes.get("channels"))
        L = check_int(self.name, "layers", layers if layers is not None else sizes.get("layers"))
        kwargs: dict[str, Any] = {
            "C": C, "num_classes": check_int(self.name, "num_classes", num_classes), "layers": L,
            "auxiliary": check_bool(self.name, "auxiliary", opts["auxiliary"]),
            "in_channels": check_int(self.name, "in_channels", in_channels),
        }
        dpp = check_float(self.name, "drop_path_prob", opts["drop_path_prob"], 0.0, 1.0)
        if stem == "imagenet":
            if stem_stride is not None:
                raise ConfigError(f"space {self.name!r}: build option stem_stride applies to stem='cifar' only")
            class_name = "NetworkImageNet"
        else:
            class_name = "NetworkCIFAR"
            kwargs["stem_multiplier"] = 3
            kwargs["stem_stride"] = check_int(self.name, "stem_stride", 1 if stem_stride is None else stem_stride)
        kwargs["drop_path_prob"] = dpp
        self.ensure_valid(arch)
        assert arch.cells is not None
        cells = tuple(flat_cell(arch.cells[name]) for name in CELL_NAMES)
        return ModelSpec(class_name, cells, kwargs)

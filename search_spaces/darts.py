"""The DARTS CNN search space, discrete form (Liu et al. 2019, §2.1, §3.1.1; REFERENCE §1.1, §4.2).

A normal and a reduction cell with 4 intermediate nodes. Node ``n{i}`` reads
two *distinct* earlier states (c_{k-2}, c_{k-1}, n0..n{i-1}) through one of the
7 non-zero DARTS ops each and adds them; the cell output concatenates all four
intermediate nodes. ``none`` (the zero op) is a supernet primitive only: derived
genotypes exclude it (REFERENCE §4.2), so discrete architectures never use it.

Flat categorical view: per cell, per node, first the node's *unordered* input
pair as one categorical over the C(i+2, 2) pairs, then the op applied to the
lower-indexed state of the pair (``op_a``) and to the higher one (``op_b``).
Every choice vector therefore decodes to a valid architecture, and the space
has ∏_{i=0..3} C(i+2, 2)·7² = 1,037,664,180 ≈ 10^9 encodings per cell, the
count of DARTS §3.1.1 / App. C (≈ 10^18 for the pair of cells).

Genotypes derived by DARTS list a node's two edges strongest first, so the
slot order of a literature genotype may differ from the canonical (index)
order that :meth:`DartsSpace.decode` produces; such architectures encode fine
and ``decode(encode(a))`` has the same ``.key`` (not the same ``.spec``).
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Any, Sequence

import networkx as nx

from nas.arch import Architecture
from nas.cell import inner_nodes, node_index, state_name
from nas.errors import ConfigError, InvalidArchitecture
from nas.types import Decision
from search_spaces._common import check_int, editable, states_before, take_options
from search_spaces.cellspace import CELL_NAMES, TwoInputCellSpace

#: quark0/darts ``PRIMITIVES`` in its order ('none' first): the columns of the
#: supernet's alpha matrices (REFERENCE §1.1). Keep this order.
PRIMITIVES: tuple[str, ...] = (
    "none",
    "max_pool_3x3",
    "avg_pool_3x3",
    "skip_connect",
    "sep_conv_3x3",
    "sep_conv_5x5",
    "dil_conv_3x3",
    "dil_conv_5x5",
)
#: Ops of discrete DARTS architectures: PRIMITIVES without 'none'.
DARTS_OPS: tuple[str, ...] = PRIMITIVES[1:]
N_NODES = 4

#: DARTS search settings (quark0 ``train_search.py`` / ``architect.py`` defaults, REFERENCE §4.1),
#: under khanrc/pt.darts' names (quark0: learning_rate, learning_rate_min, momentum,
#: weight_decay, grad_clip, arch_learning_rate, arch_weight_decay, train_portion, --unrolled).
#: ``order`` 1 = first-order (ξ = 0), 2 = second-order (unrolled); ``alpha_init`` ``randn`` is
#: quark0's ``1e-3·randn``, ``zeros`` the paper's (REFERENCE pitfall 2). Used by the ``darts``
#: strategy (its options) and by ``evaluators.oneshot`` (the trial's ``proposal.config``).
SEARCH_DEFAULTS: dict[str, Any] = {
    "order": 1,
    "w_lr": 0.025,
    "w_lr_min": 0.001,
    "w_momentum": 0.9,
    "w_weight_decay": 3e-4,
    "w_grad_clip": 5.0,
    "alpha_lr": 3e-4,
    "alpha_weight_decay": 1e-3,
    "train_portion": 0.5,
    "alpha_init": "randn",
}


def _positive(v: float) -> bool:
    return v > 0


def _non_negative(v: float) -> bool:
    return v >= 0


def search_settings(given: dict[str, Any], where: str = "darts search") -> dict[str, Any]:
    """``SEARCH_DEFAULTS`` updated with ``given`` (ConfigError on an unknown key or a bad value)."""
    bad = sorted(set(given) - set(SEARCH_DEFAULTS))
    if bad:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(bad)}; known: {', '.join(SEARCH_DEFAULTS)}")
    s = {**SEARCH_DEFAULTS, **given}
    if s["order"] not in (1, 2) or isinstance(s["order"], bool):
        raise ConfigError(f"{where}: order must be 1 (first-order) or 2 (second-order), got {s['order']!r}")
    if s["alpha_init"] not in ("randn", "zeros"):
        raise ConfigError(f"{where}: alpha_init must be 'randn' or 'zeros', got {s['alpha_init']!r}")
    for key, ok, what in (("w_lr", _positive, "> 0"), ("alpha_lr", _positive, "> 0"),
                          ("w_momentum", lambda v: 0 <= v < 1, "in [0, 1)"),
                          ("train_portion", lambda v: 0 < v < 1, "in (0, 1)"),
                          *((k, _non_negative, ">= 0") for k in ("w_lr_min", "w_weight_decay", "w_grad_clip",
                                                                  "alpha_weight_decay"))):
        v = s[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not ok(v):
            raise ConfigError(f"{where}: {key} must be a finite number {what}, got {v!r}")
        s[key] = float(v)
    if s["w_lr_min"] > s["w_lr"]:
        raise ConfigError(f"{where}: w_lr_min ({s['w_lr_min']:g}) must not exceed w_lr ({s['w_lr']:g})")
    return s


def _pairs(i: int) -> tuple[tuple[str, str], ...]:
    return tuple(combinations(states_before(i), 2))


#: :func:`input_pairs` of the DARTS nodes, computed once (encode/decode look them up per node).
_INPUT_PAIRS: tuple[tuple[tuple[str, str], ...], ...] = tuple(_pairs(i) for i in range(N_NODES))


def input_pairs(i: int) -> tuple[tuple[str, str], ...]:
    """Unordered input pairs of node ``n{i}``, lower index first, in lexicographic order."""
    return _INPUT_PAIRS[i] if i < len(_INPUT_PAIRS) else _pairs(i)


class DartsSpace(TwoInputCellSpace):
    """DARTS cells: 4 nodes, 2 distinct inputs each, 7 non-zero ops, add, concat of all nodes."""

    name = "darts"
    ops = DARTS_OPS
    primitives = PRIMITIVES
    n_nodes = N_NODES
    combines = ("add",)
    distinct_inputs = True
    mutation_kinds = ("hidden", "op")
    concat_rule = "DARTS rule: all intermediate nodes, in index order"
    none_hint = "'none' is a supernet-only primitive; derived genotypes exclude it"

    def expected_concat(self, g: nx.MultiDiGraph) -> list[str]:
        return inner_nodes(g)

    # -- flat categorical view ----------------------------------------------------
    def decisions(self) -> list[Decision]:
        """Per cell, per node: inputs (unordered pair), op_a (lower input), op_b (higher input)."""
        out = []
        for cell in CELL_NAMES:
            for i in range(self.n_nodes):
                p = f"{cell}.n{i}"
                pairs = tuple(f"{a},{b}" for a, b in input_pairs(i))
                out += [
                    Decision(f"{p}.inputs", pairs),
                    Decision(f"{p}.op_a", self.ops),
                    Decision(f"{p}.op_b", self.ops),
                ]
        return out

    def encode(self, arch: Architecture) -> list[int]:
        self.ensure_valid(arch)
        assert arch.cells is not None
        choices: list[int] = []
        for cell in CELL_NAMES:
            for i, (_, ins) in enumerate(editable(arch.cells[cell])):
                lo, hi = sorted(ins, key=lambda e: node_index(e[1], 2))
                choices += [
                    input_pairs(i).index((lo[1], hi[1])),
                    self.ops.index(lo[0]),
                    self.ops.index(hi[0]),
                ]
        return choices

    def decode(self, choices: Sequence[int]) -> Architecture:
        c = self.check_choices(choices)
        cells = {}
        k = 0
        for cell in CELL_NAMES:
            nodes = []
            for i in range(self.n_nodes):
                pair, op_a, op_b = c[k : k + 3]
                k += 3
                a, b = input_pairs(i)[pair]
                nodes.append(["add", [[self.ops[op_a], a], [self.ops[op_b], b]]])
            cells[cell] = nodes
        return self.from_nodes(cells)

    def size_per_cell(self) -> int:
        """∏_{i} C(i+2, 2)·7² (DARTS App. C: ≈10^9)."""
        n = 1
        for i in range(self.n_nodes):
            n *= len(input_pairs(i)) * len(self.ops) ** 2
        return n

    # -- one-shot (DARTS) -------------------------------------------------------------
    def supernet(self, **macro: Any) -> Any:
        """The DARTS search network (``nas.nn.supernet.DartsSupernet``; REFERENCE §1.4, §3.3).

        Options: ``C`` (initial channels, default 16), ``num_classes`` (10), ``layers`` (8),
        ``in_channels`` (3) and ``alpha_init`` (``randn``: quark0's ``1e-3·randn``, default;
        ``zeros``: the paper's). ``supernet(C=16, num_classes=10, layers=8)`` has quark0's
        1,930,618 weights (alphas excluded).
        """
        opts = take_options(self.name, macro, {"C": 16, "num_classes": 10, "layers": 8, "in_channels": 3,
                                               "alpha_init": "randn"})
        for key in ("C", "num_classes", "layers", "in_channels"):
            check_int(self.name, key, opts[key])
        if opts["alpha_init"] not in ("randn", "zeros"):
            raise ConfigError(f"space 'darts': supernet option alpha_init must be 'randn' or 'zeros', "
                              f"got {opts['alpha_init']!r}")
        from nas.nn.supernet import DartsSupernet

        return DartsSupernet(opts["C"], opts["num_classes"], opts["layers"], in_channels=opts["in_channels"],
                             alpha_init=opts["alpha_init"], primitives=PRIMITIVES)

    def from_derived(self, genotype: dict[str, Any], meta: dict[str, Any] | None = None) -> Architecture:
        """The Architecture of a derived genotype (``DartsSupernet.genotype()``), slot order kept.

        ``genotype`` holds quark0's flat ``(op, input_index)`` pairs, two per node, strongest
        first (REFERENCE §2); the concat is the DARTS rule (all four nodes).
        """
        cells = {}
        for cell in CELL_NAMES:
            pairs = list(genotype[cell])
            if len(pairs) != 2 * self.n_nodes:
                raise InvalidArchitecture(f"derived {cell} cell: expected {2 * self.n_nodes} edges, got {len(pairs)}")
            cells[cell] = [["add", [[op, state_name(int(j), 2)] for op, j in pairs[2 * i:2 * i + 2]]]
                           for i in range(self.n_nodes)]
        arch = self.from_nodes(cells)
        arch = Architecture(self.name, cells=arch.cells, meta=dict(meta or {}))
        self.ensure_valid(arch)
        return arch

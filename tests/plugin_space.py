"""A third-party search space in one file: ``plugin-ladder`` (test plugin).

Importing this module registers the space, exactly as a package's ``nas.plugins`` entry point
would (the entry point loads the module; the module registers itself);
``NAS_PLUGINS=tests.plugin_space`` does it for a ``python -m nas`` subprocess or a Ray worker.
Nothing else in the toolkit knows this space: search, show, export, Ray and the conformance
suites work from the :class:`~search_spaces.base.SearchSpace` contract alone.

The space: a normal and a reduction cell as in NASNet/DARTS (Zoph et al., CVPR 2018, §3;
Liu et al., ICLR 2019, §2.1), reading the two previous cells (``in0`` = c_{k-2}, ``in1`` =
c_{k-1}), with three intermediate nodes on a *ladder*: node ``n{i}`` adds

* its rung: the previous state (``in1`` for ``n0``, else ``n{i-1}``) through a searched op, and
* a skip: a searched earlier state other than the rung (``in0`` for ``n0``; ``in0``/``in1`` for
  ``n1``; ``in0``/``in1``/``n0`` for ``n2``) through a searched op,

over its own op subset {sep_conv_3x3, max_pool_3x3, skip_connect} of the op library. The cell
output concatenates all three nodes. That is 9·18·27 = 4,374 cells, 19,131,876 architectures.
Mutation (Real et al., AAAI 2019, §2) changes one op or one skip source. The model is the DARTS
CIFAR network (``NetworkCIFAR``) of the exportable ``nas.nn`` networks, so ``lower`` is all a
model needs.
"""
from __future__ import annotations

import random
from typing import Any, Sequence

from nas.arch import Architecture
from nas.cell import cell_spec, check_cell, make_cell, node_index
from nas.errors import ConfigError, InvalidArchitecture
from nas.registry import SPACES
from nas.settings import space_defaults
from nas.spec import ModelSpec
from nas.types import Decision
from search_spaces.base import SearchSpace

NAME = "plugin-ladder"
OPS = ("sep_conv_3x3", "max_pool_3x3", "skip_connect")
CELLS = ("normal", "reduce")
N_NODES = 3


def rung(i: int) -> str:
    """The state node ``n{i}`` always reads (its rung of the ladder)."""
    return "in1" if i == 0 else f"n{i - 1}"


def skips(i: int) -> list[str]:
    """The states node ``n{i}`` may read as its skip input."""
    return [s for s in ["in0", "in1", *(f"n{k}" for k in range(i))] if s != rung(i)]


class LadderSpace(SearchSpace):
    """Two ladder cells of three nodes over {sep_conv_3x3, max_pool_3x3, skip_connect}."""

    name = NAME
    ops = OPS
    build_defaults = {
        "*": {"channels": 16, "layers": 5, "drop_path_prob": 0.0},
        "digits": {"channels": 8, "layers": 3},
        "cifar": {"channels": 16, "layers": 8},
    }

    # -- the flat categorical view: per cell and node, the rung op, the skip source, the skip op
    def decisions(self) -> list[Decision]:
        out = []
        for cell in CELLS:
            for i in range(N_NODES):
                out += [Decision(f"{cell}.n{i}.rung_op", OPS), Decision(f"{cell}.n{i}.skip", tuple(skips(i))),
                        Decision(f"{cell}.n{i}.skip_op", OPS)]
        return out

    def decode(self, choices: Sequence[int]) -> Architecture:
        c = iter(self.check_choices(choices))
        cells = {}
        for cell in CELLS:
            nodes = []
            for i in range(N_NODES):
                rung_op, skip, skip_op = OPS[next(c)], skips(i)[next(c)], OPS[next(c)]
                nodes.append(("add", [(rung_op, rung(i)), (skip_op, skip)]))
            cells[cell] = make_cell(nodes, [f"n{i}" for i in range(N_NODES)])
        return Architecture(self.name, cells=cells)

    def _nodes(self, arch: Architecture) -> dict[str, list[tuple[str, str, str]]]:
        """Per cell, per node ``(rung op, skip source, skip op)``, whatever the slot order."""
        out = {}
        for cell in CELLS:
            rows = []
            for i, (_, inputs) in enumerate(cell_spec(arch.cells[cell])[0]):
                by_src = {src: op for op, src in inputs}
                (skip,) = set(by_src) - {rung(i)}
                rows.append((by_src[rung(i)], skip, by_src[skip]))
            out[cell] = rows
        return out

    def encode(self, arch: Architecture) -> list[int]:
        self.ensure_valid(arch)
        return [x for cell in CELLS for i, (r, s, o) in enumerate(self._nodes(arch)[cell])
                for x in (OPS.index(r), skips(i).index(s), OPS.index(o))]

    def validate(self, arch: Architecture) -> None:
        self.check_space(arch)
        if arch.cells is None or sorted(arch.cells) != sorted(CELLS):
            raise InvalidArchitecture(f"{self.name}: expected cells {', '.join(CELLS)}")
        if arch.macro:
            raise InvalidArchitecture(f"{self.name}: the space has no macro settings, got {sorted(arch.macro)}")
        for cell in CELLS:
            g = arch.cells[cell]
            where = f"{self.name} cell {cell!r}"
            check_cell(g, where=where, ops=OPS, n_inputs=2, n_nodes=N_NODES, arity=2, combines=("add",))
            nodes, concat = cell_spec(g)
            for i, (_, inputs) in enumerate(nodes):
                sources = sorted(src for _, src in inputs)
                other = [s for s in sources if s != rung(i)]
                if rung(i) not in sources or len(other) != 1 or other[0] not in skips(i):
                    raise InvalidArchitecture(f"{where}, node n{i}: must read {rung(i)} and one of "
                                              f"{', '.join(skips(i))}, got {', '.join(sources)}")
            if list(concat) != [f"n{i}" for i in range(N_NODES)]:
                raise InvalidArchitecture(f"{where}: the output concatenates n0, n1, n2, got {list(concat)}")

    def mutate(self, arch: Architecture, rng: random.Random) -> Architecture:
        """One op or one skip source changes (Real et al.'s op and hidden-state mutations)."""
        choices = self.encode(arch)
        cell, i = rng.randrange(len(CELLS)), rng.randrange(N_NODES)
        kind = rng.choice(("op", "hidden")) if len(skips(i)) > 1 else "op"
        base = 3 * (N_NODES * cell + i)
        pos = base + 1 if kind == "hidden" else base + rng.choice((0, 2))
        n = len(skips(i)) if kind == "hidden" else len(OPS)
        choices[pos] = (choices[pos] + rng.randrange(1, n)) % n
        return self.decode(choices)

    # -- the model -----------------------------------------------------------------------------------
    def lower(self, arch: Architecture, *, in_channels: int = 3, num_classes: int = 10,
              channels: int | None = None, layers: int | None = None, **options: Any) -> ModelSpec:
        """``NetworkCIFAR(normal, reduce, C=channels, layers=layers, ...)``; option ``drop_path_prob``."""
        defaults = space_defaults(self)
        unknown = sorted(set(options) - {"drop_path_prob"})
        if unknown:
            raise ConfigError(f"space {self.name!r} got unexpected option(s) {', '.join(unknown)}; "
                              "accepted: channels, layers, in_channels, num_classes, drop_path_prob")
        settings = {"channels": defaults["channels"] if channels is None else channels,
                    "layers": defaults["layers"] if layers is None else layers,
                    "in_channels": in_channels, "num_classes": num_classes}
        for key, value in settings.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"space {self.name!r}: {key} must be an integer >= 1, got {value!r}")
        dpp = options.get("drop_path_prob", defaults["drop_path_prob"])
        if isinstance(dpp, bool) or not isinstance(dpp, (int, float)) or not 0.0 <= dpp < 1.0:
            raise ConfigError(f"space {self.name!r}: drop_path_prob must be in [0, 1), got {dpp!r}")
        self.ensure_valid(arch)
        cells = []
        for cell in CELLS:
            nodes, concat = cell_spec(arch.cells[cell])
            cells.append(([(combine, [(op, node_index(src, 2)) for op, src in inputs]) for combine, inputs in nodes],
                          [node_index(c, 2) for c in concat]))
        kwargs = {"C": settings["channels"], "layers": settings["layers"], "num_classes": settings["num_classes"],
                  "in_channels": settings["in_channels"], "drop_path_prob": float(dpp)}
        return ModelSpec("NetworkCIFAR", tuple(cells), kwargs)


if NAME not in SPACES:
    SPACES.add(NAME, LadderSpace, "test plugin: two 3-node ladder cells over sep_conv_3x3/max_pool_3x3/skip_connect")

"""Search spaces as data: a two-input cell space defined in a YAML file (``format: nas/space@1``).

A space file sets the variables of :class:`~search_spaces.cellspace.TwoInputCellSpace`
(the common base of ``nasnet`` and ``darts``), so a file space samples, mutates, encodes,
validates and lowers exactly as those do::

    format: nas/space@1
    space:
      name: darts_s3                # how architectures name their space (arch.space)
      summary: DARTS cells with the RobustDARTS S3 op set
      ops: [none, sep_conv_3x3, skip_connect]   # names of the op library, nas.nn.ops.OPS
      nodes: 4                      # intermediate nodes per cell
      inputs: 2                     # cell inputs (c_{k-2}, c_{k-1}); must be 2
      inputs_per_node: 2
      distinct_inputs: true         # a node reads different states (DARTS) or may repeat one (NASNet)
      combine: add                  # add | concat | [add, concat] (then searched per node)
      output: all                   # all intermediate nodes (DARTS) | unused ones (NASNet)
      cells: [normal, reduce]
      build_defaults:               # over the cell spaces' defaults, per dataset family
        digits: {channels: 8, layers: 3}

Only ``name``, ``ops`` and ``nodes`` are required; the other fields default to the values
shown (``distinct_inputs`` defaults to false). ``none`` (the zero op) is handled as in the
DARTS space (Liu et al., ICLR 2019, §2.4): it is a primitive of the one-shot supernet only,
so discrete architectures use the other ops. ``inputs`` must be 2 because the networks that
compile the cells (``NetworkCIFAR``/``NetworkImageNet``) feed each cell the two previous
cells; for the same reason the cells are always a normal and a reduction cell.

Every field is checked (type, range, unknown keys), and a bad file is one
:class:`~nas.errors.ConfigError` naming the file and the field. A loaded definition
registers itself in :data:`nas.registry.SPACES` under its ``name`` together with its
normalised data (defaults filled in), which a search stores in its config
(``space_definition``) so that a resumed run, ``nas export`` and Ray workers recreate the
space without the file (:func:`nas.config.pin_space`).

The shipped examples (``search_spaces/examples/``) are the DARTS space restricted to the
RobustDARTS op sets S2 = {sep_conv_3x3, skip_connect} and S3 = {none, sep_conv_3x3,
skip_connect} (Zela et al., ICLR 2020, §3); they resolve by name (``darts_s2``,
``darts_s3``) and by path.
"""
from __future__ import annotations

import json
import re
from functools import partial
from pathlib import Path
from typing import Any, Callable, Mapping

from nas.errors import ConfigError
from nas.io import read_yaml_doc
from nas.limits import MAX_CHANNELS, MAX_LAYERS
from nas.registry import SPACES
from search_spaces.cellspace import CELL_BUILD_DEFAULTS, CELL_NAMES, N_INPUTS, OUTPUT_RULES, STEMS, TwoInputCellSpace

FORMAT = "nas/space@1"
BODY = "space"
EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
MAX_NODES = 16
MAX_INPUTS_PER_NODE = 8
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")  # a plain name: model.py embeds it
#: the optional fields and their defaults (``name``, ``ops`` and ``nodes`` are required)
DEFAULTS: dict[str, Any] = {
    "summary": "", "inputs": N_INPUTS, "inputs_per_node": 2, "distinct_inputs": False, "combine": "add",
    "output": "all", "cells": list(CELL_NAMES), "build_defaults": {},
}
FIELDS = ("name", "ops", "nodes", *DEFAULTS)
#: ``build_defaults`` families: ``"*"`` (every dataset) and the dataset families
FAMILIES = ("*", "digits", "cifar", "imagenet")


def _bad(where: str, field: str, why: str) -> ConfigError:
    return ConfigError(f"{where}: field {field!r} {why}")


def _int(where: str, field: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(where, field, f"must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise _bad(where, field, f"must be between {lo} and {hi}, got {value}")
    return value


def _setting(where: str, field: str, key: str, value: Any) -> Any:
    """One build default, type-checked (the space's ``lower`` checks the combination)."""
    if key in ("channels", "layers", "stem_stride"):
        hi = {"channels": MAX_CHANNELS, "layers": MAX_LAYERS, "stem_stride": 8}[key]
        return _int(where, f"{field}.{key}", value, 1, hi)
    if key == "stem":
        if value not in STEMS:
            raise _bad(where, f"{field}.stem", f"must be one of {', '.join(STEMS)}, got {value!r}")
        return value
    if key == "auxiliary":
        if not isinstance(value, bool):
            raise _bad(where, f"{field}.auxiliary", f"must be true or false, got {value!r}")
        return value
    if key == "drop_path_prob":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
            raise _bad(where, f"{field}.drop_path_prob", f"must be a number in [0, 1), got {value!r}")
        return float(value)
    known = "channels, layers, stem, stem_stride, auxiliary, drop_path_prob"
    raise _bad(where, field, f"has unknown setting {key!r}; known: {known}")


def _build_defaults(where: str, value: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(value, Mapping):
        raise _bad(where, "build_defaults", f"must be a mapping of dataset family -> settings, got {value!r}")
    out: dict[str, dict[str, Any]] = {}
    for family, settings in value.items():
        if family not in FAMILIES:
            raise _bad(where, "build_defaults", f"has unknown family {family!r}; known: {', '.join(FAMILIES)}")
        field = f"build_defaults.{family}"
        if not isinstance(settings, Mapping):
            raise _bad(where, field, f"must be a mapping of settings, got {settings!r}")
        out[family] = {str(k): _setting(where, field, str(k), v) for k, v in settings.items()}
    return out


def _op_names() -> frozenset[str]:
    from nas.nn.ops import OPS  # the op library (imports torch)

    return frozenset(OPS)


def parse_definition(doc: Any, where: str = "space definition") -> dict[str, Any]:
    """Check a ``{format: nas/space@1, space: {...}}`` document; return it normalised.

    The result has every field (defaults filled in), lists instead of tuples and the
    header, so that it equals itself after a YAML or JSON round trip.
    """
    if not isinstance(doc, Mapping) or doc.get("format") != FORMAT or not isinstance(doc.get(BODY), Mapping):
        raise ConfigError(f"{where}: field 'format' must be {FORMAT!r} with a {BODY!r} mapping")
    extra = sorted(map(str, set(doc) - {"format", BODY}))
    if extra:
        raise ConfigError(f"{where}: unknown top-level field(s) {', '.join(extra)}; expected format and {BODY}")
    body = doc[BODY]
    where = f"{where}: {BODY}"
    unknown = sorted(map(str, set(body) - set(FIELDS)))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    missing = [f for f in ("name", "ops", "nodes") if f not in body]
    if missing:
        raise ConfigError(f"{where}: missing required field(s) {', '.join(missing)}")
    d = {**DEFAULTS, **body}
    name = d["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise _bad(where, "name", f"must be 1-48 lower-case letters, digits or '_', starting with a letter, "
                                  f"got {name!r}")
    if not isinstance(d["summary"], str):
        raise _bad(where, "summary", f"must be a string, got {d['summary']!r}")
    ops = d["ops"]
    if not isinstance(ops, list) or not ops or not all(isinstance(o, str) for o in ops):
        raise _bad(where, "ops", f"must be a non-empty list of op names, got {ops!r}")
    if len(set(ops)) != len(ops):
        raise _bad(where, "ops", f"lists an op twice: {ops}")
    known_ops = _op_names()
    for op in ops:
        if op not in known_ops:
            raise _bad(where, "ops", f"has unknown op {op!r}; known: {', '.join(sorted(known_ops))}")
    if not [o for o in ops if o != "none"]:
        raise _bad(where, "ops", "needs an op besides 'none' (the zero op is a supernet-only primitive)")
    if isinstance(d["inputs"], bool) or d["inputs"] != N_INPUTS:
        raise _bad(where, "inputs", f"must be {N_INPUTS}, got {d['inputs']!r}: the cell networks (NetworkCIFAR, "
                                    "NetworkImageNet) feed each cell the outputs of the two previous cells")
    nodes = _int(where, "nodes", d["nodes"], 1, MAX_NODES)
    arity = _int(where, "inputs_per_node", d["inputs_per_node"], 1, MAX_INPUTS_PER_NODE)
    if not isinstance(d["distinct_inputs"], bool):
        raise _bad(where, "distinct_inputs", f"must be true or false, got {d['distinct_inputs']!r}")
    if d["distinct_inputs"] and arity > N_INPUTS:
        raise _bad(where, "inputs_per_node", f"is {arity}, more inputs than available: with distinct_inputs "
                                             f"node n0 can read only the {N_INPUTS} cell inputs")
    combine = d["combine"]
    combines = [combine] if isinstance(combine, str) else combine
    if (not isinstance(combines, list) or not combines or len(set(map(str, combines))) != len(combines)
            or any(c not in ("add", "concat") for c in combines)):
        raise _bad(where, "combine", f"must be 'add', 'concat' or a list of both, got {combine!r}")
    if not isinstance(d["output"], str) or d["output"] not in OUTPUT_RULES:
        raise _bad(where, "output", f"must be one of {', '.join(OUTPUT_RULES)}, got {d['output']!r}")
    if d["cells"] != list(CELL_NAMES):
        raise _bad(where, "cells", f"must be {list(CELL_NAMES)} (the networks stack normal and reduction "
                                   f"cells), got {d['cells']!r}")
    out = {
        "name": name, "summary": d["summary"], "ops": list(ops), "nodes": nodes, "inputs": N_INPUTS,
        "inputs_per_node": arity, "distinct_inputs": d["distinct_inputs"], "combine": list(combines),
        "output": d["output"], "cells": list(CELL_NAMES), "build_defaults": _build_defaults(where, d["build_defaults"]),
    }
    space = FileCellSpace({"format": FORMAT, BODY: out})
    if space.size() < 2:
        raise ConfigError(f"{where}: defines a single architecture, so there is nothing to search "
                          "(add ops or nodes)")
    return {"format": FORMAT, BODY: out}


class FileCellSpace(TwoInputCellSpace):
    """A two-input cell space whose class variables come from a parsed space file."""

    def __init__(self, definition: Mapping[str, Any]) -> None:
        body = definition[BODY]
        self.definition = definition
        self.name = body["name"]
        self.summary = body["summary"]
        #: every op of the file in its order: the supernet's mixed-op primitives
        self.primitives = tuple(body["ops"])
        self.ops = tuple(o for o in self.primitives if o != "none")
        self.n_nodes = body["nodes"]
        self.arity = body["inputs_per_node"]
        self.distinct_inputs = body["distinct_inputs"]
        self.combines = tuple(body["combine"])
        self.output = body["output"]
        self.mutation_kinds = ("hidden", "op", "combine") if len(self.combines) > 1 else ("hidden", "op")
        self.none_hint = (f"'none' is a supernet-only primitive of this space; architectures use "
                          f"{', '.join(self.ops)}" if "none" in self.primitives else f"ops: {', '.join(self.ops)}")
        families = [*CELL_BUILD_DEFAULTS, *(f for f in body["build_defaults"] if f not in CELL_BUILD_DEFAULTS)]
        self.build_defaults = {f: {**CELL_BUILD_DEFAULTS.get(f, {}), **body["build_defaults"].get(f, {})}
                               for f in families}

    def describe(self) -> dict[str, Any]:
        """Summary for ``nas spaces``: plus the supernet's primitives (the file's op list)."""
        return {**super().describe(), "primitives": list(self.primitives)}

    # -- one-shot search (DARTS): offered when the cells are DARTS cells over other ops -------------
    #: supernet size: the DARTS search network's C=16, 8 cells (Liu et al., ICLR 2019, §3.1.1); tiny on digits
    supernet_defaults = {"*": {"channels": 16, "layers": 8}, "digits": {"channels": 8, "layers": 3}}

    def _darts_like(self) -> bool:
        return self.distinct_inputs and self.arity == 2 and self.combines == ("add",) and self.output == "all"

    def has_supernet(self) -> bool:
        """Only DARTS-shaped cells have the DARTS supernet (see :meth:`supernet`)."""
        return self._darts_like()

    def supernet(self, **settings: Any) -> Any:
        """The DARTS search network over this space's ops (``nas.nn.supernet.DartsSupernet``).

        As RobustDARTS searches its restricted spaces (Zela et al., ICLR 2020, §3): every edge
        mixes :attr:`primitives` (``none`` included when the file lists it). Only for DARTS-shaped
        cells (two distinct inputs per node, add, output = all nodes). Settings as the ``darts``
        space's: ``channels``, ``layers``, ``num_classes``, ``in_channels``, ``alpha_init``.
        """
        if not self._darts_like():
            return super().supernet(**settings)
        from search_spaces._common import check_int, take_options

        opts = take_options(self.name, settings, {"channels": 16, "num_classes": 10, "layers": 8,
                                                  "in_channels": 3, "alpha_init": "randn"})
        for key in ("channels", "num_classes", "layers", "in_channels"):
            check_int(self.name, key, opts[key])
        if opts["alpha_init"] not in ("randn", "zeros"):
            raise ConfigError(f"space {self.name!r}: supernet option alpha_init must be 'randn' or 'zeros', "
                              f"got {opts['alpha_init']!r}")
        from nas.nn.supernet import DartsSupernet

        return DartsSupernet(opts["channels"], opts["num_classes"], opts["layers"], in_channels=opts["in_channels"],
                             steps=self.n_nodes, multiplier=self.n_nodes, alpha_init=opts["alpha_init"],
                             primitives=self.primitives)

    def derive(self, supernet: Any, meta: dict[str, Any] | None = None) -> Any:
        """The DARTS rule (Liu et al., ICLR 2019, §2.4): per node the 2 strongest edges by their strongest
        non-``none`` op (``DartsSupernet.genotype``)."""
        if not self._darts_like():
            return super().derive(supernet, meta)
        from nas.arch import Architecture
        from nas.cell import state_name

        genotype = supernet.genotype()
        cells = {cell: [["add", [[op, state_name(int(j), N_INPUTS)] for op, j in genotype[cell][2 * i:2 * i + 2]]]
                        for i in range(self.n_nodes)] for cell in CELL_NAMES}
        arch = Architecture(self.name, cells=self.from_nodes(cells).cells, meta=dict(meta or {}))
        self.ensure_valid(arch)
        return arch


# -- registration (search_spaces/__init__.py registers these as SPACES resolvers) ----------------
_FACTORIES: dict[str, Callable[[], FileCellSpace]] = {}


def example_files() -> list[Path]:
    """The shipped example space files, sorted."""
    return sorted(EXAMPLES_DIR.glob("*.yaml"))


def read_space_file(path: str | Path) -> dict[str, Any]:
    """Read and check a space file; the normalised definition (:func:`parse_definition`)."""
    return parse_definition(read_yaml_doc(path, FORMAT, BODY), str(path))


def register_definition(definition: Any, where: str = "space definition") -> str:
    """Register a space definition under its name (idempotent for the same definition); its name.

    A name that a code space (built-in or plugin), a shipped example or an earlier, different
    definition already uses is a ConfigError: architectures name their space, so two spaces
    must not share a name.
    """
    d = parse_definition(definition, where)
    name = d[BODY]["name"]
    taken = SPACES.definition(name) if name in SPACES else _example_definition(name)
    if name in SPACES and taken is None:
        raise ConfigError(f"{where}: space name {name!r} is taken by the space {SPACES.origin(name)}; "
                          "give the file space another name")
    if taken is not None and taken != d:
        owner = SPACES.origin(name) if name in SPACES else "a shipped example"
        raise ConfigError(f"{where}: space {name!r} is already defined differently (by {owner}); "
                          "give this space another name")
    if name not in SPACES:
        key = json.dumps(d, sort_keys=True)
        factory = _FACTORIES.setdefault(key, partial(FileCellSpace, d))
        summary = d[BODY]["summary"] or f"space file: {len(d[BODY]['ops'])} ops, {d[BODY]['nodes']} nodes"
        SPACES.add(name, factory, summary, definition=d, where=where)
    return name


def register_file(path: str) -> str:
    """SPACES resolver for ``*.yaml``/``*.yml`` names: read, check and register the space file."""
    return register_definition(read_yaml_doc(path, FORMAT, BODY), str(path))


def is_example(name: str) -> bool:
    """Whether ``name`` (e.g. ``darts_s3``) names a shipped example (``examples/darts_s3.yaml``)."""
    return bool(_NAME.match(name)) and (EXAMPLES_DIR / f"{name}.yaml").is_file()


def _example_definition(name: str) -> dict[str, Any] | None:
    if not is_example(name):
        return None
    d = read_space_file(EXAMPLES_DIR / f"{name}.yaml")
    return d if d[BODY]["name"] == name else None


def register_example(name: str) -> str:
    """SPACES resolver for the names of the shipped examples."""
    path = EXAMPLES_DIR / f"{name}.yaml"
    d = read_space_file(path)
    if d[BODY]["name"] != name:
        raise ConfigError(f"{path}: the example defines space {d[BODY]['name']!r}, not {name!r}")
    return register_definition(d, str(path))


__all__ = ["FORMAT", "FileCellSpace", "example_files", "is_example", "parse_definition", "read_space_file",
           "register_definition", "register_example", "register_file"]

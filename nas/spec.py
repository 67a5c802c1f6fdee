"""A model as plain data: :class:`ModelSpec`, its safety checks, and :func:`instantiate`.

A search space *lowers* an architecture to a :class:`ModelSpec` (``space.lower``): the
name of one exportable ``nas.nn`` network class (:data:`nas.nn.NETWORKS`), its
positional arguments (cells as ``(nodes, concat)`` tuples, NAS-Bench-201 edge lists,
MBConv stage dicts) and its keyword arguments, all plain literals. Two consumers read
it: :func:`instantiate` builds the ``nn.Module`` (that is ``space.build``) and
:mod:`nas.app.export_codegen` writes the same call into a standalone ``model.py``.
Neither knows any space: what a positional argument holds is declared by the network
class itself (its ``EXPORT_ARGS``: ``(variable name, kind)`` pairs, kinds
:data:`ARG_KINDS`), and the keyword arguments it accepts are its ``__init__`` signature.

Safety (architectures are user input, and ``model.py`` is code): :func:`check_spec`
accepts only whitelisted classes, keyword names from the class signature, and values
that pass :func:`check_literal` (``None``/``bool``/``int``/finite ``float``,
identifier-like strings, lists/tuples/dicts of those); op names must be keys of
:data:`nas.nn.ops.OPS` and combines ``add``/``concat``. torch is imported only by the
functions that need the op library or the classes.
"""
from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from nas.cell import COMBINES
from nas.errors import ConfigError, InvalidArchitecture

_IDENT = re.compile(r"^[A-Za-z0-9_]{1,64}$")
#: what a positional argument of a network class may hold (``EXPORT_ARGS`` kinds)
ARG_KINDS = ("cell", "sum_cell", "stages")


@dataclass(frozen=True)
class ModelSpec:
    """A ``nas.nn`` network as plain data: ``class_name(*args, **kwargs)``."""

    class_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


# -- literal checks ---------------------------------------------------------------------
def is_plain_name(value: Any) -> bool:
    """Whether ``value`` is a string of 1-64 letters, digits and underscores."""
    return isinstance(value, str) and bool(_IDENT.match(value))


def check_literal(value: Any, where: str) -> None:
    """Raise :class:`InvalidArchitecture` unless ``value`` is a plain, safe literal."""
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        if abs(value) > 2**53:
            raise InvalidArchitecture(f"{where}: integer {value} is out of range")
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArchitecture(f"{where}: number {value!r} is not finite")
        return
    if isinstance(value, str):
        if not _IDENT.match(value):
            raise InvalidArchitecture(f"{where}: {value[:40]!r} is not a plain name (letters, digits, _)")
        return
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_literal(v, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not is_plain_name(k):
                raise InvalidArchitecture(f"{where}: key {str(k)[:40]!r} is not a plain name")
            check_literal(v, f"{where}.{k}")
        return
    raise InvalidArchitecture(f"{where}: values of type {type(value).__name__} cannot be exported")


def check_op(op: Any, where: str) -> str:
    """``op`` if it names an op of the op library (:data:`nas.nn.ops.OPS`), else InvalidArchitecture."""
    from nas.nn.ops import OPS

    if not isinstance(op, str) or op not in OPS:
        shown = op[:40] if isinstance(op, str) else op
        raise InvalidArchitecture(f"{where}: unknown op {shown!r}; known ops: {', '.join(sorted(OPS))}")
    return op


def check_int(value: Any, where: str) -> int:
    """``value`` if it is an ``int`` (not a bool), else InvalidArchitecture."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArchitecture(f"{where}: expected an integer, got {value!r}")
    return value


def _pairs(pairs: Any, where: str) -> None:
    if not isinstance(pairs, (list, tuple)):
        raise InvalidArchitecture(f"{where}: expected a list of (op, input) pairs")
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise InvalidArchitecture(f"{where}: expected an (op, input) pair, got {pair!r}")
        check_op(pair[0], where)
        check_int(pair[1], where)


def _check_cell(value: Any, name: str) -> None:
    """A two-input cell ``(nodes, concat)``: node = ``(combine, [(op, state index), ...])``."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise InvalidArchitecture(f"{name}: expected a (nodes, concat) pair")
    nodes, concat = value
    if not isinstance(nodes, (list, tuple)) or not isinstance(concat, (list, tuple)):
        raise InvalidArchitecture(f"{name}: expected a (nodes, concat) pair of lists")
    for j, node in enumerate(nodes):
        if not isinstance(node, (list, tuple)) or len(node) != 2:
            raise InvalidArchitecture(f"{name} node {j}: expected (combine, [(op, input), ...])")
        combine, pairs = node
        if combine not in COMBINES:
            raise InvalidArchitecture(f"{name} node {j}: combine must be add or concat, got {combine!r}")
        _pairs(pairs, f"{name} node {j}")
    for c in concat:
        check_int(c, f"{name} concat")


def _check_sum_cell(value: Any, name: str) -> None:
    """A NAS-Bench-201 cell: per computed node ``[(op, source node), ...]``, summed."""
    if not isinstance(value, (list, tuple)):
        raise InvalidArchitecture(f"{name}: expected a list of nodes")
    for j, pairs in enumerate(value, start=1):
        _pairs(pairs, f"{name} node {j}")


#: MBConv stage fields (EfficientNet, Tan & Le 2019, Table 1), all numbers
STAGE_KEYS = ("kernel", "expand", "se", "layers", "channels", "stride")


def _check_stages(value: Any, name: str) -> None:
    """A list of MBConv stage dicts ``{kernel, expand, se, layers, channels, stride}``."""
    if not isinstance(value, (list, tuple)):
        raise InvalidArchitecture(f"{name}: expected a list of stages")
    for s, stage in enumerate(value):
        if not isinstance(stage, dict) or set(stage) != set(STAGE_KEYS):
            raise InvalidArchitecture(f"{name}[{s}]: expected fields {', '.join(STAGE_KEYS)}")
        for k in STAGE_KEYS:
            if isinstance(stage[k], bool) or not isinstance(stage[k], (int, float)):
                raise InvalidArchitecture(f"{name}[{s}].{k}: expected a number, got {stage[k]!r}")


_KIND_CHECKS: dict[str, Callable[[Any, str], None]] = {
    "cell": _check_cell, "sum_cell": _check_sum_cell, "stages": _check_stages,
}


# -- the whitelist -------------------------------------------------------------------------
def network_class(class_name: Any) -> type:
    """The exportable ``nas.nn`` class named ``class_name`` (:data:`nas.nn.NETWORKS`), else ConfigError."""
    from nas.nn import NETWORKS

    if not isinstance(class_name, str) or class_name not in NETWORKS:
        shown = class_name[:40] if isinstance(class_name, str) else class_name
        raise ConfigError(f"model class {shown!r} is not an exportable nas.nn network; "
                          f"known: {', '.join(NETWORKS)}")
    return NETWORKS[class_name]


def export_args(cls: type) -> tuple[tuple[str, str], ...]:
    """The ``(model.py variable name, kind)`` of each positional argument of ``cls``."""
    return tuple(getattr(cls, "EXPORT_ARGS", ()))


def keyword_names(cls: type) -> tuple[str, ...]:
    """The keyword arguments ``cls.__init__`` takes, after its positional ones."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    n_pos = len(export_args(cls))
    return tuple(p.name for i, p in enumerate(params)
                 if p.kind is inspect.Parameter.KEYWORD_ONLY
                 or (p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and i >= n_pos))


def check_spec(spec: ModelSpec) -> type:
    """Whitelist check of ``spec`` (class, keyword names, ops, combines, literals); returns the class."""
    if not isinstance(spec, ModelSpec):
        raise ConfigError(f"expected a ModelSpec, got {type(spec).__name__}")
    cls = network_class(spec.class_name)
    args = export_args(cls)
    if not isinstance(spec.args, tuple) or len(spec.args) != len(args):
        raise InvalidArchitecture(f"{spec.class_name}: expected {len(args)} positional argument(s)")
    if not isinstance(spec.kwargs, dict):
        raise InvalidArchitecture(f"{spec.class_name}: keyword arguments must be a dict")
    bad = sorted(map(str, set(spec.kwargs) - set(keyword_names(cls))))
    if bad:
        raise InvalidArchitecture(f"{spec.class_name}: keyword(s) {', '.join(bad)} cannot be passed "
                                  f"(accepted: {', '.join(keyword_names(cls))})")
    for (name, kind), value in zip(args, spec.args):
        _KIND_CHECKS[kind](value, name)  # names a bad op as such
        check_literal(value, name)
    check_literal(spec.kwargs, spec.class_name)
    return cls


def instantiate(spec: ModelSpec) -> Any:
    """``class_name(*args, **kwargs)`` after :func:`check_spec` (imports torch)."""
    cls = check_spec(spec)
    return cls(*spec.args, **spec.kwargs)


__all__ = ["ARG_KINDS", "ModelSpec", "STAGE_KEYS", "check_int", "check_literal", "check_op", "check_spec",
           "export_args", "instantiate", "is_plain_name", "keyword_names", "network_class"]

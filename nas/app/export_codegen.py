"""Code generation for ``model.py``: an architecture lowered to plain data, then to Python source.

:func:`lower` turns an :class:`~nas.arch.Architecture` plus the keyword arguments of
``space.build`` into a :class:`ModelSpec`: the name of one ``nas.nn`` network class, its
positional arguments (the cells as ``(nodes, concat)`` tuples, or the MBConv stage dicts)
and its keyword arguments, all plain literals. :func:`render_model_py` writes the
standalone file: the ``nas.nn`` model code (:func:`nas.nn.standalone_source`), then the
spec as Python literals, ``build_model()``, ``load_weights()`` and a ``__main__`` demo.

Safety (the YAML is user input and the output is code): nothing from the architecture is
ever pasted into the source as text. Every value is checked first (:func:`check_literal`):
only ``None``/``bool``/``int``/finite ``float``, identifier-like strings, and lists, tuples
and dicts of those are allowed; op names must be keys of :data:`nas.nn.ops.OPS` and
combines ``add``/``concat``; the class name and keyword names come from fixed whitelists
in this module. Values are then written with ``repr`` and read back with
``ast.literal_eval`` to make sure the text is exactly that literal.

The lowering repeats the defaults of each first-party space's ``build`` (documented in
``search_spaces``); :func:`nas.app.export.export_arch` checks that the generated model has the
toolkit model's exact state-dict layout and logits, so a drift is caught at export time.
"""
from __future__ import annotations

import ast
import math
import pprint
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from nas.arch import Architecture
from nas.cell import COMBINES, cell_spec, n_inputs_of, node_index
from nas.errors import ConfigError, InvalidArchitecture

#: spaces whose architectures can be written as a standalone ``model.py``
LOWERABLE_SPACES = ("nasnet", "darts", "nb201", "mbconv")
#: network class -> the keyword arguments ``model.py`` may pass to it
CLASS_KWARGS: dict[str, tuple[str, ...]] = {
    "NetworkCIFAR": ("C", "num_classes", "layers", "auxiliary", "in_channels", "stem_multiplier", "stem_stride",
                     "drop_path_prob"),
    "NetworkImageNet": ("C", "num_classes", "layers", "auxiliary", "in_channels"),
    "TinyNetwork": ("C", "N", "num_classes", "in_channels", "stem_stride"),
    "EfficientNet": ("width", "depth", "dropout", "drop_connect", "num_classes", "in_channels", "stem_stride",
                     "stem_channels", "input_scale"),
}
#: name of each positional argument in ``model.py``, per class
CLASS_ARGS: dict[str, tuple[str, ...]] = {
    "NetworkCIFAR": ("NORMAL", "REDUCE"),
    "NetworkImageNet": ("NORMAL", "REDUCE"),
    "TinyNetwork": ("CELL",),
    "EfficientNet": ("STAGES",),
}
#: comment above the architecture literals in ``model.py``, per class
CLASS_COMMENT: dict[str, str] = {
    "NetworkCIFAR": "# cells: (nodes, concat); node = (combine, [(op, input state), ...]);\n"
                    "# states: 0 = previous-previous cell, 1 = previous cell, 2 + i = node i (DARTS indexing)",
    "TinyNetwork": "# NAS-Bench-201 cell: node j = sum of op(node src) over [(op, src), ...]; node 0 = cell input",
    "EfficientNet": "# MBConv stages (unscaled channels/layers; MODEL_KWARGS width/depth scale them)",
}
CLASS_COMMENT["NetworkImageNet"] = CLASS_COMMENT["NetworkCIFAR"]
STAGE_KEYS = ("kernel", "expand", "se", "layers", "channels", "stride")
_IDENT = re.compile(r"^[A-Za-z0-9_]{1,64}$")


@dataclass(frozen=True)
class ModelSpec:
    """A ``nas.nn`` network as plain data: ``class_name(*args, **kwargs)``."""

    class_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)


# -- literal checks ---------------------------------------------------------------------
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
            if not isinstance(k, str) or not _IDENT.match(k):
                raise InvalidArchitecture(f"{where}: key {str(k)[:40]!r} is not a plain name")
            check_literal(v, f"{where}.{k}")
        return
    raise InvalidArchitecture(f"{where}: values of type {type(value).__name__} cannot be exported")


def _check_op(op: Any, where: str) -> str:
    from nas.nn.ops import OPS

    if not isinstance(op, str) or op not in OPS:
        shown = op[:40] if isinstance(op, str) else op
        raise InvalidArchitecture(f"{where}: unknown op {shown!r}; known ops: {', '.join(sorted(OPS))}")
    return op


def _check_int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArchitecture(f"{where}: expected an integer, got {value!r}")
    return value


def _literal_text(value: Any, where: str) -> str:
    """``repr(value)`` (pretty-printed) after :func:`check_literal`, verified to read back as the same value."""
    check_literal(value, where)
    text = pprint.pformat(value, width=110, sort_dicts=False)
    if ast.literal_eval(text) != value:  # pragma: no cover - repr of checked literals round-trips
        raise InvalidArchitecture(f"{where}: value does not round-trip as a Python literal")
    return text


# -- lowering ------------------------------------------------------------------------------
def _flat_cell(g: Any, where: str, one_input: bool = False) -> tuple[Any, ...]:
    """A cell as ``(nodes, concat)`` in flat state indexing (0 = first input), ops checked."""
    n_in = n_inputs_of(g)
    nodes, concat = cell_spec(g)
    flat_nodes = []
    for j, (combine, ins) in enumerate(nodes):
        if combine not in COMBINES:
            raise InvalidArchitecture(f"{where}, node n{j}: combine must be add or concat, got {combine!r}")
        pairs = [(_check_op(op, f"{where}, node n{j}"), node_index(src, n_in)) for op, src in ins]
        flat_nodes.append(pairs if one_input else (combine, pairs))
    if one_input:
        return tuple(flat_nodes)
    return (flat_nodes, [node_index(c, n_in) for c in concat])


def _take(space: str, kwargs: Mapping[str, Any], accepted: Mapping[str, Any]) -> dict[str, Any]:
    bad = sorted(set(kwargs) - set(accepted))
    if bad:
        raise ConfigError(f"space {space!r}: cannot export build option(s) {', '.join(bad)}")
    return {**accepted, **kwargs}


def lower(arch: Architecture, build_kwargs: Mapping[str, Any]) -> ModelSpec:
    """The ``nas.nn`` constructor call that ``space.build(arch, **build_kwargs)`` makes.

    ``build_kwargs`` are exactly the keyword arguments of ``space.build`` (including
    ``in_channels`` and ``num_classes``). Call ``space.build`` first: it validates them.
    """
    space = arch.space
    if space not in LOWERABLE_SPACES:
        raise ConfigError(f"space {space!r} cannot be exported as model.py (supported: "
                          f"{', '.join(LOWERABLE_SPACES)}); export the other formats with --format")
    kw = dict(build_kwargs)
    common = {"in_channels": 3, "num_classes": 10, "channels": None, "layers": None}
    if space in ("nasnet", "darts"):
        o = _take(space, kw, {**common, "auxiliary": False, "stem": "cifar", "stem_stride": None,
                              "drop_path_prob": 0.0})
        assert arch.cells is not None
        normal = _flat_cell(arch.cells["normal"], "cell 'normal'")
        reduce = _flat_cell(arch.cells["reduce"], "cell 'reduce'")
        imagenet = o["stem"] == "imagenet"
        base = {"C": o["channels"] if o["channels"] is not None else (48 if imagenet else 36),
                "num_classes": o["num_classes"],
                "layers": o["layers"] if o["layers"] is not None else (14 if imagenet else 20),
                "auxiliary": bool(o["auxiliary"]), "in_channels": o["in_channels"]}
        if imagenet:
            return _spec("NetworkImageNet", (normal, reduce), base)
        stride = 1 if o["stem_stride"] is None else o["stem_stride"]
        return _spec("NetworkCIFAR", (normal, reduce), {**base, "stem_multiplier": 3, "stem_stride": stride,
                                                         "drop_path_prob": float(o["drop_path_prob"])})
    if space == "nb201":
        o = _take(space, kw, {**common, "stem_stride": 1})
        assert arch.cells is not None
        cell = _flat_cell(arch.cells["cell"], "cell 'cell'", one_input=True)
        return _spec("TinyNetwork", (cell,), {
            "C": 16 if o["channels"] is None else o["channels"], "N": 5 if o["layers"] is None else o["layers"],
            "num_classes": o["num_classes"], "in_channels": o["in_channels"], "stem_stride": o["stem_stride"]})
    # mbconv
    o = _take(space, kw, {**common, "stem_stride": 2, "dropout": None, "drop_connect": 0.2, "width_mult": 1.0,
                          "depth_mult": 1.0, "input_scale": None})
    assert arch.blocks is not None
    stages = []
    for s, b in enumerate(arch.blocks, start=1):
        if set(b) != set(STAGE_KEYS):
            raise InvalidArchitecture(f"block {s}: expected fields {', '.join(STAGE_KEYS)}")
        stages.append({k: b[k] for k in STAGE_KEYS})
    macro = arch.macro
    dropout = macro.get("dropout") if o["dropout"] is None else o["dropout"]
    return _spec("EfficientNet", (stages,), {
        "width": float(macro.get("width", 1.0)) * float(o["width_mult"]),
        "depth": float(macro.get("depth", 1.0)) * float(o["depth_mult"]),
        "dropout": float(dropout), "drop_connect": float(o["drop_connect"]),
        "num_classes": o["num_classes"], "in_channels": o["in_channels"], "stem_stride": o["stem_stride"],
        "stem_channels": 32 if o["channels"] is None else o["channels"],
        "input_scale": float(macro.get("resolution", 224)) / 224 if o["input_scale"] is None
        else float(o["input_scale"])})


def _spec(class_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ModelSpec:
    for k in ("num_classes", "in_channels"):
        _check_int(kwargs[k], k)
    check_spec(ModelSpec(class_name, args, kwargs))
    return ModelSpec(class_name, args, kwargs)


def check_spec(spec: ModelSpec) -> None:
    """Whitelist check of a spec: class, keyword names, ops, combines and every literal."""
    if spec.class_name not in CLASS_KWARGS:
        raise InvalidArchitecture(f"model class {spec.class_name!r} cannot be exported")
    bad = sorted(set(spec.kwargs) - set(CLASS_KWARGS[spec.class_name]))
    if bad:
        raise InvalidArchitecture(f"{spec.class_name}: keyword(s) {', '.join(bad)} cannot be exported")
    if len(spec.args) != len(CLASS_ARGS[spec.class_name]):
        raise InvalidArchitecture(f"{spec.class_name}: expected {len(CLASS_ARGS[spec.class_name])} positional args")
    for name, value in zip(CLASS_ARGS[spec.class_name], spec.args):
        check_literal(value, name)
        if spec.class_name in ("NetworkCIFAR", "NetworkImageNet"):
            nodes, concat = value
            for j, (combine, pairs) in enumerate(nodes):
                if combine not in COMBINES:
                    raise InvalidArchitecture(f"{name} node {j}: combine must be add or concat, got {combine!r}")
                for op, idx in pairs:
                    _check_op(op, f"{name} node {j}")
                    _check_int(idx, f"{name} node {j}")
            for c in concat:
                _check_int(c, f"{name} concat")
        elif spec.class_name == "TinyNetwork":
            for j, pairs in enumerate(value, start=1):
                for op, idx in pairs:
                    _check_op(op, f"{name} node {j}")
                    _check_int(idx, f"{name} node {j}")
        else:
            for s, stage in enumerate(value):
                if not isinstance(stage, dict) or set(stage) != set(STAGE_KEYS):
                    raise InvalidArchitecture(f"{name}[{s}]: expected fields {', '.join(STAGE_KEYS)}")
                for k in STAGE_KEYS:
                    if isinstance(stage[k], bool) or not isinstance(stage[k], (int, float)):
                        raise InvalidArchitecture(f"{name}[{s}].{k}: expected a number, got {stage[k]!r}")
    check_literal(spec.kwargs, spec.class_name)


# -- rendering --------------------------------------------------------------------------------
HEADER = '''"""Standalone PyTorch model exported by nas (space {space}, architecture key {key}).

Needs only torch; it does not import nas. The architecture is the plain data in the
"architecture" section at the end of this file.

    import torch
    from model import build_model, load_weights
    model = build_model()
    load_weights(model, "weights.pt")   # the trained weights exported next to this file, if any
    model.eval()
    logits = model(torch.randn(INPUT_SHAPE))

``python model.py`` runs a demo forward pass (loading weights.pt if it is present).
Everything before the architecture section is the nas.nn model code, copied verbatim.
"""
'''

FOOTER = '''

# ==== architecture (generated by nas export: plain data only) ====
import os as _os

import torch
import torch.nn as nn

SPACE = {space}
ARCH_KEY = {key}
INPUT_SHAPE = {input_shape}
{args_block}
MODEL_KWARGS = {kwargs}


def build_model() -> nn.Module:
    """The exported network, freshly initialised (call ``load_weights`` for trained weights)."""
    return {class_name}({arg_names}, **MODEL_KWARGS)


def load_weights(model: nn.Module, path: str = "weights.pt") -> nn.Module:
    """Load a ``state_dict`` saved with ``torch.save`` (read with ``weights_only=True``).

    Weights of a training-only auxiliary head are dropped when the model has none.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not any(k.startswith("auxiliary_head.") for k in model.state_dict()):
        state = {{k: v for k, v in state.items() if not k.startswith("auxiliary_head.")}}
    model.load_state_dict(state)
    return model


if __name__ == "__main__":
    model = build_model()
    weights = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "weights.pt")
    if _os.path.exists(weights):
        load_weights(model, weights)
        print(f"loaded {{weights}}")
    else:
        print("no weights.pt next to model.py: using random initial weights")
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(INPUT_SHAPE))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{{type(model).__name__}}: {{n_params:,}} parameters, input {{tuple(INPUT_SHAPE)}} -> logits {{tuple(logits.shape)}}")
'''


def render_model_py(spec: ModelSpec, *, space: str, key: str, input_shape: tuple[int, ...]) -> str:
    """The complete ``model.py`` source for ``spec`` (checked, see the module docstring)."""
    from nas.nn import standalone_source

    check_spec(spec)
    for name, value in (("space", space), ("key", key)):
        if not isinstance(value, str) or not _IDENT.match(value):
            raise InvalidArchitecture(f"model.py {name} {str(value)[:40]!r} is not a plain name")
    shape = tuple(_check_int(v, "input shape") for v in input_shape)
    names = CLASS_ARGS[spec.class_name]
    args_block = CLASS_COMMENT[spec.class_name] + "\n" + "\n".join(
        f"{n} = {_literal_text(v, n)}" for n, v in zip(names, spec.args))
    source = HEADER.format(space=space, key=key) + "\n" + standalone_source() + FOOTER.format(
        space=_literal_text(space, "space"), key=_literal_text(key, "key"),
        input_shape=_literal_text(shape, "input shape"), args_block=args_block,
        kwargs=_literal_text(dict(spec.kwargs), "MODEL_KWARGS"), class_name=spec.class_name,
        arg_names=", ".join(names))
    compile(source, "model.py", "exec")  # a syntax error here is a bug, never user input
    return source


__all__ = ["LOWERABLE_SPACES", "ModelSpec", "check_literal", "check_spec", "lower", "render_model_py"]

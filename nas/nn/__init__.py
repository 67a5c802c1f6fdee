"""Op library and model compiler (torch).

The modules in :data:`SOURCE_MODULES` import only torch (and each other with single-line
``from nas.nn.<mod> import ...`` statements), so ``nas export`` can build a standalone
``model.py`` by concatenating their source in this order and dropping the lines that
import from ``nas`` (:func:`standalone_source` does exactly that). Their top-level names
are unique across modules. ``nas.nn.measure`` is not part of the export.
"""
from __future__ import annotations

import importlib
import inspect
from typing import Dict

from nas.nn.cells import Cell, drop_path
from nas.nn.efficientnet import EfficientNet, MBConv, round_filters, round_repeats
from nas.nn.nb201 import NB201Cell, TinyNetwork
from nas.nn.networks import NetworkCIFAR, NetworkImageNet
from nas.nn.ops import OPS, make_op

SOURCE_MODULES: tuple[str, ...] = (
    "nas.nn.ops",
    "nas.nn.cells",
    "nas.nn.networks",
    "nas.nn.nb201",
    "nas.nn.efficientnet",
)


def standalone_source() -> str:
    """The source of :data:`SOURCE_MODULES` concatenated, with every ``nas`` import removed.

    The result imports only torch, math and typing and defines every model class.
    """
    parts = []
    for name in SOURCE_MODULES:
        lines = inspect.getsource(importlib.import_module(name)).splitlines()
        kept = [ln for ln in lines if not (ln.startswith("from nas.") or ln.startswith("import nas"))]
        parts.append(f"# ---- {name} ----\n" + "\n".join(kept) + "\n")
    return "\n\n".join(parts)


#: The exportable network classes: what a :class:`nas.spec.ModelSpec` may name. Each declares
#: ``EXPORT_ARGS`` (its positional arguments as ``(model.py variable, kind)``) and
#: ``EXPORT_COMMENT``; its keyword arguments are its ``__init__`` signature.
NETWORKS: Dict[str, type] = {
    "NetworkCIFAR": NetworkCIFAR,
    "NetworkImageNet": NetworkImageNet,
    "TinyNetwork": TinyNetwork,
    "EfficientNet": EfficientNet,
}


__all__ = [
    "NETWORKS", "SOURCE_MODULES", "standalone_source", "OPS", "make_op",
    "Cell", "drop_path", "NetworkCIFAR", "NetworkImageNet", "NB201Cell", "TinyNetwork",
    "MBConv", "EfficientNet", "round_filters", "round_repeats",
]

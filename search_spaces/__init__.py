"""First-party search spaces, registered in :data:`nas.registry.SPACES`.

Entries are lazy ``"module:attr"`` strings; ``SPACES.create(name)`` returns a
space instance. No space imports torch at module level.
"""
from __future__ import annotations

from nas.registry import SPACES

_SPACES = {
    "nasnet": (
        "search_spaces.nasnet:NasnetSpace",
        "NASNet cells (Zoph et al. 2018): 5 blocks, 13 ops, add|concat, output = unused nodes",
    ),
    "darts": (
        "search_spaces.darts:DartsSpace",
        "DARTS cells (Liu et al. 2019): 4 nodes, 2 distinct inputs, 7 ops, concat of all nodes",
    ),
    "nb201": (
        "search_spaces.nb201:Nb201Space",
        "NAS-Bench-201 cell (Dong & Yang 2020): 6 edges x 5 ops = 15,625 cells",
    ),
    "mbconv": (
        "search_spaces.mbconv:MbconvSpace",
        "EfficientNet-B0 skeleton, per-stage MBConv kernel/expand/SE/layers (MnasNet-style)",
    ),
}

for _name, (_target, _summary) in _SPACES.items():
    if _name not in SPACES:
        SPACES.add(_name, _target, _summary)

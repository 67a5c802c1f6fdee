"""First-party search spaces, registered in :data:`nas.registry.SPACES`.

Entries are lazy ``"module:attr"`` strings; ``SPACES.create(name)`` returns a
space instance. No space imports torch at module level.

Spaces defined as data (:mod:`search_spaces.file_space`) come in through three
registry hooks, so that a space file works wherever a space name does: a name
ending in ``.yaml``/``.yml`` is read as a space file, the names of the shipped
examples (``darts_s2``, ``darts_s3``) resolve to their files, and a stored
definition (``format: nas/space@1``, e.g. a run's ``space_definition``) is
registered again by :meth:`~nas.registry.Registry.load`.
"""
from __future__ import annotations

from pathlib import Path

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

_EXAMPLES = Path(__file__).resolve().parent / "examples"


def _is_example(name: str) -> bool:
    """``darts_s3`` -> ``examples/darts_s3.yaml`` exists (a cheap test: no import, no parsing)."""
    return name.isidentifier() and (_EXAMPLES / f"{name}.yaml").is_file()


SPACES.add_resolver((".yaml", ".yml"), "search_spaces.file_space:register_file",
                    hint="a space file (*.yaml, format: nas/space@1)")
_EXAMPLE_NAMES = ", ".join(sorted(p.stem for p in _EXAMPLES.glob("*.yaml")))
SPACES.add_resolver(_is_example, "search_spaces.file_space:register_example",
                    hint=f"an example space file by name ({_EXAMPLE_NAMES})")
SPACES.add_loader("nas/space@1", "search_spaces.file_space:register_definition")

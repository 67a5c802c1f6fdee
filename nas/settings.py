"""The one merge of model build settings.

Every command that turns an architecture into a model (search trials, ``nas train``,
``nas show``, ``nas export``, the baselines, one-shot supernets) asks :func:`build_settings`
for the keyword arguments of ``space.build``, so a flag means the same thing everywhere:

1. the space's defaults for every dataset: ``space.build_defaults["*"]``;
2. the space's defaults for the dataset family: ``space.build_defaults[info.family]``
   (``digits``, ``cifar``, ``imagenet``, ...);
3. the run's or command's settings (``config``): the ``channels``/``layers`` of a
   :class:`~nas.config.SearchConfig`, or every non-``None`` entry of a mapping of flags
   (``{"channels": 16, "auxiliary": True}``);
4. the proposal's own settings (``proposal``: ``Proposal.config``), less the keys that are
   not build options (``exclude``: the training recipe's fields, passed by the evaluator).

Later levels win. ``in_channels``/``num_classes`` come from the dataset ``info`` when given.
The result is exactly what ``space.build``/``space.lower`` receive; a key the space does not
take is the space's error, not silently dropped.
"""
from __future__ import annotations

from typing import Any, Collection, Mapping

#: the :class:`~nas.config.SearchConfig` fields that are build settings
CONFIG_BUILD_FIELDS = ("channels", "layers")
#: ``build_defaults`` key whose entries apply to every dataset family
ALL_FAMILIES = "*"


def space_defaults(space: Any, family: str | None = None) -> dict[str, Any]:
    """Levels 1 and 2: the space's defaults for all families, then for ``family``."""
    table = getattr(space, "build_defaults", None) or {}
    out = dict(table.get(ALL_FAMILIES, {}))
    if family is not None:
        out.update(table.get(family, {}))
    return out


def config_settings(config: Any) -> dict[str, Any]:
    """Level 3: build settings of a ``SearchConfig`` (its channels/layers) or of a flag mapping."""
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return {k: v for k, v in config.items() if v is not None}
    return {k: getattr(config, k) for k in CONFIG_BUILD_FIELDS if getattr(config, k, None) is not None}


def build_settings(space: Any, info: Any = None, config: Any = None, proposal: Mapping[str, Any] | None = None,
                   *, exclude: Collection[str] = ()) -> dict[str, Any]:
    """The ``space.build`` keyword arguments: defaults < family defaults < ``config`` < ``proposal``.

    ``info`` is a dataset info (``family``, ``in_channels``, ``num_classes``) or None (no
    dataset: the space's defaults for all families, and no input/class counts).
    """
    family = getattr(info, "family", None)
    out = space_defaults(space, family)
    out.update(config_settings(config))
    out.update({k: v for k, v in (proposal or {}).items() if k not in exclude})
    if info is not None:
        out["in_channels"] = info.in_channels
        out["num_classes"] = info.num_classes
    return out


__all__ = ["ALL_FAMILIES", "CONFIG_BUILD_FIELDS", "build_settings", "config_settings", "space_defaults"]

"""The baseline registry as the application sees it: hand-designed networks and literature architectures.

:func:`build_baseline` ``(name, info, **options)`` returns a freshly initialised ``nn.Module``
for a dataset described by ``info`` (``in_channels``, ``num_classes``, ``image_size``,
``family``; e.g. :func:`evaluators.data.dataset_info`). No pretrained weights are ever
downloaded. Names are matched case-insensitively, ignoring ``-``, ``_`` and spaces
(``ResNet-20`` = ``resnet20``); an unknown name raises :class:`~nas.errors.UnknownName`
listing the known ones.

The hand-designed networks are :data:`nas.nn.baselines.CATALOG` (model code in
:mod:`nas.nn.baselines`, registered lazily: nothing is built or imported until asked for).
Every architecture of :mod:`nas.zoo` (``nasnet-a``, ``amoebanet-a``, ``darts-v1``, ``darts-v2``,
``nb201-best``, ...) not already a hand-designed name is a baseline too, built by its space
with :func:`nas.settings.build_settings` for the dataset family; ``options`` are passed on to
``space.build`` (``channels``, ``layers``, ``auxiliary``, ...). Hand-designed networks take no
options.
"""
from __future__ import annotations

import re
from typing import Any, Callable

import torch.nn as nn

from nas.errors import ConfigError, UnknownName
from nas.nn.baselines import CATALOG
from nas.nn.baselines.resnet_cifar import CifarResNet  # the class of the resnet20..110 entries
from nas.registry import BASELINES


def normalize(name: str) -> str:
    """Lower-case, without ``-``, ``_`` and spaces: the form names are matched in."""
    return re.sub(r"[-_\s]", "", str(name).lower())


def _zoo_builder(zoo_name: str) -> Callable[..., nn.Module]:
    def build(info: Any, **options: Any) -> nn.Module:
        from nas.settings import build_settings
        from nas.zoo import get_space, load_genotype

        arch = load_genotype(zoo_name)
        space = get_space(arch.space)
        return space.build(arch, **build_settings(space, info, options))  # the space's defaults, then the options

    build.__doc__ = f"literature architecture {zoo_name!r} (nas.zoo), built by its space"
    return build


def _register() -> None:
    for name, entry in CATALOG.items():
        if name not in BASELINES:
            BASELINES.add(name, entry.target, f"{entry.family} ({entry.paper})")
    from nas.zoo import list_genotypes

    for zoo_name in list_genotypes():
        if zoo_name not in BASELINES:
            BASELINES.add(zoo_name, _zoo_builder(zoo_name), f"literature architecture (nas.zoo {zoo_name})")


_register()


def list_baselines() -> list[str]:
    """Every baseline name: hand-designed networks first, then the zoo architectures."""
    return BASELINES.names()


def canonical_name(name: str) -> str | None:
    """The registered spelling of ``name`` (``ResNet-20`` -> ``resnet20``), or ``None``.

    Looked up in the registry as it is now, so baselines registered after import are found.
    """
    return {normalize(n): n for n in BASELINES.names()}.get(normalize(name))


def is_zoo_baseline(name: str) -> bool:
    """Whether ``name`` is a literature architecture from :mod:`nas.zoo` (built by a space).

    ``efficientnet-b0`` is both; ``nas train`` then trains the zoo architecture (the ``mbconv``
    space builds it with torchvision's parameter count) so that its space options apply.
    """
    from nas.zoo import list_genotypes

    return canonical_name(name) in set(list_genotypes())


def build_baseline(name: str, info: Any, **options: Any) -> nn.Module:
    """Build baseline ``name`` for a dataset ``info`` (in_channels, num_classes, image_size, family)."""
    canon = canonical_name(name)
    if canon is None:
        raise UnknownName(f"unknown baseline {name!r}; known: {', '.join(list_baselines())}")
    if canon in CATALOG and options:
        raise ConfigError(f"baseline {canon!r} takes no build options, got {', '.join(sorted(options))} "
                          "(--channels/--layers apply to search-space architectures only)")
    return BASELINES.create(canon, info, **options)


def describe(name: str, info: Any | None = None) -> dict[str, Any]:
    """``name``, family, paper, whether it has an ImageNet variant and the summary; with ``info``
    also ``params`` and ``macs`` (conv + linear, :mod:`nas.nn.measure`) at that input size,
    counted on the meta device (nothing is allocated)."""
    canon = canonical_name(name)
    if canon is None:
        raise UnknownName(f"unknown baseline {name!r}; known: {', '.join(list_baselines())}")
    entry = CATALOG.get(canon)
    row: dict[str, Any] = {"name": canon, "family": entry.family if entry else "literature (nas.zoo)",
                           "paper": entry.paper if entry else "", "imagenet": bool(entry.imagenet) if entry else True,
                           "summary": BASELINES.summary(canon)}
    if info is not None:
        import torch

        from nas.nn.measure import count_macs, count_params

        with torch.device("meta"):
            model = build_baseline(canon, info)
        row["params"] = count_params(model)
        row["macs"] = count_macs(model, (1, info.in_channels, info.image_size, info.image_size))
    return row


__all__ = ["BASELINES", "CifarResNet", "build_baseline", "canonical_name", "describe", "is_zoo_baseline", "list_baselines",
           "normalize"]

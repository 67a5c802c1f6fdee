"""The :class:`SearchSpace` contract.

A space turns random numbers into :class:`~nas.arch.Architecture` values, edits
them (Real et al., AAAI 2019, §2: mutations), maps them to and from a flat list of
categorical choices (``decisions``/``encode``/``decode``, used by the RL
controller and Optuna), checks them (``validate``), reads and writes the
literature strings it speaks (``text_formats``: ``from_text``/``to_text``) and
*lowers* them to a plain model description (``lower`` -> :class:`nas.spec.ModelSpec`).

``build`` and the standalone ``model.py`` export both consume that description
(:func:`nas.spec.instantiate`, :mod:`nas.app.export_codegen`), so a space that
implements ``lower`` with the exportable ``nas.nn`` networks gets both. Its one
table of defaults is ``build_defaults``: key ``"*"`` for every dataset, plus one
entry per dataset family (``digits``, ``cifar``, ``imagenet``, ...), merged by
:func:`nas.settings.build_settings`. ``torch`` is imported only when a model is
built so that spaces stay cheap to import.
"""
from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from nas.arch import Architecture
from nas.errors import ConfigError, InvalidArchitecture
from nas.settings import space_defaults
from nas.spec import ModelSpec, instantiate
from nas.types import Decision

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


class SearchSpace(ABC):
    """Base class of every registered space."""

    name: ClassVar[str]
    ops: ClassVar[tuple[str, ...]] = ()
    #: default ``build`` settings: ``"*"`` for every dataset, then per family (``{"digits": {...}}``)
    build_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    #: the architecture strings this space reads and writes (e.g. ``("genotype",)``), by format name
    text_formats: ClassVar[tuple[str, ...]] = ()
    #: how ``nas show`` titles each format's string (default: the format name)
    text_titles: ClassVar[dict[str, str]] = {}

    # -- sampling and editing ---------------------------------------------------
    def sample(self, rng: random.Random) -> Architecture:
        """Uniform over encodings unless a space overrides it."""
        return self.decode([rng.randrange(len(d)) for d in self.decision_table()])

    @abstractmethod
    def mutate(self, arch: Architecture, rng: random.Random) -> Architecture:
        """Return a *different* valid architecture one mutation away (Real et al. 2019)."""

    # -- flat categorical view -------------------------------------------------------
    @abstractmethod
    def decisions(self) -> list[Decision]:
        """Ordered categorical choices; ``decode`` of any in-range list is valid."""

    def decision_table(self) -> tuple[Decision, ...]:
        """:meth:`decisions`, computed once per space instance (spaces are immutable)."""
        table = self.__dict__.get("_decision_table")
        if table is None:
            table = self.__dict__["_decision_table"] = tuple(self.decisions())
        return table

    @abstractmethod
    def encode(self, arch: Architecture) -> list[int]: ...

    @abstractmethod
    def decode(self, choices: Sequence[int]) -> Architecture: ...

    def check_choices(self, choices: Sequence[int]) -> list[int]:
        """Validate a choice vector against :meth:`decisions`; used by ``decode``."""
        decs = self.decision_table()
        if len(choices) != len(decs):
            raise InvalidArchitecture(f"{self.name}: expected {len(decs)} choices, got {len(choices)}")
        out = []
        for d, c in zip(decs, choices):
            if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c < len(d):
                raise InvalidArchitecture(f"{self.name}: choice {d.name}={c!r} out of range 0..{len(d) - 1}")
            out.append(int(c))
        return out

    def size(self) -> int:
        """Number of distinct encodings (exact). Spaces may override with a tighter count."""
        return math.prod(len(d) for d in self.decision_table())

    # -- checking and compiling --------------------------------------------------------
    @abstractmethod
    def validate(self, arch: Architecture) -> None:
        """Raise :class:`InvalidArchitecture` naming the exact problem."""

    def ensure_valid(self, arch: Architecture) -> None:
        """:meth:`validate`, remembered per exact structure (``arch.spec``).

        Architectures are immutable in practice, so a structure that validated once
        stays valid; strategies encode and mutate the same architectures many times.
        """
        memo = self.__dict__.setdefault("_valid_specs", {})
        if arch.spec in memo:
            return
        self.validate(arch)
        if len(memo) >= 100_000:
            memo.clear()
        memo[arch.spec] = None

    def check_space(self, arch: Architecture) -> None:
        if arch.space != self.name:
            raise InvalidArchitecture(f"architecture is from space {arch.space!r}, not {self.name!r}")

    def lower(self, arch: Architecture, **build_kwargs: Any) -> ModelSpec:
        """The model of ``arch`` as plain data: a :class:`~nas.spec.ModelSpec` of a ``nas.nn.NETWORKS`` class.

        ``build_kwargs`` are complete build settings (``build`` merges the space's
        ``build_defaults["*"]`` under them); an unknown or bad setting is a ConfigError.
        Spaces without a model (e.g. scored by a table only) keep this default.
        """
        raise NotImplementedError(f"space {self.name!r} has no model")

    def model_spec(self, arch: Architecture, **build_kwargs: Any) -> ModelSpec:
        """:meth:`lower` with the space's defaults for every dataset (``build_defaults["*"]``) filled in."""
        return self.lower(arch, **{**space_defaults(self), **build_kwargs})

    def build(self, arch: Architecture, **build_kwargs: Any) -> "nn.Module":
        """Compile ``arch`` into a freshly initialised ``nn.Module`` (imports torch).

        Keyword arguments are build settings (``in_channels``, ``num_classes``, ``channels``,
        ``layers`` and the space's own options), usually from :func:`nas.settings.build_settings`.
        """
        return instantiate(self.model_spec(arch, **build_kwargs))

    # -- architecture strings ------------------------------------------------------------
    def accepts_text(self, text: str) -> bool:
        """Whether ``text`` looks like one of :attr:`text_formats` (a cheap prefix test, no parsing)."""
        return False

    def from_text(self, text: str) -> Architecture:
        """Parse (never ``eval``) and validate an architecture string that :meth:`accepts_text`."""
        raise InvalidArchitecture(f"space {self.name!r} reads no architecture strings")

    def to_text(self, arch: Architecture, fmt: str | None = None) -> str | None:
        """``arch`` as a string of format ``fmt`` (default: the first of :attr:`text_formats`).

        None when the space speaks no such format or the format cannot express ``arch``.
        """
        return None

    # -- predictor encodings (used by strategies.predictor) ----------------------------------
    def path_encoding(self, arch: Architecture) -> list[int] | None:
        """BANANAS' path encoding of ``arch`` (White et al., AAAI 2021, §5): one 0/1 entry per possible
        input-to-output path (a sequence of ops), 1 where ``arch`` has that path. None (the default)
        when the space offers none; predictors then use the one-hot of :meth:`encode` alone."""
        return None

    # -- one-shot search: the supernet a space offers (used by strategies.oneshot) ----------
    #: supernet settings per dataset family, merged like ``build_defaults`` ("*": every family)
    supernet_defaults: ClassVar[dict[str, dict[str, Any]]] = {}

    def has_supernet(self) -> bool:
        """Whether this space offers a supernet; cheap, builds nothing.

        Default: the class overrides :meth:`supernet`. A space whose supernet depends on the
        instance (e.g. one defined by a file) overrides this too.
        """
        return type(self).supernet is not SearchSpace.supernet

    def supernet(self, **settings: Any) -> "nn.Module":
        """The weight-sharing network of this space: a mixed op on every candidate edge.

        The module has ``arch_parameters()`` (the architecture weights, e.g. DARTS' α),
        ``weights()`` / ``named_weights()`` (every other parameter) and a forward pass over
        the mixture. ``settings`` are those of :meth:`supernet_settings` plus the method's
        own (e.g. ``alpha_init``). Spaces without one raise :class:`ConfigError`.
        """
        raise ConfigError(f"space {self.name!r} offers no supernet, so one-shot methods cannot search it")

    def supernet_settings(self, info: Any = None, config: Any = None) -> dict[str, Any]:
        """:attr:`supernet_defaults` < the config's ``channels``/``layers``, plus the dataset's shape.

        The same merge as the build settings (:func:`nas.settings.build_settings`), over the
        supernet's own defaults table.
        """
        from types import SimpleNamespace

        from nas.settings import build_settings

        return build_settings(SimpleNamespace(build_defaults=self.supernet_defaults), info, config)

    def derive(self, supernet: "nn.Module", meta: dict[str, Any] | None = None) -> Architecture:
        """The discrete architecture the space's rule derives from a trained :meth:`supernet`."""
        raise ConfigError(f"space {self.name!r} offers no supernet, so it derives no architecture")

    def describe(self) -> dict[str, Any]:
        """Summary for ``nas spaces``."""
        return {
            "name": self.name, "ops": list(self.ops), "decisions": len(self.decision_table()), "size": self.size(),
        }

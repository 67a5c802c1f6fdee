"""The :class:`SearchSpace` contract (DESIGN §3).

A space turns random numbers into :class:`~nas.arch.Architecture` values, edits
them (Real et al. 2019's mutations), maps them to and from a flat list of
categorical choices (``decisions``/``encode``/``decode``, used by the RL
controller and Optuna), checks them (``validate``) and compiles them into an
``nn.Module`` (``build``). ``torch`` is imported only inside ``build`` and
``supernet`` so that spaces stay cheap to import.
"""
from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from nas.arch import Architecture
from nas.errors import InvalidArchitecture
from nas.types import Decision

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


class SearchSpace(ABC):
    """Base class of every registered space."""

    name: ClassVar[str]
    ops: ClassVar[tuple[str, ...]] = ()
    #: default ``build`` settings per dataset family: {"digits": {...}, "cifar10": {...}}
    build_defaults: ClassVar[dict[str, dict[str, Any]]] = {}

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

    @abstractmethod
    def build(
        self,
        arch: Architecture,
        *,
        in_channels: int = 3,
        num_classes: int = 10,
        channels: int | None = None,
        layers: int | None = None,
        **macro: Any,
    ) -> "nn.Module": ...

    def supernet(self, **macro: Any) -> "nn.Module":
        raise NotImplementedError(f"space {self.name!r} has no DARTS supernet")

    def describe(self) -> dict[str, Any]:
        """Summary for ``nas spaces``."""
        return {
            "name": self.name, "ops": list(self.ops), "decisions": len(self.decision_table()), "size": self.size(),
        }

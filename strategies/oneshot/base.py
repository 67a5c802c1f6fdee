"""The one-shot method contract: a weight-sharing search run as one trial.

A one-shot method (Liu et al., ICLR 2019, DARTS; and the methods that share its supernet)
trains the **supernet** a search space offers (:meth:`SearchSpace.supernet
<search_spaces.base.SearchSpace.supernet>`: a mixed op on every candidate edge, with
architecture parameters beside the weights) and then **derives** one discrete architecture from
it (:meth:`SearchSpace.derive <search_spaces.base.SearchSpace.derive>`: the rule is the space's,
e.g. DARTS' two strongest non-``none`` edges per node). A method is a registered component
(:data:`nas.registry.ONESHOT`, entries in :mod:`strategies`) that knows nothing about space
names; the generic :class:`strategies.oneshot.strategy.OneShotStrategy` runs any of them.

A method provides

* :attr:`OneShotMethod.name` and :attr:`OneShotMethod.defaults`, its options with the paper's
  values; :meth:`OneShotMethod.check_options` merges given options over them and raises a
  :class:`~nas.errors.ConfigError` naming a bad or unknown one (the ``validate`` hook);
* :meth:`OneShotMethod.check` ``(space)``: refuses a space without a supernet (ConfigError naming
  the space), before anything runs;
* :meth:`OneShotMethod.run` ``(space, proposal, config, data, *, device, checkpoint,
  on_epoch=None) -> Result``: the trial. It never raises for a failing search (divergence, out of
  memory, a bad setting become ``failed``, the trial timeout ``timeout``); it checkpoints after
  every epoch to ``checkpoint`` and a re-run continues from there (``worker["resumed_from_epoch"]``);
  an ok result carries the derived architecture in ``Result.arch``;
* :meth:`OneShotMethod.derive` ``(space, supernet, meta)``: the derived architecture, with the
  softmax of every architecture parameter in its ``meta``.

The supernet (e.g. ``nas.nn.supernet.DartsSupernet``) offers ``arch_parameters()``,
``named_weights()`` / ``weights()`` (every other parameter) and ``primitives`` (the column order of
the architecture parameters). The helpers below (:func:`split_source`, :func:`load_state`,
:func:`arch_weights`) are shared by the methods.
"""
from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Callable, ClassVar, Mapping

from nas.arch import Architecture
from nas.errors import ConfigError
from nas.types import Proposal, Result


class OneShotMethod(ABC):
    """Base class of every registered one-shot method (see the module docstring)."""

    name: ClassVar[str]
    #: the method's options with the paper's defaults
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, **options: Any) -> None:
        self.options = self.check_options(options)

    # -- options ---------------------------------------------------------------------------
    @classmethod
    def check_options(cls, given: Mapping[str, Any], where: str | None = None) -> dict[str, Any]:
        """:attr:`defaults` updated with ``given``; ConfigError on an unknown key or a bad value."""
        where = where or f"one-shot method {cls.name!r}"
        bad = sorted(set(given) - set(cls.defaults))
        if bad:
            raise ConfigError(f"{where}: unknown option(s) {', '.join(bad)}; known: {', '.join(cls.defaults)}")
        return cls.validate({**cls.defaults, **given}, where)

    @classmethod
    def validate(cls, options: dict[str, Any], where: str) -> dict[str, Any]:
        """Check (and normalise) a full option mapping; raise ConfigError naming the option."""
        return options

    def describe(self) -> str:
        """A human-readable label, e.g. ``DARTS (first order)``."""
        return self.name

    # -- the space -------------------------------------------------------------------------
    def check(self, space: Any) -> None:
        """Refuse a space that offers no supernet (ConfigError naming the space)."""
        if not space.has_supernet():
            raise ConfigError(f"one-shot method {self.name!r} needs a search space with a supernet; "
                              f"space {space.name!r} offers none")

    # -- the trial -------------------------------------------------------------------------
    @abstractmethod
    def run(self, space: Any, proposal: Proposal, config: Any, data: Any, *, device: Any,
            checkpoint: str | Path | None = None,
            on_epoch: Callable[[dict[str, Any]], Any] | None = None) -> Result:
        """Train the supernet, derive an architecture, return the trial's result (module docstring).

        ``on_epoch(row)`` is called after each epoch's checkpoint is written (tests, progress).
        """

    def derive(self, space: Any, supernet: Any, meta: dict[str, Any] | None = None) -> Architecture:
        """The space's derived architecture, ``meta`` + the softmax of each architecture parameter."""
        return space.derive(supernet, {**(meta or {}), "primitives": list(supernet.primitives),
                                       **arch_weights(supernet)})


# -- helpers shared by the methods ---------------------------------------------------------------
def arch_weights(supernet: Any) -> dict[str, list[list[float]]]:
    """``{parameter name: softmax over its last axis}`` of every architecture parameter (CPU lists)."""
    import torch
    import torch.nn.functional as F

    ids = {id(p) for p in supernet.arch_parameters()}
    with torch.no_grad():
        return {n: F.softmax(p.detach().float().cpu(), dim=-1).tolist()
                for n, p in supernet.named_parameters() if id(p) in ids}


def split_source(source: Any, portion: float, seed: int) -> tuple[Any, Any]:
    """Split a batch source into ``(first, rest)`` by a seeded permutation (DARTS: 25k/25k of CIFAR-10).

    Each part keeps the source's augmentation settings. Works for in-memory
    ``TensorSource`` splits and streamed ``LoaderSource`` ones.
    """
    import torch

    n = len(source)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    cut = int(n * portion)
    if cut < 2 or n - cut < 2:
        raise ConfigError(f"train_portion {portion:g} of {n} training samples leaves a part with < 2 samples")
    parts = []
    for idx in (perm[:cut].sort().values, perm[cut:].sort().values):
        part = copy.copy(source)
        if hasattr(source, "x"):
            idx = idx.to(source.x.device)
            part.x, part.y = source.x[idx], source.y[idx]
        else:
            part.dataset = torch.utils.data.Subset(source.dataset, idx.tolist())
        parts.append(part)
    return parts[0], parts[1]


def load_state(path: Path | None, fmt: str, what: str, settings: dict[str, Any]) -> dict[str, Any] | None:
    """The checkpoint at ``path`` if it was written with exactly ``settings``; else None.

    A checkpoint that is unreadable, of another format or of other settings (e.g. after a resume
    with ``--force``) is deleted: the search starts over rather than mixing two searches.
    """
    from evaluators.checkpoint import read_state

    if path is None or not path.exists():
        return None
    try:
        state: dict[str, Any] | None = read_state(path, fmt, what)
    except ConfigError:
        state = None
    if state is None or state.get("settings") != settings:
        path.unlink(missing_ok=True)
        return None
    return state

"""Name → factory registries for spaces, strategies, evaluators and ops.

Modelled on timm/torchvision builders: a registry maps a name to a callable and
fails loudly on unknown names and on keyword arguments the callable does not
accept. Entries may be registered *lazily* as ``"module:attr"`` strings so that
listing strategies never imports torch, Ray or Optuna (README, "Code layout").

The core never imports spaces, strategies or evaluators by name:
:func:`load_plugins` imports the three first-party packages (which register
themselves) and any third-party package exposing a ``nas.plugins`` entry point.
"""
from __future__ import annotations

import importlib
import inspect
import os
from typing import Any, Callable, Iterator

from nas.errors import ConfigError, UnknownName


class Registry:
    """A named mapping from strings to factories.

    >>> r = Registry("widget")
    >>> @r.register("box", summary="a box")
    ... def make_box(size: int = 1): return ("box", size)
    >>> r.create("box", size=2)
    ('box', 2)
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., Any] | str] = {}
        self._summaries: dict[str, str] = {}
        #: entries defined by data (e.g. a space file): name -> (definition, where it came from)
        self._definitions: dict[str, tuple[dict[str, Any], str]] = {}
        #: (match, "module:attr" | callable, hint) consulted for names not registered
        self._resolvers: list[tuple[tuple[str, ...] | Callable[[str], bool], Callable[..., str] | str, str]] = []
        #: definition ``format`` header -> "module:attr" | callable registering such a definition
        self._loaders: dict[str, Callable[..., str] | str] = {}

    # -- registration -------------------------------------------------------
    def register(self, name: str, summary: str = "") -> Callable[[Callable], Callable]:
        """Decorator registering ``fn`` under ``name``. Duplicate names are an error."""

        def deco(fn: Callable) -> Callable:
            self.add(name, fn, summary)
            return fn

        return deco

    def add(self, name: str, target: Callable[..., Any] | str, summary: str = "", *,
            definition: dict[str, Any] | None = None, where: str = "") -> None:
        """Register ``target`` (a callable or a lazy ``"module:attr"`` string).

        ``definition``: the plain data the entry was made from (with its ``format`` header),
        for entries defined by data rather than code; :meth:`definition` returns it and
        :meth:`load` recreates the entry from it in another process. ``where`` says where
        that data came from (a file name), for listings.
        """
        if name in self._entries and self._entries[name] is not target:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"lazy {self.kind} target must be 'module:attr', got {target!r}")
        self._entries[name] = target
        if not summary and not isinstance(target, str):
            summary = (inspect.getdoc(target) or "").split("\n", 1)[0]
        self._summaries[name] = summary
        if definition is not None:
            self._definitions[name] = (definition, where)

    def add_resolver(self, match: tuple[str, ...] | Callable[[str], bool], target: Callable[..., str] | str,
                     hint: str = "") -> None:
        """Resolve names that are not registered: when ``match`` accepts a name (a tuple of
        suffixes, or a predicate), ``target(name)`` (a callable or a lazy ``"module:attr"``)
        registers an entry and returns its name. ``hint`` (e.g. ``"a space file (*.yaml)"``)
        is added to the unknown-name error."""
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"lazy {self.kind} resolver must be 'module:attr', got {target!r}")
        self._resolvers.append((match, target, hint))

    def add_loader(self, fmt: str, target: Callable[..., str] | str) -> None:
        """Entries given as data: :meth:`load` passes a definition whose ``format`` is ``fmt``
        to ``target(definition, where)``, which registers it and returns its name."""
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"lazy {self.kind} loader must be 'module:attr', got {target!r}")
        self._loaders[fmt] = target

    def resolve(self, name: str) -> str:
        """The registered name for ``name``: itself if registered, else what a resolver registers."""
        if name in self._entries:
            return name
        for match, target, _ in self._resolvers:
            if name.endswith(match) if isinstance(match, tuple) else match(name):
                resolved = _import_target(target)(name)
                self._check(resolved)
                return resolved
        self._check(name)
        return name

    def load(self, definition: Any, where: str = "definition") -> str:
        """Register an entry from its data form (see :meth:`add_loader`) and return its name."""
        fmt = definition.get("format") if isinstance(definition, dict) else None
        if fmt not in self._loaders:
            known = ", ".join(sorted(self._loaders)) or "(none)"
            raise ConfigError(f"{where}: a {self.kind} definition needs a 'format' header, one of {known}; "
                              f"got {fmt!r}")
        name = _import_target(self._loaders[fmt])(definition, where)
        self._check(name)
        return name

    def definition(self, name: str) -> dict[str, Any] | None:
        """The data entry ``name`` was defined from (None for entries that are code)."""
        self._check(name)
        entry = self._definitions.get(name)
        return None if entry is None else entry[0]

    def origin(self, name: str) -> str:
        """Where entry ``name`` comes from: the file (or source) of a data-defined entry, else
        the ``module:attr`` of its factory (no import)."""
        self._check(name)
        if name in self._definitions:
            return self._definitions[name][1]
        target = self._entries[name]
        if isinstance(target, str):
            return target
        return f"{getattr(target, '__module__', '?')}:{getattr(target, '__qualname__', type(target).__name__)}"

    # -- lookup ---------------------------------------------------------------
    def names(self) -> list[str]:
        return list(self._entries)

    def summary(self, name: str) -> str:
        self._check(name)
        return self._summaries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def _check(self, name: str) -> None:
        if name not in self._entries:
            known = ", ".join(sorted(self._entries)) or "(none registered)"
            hints = "".join(f", or {h}" for _, _, h in self._resolvers if h)
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {known}{hints}")

    def get(self, name: str) -> Callable[..., Any]:
        """Return the factory for ``name`` (registered, or via a resolver), importing it first if it is lazy."""
        name = self.resolve(name)
        target = self._entries[name]
        if isinstance(target, str):
            target = self._entries[name] = _import_target(target)
        return target

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call the factory for ``name``, rejecting keyword arguments it does not take."""
        fn = self.get(name)
        check_kwargs(fn, kwargs, f"{self.kind} {name!r}")
        return fn(*args, **kwargs)


def _import_target(target: Callable[..., Any] | str) -> Callable[..., Any]:
    """``target`` itself, or the attribute a lazy ``"module:attr"`` string names (imported)."""
    if not isinstance(target, str):
        return target
    module, attr = target.split(":", 1)
    return getattr(importlib.import_module(module), attr)


def check_kwargs(fn: Callable[..., Any], kwargs: dict[str, Any], what: str) -> None:
    """Raise :class:`ConfigError` if ``fn`` does not accept every key of ``kwargs``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # builtins without signatures: let the call decide
        return
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    }
    bad = sorted(set(kwargs) - accepted)
    if bad:
        raise ConfigError(
            f"{what} got unexpected option(s) {', '.join(bad)}; "
            f"accepted: {', '.join(sorted(accepted - {'self'})) or '(none)'}"
        )


SPACES = Registry("search space")
STRATEGIES = Registry("strategy")
EVALUATORS = Registry("evaluator")
OBJECTIVES = Registry("objective")
#: one-shot methods (``strategies.oneshot.base.OneShotMethod`` subclasses: DARTS, ...)
ONESHOT = Registry("one-shot method")
#: trial runners by ``Proposal.runner``: ``fn(space, proposal, config, data, *, device,
#: checkpoint_dir=None, weights_path=None) -> Result`` ("train": evaluators.candidate)
TRIALS = Registry("trial runner")
#: hand-designed baselines and literature architectures: ``fn(info, **options) -> nn.Module``
#: (filled lazily by ``nas.app.baselines`` from ``nas.nn.baselines.CATALOG`` and ``nas.zoo``)
BASELINES = Registry("baseline")
# the leaderboard's trial runner: trains one (model, seed) pair of ``nas compare`` (application floor, lazy)
TRIALS.add("compare", "nas.app.compare:run_compare_trial", "one (model, seed) pair of nas compare")

_PLUGINS_LOADED = False


def load_plugins() -> None:
    """Import the first-party packages and ``nas.plugins`` entry points (idempotent)."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True
    for pkg in ("search_spaces", "strategies", "evaluators"):
        importlib.import_module(pkg)
    from importlib.metadata import entry_points

    for ep in entry_points(group="nas.plugins"):
        ep.load()
    # extra plugin modules, e.g. NAS_PLUGINS=mypkg.spaces,tests.toy_plugin (used by subprocess tests)
    for module in filter(None, (m.strip() for m in os.environ.get("NAS_PLUGINS", "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise ConfigError(f"NAS_PLUGINS: cannot import plugin module {module!r}: {e}") from None

"""Name → factory registries for spaces, strategies, evaluators and ops.

Modelled on timm/torchvision builders: a registry maps a name to a callable and
fails loudly on unknown names and on keyword arguments the callable does not
accept. Entries may be registered *lazily* as ``"module:attr"`` strings so that
listing strategies never imports torch, Ray or Optuna (DESIGN §1).

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

    # -- registration -------------------------------------------------------
    def register(self, name: str, summary: str = "") -> Callable[[Callable], Callable]:
        """Decorator registering ``fn`` under ``name``. Duplicate names are an error."""

        def deco(fn: Callable) -> Callable:
            self.add(name, fn, summary)
            return fn

        return deco

    def add(self, name: str, target: Callable[..., Any] | str, summary: str = "") -> None:
        """Register ``target`` (a callable or a lazy ``"module:attr"`` string)."""
        if name in self._entries and self._entries[name] is not target:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if isinstance(target, str) and ":" not in target:
            raise ValueError(f"lazy {self.kind} target must be 'module:attr', got {target!r}")
        self._entries[name] = target
        if not summary and not isinstance(target, str):
            summary = (inspect.getdoc(target) or "").split("\n", 1)[0]
        self._summaries[name] = summary

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
            raise UnknownName(f"unknown {self.kind} {name!r}; known: {known}")

    def get(self, name: str) -> Callable[..., Any]:
        """Return the factory for ``name``, importing it first if it is lazy."""
        self._check(name)
        target = self._entries[name]
        if isinstance(target, str):
            module, attr = target.split(":", 1)
            target = getattr(importlib.import_module(module), attr)
            self._entries[name] = target
        return target

    def create(self, name: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call the factory for ``name``, rejecting keyword arguments it does not take."""
        fn = self.get(name)
        check_kwargs(fn, kwargs, f"{self.kind} {name!r}")
        return fn(*args, **kwargs)


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

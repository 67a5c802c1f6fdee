"""nas: neural architecture search for PyTorch.

``import nas`` is cheap: it loads the value types and registries only. torch,
Ray and Optuna are imported by the code that needs them.

This package is also the facade of the Python API: ``nas.search``, ``nas.resume``,
``nas.load_run`` and ``nas.Run`` live in the application floor (:mod:`nas.app.api`) and are
loaded on first use by the module ``__getattr__`` below (PEP 562), so the core never imports the
application floor at import time (tests/test_layering.py allows exactly this one lazy import).
"""
from __future__ import annotations

from typing import Any

from nas.arch import Architecture
from nas.errors import ConfigError, DataError, InvalidArchitecture, NasError
from nas.registry import EVALUATORS, SPACES, STRATEGIES
from nas.types import Decision, Proposal, Result

__version__ = "0.1.0"

#: names of the Python API, loaded from nas.app.api on first access
API = ("Run", "load_run", "resume", "search")

__all__ = [
    "Architecture", "ConfigError", "DataError", "Decision", "EVALUATORS", "InvalidArchitecture",
    "NasError", "Proposal", "Result", "Run", "SPACES", "STRATEGIES", "__version__", "load_run", "resume",
    "search",
]


def __getattr__(name: str) -> Any:
    """``nas.search`` and the other API names (:data:`API`), imported from :mod:`nas.app.api` when first used."""
    if name in API:
        import nas.app.api as api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nas' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(API))

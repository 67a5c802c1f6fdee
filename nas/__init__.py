"""nas: neural architecture search for PyTorch.

``import nas`` is cheap: it loads the value types and registries only. torch,
Ray and Optuna are imported by the code that needs them.
"""
from __future__ import annotations

from nas.arch import Architecture
from nas.errors import ConfigError, DataError, InvalidArchitecture, NasError
from nas.registry import EVALUATORS, SPACES, STRATEGIES
from nas.types import Decision, Proposal, Result

__version__ = "0.1.0"

__all__ = [
    "Architecture", "ConfigError", "DataError", "Decision", "EVALUATORS", "InvalidArchitecture",
    "NasError", "Proposal", "Result", "SPACES", "STRATEGIES", "__version__",
]

"""Shared pytest setup: deterministic, quiet, CPU-friendly."""
from __future__ import annotations

import os
import warnings

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
warnings.filterwarnings("ignore", message="The hashes produced for directed graphs changed")


@pytest.fixture(scope="module")
def digits():
    """The embedded digits dataset, split with seed 0 (loaded once per test module)."""
    from evaluators.data import load_data

    return load_data("digits", seed=0)


@pytest.fixture(scope="module")
def nb201():
    """The ``nb201`` search space."""
    from nas.zoo import get_space

    return get_space("nb201")

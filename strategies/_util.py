"""Small helpers shared by the first-party strategies (option checks, dedup sampling)."""
from __future__ import annotations

import random
from typing import Any

from nas.arch import Architecture
from nas.errors import ConfigError, InvalidArchitecture
from search_spaces.base import SearchSpace


def int_option(strategy: str, name: str, value: Any, minimum: int = 1) -> int:
    """Check an integer option (YAML/CLI values arrive untyped); raise ConfigError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"strategy {strategy!r}: option {name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def bool_option(strategy: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"strategy {strategy!r}: option {name!r} must be true or false, got {value!r}")
    return value


def sample_unseen(space: SearchSpace, rng: random.Random, seen: set[str], tries: int) -> Architecture | None:
    """Up to ``tries`` uniform samples; the first whose key is not in ``seen``, else ``None``."""
    for _ in range(tries):
        arch = space.sample(rng)
        if arch.key not in seen:
            return arch
    return None


def describe_mutation(space: SearchSpace, parent: Architecture, child: Architecture) -> str:
    """Which decisions a mutation changed, e.g. ``"normal.n2.op1: sep_conv_3x3 -> skip_connect"``.

    Computed from ``space.encode`` so it works for every space; spaces whose encoding
    cannot represent an architecture give the generic ``"mutate"``.
    """
    try:
        before, after, decisions = space.encode(parent), space.encode(child), space.decisions()
    except (InvalidArchitecture, NotImplementedError, ValueError, KeyError, IndexError):
        return "mutate"
    changed = [
        f"{d.name}: {d.options[i]} -> {d.options[j]}"
        for d, i, j in zip(decisions, before, after)
        if i != j
    ]
    return "; ".join(changed) if changed else "isomorphic rewrite"

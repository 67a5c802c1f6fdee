"""Small helpers shared by the first-party strategies (option checks, dedup sampling)."""
from __future__ import annotations

import math
import random
from typing import Any

from nas.arch import Architecture
from nas.errors import ConfigError, InvalidArchitecture
from nas.types import Decision
from search_spaces.base import SearchSpace


def int_option(strategy: str, name: str, value: Any, minimum: int = 1) -> int:
    """Check an integer option (YAML/CLI values arrive untyped); raise ConfigError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"strategy {strategy!r}: option {name!r} must be an integer >= {minimum}, got {value!r}")
    return value


def float_option(strategy: str, name: str, value: Any, lo: float = -math.inf, hi: float = math.inf, *,
                 lo_open: bool = False, finite: bool = False, allow_none: bool = False) -> float | None:
    """Check a number option in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``); raise ConfigError otherwise.

    NaN is always refused, infinities too with ``finite``; ``None`` passes (as ``None``) only
    with ``allow_none``. Integers are accepted and returned as floats; booleans are not numbers.
    """
    if value is None and allow_none:
        return None
    ok = (not isinstance(value, bool) and isinstance(value, (int, float))
          and (lo < value if lo_open else lo <= value) and value <= hi
          and (not finite or math.isfinite(value)))
    if not ok:
        if hi == math.inf:
            where = f"{'>' if lo_open else '>='} {lo:g}"
        else:
            where = f"in {'(' if lo_open else '['}{lo:g}, {hi:g}]"
        kind = "a finite number" if finite else "a number"
        raise ConfigError(f"strategy {strategy!r}: option {name!r} must be {kind} {where}, got {value!r}")
    return float(value)


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


#: what ``space.encode`` / ``space.decisions`` raise when a space cannot describe an architecture
_ENCODE_ERRORS = (InvalidArchitecture, NotImplementedError, ValueError, KeyError, IndexError)


def space_decisions(space: SearchSpace) -> list[Decision] | None:
    """``space.decisions()``, or ``None`` for a space that has none."""
    try:
        return space.decisions()
    except _ENCODE_ERRORS:
        return None


def encoding(space: SearchSpace, arch: Architecture) -> list[int] | None:
    """``space.encode(arch)``, or ``None`` when the space's encoding cannot represent ``arch``."""
    try:
        return space.encode(arch)
    except _ENCODE_ERRORS:
        return None


def describe_change(decisions: list[Decision] | None, before: list[int] | None, after: list[int] | None) -> str:
    """Which decisions differ between two encodings, e.g. ``"normal.n2.op1: sep_conv_3x3 -> skip_connect"``.

    ``"mutate"`` when any input is missing (the space cannot encode), ``"isomorphic rewrite"``
    when nothing differs.
    """
    if decisions is None or before is None or after is None:
        return "mutate"
    changed = [
        f"{d.name}: {d.options[i]} -> {d.options[j]}"
        for d, i, j in zip(decisions, before, after)
        if i != j
    ]
    return "; ".join(changed) if changed else "isomorphic rewrite"


def describe_mutation(space: SearchSpace, parent: Architecture, child: Architecture) -> str:
    """:func:`describe_change` of ``parent`` -> ``child``, computed from ``space.encode`` so it works
    for every space. Strategies that describe many mutations should cache the decisions and
    encodings and call :func:`describe_change` (as evolution does)."""
    return describe_change(space_decisions(space), encoding(space, parent), encoding(space, child))

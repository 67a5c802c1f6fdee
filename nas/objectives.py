"""Search objectives (README, "nas search").

* ``accuracy``: maximize ``val_acc``.
* ``mnas``: maximize ``ACC(m) · (MACs(m)/T)^w`` with ``w = -0.07`` (MnasNet soft
  constraint, Tan et al., CVPR 2019, §3; Tan & Le, ICML 2019, §4); ``T`` defaults to 400M MACs as for EfficientNet-B0.
* ``pareto``: two objectives, maximize ``val_acc`` and minimize ``macs`` (or
  ``latency_ms``). Only strategies with ``supports_multi_objective`` accept it.

Every objective declares the ``metrics`` it reads; :meth:`Objective.values` returns them
(``None`` for a failed trial or a missing or non-finite metric). Single objectives (one
``direction``) expose :meth:`Objective.score` (higher is better, ``None`` for a failed trial
or a non-finite score); multi-objectives expose ``values`` and ``directions``.
:meth:`Objective.rank_score` is the one scalar every ranking of trials uses.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nas.errors import ConfigError
from nas.registry import OBJECTIVES
from nas.types import Result

#: default MACs target ``T`` of ``mnas`` (EfficientNet-B0, Tan & Le, ICML 2019, §4)
MNAS_TARGET = 400e6


@dataclass(frozen=True)
class Objective:
    name: str
    metrics: tuple[str, ...] = ("val_acc",)
    directions: tuple[str, ...] = ("maximize",)
    target: float | None = None
    weight: float = -0.07

    @property
    def multi(self) -> bool:
        """More than one direction to optimize (Pareto); ``mnas`` reads two metrics but is single."""
        return len(self.directions) > 1

    def values(self, result: Result) -> tuple[float, ...] | None:
        """The ``metrics`` of ``result``, or ``None`` when the trial failed or a metric is missing or not finite."""
        if not result.ok:
            return None
        out = []
        for m in self.metrics:
            v = result.metrics.get(m)
            if v is None or not math.isfinite(float(v)):
                return None
            out.append(float(v))
        return tuple(out)

    def score(self, result: Result) -> float | None:
        """Scalar fitness, higher is better; ``None`` if failed or not finite. Multi-objectives have none."""
        if self.multi:
            raise ConfigError(f"objective {self.name!r} is multi-objective and has no scalar score")
        vals = self.values(result)
        if vals is None:
            return None
        if self.name == "mnas":
            acc, macs = vals
            if macs <= 0:
                return None
            try:
                s = acc * (macs / (self.target or MNAS_TARGET)) ** self.weight
            except (OverflowError, ZeroDivisionError):
                return None
        else:
            s = vals[0]
        return s if math.isfinite(s) else None

    def rank_score(self, result: Result) -> float | None:
        """What trials are ranked by ("best", top-k): :meth:`score`, or the first value (``val_acc``)
        of a multi-objective; ``None`` when the trial has no finite one."""
        if self.multi:
            vals = self.values(result)
            return None if vals is None else vals[0]
        return self.score(result)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "weight": self.weight}


@OBJECTIVES.register("accuracy", summary="maximize val_acc")
def accuracy() -> Objective:
    return Objective("accuracy")


@OBJECTIVES.register("mnas", summary="maximize ACC·(MACs/T)^w, w=-0.07 (MnasNet)")
def mnas(target: float = MNAS_TARGET, weight: float = -0.07) -> Objective:
    if target <= 0:
        raise ConfigError(f"objective mnas: target must be > 0, got {target}")
    return Objective("mnas", metrics=("val_acc", "macs"), target=float(target), weight=float(weight))


@OBJECTIVES.register("pareto", summary="Pareto front of val_acc (max) vs macs or latency_ms (min)")
def pareto(cost: str = "macs") -> Objective:
    if cost not in ("macs", "latency_ms", "params"):
        raise ConfigError(f"objective pareto: cost must be macs, latency_ms or params, got {cost!r}")
    return Objective("pareto", metrics=("val_acc", cost), directions=("maximize", "minimize"))


def get_objective(name: str, **kwargs: Any) -> Objective:
    return OBJECTIVES.create(name, **kwargs)

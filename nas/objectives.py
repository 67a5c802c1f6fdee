"""Search objectives (DESIGN §3).

* ``accuracy``: maximize ``val_acc``.
* ``mnas``: maximize ``ACC(m) · (MACs(m)/T)^w`` with ``w = -0.07`` (MnasNet soft
  constraint, REFERENCE §7.1/§7.6); ``T`` defaults to 400M MACs as for EfficientNet-B0.
* ``pareto``: two objectives, maximize ``val_acc`` and minimize ``macs`` (or
  ``latency_ms``). Only strategies with ``supports_multi_objective`` accept it.

Single objectives expose :meth:`Objective.score` (higher is better, ``None`` for a
failed trial); multi-objectives expose :meth:`Objective.values` and
``directions``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from nas.errors import ConfigError
from nas.registry import OBJECTIVES
from nas.types import Result


@dataclass(frozen=True)
class Objective:
    name: str
    metrics: tuple[str, ...] = ("val_acc",)
    directions: tuple[str, ...] = ("maximize",)
    target: float | None = None
    weight: float = -0.07

    @property
    def multi(self) -> bool:
        return len(self.metrics) > 1

    def values(self, result: Result) -> tuple[float, ...] | None:
        """Raw objective values, or ``None`` when the trial failed or lacks a metric."""
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
        """Scalar fitness, higher is better. Multi-objectives have no scalar score."""
        if self.multi:
            raise ConfigError(f"objective {self.name!r} is multi-objective and has no scalar score")
        if self.name == "mnas":
            if not result.ok:
                return None
            acc, macs = result.metrics.get("val_acc"), result.metrics.get("macs")
            if acc is None or macs is None or macs <= 0:
                return None
            return float(acc) * (float(macs) / float(self.target or 400e6)) ** self.weight
        vals = self.values(result)
        return None if vals is None else vals[0]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "target": self.target, "weight": self.weight}


@OBJECTIVES.register("accuracy", summary="maximize val_acc")
def accuracy() -> Objective:
    return Objective("accuracy")


@OBJECTIVES.register("mnas", summary="maximize ACC·(MACs/T)^w, w=-0.07 (MnasNet)")
def mnas(target: float = 400e6, weight: float = -0.07) -> Objective:
    if target <= 0:
        raise ConfigError(f"objective mnas: target must be > 0, got {target}")
    return Objective("mnas", metrics=("val_acc",), target=float(target), weight=float(weight))


@OBJECTIVES.register("pareto", summary="Pareto front of val_acc (max) vs macs or latency_ms (min)")
def pareto(cost: str = "macs") -> Objective:
    if cost not in ("macs", "latency_ms", "params"):
        raise ConfigError(f"objective pareto: cost must be macs, latency_ms or params, got {cost!r}")
    return Objective("pareto", metrics=("val_acc", cost), directions=("maximize", "minimize"))


def get_objective(name: str, **kwargs: Any) -> Objective:
    return OBJECTIVES.create(name, **kwargs)

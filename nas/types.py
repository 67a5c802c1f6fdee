"""Small value types shared by spaces, strategies, evaluators and the driver (DESIGN §3)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from nas.arch import Architecture

Status = Literal["ok", "failed", "timeout"]
STATUSES: tuple[str, ...] = ("ok", "failed", "timeout")


@dataclass(frozen=True)
class Decision:
    """One ordered categorical choice of a space, e.g. ``("normal.n2.op0", (ops...))``."""

    name: str
    options: tuple[Any, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", tuple(self.options))
        if not self.options:
            raise ValueError(f"decision {self.name!r} has no options")

    def __len__(self) -> int:
        return len(self.options)


@dataclass
class Proposal:
    """What a strategy asks the driver to evaluate.

    ``id`` is assigned by the strategy (deterministic, so a resumed search re-creates
    the same ids). ``arch`` is ``None`` only for one-shot strategies, whose
    ``config`` then says what to run. ``config`` may carry per-trial overrides
    (for example EfficientNet's resolution). ``info`` is provenance recorded in
    the journal (e.g. ``{"parent": "t00003", "mutation": "op"}``); evaluators ignore it.
    """

    id: str
    arch: Architecture | None
    config: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "arch": None if self.arch is None else self.arch.to_dict(),
            "key": None if self.arch is None else self.arch.key,
            "config": dict(self.config),
            "info": dict(self.info),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Proposal":
        arch = None if d.get("arch") is None else Architecture.from_dict(d["arch"])
        return cls(
            id=str(d["id"]), arch=arch, config=dict(d.get("config") or {}), info=dict(d.get("info") or {})
        )


@dataclass
class Result:
    """Outcome of one trial.

    ``metrics`` has at least ``val_acc`` when ``status == "ok"``, plus ``params``,
    ``macs``, ``latency_ms``, ``train_seconds`` and ``epochs`` where measured.
    ``report`` holds numbers that are recorded in the journal but never shown to
    strategies (e.g. the tabular benchmark's test accuracy). ``worker`` says where
    the trial ran (host, pid, node id, GPU). ``cost`` is the (simulated or real)
    seconds the evaluation cost, used for time budgets.
    """

    status: Status
    metrics: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    worker: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    cost: float | None = None
    arch: Architecture | None = None  # one-shot strategies return the derived architecture here

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def for_strategy(self) -> "Result":
        """A copy without ``report`` columns: what strategies are allowed to see."""
        return Result(self.status, dict(self.metrics), self.error, dict(self.worker), {}, self.cost, self.arch)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": self.status, "metrics": dict(self.metrics), "error": self.error}
        if self.worker:
            d["worker"] = dict(self.worker)
        if self.report:
            d["report"] = dict(self.report)
        if self.cost is not None:
            d["cost"] = self.cost
        if self.arch is not None:
            d["result_arch"] = self.arch.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Result":
        arch = d.get("result_arch")
        return cls(
            status=d["status"],
            metrics=dict(d.get("metrics") or {}),
            error=d.get("error"),
            worker=dict(d.get("worker") or {}),
            report=dict(d.get("report") or {}),
            cost=d.get("cost"),
            arch=None if arch is None else Architecture.from_dict(arch),
        )

"""Small value types shared by spaces, strategies, evaluators and the driver.

:class:`Proposal` (what a strategy asks for), :class:`Result` (what a trial returns) and
:func:`trial_arch`, the one rule for "the architecture a trial stands for".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from nas.arch import Architecture

Status = Literal["ok", "failed", "timeout"]
STATUSES: tuple[str, ...] = ("ok", "failed", "timeout")
#: the trial runner of a plain proposal: train ``proposal.arch`` (``nas.registry.TRIALS``)
DEFAULT_RUNNER = "train"


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
    the same ids). ``runner`` names the trial runner that evaluates it (a
    :data:`nas.registry.TRIALS` entry): :data:`DEFAULT_RUNNER` trains ``arch``; another
    runner may produce the architecture itself (a one-shot search returns it in
    ``Result.arch``), and then ``arch`` may be ``None``. ``config`` holds per-trial
    settings for the runner (for ``train``: build and recipe overrides such as
    EfficientNet's resolution). ``info`` is provenance recorded in the journal (e.g.
    ``{"parent": "t00003", "mutation": "op"}``); evaluators ignore it.

    Fidelity (multi-fidelity strategies: Li et al., JMLR 2018; Li et al., MLSys 2020):
    ``budget`` is the number of epochs to train to (``None``: the recipe's ``epochs``, the
    config's). The recipe's ``epochs`` stays the length of the learning-rate schedule, so a
    rung stops part-way through one schedule defined on the maximum budget. ``lineage`` is
    the id of the trial this proposal continues (a *promotion*): its seed and checkpoint are
    the lineage's, so training continues from the epoch that trial reached (``from_budget``)
    and is never redone. ``None``: the proposal is its own lineage.
    """

    id: str
    arch: Architecture | None
    config: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    runner: str = DEFAULT_RUNNER
    budget: int | None = None
    lineage: str | None = None
    from_budget: int = 0

    @property
    def trial(self) -> str:
        """The trial identity that fixes seed and checkpoint: ``lineage`` or, without one, ``id``."""
        return self.lineage or self.id

    @property
    def dedup_key(self) -> str | None:
        """The architecture key, with ``@budget`` for a fidelity proposal (what is evaluated only once)."""
        if self.arch is None:
            return None
        return self.arch.key if self.budget is None else f"{self.arch.key}@{self.budget}"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "arch": None if self.arch is None else self.arch.to_dict(),
            "key": None if self.arch is None else self.arch.key,
            "config": dict(self.config),
            "info": dict(self.info),
            "runner": self.runner,
        }
        if self.budget is not None:  # older journals have none: they read as None (the config's epochs)
            d["budget"] = self.budget
        if self.lineage is not None:
            d["lineage"], d["from_budget"] = self.lineage, self.from_budget
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Proposal":
        """Inverse of :meth:`to_dict`; a dict without ``runner`` (older journals) is a ``train`` proposal."""
        arch = None if d.get("arch") is None else Architecture.from_dict(d["arch"])
        return cls(
            id=str(d["id"]), arch=arch, config=dict(d.get("config") or {}), info=dict(d.get("info") or {}),
            runner=str(d.get("runner") or DEFAULT_RUNNER),
            budget=None if d.get("budget") is None else int(d["budget"]),
            lineage=None if d.get("lineage") is None else str(d["lineage"]),
            from_budget=int(d.get("from_budget") or 0),
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
    arch: Architecture | None = None  # an architecture the trial produced (e.g. one-shot derivation)

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


def trial_arch(record: Mapping[str, Any], where: str | None = None) -> Architecture | None:
    """The architecture a trial stands for: its result's (``result_arch``) if any, else its proposal's.

    ``record`` is a journal record or a driver record: ``arch`` / ``result_arch`` are
    ``Architecture`` objects or their dicts (``Architecture.from_dict`` checks those; ``where``
    prefixes its messages).
    """
    a = record.get("result_arch")
    if a is None:
        a = record.get("arch")
    if a is None or isinstance(a, Architecture):
        return a
    return Architecture.from_dict(a, where=where or f"trial {record.get('id', '?')}")


def trial_key(record: Mapping[str, Any]) -> str | None:
    """The key of :func:`trial_arch` (``None`` for a trial without an architecture).

    Without a ``result_arch`` a record's own ``key`` (the journaled key of its proposal's
    architecture) is used as it is, rather than recomputed.
    """
    if record.get("result_arch") is None and record.get("key") is not None:
        return str(record["key"])
    arch = trial_arch(record)
    return None if arch is None else arch.key


def trial_dedup_key(record: Mapping[str, Any]) -> str | None:
    """:attr:`Proposal.dedup_key` of a journal record: its ``key``, with ``@budget`` when it has one."""
    key = record.get("key")
    if key is None:
        return None
    return str(key) if record.get("budget") is None else f"{key}@{int(record['budget'])}"


def trial_runner(record: Mapping[str, Any]) -> str:
    """The trial runner of a journal record or proposal dict (older journals have none: ``train``)."""
    return str(record.get("runner") or DEFAULT_RUNNER)


def arch_settings(record: Mapping[str, Any]) -> dict[str, Any]:
    """The proposal settings that apply to the trial's architecture (its build and recipe overrides).

    A ``train`` trial's ``config`` is exactly that; another runner's ``config`` holds that
    runner's own settings (e.g. a one-shot method's options), none of which applies to the
    architecture it produced. So does a trial whose architecture is its result's
    (``result_arch``; e.g. a one-shot trial journaled before records named their runner).
    """
    if trial_runner(record) != DEFAULT_RUNNER or record.get("result_arch") is not None:
        return {}
    return dict(record.get("config") or {})

"""Ray Tune interop: any nas strategy as a ``ray.tune.search.Searcher`` (issue 5, item 4).

For users who drive their own ``Tuner``: :class:`NasSearcher` asks a nas strategy (random,
evolution, rl, tpe, or a plugin) for architectures and tells it the trial results, so Tune runs
the trials and nas chooses them. nas's own ``nas search`` does not use this (it drives Ray core
tasks itself, see :mod:`evaluators.ray`); importing this module imports Ray Tune.

Usage::

    from nas.arch import Architecture
    from nas.app.tune import NasSearcher
    from ray import tune

    def trainable(config):
        arch = Architecture.from_dict(config["arch"])
        return {"val_acc": train_and_score(arch)}

    searcher = NasSearcher("nb201", "evolution", seed=0, strategy_options={"population": 8})
    tune.Tuner(trainable, tune_config=tune.TuneConfig(search_alg=searcher, metric="val_acc",
               mode="max", num_samples=50)).fit()

Mapping
    ``suggest(trial_id)`` returns ``{"arch": Architecture.to_dict(), "key": canonical key,
    "proposal_id": strategy's id, **proposal.config}``. ``on_trial_complete`` turns Tune's last
    result into a nas :class:`~nas.types.Result`: every finite number in it becomes a metric, and
    ``val_acc`` (what nas objectives maximize) is set to the Tune ``metric``'s value, negated for
    ``mode="min"``; an errored trial, or one without the metric, is a ``failed`` result. Unknown
    trial ids are ignored. An architecture already evaluated (same key) is not suggested again:
    the strategy is told the earlier result, as the nas driver does (:mod:`nas.app.driver`).
Checkpoints
    ``save(path)`` / ``restore(path)`` write JSON (never pickle): the strategy's
    ``state_dict()``, the live Tune trial id → proposal mapping and the finished results by key.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping

from ray.tune.search import Searcher

from nas.config import SearchConfig
from nas.errors import ConfigError
from nas.io import atomic_write_json
from nas.app.driver import MAX_DUPLICATE_RUN
from nas.app.launch import assemble
from nas.types import DEFAULT_RUNNER, Proposal, Result

FORMAT = "nas/tune-searcher@1"


class NasSearcher(Searcher):
    """A Tune ``Searcher`` backed by a nas strategy (see the module docstring).

    ``space``/``strategy`` are registry names (or a space instance); ``strategy_options`` and
    ``objective``/``objective_options`` are those of ``nas search``; they are put together by
    :func:`nas.app.launch.assemble`, as for ``nas search`` (without an evaluator: Tune runs
    the trials). ``metric``/``mode`` may
    instead come from ``TuneConfig`` (default ``val_acc``/``max``).
    """

    def __init__(self, space: Any = "nb201", strategy: str = "evolution", *, seed: int = 0,
                 metric: str | None = None, mode: str | None = None, objective: str = "accuracy",
                 objective_options: Mapping[str, Any] | None = None,
                 strategy_options: Mapping[str, Any] | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        instance = None if isinstance(space, str) else space
        config = SearchConfig(space=space if instance is None else instance.name, strategy=strategy, seed=seed,
                              objective=objective, objective_options=dict(objective_options or {}),
                              strategy_options=dict(strategy_options or {}))
        parts = assemble(config, space=instance, with_evaluator=False)  # Tune runs the trials
        self.space, self.objective, self.strategy = parts.space, parts.objective, parts.strategy
        self.strategy_name = strategy
        self._live: dict[str, Proposal] = {}        # Tune trial id -> proposal
        self._live_keys: dict[str, str] = {}        # arch key -> Tune trial id
        self._followers: dict[str, list[Proposal]] = {}  # duplicates waiting for an in-flight key
        self._done: dict[str, Result] = {}          # arch key -> strategy-visible result
        self.n_told = 0

    # -- Tune API ------------------------------------------------------------------------------
    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        if metric and not self._metric:
            self._metric = metric
        if mode and not self._mode:
            if mode not in ("min", "max"):
                raise ConfigError(f"NasSearcher: mode must be 'min' or 'max', got {mode!r}")
            self._mode = mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        for _ in range(MAX_DUPLICATE_RUN):  # proposals in a row that were all duplicates, as nas.app.driver
            if self.strategy.done():
                return Searcher.FINISHED
            p = self.strategy.ask()
            if p is None:  # waits for results; with none pending it never will
                return None if self._live else Searcher.FINISHED
            if p.runner != DEFAULT_RUNNER or p.arch is None:
                raise ConfigError(f"NasSearcher: strategy {self.strategy_name!r} proposes {p.runner!r} trials, "
                                  "not architectures to train; it has no per-architecture trials to hand to Tune")
            key = p.arch.key
            if key in self._done:
                self._tell(p, self._done[key])
                continue
            if key in self._live_keys:
                self._followers.setdefault(key, []).append(p)
                continue
            self._live[trial_id] = p
            self._live_keys[key] = trial_id
            return self._config(p, key)
        return Searcher.FINISHED

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        p = self._live.pop(trial_id, None)
        if p is None:  # not ours, or already completed
            return
        key = p.arch.key if p.arch is not None else None
        told = self._result(result, error)
        self._tell(p, told)
        if key is not None:
            self._live_keys.pop(key, None)
            self._done[key] = told
            for f in self._followers.pop(key, []):
                self._tell(f, told)

    def save(self, checkpoint_path: str) -> None:
        atomic_write_json(checkpoint_path, self.get_state())

    def restore(self, checkpoint_path: str) -> None:
        try:
            state = json.loads(Path(checkpoint_path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ConfigError(f"{checkpoint_path}: cannot read NasSearcher state: {e}") from None
        self.set_state(state)

    def get_state(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "space": self.space.name, "strategy_name": self.strategy_name,
            "metric": self._metric, "mode": self._mode, "n_told": self.n_told,
            "strategy": self.strategy.state_dict(),
            "live": {tid: p.to_dict() for tid, p in self._live.items()},
            "followers": {k: [p.to_dict() for p in ps] for k, ps in self._followers.items()},
            "done": {k: r.to_dict() for k, r in self._done.items()},
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ConfigError(f"NasSearcher state: field 'format' must be {FORMAT!r}")
        if state.get("space") != self.space.name or state.get("strategy_name") != self.strategy_name:
            raise ConfigError(f"NasSearcher state is for space {state.get('space')!r} / strategy "
                              f"{state.get('strategy_name')!r}, not {self.space.name!r} / {self.strategy_name!r}")
        self.strategy.load_state_dict(state["strategy"])
        self._metric = self._metric or state.get("metric")
        self._mode = self._mode or state.get("mode")
        self.n_told = int(state.get("n_told", 0))
        self._live = {tid: Proposal.from_dict(d) for tid, d in state.get("live", {}).items()}
        self._live_keys = {p.arch.key: tid for tid, p in self._live.items() if p.arch is not None}
        self._followers = {k: [Proposal.from_dict(d) for d in ps] for k, ps in state.get("followers", {}).items()}
        self._done = {k: Result.from_dict(d) for k, d in state.get("done", {}).items()}

    # -- helpers ----------------------------------------------------------------------------------
    def _config(self, p: Proposal, key: str) -> dict[str, Any]:
        assert p.arch is not None
        return {**p.config, "arch": p.arch.to_dict(), "key": key, "proposal_id": p.id}

    def _result(self, result: Mapping[str, Any] | None, error: bool) -> Result:
        metric, mode = self._metric or "val_acc", self._mode or "max"
        if error:
            return Result("failed", error="the Tune trial raised an error")
        metrics = {k: float(v) for k, v in (result or {}).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)}
        if metric not in metrics:
            return Result("failed", error=f"the Tune trial reported no finite {metric!r}")
        metrics["val_acc"] = metrics[metric] if mode == "max" else -metrics[metric]
        return Result("ok", metrics)

    def _tell(self, p: Proposal, result: Result) -> None:
        self.strategy.tell(p.id, result.for_strategy())
        self.n_told += 1

"""The ``local`` evaluator: trains candidates one at a time in this process (README, "Evaluators").

``submit`` only queues; ``results`` runs the oldest queued trial to completion
and returns it, so the driver's loop (ask → submit → results → journal → tell)
stays sequential and a search with a fixed seed is reproducible. The dataset is
loaded once, on first use (or eagerly by :meth:`LocalEvaluator.check`, which the
CLI calls so that a missing dataset fails with exit code 2 before anything is
written). With a run directory, each trial checkpoints to
``<run_dir>/checkpoints/<trial id>.pt`` after every epoch, so a trial that was
running when a search was killed continues from its last epoch on resume.

Option (``evaluator_options``): ``threads``, the number of torch CPU threads.
When unset and training runs on the CPU, ``digits`` uses one thread: its models
are so small that intra-op parallelism costs more than it gains (measured here:
one epoch of an NB201 cell, 0.5 s with 1 thread vs 2.4-31 s with 2 threads on 2
busy cores); other datasets keep torch's default.
"""
from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from evaluators.base import Evaluator
from evaluators.proxies import check_proxies
from nas.errors import ConfigError
from nas.layout import CHECKPOINTS, trial_weights_path
from nas.types import Proposal, Result


class LocalEvaluator(Evaluator):
    """In-process training on this machine (``capacity() == 1``)."""

    name = "local"

    def __init__(self, space: Any, config: Any, *, run_dir: str | Path | None = None,
                 data: Any = None, device: Any = None) -> None:
        super().__init__(space, config, run_dir=run_dir)
        check_proxies(getattr(config, "proxies", None) or [])  # bad names: exit 2 before any write
        self._data = data
        self._device_spec = device if device is not None else config.device
        self._device: Any = None
        self._queue: deque[Proposal] = deque()
        options = dict(getattr(config, "evaluator_options", None) or {})
        unknown = sorted(set(options) - {"threads"})
        if unknown:
            raise ConfigError(f"evaluator 'local': unknown option(s) {', '.join(unknown)}; accepted: threads")
        threads = options.get("threads")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ConfigError(f"evaluator 'local': option threads must be an integer >= 1, got {threads!r}")
        self.threads: int | None = threads

    # -- setup ------------------------------------------------------------------------------
    @property
    def device(self) -> Any:
        """The resolved ``torch.device`` (``auto`` → cuda if available, else cpu)."""
        if self._device is None:
            from evaluators.trainer import resolve_device

            self._device = resolve_device(self._device_spec)
        return self._device

    @property
    def data(self) -> Any:
        """The dataset bundle, loaded on first use."""
        if self._data is None:
            from evaluators.data import load_for_config

            self._data = load_for_config(self.config, self.device)
        return self._data

    def check(self) -> Any:
        """Resolve the device and load the dataset now; raises ConfigError/DataError. Returns its info."""
        return self.data.info

    # -- Evaluator contract -----------------------------------------------------------------------
    def submit(self, proposal: Proposal) -> None:
        self._queue.append(proposal)

    def results(self, timeout: float | None = None) -> list[tuple[str, Result]]:
        """Run the next queued trial and return it; ``[]`` if nothing is queued.

        Trials run synchronously, so ``timeout`` is not used to wait: a trial's
        own limit is ``config.trial_timeout``.
        """
        if not self._queue:
            return []
        from evaluators.candidate import set_threads
        from nas.registry import TRIALS, load_plugins

        load_plugins()  # the trial runners: "train" (evaluators), "oneshot" (strategies), plugins
        proposal = self._queue.popleft()
        run_trial = TRIALS.get(proposal.runner)
        set_threads(self.threads, self.device, self.data.info)
        ckpt_dir = weights = None
        if self.run_dir is not None:
            ckpt_dir = self.run_dir / CHECKPOINTS
            if self.config.keep_weights != 0:
                weights = trial_weights_path(self.run_dir, proposal.id)
        result = run_trial(self.space, proposal, self.config, self.data, device=self.device,
                           checkpoint_dir=ckpt_dir, weights_path=weights)
        return [(proposal.id, result)]

    def capacity(self) -> int:
        return 1

    def shutdown(self) -> None:
        self._queue.clear()

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "device": str(self._device or self._device_spec)}

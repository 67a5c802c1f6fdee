"""The one generic one-shot strategy and the ``oneshot`` trial runner.

:class:`OneShotStrategy` runs any registered one-shot method (:data:`nas.registry.ONESHOT`) as
**one trial**: :meth:`~OneShotStrategy.ask` returns a single :class:`~nas.types.Proposal` with
``runner = "oneshot"``, ``arch = None`` and ``config = {"method": NAME, **the method's options}``;
the evaluator hands it to the runner registered under that name in :data:`nas.registry.TRIALS`,
:func:`run_oneshot_trial`, which runs the method (it trains the space's supernet and returns the
derived architecture in ``Result.arch``). The driver journals that architecture as
``result_arch`` and ``nas export`` exports it. After that one result the strategy is done.

The method refuses a space without a supernet at construction (ConfigError naming the space);
multi-objective (Pareto) search is refused too (one trial has nothing to trade off).

A registered strategy binds the class to one method and spells out the method's options in its
signature (``--strategy-option KEY=VALUE``, ``nas strategies``): :class:`DartsStrategy`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from nas.errors import ConfigError, NasError
from nas.objectives import Objective
from nas.registry import ONESHOT
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies.base import Strategy

#: the :data:`nas.registry.TRIALS` name of :func:`run_oneshot_trial`
ONESHOT_RUNNER = "oneshot"


class OneShotStrategy(Strategy):
    """One trial of the one-shot method ``method`` (default: the class's :attr:`method_name`)."""

    name = "oneshot"
    trial_runner = ONESHOT_RUNNER
    #: the ONESHOT entry a bound subclass runs
    method_name: ClassVar[str] = ""

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None,
                 method: str | None = None, **options: Any) -> None:
        super().__init__(space, seed=seed, objective=objective)
        self.method = ONESHOT.create(method or self.method_name, **options)
        self.method.check(space)
        self.proposal_id: str | None = None
        self.result: dict[str, Any] | None = None  # {"status", "val_acc", "error", "arch"} once told

    @property
    def told(self) -> bool:
        """Whether the search trial's result has come back."""
        return self.result is not None

    def ask(self) -> Proposal | None:
        """The single one-shot proposal, then ``None``."""
        if self.proposal_id is not None:
            return None
        pid = self.new_id()
        self.proposal_id = pid
        return Proposal(pid, None, config={"method": self.method.name, **self.method.options},
                        info={"origin": self.name, "method": self.method.describe()}, runner=ONESHOT_RUNNER)

    def tell(self, proposal_id: str, result: Result) -> None:
        if proposal_id != self.proposal_id or self.told:
            return
        self.result = {
            "status": result.status,
            "val_acc": result.metrics.get("val_acc"),
            "error": result.error,
            "arch": None if result.arch is None else result.arch.to_dict(),
        }

    def done(self) -> bool:
        """True once the search trial's result has been told (whatever its status)."""
        return self.told

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "options": dict(self.method.options), "proposal_id": self.proposal_id,
                "result": self.result}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)  # options come from the constructor (a pending proposal keeps its own)
        self.proposal_id = state["proposal_id"]
        self.result = state["result"]


class DartsStrategy(OneShotStrategy):
    """DARTS one-shot search, first or second order (Liu et al., ICLR 2019): see :mod:`strategies.oneshot.darts`.

    Options and defaults are the DARTS method's (:data:`strategies.oneshot.darts.DEFAULTS`).
    """

    name = "darts"
    method_name = "darts"

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None,
                 order: int = 1, w_lr: float = 0.025, w_lr_min: float = 0.001, w_momentum: float = 0.9,
                 w_weight_decay: float = 3e-4, w_grad_clip: float = 5.0, alpha_lr: float = 3e-4,
                 alpha_weight_decay: float = 1e-3, train_portion: float = 0.5, alpha_init: str = "randn",
                 hessian_every: int = 1, hessian_iters: int = 20, guards: list[str] | str | None = None,
                 early_stop_window: int = 5, early_stop_ratio: float = 0.75, max_skips: int = 2,
                 table: str = "auto") -> None:
        # hessian_every ... table: the collapse diagnostics and guards (strategies.oneshot.base.DIAGNOSTIC_DEFAULTS)
        super().__init__(space, seed=seed, objective=objective, order=order, w_lr=w_lr, w_lr_min=w_lr_min,
                         w_momentum=w_momentum, w_weight_decay=w_weight_decay, w_grad_clip=w_grad_clip,
                         alpha_lr=alpha_lr, alpha_weight_decay=alpha_weight_decay, train_portion=train_portion,
                         alpha_init=alpha_init, hessian_every=hessian_every, hessian_iters=hessian_iters,
                         guards=[] if guards is None else guards, early_stop_window=early_stop_window,
                         early_stop_ratio=early_stop_ratio, max_skips=max_skips, table=table)


def run_oneshot_trial(space: Any, proposal: Proposal, config: Any, data: Any, *, device: Any,
                      checkpoint_dir: str | Path | None = None, weights_path: str | Path | None = None) -> Result:
    """The ``oneshot`` trial runner: the method ``proposal.config["method"]`` with the rest as options.

    Same signature as :func:`evaluators.candidate.evaluate_candidate`. The trial checkpoints to
    ``checkpoint_dir/<id>.pt``. ``weights_path`` is not written: the trained weights are the
    supernet's, not the derived architecture's (train it with ``nas train``).
    """
    import torch

    from evaluators.candidate import TrialRecord, checkpoint_path

    ckpt = checkpoint_path(checkpoint_dir, proposal.id) if checkpoint_dir is not None else None
    options = dict(proposal.config)
    name = options.pop("method", None)
    try:
        if not isinstance(name, str):
            raise ConfigError(f"trial {proposal.id}: config names no one-shot method (key 'method')")
        method = ONESHOT.create(name, **options)
    except NasError as e:
        return TrialRecord(torch.device(device), config, ckpt).done("failed", f"bad one-shot settings: {e}")
    return method.run(space, proposal, config, data, device=device, checkpoint=ckpt)

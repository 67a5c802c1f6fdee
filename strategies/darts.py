"""DARTS, Differentiable Architecture Search (Liu et al. ICLR 2019), as a one-shot strategy (DESIGN §3).

A one-shot strategy runs as **one trial**: :meth:`DartsStrategy.ask` returns a single
:class:`~nas.types.Proposal` with ``arch=None`` and ``config = {"one_shot": "darts", "order": 1|2,
...search settings}``; the training evaluators hand it to :func:`evaluators.oneshot.run_darts`,
which trains the supernet (weights by SGD on one half of the training split, the alphas by Adam on
the other half, first or second order), checkpoints every epoch, derives the discrete cells
(REFERENCE §4.2) and returns them in ``Result.arch``. The driver journals that architecture as
``result_arch``; ``nas export`` exports it. After that one result the strategy is done.

Options (defaults are quark0 ``train_search.py``'s, REFERENCE §4.1; names as khanrc/pt.darts'):
``order`` (1 = first-order, ξ = 0, the default; 2 = second-order / ``--unrolled``), ``w_lr``
0.025, ``w_lr_min`` 0.001, ``w_momentum`` 0.9, ``w_weight_decay`` 3e-4, ``w_grad_clip`` 5,
``alpha_lr`` 3e-4, ``alpha_weight_decay`` 1e-3, ``train_portion`` 0.5, ``alpha_init`` (``randn``
= quark0's 1e-3·randn, ``zeros`` = the paper's zero initialisation). Epochs, batch size and the
supernet's channels/cells come from the search config (``--epochs``, ``--batch-size``,
``--channels``, ``--layers``); the search config's ``lr`` is not used (``w_lr`` is).

Only the ``darts`` space has a supernet; any other space is a ConfigError at construction.
Multi-objective (Pareto) search is not supported (one trial has nothing to trade off).
"""
from __future__ import annotations

from typing import Any

from nas.errors import ConfigError
from nas.objectives import Objective
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from search_spaces.darts import SEARCH_DEFAULTS, search_settings
from strategies.base import Strategy


class DartsStrategy(Strategy):
    """One DARTS supernet search (first or second order) on the ``darts`` space."""

    name = "darts"
    one_shot = True

    def __init__(
        self,
        space: SearchSpace,
        *,
        seed: int = 0,
        objective: Objective | None = None,
        order: int = SEARCH_DEFAULTS["order"],
        w_lr: float = SEARCH_DEFAULTS["w_lr"],
        w_lr_min: float = SEARCH_DEFAULTS["w_lr_min"],
        w_momentum: float = SEARCH_DEFAULTS["w_momentum"],
        w_weight_decay: float = SEARCH_DEFAULTS["w_weight_decay"],
        w_grad_clip: float = SEARCH_DEFAULTS["w_grad_clip"],
        alpha_lr: float = SEARCH_DEFAULTS["alpha_lr"],
        alpha_weight_decay: float = SEARCH_DEFAULTS["alpha_weight_decay"],
        train_portion: float = SEARCH_DEFAULTS["train_portion"],
        alpha_init: str = SEARCH_DEFAULTS["alpha_init"],
    ) -> None:
        if getattr(space, "name", None) != "darts":
            raise ConfigError(f"strategy 'darts' needs the 'darts' search space (it has the DARTS supernet), "
                              f"got space {getattr(space, 'name', space)!r}; use --space darts")
        super().__init__(space, seed=seed, objective=objective)
        given = {"order": order, "w_lr": w_lr, "w_lr_min": w_lr_min, "w_momentum": w_momentum,
                 "w_weight_decay": w_weight_decay, "w_grad_clip": w_grad_clip, "alpha_lr": alpha_lr,
                 "alpha_weight_decay": alpha_weight_decay, "train_portion": train_portion,
                 "alpha_init": alpha_init}
        self.settings = search_settings(given, where="strategy 'darts'")
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
        order = self.settings["order"]
        return Proposal(pid, None, config={"one_shot": "darts", **self.settings},
                        info={"origin": "darts", "one_shot": "darts",
                              "method": f"DARTS ({'second' if order == 2 else 'first'} order)"})

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
        return {**super().state_dict(), "options": dict(self.settings), "proposal_id": self.proposal_id,
                "result": self.result}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)  # options come from the constructor (a pending proposal keeps its own)
        self.proposal_id = state["proposal_id"]
        self.result = state["result"]  # older snapshots also hold "told", which follows from it

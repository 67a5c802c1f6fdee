"""GDAS as a one-shot method (Dong & Yang, "Searching for A Robust Neural Architecture in Four
GPU Hours", CVPR 2019).

GDAS trains the space's supernet like first-order DARTS (Liu et al., ICLR 2019, §2.3:
alternating weight steps on one half of the training split and architecture steps on the other),
but every edge runs **one** sampled op per step (§3.2): the hard Gumbel-softmax sample of its
architecture row, one-hot in the forward pass and differentiable through the softmax of
``(log p + g) / τ`` backward (eq. 5-7, :class:`nas.nn.mixed_ops.SampledMixedOp`); only the
sampled op is computed. All cells of a type share one sample per step. τ decays linearly from
``tau_max`` 10 to ``tau_min`` 0.1 over the epochs (§4.1; the released code's per-epoch schedule
``τ_e = τ_max − (τ_max − τ_min)·e/(E − 1)``; the epoch counter is a checkpointed buffer of the
supernet that advances each time the loop switches it to evaluation, once per epoch). In
evaluation (the per-epoch validation accuracy)
each edge runs its most likely op. The derived architecture is the space's rule on softmax(α)
(GDAS §3.3 for the DARTS space: the strongest two edges per node).

The loop, data split, optimizers, checkpoints and resume are DARTS' (:class:`~strategies.oneshot.
darts.Darts`, first order); the defaults are the released GDAS code's, which match DARTS' (SGD lr
0.025 cosine to 0.001, momentum 0.9, weight decay 3e-4, clip 5; α by Adam lr 3e-4, betas
(0.5, 0.999), weight decay 1e-3). Deviations: GDAS' reduction cell is hand-designed in the paper
(§3.4, "GDAS (FRC)"); here both cells are searched (the paper's "GDAS" row without FRC). The
DARTS collapse diagnostics are kept except the Hessian eigenvalue (``hessian_every`` must be 0:
the loss of a one-hot path has no smooth dependence on α), so the ``early_stop`` guard is refused.
"""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any, Callable

from nas.arch import Architecture
from nas.errors import ConfigError
from nas.objectives import Objective
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies.oneshot.base import OneShotMethod
from strategies.oneshot.darts import DEFAULTS as DARTS_DEFAULTS
from strategies.oneshot.darts import Darts
from strategies.oneshot.strategy import OneShotStrategy

#: the released GDAS code's options (the DARTS ones, first order) plus the temperature schedule
DEFAULTS: dict[str, Any] = {**{k: v for k, v in DARTS_DEFAULTS.items() if k != "order"},
                            "hessian_every": 0, "tau_max": 10.0, "tau_min": 0.1}


class SupernetView:
    """The search space as a DARTS-loop method sees it: its supernet wrapped by ``wrap``.

    Everything else is the space's. ``extra`` (the method's own settings) joins the supernet
    settings, so that a checkpoint written with other method settings is discarded, and is taken
    off again before the space builds its supernet. ``derive(wrapper, meta)`` is the method's
    derivation hook (called once per epoch by the loop and once at the end).
    """

    def __init__(self, space: Any, wrap: Callable[[Any], Any], extra: dict[str, Any],
                 derive: Callable[[Any, Any, dict[str, Any] | None], Architecture]) -> None:
        self._space, self._wrap, self._extra, self._derive = space, wrap, extra, derive

    def __getattr__(self, name: str) -> Any:
        return getattr(self._space, name)

    def supernet_settings(self, info: Any = None, config: Any = None) -> dict[str, Any]:
        return {**self._space.supernet_settings(info, config), **self._extra}

    def supernet(self, **settings: Any) -> Any:
        own = {k: settings.pop(k) for k in list(settings) if k in self._extra}
        if own != self._extra:
            raise ConfigError(f"method settings changed: {own} != {self._extra}")
        return self._wrap(self._space.supernet(**settings))

    def derive(self, supernet: Any, meta: dict[str, Any] | None = None) -> Architecture:
        return self._derive(self._space, supernet, meta)


def probe_shape(info: Any) -> tuple[int, int, int, int]:
    """A batch of two inputs of the dataset's shape (BatchNorm needs more than one value)."""
    return (2, info.in_channels, info.image_size, info.image_size)


def run_darts_loop(darts: Darts, view: SupernetView, label: str, source: str, proposal: Proposal, config: Any,
                   data: Any, device: Any, checkpoint: str | Path | None,
                   on_epoch: Callable[[dict[str, Any]], Any] | None) -> Result:
    """``darts.run`` on ``view``; the derived architecture named after the method (``label``)."""
    res = darts.run(view, proposal, config, data, device=device, checkpoint=checkpoint, on_epoch=on_epoch)
    if res.arch is not None:
        old = res.arch.meta.get("source", "")
        tail = old.split(" on ", 1)[1] if " on " in old else old
        meta = {**res.arch.meta, "name": f"{label} search {proposal.id}", "source": f"{source} on {tail}"}
        meta.pop("order", None)
        res = dataclasses.replace(res, arch=Architecture(res.arch.space, cells=res.arch.cells, meta=meta))
    if res.error:
        res = dataclasses.replace(res, error=res.error.replace("bad DARTS settings", f"bad {label} settings"))
    return res


def strip_prefix(meta: dict[str, Any] | None, prefix: str = "net.") -> dict[str, Any]:
    """``meta`` with the wrapper's parameter-name prefix taken off its keys."""
    return {k.removeprefix(prefix): v for k, v in (meta or {}).items()}


class Gdas(OneShotMethod):
    """GDAS: Gumbel-softmax sampled paths, τ annealed 10 → 0.1 (Dong & Yang, CVPR 2019)."""

    name = "gdas"
    defaults = DEFAULTS

    @classmethod
    def validate(cls, options: dict[str, Any], where: str) -> dict[str, Any]:
        s = dict(options)
        for key in ("tau_max", "tau_min"):
            v = s[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ConfigError(f"{where}: {key} must be a finite number > 0, got {v!r}")
            s[key] = float(v)
        if s["tau_min"] > s["tau_max"]:
            raise ConfigError(f"{where}: tau_min ({s['tau_min']:g}) must not exceed tau_max ({s['tau_max']:g})")
        if s["hessian_every"] != 0:
            raise ConfigError(f"{where}: hessian_every must be 0: the validation loss of GDAS' one-hot path does "
                              f"not depend smoothly on alpha, so it has no Hessian to track")
        inner = Darts.validate({**{k: s[k] for k in DARTS_DEFAULTS if k != "order"}, "order": 1}, where)
        return {**{k: v for k, v in inner.items() if k != "order"}, "tau_max": s["tau_max"], "tau_min": s["tau_min"]}

    def describe(self) -> str:
        return f"GDAS (tau {self.options['tau_max']:g} -> {self.options['tau_min']:g})"

    def tau(self, epoch: int, epochs: int) -> float:
        """The temperature of epoch ``epoch`` (0-based) of ``epochs``: linear from τ_max to τ_min."""
        hi, lo = self.options["tau_max"], self.options["tau_min"]
        return hi - (hi - lo) * min(epoch, epochs - 1) / max(epochs - 1, 1)

    def run(self, space: Any, proposal: Proposal, config: Any, data: Any, *, device: Any,
            checkpoint: str | Path | None = None,
            on_epoch: Callable[[dict[str, Any]], Any] | None = None) -> Result:
        from nas.nn.mixed_ops import SampledSupernet

        opts = self.options
        darts = Darts(**{k: opts[k] for k in DARTS_DEFAULTS if k != "order"}, order=1)
        epochs = int(config.epochs)

        def wrap(net: Any) -> Any:
            try:
                return SampledSupernet(net, probe_shape(data.info), gumbel=True,
                                       tau=lambda e: self.tau(e, epochs))
            except ValueError as e:
                raise ConfigError(f"GDAS cannot sample the supernet of space {space.name!r}: {e}") from e

        def derive(sp: Any, wrapper: Any, meta: dict[str, Any] | None) -> Architecture:
            return sp.derive(wrapper.net, strip_prefix(meta))

        view = SupernetView(space, wrap, {"gdas_tau": [opts["tau_max"], opts["tau_min"]]}, derive)
        return run_darts_loop(darts, view, "GDAS", "GDAS (Dong & Yang 2019)", proposal, config, data, device,
                              checkpoint, on_epoch)


class GdasStrategy(OneShotStrategy):
    """GDAS one-shot search (Dong & Yang, CVPR 2019): the :class:`Gdas` method as a strategy."""

    name = "gdas"
    method_name = "gdas"

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None,
                 w_lr: float = 0.025, w_lr_min: float = 0.001, w_momentum: float = 0.9, w_weight_decay: float = 3e-4,
                 w_grad_clip: float = 5.0, alpha_lr: float = 3e-4, alpha_weight_decay: float = 1e-3,
                 train_portion: float = 0.5, alpha_init: str = "randn", hessian_every: int = 0,
                 hessian_iters: int = 20, guards: list[str] | str | None = None, early_stop_window: int = 5,
                 early_stop_ratio: float = 0.75, max_skips: int = 2, table: str = "auto", tau_max: float = 10.0,
                 tau_min: float = 0.1) -> None:
        # hessian_every ... table: DARTS' collapse diagnostics and guards (hessian_every must stay 0 for GDAS)
        super().__init__(space, seed=seed, objective=objective, w_lr=w_lr, w_lr_min=w_lr_min, w_momentum=w_momentum,
                         w_weight_decay=w_weight_decay, w_grad_clip=w_grad_clip, alpha_lr=alpha_lr,
                         alpha_weight_decay=alpha_weight_decay, train_portion=train_portion, alpha_init=alpha_init,
                         hessian_every=hessian_every, hessian_iters=hessian_iters,
                         guards=[] if guards is None else guards, early_stop_window=early_stop_window,
                         early_stop_ratio=early_stop_ratio, max_skips=max_skips, table=table,
                         tau_max=tau_max, tau_min=tau_min)

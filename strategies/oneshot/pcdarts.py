"""PC-DARTS as a one-shot method (Xu et al., "PC-DARTS: Partial Channel Connections for
Memory-Efficient Architecture Search", ICLR 2020).

The space's supernet with every mixed op replaced by a **partial channel connection** (§3.2,
:class:`nas.nn.mixed_ops.PartialChannelMixedOp`): the ops see ``1/K`` of an edge's channels
(K = 4), the rest bypass them (a 2x2 max pool on reduction edges), and a channel shuffle mixes
the two parts. **Edge normalization** (§3.3): each edge's output is scaled by the softmax, over a
node's input edges, of a per-edge β; β is an architecture parameter beside α, trained with it.
The derived architecture uses the product ``softmax(β)_edge · softmax(α)_op`` (§3.3, eq. 4): the
space's rule is applied to architecture weights whose rows carry that product (the row's
remaining mass on the supernet-only ``none`` op, which every rule that compares edges ignores;
β is rescaled so that each node's largest is 1, which keeps the ranking of §3.3). In a space where
``none`` is an op of the architectures (a rule that keeps every edge, e.g. NB201's argmax per
edge), β cannot change the choice and α alone is used.

Loop, data split, optimizers, checkpoints and resume are DARTS' (:class:`~strategies.oneshot.
darts.Darts`). Defaults: the paper's CIFAR-10 values (§4.2): weights SGD lr 0.1 cosine to 0,
momentum 0.9, weight decay 3e-4; α and β Adam lr 6e-4, weight decay 1e-3; K = 4; first order.
Deviations: the paper's 15 warm-up epochs without architecture updates are not applied (the
DARTS loop updates α from the first step), and its batch size 256 is the search config's
``--batch-size``; the ``skip_cap`` guard is refused. An edge whose channel count K does not
divide fails the trial (bad settings).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from nas.arch import Architecture
from nas.errors import ConfigError
from nas.objectives import Objective
from nas.types import Proposal, Result
from search_spaces.base import SearchSpace
from strategies.oneshot.base import OneShotMethod
from strategies.oneshot.darts import DEFAULTS as DARTS_DEFAULTS
from strategies.oneshot.darts import Darts
from strategies.oneshot.gdas import SupernetView, probe_shape, run_darts_loop, strip_prefix
from strategies.oneshot.strategy import OneShotStrategy

#: the paper's CIFAR-10 search settings over the DARTS option names, plus K
DEFAULTS: dict[str, Any] = {**DARTS_DEFAULTS, "w_lr": 0.1, "w_lr_min": 0.0, "alpha_lr": 6e-4, "k": 4}


def product_alphas(net: Any, edge_weights: list[list[float]], none: int | None) -> list[torch.Tensor]:
    """Architecture parameters whose row softmax is ``β̃_r · softmax(α_r)``, leftover on ``none``.

    ``β̃`` is each node's β normalised to a largest value of 1. Only the α parameters (the first
    ``len(edge_weights)``) are returned.
    """
    out = []
    for a, beta in zip(net.arch_parameters(), edge_weights):
        p = torch.softmax(a.detach().float(), dim=-1)
        b = torch.tensor(beta, dtype=p.dtype, device=p.device).unsqueeze(1)
        q = p * b
        if none is not None:
            q[:, none] += 1.0 - q.sum(dim=1)
        out.append(torch.log(q.clamp_min(1e-30)))
    return out


class PcDarts(OneShotMethod):
    """PC-DARTS: partial channels (K = 4) and edge normalization (Xu et al., ICLR 2020)."""

    name = "pcdarts"
    defaults = DEFAULTS

    @classmethod
    def validate(cls, options: dict[str, Any], where: str) -> dict[str, Any]:
        s = dict(options)
        k = s["k"]
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ConfigError(f"{where}: k must be an integer >= 1 (1/k of the channels go through the ops), got {k!r}")
        inner = Darts.validate({key: s[key] for key in DARTS_DEFAULTS}, where)
        if "skip_cap" in inner["guards"]:
            raise ConfigError(f"{where}: guards: skip_cap is not offered with PC-DARTS (its edge weights are "
                              f"alpha x beta; masking alpha alone would not cap the derived skips)")
        return {**inner, "k": k}

    def describe(self) -> str:
        return f"PC-DARTS (K={self.options['k']}, {'second' if self.options['order'] == 2 else 'first'} order)"

    def run(self, space: Any, proposal: Proposal, config: Any, data: Any, *, device: Any,
            checkpoint: str | Path | None = None,
            on_epoch: Callable[[dict[str, Any]], Any] | None = None) -> Result:
        from nas.nn.mixed_ops import EdgeNormalizedSupernet

        k = self.options["k"]
        darts = Darts(**{key: self.options[key] for key in DARTS_DEFAULTS})

        def wrap(net: Any) -> Any:
            try:
                return EdgeNormalizedSupernet(net, probe_shape(data.info), k=k)
            except ValueError as e:
                raise ConfigError(f"PC-DARTS cannot build partial channels on space {space.name!r}: {e}") from e

        view = SupernetView(space, wrap, {"pc_k": k}, self._derive)
        return run_darts_loop(darts, view, "PC-DARTS", f"PC-DARTS (K={k}, Xu et al. 2020)", proposal, config,
                              data, device, checkpoint, on_epoch)

    @staticmethod
    def _derive(space: Any, wrapper: Any, meta: dict[str, Any] | None) -> Architecture:
        """The space's rule on the α·β product (see the module docstring)."""
        net = wrapper.net
        prims = list(wrapper.primitives)
        ops = set(getattr(space, "ops", ()))
        meta = {k: v for k, v in strip_prefix(meta).items() if not k.startswith("betas.")}
        betas = wrapper.edge_weights()
        if meta:
            meta["edge_weights"] = betas
        if "none" not in prims or "none" in ops:
            return space.derive(net, meta)
        scaled = [_per_node(bs, grp) for bs, grp in zip(betas, wrapper.norm.groups)]
        alphas = list(net.arch_parameters())
        saved = [a.detach().clone() for a in alphas]
        try:
            with torch.no_grad():
                for a, new in zip(alphas, product_alphas(net, scaled, prims.index("none"))):
                    a.copy_(new)
            return space.derive(net, meta)
        finally:
            with torch.no_grad():
                for a, old in zip(alphas, saved):
                    a.copy_(old)


def _per_node(beta: list[float], groups: list[list[int]]) -> list[float]:
    """Each row's β divided by the largest β of its node."""
    out = list(beta)
    for rows in groups:
        top = max(beta[r] for r in rows)
        for r in rows:
            out[r] = beta[r] / top
    return out


class PcDartsStrategy(OneShotStrategy):
    """PC-DARTS one-shot search (Xu et al., ICLR 2020): the :class:`PcDarts` method as a strategy."""

    name = "pcdarts"
    method_name = "pcdarts"

    def __init__(self, space: SearchSpace, *, seed: int = 0, objective: Objective | None = None,
                 order: int = 1, w_lr: float = 0.1, w_lr_min: float = 0.0, w_momentum: float = 0.9,
                 w_weight_decay: float = 3e-4, w_grad_clip: float = 5.0, alpha_lr: float = 6e-4,
                 alpha_weight_decay: float = 1e-3, train_portion: float = 0.5, alpha_init: str = "randn",
                 hessian_every: int = 1, hessian_iters: int = 20, guards: list[str] | str | None = None,
                 early_stop_window: int = 5, early_stop_ratio: float = 0.75, max_skips: int = 2,
                 table: str = "auto", k: int = 4) -> None:
        # hessian_every ... table: DARTS' collapse diagnostics and guards (skip_cap is refused)
        super().__init__(space, seed=seed, objective=objective, order=order, w_lr=w_lr, w_lr_min=w_lr_min,
                         w_momentum=w_momentum, w_weight_decay=w_weight_decay, w_grad_clip=w_grad_clip,
                         alpha_lr=alpha_lr, alpha_weight_decay=alpha_weight_decay, train_portion=train_portion,
                         alpha_init=alpha_init, hessian_every=hessian_every, hessian_iters=hessian_iters,
                         guards=[] if guards is None else guards, early_stop_window=early_stop_window,
                         early_stop_ratio=early_stop_ratio, max_skips=max_skips, table=table, k=k)

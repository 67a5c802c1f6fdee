"""Guards against the collapse of differentiable search, selectable by option (``guards``).

Two of the published remedies, chosen because both work for every one-shot method and every
space with a supernet without changing the supernet or the method's update rule, and because
they address the two visible symptoms the diagnostics (:mod:`strategies.oneshot.diagnostics`)
measure:

* ``early_stop`` — RobustDARTS' DARTS-ES (Zela et al., ICLR 2020, §5.1): the search stops when
  the dominant Hessian eigenvalue of the validation loss w.r.t. α has grown too fast, and the
  architecture of ``k`` epochs before is returned. With λ̄(i) the mean eigenvalue over the
  ``k`` (``early_stop_window``, paper: 5) measurements up to epoch i, it stops at epoch i when
  λ̄(i − k) / λ̄(i) < ``early_stop_ratio`` (paper: 0.75). It reuses the eigenvalue the
  diagnostics compute anyway (``hessian_every`` must be > 0).
* ``skip_cap`` — P-DARTS' search-space regularization (Chen et al., ICCV 2019, §3.3): the
  derived normal cell keeps at most ``max_skips`` (paper: M = 2) skip connections; while it has
  more, the skip with the lowest architecture weight is excluded and the cell re-derived, so
  that edge takes its next-best op under the space's own rule.

DARTS- (Chu et al., ICLR 2021) was not chosen: its auxiliary skip branch changes every mixed
op of every supernet (and so every method's forward pass), while the two above are cheap
post-hoc checks whose effect is directly visible in the curves.

A cell is "normal" unless its name contains ``reduce``; an architecture parameter belongs to
the normal cell(s) unless its name contains ``reduce`` (``alphas_normal`` / ``alphas`` of NB201).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from nas.arch import Architecture
from strategies.oneshot.diagnostics import count_op

GUARDS = ("early_stop", "skip_cap")
SKIP = "skip_connect"


def _normal_cells(arch: Architecture) -> list[str]:
    assert arch.cells is not None
    return [c for c in arch.cells if "reduce" not in c]


def capped_derive(space: Any, supernet: Any, meta: dict[str, Any], max_skips: int) -> Architecture:
    """``space.derive`` with at most ``max_skips`` skip connections in the normal cell(s) (P-DARTS §3.3).

    The architecture parameters are masked only while deriving (restored afterwards); ``meta``
    (which carries the true softmax weights) is passed through, plus ``skips_removed``.
    """
    arch = space.derive(supernet, meta)
    if SKIP not in supernet.primitives or count_op(arch, SKIP, _normal_cells(arch)) <= max_skips:
        return arch
    s = list(supernet.primitives).index(SKIP)
    names = {id(p): n for n, p in supernet.named_parameters()}
    params = [a for a in supernet.arch_parameters() if "reduce" not in names.get(id(a), "")]
    saved = [a.detach().clone() for a in params]
    removed = 0
    try:
        while count_op(arch, SKIP, _normal_cells(arch)) > max_skips:
            # rows where skip still wins; drop the one with the weakest skip weight
            best: tuple[float, int, int] | None = None
            for pi, a in enumerate(params):
                rows = torch.softmax(a.detach().reshape(-1, a.shape[-1]), dim=-1)
                for r in range(rows.shape[0]):
                    if torch.isfinite(a.detach().reshape(-1, a.shape[-1])[r, s]) and int(rows[r].argmax()) == s:
                        w = float(rows[r, s])
                        if best is None or w < best[0]:
                            best = (w, pi, r)
            if best is None:
                break
            _, pi, r = best
            with torch.no_grad():
                params[pi].view(-1, params[pi].shape[-1])[r, s] = float("-inf")
            removed += 1
            arch = space.derive(supernet, meta)
    finally:
        with torch.no_grad():
            for a, old in zip(params, saved):
                a.copy_(old)
    return Architecture(arch.space, cells=arch.cells, meta={**arch.meta, "skips_removed": removed})


def should_stop_early(eigenvalues: Sequence[float], window: int, ratio: float) -> bool:
    """DARTS-ES (Zela et al. 2020, §5.1): mean of the ``window`` values before the last ``window``,
    over the mean of the last ``window``, is below ``ratio`` (needs ``2·window`` values)."""
    if len(eigenvalues) < 2 * window:
        return False
    recent = sum(eigenvalues[-window:]) / window
    before = sum(eigenvalues[-2 * window:-window]) / window
    return recent > 0 and before / recent < ratio


def check_guards(value: Any, where: str) -> list[str]:
    """``guards`` as a list of known guard names (a list, or one comma-separated string)."""
    from nas.errors import ConfigError

    if value is None:
        return []
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise ConfigError(f"{where}: guards must be a list of {', '.join(GUARDS)}, got {value!r}")
    bad = [v for v in items if v not in GUARDS]
    if bad:
        raise ConfigError(f"{where}: guards: unknown guard(s) {', '.join(bad)}; known: {', '.join(GUARDS)}")
    return sorted(set(items), key=GUARDS.index)

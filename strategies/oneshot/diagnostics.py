"""Collapse diagnostics of a one-shot search, recorded per epoch in the trial's history.

Differentiable search tends to *collapse* onto parameter-free operations: DARTS on NAS-Bench-201
ends in an all-skip cell (Dong & Yang, ICLR 2020, §5), and on the DARTS spaces the number of
skip connections grows with the search epochs (Chen et al., ICCV 2019, P-DARTS, §3.3). Zela et al.
(ICLR 2020, RobustDARTS, §4) tie the degradation to the curvature of the validation loss in the
architecture parameters: the dominant eigenvalue of ∇²_α L_val grows as the search overfits.
The per-epoch measures here:

* :func:`param_free_share`: the share of parameter-free ops (``none``, ``skip_connect`` and the
  pooling ops) among the edges of the derived architecture;
* :func:`mean_entropy`: the mean entropy (nats) of the softmax distribution on each edge (each
  row of each architecture parameter); ``log(#ops)`` for a uniform α, 0 for a one-hot one;
* :func:`dominant_eigenvalue`: the dominant eigenvalue of the Hessian of the validation loss
  with respect to all architecture parameters, by power iteration on exact Hessian-vector
  products (double backward), on a fixed validation batch.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from nas.arch import Architecture
from nas.cell import inner_nodes, node_inputs


def is_param_free(op: str) -> bool:
    """Whether ``op`` has no weights: ``none``, ``skip_connect`` (identity) or a pooling op."""
    return op in ("none", "skip_connect") or "pool" in op


def arch_ops(arch: Architecture, cells: Sequence[str] | None = None) -> list[str]:
    """The op on every edge of ``arch`` (all cells, or only ``cells``), in node order."""
    assert arch.cells is not None
    return [op for name, g in arch.cells.items() if cells is None or name in cells
            for node in inner_nodes(g) for op, _ in node_inputs(g, node)]


def param_free_share(arch: Architecture) -> float:
    """The share of edges of ``arch`` whose op is parameter-free (:func:`is_param_free`)."""
    ops = arch_ops(arch)
    return sum(map(is_param_free, ops)) / len(ops) if ops else 0.0


def count_op(arch: Architecture, op: str, cells: Sequence[str] | None = None) -> int:
    """How many edges of ``arch`` (or of its ``cells``) carry ``op``."""
    return sum(o == op for o in arch_ops(arch, cells))


def mean_entropy(supernet: Any) -> float:
    """Mean entropy (nats) of softmax(α) over every row of every architecture parameter."""
    rows = []
    with torch.no_grad():
        for a in supernet.arch_parameters():
            p = F.softmax(a.detach().double().reshape(-1, a.shape[-1]), dim=-1)
            rows.append(-(p * torch.log(p.clamp_min(1e-300))).sum(-1))
    return float(torch.cat(rows).mean()) if rows else 0.0


def hvp_fn(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
           criterion: Callable[..., torch.Tensor] | None = None
           ) -> Callable[[Sequence[torch.Tensor]], list[torch.Tensor]]:
    """``v -> ∇²_α L(x, y) · v`` for the architecture parameters α of ``model`` (exact, double backward).

    The gradient graph is built once and reused by every product.
    """
    criterion = criterion or nn.CrossEntropyLoss()
    alphas = list(model.arch_parameters())  # type: ignore[operator]
    loss = criterion(model(x), y)
    grads = torch.autograd.grad(loss, alphas, create_graph=True, allow_unused=True)
    grads = [torch.zeros_like(a) if g is None else g for a, g in zip(alphas, grads)]

    def product(vector: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        dot = sum((g * v).sum() for g, v in zip(grads, vector))
        out = torch.autograd.grad(dot, alphas, retain_graph=True, allow_unused=True)
        return [torch.zeros_like(a) if h is None else h.detach() for a, h in zip(alphas, out)]

    return product


def dominant_eigenvalue(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, iters: int = 20,
                        tol: float = 1e-3, seed: int = 0) -> float:
    """The dominant eigenvalue of ∇²_α L_val at ``(x, y)`` (RobustDARTS, Zela et al. 2020, §4).

    Power iteration from a seeded random unit vector: ``v ← Hv / ‖Hv‖``, with the Rayleigh
    quotient ``vᵀHv`` as the estimate, for at most ``iters`` Hessian-vector products or until two
    successive estimates differ by less than ``tol`` (relative). This is the eigenvalue of
    largest magnitude; near the end of a search it is the largest (positive) one that
    RobustDARTS tracks. The model's parameters and their ``.grad`` are left untouched; the
    product runs in the model's current mode (BatchNorm of the search networks uses batch
    statistics, so the batch fixes the function).
    """
    product = hvp_fn(model, x, y)
    alphas = list(model.arch_parameters())  # type: ignore[operator]
    gen = torch.Generator().manual_seed(seed)
    v = [torch.randn(a.shape, generator=gen, dtype=a.dtype).to(a.device) for a in alphas]
    estimate = math.nan
    for _ in range(max(1, iters)):
        norm = torch.sqrt(sum((t.double() ** 2).sum() for t in v))
        if not float(norm) > 0:
            return 0.0
        v = [t / norm.to(t.dtype) for t in v]
        hv = product(v)
        new = float(sum((a.double() * b.double()).sum() for a, b in zip(v, hv)))
        converged = math.isfinite(estimate) and abs(new - estimate) <= tol * max(abs(new), 1e-12)
        estimate, v = new, hv
        if converged:
            break
    return estimate


def explicit_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The full Hessian ∇²_α L at ``(x, y)`` as an ``(n, n)`` matrix (n = all α entries; small supernets only)."""
    alphas = list(model.arch_parameters())  # type: ignore[operator]
    product = hvp_fn(model, x, y)
    n = sum(a.numel() for a in alphas)
    cols = []
    for k in range(n):
        e = torch.zeros(n, dtype=alphas[0].dtype, device=alphas[0].device)
        e[k] = 1.0
        parts, start = [], 0
        for a in alphas:
            parts.append(e[start:start + a.numel()].view_as(a))
            start += a.numel()
        cols.append(torch.cat([h.reshape(-1) for h in product(parts)]))
    return torch.stack(cols, dim=1)

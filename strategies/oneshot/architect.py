"""The DARTS architecture step, first and second order (Liu et al., ICLR 2019, §2.3, eqs. 6-8).

The bilevel problem min_α L_val(w*(α), α) s.t. w*(α) = argmin_w L_train(w, α) is
approximated with one unrolled weight step ``w′ = w − ξ·∇_w L_train(w, α)``; the
architecture gradient is then

    ∇_α L_val(w′, α) − ξ · ∇²_{α,w} L_train(w, α) · ∇_{w′} L_val(w′, α).

* ``order=1``: ξ = 0, i.e. just ∇_α L_val(w, α) on the validation batch.
* ``order=2``: ξ = the weight optimizer's current learning rate (paper footnote 1). As in
  quark0's ``architect._compute_unrolled_model`` the unrolled step is the SGD step the weight
  optimizer would take: ``w′ = w − ξ·(μ·buf + ∇_w L_train + λ·w)`` with the momentum buffer
  ``buf`` (absent before the first weight step) and weight decay λ (the paper: "modified
  accordingly" when momentum is used). The Hessian-vector product is the central finite
  difference ``[∇_α L_train(w⁺, α) − ∇_α L_train(w⁻, α)] / (2ε)`` with
  ``w± = w ± ε·∇_{w′}L_val(w′, α)`` and ``ε = 0.01 / ‖∇_{w′}L_val(w′, α)‖₂``. The division is
  by ``2ε`` (khanrc/pt.darts divides by 2 and multiplies by ε, which is not the paper's eq. 8).

The alphas are then updated by Adam (lr 3e-4, betas (0.5, 0.999), weight decay 1e-3 as L2 on
the gradient, quark0 ``architect.py``).

Implementation notes (deviations that do not change the maths): the unrolled and perturbed
networks are evaluated with ``torch.func.functional_call`` instead of copying the model or
editing weights in place, so the weights are never perturbed and restored (quark0's in-place
``+R, −2R, +R`` round trip is not bit-exact); these extra forward passes run on copies of the
BatchNorm buffers, so only the real weight step and the first-order alpha step update the
running statistics (quark0 also discards the unrolled model's statistics, but lets its ±ε
passes update the model's).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.func import functional_call

#: r in ε = r / ‖∇_{w′} L_val‖ (quark0 ``_hessian_vector_product(..., r=1e-2)``)
FD_RADIUS = 1e-2


def _grad(loss: torch.Tensor, inputs: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """``autograd.grad`` with zeros for unused inputs (e.g. ``alphas_normal`` when every cell reduces)."""
    grads = torch.autograd.grad(loss, inputs, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(inputs, grads)]


class Architect:
    """Updates ``model.arch_parameters()`` from validation batches (see the module docstring).

    ``model`` must provide ``arch_parameters()`` and ``named_weights()`` (``DartsSupernet``).
    ``w_momentum``/``w_weight_decay`` must be those of the weight optimizer passed to
    :meth:`step`; they define the unrolled step of the second-order approximation.
    """

    def __init__(self, model: nn.Module, *, order: int = 1, lr: float = 3e-4, weight_decay: float = 1e-3,
                 w_momentum: float = 0.9, w_weight_decay: float = 3e-4, fd_radius: float = FD_RADIUS) -> None:
        if order not in (1, 2):
            raise ValueError(f"order must be 1 or 2, got {order!r}")
        self.model, self.order = model, order
        self.w_momentum, self.w_weight_decay = w_momentum, w_weight_decay
        self.fd_radius = fd_radius
        self.alphas: list[nn.Parameter] = list(model.arch_parameters())  # type: ignore[operator]
        names = {id(p): n for n, p in model.named_parameters()}
        self.alpha_names = [names[id(a)] for a in self.alphas]
        self.optimizer = torch.optim.Adam(self.alphas, lr=lr, betas=(0.5, 0.999), weight_decay=weight_decay)
        self.criterion = nn.CrossEntropyLoss()

    # -- the step ----------------------------------------------------------------------
    def step(self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor, y_val: torch.Tensor,
             lr: float, w_optimizer: torch.optim.Optimizer) -> torch.Tensor:
        """One Adam step on the alphas; returns the validation loss (detached)."""
        if self.order == 1:
            loss = self.criterion(self.model(x_val), y_val)
            grads = _grad(loss, self.alphas)
        else:
            grads, loss = self.hypergradient(x_train, y_train, x_val, y_val, lr, w_optimizer)
        self.optimizer.zero_grad(set_to_none=True)
        for a, g in zip(self.alphas, grads):
            a.grad = g
        self.optimizer.step()
        return loss.detach()

    # -- second order -------------------------------------------------------------------
    def _loss(self, names: Sequence[str], weights: Sequence[torch.Tensor], buffers: dict[str, torch.Tensor],
              x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """L(w, α) on (x, y) with the weights replaced by ``weights`` (the model is untouched)."""
        tensors: dict[str, torch.Tensor] = dict(zip(names, weights))
        tensors.update(zip(self.alpha_names, self.alphas))
        tensors.update(buffers)
        return self.criterion(functional_call(self.model, tensors, (x,)), y)

    def unrolled_weights(self, names: Sequence[str], weights: Sequence[torch.Tensor],
                         buffers: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, lr: float,
                         w_optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
        """``w′ = w − ξ·(μ·buf + ∇_w L_train(w, α) + λ·w)`` (quark0 ``_compute_unrolled_model``)."""
        grads = _grad(self._loss(names, weights, buffers, x, y), weights)
        out = []
        with torch.no_grad():
            for w, g in zip(weights, grads):
                d = g + self.w_weight_decay * w
                buf = w_optimizer.state.get(w, {}).get("momentum_buffer")
                if buf is not None:
                    d = d + self.w_momentum * buf
                out.append((w - lr * d).requires_grad_(True))
        return out

    def hypergradient(self, x_train: torch.Tensor, y_train: torch.Tensor, x_val: torch.Tensor,
                      y_val: torch.Tensor, lr: float, w_optimizer: torch.optim.Optimizer
                      ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The second-order alpha gradient (eq. 7 with the finite difference of eq. 8) and L_val(w′)."""
        named = self.model.named_weights()  # type: ignore[operator]
        names = [n for n, _ in named]
        weights = [p for _, p in named]
        buffers = {n: b.clone() for n, b in self.model.named_buffers()}
        unrolled = self.unrolled_weights(names, weights, buffers, x_train, y_train, lr, w_optimizer)
        val_loss = self._loss(names, unrolled, buffers, x_val, y_val)
        grads = _grad(val_loss, [*self.alphas, *unrolled])
        d_alpha, d_w = grads[:len(self.alphas)], grads[len(self.alphas):]
        implicit = self.hessian_vector_product(names, weights, buffers, d_w, x_train, y_train)
        return [da - lr * h for da, h in zip(d_alpha, implicit)], val_loss

    def hessian_vector_product(self, names: Sequence[str], weights: Sequence[torch.Tensor],
                               buffers: dict[str, torch.Tensor], vector: Sequence[torch.Tensor],
                               x: torch.Tensor, y: torch.Tensor, r: float | None = None) -> list[torch.Tensor]:
        """``∇²_{α,w} L_train(w, α) · v`` by central differences with ε = r / ‖v‖ (eq. 8).

        ``r`` defaults to ``fd_radius`` (quark0: 0.01). In a ReLU/max-pool network ∇_α L is
        discontinuous in w wherever a unit switches, so at quark0's radius the difference
        quotient also picks up those jumps; it matches the autograd Hessian-vector product only
        when no unit switches (smooth activations, or a tiny radius in float64).
        """
        r = self.fd_radius if r is None else r
        with torch.no_grad():
            norm = torch.sqrt(sum((v.double() ** 2).sum() for v in vector)).clamp_min(1e-12)  # v = 0: zero product
            eps = (r / norm).to(vector[0].dtype)
            w_plus = [w + eps * v for w, v in zip(weights, vector)]
            w_minus = [w - eps * v for w, v in zip(weights, vector)]
        g_plus = _grad(self._loss(names, w_plus, buffers, x, y), self.alphas)
        g_minus = _grad(self._loss(names, w_minus, buffers, x, y), self.alphas)
        return [(p - m) / (2 * eps) for p, m in zip(g_plus, g_minus)]

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)

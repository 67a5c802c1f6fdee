"""Zero-cost proxies: scores of an untrained network from one minibatch of the search dataset.

Each proxy builds nothing itself: it takes an initialised ``nn.Module`` and one batch ``(x, y)``
and returns a float where larger means "predicted to train better".

* ``naswot`` -- Mellor et al., "Neural Architecture Search without Training", ICML 2021, §3:
  the binary ReLU activation code ``c_i`` of every sample; ``K[i, j]`` = number of units where
  samples i and j agree (``c c^T + (1-c)(1-c)^T``); score ``log |det K|``.
* ``synflow`` -- Tanaka et al. 2020 as used by Abdelfattah et al., "Zero-Cost Proxies for
  Lightweight NAS", ICLR 2021, §3: parameters replaced by their absolute values, an all-ones
  input, ``R = sum(f(1))``; score ``sum |theta * dR/dtheta|`` (in double precision, BatchNorm in
  eval mode so it uses its initial running statistics).
* ``snip`` -- Lee et al. 2019 via Abdelfattah et al. 2021: ``sum |theta * dL/dtheta|`` of the
  cross-entropy loss on the batch, over conv and linear weights.
* ``grad_norm`` -- Abdelfattah et al. 2021: the sum over conv and linear layers of the
  Euclidean norm of the loss gradient of their weights.
* ``jacob_cov`` -- Mellor et al. 2020 (arXiv v1 of the paper above), §3: the Jacobian of the
  summed output with respect to each input, flattened per sample; ``v`` = eigenvalues of their
  correlation matrix; score ``-sum(log(v + k) + 1 / (v + k))`` with ``k = 1e-5``.

:func:`proxy_scores` computes a list of them for one architecture, each on a freshly seeded
model (the proxies modify weights or gradients), and records the seconds they took. ``torch``
is imported at module import: this module is only imported by code that builds models.
"""
from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from nas.errors import ConfigError

#: the ``k`` of the jacob_cov score (Mellor et al. 2020 v1)
JACOB_K = 1e-5


def _logits(out: Any) -> Tensor:
    """The main output of a network that may also return an auxiliary head's."""
    return out[0] if isinstance(out, (tuple, list)) else out


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _loss_backward(model: nn.Module, x: Tensor, y: Tensor) -> None:
    model.train()
    model.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(_logits(model(x)), y)
    loss.backward()


def naswot(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """``log |det K_H|`` of the ReLU activation codes (Mellor et al., ICML 2021, Eq. 2)."""
    n = x.shape[0]
    K = torch.zeros(n, n, dtype=torch.float64)

    def hook(_m: nn.Module, inputs: tuple[Tensor, ...], _out: Tensor) -> None:
        c = (inputs[0].detach().reshape(n, -1) > 0).double()
        K.add_(c @ c.t() + (1.0 - c) @ (1.0 - c).t())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.ReLU, nn.ReLU6))]
    if not handles:
        raise ConfigError("proxy 'naswot' needs ReLU units, and this network has none")
    try:
        model.train()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(K)
    return float(logdet) if float(sign) != 0.0 else -math.inf


def synflow(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """``sum |theta * dR/dtheta|`` for ``R = sum(f(1))`` with ``|theta|`` (Tanaka et al. 2020)."""
    model = model.double()
    with torch.no_grad():
        signs = [p.sign() for p in model.parameters()]
        for p in model.parameters():
            p.abs_()
    model.eval()
    model.zero_grad(set_to_none=True)
    ones = torch.ones((1, *x.shape[1:]), dtype=torch.float64, device=x.device)
    _logits(model(ones)).sum().backward()
    total = 0.0
    with torch.no_grad():
        for m in _weighted_layers(model):
            if m.weight.grad is not None:
                total += float((m.weight * m.weight.grad).abs().sum())
        for p, s in zip(model.parameters(), signs):
            p.mul_(s)
    return total


def snip(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """``sum |theta * dL/dtheta|`` over conv and linear weights (Lee et al. 2019)."""
    _loss_backward(model, x, y)
    with torch.no_grad():
        return float(sum((m.weight * m.weight.grad).abs().sum() for m in _weighted_layers(model)
                         if m.weight.grad is not None))


def grad_norm(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """Sum of per-layer gradient norms of the conv and linear weights (Abdelfattah et al. 2021)."""
    _loss_backward(model, x, y)
    with torch.no_grad():
        return float(sum(m.weight.grad.norm() for m in _weighted_layers(model) if m.weight.grad is not None))


def jacob_cov(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """``-sum(log(v + k) + 1/(v + k))`` of the eigenvalues of the input-Jacobian correlations."""
    model.train()
    model.zero_grad(set_to_none=True)
    xin = x.detach().clone().requires_grad_(True)
    _logits(model(xin)).sum().backward()
    assert xin.grad is not None
    J = xin.grad.reshape(x.shape[0], -1).double()
    J = J - J.mean(dim=1, keepdim=True)
    norms = J.norm(dim=1, keepdim=True).clamp_min(1e-12)
    corr = (J / norms) @ (J / norms).t()
    v = torch.linalg.eigvalsh(corr).clamp_min(0.0)
    return float(-(torch.log(v + JACOB_K) + 1.0 / (v + JACOB_K)).sum())


#: name -> proxy function ``(model, x, y) -> float``
PROXIES: dict[str, Callable[[nn.Module, Tensor, Tensor], float]] = {
    "naswot": naswot, "synflow": synflow, "snip": snip, "grad_norm": grad_norm, "jacob_cov": jacob_cov,
}


def check_proxies(names: Any) -> list[str]:
    """Validate a list of proxy names (from YAML or the CLI); ConfigError naming the known ones."""
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"proxies must be a list of names, got {names!r}")
    bad = [n for n in names if n not in PROXIES]
    if bad:
        raise ConfigError(f"unknown proxy {bad[0]!r}; known: {', '.join(PROXIES)}")
    return list(dict.fromkeys(names))


def proxy_batch(data: Any, batch_size: int, seed: int) -> tuple[Tensor, Tensor]:
    """One seeded minibatch of the training split (the same batch for every architecture of a search)."""
    g = torch.Generator().manual_seed(int(seed))
    x, y = data.train.sample(batch_size, g)
    return x, y


def proxy_scores(build: Callable[[], nn.Module], names: Sequence[str], x: Tensor, y: Tensor,
                 seed: int) -> tuple[dict[str, float], float]:
    """``({"proxy_NAME": score}, seconds)``: each proxy on a model from ``build()`` seeded with ``seed``.

    A proxy that cannot score this network (e.g. ``naswot`` without ReLUs) or gives a
    non-finite value is left out of the scores.
    """
    t0 = time.perf_counter()
    out: dict[str, float] = {}
    for name in check_proxies(list(names)):
        torch.manual_seed(int(seed))
        model = build().to(x.device)
        try:
            value = PROXIES[name](model, x, y)
        except ConfigError:
            continue
        if math.isfinite(value):
            out[f"proxy_{name}"] = value
    return out, time.perf_counter() - t0


def proxy_metrics(space: Any, arch: Any, settings: dict[str, Any], names: Sequence[str], data: Any,
                  batch_size: int, batch_seed: int, seed: int) -> dict[str, float]:
    """The trial metrics of ``names`` for ``arch``: ``proxy_NAME`` per proxy and ``proxy_seconds``.

    The batch is the same for every trial of a search (drawn with ``batch_seed``, the search seed);
    each model starts from ``seed`` (the trial's). Torch's global RNG state is restored afterwards,
    so the trial trains exactly as it would without proxies. Used by :func:`evaluators.candidate.evaluate_candidate` before
    training, so the proxies' time is part of the trial's cost.
    """
    state = torch.get_rng_state()
    try:
        x, y = proxy_batch(data, batch_size, batch_seed)
        scores, secs = proxy_scores(lambda: space.build(arch, **settings), names, x, y, seed)
    finally:
        torch.set_rng_state(state)
    return {**scores, "proxy_seconds": secs}

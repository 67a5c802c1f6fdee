"""The neural predictor of BANANAS: an ensemble of small MLPs on an architecture encoding.

White, Neiswanger & Savani, "BANANAS: Bayesian Optimization with Neural Architectures for
Neural Architecture Search", AAAI 2021, §4-5: an ensemble of feed-forward networks, each trained
from its own random initialisation with Adam on the mean absolute error, predicts the score of
an architecture; the spread of the ensemble is the uncertainty the acquisition function uses.

Encoding (:func:`features`), space-agnostic: the one-hot of every decision of
``space.encode(arch)`` (``space.decisions()``), followed by ``space.path_encoding(arch)`` where
the space offers it (BANANAS' path encoding, §5, e.g. for ``nb201``).

``torch`` is imported only when a predictor is trained. Training is deterministic: the weights
start from a ``torch.Generator`` seeded by the caller, the whole training set is one batch, and
the ensemble trains on one CPU thread (restored afterwards), so the same data and seed give the
same predictions on the same machine and torch build -- a resumed search retrains it exactly.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from nas.arch import Architecture
from search_spaces.base import SearchSpace
from strategies._util import encoding, space_decisions

if TYPE_CHECKING:  # pragma: no cover
    import torch


def features(space: SearchSpace, arch: Architecture) -> list[float] | None:
    """One-hot of ``space.encode(arch)`` plus the space's path encoding; None when neither exists."""
    out: list[float] = []
    decisions = space_decisions(space)
    enc = None if decisions is None else encoding(space, arch)
    if enc is not None and decisions is not None:
        for d, c in zip(decisions, enc):
            row = [0.0] * len(d.options)
            row[c] = 1.0
            out += row
    path = space.path_encoding(arch)
    if path is not None:
        out += [float(v) for v in path]
    return out if (enc is not None or path is not None) else None


def _ensemble_module(n_members: int, n_in: int, hidden: int, layers: int, generator: "torch.Generator") -> Any:
    import torch
    from torch import nn

    class EnsembleMLP(nn.Module):
        """``n_members`` independent MLPs (``layers`` hidden ReLU layers of width ``hidden``), run as one
        batched matrix product per layer; output ``(members, n)``."""

        def __init__(self) -> None:
            super().__init__()
            sizes = [n_in] + [hidden] * layers + [1]
            self.weights = nn.ParameterList()
            self.biases = nn.ParameterList()
            for a, b in zip(sizes[:-1], sizes[1:]):
                bound = (1.0 / a) ** 0.5  # nn.Linear's default uniform range
                w = (torch.rand(n_members, a, b, generator=generator) * 2 - 1) * bound
                bias = (torch.rand(n_members, 1, b, generator=generator) * 2 - 1) * bound
                self.weights.append(nn.Parameter(w))
                self.biases.append(nn.Parameter(bias))

        def forward(self, x: "torch.Tensor") -> "torch.Tensor":
            h = x.unsqueeze(0).expand(len(self.weights[0]), -1, -1)
            last = len(self.weights) - 1
            for i, (w, b) in enumerate(zip(self.weights, self.biases)):
                h = torch.baddbmm(b, h, w)
                if i < last:
                    h = torch.relu(h)
            return h.squeeze(-1)

    return EnsembleMLP()


class EnsemblePredictor:
    """Fit on ``(features, score)`` pairs; predict a mean and a standard deviation per architecture.

    ``members`` MLPs of ``layers`` x ``hidden`` units, ``epochs`` full-batch Adam steps at ``lr``
    on the mean absolute error of standardised scores (White et al. 2021 use 5 members, Adam
    lr 0.01, 200 epochs and the MAE loss).
    """

    def __init__(self, *, members: int = 5, hidden: int = 32, layers: int = 3, epochs: int = 200,
                 lr: float = 0.01) -> None:
        self.members, self.hidden, self.layers, self.epochs, self.lr = members, hidden, layers, epochs, lr
        self.model: Any = None
        self.mu = 0.0
        self.sigma = 1.0

    def fit(self, X: Sequence[Sequence[float]], y: Sequence[float], seed: int) -> "EnsemblePredictor":
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            g = torch.Generator().manual_seed(int(seed))
            xt = torch.tensor(X, dtype=torch.float32)
            yt = torch.tensor(y, dtype=torch.float32)
            self.mu = float(yt.mean())
            self.sigma = float(yt.std()) if len(y) > 1 and float(yt.std()) > 0 else 1.0
            target = (yt - self.mu) / self.sigma
            self.model = _ensemble_module(self.members, xt.shape[1], self.hidden, self.layers, g)
            opt = torch.optim.Adam(self.model.parameters(), lr=self.lr)
            for _ in range(self.epochs):
                opt.zero_grad(set_to_none=True)
                loss = (self.model(xt) - target).abs().mean()
                loss.backward()
                opt.step()
        finally:
            torch.set_num_threads(threads)
        return self

    def predict(self, X: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
        """Per architecture: the ensemble's mean and standard deviation, in score units."""
        import torch

        assert self.model is not None, "fit the predictor first"
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            with torch.no_grad():
                p = self.model(torch.tensor(X, dtype=torch.float32)) * self.sigma + self.mu
        finally:
            torch.set_num_threads(threads)
        std = p.std(dim=0, unbiased=False) if p.shape[0] > 1 else torch.zeros(p.shape[1])
        return p.mean(dim=0).tolist(), std.tolist()

"""The LSTM policy of :mod:`strategies.rl` and of the ENAS one-shot method
(:mod:`strategies.oneshot.enas`), and JSON conversion of torch state.

``Controller`` follows the ENAS controller (Pham et al., ICML 2018, §2.1 and §3.2): a stack of
``LSTMCell`` layers run one step per decision; step 0 reads a learned start vector
(``g_emb``), step ``t`` reads the embedding of the choice made at ``t - 1``; decision ``t``'s
logits come from its own linear head, optionally ``/ temperature`` and then
``tanh_constant · tanh(·)``.

``to_json`` / ``from_json`` turn ``state_dict()`` trees (tensors, int-keyed dicts, tuples)
into plain JSON data and back exactly: float32 values survive the float64 round trip.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn


class Controller(nn.Module):
    """Autoregressive categorical policy over decisions with ``sizes[t]`` options each."""

    def __init__(self, sizes: Sequence[int], hidden: int = 64, layers: int = 1, *,
                 tanh_constant: float | None = None, temperature: float | None = None) -> None:
        super().__init__()
        self.sizes = [int(n) for n in sizes]
        self.hidden, self.tanh_constant, self.temperature = hidden, tanh_constant, temperature
        self.start = nn.Parameter(torch.zeros(1, hidden))
        self.cells = nn.ModuleList(nn.LSTMCell(hidden, hidden) for _ in range(layers))
        self.heads = nn.ModuleList(nn.Linear(hidden, n) for n in self.sizes)
        self.embeds = nn.ModuleList(nn.Embedding(n, hidden) for n in self.sizes[:-1])

    @torch.no_grad()
    def reset_parameters(self, init_range: float, generator: torch.Generator) -> None:
        """Every parameter uniform in ``[-init_range, init_range]`` (ENAS, NASNet)."""
        for p in self.parameters():
            p.uniform_(-init_range, init_range, generator=generator)

    def _step(self, x: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]] | None):
        new_state = []
        for i, cell in enumerate(self.cells):
            h, c = cell(x, None if state is None else state[i])
            new_state.append((h, c))
            x = h
        return x, new_state

    def _logits(self, t: int, h: torch.Tensor) -> torch.Tensor:
        logits = self.heads[t](h)
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _run(self, choices: torch.Tensor | None, generator: torch.Generator | None, batch: int):
        """Teacher-forced on ``choices`` (B×T) or sampled; returns choices, log-prob, entropy."""
        x = self.start.expand(batch, -1)
        state = None
        picks, logp, ent = [], 0.0, 0.0
        for t in range(len(self.sizes)):
            h, state = self._step(x, state)
            log_probs = torch.log_softmax(self._logits(t, h), dim=-1)
            if choices is None:
                a = torch.multinomial(log_probs.exp(), 1, generator=generator).squeeze(1)
            else:
                a = choices[:, t]
            picks.append(a)
            logp = logp + log_probs.gather(1, a.unsqueeze(1)).squeeze(1)
            ent = ent - (log_probs.exp() * log_probs).sum(-1)
            if t + 1 < len(self.sizes):
                x = self.embeds[t](a)
        return torch.stack(picks, 1), logp, ent

    @torch.no_grad()
    def sample(self, generator: torch.Generator, n: int = 1) -> list[list[int]]:
        """``n`` independent choice sequences from the current policy."""
        picks, _, _ = self._run(None, generator, n)
        return [[int(a) for a in row] for row in picks.tolist()]

    def log_prob(self, choices: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Log-probability (with grad) and policy entropy along each choice sequence."""
        c = torch.tensor([list(x) for x in choices], dtype=torch.long)
        _, logp, ent = self._run(c, None, c.shape[0])
        return logp, ent.detach()

    @torch.no_grad()
    def probabilities(self, prefix: Sequence[int] | None = None) -> list[list[float]]:
        """Choice probabilities of every decision along ``prefix`` (most likely choice beyond it)."""
        x, state, out = self.start, None, []
        for t in range(len(self.sizes)):
            h, state = self._step(x, state)
            p = torch.softmax(self._logits(t, h), dim=-1)[0]
            out.append(p.tolist())
            a = int(prefix[t]) if prefix is not None and t < len(prefix) else int(p.argmax())
            if t + 1 < len(self.sizes):
                x = self.embeds[t](torch.tensor([a]))
        return out


def to_json(obj: Any) -> Any:
    """Tensors, tuples and non-string dict keys as plain JSON data (see :func:`from_json`)."""
    if isinstance(obj, torch.Tensor):
        return {"__tensor__": obj.detach().cpu().tolist(), "dtype": str(obj.dtype).removeprefix("torch."),
                "shape": list(obj.shape)}
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj):
            return {k: to_json(v) for k, v in obj.items()}
        return {"__items__": [[to_json(k), to_json(v)] for k, v in obj.items()]}
    if isinstance(obj, tuple):
        return {"__tuple__": [to_json(v) for v in obj]}
    if isinstance(obj, list):
        return [to_json(v) for v in obj]
    return obj


def from_json(obj: Any) -> Any:
    """Inverse of :func:`to_json`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            dtype = getattr(torch, obj["dtype"])
            return torch.tensor(obj["__tensor__"], dtype=dtype).reshape(obj["shape"])
        if "__items__" in obj:
            return {from_json(k): from_json(v) for k, v in obj["__items__"]}
        if "__tuple__" in obj:
            return tuple(from_json(v) for v in obj["__tuple__"])
        return {k: from_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_json(v) for v in obj]
    return obj

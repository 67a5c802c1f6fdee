"""Mixed-op variants of the one-shot methods that share the DARTS supernet.

A space's supernet (e.g. :class:`nas.nn.supernet.DartsSupernet`) puts a
:class:`~nas.nn.supernet.MixedOp` on every candidate edge and calls it as ``op(x, w)`` with the
edge's row ``w`` of the softmax of an architecture parameter. The methods here keep that network
and replace its mixed ops in place (:func:`replace_mixed_ops`), so that they work on any
supernet built from ``MixedOp`` edges, whatever its cell:

* :class:`SampledMixedOp`: one path per edge. In training with Gumbel sampling on, the hard
  Gumbel-softmax sample of GDAS (Dong & Yang, CVPR 2019, §3.2, eq. 5-7: hard one-hot forward,
  softmax gradient backward, temperature τ) computed from ``log w``; otherwise the op of largest
  ``w`` (with one-hot architecture weights: the path chosen by ENAS, Pham et al. ICML 2018, or by
  random search with weight sharing, Li & Talwalkar UAI 2019). Only the chosen op runs.
* :class:`PartialChannelMixedOp`: the partial channel connection of PC-DARTS (Xu et al., ICLR
  2020, §3.2, eq. 2): the mixed op runs on ``1/K`` of the channels, the rest bypass it (through a
  2x2 max pool on reduction edges), then a channel shuffle; its output is scaled by the edge's
  normalised β (edge normalization, §3.3, eq. 4).

The wrappers (:class:`SampledSupernet`, :class:`EdgeNormalizedSupernet`) hold the base network as
``net`` and offer the supernet interface the one-shot methods use: ``arch_parameters()``,
``weights()``, ``named_weights()`` and ``primitives``. Which architecture parameter and row feeds
each edge is found by one probing forward pass (:func:`probe_edges`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from nas.nn.supernet import MixedOp


@dataclass(frozen=True)
class EdgeProbe:
    """What one probing forward pass shows of an edge: channels, stride and its α row."""

    channels: int
    stride: int
    param: int  # index into ``arch_parameters()``
    row: int  # row of that parameter


class _ArchOutputs(TorchFunctionMode):
    """Records the storage of every tensor computed directly from an architecture parameter."""

    def __init__(self, params: Sequence[torch.Tensor]) -> None:
        super().__init__()
        self.ids = {id(p): i for i, p in enumerate(params)}
        self.storage: Dict[int, int] = {}
        self.keep: List[torch.Tensor] = []  # keeps the outputs alive so that no address is reused

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        src = next((self.ids[id(a)] for a in args if id(a) in self.ids), None)
        if src is not None and isinstance(out, torch.Tensor):
            self.storage[out.untyped_storage().data_ptr()] = src
            self.keep.append(out)
        return out


def mixed_ops(net: nn.Module) -> List[Tuple[nn.Module, str, MixedOp]]:
    """``(parent, attribute, op)`` of every :class:`MixedOp` in ``net``, in module order."""
    found = []
    for parent in net.modules():
        for name, child in parent.named_children():
            if isinstance(child, MixedOp):
                found.append((parent, name, child))
    return found


def probe_edges(net: nn.Module, shape: Sequence[int]) -> Tuple[Dict[int, EdgeProbe], List[List[List[int]]]]:
    """One forward pass of ``net`` on zeros of ``shape``: ``({id(mixed op): EdgeProbe}, groups)``.

    ``groups[p]`` lists the rows of architecture parameter ``p`` grouped by the node they feed, read
    off the first cell that uses ``p``: a cell runs its edges node by node and the edges of one
    node read distinct states, so a new node starts at an edge whose input an earlier edge of the
    current node already read. Raises ``ValueError`` when the network has no mixed op, or an
    edge's weights are not a row of an architecture parameter.
    """
    params = list(net.arch_parameters())  # type: ignore[operator]
    ops = mixed_ops(net)
    if not ops:
        raise ValueError("the supernet has no MixedOp edges")
    seen: List[Tuple[int, Tuple[int, ...], Tuple[int, ...], int, int, int]] = []
    alive: List[torch.Tensor] = []  # every edge input stays referenced, so no id() is reused in the pass
    hooks = []
    for _, _, op in ops:
        def hook(mod: nn.Module, inputs: tuple, out: torch.Tensor) -> None:
            x, w = inputs[0], inputs[1]
            alive.append(x)
            seen.append((id(mod), tuple(x.shape), tuple(out.shape), w.untyped_storage().data_ptr(),
                         w.storage_offset(), id(x)))
        hooks.append(op.register_forward_hook(hook))
    mode = _ArchOutputs(params)
    was_training = net.training
    try:
        with torch.no_grad(), mode:
            net.eval()
            net(torch.zeros(*shape))
    finally:
        net.train(was_training)
        for h in hooks:
            h.remove()
    probes: Dict[int, EdgeProbe] = {}
    groups: List[List[List[int]]] = [[] for _ in params]
    last: Dict[int, int] = {}  # per parameter, the last row of its first cell so far
    done: set = set()
    inputs: Dict[int, set] = {}
    for mod_id, xs, ys, ptr, offset, x_id in seen:
        if ptr not in mode.storage:
            raise ValueError("a mixed op's weights are not a row of an architecture parameter")
        p = mode.storage[ptr]
        row = offset // params[p].shape[-1]
        if mod_id not in probes:
            probes[mod_id] = EdgeProbe(xs[1], max(1, round(xs[-1] / ys[-1])), p, row)
        if p in done or (p in last and row <= last[p]):
            done.add(p)
            continue
        last[p] = row
        if not groups[p] or x_id in inputs[p]:
            groups[p].append([])
            inputs[p] = set()
        groups[p][-1].append(row)
        inputs[p].add(x_id)
    return probes, groups


def replace_mixed_ops(net: nn.Module, make: Callable[[MixedOp, EdgeProbe], nn.Module],
                      probes: Dict[int, EdgeProbe]) -> int:
    """Replace every mixed op ``m`` of ``net`` by ``make(m, probes[id(m)])``; returns how many."""
    ops = mixed_ops(net)
    for parent, name, op in ops:
        setattr(parent, name, make(op, probes[id(op)]))
    return len(ops)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` channel groups (ShuffleNet; PC-DARTS §3.2)."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


class PathSampler:
    """Shared state of the :class:`SampledMixedOp` edges of one network during one forward pass.

    ``gumbel`` on: training forwards draw a hard Gumbel-softmax sample per architecture row
    (``tau`` the temperature), the same sample for every cell that shares the row, as GDAS
    samples one cell per step. The noise comes from torch's global RNG (checkpointed by the
    methods). Off, or in eval mode: the op of largest weight.
    """

    def __init__(self, gumbel: bool = False, tau: float = 1.0) -> None:
        self.gumbel, self.tau = gumbel, tau
        self._cache: Dict[Tuple[int, int], Tuple[int, torch.Tensor]] = {}

    def reset(self) -> None:
        """Forget the samples of the last forward pass (called before every forward)."""
        self._cache = {}

    def hard_sample(self, w: torch.Tensor) -> Tuple[int, torch.Tensor]:
        """``(index, hard weights)``: one-hot values, gradients of softmax((log w + g) / τ)."""
        key = (w.untyped_storage().data_ptr(), w.storage_offset())
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        u = torch.rand(w.shape, device=w.device).clamp_(1e-10, 1.0 - 1e-7)
        g = -torch.log(-torch.log(u))
        soft = F.softmax((torch.log(w.clamp_min(1e-30)) + g) / self.tau, dim=-1)
        idx = int(soft.argmax())
        hard = torch.zeros_like(soft)
        hard[idx] = 1.0
        hard = hard - soft.detach() + soft
        self._cache[key] = (idx, hard)
        return idx, hard


class SampledMixedOp(nn.Module):
    """One path per edge over the ops of a :class:`MixedOp` (state-dict keys kept: ``_ops.k``)."""

    def __init__(self, mixed: MixedOp, sampler: PathSampler) -> None:
        super().__init__()
        self._ops = mixed._ops
        self.sampler = sampler

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        if self.training and self.sampler.gumbel:
            idx, hard = self.sampler.hard_sample(weights)
            # GDAS: only the sampled op runs; the other entries (value 0) pass their gradient on
            return hard[idx] * self._ops[idx](x) + (hard.sum() - hard[idx])
        return self._ops[int(weights.argmax())](x)


class PartialChannelMixedOp(nn.Module):
    """PC-DARTS' partial channel mixed op (Xu et al., ICLR 2020, §3.2) with edge normalization."""

    def __init__(self, mixed_cls: type, channels: int, stride: int, primitives: Sequence[str], k: int,
                 norm: "EdgeNorm", key: Tuple[int, int]) -> None:
        super().__init__()
        if channels % k:
            raise ValueError(f"partial channels: K={k} does not divide an edge's {channels} channels")
        self.k, self.stride, self.key, self.norm = k, stride, key, norm
        self.mixed = mixed_cls(channels // k, stride, primitives)
        self.bypass = nn.MaxPool2d(2, 2, ceil_mode=True) if stride == 2 else nn.Identity()

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        c = x.shape[1] // self.k
        part = self.mixed(x[:, :c], weights)
        out = torch.cat([part, self.bypass(x[:, c:])], dim=1)
        return channel_shuffle(out, self.k) * self.norm.weight(self.key)


class EdgeNorm:
    """The per-forward softmax of β over the input edges of each node (PC-DARTS §3.3, eq. 4)."""

    def __init__(self, groups: List[List[List[int]]]) -> None:
        self.groups = groups  # per architecture parameter: the rows of each node
        self._w: Dict[Tuple[int, int], torch.Tensor] = {}

    def update(self, betas: Sequence[torch.Tensor]) -> None:
        self._w = {}
        for p, (beta, groups) in enumerate(zip(betas, self.groups)):
            for rows in groups:
                w = F.softmax(beta[rows], dim=-1)
                for i, r in enumerate(rows):
                    self._w[(p, r)] = w[i]

    def weight(self, key: Tuple[int, int]) -> torch.Tensor:
        return self._w[key]

    def weights(self, betas: Sequence[torch.Tensor]) -> List[List[float]]:
        """Per architecture parameter, each row's normalised β (detached)."""
        with torch.no_grad():
            self.update(betas)
            out = [[float(self._w[(p, r)]) for r in range(b.shape[0])] for p, b in enumerate(betas)]
        self._w = {}
        return out


class SupernetWrapper(nn.Module):
    """A supernet ``net`` with replaced mixed ops, offering the supernet interface."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.primitives = tuple(net.primitives)  # type: ignore[arg-type]

    def arch_parameters(self) -> List[nn.Parameter]:
        return list(self.net.arch_parameters())  # type: ignore[operator]

    def weights(self) -> List[nn.Parameter]:
        return list(self.net.weights())  # type: ignore[operator]

    def named_weights(self) -> List[Tuple[str, nn.Parameter]]:
        return [(f"net.{n}", p) for n, p in self.net.named_weights()]  # type: ignore[operator]


class SampledSupernet(SupernetWrapper):
    """Every edge a :class:`SampledMixedOp`; ``epoch`` (a buffer, checkpointed) drives a τ schedule.

    ``epoch`` counts the switches from training to evaluation mode: a search loop that validates
    once after every epoch of training keeps it equal to the number of finished epochs.
    """

    def __init__(self, net: nn.Module, shape: Sequence[int], gumbel: bool = False,
                 tau: Optional[Callable[[int], float]] = None) -> None:
        super().__init__(net)
        self.sampler = PathSampler(gumbel)
        self.tau_schedule = tau
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        probes, _ = probe_edges(net, shape)
        replace_mixed_ops(net, lambda m, pr: SampledMixedOp(m, self.sampler), probes)

    def train(self, mode: bool = True) -> "SampledSupernet":
        """Also advances ``epoch`` when the network leaves training mode (the per-epoch validation)."""
        if self.training and not mode:
            self.epoch += 1
        return super().train(mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sampler.reset()
        if self.tau_schedule is not None:
            self.sampler.tau = self.tau_schedule(int(self.epoch))
        out = self.net(x)
        self.sampler.reset()
        return out

    @torch.no_grad()
    def set_path(self, choices: Sequence[int], off: float = -30.0) -> None:
        """Set the architecture parameters to the one-hot path ``choices`` (one per row, row order)."""
        params = self.arch_parameters()
        rows = [(p, r) for p, a in enumerate(params) for r in range(a.shape[0])]
        if len(choices) != len(rows):
            raise ValueError(f"a path needs {len(rows)} choices, got {len(choices)}")
        for (p, r), c in zip(rows, choices):
            params[p][r].fill_(off)
            params[p][r, int(c)] = 0.0

    def path_sizes(self) -> List[int]:
        """The number of options of each row of each architecture parameter (decisions of a path)."""
        return [a.shape[-1] for a in self.arch_parameters() for _ in range(a.shape[0])]


class EdgeNormalizedSupernet(SupernetWrapper):
    """PC-DARTS: every edge a :class:`PartialChannelMixedOp`, β per input edge beside α."""

    def __init__(self, net: nn.Module, shape: Sequence[int], k: int = 4) -> None:
        super().__init__(net)
        probes, groups = probe_edges(net, shape)
        params = list(net.arch_parameters())  # type: ignore[operator]
        self.norm = EdgeNorm(groups)
        self.betas = nn.ParameterList([nn.Parameter(1e-3 * torch.randn(a.shape[0])) for a in params])
        replace_mixed_ops(net, lambda m, pr: PartialChannelMixedOp(
            type(m), pr.channels, pr.stride, self.primitives, k, self.norm, (pr.param, pr.row)), probes)

    def arch_parameters(self) -> List[nn.Parameter]:
        return [*self.net.arch_parameters(), *self.betas]  # type: ignore[operator]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.norm.update(list(self.betas))
        return self.net(x)

    def edge_weights(self) -> List[List[float]]:
        """Per α parameter, the normalised β of each row (node-wise softmax)."""
        return self.norm.weights(list(self.betas))

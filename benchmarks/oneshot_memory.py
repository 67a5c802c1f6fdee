"""Activation memory and step time of one supernet training step: DARTS vs PC-DARTS vs GDAS.

Memory: the bytes autograd saves for backward during one forward pass of the weight step
(cross-entropy loss, then backward), counted with ``torch.autograd.graph.saved_tensors_hooks``;
each storage counted once (a tensor saved by two ops, or a view, is not counted twice), the
parameters excluded (they are the same for every batch size). PC-DARTS' claim (Xu et al., ICLR
2020, §3.2): the mixed ops see ``1/K`` of the channels, so the activations of the ops shrink by
about K; target ``PC-DARTS (K=4) <= 0.45x DARTS``. GDAS (Dong & Yang, CVPR 2019) computes one op
per edge. Time: the median seconds of a forward+backward weight step after one warm-up step.

The supernet is the DARTS space's at CIFAR shape (C=16, 8 cells, 3x32x32 inputs, 10 classes);
``--batch`` defaults to 64 (the papers' DARTS batch; use a smaller one on a small CPU machine:
the activation bytes are linear in the batch). Run:
``python benchmarks/oneshot_memory.py --batch 16 --steps 3 --threads 2``; prints Markdown.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from nas.nn.mixed_ops import EdgeNormalizedSupernet, SampledSupernet
from search_spaces.darts import DartsSpace


def build(method: str, C: int, layers: int, k: int) -> torch.nn.Module:
    torch.manual_seed(0)
    net = DartsSpace().supernet(channels=C, layers=layers, num_classes=10, in_channels=3)
    if method == "pcdarts":
        return EdgeNormalizedSupernet(net, (2, 3, 32, 32), k=k)
    if method == "gdas":
        return SampledSupernet(net, (2, 3, 32, 32), gumbel=True, tau=lambda e: 10.0)
    return net


def saved_bytes(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Bytes of activations saved for backward by one forward pass (each storage once, parameters
    excluded: they do not grow with the batch), then the backward runs."""
    seen: dict[int, int] = {}
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t: torch.Tensor) -> torch.Tensor:
        s = t.untyped_storage()
        if s.data_ptr() not in params:
            seen[s.data_ptr()] = max(seen.get(s.data_ptr(), 0), s.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = F.cross_entropy(model(x), y)
    loss.backward()
    return sum(seen.values())


def step_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> float:
    times: list[float] = []
    for i in range(steps + 1):
        model.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        F.cross_entropy(model(x), y).backward()
        if i:  # the first step warms up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--C", type=int, default=16)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--steps", type=int, default=3, help="timed steps (0: memory only)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (args.batch,), generator=gen)
    print(f"supernet C={args.C}, {args.layers} cells, batch {args.batch}, 3x32x32; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}\n")
    print("| method | saved for backward (MiB) | vs DARTS | step fwd+bwd (s) | vs DARTS |")
    print("|---|---:|---:|---:|---:|")
    base_mem = base_t = None
    for method in ("darts", "pcdarts", "gdas"):
        model = build(method, args.C, args.layers, args.k)
        model.train()
        mem = saved_bytes(model, x, y)
        sec = step_seconds(model, x, y, args.steps) if args.steps else float("nan")
        base_mem, base_t = base_mem or mem, base_t or sec
        label = {"darts": "DARTS", "pcdarts": f"PC-DARTS (K={args.k})", "gdas": "GDAS"}[method]
        print(f"| {label} | {mem / 2**20:.1f} | {mem / base_mem:.3f}x | {sec:.3f} | {sec / base_t:.3f}x |",
              flush=True)
        del model


if __name__ == "__main__":
    main()

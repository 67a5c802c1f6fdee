"""Model measurements: parameters, multiply-accumulates and latency.

Not part of the standalone export (see :data:`nas.nn.SOURCE_MODULES`).

MAC convention (this project's, see README): only convolutions and matrix products
count, as ``out_elems * (C_in/groups) * kh * kw`` and ``in * out``; BN, activations,
pooling, additions and biases do not. ``torch.utils.flop_counter.FlopCounterMode``
counts exactly these ops at 2 FLOPs per MAC (it ignores the bias of ``addmm``), so
MACs = FLOPs / 2. The SE 1x1 convolutions of EfficientNet are convolutions and count.
"""
from __future__ import annotations

import statistics
import time
from typing import Sequence

import torch
import torch.nn as nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, exclude_aux: bool = True) -> int:
    """Number of parameters; with ``exclude_aux`` names containing "auxiliary" are skipped (quark0)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if not (exclude_aux and "auxiliary" in name))


class _EvalMode:
    """Put a model in eval mode for the duration of a ``with`` block, then restore it."""

    def __init__(self, model: nn.Module):
        self.model = model
        self.was_training = model.training

    def __enter__(self) -> nn.Module:
        self.model.eval()
        return self.model

    def __exit__(self, *exc) -> None:
        self.model.train(self.was_training)


def _param_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Conv + linear multiply-accumulates of one eval-mode forward pass on ``input_shape``.

    The pass runs on the ``meta`` device (shapes only, no arithmetic) through
    ``torch.func.functional_call`` with meta copies of the parameters and buffers, so
    it is fast and leaves the model untouched; if some op has no meta kernel it falls
    back to a real forward pass on the model's device.
    """
    shape = tuple(input_shape)
    with _EvalMode(model), torch.no_grad():
        try:
            tensors = {name: torch.empty_like(t, device="meta")
                       for name, t in (*model.named_parameters(), *model.named_buffers())}
            counter = FlopCounterMode(display=False)
            with counter:
                functional_call(model, tensors, (torch.zeros(shape, device="meta"),))
        except (NotImplementedError, RuntimeError):
            counter = FlopCounterMode(display=False)
            with counter:
                model(torch.zeros(shape, device=_param_device(model)))
    return int(counter.get_total_flops()) // 2


def measure_latency_ms(model: nn.Module, input_shape: Sequence[int], device: str = "cpu",
                       warmup: int = 2, repeats: int = 10) -> float:
    """Median wall-clock milliseconds of an eval-mode forward pass (``no_grad``) on ``device``.

    The model is moved to ``device`` for the measurement and moved back afterwards.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    dev = torch.device(device)
    original = _param_device(model)
    model.to(dev)
    x = torch.randn(tuple(input_shape), device=dev)

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    times = []
    try:
        with _EvalMode(model), torch.no_grad():
            for _ in range(max(0, warmup)):
                model(x)
            sync()
            for _ in range(repeats):
                start = time.perf_counter()
                model(x)
                sync()
                times.append((time.perf_counter() - start) * 1000.0)
    finally:
        model.to(original)
    return float(statistics.median(times))

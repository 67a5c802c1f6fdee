"""Exercise every CUDA path of nas on one GPU in a few minutes and write a Markdown report.

Run from the repository root, with no pip install (a stock CUDA PyTorch image has what it needs:
torch, torchvision, networkx, pandas, pyyaml, rich, scikit-learn, matplotlib)::

    PYTHONPATH=. python benchmarks/gpu_check.py --out gpu_check.md

Checks, each timed:

1. a tiny search through :func:`nas.app.launch.run_search` on digits on ``cuda`` (local
   evaluator, random strategy), with the trainer's bf16 autocast and channels-last tensors;
2. the trainer's throughput (:func:`evaluators.trainer.train`) on synthetic CIFAR-shaped batches
   (3x32x32, 10 classes) against a bare training loop of the same model, optimizer and precision;
3. a candidate that runs out of CUDA memory: it must become a failed trial (``TrialFailed``),
   and the GPU must train the next model normally;
4. one DARTS search step (Liu et al., ICLR 2019, §2.3; first and second order) on the supernet.

Neither Ray nor Optuna is imported on this path (checked at the end). Without a CUDA device the
script says so, writes a report saying it was skipped, and exits with code 0.
"""
from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn


def check_search(device: str) -> dict[str, Any]:
    """A 3-trial search on digits on the GPU; every trial ok and run on cuda."""
    from nas.app.launch import run_search
    from nas.config import SearchConfig

    with tempfile.TemporaryDirectory() as runs:
        cfg = SearchConfig(space="nb201", strategy="random", budget=3, epochs=2, evaluator="local", device=device,
                           runs_dir=runs, name="gpu", keep_weights=0)
        summary = run_search(cfg, progress=False)
        trials = summary.trials
    devices = sorted({str((t.get("worker") or {}).get("device")) for t in trials})
    ok = summary.n_ok == len(trials) == 3 and all(d.startswith("cuda") for d in devices)
    # the trainer's precision and layout on this device (what evaluators.trainer.train does)
    conv = nn.Conv2d(3, 8, 3).to(device).to(memory_format=torch.channels_last)
    x = torch.randn(2, 3, 8, 8, device=device).contiguous(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        y = conv(x)
    ok = ok and y.dtype == torch.bfloat16 and y.is_contiguous(memory_format=torch.channels_last)
    return {"ok": ok, "detail": f"{summary.n_ok}/{len(trials)} ok on {devices}; autocast output {y.dtype}, "
                                f"channels_last={y.is_contiguous(memory_format=torch.channels_last)}; "
                                f"best val_acc {max(t['metrics'].get('val_acc', 0) for t in trials):.1f}"}


def _cifar_source(n: int, device: str) -> Any:
    from evaluators.batches import TensorSource

    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g).to(device)
    y = torch.randint(0, 10, (n,), generator=g).to(device)
    return TensorSource(x, y, scale=1 / 255, crop_pad=4, flip=True)


def _model(device: str) -> nn.Module:
    from evaluators.data import dataset_info
    from nas.app.baselines import build_baseline

    torch.manual_seed(0)
    return build_baseline("resnet20", dataset_info("cifar10")).to(device)


def check_throughput(device: str, n: int, epochs: int) -> dict[str, Any]:
    """Images per second: evaluators.trainer.train vs a bare bf16 channels-last loop (same model)."""
    from types import SimpleNamespace

    from evaluators.trainer import TrainRecipe, train

    train_src, val_src = _cifar_source(n, device), _cifar_source(512, device)
    data = SimpleNamespace(train=train_src, val=val_src, info=None)
    recipe = TrainRecipe(epochs=epochs, batch_size=256, lr=0.05)
    model = _model(device)
    train(model, data, TrainRecipe(epochs=1, batch_size=256), device=device, seed=0)  # warm-up (cudnn autotune)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    train(_model(device), data, recipe, device=device, seed=0)
    torch.cuda.synchronize()
    t_trainer = time.perf_counter() - t0

    model = _model(device).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=3e-4)
    crit = nn.CrossEntropyLoss()
    gen = torch.Generator(device="cpu").manual_seed(0)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for x, y in train_src.batches(256, shuffle=True, generator=gen):
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                out = model(x)
                loss = crit(out[0] if isinstance(out, tuple) else out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
        model.eval()
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            for x, _ in val_src.batches(512):
                model(x.contiguous(memory_format=torch.channels_last))
    torch.cuda.synchronize()
    t_bare = time.perf_counter() - t0
    ips_t, ips_b = n * epochs / t_trainer, n * epochs / t_bare
    return {"ok": ips_t > 0.5 * ips_b, "detail": f"resnet20, batch 256, {n} images x {epochs} epochs: trainer "
                                                 f"{ips_t:,.0f} img/s, bare loop {ips_b:,.0f} img/s "
                                                 f"(trainer / bare = {ips_t / ips_b:.2f})"}


class _Hog(nn.Module):
    """A candidate whose forward pass asks for far more memory than any GPU has."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * 32 * 32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        free, _ = torch.cuda.mem_get_info()
        waste = torch.empty(int(free * 2) // 4, dtype=torch.float32, device=x.device)  # > free memory
        return self.fc(x.flatten(1)) + waste[:1]


def check_oom(device: str) -> dict[str, Any]:
    """The out-of-memory candidate fails as a trial (TrialFailed) and the next model trains."""
    from types import SimpleNamespace

    from evaluators.trainer import TrainRecipe, TrialFailed, train

    data = SimpleNamespace(train=_cifar_source(512, device), val=_cifar_source(256, device), info=None)
    try:
        train(_Hog().to(device), data, TrainRecipe(epochs=1, batch_size=128), device=device, seed=0)
        failed, why = False, "no error"
    except TrialFailed as e:
        failed, why = True, str(e).splitlines()[0][:120]
    out = train(_model(device), data, TrainRecipe(epochs=1, batch_size=128), device=device, seed=0)
    after = out.final_val_acc == out.final_val_acc  # a finite accuracy: the GPU recovered
    return {"ok": failed and "memory" in why.lower() and after,
            "detail": f"TrialFailed: {failed} ({why}); next model trained: {after}"}


def check_darts(device: str, channels: int = 16, layers: int = 8, batch: int = 64, size: int = 32) -> dict[str, Any]:
    """One first- and one second-order DARTS step on the C=16, 8-cell supernet, CIFAR-shaped batch 64."""
    from search_spaces.darts import DartsSpace
    from strategies.oneshot.architect import Architect
    from strategies.oneshot.darts import DEFAULTS as HP
    from strategies.oneshot.darts import darts_step

    parts = []
    ok = True
    for order in (1, 2):
        torch.manual_seed(0)
        model = DartsSpace().supernet(channels=channels, layers=layers, num_classes=10, in_channels=3).to(device)
        w_opt = torch.optim.SGD(model.weights(), lr=HP["w_lr"], momentum=HP["w_momentum"],
                                weight_decay=HP["w_weight_decay"])
        arch = Architect(model, order=order, lr=HP["alpha_lr"], weight_decay=HP["alpha_weight_decay"],
                         w_momentum=HP["w_momentum"], w_weight_decay=HP["w_weight_decay"])
        alphas = [a.detach().clone() for a in model.arch_parameters()]
        def data() -> tuple[torch.Tensor, torch.Tensor]:
            return (torch.randn(batch, 3, size, size, device=device), torch.randint(0, 10, (batch,), device=device))

        model.train()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss, _ = darts_step(model, arch, w_opt, data(), data(), HP["w_lr"], HP["w_grad_clip"], nn.CrossEntropyLoss())
        torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        moved = any(not torch.equal(a, b.detach()) for a, b in zip(alphas, model.arch_parameters()))
        ok = ok and bool(torch.isfinite(loss)) and moved
        parts.append(f"order {order}: loss {float(loss):.3f}, alphas moved {moved}, {dt:.2f} s (incl. first-call setup)")
    return {"ok": ok, "detail": "; ".join(parts)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="gpu_check.md", help="report file (Markdown; default gpu_check.md)")
    ap.add_argument("--device", default="cuda", help="cuda or cuda:N (default cuda)")
    ap.add_argument("--images", type=int, default=16384, help="synthetic CIFAR-shaped images per epoch")
    ap.add_argument("--epochs", type=int, default=2, help="epochs of the throughput comparison")
    args = ap.parse_args(argv)
    out = Path(args.out)
    head = [f"# nas GPU check", "", f"- command: `PYTHONPATH=. python benchmarks/gpu_check.py {' '.join(argv or sys.argv[1:])}`",
            f"- torch {torch.__version__}, Python {platform.python_version()}, {platform.machine()}"]
    if not torch.cuda.is_available():
        msg = "gpu_check: no CUDA device is visible (torch.cuda.is_available() is False); nothing was checked"
        print(msg)
        out.write_text("\n".join(head + [f"- skipped: {msg}"]) + "\n")
        return 0
    torch.backends.cudnn.benchmark = True
    head.append(f"- device: {torch.cuda.get_device_name(args.device)}, CUDA {torch.version.cuda}")
    checks: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("tiny search (bf16 autocast, channels-last)", lambda: check_search(args.device)),
        ("trainer throughput vs bare loop", lambda: check_throughput(args.device, args.images, args.epochs)),
        ("CUDA OOM candidate becomes a failed trial", lambda: check_oom(args.device)),
        ("DARTS step (first and second order)", lambda: check_darts(args.device)),
    ]
    rows = ["| check | result | seconds | detail |", "|---|---|---:|---|"]
    failures = 0
    for name, fn in checks:
        t0 = time.perf_counter()
        try:
            r = fn()
        except Exception as e:  # noqa: BLE001 - report every check, then exit 1
            r = {"ok": False, "detail": f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"}
        failures += not r["ok"]
        rows.append(f"| {name} | {'ok' if r['ok'] else 'FAILED'} | {time.perf_counter() - t0:.1f} | {r['detail']} |")
        print(rows[-1], flush=True)
    heavy = sorted(m for m in ("ray", "optuna") if m in sys.modules)
    rows.append(f"| no ray / optuna import | {'ok' if not heavy else 'FAILED'} | - | imported: {heavy or 'none'} |")
    failures += bool(heavy)
    out.write_text("\n".join(head + [""] + rows) + "\n")
    print(f"wrote {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Collapse curves of DARTS-V1 on NAS-Bench-201, and the DARTS step time against its ops run alone.

Part 1 (``curves``): DARTS first order (DARTS-V1) on the ``nb201`` supernet over ``--epochs`` (50,
the NB201 paper's setting, Dong & Yang, ICLR 2020, §5) on a ``--n-train`` subset of digits, so that
an epoch is a few steps on a CPU. Per epoch: the share of parameter-free ops in the derived cell
and the dominant Hessian eigenvalue of the validation loss w.r.t. α (RobustDARTS, Zela et al.,
ICLR 2020), for three settings:

* no guard;
* ``skip_cap`` (P-DARTS, Chen et al., ICCV 2019: at most 2 skips in the derived cell);
* ``early_stop`` (RobustDARTS' DARTS-ES: window 5, ratio 0.75).

The guards do not change the training trajectory (the cap acts on the derivation, the early stop
only ends the loop; the eigenvalue batch has its own RNG), so the three runs share the seed and
diverge only where the guard acts; each is still run for real.

Part 2 (``step``): one DARTS first-order step (:func:`strategies.oneshot.darts.darts_step`: the α
step on a validation batch, then the weight step) on the ``--space`` supernet, against the sum,
over every candidate op of every mixed edge called in that step, of the forward + backward time of
that op run alone on the very input tensor it received in the step (both passes). Target: ≤ 1.3x.
Run: ``python benchmarks/oneshot_collapse.py --threads 2`` (prints Markdown for BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
import platform
import time
from typing import Any

import torch
from torch import nn


def curves(args: argparse.Namespace) -> list[dict[str, Any]]:
    from evaluators.batches import TensorSource
    from evaluators.data import DataBundle, load_data
    from nas.config import SearchConfig
    from nas.registry import ONESHOT, SPACES, load_plugins
    from nas.types import Proposal

    load_plugins()
    d = load_data("digits", seed=0)
    n = args.n_train
    data = DataBundle(d.info, TensorSource(d.train.x[:n], d.train.y[:n]), d.val, d.test)
    space = SPACES.create("nb201")
    out = []
    for label, guards in (("none", []), ("skip_cap", ["skip_cap"]), ("early_stop", ["early_stop"])):
        m = ONESHOT.create("darts", order=1, guards=guards, hessian_iters=args.hessian_iters)
        cfg = SearchConfig(space="nb201", epochs=args.epochs, batch_size=args.batch_size, channels=args.C,
                           layers=args.N, seed=0)
        t0 = time.perf_counter()
        res = m.run(space, Proposal("t00000", None, {"method": "darts", **m.options}, runner="oneshot"), cfg, data,
                    device="cpu")
        secs = time.perf_counter() - t0
        hist = res.report.get("history", [])
        out.append({"guard": label, "status": res.status, "seconds": secs, "history": hist,
                    "arch": space.to_string(res.arch) if res.arch is not None else None,
                    "early_stopped": (res.arch.meta.get("early_stopped") if res.arch is not None else None),
                    "table": {k: v for k, v in res.metrics.items() if k.startswith("table_")}})
    return out


def _timed(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def step_ratio(args: argparse.Namespace) -> dict[str, Any]:
    from nas.nn.supernet import MixedOp
    from nas.registry import SPACES, load_plugins
    from strategies.oneshot.architect import Architect
    from strategies.oneshot.darts import darts_step

    load_plugins()
    torch.manual_seed(0)
    space = SPACES.create(args.space)
    layers = args.layers if args.layers is not None else (8 if args.space != "nb201" else 5)
    model = space.supernet(channels=args.step_C, layers=layers)
    w_opt = torch.optim.SGD(model.weights(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    arch = Architect(model, order=1)
    crit = nn.CrossEntropyLoss()
    bs = args.step_batch
    train = (torch.randn(bs, 3, 32, 32), torch.randint(0, 10, (bs,)))
    val = (torch.randn(bs, 3, 32, 32), torch.randint(0, 10, (bs,)))
    calls: list[tuple[MixedOp, torch.Tensor]] = []
    hooks = [m.register_forward_pre_hook(lambda mod, inp: calls.append((mod, inp[0].detach())))
             for m in model.modules() if isinstance(m, MixedOp)]
    darts_step(model, arch, w_opt, train, val, 0.025, 5.0, crit)  # warm-up, records the mixed-op inputs
    for h in hooks:
        h.remove()
    recorded = list(calls)

    def step() -> None:
        darts_step(model, arch, w_opt, train, val, 0.025, 5.0, crit)

    def alone() -> None:
        for mixed, x in recorded:
            for op in mixed._ops:
                xi = x.clone().requires_grad_(True)
                y = op(xi)
                y.backward(torch.ones_like(y))

    step_s = _timed(step, args.repeats)
    alone_s = _timed(alone, args.repeats)
    return {"space": args.space, "C": args.step_C, "layers": layers, "batch": bs, "step_s": step_s,
            "ops_alone_s": alone_s, "ratio": step_s / alone_s, "mixed_calls": len(recorded)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("curves", "step", "both"), default="both")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--n-train", type=int, default=256, help="digits training images (half train w, half α)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--N", type=int, default=1)
    ap.add_argument("--hessian-iters", type=int, default=10)
    ap.add_argument("--space", default="darts", help="space of the step-time part")
    ap.add_argument("--step-C", type=int, default=16)
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--step-batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads")
    if args.part in ("curves", "both"):
        runs = curves(args)
        print(f"\nDARTS-V1 on nb201, digits ({args.n_train} training images), C={args.C}, N={args.N}, "
              f"{args.epochs} epochs, batch {args.batch_size}\n")
        print("| guard | epochs run | param-free share per epoch | eigenvalue per epoch | final cell | "
              "NB201 CIFAR-10 test (table) | seconds |")
        print("|---|---:|---|---|---|---:|---:|")
        for r in runs:
            h = r["history"]
            share = " ".join(f"{x['param_free_share']:.2f}" for x in h)
            eig = " ".join(f"{x['hessian_eigenvalue']:.3g}" for x in h if "hessian_eigenvalue" in x)
            stop = f" (stopped, returns epoch {r['early_stopped']['returned_epoch']})" if r["early_stopped"] else ""
            test = r["table"].get("table_cifar10_test_acc_200ep")
            print(f"| {r['guard']} | {len(h)}{stop} | {share} | {eig} | `{r['arch']}` | "
                  f"{'-' if test is None else f'{test:.2f}'} | {r['seconds']:.0f} |")
    if args.part in ("step", "both"):
        s = step_ratio(args)
        print(f"\nDARTS first-order step vs its ops alone: space {s['space']}, C={s['C']}, {s['layers']} cells, "
              f"batch {s['batch']}, 3x32x32, {s['mixed_calls']} mixed-op calls per step (best of {args.repeats})\n")
        print("| step (s) | ops alone, fwd+bwd (s) | ratio |\n|---:|---:|---:|")
        print(f"| {s['step_s']:.3f} | {s['ops_alone_s']:.3f} | {s['ratio']:.2f}x |")


if __name__ == "__main__":
    main()

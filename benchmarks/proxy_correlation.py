"""Rank correlation of the zero-cost proxies with trained accuracy, on what this machine has.

Samples ``--n`` architectures of ``--space`` (default ``nasnet``) uniformly with ``--seed``,
scores each with every proxy of :mod:`evaluators.proxies` on one minibatch of the search
dataset (``digits`` by default, batch = the search batch size), trains each with the search
recipe (``evaluate_candidate``, the same code as ``nas search``), and prints the Spearman rank
correlation of every proxy (and of ``params``) with ``val_acc`` as Markdown. Results per
architecture are appended to ``--out`` (JSON lines) as they come, so an interrupted run can be
summarised with ``--summarise-only``.

Run: ``nice python benchmarks/proxy_correlation.py --n 100 --out /tmp/proxy_corr.jsonl``.
Published reference (NB201 CIFAR-10, Abdelfattah et al., ICLR 2021, Table 1; NASWOT from Mellor
et al., ICML 2021, as re-measured by Krishnakumar et al., NAS-Bench-Suite-Zero, NeurIPS 2022): synflow 0.74,
grad_norm 0.58, snip 0.58, jacob_cov 0.73, naswot about 0.78.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

from evaluators.candidate import evaluate_candidate
from evaluators.data import load_for_config
from evaluators.proxies import PROXIES, proxy_batch, proxy_scores
from nas.config import SearchConfig
from nas.registry import SPACES, load_plugins
from nas.settings import build_settings
from nas.types import Proposal

PUBLISHED = {"synflow": 0.74, "grad_norm": 0.58, "snip": 0.58, "jacob_cov": 0.73, "naswot": 0.78}


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def summarise(rows: list[dict], command: str) -> str:
    ok = [r for r in rows if r.get("val_acc") is not None]
    lines = [f"Command: `{command}`", "", f"{len(ok)} trained architectures.", "",
             "| proxy | Spearman rho vs val_acc | published rho (NB201 CIFAR-10) |",
             "|---|---:|---:|"]
    for name in [*PROXIES, "params"]:
        key = name if name == "params" else f"proxy_{name}"
        pairs = [(r[key], r["val_acc"]) for r in ok if r.get(key) is not None]
        rho = spearman([p[0] for p in pairs], [p[1] for p in pairs]) if len(pairs) > 2 else math.nan
        pub = PUBLISHED.get(name)
        pub_s = "-" if pub is None else f"{pub:.2f}"
        lines.append(f"| {name} | {rho:.3f} (n={len(pairs)}) | {pub_s} |")
    proxy_s = sum(r["proxy_seconds"] for r in ok) / max(1, len(ok))
    train_s = sum(r["train_seconds"] for r in ok) / max(1, len(ok))
    lines += ["", f"Mean seconds per architecture: all {len(PROXIES)} proxies {proxy_s:.2f}, "
                  f"training {train_s:.1f}."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="nasnet")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=None, help="default: the search default")
    ap.add_argument("--out", default="/tmp/proxy_corr.jsonl")
    ap.add_argument("--summarise-only", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    rows = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    command = "python benchmarks/proxy_correlation.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if not args.summarise_only:
        torch.set_num_threads(1)
        load_plugins()
        cfg = SearchConfig(space=args.space, seed=args.seed)
        if args.epochs is not None:
            cfg.epochs = args.epochs
        space = SPACES.create(args.space)
        data = load_for_config(cfg, "cpu")
        x, y = proxy_batch(data, cfg.batch_size, cfg.seed)
        settings = build_settings(space, data.info, cfg)
        rng = random.Random(args.seed)
        archs = [space.sample(rng) for _ in range(args.n)]
        for i, arch in enumerate(archs):
            if i < len(rows):
                continue
            scores, secs = proxy_scores(lambda: space.build(arch, **settings), list(PROXIES), x, y, seed=i)
            t0 = time.perf_counter()
            res = evaluate_candidate(space, Proposal(f"t{i:05d}", arch), cfg, data, device="cpu")
            row = {"i": i, "key": arch.key, **scores, "proxy_seconds": secs, "train_seconds": time.perf_counter() - t0,
                   "val_acc": res.metrics.get("val_acc") if res.status == "ok" else None,
                   "params": res.metrics.get("params")}
            rows.append(row)
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"[{i + 1}/{args.n}] val_acc={row['val_acc']} proxies {secs:.2f}s train {row['train_seconds']:.1f}s",
                  flush=True)
    print(summarise(rows, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())

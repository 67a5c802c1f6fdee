"""Does a zero-cost proxy warm start help on digits? Best and mean val_acc with and without one.

For each seed and each condition (``none``, or a proxy name), runs ``nas.search`` on ``--space``
(default ``nb201``) on digits with ``--strategy`` and ``--budget``; a proxy condition adds
``warm_start={"proxy": NAME, "samples": --samples, "top": --top}``. Appends one JSON line per search
to ``--out`` (best and mean val_acc of its ok trials, wall time, pre-screen seconds) and prints a
Markdown table per condition: best val_acc (mean ± std over seeds), seeds better / worse than
``none``, the mean val_acc of the trials and the pre-screen time.

Run (the numbers in BENCHMARKS.md, "Proxy warm start"):
``python benchmarks/warm_start_digits.py --seeds 0-9 --epochs 2 --conditions none,naswot,synflow,jacob_cov
--strategy random --budget 8 --top 8`` and
``python benchmarks/warm_start_digits.py --seeds 0-4 --epochs 2 --conditions none,naswot --strategy evolution
--budget 20``. ``--summarise-only`` prints the table of ``--out`` as it stands.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path


def seeds_arg(text: str) -> list[int]:
    if "-" in text:
        lo, hi = text.split("-", 1)
        return list(range(int(lo), int(hi) + 1))
    return [int(s) for s in text.split(",") if s]


def run_one(args: argparse.Namespace, seed: int, cond: str, runs_dir: str) -> dict:
    import nas

    kw = dict(space=args.space, strategy=args.strategy, budget=args.budget, epochs=args.epochs, seed=seed,
              runs_dir=runs_dir, name=f"{args.strategy}-{cond}-s{seed}", progress=False)
    if cond != "none":
        kw["warm_start"] = {"proxy": cond, "samples": args.samples, "top": args.top}
    t0 = time.perf_counter()
    run = nas.search(**kw)
    wall = time.perf_counter() - t0
    accs = [t["metrics"]["val_acc"] for t in run.trials() if t["status"] == "ok"]
    record = Path(run.path) / "warm_start.json"
    prescreen = json.loads(record.read_text())["seconds"] if record.exists() else None
    return {"space": args.space, "strategy": args.strategy, "budget": args.budget, "epochs": args.epochs,
            "cond": cond, "seed": seed, "best": max(accs), "mean": statistics.fmean(accs), "n": len(accs),
            "wall": wall, "prescreen_s": prescreen}


def summarise(rows: list[dict]) -> str:
    conds = list(dict.fromkeys(r["cond"] for r in rows))
    base = {r["seed"]: r["best"] for r in rows if r["cond"] == "none"}
    lines = ["| warm start | best val_acc (mean ± std) | seeds better / worse than none | mean val_acc of the trials "
             "| pre-screen (s) |", "|---|---:|---:|---:|---:|"]
    for cond in conds:
        rs = [r for r in rows if r["cond"] == cond]
        best = [r["best"] for r in rs]
        sd = statistics.stdev(best) if len(best) > 1 else 0.0
        vs = "–"
        if cond != "none":
            better = sum(1 for r in rs if r["seed"] in base and r["best"] > base[r["seed"]])
            worse = sum(1 for r in rs if r["seed"] in base and r["best"] < base[r["seed"]])
            vs = f"{better} / {worse}"
        pre = [r["prescreen_s"] for r in rs if r["prescreen_s"] is not None]
        pre_s = f"{statistics.fmean(pre):.1f}" if pre else "–"
        lines.append(f"| {cond} | {statistics.fmean(best):.2f} ± {sd:.2f} (n={len(rs)}) | {vs} | "
                     f"{statistics.fmean(r['mean'] for r in rs):.2f} | {pre_s} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="nb201")
    ap.add_argument("--strategy", default="random")
    ap.add_argument("--budget", type=int, default=8)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--seeds", type=seeds_arg, default=seeds_arg("0-9"), help="e.g. 0-9 or 0,3,5")
    ap.add_argument("--conditions", default="none,naswot", help="none and/or proxy names, comma-separated")
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--out", default="warm_start_digits.jsonl")
    ap.add_argument("--summarise-only", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    if not args.summarise_only:
        with tempfile.TemporaryDirectory() as runs_dir, out.open("a") as f:
            for seed in args.seeds:
                for cond in args.conditions.split(","):
                    rec = run_one(args, seed, cond, runs_dir)
                    f.write(json.dumps(rec) + "\n")
                    f.flush()
                    print(json.dumps(rec), file=sys.stderr, flush=True)
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    print(summarise(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())

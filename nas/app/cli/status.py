"""``nas status RUN``: progress and the top-k trials of a run, read from its journal.

Read-only: takes no lock, so it works while the driver runs. Whether a driver is running
is read from the ``lock`` file's pid (checked on this host). ``run.yaml``, every journal line
and the snapshot are checked (:mod:`nas.app.runcheck`): a corrupt run is one ``nas: error:``
line naming the file and line (exit 2).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("status", help="progress and best trials of a run",
                              description="Show progress and the top-k trials of a run directory.")
    p.add_argument("run_dir", metavar="RUN", help="run directory, e.g. runs/NAME")
    p.add_argument("--top", type=int, default=5, metavar="K", help="how many trials to list (default 5)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _score_fn(config: dict[str, Any]) -> Any:
    """Ranking score of a journal record (:meth:`Objective.rank_score`; NaN when it has none)."""
    import nas.objectives  # noqa: F401  (registers objectives)
    from nas.errors import NasError
    from nas.registry import OBJECTIVES
    from nas.types import Result

    try:
        objective = OBJECTIVES.create(config.get("objective", "accuracy"), **(config.get("objective_options") or {}))
    except NasError:
        objective = OBJECTIVES.create("accuracy")

    def score(rec: dict[str, Any]) -> float:
        s = objective.rank_score(Result(rec["status"], rec.get("metrics") or {}))
        return math.nan if s is None else s

    return score


def collect(run_dir: str | Path, top: int = 5) -> dict[str, Any]:
    """Everything ``nas status`` shows, as plain data."""
    import pandas as pd

    from nas.errors import ConfigError
    from nas.types import trial_key
    from nas.app.rundir import TRIALS, read_records, read_run_yaml, read_snapshot
    from nas.app.runlock import holder_alive, lock_holder

    path = Path(run_dir)
    doc = read_run_yaml(path)
    config = doc["config"]
    trials = read_records(path / TRIALS)
    snap = read_snapshot(path)
    holder = lock_holder(path)
    alive = holder_alive(holder)
    if top < 0:
        raise ConfigError(f"--top must be >= 0, got {top}")
    out: dict[str, Any] = {
        "run": str(path), "space": config.get("space"), "strategy": config.get("strategy"),
        "objective": config.get("objective"), "budget": config.get("budget"),
        "time_budget": config.get("time_budget"),
        "running": bool(alive) if holder else False,
        "driver": holder if holder and alive is not False else None,
        "n_trials": len(trials), "n_ok": 0, "n_failed": 0, "n_timeout": 0,
        "n_pending": len(snap.get("pending", [])) if snap else 0,
        "elapsed": snap.get("elapsed") if snap else None, "best": None, "top": [],
    }
    if not trials:
        return out
    df = pd.DataFrame.from_records(trials)
    counts = df["status"].value_counts()
    out["n_ok"], out["n_failed"], out["n_timeout"] = (int(counts.get(s, 0)) for s in ("ok", "failed", "timeout"))
    score = _score_fn(config)
    df["score"] = [score(r) for r in trials]
    ok = df[(df["status"] == "ok") & df["score"].notna()]
    ranked = ok.sort_values("score", ascending=False, kind="stable").head(max(top, 1))
    keep = ("id", "key", "status", "metrics", "error", "seconds", "info", "arch")
    rows = [{k: trials[i].get(k) for k in keep} | {"score": float(df.at[i, "score"])} for i in ranked.index]
    for row, i in zip(rows, ranked.index):
        row["key"] = trial_key(trials[i])  # the result's architecture if any (e.g. one-shot), else the proposal's
    for row, i in zip(rows, ranked.index):
        row["budget"] = trials[i].get("budget")
    out["best"] = rows[0] if rows else None
    out["top"] = rows[:top]
    out["rungs"] = rungs(trials)
    out["n_promotions"] = sum(1 for r in trials if r.get("lineage") is not None)
    if rows:  # a one-shot trial's per-epoch curve (val_acc and the collapse diagnostics), when it has one
        history = (trials[ranked.index[0]].get("report") or {}).get("history")
        out["best_history"] = history if isinstance(history, list) else None
    return out


#: (history key, column title, format) of the per-epoch curve ``nas status`` prints
CURVE = (("epoch", "epoch", "{:d}"), ("val_acc", "val_acc", "{:.2f}"), ("param_free_share", "param-free", "{:.2f}"),
         ("entropy", "entropy", "{:.3f}"), ("hessian_eigenvalue", "eigenvalue", "{:.4g}"))


def print_curve(history: list[dict[str, Any]]) -> None:
    """The per-epoch rows of a trial's history: the CURVE columns it has, then its derived cell."""
    cols = [c for c in CURVE if any(c[0] in r for r in history if isinstance(r, dict))]
    print("per epoch " + "  ".join(f"{t:>10}" for _, t, _ in cols) + "  derived")
    for r in history:
        if not isinstance(r, dict):
            continue
        cells = []
        for key, _, fmt in cols:
            v = r.get(key)
            ok = isinstance(v, int) if fmt == "{:d}" else isinstance(v, (int, float))
            cells.append(f"{fmt.format(v):>10}" if ok and not isinstance(v, bool) else f"{'-':>10}")
        derived = r.get("arch_text") or r.get("genotype") or r.get("derived") or ""
        stop = f"  [early stop: returns epoch {r['early_stop']}]" if "early_stop" in r else ""
        print("          " + "  ".join(cells) + f"  {derived}{stop}")


def rungs(trials: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per training budget (epochs) of a multi-fidelity search: trials, ok ones, best val_acc (Li et al.,
    JMLR 2018); empty for a run whose trials have no budget."""
    by: dict[int, dict[str, Any]] = {}
    for r in trials:
        if r.get("budget") is None:
            continue
        e = by.setdefault(int(r["budget"]), {"epochs": int(r["budget"]), "n": 0, "n_ok": 0, "promoted_in": 0,
                                             "best_val_acc": None})
        e["n"] += 1
        e["promoted_in"] += r.get("lineage") is not None
        acc = (r.get("metrics") or {}).get("val_acc")
        if r.get("status") == "ok":
            e["n_ok"] += 1
            if isinstance(acc, (int, float)) and (e["best_val_acc"] is None or acc > e["best_val_acc"]):
                e["best_val_acc"] = float(acc)
    return [by[b] for b in sorted(by)]


def run(args: argparse.Namespace) -> int:
    from nas.app.progress import fmt_acc, fmt_time, print_top

    info = collect(args.run_dir, args.top)
    if args.json:
        json.dump(info, sys.stdout, indent=1, default=str)
        sys.stdout.write("\n")
        return 0
    budget = "∞" if info["budget"] is None else info["budget"]
    if info["time_budget"] is not None:
        budget = f"{budget} (time budget {info['time_budget']:g}s)"
    state = "finished or stopped"
    if info["running"]:
        d = info["driver"] or {}
        state = f"running (pid {d.get('pid')} on {d.get('host')})"
    print(f"run       {info['run']}  [{state}]")
    print(f"search    space {info['space']}, strategy {info['strategy']}, objective {info['objective']}")
    print(f"trials    {info['n_trials']}/{budget} done: {info['n_ok']} ok, {info['n_failed']} failed, "
          f"{info['n_timeout']} timeout; {info['n_pending']} pending")
    print(f"elapsed   {fmt_time(info['elapsed'])}")
    if info.get("rungs"):
        parts = [f"{r['epochs']} ep: {r['n']} ({r['n_ok']} ok, {r['promoted_in']} by promotion, best "
                 f"{fmt_acc(r['best_val_acc'])})" for r in info["rungs"]]
        print(f"rungs     {' · '.join(parts)}; {info['n_promotions']} promotions")
    best = info["best"]
    if best is not None:
        print(f"best      {best['id']} val_acc {fmt_acc(best['metrics'].get('val_acc'))} (key {best['key']})")
    if args.top:
        print_top(info["top"], title=f"top {args.top}")
    history = info.get("best_history")
    if history and any(isinstance(r, dict) and ("param_free_share" in r or "hessian_eigenvalue" in r)
                       for r in history):
        print_curve(history)
    if info["n_ok"] and info["strategy"] != "compare":
        from nas.app.export_card import compare_command
        from nas.app.rundir import read_run_yaml

        dataset = (read_run_yaml(args.run_dir).get("config") or {}).get("dataset")
        flags = ["--dataset", str(dataset)] if dataset else []
        print(f"compare   {compare_command(run=info['run'], data_flags=flags)}")
    return 0

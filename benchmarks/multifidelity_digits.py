"""Multi-fidelity against full-fidelity search on digits, at the same total epoch budget (issue 11, "Digits").

The full benchmark (about 45 CPU minutes on 2 cores; run it on a quiet machine), and its table again::

    python benchmarks/multifidelity_digits.py --seeds 3 --out /tmp/mfdigits
    python benchmarks/multifidelity_digits.py --out /tmp/mfdigits --summarise-only

Per seed 0..S-1, on ``digits`` with the ``nas search --space nasnet`` defaults otherwise: (a) ``evolution``
(Real et al., AAAI 2019), ``--trials`` (20) trials with ``--epochs`` = ``--max-epochs`` (9, the default
``max_epochs`` of hyperband and asha), so every top-rung model of (b) and (c) gets the same recipe; (b)
``hyperband`` (Li et al., JMLR 2018) and (c) ``asha`` (Li et al., MLSys 2020) with their defaults (eta 3, rungs
of 1, 3, 9 epochs, random sampler) and the same total epoch budget, 20 x 9 = 180. Only epochs actually trained
count (a promotion continues its checkpoint: 3 -> 9 trains 6). Their trial sequence is cut post hoc at the trial
where the cumulative epochs reach the budget (included); with one trial at a time (``max_concurrent=1``, local
``workers=1``) a prefix is exactly what a shorter search does, so the search also ends there. Searches are
interleaved per seed (evolution, hyperband, asha for seed 0, then seed 1, ...) so machine load hits them alike,
each in its own run directory under ``--out``, with ``os.getloadavg()`` at its start and end; each appends its
summary (per trial: status, val_acc, budget, epochs trained, time) to ``--results`` (JSON lines), which
``--summarise-only`` summarises, e.g. after an interruption.

From each journal: the final best val_acc among top-budget trials of the cut sequence (evolution: all), the
epochs trained, and per trial the wall time since the search started, its ``finished`` timestamp minus the
first trial's ``started`` (setup and data loading left out alike, the driver's work between trials included).
A seed's target is evolution's final best; time and epochs to target are when a top-rung trial first reaches
it (for evolution: when it found its best). ratio = evolution's time to target / the strategy's (>1: faster;
never reached: 0 in the median). The issue's target: median ratio >= 2 at a mean final best >= evolution's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

STRATEGIES = ("evolution", "hyperband", "asha")


# -- reading journals -----------------------------------------------------------------------------
def epochs_trained(rec: dict[str, Any], default_epochs: int) -> int:
    """Epochs a journal record actually trained: ``budget - from_budget`` for a rung (a promotion continues
    its checkpoint), else the trial's ``config.epochs`` or the search's ``default_epochs``. A failed trial
    counts what it was asked to train (an upper bound)."""
    return trained_to(rec, default_epochs) - int(rec.get("from_budget") or 0)


def trained_to(rec: dict[str, Any], default_epochs: int) -> int:
    """The epochs a record's model is trained to: its rung ``budget``, else ``config.epochs``/the search's."""
    if rec.get("budget") is not None:
        return int(rec["budget"])
    return int((rec.get("config") or {}).get("epochs") or default_epochs)


def trial_rows(records: list[dict[str, Any]], default_epochs: int) -> list[dict[str, Any]]:
    """One compact row per journal record, in journal order: id, status, val_acc (None unless ok), budget
    (the epochs the model is trained to), epochs (trained by this trial), elapsed (``finished`` minus the
    first trial's ``started``, seconds) and seconds (the trial's own duration)."""
    origin = min((float(r["started"]) for r in records), default=0.0)
    return [{"id": r.get("id"), "status": r.get("status"),
             "val_acc": float(r["metrics"]["val_acc"]) if r.get("status") == "ok" else None,
             "budget": trained_to(r, default_epochs), "epochs": epochs_trained(r, default_epochs),
             "elapsed": float(r["finished"]) - origin, "seconds": float(r.get("seconds") or 0.0)} for r in records]


def cut_at_epochs(rows: list[dict[str, Any]], epoch_budget: int) -> list[dict[str, Any]]:
    """The prefix of ``rows`` up to (and including) the row where the cumulative trained epochs reach
    ``epoch_budget``; each returned row gains ``cum_epochs``. All rows if the budget is never reached."""
    out, cum = [], 0
    for row in rows:
        cum += int(row["epochs"])
        out.append({**row, "cum_epochs": cum})
        if cum >= epoch_budget:
            break
    return out


def final_best(rows: Iterable[dict[str, Any]], top_budget: int) -> float | None:
    """The best val_acc among ok rows trained to ``top_budget`` epochs (None if there is none)."""
    accs = [r["val_acc"] for r in rows if r["val_acc"] is not None and r["budget"] == top_budget]
    return max(accs) if accs else None


def first_reach(rows: Iterable[dict[str, Any]], top_budget: int, target: float) -> tuple[float, int] | None:
    """``(elapsed, cum_epochs)`` of the first top-budget row with val_acc >= ``target``, or None."""
    for r in rows:
        if r["val_acc"] is not None and r["budget"] == top_budget and r["val_acc"] >= target:
            return r["elapsed"], r["cum_epochs"]
    return None


# -- running searches ------------------------------------------------------------------------------
class EpochStop:
    """A driver progress object (:class:`nas.app.driver.Progress`) that ends a search once its trials have
    trained ``epoch_budget`` epochs, by lowering the search's trial budget to the trials finished."""

    def __init__(self, epoch_budget: int, default_epochs: int) -> None:
        self.epoch_budget, self.default_epochs, self.epochs = epoch_budget, default_epochs, 0

    def trial_finished(self, record: dict[str, Any], search: Any) -> None:
        self.epochs += epochs_trained(record, self.default_epochs)
        if self.epochs >= self.epoch_budget:
            search.budget = search.n_finished

    def _quiet(self, search: Any) -> None:
        """Nothing to show: the benchmark prints one line per search."""

    start = tick = stop = _quiet


def search_fields(strategy: str, seed: int, args: argparse.Namespace, runs_dir: Path) -> dict[str, Any]:
    """The SearchConfig fields of one search (``nas search`` defaults otherwise)."""
    mf = strategy != "evolution"
    fields: dict[str, Any] = {
        "space": "nasnet", "strategy": strategy, "dataset": "digits", "seed": seed, "max_concurrent": 1,
        "evaluator": "local", "runs_dir": str(runs_dir), "name": f"{strategy}-s{seed}-{time.time_ns()}",
        "epochs": args.max_epochs, "budget": args.epoch_budget if mf else args.trials}  # mf: every trial >= 1 epoch
    if mf:
        fields["strategy_options"] = {"max_epochs": args.max_epochs}
    fields.update({k: getattr(args, k) for k in ("channels", "layers") if getattr(args, k) is not None})
    return fields


def run_one(strategy: str, seed: int, args: argparse.Namespace, runs_dir: Path) -> dict[str, Any]:
    """Run one search and return its summary entry (what ``--results`` stores)."""
    from nas.app.launch import run_search
    from nas.app.rundir import TRIALS, read_records

    fields = search_fields(strategy, seed, args, runs_dir)
    stop = EpochStop(args.epoch_budget, args.max_epochs)
    load_start, t0 = os.getloadavg(), time.time()
    summary = run_search({**fields, "evaluator_options": {"workers": 1}}, progress=stop)
    wall = time.time() - t0
    rows = trial_rows(read_records(Path(summary.run_dir) / TRIALS), args.max_epochs)
    return {"seed": seed, "strategy": strategy, "run_dir": str(summary.run_dir), "max_epochs": args.max_epochs,
            "epoch_budget": args.epoch_budget, "stopped": summary.stopped_reason,
            "wall_s": wall, "load_start": list(load_start), "load_end": list(os.getloadavg()), "rows": rows}


# -- the summary -------------------------------------------------------------------------------------
def analyse(entries: list[dict[str, Any]], epoch_budget: int | None = None) -> list[dict[str, Any]]:
    """Per (seed, strategy), the last entry of each: cut, final best, target and time/epochs to target."""
    last = {(e["seed"], e["strategy"]): e for e in entries}
    out = []
    for (seed, strategy), e in sorted(last.items(), key=lambda kv: (kv[0][0], STRATEGIES.index(kv[0][1]))):
        budget, top = epoch_budget or e["epoch_budget"], e["max_epochs"]
        rows = cut_at_epochs(e["rows"], budget)
        evo = last.get((seed, "evolution"))
        target = final_best(cut_at_epochs(evo["rows"], budget), evo["max_epochs"]) if evo else None
        reach = ratio = None
        if target is not None:
            reach = first_reach(rows, top, target)
            evo_reach = first_reach(cut_at_epochs(evo["rows"], budget), evo["max_epochs"], target)
            ratio = evo_reach[0] / reach[0] if reach and evo_reach else 0.0
        out.append({"seed": seed, "strategy": strategy, "trials": len(rows),
                    "epochs": rows[-1]["cum_epochs"] if rows else 0, "final_best": final_best(rows, top),
                    "target": target, "time_to_target": reach[0] if reach else None,
                    "epochs_to_target": reach[1] if reach else None, "ratio": ratio,
                    "elapsed": rows[-1]["elapsed"] if rows else None, "load": (e["load_start"], e["load_end"])})
    return out


def _f(x: Any, fmt: str = "{:.2f}", none: str = "-") -> str:
    return none if x is None else fmt.format(x)


def table(results: list[dict[str, Any]]) -> str:
    """The Markdown table per seed, the medians over seeds and the target verdict per strategy."""
    lines = ["| seed | strategy | trials | epochs | final best val_acc | target | time to target (s) "
             "| epochs to target | ratio (evo/strategy) | search time (s) | load start → end |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    nr = "not reached"
    for r in results:
        load = f"{r['load'][0][0]:.2f} → {r['load'][1][0]:.2f}"
        lines.append(f"| {r['seed']} | {r['strategy']} | {r['trials']} | {r['epochs']} | {_f(r['final_best'])} "
                     f"| {_f(r['target'])} | {_f(r['time_to_target'], '{:.1f}', nr)} "
                     f"| {_f(r['epochs_to_target'], '{}', nr)} "
                     f"| {_f(r['ratio'])} | {_f(r['elapsed'], '{:.1f}')} | {load} |")
    lines += ["", "| strategy | seeds | median ratio (evo/strategy) | median epochs to target | reached "
              "| mean final best val_acc |", "|---|---:|---:|---:|---:|---:|"]
    by: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by.setdefault(r["strategy"], []).append(r)
    evo_mean = _mean(by.get("evolution", []))
    verdicts = []
    for strategy, rs in by.items():
        ratios = [r["ratio"] for r in rs if r["ratio"] is not None]
        reached = [r["epochs_to_target"] for r in rs if r["epochs_to_target"] is not None]
        med, mean = statistics.median(ratios) if ratios else None, _mean(rs)
        med_epochs = _f(statistics.median(reached), "{:g}") if reached else "not reached"
        lines.append(f"| {strategy} | {len(rs)} | {_f(med)} | {med_epochs} | {len(reached)}/{len(rs)} | {_f(mean)} |")
        if strategy != "evolution":
            met = med is not None and med >= 2 and mean is not None and evo_mean is not None and mean >= evo_mean
            verdicts.append(f"- {strategy}: issue target (>= 2x less time at equal or better final val_acc) "
                            f"{'MET' if met else 'NOT met'}: median ratio {_f(med)}, mean final best {_f(mean)} "
                            f"vs evolution {_f(evo_mean)}")
    return "\n".join(lines + [""] + verdicts)


def _mean(rs: list[dict[str, Any]]) -> float | None:
    vals = [r["final_best"] for r in rs if r["final_best"] is not None]
    return statistics.fmean(vals) if vals else None


def read_results(path: Path) -> list[dict[str, Any]]:
    """The summaries in a ``--results`` file (none if it does not exist)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=_positive, default=3, help="seeds 0..S-1 (default 3)")
    ap.add_argument("--trials", type=_positive, default=20, help="evolution's trials (default 20)")
    ap.add_argument("--max-epochs", type=_positive, default=9, help="top rung = evolution's --epochs (default 9)")
    ap.add_argument("--epoch-budget", type=_positive, default=None, help="epochs per search (trials x max-epochs)")
    ap.add_argument("--channels", type=_positive, default=None, help="the search's --channels (default: the space's)")
    ap.add_argument("--layers", type=_positive, default=None, help="the search's --layers (default: the space's)")
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--out", type=Path, default=None, help="run directories and results (default: a temp dir)")
    ap.add_argument("--results", type=Path, default=None, help="JSON-lines summaries (default OUT/results.jsonl)")
    ap.add_argument("--summarise-only", action="store_true", help="print the table of --results; run nothing")
    args = ap.parse_args(argv)
    args.epoch_budget = args.epoch_budget or args.trials * args.max_epochs
    if args.summarise_only and args.out is None and args.results is None:
        ap.error("--summarise-only needs --out or --results")
    out = args.out or Path(tempfile.mkdtemp(prefix="mfdigits-"))
    results_path = args.results or out / "results.jsonl"
    if not args.summarise_only:
        out.mkdir(parents=True, exist_ok=True)
        print(f"# multi-fidelity digits: out {out}, load at start {os.getloadavg()}", flush=True)
        for seed in range(args.seeds):
            for strategy in args.strategies:
                entry = run_one(strategy, seed, args, out / "runs")
                with results_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")
                print(f"seed {seed} {strategy}: {len(entry['rows'])} trials, {entry['wall_s']:.1f} s, "
                      f"stopped: {entry['stopped']}, load {entry['load_start'][0]:.2f} → "
                      f"{entry['load_end'][0]:.2f}", flush=True)
        print(f"# load at end {os.getloadavg()}", flush=True)
    entries = read_results(results_path)
    if not entries:
        print(f"no results in {results_path}", file=sys.stderr)
        return 1
    print(f"\nresults: {results_path} (epoch budget {args.epoch_budget if not args.summarise_only else 'as run'})\n")
    print(table(analyse(entries, None if args.summarise_only else args.epoch_budget)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

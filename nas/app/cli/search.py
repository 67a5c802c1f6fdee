"""``nas search``: run (or resume) an architecture search.

Settings come, in increasing priority, from the ``SearchConfig`` defaults, ``--config
FILE.yaml`` and flags. ``--resume RUN_DIR`` starts from the run's ``run.yaml`` instead of the
defaults; flags that change a field outside ``nas.config.RESUME_MUTABLE`` are refused (exit 2)
unless ``--force``. Bad input exits 2 with one ``nas: error:`` line and creates nothing.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from typing import Any

from nas.app.cli import count_arg, key_value
from nas.config import WARM_START_DEFAULTS, SearchConfig

#: repeatable KEY=VALUE flag dest -> the SearchConfig option mapping it fills
OPTION_FLAGS = {"strategy_option": "strategy_options", "evaluator_option": "evaluator_options",
                "objective_option": "objective_options"}
#: SearchConfig fields set by the flag of the same dest (fields without a flag are never in the namespace)
FIELDS = tuple(f.name for f in dataclasses.fields(SearchConfig) if f.name not in OPTION_FLAGS.values())


def name_list(text: str) -> list[str]:
    """argparse ``type`` for ``NAME[,NAME...]``: the names, in order (checked where they are used)."""
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected NAME[,NAME...], got {text!r}")
    return names


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    d = SearchConfig()
    p = subparsers.add_parser(
        "search", help="run or resume an architecture search",
        description="Run an architecture search; results go to RUNS_DIR/NAME/ (see runs/README.md).",
        argument_default=argparse.SUPPRESS,
    )
    g = p.add_argument_group("what to search")
    g.add_argument("--space", help="search space (nas spaces lists them; default nasnet)")
    g.add_argument("--strategy", help="search strategy (nas strategies lists them; default evolution)")
    g.add_argument("--objective", help="accuracy (default), mnas or pareto")
    g.add_argument("--population", type=int, help="evolution: population size P (default 10)")
    g.add_argument("--sample-size", type=int, help="evolution: tournament sample size S (default: the population size)")
    g.add_argument("--no-aging", action="store_true", help="evolution: kill the worst of the sample, not the oldest")
    g.add_argument("--strategy-option", action="append", type=key_value, metavar="KEY=VALUE",
                   help="any strategy option (value parsed as YAML); repeatable")
    g.add_argument("--objective-option", action="append", type=key_value, metavar="KEY=VALUE",
                   help="objective option, e.g. target=400e6 for mnas; repeatable")
    g = p.add_argument_group("how much")
    g.add_argument("--budget", type=count_arg(1, "none", "a number of trials"), metavar="TRIALS",
                   help=f"number of trials, or 'none' (default {d.budget})")
    g.add_argument("--time-budget", type=float, metavar="SECONDS", help="stop after this much time")
    g.add_argument("--max-concurrent", type=int, metavar="N", help="trials at once (default: evaluator capacity)")
    g = p.add_argument_group("evaluation")
    g.add_argument("--evaluator", help="auto (default), local, ray or tabular")
    g.add_argument("--evaluator-option", action="append", type=key_value, metavar="KEY=VALUE",
                   help="evaluator option (value parsed as YAML); repeatable")
    g.add_argument("--address", help="Ray cluster to run trials on: auto, HOST:PORT, or local (a private "
                   "instance); implies --evaluator ray (default: RAY_ADDRESS, else a private instance)")
    g.add_argument("--gpus-per-trial", type=float, metavar="N",
                   help="ray: GPUs per trial, fractions share a GPU (default 1 if the cluster has GPUs, else 0)")
    g.add_argument("--cpus-per-trial", type=float, metavar="N", help="ray: CPUs per trial (default 1)")
    g.add_argument("--storage", metavar="PATH",
                   help="ray: storage every node sees, for per-epoch trial checkpoints and kept trained weights "
                        "(multi-node clusters)")
    g.add_argument("--dataset", help="dataset (default digits)")
    g.add_argument("--data-dir", help="where the dataset lives")
    g.add_argument("--download", action="store_true", help="allow downloading the dataset")
    g.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    g.add_argument("--trial-timeout", type=float, metavar="SECONDS", help="time limit per trial")
    g.add_argument("--epochs", type=int, help=f"training epochs per candidate (default {d.epochs})")
    g.add_argument("--channels", type=int, help="initial channels of candidate networks")
    g.add_argument("--layers", type=int, help="cells/layers of candidate networks")
    g.add_argument("--batch-size", type=int, help=f"default {d.batch_size}")
    g.add_argument("--lr", type=float, help=f"learning rate (default {d.lr})")
    g.add_argument("--seed", type=int, help=f"default {d.seed}")
    g = p.add_argument_group("zero-cost proxies (Abdelfattah et al., ICLR 2021)")
    g.add_argument("--proxies", type=name_list, metavar="NAME[,NAME...]",
                   help="score each trial's untrained network with these proxies before training (metrics "
                        "proxy_NAME): naswot, synflow, snip, grad_norm, jacob_cov")
    g.add_argument("--warm-start", dest="warm_start_proxy", metavar="PROXY",
                   help="pre-screen sampled architectures with this proxy; the best seed the strategy")
    g.add_argument("--warm-start-samples", type=count_arg(1, what="a number of architectures"), metavar="N",
                   help=f"warm start: architectures to pre-screen (default {WARM_START_DEFAULTS['samples']})")
    g.add_argument("--warm-start-top", type=count_arg(1, what="a number of architectures"), metavar="K",
                   help=f"warm start: the best K seed the strategy (default {WARM_START_DEFAULTS['top']})")
    g = p.add_argument_group("run directory")
    g.add_argument("--name", help="run name (default SPACE-STRATEGY-TIMESTAMP)")
    g.add_argument("--runs-dir", help="parent folder of runs (default runs)")
    g.add_argument("--keep-weights", type=count_arg(0, "all", "a number of trials"), metavar="K",
                   help=f"keep trained weights of the top K trials for export, 'all' or 0 (default {d.keep_weights})")
    g.add_argument("--config", metavar="FILE.yaml", help="settings file (flags override it)")
    g.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR")
    g.add_argument("--force", action="store_true", help="with --resume: allow changing non-resumable settings")
    g.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def overrides_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """SearchConfig fields set by ``--config`` and flags (flags win; option dicts merge)."""
    from nas.app.launch import RAY_ONLY_OPTIONS  # evaluator_options of the ray evaluator, flags of the same names

    out: dict[str, Any] = {}
    ns = vars(args)
    if "config" in ns:
        out.update(SearchConfig.load(ns["config"]))
    for f in FIELDS:
        if f in ns:
            out[f] = ns[f]
    strategy_opts: dict[str, Any] = {}
    if "population" in ns:
        strategy_opts["population"] = ns["population"]
    if "sample_size" in ns:
        strategy_opts["sample_size"] = ns["sample_size"]
    if ns.get("no_aging"):
        strategy_opts["aging"] = False
    warm = {k: ns[f"warm_start_{k}"] for k in ("proxy", *WARM_START_DEFAULTS) if f"warm_start_{k}" in ns}
    if warm:  # --warm-start* flags override the keys of a --config file's warm_start
        stored = out.get("warm_start")
        out["warm_start"] = {**(stored if isinstance(stored, dict) else {}), **warm}
    for flag, field in OPTION_FLAGS.items():
        opts = dict(strategy_opts) if field == "strategy_options" else {}
        if field == "evaluator_options":
            opts = {k: ns[k] for k in sorted(RAY_ONLY_OPTIONS) if k in ns}
            if "storage" in opts:  # stored absolute in run.yaml: a resume may start elsewhere
                opts["storage"] = os.path.abspath(os.path.expanduser(opts["storage"]))
        for k, v in ns.get(flag) or ():
            opts[k] = v
        if opts:
            out[field] = {**(out.get(field) or {}), **opts}
    return out


def run(args: argparse.Namespace) -> int:
    from nas.app.launch import run_search

    overrides = overrides_from_args(args)
    resume = getattr(args, "resume", None)
    if resume is not None:  # option merging on resume: nas.app.launch.resume_config
        summary = run_search(overrides, resume=resume, force=bool(getattr(args, "force", False)))
    else:
        if getattr(args, "force", False):
            from nas.errors import ConfigError

            raise ConfigError("--force only makes sense with --resume")
        summary = run_search(SearchConfig().update(overrides, where="command line"))
    return report(summary)


def report(summary: Any) -> int:
    """Print the stop reason and the top-5 table, export the best trial and write the report
    (:func:`nas.app.launch.finish_run`), say what was skipped; return the exit code."""
    from nas.app.progress import fmt_time, print_top

    run_dir = summary.run_dir
    print(f"stopped: {summary.stopped_reason}; {len(summary.trials)} trials ({summary.n_ok} ok, "
          f"{summary.n_failed} failed) in {fmt_time(summary.elapsed)}")
    print_top(summary.top(5), title=f"top 5 of {run_dir}")
    from nas.app.launch import finish_run

    done = finish_run(summary)  # best/ and report.html
    for warning in done.warnings:
        sys.stderr.write(f"nas: warning: {warning}\n")
    if done.exported is not None:
        print(f"best architecture exported to {done.exported}/")
    for note in done.notes:  # an artifact skipped, with the command that adds it
        print(f"note: {note}")
    if done.report is not None:
        print(f"report: {done.report}")
    if summary.exit_code:
        first = next((t.get("error") for t in summary.trials if t.get("error")), None)
        sys.stderr.write(f"nas: search failed: every trial failed; first error: {first}\n")
    return summary.exit_code

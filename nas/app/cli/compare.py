"""``nas compare MODEL ... [--run RUN_DIR --top K]``: train models side by side under one recipe and seeds.

``MODEL`` is anything ``nas train`` takes (a baseline, a zoo name, an architecture YAML or string);
``--run RUN_DIR`` (repeatable) adds the best ``--top`` trials of a search. Every (model, seed)
pair is one trial of a run directory (default ``runs/compare-TIMESTAMP``), trained by the
evaluator (local, or Ray with ``--evaluator ray`` / ``--address``); ``--resume RUN_DIR``
continues a killed comparison and retrains nothing that finished. The leaderboard
(``leaderboard.md``, ``.csv``, ``.png``) is written into the run directory and printed.
See :mod:`nas.app.compare`.
"""
from __future__ import annotations

import argparse
from typing import Any

from nas.app.cli import count_arg, key_value
from nas.app.cli.train import RECIPE_FIELDS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("compare", help="leaderboard: train found architectures beside baselines",
                              description="Train models (baselines, zoo names, architecture files, the best "
                                          "trials of runs) under one recipe and the same seeds; write a "
                                          "leaderboard table and plot.")
    p.add_argument("models", nargs="*", metavar="MODEL", help="baseline, zoo name, ARCH.yaml or architecture string")
    p.add_argument("--run", action="append", default=[], metavar="RUN_DIR", help="add the best trials of this run")
    p.add_argument("--top", type=count_arg(1), default=1, metavar="K", help="trials per --run (default 1)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, metavar="S", help="seeds (default 0)")
    p.add_argument("--recipe", choices=("search", "full"), default=None, help="training recipe (default search)")
    g = p.add_argument_group("recipe fields (override the recipe)")
    for name, typ in RECIPE_FIELDS.items():
        flag = "--" + name.replace("_", "-")
        if typ is bool:
            g.add_argument(flag, dest=name, action=argparse.BooleanOptionalAction, default=None)
        else:
            kind = count_arg(1) if name in ("epochs", "batch_size") else count_arg(0) if name == "cutout" else typ
            g.add_argument(flag, dest=name, type=kind, default=None, metavar="N" if typ is int else "X")
    g = p.add_argument_group("data and evaluation")
    g.add_argument("--dataset", default=None, help="dataset (default digits)")
    g.add_argument("--data-dir", default=None)
    g.add_argument("--download", action="store_true", default=None)
    g.add_argument("--data-seed", type=int, default=None, help="seed of the train/val/test split (default 0)")
    g.add_argument("--device", default=None, help="auto (default), cpu, cuda or cuda:N")
    g.add_argument("--evaluator", default=None, help="auto (default), local or ray")
    g.add_argument("--evaluator-option", action="append", type=key_value, default=[], metavar="KEY=VALUE")
    g.add_argument("--address", default=None, help="Ray cluster address (implies --evaluator ray)")
    g.add_argument("--max-concurrent", type=count_arg(1), default=None, metavar="N")
    g.add_argument("--trial-timeout", type=float, default=None, metavar="SECONDS")
    g = p.add_argument_group("run directory")
    g.add_argument("--name", default=None, help="run name (default compare-TIMESTAMP)")
    g.add_argument("--runs-dir", default=None, help="parent folder of runs (default runs)")
    g.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue the comparison in RUN_DIR")
    g.add_argument("--debug", action="store_true")
    return p


def run(args: argparse.Namespace) -> int:
    from nas.app.compare import best_of_run, model_entry, run_compare
    from nas.app.progress import make_progress
    from nas.errors import ConfigError

    config: dict[str, Any] = {k: v for k, v in (
        ("dataset", args.dataset), ("data_dir", args.data_dir), ("download", args.download),
        ("seed", args.data_seed), ("device", args.device), ("evaluator", args.evaluator),
        ("max_concurrent", args.max_concurrent), ("trial_timeout", args.trial_timeout), ("name", args.name),
        ("runs_dir", args.runs_dir)) if v is not None}
    options = dict(args.evaluator_option)
    if args.address:
        options["address"] = args.address
    if options:
        config["evaluator_options"] = options
    overrides = {k: getattr(args, k) for k in RECIPE_FIELDS if getattr(args, k) is not None}
    if args.resume:
        if args.models or args.run or overrides or args.seeds or args.recipe or args.name:
            raise ConfigError("--resume continues the stored comparison: models, --run, --seeds, --recipe, "
                              "recipe fields and --name cannot be given with it")
        path = run_compare(None, config, resume=args.resume, progress=make_progress())
    else:
        models = [m for run_dir in args.run for m in best_of_run(run_dir, args.top)]
        models += [model_entry(m) for m in args.models]
        names = [m["name"] for m in models]
        if len(set(names)) != len(names):
            raise ConfigError(f"a model is given twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}")
        spec = {"models": models, "seeds": list(dict.fromkeys(args.seeds or [0])), "recipe": args.recipe or "search",
                "overrides": overrides}
        path = run_compare(spec, config, progress=make_progress())
    print((path / "leaderboard.md").read_text(), end="")
    print(f"leaderboard: {path / 'leaderboard.md'}, {path / 'leaderboard.csv'}, {path / 'leaderboard.png'}")
    return 0

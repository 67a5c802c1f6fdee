"""``nas baselines [--json] [--dataset NAME] [--family TEXT]``: list the baselines ``nas train`` and
``nas compare`` know, with family, paper, parameters and MACs at the dataset's input size.

Parameters and conv + linear MACs (:mod:`nas.nn.measure`) are counted on PyTorch's ``meta``
device, so listing even the largest networks allocates nothing. The ``imagenet`` family
(``--dataset imagenet``) builds each network's ImageNet variant where its paper has one.
"""
from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("baselines", help="list hand-designed baselines with params and MACs",
                              description="List the baselines (hand-designed networks and literature "
                                          "architectures) with family, paper, parameters and MACs.")
    p.add_argument("--dataset", default="cifar10",
                   help="input size and classes to count at: cifar10 (default), digits, mnist, imagenet, ...")
    p.add_argument("--data-dir", help="where an imagefolder dataset lives")
    p.add_argument("--family", metavar="TEXT", help="only baselines whose name or family contains TEXT")
    p.add_argument("--json", action="store_true", help="machine-readable output (one JSON list)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def _human(n: int) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def run(args: argparse.Namespace) -> int:
    from evaluators.data import dataset_info
    from nas.app.baselines import describe, list_baselines

    info = dataset_info(args.dataset, args.data_dir)
    wanted = (args.family or "").lower()
    rows = [describe(n, info) for n in list_baselines()
            if not wanted or wanted in n.lower() or wanted in describe(n)["family"].lower()]
    if args.json:
        print(json.dumps({"dataset": info.name, "image_size": info.image_size, "baselines": rows}, indent=1))
        return 0
    print(f"{len(rows)} baselines; params and MACs for {info.name} ({info.in_channels}x{info.image_size}x"
          f"{info.image_size}, {info.num_classes} classes)")
    header = ("name", "family", "paper", "params", "MACs")
    table = [(r["name"], r["family"], r["paper"] or "-", _human(r["params"]), _human(r["macs"])) for r in rows]
    widths = [max(len(str(x[i])) for x in [header, *table]) for i in range(5)]
    for line in [header, *table]:
        print("  ".join(str(c).rjust(w) if i >= 3 else str(c).ljust(w) for i, (c, w) in enumerate(zip(line, widths))))
    return 0

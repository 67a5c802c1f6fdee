"""``nas export RUN --top K``: write the best trials of a run as runnable models.

For each of the top ``K`` ok trials (ranked by the run's objective) a folder
``RUN/best/<rank>-<trial id>/`` (or ``OUT/<rank>-<trial id>/``) gets ``arch.yaml``,
a standalone ``model.py``, ``weights.pt`` when the run kept the trial's weights,
``model.ts`` (TorchScript), ``model.onnx`` (when onnx is installed) and ``card.md``;
see :mod:`nas.app.export`. Bad format names, a folder that is not a run, or a run without
ok trials exit with code 2 and one ``nas: error:`` line, as does a destination where no file
can be created (checked before any work, :func:`nas.limits.check_writable_dir`).
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

FORMATS = ("yaml", "py", "torchscript", "onnx")  # = nas.app.export.FORMATS (kept here: no torch import)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export", help="export the best trials of a run as runnable models",
        description="Export the top-K trials of a run: arch.yaml, standalone model.py (torch only), "
                    "weights.pt (if kept), TorchScript, ONNX and a model card.")
    p.add_argument("run_dir", metavar="RUN", help="run directory, e.g. runs/NAME")
    p.add_argument("--top", type=int, default=1, metavar="K", help="how many trials to export (default 1)")
    p.add_argument("--format", default=",".join(FORMATS), metavar="LIST",
                   help=f"comma-separated formats (default {','.join(FORMATS)}); card.md is always written")
    p.add_argument("--out", metavar="DIR", help="write the folders under DIR instead of RUN/best/")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    from nas.errors import ConfigError
    from nas.app.rundir import read_run_yaml

    if args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    from nas.app.export import export_top, parse_formats

    formats = parse_formats(args.format)
    read_run_yaml(args.run_dir)  # "not a run directory" before torch is imported
    from pathlib import Path

    from nas.limits import check_writable_dir

    check_writable_dir(args.out if args.out else Path(args.run_dir) / "best", "--out" if args.out else "export folder")
    paths = export_top(args.run_dir, top=args.top, formats=formats, out=args.out,
                       on_note=lambda text: sys.stderr.write(f"nas: note: {text}\n"))
    for p in paths:
        files = ", ".join(sorted(f.name for f in p.iterdir()))
        print(f"{p}/  ({files})")
    return 0

"""``nas report RUN [--out FILE.html]``: the self-contained HTML report of a run or a ``nas bench`` folder.

Reads the run without a lock (it works while a search runs) and writes one file atomically
(default ``RUN/report.html``); see :mod:`nas.app.report` for what the page shows.
"""
from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("report", help="write the HTML report of a run or a nas bench folder",
                              description="Write one self-contained HTML page (plots, top cells, sortable "
                                          "trial table) about a run directory or a nas bench output folder.")
    p.add_argument("run_dir", metavar="RUN", help="run directory (runs/NAME) or nas bench --out folder")
    p.add_argument("--out", metavar="FILE.html", help="where to write it (default RUN/report.html)")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    return p


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from nas.errors import ConfigError
    from nas.limits import check_writable_file
    from nas.app.report import write_report

    src = Path(args.run_dir)
    if not src.is_dir():
        raise ConfigError(f"{src}: no such run directory")
    out = None if args.out is None else check_writable_file(args.out, "--out")
    print(f"wrote {write_report(src, out)}")
    return 0

"""Cores: wall time of the default digits search with the local evaluator's worker processes vs one worker.

Runs ``nas search --space nasnet --strategy evolution`` (the defaults: 20 trials, 8 epochs,
digits) once per setting, each in a fresh run directory, as a subprocess, and prints a Markdown
table of wall time, trials per minute and the speed-up against the first setting, measured in
the same invocation. Settings (``--settings``, comma-separated, in the order run):

``serial``   ``--evaluator-option workers=1``: one candidate at a time on one thread (the old default)
``threads2`` ``workers=1 threads=2``: one candidate at a time on two threads
``auto``     no option: the default, one worker per core at one thread each

Also prints the best val_acc of each run (the searches differ after the first population:
with several workers, results arrive in another order) and the load average before and after.

Run: ``python benchmarks/local_workers.py`` (about 10 minutes on 2 idle cores);
``--budget 6`` for a quick look.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SETTINGS = {
    "serial": ["--evaluator-option", "workers=1"],
    "threads2": ["--evaluator-option", "workers=1", "--evaluator-option", "threads=2"],
    "auto": [],
}
ROOT = Path(__file__).resolve().parents[1]


def run(setting: str, out: Path, budget: int | None) -> dict:
    cmd = [sys.executable, "-m", "nas", "search", "--space", "nasnet", "--strategy", "evolution",
           "--runs-dir", str(out), "--name", setting, *SETTINGS[setting]]
    if budget is not None:
        cmd += ["--budget", str(budget)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{setting}: nas search failed ({r.returncode}): {r.stderr.strip()[-400:]}")
    trials = [json.loads(line) for line in (out / setting / "trials.jsonl").read_text().splitlines()]
    ok = [t for t in trials if t["status"] == "ok"]
    return {"setting": setting, "wall": wall, "trials": len(trials),
            "best": max(t["metrics"]["val_acc"] for t in ok) if ok else float("nan"),
            "workers": len({t["worker"].get("pid") for t in trials})}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settings", default="serial,auto", help="comma-separated, from: " + ", ".join(SETTINGS))
    ap.add_argument("--budget", type=int, default=None, help="trials per search (default: the search default)")
    args = ap.parse_args(argv)
    names = [s for s in args.settings.split(",") if s]
    unknown = [s for s in names if s not in SETTINGS]
    if unknown:
        ap.error(f"unknown setting(s) {unknown}")
    load0 = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            rows.append(run(name, Path(tmp), args.budget))
            print(f"{name}: {rows[-1]['wall']:.1f}s", file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    base = rows[0]["wall"]
    print(f"`python benchmarks/local_workers.py {' '.join(argv if argv is not None else sys.argv[1:])}`"
          f" on {os.cpu_count()} cores; load average before {load0[0]:.2f}, after {load1[0]:.2f}\n")
    print("| setting | worker processes | trials | wall (s) | trials/min | speed-up vs first | best val_acc |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['setting']} | {r['workers']} | {r['trials']} | {r['wall']:.1f} | "
              f"{60 * r['trials'] / r['wall']:.2f} | {base / r['wall']:.2f}x | {r['best']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

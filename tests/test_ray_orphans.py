"""No Ray process outlives a SIGKILLed driver of a private instance (Ray 2.60 leaves its
``ray::DashboardAgent`` and ``ray::RuntimeEnvAgent`` behind by itself; the evaluator's
watchdog, :mod:`evaluators.ray_reaper`, ends them).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evaluators.ray_reaper import descendants, mentions
from tests.ray_helpers import ROOT, kill_leftovers, subprocess_env

SESSION = re.compile(r"session_\d{4}-\d\d-\d\d_[\d_-]+")


def _session_of(pids: dict[int, int]) -> str | None:
    for pid in pids:
        try:
            m = SESSION.search(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        except OSError:
            continue
        if m:
            return m.group(0)
    return None


def _session_processes(marker: str) -> list[int]:
    """Pids whose command line or open files name the Ray session ``marker``."""
    me = os.getpid()
    return sorted(int(e) for e in os.listdir("/proc") if e.isdigit() and int(e) != me and mentions(int(e), marker))


@pytest.mark.ray
@pytest.mark.timeout(120)
def test_sigkilled_driver_leaves_no_ray_process(tmp_path):
    cmd = [sys.executable, "-m", "nas", "search", "--space", "nb201", "--strategy", "random", "--budget", "3",
           "--epochs", "20", "--evaluator", "ray", "--address", "local", "--evaluator-option", "num_cpus=1",
           "--runs-dir", str(tmp_path), "--name", "o"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen: dict[int, int] = {}
    marker = None
    try:
        deadline = time.monotonic() + 60
        ckpts = tmp_path / "o" / "checkpoints"
        while time.monotonic() < deadline:  # until a trial is training on a Ray worker
            seen.update(descendants([proc.pid]))
            marker = marker or _session_of(seen)
            if marker and list(ckpts.glob("*.pt")):
                break
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.1)
        else:
            raise AssertionError("no trial started on the private Ray instance within 60 s")
        titles = {Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0] for p in seen if Path(f"/proc/{p}").exists()}
        assert b"ray::DashboardAgent" in titles  # the processes that used to be left behind do run
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        left = _session_processes(marker)
        deadline = time.monotonic() + 20
        while left and time.monotonic() < deadline:
            time.sleep(0.2)
            left = _session_processes(marker)
        assert not left, {p: Path(f"/proc/{p}/cmdline").read_bytes()[:80] for p in left}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        still = descendants(seen)  # by start time: a reused pid is someone else's process
        kill_leftovers({p for p, start in still.items() if seen.get(p, start) == start}
                       | set(_session_processes(marker) if marker else ()))

"""benchmarks/gpu_check.py: a clean exit without CUDA, and no Ray/Optuna on its import path."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def test_without_cuda_it_says_so_writes_a_report_and_exits_0(tmp_path):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    out = tmp_path / "gpu.md"
    r = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "no CUDA device is visible" in r.stdout and not r.stderr.strip()
    assert "skipped" in out.read_text()


def test_its_code_path_imports_neither_ray_nor_optuna():
    # a finder that refuses ray and optuna: the script's modules must import without them
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('ray', 'optuna'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
sys.path.insert(0, {str(SCRIPT.parent)!r})
import gpu_check
import nas.app.launch, nas.app.baselines, evaluators.trainer, evaluators.batches, evaluators.data
import strategies.oneshot.darts, strategies.oneshot.architect, search_spaces.darts
from nas.registry import EVALUATORS, STRATEGIES, SPACES
EVALUATORS.get('local'); STRATEGIES.get('random'); SPACES.get('nb201')
print(sorted(m for m in ('ray', 'optuna') if m in sys.modules))
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip().splitlines()[-1] == "[]"

"""End to end through the command line, each step in its own process, on digits with tiny settings:

``nas search`` -> ``nas status`` -> ``nas export --top 2`` -> ``nas train`` (the exported
arch.yaml, with the card's seeds: it must repeat the search's proxy training exactly) ->
the trained ``weights.pt`` loaded into the exported standalone ``model.py`` in an isolated
interpreter where ``nas`` cannot be imported, giving the toolkit model's logits.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import yaml

pytestmark = pytest.mark.slow

TINY = ["--channels", "4", "--layers", "2"]


def nas(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run([sys.executable, "-m", "nas", *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, f"nas {' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc


ISOLATED = textwrap.dedent('''
    import importlib.util, sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("nas", "search_spaces", "strategies", "evaluators", "networkx", "yaml"):
                raise ImportError(f"blocked: {name}")
            return None
    sys.meta_path.insert(0, Block())
    try:
        import nas  # noqa: F401
        raise SystemExit("nas is importable")
    except ImportError:
        pass
    import torch
    spec = importlib.util.spec_from_file_location("exported", sys.argv[1])
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.load_weights(mod.build_model(), sys.argv[2]).eval()
    with torch.no_grad():
        torch.save(model(torch.load(sys.argv[3], weights_only=True)), sys.argv[4])
''')


def test_search_status_export_train_and_standalone_model(tmp_path):
    from evaluators.candidate import trial_seed
    from nas.arch import Architecture
    from nas.zoo import get_space

    nas("search", "--space", "nasnet", "--strategy", "evolution", "--budget", "3", "--epochs", "1", *TINY,
        "--population", "2", "--sample-size", "2", "--seed", "0", "--device", "cpu", "--runs-dir", "runs",
        "--name", "e2e", cwd=tmp_path)
    run = tmp_path / "runs" / "e2e"
    trials = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    assert len(trials) == 3 and all(t["status"] == "ok" for t in trials)

    status = nas("status", "runs/e2e", cwd=tmp_path).stdout
    assert "3/3 done" in status

    nas("export", "runs/e2e", "--top", "2", cwd=tmp_path)
    folders = sorted((run / "best").iterdir())
    ranked = sorted(trials, key=lambda t: -t["metrics"]["val_acc"])  # stable: ties keep journal order
    assert [f.name for f in folders] == [f"1-{ranked[0]['id']}", f"2-{ranked[1]['id']}"]
    for f in folders:
        for name in ("arch.yaml", "model.py", "model.ts", "card.md"):
            assert (f / name).is_file(), (f, name)
    best = folders[0]
    best_trial = ranked[0]
    seed = trial_seed(0, best_trial["id"])
    assert f"--seed {seed} --data-seed 0" in (best / "card.md").read_text()

    # retrain the exported architecture with the card's proxy command: the search's trial, repeated exactly
    rel = best.relative_to(tmp_path) / "arch.yaml"
    nas("train", str(rel), "--recipe", "search", "--epochs", "1", *TINY, "--seed", str(seed), "--data-seed", "0",
        "--device", "cpu", "--out", "trained", cwd=tmp_path)
    result = yaml.safe_load((tmp_path / "trained" / "result.yaml").read_text())
    assert result["final_val_acc"] == pytest.approx(best_trial["metrics"]["val_acc"], abs=1e-9)
    assert result["params"] == best_trial["metrics"]["params"]

    # the trained weights in the standalone model.py give the toolkit model's logits
    arch = Architecture.load(best / "arch.yaml")
    model = get_space("nasnet").build(arch, channels=4, layers=2, in_channels=1, num_classes=10)
    model.load_state_dict(torch.load(tmp_path / "trained" / "weights.pt", weights_only=True))
    model.eval()
    x = torch.randn(4, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    torch.save(x, tmp_path / "x.pt")
    (tmp_path / "iso.py").write_text(ISOLATED)
    proc = subprocess.run([sys.executable, "-I", "iso.py", str(best / "model.py"), str(tmp_path / "trained" /
                           "weights.pt"), "x.pt", "logits.pt"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with torch.no_grad():
        assert torch.allclose(torch.load(tmp_path / "logits.pt", weights_only=True), model(x), rtol=1e-4,
                              atol=1e-5)

"""A new space is one file: ``tests/plugin_space.py`` gets every capability with no edit elsewhere.

The plugin is loaded the way a ``nas.plugins`` entry point loads one (importing the module
registers the space; ``NAS_PLUGINS=tests.plugin_space`` for subprocesses and Ray workers).
Then, each in its own ``python -m nas`` process: ``nas spaces`` lists it, ``nas search``
(local evaluator, digits, tiny) runs and exports the best trial, ``nas show`` builds it, ``nas
export`` writes a standalone ``model.py`` that a process where ``nas`` cannot be imported loads,
giving the toolkit model's logits; a search on a private local Ray instance runs a trial on a
Ray worker. The conformance suites run on it as a plugin author would run them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nas.testing import EvaluatorConformance, SpaceConformance, StrategyConformance, registered_strategy
from tests.plugin_space import NAME, LadderSpace

REPO = Path(__file__).resolve().parents[1]
PLUGIN_ENV = {"NAS_PLUGINS": "tests.plugin_space", "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1",
              "PYTHONWARNINGS": "ignore"}
SEARCH = ["search", "--space", NAME, "--strategy", "evolution", "--population", "2", "--sample-size", "2",
          "--epochs", "1", "--device", "cpu", "--seed", "0"]


def nas(*argv: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 600) -> str:
    full = {**os.environ, **PLUGIN_ENV, **(env or {})}
    full.pop("NAS_CRASH_AFTER", None)
    proc = subprocess.run([sys.executable, "-m", "nas", *argv], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"nas {' '.join(argv)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def journal(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines() if line.strip()]


# -- the conformance suites, as a plugin author runs them --------------------------------------
class TestLadderSpace(SpaceConformance):
    @pytest.fixture
    def space(self):
        return LadderSpace()


class TestEvolutionOnTheLadder(StrategyConformance):
    @pytest.fixture
    def space(self):
        return LadderSpace()

    @pytest.fixture
    def make_strategy(self):
        return registered_strategy("evolution", population=4, sample_size=2)


class TestLocalEvaluatorOnTheLadder(EvaluatorConformance):
    @pytest.fixture
    def space(self):
        return LadderSpace()

    @pytest.fixture
    def make_evaluator(self):
        from evaluators.local import LocalEvaluator

        return lambda space, config, run_dir: LocalEvaluator(space, config, run_dir=run_dir)


def test_the_space_is_unknown_to_the_toolkit_source():
    """No file of the toolkit names the plugin (it is one file in tests/)."""
    hits = [str(p.relative_to(REPO)) for pkg in ("nas", "search_spaces", "strategies", "evaluators")
            for p in (REPO / pkg).rglob("*.py") if NAME in p.read_text(encoding="utf-8")]
    assert hits == []


# -- the CLI, each command in its own process ---------------------------------------------------------
STANDALONE = textwrap.dedent('''
    import sys
    sys.path.insert(1, sys.argv[1])  # the export folder, after this script's folder (which holds the stub nas)
    try:
        import nas  # noqa: F401  (the stub next to this script raises)
        raise SystemExit("nas is importable")
    except ImportError:
        pass
    import torch
    from model import build_model, load_weights
    model = load_weights(build_model(), sys.argv[2]).eval()
    with torch.no_grad():
        torch.save(model(torch.load(sys.argv[3], weights_only=True)), sys.argv[4])
''')


@pytest.mark.slow
def test_search_show_export_and_a_standalone_model_without_nas(tmp_path):
    import torch

    from evaluators.data import dataset_info
    from nas.arch import Architecture
    from nas.settings import build_settings

    listed = json.loads(nas("spaces", "--json", cwd=tmp_path))
    assert NAME in json.dumps(listed)

    nas(*SEARCH, "--budget", "2", "--runs-dir", "runs", "--name", "r", cwd=tmp_path)
    run = tmp_path / "runs" / "r"
    trials = journal(run)
    assert [t["status"] for t in trials] == ["ok", "ok"], trials
    assert all(t["arch"]["space"] == NAME for t in trials)
    (best,) = sorted((run / "best").iterdir())
    assert {"arch.yaml", "model.py", "weights.pt"} <= {p.name for p in best.iterdir()}

    space = LadderSpace()
    arch = Architecture.load(best / "arch.yaml")
    settings = build_settings(space, dataset_info("digits"))
    model = space.build(arch, **settings)
    shown = json.loads(nas("show", str(best / "arch.yaml"), "--dataset", "digits", "--json", cwd=tmp_path))
    assert shown["space"] == NAME and shown["key"] == arch.key
    assert shown["params"] == sum(p.numel() for p in model.parameters())

    nas("export", str(run), "--top", "2", "--format", "yaml,py", "--out", "exported", cwd=tmp_path)
    exported = sorted((tmp_path / "exported").iterdir())
    assert len(exported) == 2 and all((d / "model.py").is_file() for d in exported)
    top = exported[0]
    weights = top / "weights.pt" if (top / "weights.pt").exists() else best / "weights.pt"

    # the toolkit model with the trained weights ...
    top_arch = Architecture.load(top / "arch.yaml")
    model = space.build(top_arch, **settings)
    model.load_state_dict(torch.load(weights, weights_only=True))
    model.eval()
    torch.manual_seed(0)
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        expected = model(x)
    torch.save(x, tmp_path / "x.pt")
    # ... and the standalone model.py in a process where `import nas` fails
    iso = tmp_path / "isolated"
    (iso / "nas").mkdir(parents=True)
    (iso / "nas" / "__init__.py").write_text('raise ImportError("nas must not be needed by model.py")\n')
    (iso / "check.py").write_text(STANDALONE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NAS_PLUGINS")}
    proc = subprocess.run([sys.executable, str(iso / "check.py"), str(top), str(weights), str(tmp_path / "x.pt"),
                           str(tmp_path / "y.pt")], cwd=iso, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = torch.load(tmp_path / "y.pt", weights_only=True)
    assert got.shape == (5, 10)
    assert torch.allclose(got, expected, atol=1e-5), (got - expected).abs().max()


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_search_on_a_private_ray_instance_runs_the_plugin_on_a_worker(tmp_path):
    pytest.importorskip("ray")
    from tests.ray_helpers import RAY_ENV

    nas(*SEARCH, "--budget", "1", "--evaluator", "ray", "--address", "local", "--cpus-per-trial", "1",
        "--runs-dir", "runs", "--name", "ray", cwd=tmp_path, env={**RAY_ENV})
    (trial,) = journal(tmp_path / "runs" / "ray")
    assert trial["status"] == "ok", trial
    assert trial["arch"]["space"] == NAME
    assert trial["worker"].get("pid") not in (None, os.getpid())
    assert trial["worker"].get("node_id"), trial["worker"]  # it ran as a Ray task

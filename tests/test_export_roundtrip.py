"""An exported model is the trained one: raw digits through ``model.py`` alone reproduce the trial.

Also: the card's latency is measured as during the search, and staging folders left by a
SIGKILLed ``nas export`` are removed by the next export (but not those of a running one).
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nas.config import SearchConfig
from nas.io import read_jsonl

ROOT = Path(__file__).resolve().parents[1]
SEARCH = {"space": "nb201", "strategy": "random", "dataset": "digits", "epochs": 2, "batch_size": 64, "lr": 0.1,
          "evaluator": "local", "device": "cpu", "channels": 8, "layers": 1}

#: runs in a fresh interpreter where ``import nas`` (and the toolkit's other packages) fail
RAW_DIGITS = r"""
import importlib.util, json, sys
for name in ("nas", "evaluators", "search_spaces", "strategies"):
    sys.modules[name] = None  # any import of the toolkit raises ImportError
try:
    import nas
except ImportError:
    pass
else:
    raise SystemExit("nas is importable")
folder, indices = sys.argv[1], json.loads(sys.argv[2])
spec = importlib.util.spec_from_file_location("model", folder + "/model.py")
model = importlib.util.module_from_spec(spec)
spec.loader.exec_module(model)
from sklearn.datasets import load_digits
digits = load_digits()
net = model.load_weights(model.build_model(), folder + "/weights.pt")
logits = model.predict(net, digits.images[indices])  # the raw 8x8 values 0..16
correct = int((logits.argmax(1).numpy() == digits.target[indices]).sum())
print(json.dumps({"correct": correct, "n": len(indices)}))
"""


def raw_digits_accuracy(folder: Path, seed: int, split: str = "val") -> float:
    """Accuracy (%) of ``folder``'s model.py + weights.pt on the raw digits of the search's ``split``."""
    from sklearn.datasets import load_digits

    from evaluators.data import digits_split

    val, test, _ = digits_split(load_digits().target, seed)
    idx = [int(i) for i in (val if split == "val" else test)]
    r = subprocess.run([sys.executable, "-c", RAW_DIGITS, str(folder), json.dumps(idx)], cwd=folder,
                       env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return 100.0 * out["correct"] / out["n"]


def _best(run: Path) -> dict:
    recs = [r for r in read_jsonl(run / "trials.jsonl") if r["status"] == "ok"]
    return max(recs, key=lambda r: r["metrics"]["val_acc"])


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    from nas.app.launch import run_search

    root = tmp_path_factory.mktemp("runs")
    cfg = SearchConfig(**SEARCH, budget=2, seed=3, runs_dir=str(root), name="rt")
    summary = run_search(cfg, progress=False)
    assert summary.n_ok == 2
    return root / "rt"


def test_raw_digits_through_model_py_reproduce_the_trial(digits_run, tmp_path):
    from nas.app.export import export_top

    [folder] = export_top(digits_run, top=1, formats="yaml,py", out=tmp_path / "x")
    best = _best(digits_run)
    assert folder.name == f"1-{best['id']}" and (folder / "weights.pt").is_file()
    assert best["metrics"]["val_acc"] > 30  # trained: far above the 10 % of chance
    assert raw_digits_accuracy(folder, seed=3) == pytest.approx(best["metrics"]["val_acc"], abs=1e-6)
    card = (folder / "card.md").read_text()
    assert "## Input" in card and "values 0..16" in card and "(N, 1, 8, 8)" in card
    from evaluators.data import preprocessing

    prep = preprocessing("digits", 3)
    assert f"{prep.mean[0]:.8g}" in card and f"{prep.std[0]:.8g}" in card  # the split's constants
    assert preprocessing("digits", 4).mean != prep.mean  # they do depend on the split


def test_preprocess_of_model_py_is_the_training_normalisation(digits_run):
    """``preprocess(raw)`` equals the evaluator's input tensors (same split seed), bit for bit."""
    import importlib.util

    import torch
    from sklearn.datasets import load_digits

    from evaluators.data import digits_split, load_data

    folder = digits_run / "best" / f"1-{_best(digits_run)['id']}"
    if not folder.is_dir():
        from nas.app.export import export_top

        export_top(digits_run, formats="py")
    spec = importlib.util.spec_from_file_location("exported_rt", folder / "model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    bundle = load_data("digits", seed=3)
    val = digits_split(load_digits().target, 3)[0]
    got = mod.preprocess(load_digits().images[val])
    assert torch.equal(got, bundle.val.x)
    with pytest.raises(ValueError, match="8x8"):
        mod.preprocess(torch.zeros(2, 1, 9, 9))


def test_card_latency_is_measured_as_in_the_search(digits_run, tmp_path):
    import torch

    from evaluators.candidate import latency_ms, set_threads
    from evaluators.data import dataset_info
    from nas.app.export import export_top

    [folder] = export_top(digits_run, formats="yaml,py", out=tmp_path / "l")
    m = re.search(r"\| latency \| ([0-9.]+) ms at export \(CPU, batch 1, (\d+) thread", (folder / "card.md").read_text())
    assert m, (folder / "card.md").read_text()
    card_ms, threads = float(m.group(1)), int(m.group(2))
    assert threads == 1  # digits trials run on one thread, and so does the card's measurement
    spec = __import__("importlib.util").util.spec_from_file_location("exported_lat", folder / "model.py")
    mod = __import__("importlib.util").util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    net = mod.load_weights(mod.build_model(), str(folder / "weights.pt")).eval()
    before = torch.get_num_threads()
    set_threads(None, torch.device("cpu"), dataset_info("digits"))
    try:
        direct = min(latency_ms(net, (1, 1, 8, 8)) for _ in range(3))
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before  # export restored the process's thread setting
    assert direct / 10 < card_ms < direct * 10 + 1.0, (card_ms, direct)


def _staging(best: Path) -> list[str]:
    return sorted(p.name for p in best.iterdir() if p.name.startswith(".") and p.name.endswith((".tmp", ".old")))


def test_staging_left_by_a_killed_export_is_removed_by_the_next(digits_run):
    best = digits_run / "best"
    cmd = [sys.executable, "-m", "nas", "export", str(digits_run), "--top", "2"]
    for _attempt in range(5):  # SIGKILL while a staging folder exists (the ONNX/TorchScript step is slow)
        before = set(_staging(best)) if best.is_dir() else set()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            if best.is_dir() and set(_staging(best)) - before:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
        proc.wait()
        if proc.returncode == -signal.SIGKILL:
            break
    else:
        pytest.skip("the export always finished before it could be killed mid-staging")
    left = _staging(best)
    assert left and all(re.match(r"^\.\d+-t\d+\.[a-z0-9_]{8}\.(tmp|old)$", n) for n in left), left
    running = best / ".2-t99999.abcdefgh.tmp"  # a staging folder of an export still running: locked
    running.mkdir()
    other = best / ".keep-me.abcdefgh.tmp"  # not an export's name: never touched
    other.mkdir()
    fd = os.open(running, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        assert _staging(best) == sorted([running.name, other.name])
    finally:
        os.close(fd)
    r = subprocess.run([*cmd[:-2], "--top", "1", "--format", "yaml"], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert _staging(best) == [other.name]  # unlocked now: stale


def _block_namespace(prep, shape):
    """The generated preprocessing block, executed with what model.py defines before it."""
    import torch
    import torch.nn as nn

    from nas.app.export_preprocess import render_preprocess

    ns = {"torch": torch, "nn": nn, "INPUT_SHAPE": shape}
    exec(compile(render_preprocess(prep, shape[1]), "model.py", "exec"), ns)  # noqa: S102 - our output
    return ns


@pytest.mark.parametrize("name", ["cifar10", "mnist"])
def test_preprocess_matches_the_evaluation_transform_of_uint8_datasets(name):
    """uint8 pixels through the block equal the evaluator's val transform (scale, per-channel mean/std)."""
    import torch

    from evaluators.batches import TensorSource
    from evaluators.data import PIXEL_SCALE, TORCHVISION_NORM, dataset_info, preprocessing

    info = dataset_info(name)
    shape = (1, info.in_channels, info.image_size, info.image_size)
    ns = _block_namespace(preprocessing(name), shape)
    raw = torch.randint(0, 256, (5, *shape[1:]), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    mean, std = TORCHVISION_NORM[name]
    src = TensorSource(raw, torch.zeros(5, dtype=torch.long), scale=PIXEL_SCALE, mean=mean, std=std)
    [(expected, _)] = list(src.batches(8))
    assert torch.equal(ns["preprocess"](raw), expected)
    assert torch.equal(ns["Preprocess"]()(raw), expected)


def test_preprocess_resizes_image_folder_inputs():
    import torch

    from evaluators.data import IMAGENET_MEAN, preprocessing

    ns = _block_namespace(preprocessing("imagefolder:/nowhere@16"), (1, 3, 16, 16))
    grey = torch.full((2, 3, 40, 64), 128, dtype=torch.uint8)  # any size: shorter side to 16, centre crop
    out = ns["preprocess"](grey)
    assert out.shape == (2, 3, 16, 16) and out.dtype == torch.float32
    assert torch.allclose(out[:, 0], torch.full((2, 16, 16), (128 / 255 - IMAGENET_MEAN[0]) / 0.229), atol=1e-5)
    with pytest.raises(ValueError, match="shaped"):
        ns["preprocess"](torch.zeros(2, 1, 16, 16))


def test_trial_weights_are_found_on_storage_first_then_in_the_run(tmp_path):
    from nas.layout import find_trial_weights, storage_of, trial_weights_path

    run, storage = tmp_path / "runs" / "r", tmp_path / "shared"
    assert trial_weights_path(run, "t1", storage) == storage.resolve() / "r" / "weights" / "t1.pt"
    assert find_trial_weights(run, "t1", storage) is None
    local = trial_weights_path(run, "t1")
    local.parent.mkdir(parents=True)
    local.write_bytes(b"x")
    assert find_trial_weights(run, "t1", storage) == local  # a session that ran without --storage
    shared = trial_weights_path(run, "t1", storage)
    shared.parent.mkdir(parents=True)
    shared.write_bytes(b"y")
    assert find_trial_weights(run, "t1", storage) == shared
    assert storage_of(SearchConfig(evaluator_options={"storage": str(storage)})) == str(storage)
    assert storage_of(SearchConfig()) is None

"""Candidate evaluation and the local evaluator, with real nb201/darts candidates on digits."""
from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from evaluators.candidate import RECIPE_KEYS, evaluate_candidate, trial_seed
from nas.settings import build_settings
from evaluators.local import LocalEvaluator
from nas.config import SearchConfig
from nas.errors import ConfigError, DataError
from nas.registry import EVALUATORS
from nas.types import Proposal
from nas.zoo import get_space, load_genotype

METRICS = {"val_acc", "params", "macs", "latency_ms", "train_seconds", "epochs"}


def config(**kw) -> SearchConfig:
    return SearchConfig(**{"epochs": 1, "batch_size": 64, "lr": 0.1, "space": "nb201", "device": "cpu", **kw})


def test_registered_lazily_without_torch():
    code = ("import sys, nas, evaluators; from nas.registry import EVALUATORS; "
            "assert 'local' in EVALUATORS and 'torch' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert EVALUATORS.get("local") is LocalEvaluator


def test_trial_seed_is_stable_across_processes():
    seeds = {trial_seed(0, "t00001"), trial_seed(1, "t00001"), trial_seed(0, "t00002")}
    assert len(seeds) == 3 and all(0 <= s < 2**31 for s in seeds)
    code = "from evaluators.candidate import trial_seed; print(trial_seed(0, 't00001'))"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    assert int(out.stdout) == trial_seed(0, "t00001")


def test_contract_submit_results_capacity(nb201, digits, tmp_path):
    ev = LocalEvaluator(nb201, config(), run_dir=tmp_path, data=digits)
    assert ev.capacity() == 1 and ev.results(timeout=0) == []
    rng = random.Random(0)
    ev.submit(Proposal("t1", nb201.sample(rng)))
    ev.submit(Proposal("t2", nb201.sample(rng)))
    first = ev.results(timeout=0)
    assert [i for i, _ in first] == ["t1"]
    second = ev.results(timeout=None)
    assert [i for i, _ in second] == ["t2"] and ev.results(timeout=0) == []
    for _, r in first + second:
        assert r.status == "ok", r.error
        assert set(r.metrics) == METRICS and 0.0 <= r.metrics["val_acc"] <= 100.0 and r.metrics["epochs"] == 1
        assert r.metrics["params"] > 0 and r.metrics["macs"] > 0 and r.metrics["latency_ms"] > 0
        assert set(r.worker) == {"host", "pid", "device", "resumed_from_epoch"} and r.worker["device"] == "cpu"
        assert r.worker["resumed_from_epoch"] == 0 and r.cost > 0  # checkpointed (run_dir), started from scratch
    assert first[0][1].metrics["val_acc"] > 20.0  # one epoch of an nb201 cell already beats chance (10 %)
    assert list((tmp_path / "checkpoints").glob("*.pt")) == []  # removed once the result is returned
    ev.shutdown()


def test_same_seed_same_result(nb201, digits):
    arch = nb201.sample(random.Random(3))
    a = evaluate_candidate(nb201, Proposal("t9", arch), config(), digits, device="cpu")
    b = evaluate_candidate(nb201, Proposal("t9", arch), config(), digits, device="cpu")
    assert a.status == b.status == "ok" and a.metrics["val_acc"] == b.metrics["val_acc"]


def test_build_settings_precedence(nb201, digits):
    assert build_settings(nb201, digits.info, config()) == {**nb201.build_defaults["*"], **nb201.build_defaults["digits"],
                                                            "in_channels": 1, "num_classes": 10}
    kw = build_settings(nb201, digits.info, config(channels=4, layers=2), {"layers": 3, "epochs": 2},
                        exclude=RECIPE_KEYS)
    assert kw["channels"] == 4 and kw["layers"] == 3 and "epochs" not in kw


def test_failures_become_results(nb201, digits):
    arch = nb201.sample(random.Random(1))
    bad = evaluate_candidate(nb201, Proposal("b", arch, {"channels": 0}), config(), digits, device="cpu")
    assert bad.status == "failed" and bad.error.startswith("build failed: ") and "channels" in bad.error
    div = evaluate_candidate(nb201, Proposal("d", arch, {"lr": 1e6}), config(), digits, device="cpu")
    assert div.status == "failed" and div.error.startswith("diverged: loss is")
    assert div.metrics["params"] > 0 and "val_acc" not in div.metrics
    none = evaluate_candidate(nb201, Proposal("n", None), config(), digits, device="cpu")
    assert none.status == "failed"


def test_trial_timeout_gives_timeout_result(digits):
    darts = get_space("darts")
    cfg = config(space="darts", trial_timeout=1e-6)
    r = evaluate_candidate(darts, Proposal("t", load_genotype("darts-v2")), cfg, digits, device="cpu")
    assert r.status == "timeout" and "trial_timeout" in r.error and "deadline" in r.error


def test_check_fails_early_on_bad_data_or_device(nb201, tmp_path):
    with pytest.raises(DataError, match="cifar10 not found"):
        LocalEvaluator(nb201, config(dataset="cifar10", data_dir=str(tmp_path))).check()
    with pytest.raises(ConfigError, match="unknown dataset"):
        LocalEvaluator("nb201", config(dataset="nope")).check()
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            LocalEvaluator(nb201, config(device="cuda")).check()
    info = LocalEvaluator("nb201", config()).check()
    assert (info.name, info.num_classes) == ("digits", 10)


def test_options_are_checked(nb201):
    with pytest.raises(ConfigError, match="unknown option.*num_workers.*accepted: threads"):
        LocalEvaluator(nb201, config(evaluator_options={"num_workers": 2}))
    with pytest.raises(ConfigError, match="threads must be an integer"):
        LocalEvaluator(nb201, config(evaluator_options={"threads": 0}))
    assert LocalEvaluator(nb201, config(evaluator_options={"threads": 2})).threads == 2


def test_interrupted_trial_resumes_from_its_checkpoint(nb201, digits, tmp_path):
    from evaluators.candidate import checkpoint_path
    from evaluators.trainer import StopTraining, TrainRecipe, train

    cfg, arch = config(epochs=2), nb201.sample(random.Random(5))
    ref = evaluate_candidate(nb201, Proposal("t5", arch), cfg, digits, device="cpu")
    # what a killed worker leaves behind: the checkpoint after epoch 1 of the same trial
    seed = trial_seed(cfg.seed, "t5")
    import torch

    torch.manual_seed(seed)
    model = nb201.build(arch, **build_settings(nb201, digits.info, cfg))

    def stop(row):
        raise StopTraining

    ckpt = checkpoint_path(tmp_path, "t5")
    train(model, digits, TrainRecipe.from_config(cfg), device="cpu", seed=seed, checkpoint=ckpt, on_epoch=stop)
    state = torch.load(ckpt, weights_only=True)
    state["train_seconds"] = 1000.0  # a mark that proves the trial continued from this file
    torch.save(state, ckpt)
    resumed = evaluate_candidate(nb201, Proposal("t5", arch), cfg, digits, device="cpu", checkpoint_dir=tmp_path)
    assert resumed.status == "ok" and resumed.metrics["val_acc"] == ref.metrics["val_acc"]
    assert resumed.metrics["train_seconds"] > 1000.0 and not ckpt.exists()
    ckpt.write_bytes(b"stale")  # unreadable or from other settings: discarded, the trial starts over
    again = evaluate_candidate(nb201, Proposal("t5", arch), cfg, digits, device="cpu", checkpoint_dir=tmp_path)
    assert again.status == "ok" and again.metrics["val_acc"] == ref.metrics["val_acc"]


def test_resumed_trial_reports_its_checkpoint_epoch(nb201, digits, tmp_path):
    from evaluators.candidate import checkpoint_path
    from evaluators.trainer import StopTraining, TrainRecipe, train

    cfg, arch = config(epochs=2), nb201.sample(random.Random(6))
    seed = trial_seed(cfg.seed, "t6")

    def interrupted_after_epoch_1():
        import torch

        torch.manual_seed(seed)
        model = nb201.build(arch, **build_settings(nb201, digits.info, cfg))

        def stop(row):
            raise StopTraining

        train(model, digits, TrainRecipe.from_config(cfg), device="cpu", seed=seed,
              checkpoint=checkpoint_path(tmp_path, "t6"), on_epoch=stop)

    interrupted_after_epoch_1()  # trial_timeout is no recipe field: the checkpoint is resumed, then times out
    timed_out = evaluate_candidate(nb201, Proposal("t6", arch), config(epochs=2, trial_timeout=1e-6), digits,
                                   device="cpu", checkpoint_dir=tmp_path)
    assert timed_out.status == "timeout" and timed_out.worker["resumed_from_epoch"] == 1
    interrupted_after_epoch_1()
    resumed = evaluate_candidate(nb201, Proposal("t6", arch), cfg, digits, device="cpu", checkpoint_dir=tmp_path)
    assert resumed.status == "ok" and resumed.worker["resumed_from_epoch"] == 1
    again = evaluate_candidate(nb201, Proposal("t6", arch), cfg, digits, device="cpu", checkpoint_dir=tmp_path)
    assert again.worker["resumed_from_epoch"] == 0  # the checkpoint was removed with the first result


def test_search_keeps_weights_of_the_top_k_trials_only(tmp_path):
    """Trained weights are saved for ok trials and pruned to the best ``keep_weights``."""
    import torch

    from nas.layout import WEIGHTS, trial_weights_path
    from nas.app.launch import run_search

    cfg = config(strategy="random", budget=3, keep_weights=1, name="w", runs_dir=str(tmp_path), seed=1)
    summary = run_search(cfg, progress=False)
    run = tmp_path / "w"
    kept = sorted(p.name for p in (run / WEIGHTS).iterdir())
    best = summary.top(1)[0]
    assert kept == [trial_weights_path(run, best["id"]).name]
    state = torch.load(run / WEIGHTS / kept[0], weights_only=True)
    model = get_space("nb201").build(best["arch"], in_channels=1, num_classes=10, channels=8, layers=1)
    model.load_state_dict(state)  # strict: the saved weights are exactly the candidate's

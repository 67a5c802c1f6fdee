"""The training loop: learning, determinism, failures, deadline, checkpoint/resume, recipes."""
from __future__ import annotations

import csv
import math
import time

import pytest
import torch
from torch import nn

from evaluators.data import load_data
from evaluators.trainer import (
    RECIPES, StopTraining, TrainRecipe, TrialFailed, TrialTimeout, evaluate, resolve_device, train,
)
from nas.config import SearchConfig
from nas.errors import ConfigError


@pytest.fixture(scope="module")
def digits():
    return load_data("digits", seed=0)


class Tiny(nn.Module):
    """Conv-BN-ReLU-pool-dropout-linear, with an optional aux head and a drop_path_prob attribute."""

    def __init__(self, aux: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 12, 3, padding=1), nn.BatchNorm2d(12), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Dropout(0.2))
        self.classifier = nn.Linear(48, 10)
        self.auxiliary = nn.Linear(48, 10) if aux else None
        self.drop_path_prob = 0.0
        self.seen_drop_path: list[float] = []

    def forward(self, x):
        if self.training and (not self.seen_drop_path or self.seen_drop_path[-1] != self.drop_path_prob):
            self.seen_drop_path.append(self.drop_path_prob)
        h = self.features(x)
        if self.training and self.auxiliary is not None:
            return self.classifier(h), self.auxiliary(h)
        return self.classifier(h)


def tiny(seed: int = 0, **kw) -> Tiny:
    torch.manual_seed(seed)
    return Tiny(**kw)


def recipe(**kw) -> TrainRecipe:
    return TrainRecipe(**{"epochs": 2, "batch_size": 64, "lr": 0.1, **kw})


def test_learns_digits_well_above_chance(digits):
    model = tiny()
    out = train(model, digits, recipe(epochs=3), device="cpu", seed=0)
    assert out.epochs == 3 and len(out.val_acc) == 3 and out.final_val_acc == out.val_acc[-1]
    assert out.final_val_acc > 60.0  # chance is 10 %
    assert out.best_val_acc == max(out.val_acc) and out.train_seconds > 0 and out.loss < 2.3
    assert [r["lr"] for r in out.history] == pytest.approx([0.1, 0.075, 0.025])  # cosine, T_max = 3
    assert evaluate(model, digits.val, device="cpu") == pytest.approx(out.final_val_acc)


def test_same_seed_same_weights_other_seed_differs(digits):
    a, b, c = tiny(), tiny(), tiny()
    train(a, digits, recipe(), device="cpu", seed=1)
    train(b, digits, recipe(), device="cpu", seed=1)
    train(c, digits, recipe(), device="cpu", seed=2)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_huge_lr_diverges(digits):
    with pytest.raises(TrialFailed, match=r"^diverged: loss is (nan|inf) at epoch 1 step \d+$"):
        train(tiny(), digits, recipe(lr=1e6), device="cpu", seed=0)


def test_deadline_raises_timeout(digits):
    with pytest.raises(TrialTimeout, match="epoch 1 step 1"):
        train(tiny(), digits, recipe(), device="cpu", seed=0, deadline=time.monotonic() - 1)


def test_out_of_memory_becomes_trial_failed(digits):
    class Oom(Tiny):
        def forward(self, x):
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    class Broken(Tiny):
        def forward(self, x):
            raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    with pytest.raises(TrialFailed, match="^out of memory at epoch 1: CUDA out of memory"):
        train(Oom(), digits, recipe(), device="cpu", seed=0)
    with pytest.raises(RuntimeError, match="shapes"):
        train(Broken(), digits, recipe(), device="cpu", seed=0)


def test_resume_from_checkpoint_equals_uninterrupted(digits, tmp_path):
    r = recipe(epochs=3, drop_path=0.3)
    ref = tiny()
    ref_out = train(ref, digits, r, device="cpu", seed=7, log_csv=tmp_path / "ref.csv")

    ckpt, log = tmp_path / "run.pt", tmp_path / "run.csv"

    def stop_after_first(row):
        if row["epoch"] == 1:
            raise StopTraining

    first = train(tiny(), digits, r, device="cpu", seed=7, checkpoint=ckpt, on_epoch=stop_after_first, log_csv=log)
    assert first.stopped and first.epochs == 1 and ckpt.exists()
    torch.manual_seed(123)  # the resumed process's global RNG is anything
    resumed_model = tiny(seed=99)  # different initial weights: the checkpoint must overwrite them
    resumed = train(resumed_model, digits, r, device="cpu", seed=7, checkpoint=ckpt, log_csv=log)
    assert not resumed.stopped and resumed.epochs == 3
    assert resumed.val_acc == ref_out.val_acc
    s_ref, s_res = ref.state_dict(), resumed_model.state_dict()
    assert all(torch.equal(s_ref[k], s_res[k]) for k in s_ref)
    assert resumed_model.seen_drop_path == pytest.approx([0.1, 0.2])  # epochs 2 and 3: 0.3 * e / 3
    assert ref.seen_drop_path == pytest.approx([0.0, 0.1, 0.2])
    with open(log) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["val_acc"]) for r in rows] == pytest.approx(ref_out.val_acc)
    # a finished checkpoint trains no further and reports the same history
    again = train(tiny(), digits, r, device="cpu", seed=7, checkpoint=ckpt)
    assert again.val_acc == ref_out.val_acc


def test_checkpoint_from_another_recipe_is_refused(digits, tmp_path):
    ckpt = tmp_path / "c.pt"
    train(tiny(), digits, recipe(epochs=1), device="cpu", seed=0, checkpoint=ckpt)
    with pytest.raises(ConfigError, match="epochs=1.*epochs=2"):
        train(tiny(), digits, recipe(epochs=2), device="cpu", seed=0, checkpoint=ckpt)
    with pytest.raises(ConfigError, match="seed 0"):
        train(tiny(), digits, recipe(epochs=1), device="cpu", seed=1, checkpoint=ckpt)
    ckpt.write_bytes(b"torn")
    with pytest.raises(ConfigError, match="unreadable training checkpoint"):
        train(tiny(), digits, recipe(epochs=1), device="cpu", seed=0, checkpoint=ckpt)


def test_auxiliary_loss_changes_training(digits):
    a, b = tiny(aux=True), tiny(aux=True)
    train(a, digits, recipe(epochs=1), device="cpu", seed=0)
    train(b, digits, recipe(epochs=1, auxiliary_weight=0.4), device="cpu", seed=0)
    assert torch.equal(a.auxiliary.weight, tiny(aux=True).auxiliary.weight)  # weight 0: aux head untouched
    assert not torch.equal(a.classifier.weight, b.classifier.weight)  # the aux gradient reaches shared layers


def test_start_epoch_positions_the_schedule(digits):
    out = train(tiny(), digits, recipe(epochs=4), device="cpu", seed=0, start_epoch=2)
    assert [r["epoch"] for r in out.history] == [3, 4]
    assert [r["lr"] for r in out.history] == pytest.approx([0.05 * (1 + math.cos(math.pi * e / 4)) for e in (2, 3)])


def test_recipes():
    full = TrainRecipe.preset("full")
    assert (full.epochs, full.batch_size, full.lr, full.momentum, full.weight_decay, full.grad_clip) == (
        600, 96, 0.025, 0.9, 3e-4, 5.0)
    assert (full.auxiliary_weight, full.cutout, full.drop_path, full.eta_min) == (0.4, 16, 0.2, 0.0)
    cfg = SearchConfig(epochs=3, batch_size=32, lr=0.2, weight_decay=1e-4, grad_clip=2.0, momentum=0.8)
    s = TrainRecipe.from_config(cfg)
    assert (s.epochs, s.batch_size, s.lr, s.momentum, s.weight_decay, s.grad_clip, s.nesterov) == (
        3, 32, 0.2, 0.8, 1e-4, 2.0, True)
    assert TrainRecipe.preset("full", epochs=5).epochs == 5 and set(RECIPES) == {"search", "full"}
    with pytest.raises(ConfigError, match="unknown recipe 'fast'"):
        TrainRecipe.preset("fast")
    with pytest.raises(ConfigError, match="unknown field"):
        TrainRecipe.preset("full", epoch=3)
    with pytest.raises(ConfigError, match="lr"):
        TrainRecipe(lr=float("nan"))


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ConfigError, match="not a device|not supported"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_stale_checkpoint_is_discarded_on_request_and_resume_epoch_reported(digits, tmp_path):
    ckpt = tmp_path / "c.pt"

    def stop(row):
        raise StopTraining

    first = train(tiny(), digits, recipe(epochs=2), device="cpu", seed=0, checkpoint=ckpt, on_epoch=stop)
    assert first.resumed_from == 0 and ckpt.exists()
    done = train(tiny(), digits, recipe(epochs=2), device="cpu", seed=0, checkpoint=ckpt)
    assert done.resumed_from == 1 and done.epochs == 2
    other = train(tiny(), digits, recipe(epochs=1), device="cpu", seed=0, checkpoint=ckpt, discard_stale=True)
    assert other.resumed_from == 0 and other.epochs == 1  # epochs=2 checkpoint: deleted, trained from scratch
    ckpt.write_bytes(b"torn")
    fresh = train(tiny(), digits, recipe(epochs=1), device="cpu", seed=0, checkpoint=ckpt, discard_stale=True)
    assert fresh.resumed_from == 0 and fresh.epochs == 1

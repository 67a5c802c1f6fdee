"""``nas train``: recipes and flags, output files, resume == uninterrupted, and bad input (exit 2)."""
from __future__ import annotations

import csv
import dataclasses

import pytest
import torch
import yaml

from evaluators.trainer import TrainRecipe
from nas.app.cli import main
from nas.app.baselines import CifarResNet
from nas.app.cli.train import RECIPE_FIELDS

NB201_TINY = "|nor_conv_3x3~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"


def weights(path) -> dict:
    return torch.load(path / "weights.pt", weights_only=True)


def metrics_rows(path) -> list[dict]:
    with open(path / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(f)]


def test_every_recipe_field_has_a_flag():
    assert set(RECIPE_FIELDS) == {f.name for f in dataclasses.fields(TrainRecipe)}
    for f in dataclasses.fields(TrainRecipe):
        assert RECIPE_FIELDS[f.name] is type(f.default)


def test_resume_after_interruption_gives_the_uninterrupted_weights(tmp_path, monkeypatch, capsys):
    common = ["resnet20", "--recipe", "search", "--epochs", "2", "--batch-size", "128", "--device", "cpu"]
    assert main(["train", *common, "--out", str(tmp_path / "straight")]) == 0

    monkeypatch.setenv("NAS_TRAIN_STOP_AFTER", "1")
    assert main(["train", *common, "--out", str(tmp_path / "cut")]) == 0
    cut = tmp_path / "cut"
    assert (cut / "checkpoint.pt").is_file() and not (cut / "weights.pt").exists()
    assert len(metrics_rows(cut)) == 1
    monkeypatch.delenv("NAS_TRAIN_STOP_AFTER")
    assert main(["train", "--resume", "--out", str(cut), "--epochs", "2"]) == 0
    out = capsys.readouterr().out
    assert "epoch 2/2" in out and "test_acc" in out

    a, b = weights(tmp_path / "straight"), weights(cut)
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    assert metrics_rows(cut) == metrics_rows(tmp_path / "straight")
    ra = yaml.safe_load((tmp_path / "straight" / "result.yaml").read_text())
    rb = yaml.safe_load((cut / "result.yaml").read_text())
    assert ra["test_acc"] == rb["test_acc"] and ra["epochs"] == 2 and 0 <= ra["test_acc"] <= 100
    assert ra["params"] == sum(p.numel() for p in CifarResNet(20, num_classes=10, in_channels=1).parameters())


def test_full_recipe_with_flag_overrides_on_a_cell_space(tmp_path):
    out = tmp_path / "dv2"
    argv = ["train", "darts-v2", "--recipe", "full", "--epochs", "1", "--channels", "4", "--layers", "3",
            "--batch-size", "256", "--lr", "0.03", "--no-nesterov", "--label-smoothing", "0.1", "--seed", "5",
            "--device", "cpu", "--out", str(out)]
    assert main(argv) == 0
    doc = yaml.safe_load((out / "train.yaml").read_text())
    r = doc["recipe"]
    # quark0/darts cnn/train.py full recipe (DARTS App. A.2), with the flags on top; cutout 16 scaled to 8x8 digits
    assert (r["epochs"], r["batch_size"], r["lr"], r["label_smoothing"]) == (1, 256, 0.03, 0.1)
    assert (r["auxiliary_weight"], r["drop_path"], r["weight_decay"], r["grad_clip"]) == (0.4, 0.2, 3e-4, 5.0)
    assert r["cutout"] == 4 and r["nesterov"] is False
    assert doc["build"]["auxiliary"] is True and doc["build"]["channels"] == 4 and doc["seed"] == 5
    assert any(k.startswith("auxiliary_head.") for k in weights(out))
    assert (out / "arch.yaml").is_file() and (out / "checkpoint.pt").is_file()
    assert yaml.safe_load((out / "result.yaml").read_text())["epochs"] == 1


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse errors
        return int(e.code)


@pytest.mark.parametrize("argv, expected", [
    (["no-such-net"], "or a baseline: resnet20"),
    (["resnet20", "--channels", "8", "--epochs", "1"], "takes no build options"),
    (["resnet20", "--resume"], "--resume needs --out"),
    (["resnet20", "--dataset", "nope"], "unknown dataset 'nope'"),
    (["resnet20", "--epochs", "0"], "--epochs must be >= 1"),
    (["resnet20", "--recipe", "fast"], "invalid choice: 'fast'"),
    (["resnet20", "--device", "tpu"], "device 'tpu'"),
    ([], "what to train is missing"),
])
def test_bad_input_is_one_line_exit_2(argv, expected, tmp_path, capsys):
    out = [] if "--resume" in argv else ["--out", str(tmp_path / "o")]
    assert run_cli(["train", *argv, *out]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nas: error:") and expected in err[0], err
    assert not (tmp_path / "o").exists()


def test_existing_out_and_changed_resume_settings_are_refused(tmp_path, capsys):
    out = tmp_path / "run"
    base = [NB201_TINY, "--recipe", "search", "--epochs", "1", "--channels", "4", "--layers", "1", "--device", "cpu"]
    assert main(["train", *base, "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["train", *base, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(out), "--epochs", "3"]) == 2
    assert "field 'epochs' is 1" in capsys.readouterr().err
    assert main(["train", "resnet20", "--resume", "--out", str(out)]) == 2
    assert "omit the architecture" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(tmp_path / "nothing")]) == 2
    assert "no train.yaml" in capsys.readouterr().err
    # resuming a finished run is harmless: same weights, same test accuracy
    before = weights(out)
    assert main(["train", NB201_TINY, "--resume", "--out", str(out), "--device", "cpu"]) == 0
    after = weights(out)
    assert all(torch.equal(before[k], after[k]) for k in before)

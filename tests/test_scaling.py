"""EfficientNet compound scaling (Tan & Le, ICML 2019, §3.3 and §4) and the mbconv resolution rule."""
from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys

import pytest
import torch

from nas.arch import Architecture
from nas.errors import ConfigError
from nas.objectives import accuracy, mnas
from nas.registry import SPACES, STRATEGIES, load_plugins
from nas.types import Result
from nas.zoo import load_genotype

load_plugins()
MBCONV = SPACES.create("mbconv")
B0 = load_genotype("efficientnet-b0")
STEPS = [round(1.0 + 0.05 * k, 2) for k in range(11)]  # the task's default grid 1.0, 1.05, ..., 1.5


def make(**options):
    return STRATEGIES.create("scaling", MBCONV, seed=options.pop("seed", 0), **options)


def drain(strat):
    """Ask until ``None``; returns the proposals."""
    out = []
    while (p := strat.ask()) is not None:
        out.append(p)
    return out


def test_default_grid_is_the_constrained_grid_and_holds_the_papers_point():
    strat = make()
    expected = {(a, b, g) for a, b, g in itertools.product(STEPS, repeat=3) if abs(a * b * b * g * g - 2) <= 0.1 + 1e-9}
    assert set(strat.grid) == expected and len(strat.grid) == len(expected)
    assert (1.2, 1.1, 1.15) in strat.grid  # EfficientNet's α, β, γ (α·β²·γ² = 1.92)
    assert all(1.9 - 1e-9 <= a * b * b * g * g <= 2.1 + 1e-9 for a, b, g in strat.grid)
    assert (1.0, 1.0, 1.0) not in strat.grid and (1.5, 1.5, 1.5) not in strat.grid
    values = [1.0, 1.1, 1.2, 1.3]
    small, tight = make(grid=values), make(grid=values, tolerance=0.08)
    for strat, tol in ((small, 0.1), (tight, 0.08)):
        assert set(strat.grid) == {(a, b, g) for a, b, g in itertools.product(values, repeat=3)
                                   if abs(a * b * b * g * g - 2) <= tol + 1e-9}
    assert set(tight.grid) < set(small.grid)


def test_grid_proposals_are_the_base_scaled_at_phi_1():
    proposals = drain(make(grid=[1.0, 1.1, 1.2, 1.3]))
    assert proposals and len({p.arch.key for p in proposals}) == len(proposals)
    for p in proposals:
        a, b, g = p.info["alpha"], p.info["beta"], p.info["gamma"]
        assert p.info["phase"] == "grid" and p.info["phi"] == 1
        assert p.arch.macro == {"depth": a, "width": b, "resolution": int(math.floor(224 * g + 0.5)), "dropout": 0.2}
        assert p.arch.blocks == B0.blocks
        MBCONV.validate(p.arch)


@pytest.mark.parametrize("objective", ["accuracy", "mnas"])
def test_step_two_scales_the_best_grid_point(objective):
    strat = make(objective=accuracy() if objective == "accuracy" else mnas(), max_phi=4)
    grid = drain(strat)
    assert len(grid) == len(strat.grid) and not strat.done()
    best = (1.2, 1.1, 1.15)
    for i, p in enumerate(grid):
        coef = (p.info["alpha"], p.info["beta"], p.info["gamma"])
        if objective == "accuracy":
            acc = 90.0 if coef == best else 50.0 + (i % 30)
            macs = 1e6
        else:  # same accuracy everywhere: mnas prefers the fewest MACs, which we give to `best`
            acc, macs = 80.0, (1e6 if coef == best else 2e6 + i)
        if i % 9 == 4 and coef != best:
            strat.tell(p.id, Result("failed", error="diverged"))
        else:
            strat.tell(p.id, Result("ok", {"val_acc": acc, "macs": macs}))
        if i < len(grid) - 1:
            assert strat.ask() is None  # step 2 waits for every grid result
    scaled = drain(strat)
    assert [p.info["phi"] for p in scaled] == [2, 3, 4]
    for p in scaled:
        phi = p.info["phi"]
        assert (p.info["alpha"], p.info["beta"], p.info["gamma"]) == best and p.info["phase"] == "scale"
        assert p.arch.macro["width"] == 1.1 ** phi and p.arch.macro["depth"] == 1.2 ** phi
        assert p.arch.macro["resolution"] == int(math.floor(224 * 1.15 ** phi + 0.5))
        MBCONV.validate(p.arch)
    assert not strat.done()
    for p in scaled:
        strat.tell(p.id, Result("ok", {"val_acc": 1.0, "macs": 1.0}))
    assert strat.done() and strat.ask() is None


def test_nothing_to_scale_when_every_grid_point_failed():
    strat = make(grid=[1.0, 1.2])
    for p in drain(strat):
        assert not strat.done()
        strat.tell(p.id, Result("failed", error="oom"))
    assert strat.done() and strat.ask() is None


def test_state_dict_round_trip_continues_identically():
    a = make(seed=3, grid=[1.0, 1.1, 1.2, 1.3], max_phi=3)
    first = [a.ask() for _ in range(3)]
    for p in first[:2]:
        a.tell(p.id, Result("ok", {"val_acc": p.info["beta"] * 10}))
    state = json.loads(json.dumps(a.state_dict()))
    b = make(seed=3, grid=[1.0, 1.1, 1.2, 1.3], max_phi=3)
    b.load_state_dict(state)
    assert json.loads(json.dumps(b.state_dict())) == state

    def finish(s):
        out = []
        s.tell(first[2].id, Result("ok", {"val_acc": 1.0}))
        while not s.done():
            batch = drain(s)
            assert batch, "not done, yet nothing to ask"
            out += batch
            for p in batch:
                s.tell(p.id, Result("ok", {"val_acc": p.info["beta"] * 10 + p.info["phi"]}))
        return [(p.id, p.arch.key, json.dumps(p.info, sort_keys=True)) for p in out]

    assert finish(a) == finish(b)
    assert make(seed=4, grid=[1.0, 1.1, 1.2, 1.3]).grid != a.grid  # the order is seeded


def test_options_and_space_are_checked(tmp_path):
    for name in ("darts", "nasnet", "nb201"):
        with pytest.raises(ConfigError, match="needs the 'mbconv' space"):
            STRATEGIES.create("scaling", SPACES.create(name))
    with pytest.raises(ConfigError, match="numbers >= 1"):
        make(grid=[0.9, 1.2])
    with pytest.raises(ConfigError, match="no grid point"):
        make(grid=[1.0])
    with pytest.raises(ConfigError, match="mbconv architecture"):
        make(base="darts-v2")
    with pytest.raises(ConfigError, match="max_phi"):
        make(max_phi=0)
    base = tmp_path / "base.yaml"
    from search_spaces.mbconv import with_macro

    with_macro(B0, width=0.5, depth=2.0, resolution=160).save(base)
    p = make(base=str(base), grid=[1.0, 1.1, 1.2]).ask()
    assert p.arch.macro["width"] == 0.5 * p.info["beta"] and p.arch.macro["depth"] == 2.0 * p.info["alpha"]
    assert p.arch.macro["resolution"] == int(math.floor(160 * p.info["gamma"] + 0.5))


def test_macs_grow_about_two_to_the_phi():
    """FLOPs ≈ (α·β²·γ²)^φ ≈ 2^φ (Tan & Le 2019, §3.3), measured on the ImageNet-size network."""
    from nas.nn.measure import count_macs
    from strategies.scaling import scaled

    macs = [count_macs(MBCONV.build(scaled(B0, 1.2, 1.1, 1.15, phi), num_classes=1000), (1, 3, 224, 224))
            for phi in range(4)]
    assert 380e6 < macs[0] < 390e6  # B0: 0.386 GFLOPS (torchvision's efficientnet_b0 weights metadata)
    for phi in (1, 2, 3):
        assert 2 ** phi / 1.4 < macs[phi] / macs[0] < 2 ** phi * 1.4, (phi, macs)
    assert 0.9 < math.log2(macs[3] / macs[0]) / 3 < 1.1


def test_resolution_resizes_the_input_and_keeps_b0_unchanged():
    b0 = MBCONV.build(B0, in_channels=1, num_classes=10, stem_stride=1, width_mult=0.25)
    assert b0.resize is None  # the golden B0 model has no extra module
    arch = Architecture("mbconv", blocks=B0.blocks, macro={**B0.macro, "resolution": 258})
    model = MBCONV.build(arch, in_channels=1, num_classes=10, stem_stride=1, width_mult=0.25).eval()
    scripted = torch.jit.script(model)  # TorchScript export keeps working
    seen = []
    model.features[0].register_forward_hook(lambda m, i, o: seen.append(tuple(i[0].shape[-2:])))
    x = torch.randn(2, 1, 8, 8)
    out = model(x)
    assert seen == [(9, 9)]  # floor(8 * 258 / 224 + 0.5)
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in b0.parameters())
    assert torch.allclose(scripted(x), out, atol=1e-5)
    plain = MBCONV.build(arch, in_channels=1, num_classes=10, stem_stride=1, width_mult=0.25, input_scale=1.0)
    assert plain.resize is None


@pytest.mark.slow
def test_cli_scaling_search_end_to_end(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    argv = ["search", "--space", "mbconv", "--strategy", "scaling", "--objective", "mnas", "--epochs", "1",
            "--batch-size", "256", "--strategy-option", "grid=[1.0, 1.2]", "--strategy-option", "max_phi=2",
            "--name", "s", "--runs-dir", str(tmp_path)]
    proc = subprocess.run([sys.executable, "-m", "nas", *argv], env=env, capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "the strategy is done" in proc.stdout
    trials = [json.loads(line) for line in (tmp_path / "s" / "trials.jsonl").read_text().splitlines()]
    assert [(t["info"]["phase"], t["info"]["phi"]) for t in trials] == [("grid", 1), ("scale", 2)]
    assert all(t["status"] == "ok" for t in trials)
    grid, scale = (Architecture.from_dict(t["arch"]) for t in trials)
    assert grid.macro == {"width": 1.2, "depth": 1.0, "resolution": 269, "dropout": 0.2}  # the only point
    assert scale.macro["width"] == 1.2 ** 2 and scale.macro["resolution"] == 323
    assert trials[1]["metrics"]["macs"] > trials[0]["metrics"]["macs"]
    assert (tmp_path / "s" / "best").is_dir() and list((tmp_path / "s" / "best").glob("1-*/model.ts"))

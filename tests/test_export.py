"""``nas export``: standalone model.py, TorchScript, ONNX, weights, ranking, and refusing unsafe input.

One small architecture per space (tiny digits builds) is exported once per module with
perturbed "trained" weights; the generated ``model.py`` is then imported in an isolated
interpreter where ``nas`` (and networkx/yaml) cannot be imported, and must give the
toolkit model's logits.
"""
from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from nas.arch import Architecture
from nas.app.cli import main
from nas.errors import ConfigError, InvalidArchitecture
from nas.app.export import export_arch, export_top, parse_formats, trial_weights_path
from nas.app.export_codegen import render_model_py
from nas.spec import ModelSpec, check_literal, check_spec, instantiate
from nas.zoo import get_space, load_genotype

SPACES = ("nasnet", "darts", "nb201", "mbconv")
#: tiny digits builds (1x8x8 inputs)
TINY = {
    "nasnet": {"channels": 4, "layers": 3, "stem_stride": 1},
    "darts": {"channels": 4, "layers": 3, "stem_stride": 1},
    "nb201": {"channels": 4, "layers": 1, "stem_stride": 1},
    "mbconv": {"stem_stride": 1, "width_mult": 0.25},
}
BLOCKED = ("nas", "search_spaces", "strategies", "evaluators", "networkx", "yaml")


def tiny_kwargs(space: str) -> dict:
    return {**TINY[space], "in_channels": 1, "num_classes": 10}


def trained_state(model: torch.nn.Module, seed: int) -> dict:
    """Weights that differ from the initial ones, with non-trivial BN statistics (a stand-in for training)."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 1, 8, 8, generator=g))  # updates BN running stats
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    model.eval()
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """{space: (export dir, toolkit model in eval mode with the trained weights)}."""
    root = tmp_path_factory.mktemp("export")
    out = {}
    for i, name in enumerate(SPACES):
        space = get_space(name)
        arch = space.sample(random.Random(10 + i))
        torch.manual_seed(i)
        model = space.build(arch, **tiny_kwargs(name))
        state = trained_state(model, i)
        folder = export_arch(arch, root / name, space=space, build_kwargs=tiny_kwargs(name), weights=state,
                             dataset="digits", metrics={"val_acc": 50.0 + i}, seed=i)
        out[name] = (folder, model)
    return out


ISOLATED = textwrap.dedent('''
    import importlib.util, json, sys
    BLOCKED = set(json.loads(sys.argv[1]))

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked: {name}")
            return None

    sys.meta_path.insert(0, Block())
    try:
        import nas  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("nas is importable in the isolated interpreter")
    import torch
    x = torch.load("input.pt", weights_only=True)
    out = {}
    for name in json.loads(sys.argv[2]):
        spec = importlib.util.spec_from_file_location(f"exported_{name}", f"{name}/model.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        model = mod.load_weights(mod.build_model(), f"{name}/weights.pt").eval()
        with torch.no_grad():
            out[name] = model(x)
            out[name + ".ts"] = torch.jit.load(f"{name}/model.ts").eval()(x)
        assert not any(m.split(".")[0] in BLOCKED for m in sys.modules), sorted(sys.modules)
    torch.save(out, "logits.pt")
''')


def test_standalone_model_py_and_torchscript_match_toolkit(exported, tmp_path):
    root = next(iter(exported.values()))[0].parent
    x = torch.randn(3, 1, 8, 8, generator=torch.Generator().manual_seed(7))
    torch.save(x, root / "input.pt")
    (root / "iso.py").write_text(ISOLATED)
    proc = subprocess.run([sys.executable, "-I", "iso.py", json.dumps(BLOCKED), json.dumps(list(SPACES))],
                          cwd=root, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    logits = torch.load(root / "logits.pt", weights_only=True)
    for name, (folder, model) in exported.items():
        with torch.no_grad():
            ref = model(x)
        assert torch.allclose(logits[name], ref, rtol=1e-4, atol=1e-5), name
        assert torch.allclose(logits[name + ".ts"], ref, rtol=1e-4, atol=1e-5), name
        text = (folder / "model.py").read_text()
        assert not re.search(r"^\s*(import|from)\s+(nas|search_spaces|evaluators|networkx|yaml)\b", text, re.M)


def test_onnx_file_checks_and_computes_the_logits(exported):
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(3))
    for name, (folder, model) in exported.items():
        path = folder / "model.onnx"
        assert path.is_file(), (folder / "card.md").read_text()
        onnx.checker.check_model(str(path))
        proto = onnx.load(str(path))
        got = ReferenceEvaluator(proto).run(None, {proto.graph.input[0].name: x.numpy()})[0]
        with torch.no_grad():
            ref = model(x).numpy()
        assert abs(got - ref).max() < 1e-4, name


def test_weights_yaml_and_card(exported):
    for name, (folder, model) in exported.items():
        saved = torch.load(folder / "weights.pt", weights_only=True)
        ref = model.state_dict()
        assert list(saved) == list(ref) and all(torch.equal(saved[k], ref[k]) for k in ref)
        arch = Architecture.load(folder / "arch.yaml")
        assert arch.space == name and arch.meta["metrics"]["val_acc"] >= 50.0
        get_space(name).validate(arch)
        card = (folder / "card.md").read_text()
        assert f"{sum(p.numel() for p in model.parameters()):,}" in card
        assert "nas train" in card and "trained: `weights.pt`" in card
    darts_card = (exported["darts"][0] / "card.md").read_text()
    assert "Genotype(normal=[" in darts_card
    assert "|+|" in (exported["nb201"][0] / "card.md").read_text()


def test_darts_v2_at_full_size_exports_with_reference_params(tmp_path):
    folder = export_arch(load_genotype("darts-v2"), tmp_path / "dv2", dataset="cifar10", formats="py")
    text = (folder / "card.md").read_text()
    assert "3,349,342" in text  # quark0/darts train.py "param size = 3.349342MB", C=36, L=20
    assert "'C': 36" in (folder / "model.py").read_text() and not (folder / "arch.yaml").exists()


def _malicious_arch() -> Architecture:
    d = load_genotype("darts-v2").to_dict()
    d["cells"]["normal"]["nodes"][0]["inputs"][0][0] = "__import__('os').system('touch PWNED')"
    return Architecture.from_dict(d)


def test_malicious_op_name_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    arch = _malicious_arch()
    with pytest.raises(InvalidArchitecture, match="unknown op"):
        export_arch(arch, tmp_path / "out", dataset="digits")
    assert not (tmp_path / "out").exists() and not (tmp_path / "PWNED").exists()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InvalidArchitecture, match="unknown op"):  # the space refuses to lower it
        get_space("darts").model_spec(arch, channels=4, layers=3, in_channels=1, num_classes=10)
    # the code generator refuses it on its own, without the space's validation
    from search_spaces._common import flat_cell

    raw = ModelSpec("NetworkCIFAR", (flat_cell(arch.cells["normal"]), flat_cell(arch.cells["reduce"])),
                    {"C": 4, "num_classes": 10, "layers": 3})
    with pytest.raises(InvalidArchitecture, match="unknown op"):
        render_model_py(raw, space="darts", key="0" * 16, input_shape=(1, 1, 8, 8))
    bad_cell = ([("add", [("__import__('os')", 0), ("skip_connect", 1)])], [2])
    spec = ModelSpec("NetworkCIFAR", (bad_cell, bad_cell), {"C": 4, "num_classes": 10, "layers": 3})
    with pytest.raises(InvalidArchitecture):
        render_model_py(spec, space="darts", key="0" * 16, input_shape=(1, 1, 8, 8))
    for value in ("a b", "x'); import os; ('", 1e400, object(), {"bad key": 1}, b"bytes"):
        with pytest.raises(InvalidArchitecture):
            check_literal(value, "v")
    cell = ((("skip_connect", 0),),)  # one node reading the input through skip_connect
    render_model_py(ModelSpec("TinyNetwork", (cell,), {"C": 4, "N": 1, "num_classes": 10}),
                    space="nb201", key="0" * 16, input_shape=(1, 1, 8, 8))  # fine
    for kw in ({"C": "4) or __import__('os')"}, {"evil": 1}):
        with pytest.raises(InvalidArchitecture):
            render_model_py(ModelSpec("TinyNetwork", (cell,), {"num_classes": 10, **kw}),
                            space="nb201", key="0" * 16, input_shape=(1, 1, 8, 8))


def test_spec_whitelist_and_instantiate_match_build():
    space = get_space("nb201")
    arch = space.sample(random.Random(3))
    spec = space.model_spec(arch, **tiny_kwargs("nb201"))
    assert spec.class_name == "TinyNetwork" and spec.kwargs["C"] == 4 and spec.kwargs["num_classes"] == 10
    torch.manual_seed(0)
    a = instantiate(spec)
    torch.manual_seed(0)
    b = space.build(arch, **tiny_kwargs("nb201"))
    assert type(a) is type(b) and all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                                         b.state_dict().values()))
    with pytest.raises(ConfigError, match="not an exportable"):
        check_spec(ModelSpec("Sequential", spec.args, {}))
    with pytest.raises(InvalidArchitecture, match="cannot be passed"):
        instantiate(ModelSpec("TinyNetwork", spec.args, {**spec.kwargs, "evil": 1}))
    with pytest.raises(InvalidArchitecture, match="positional"):
        check_spec(ModelSpec("TinyNetwork", (), spec.kwargs))


def test_a_plugin_cell_space_exports_model_py_with_no_further_work(tmp_path):
    """A space that only sets TwoInputCellSpace's class variables gets build and model.py for free."""
    from search_spaces.cellspace import TwoInputCellSpace

    class TinyS2(TwoInputCellSpace):  # RobustDARTS S2 ops (Zela et al., ICLR 2020), 2 nodes, concat-combined
        name = "tiny-s2"
        ops = ("sep_conv_3x3", "skip_connect")
        n_nodes = 2
        combines = ("add", "concat")
        output = "unused"
        mutation_kinds = ("hidden", "op", "combine")

    space = TinyS2()
    arch = space.sample(random.Random(1))
    assert space.decode(space.encode(arch)) == arch
    kw = {"channels": 4, "layers": 3, "stem_stride": 1, "in_channels": 1, "num_classes": 10}
    torch.manual_seed(0)
    model = space.build(arch, **kw).eval()
    folder = export_arch(arch, tmp_path / "s2", space=space, build_kwargs=kw, formats="yaml,py", dataset="digits")
    x = torch.randn(2, 1, 8, 8)
    ns: dict = {}
    exec(compile((folder / "model.py").read_text(), str(folder / "model.py"), "exec"), ns)
    standalone = ns["build_model"]().eval()
    standalone.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert torch.allclose(standalone(x), model(x), atol=1e-6)


def test_parse_formats():
    assert parse_formats("yaml, py") == ("yaml", "py")
    assert parse_formats(["onnx", "onnx"]) == ("onnx",)
    with pytest.raises(ConfigError, match="unknown export format 'pdf'"):
        parse_formats("yaml,pdf")


# -- export_top on a run directory ------------------------------------------------------------
def make_run(path: Path, records: list[dict]) -> Path:
    from nas.config import SearchConfig
    from nas.app.rundir import RunDir

    run = RunDir.create(path, SearchConfig(space="nb201", channels=4, layers=1, seed=3).to_dict())
    for rec in records:
        run.append_trial(rec)
    run.close()
    return path


def nb201_record(tid: str, seed: int, status: str = "ok", val_acc: float | None = 50.0) -> dict:
    arch = get_space("nb201").sample(random.Random(seed))
    metrics = {} if val_acc is None else {"val_acc": val_acc, "params": 1, "macs": 1}
    return {"id": tid, "key": arch.key, "arch": arch.to_dict(), "status": status, "metrics": metrics,
            "error": None if status == "ok" else "boom", "config": {}}


def test_export_top_ranks_uses_kept_weights_and_drops_stale_folders(tmp_path):
    run = make_run(tmp_path / "run", [nb201_record("t00000", 0, val_acc=40.0),
                                      nb201_record("t00001", 1, status="failed", val_acc=None),
                                      nb201_record("t00002", 2, val_acc=70.0),
                                      nb201_record("t00003", 3, val_acc=55.0)])
    # the run kept trained weights for t00003 (the evaluator's convention: RUN/weights/<id>.pt)
    arch3 = Architecture.from_dict(nb201_record("t00003", 3)["arch"])
    model = get_space("nb201").build(arch3, channels=4, layers=1, in_channels=1, num_classes=10)
    state = trained_state(model, 0)
    trial_weights_path(run, "t00003").parent.mkdir()
    torch.save(state, trial_weights_path(run, "t00003"))

    paths = export_top(run, top=2, formats="yaml,py")
    assert [p.name for p in paths] == ["1-t00002", "2-t00003"]
    assert not (paths[0] / "weights.pt").exists() and "not trained" in (paths[0] / "card.md").read_text()
    saved = torch.load(paths[1] / "weights.pt", weights_only=True)
    assert all(torch.equal(saved[k], state[k]) for k in state)
    meta = Architecture.load(paths[0] / "arch.yaml").meta
    assert meta["trial"] == "t00002" and meta["rank"] == 1 and meta["metrics"]["val_acc"] == 70.0
    assert "--seed" in (paths[0] / "card.md").read_text()

    assert [p.name for p in export_top(run, top=1, formats="yaml")] == ["1-t00002"]
    assert sorted(d.name for d in (run / "best").iterdir()) == ["1-t00002"]
    custom = export_top(run, top=5, formats=["yaml"], out=tmp_path / "elsewhere")
    assert [p.name for p in custom] == ["1-t00002", "2-t00003", "3-t00000"]


def test_cli_export_errors_are_one_line_exit_2(tmp_path, capsys):
    run = make_run(tmp_path / "run", [nb201_record("t00000", 0, status="failed", val_acc=None)])
    cases = [
        ([str(tmp_path)], "not a run directory"),
        ([str(run), "--format", "yaml,bogus"], "unknown export format 'bogus'"),
        ([str(run), "--top", "0"], "--top must be >= 1"),
        ([str(run)], "no ok trials"),
    ]
    for argv, expected in cases:
        assert main(["export", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("nas: error:") and expected in err[0], err
    assert not (run / "best").exists()


def test_cli_export_refuses_a_journal_with_a_malicious_op(tmp_path, capsys):
    arch = _malicious_arch()
    rec = {"id": "t00000", "key": "x", "arch": arch.to_dict(), "status": "ok", "metrics": {"val_acc": 90.0}}
    run = make_run(tmp_path / "run", [rec])
    assert main(["export", str(run), "--format", "py"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown op" in err[0]
    assert not (run / "best").exists() or not any((run / "best").rglob("model.py"))

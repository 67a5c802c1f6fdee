"""Search spaces as data (``search_spaces.file_space``): space files, their errors, and runs on them.

A space file (``format: nas/space@1``) must work wherever a space name does: the registry resolves
it, the shipped RobustDARTS examples (Zela et al., ICLR 2020, §4) pass the space conformance suite
and export a standalone ``model.py``, and a search on one resumes after a SIGKILL, and after the
file is gone, from what the run directory stores. Every malformed file in
``tests/malformed/spaces/`` is one ``nas: error:`` line with exit code 2 and writes nothing.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nas.app.cli import main
from nas.arch import Architecture
from nas.config import SearchConfig, create_space, pin_space
from nas.errors import ConfigError, InvalidArchitecture, UnknownName
from nas.io import read_jsonl
from nas.registry import ONESHOT, SPACES, Registry, load_plugins
from nas.testing import OneShotConformance, SpaceConformance
from search_spaces.file_space import EXAMPLES_DIR, FileCellSpace, parse_definition
from tests.space_helpers import MALFORMED_DIR, REPO, read_case
from tests.test_cli_malformed import check_error

load_plugins()
S2 = EXAMPLES_DIR / "darts_s2.yaml"
S3 = EXAMPLES_DIR / "darts_s3.yaml"
SPACE_CASES = sorted((MALFORMED_DIR / "spaces").glob("*.yaml"))

#: a NASNet-like file space: 3 inputs per node (repeats allowed), add or concat, output = unused nodes
NASNET_LIKE = """
format: nas/space@1
space:
  name: test_nasnet_like
  ops: [skip_connect, sep_conv_3x3, max_pool_3x3, conv_1x1]
  nodes: 3
  inputs_per_node: 3
  distinct_inputs: false
  combine: [add, concat]
  output: unused
  build_defaults:
    digits: {channels: 4, layers: 3}
"""
#: a chain-like file space: one input per node, the zero op in the supernet only
CHAIN = """
format: nas/space@1
space:
  name: test_chain
  ops: [none, sep_conv_3x3, avg_pool_3x3, skip_connect]
  nodes: 3
  inputs_per_node: 1
  distinct_inputs: true
  output: unused
"""
DEFINITIONS = {"test_nasnet_like": NASNET_LIKE, "test_chain": CHAIN}


def data_space(name: str) -> str:
    """Register one of :data:`DEFINITIONS` (when a test needs it: registering at import would add
    it to the spaces that other test modules collect from the registry); its name."""
    return SPACES.load(yaml.safe_load(DEFINITIONS[name]), where="tests/test_file_space.py")


# -- the conformance suite over data-defined spaces of other shapes (tests/test_conformance.py runs it
# -- over the shipped examples with every registered space) ------------------------------------------
class TestFileSpaceConformance(SpaceConformance):
    n_samples = 12

    @pytest.fixture(params=list(DEFINITIONS))
    def space(self, request):
        return SPACES.create(data_space(request.param))


def test_examples_are_the_robustdarts_op_sets_on_darts_cells():
    darts = SPACES.create("darts")
    for path, primitives in ((S2, ("sep_conv_3x3", "skip_connect")), (S3, ("none", "sep_conv_3x3", "skip_connect"))):
        space = SPACES.create(str(path))
        assert isinstance(space, FileCellSpace)
        assert space.name == path.stem and space.primitives == primitives
        assert space.ops == ("sep_conv_3x3", "skip_connect")  # 'none' is a supernet primitive only, as in DARTS
        assert (space.n_nodes, space.arity, space.distinct_inputs) == (darts.n_nodes, 2, True)
        assert space.combines == ("add",) and space.output == "all"
        # DARTS' encoding with 2 ops instead of 7: per cell prod_i C(i+2, 2) * 2^2
        assert space.size() == (1 * 3 * 6 * 10 * 2**8) ** 2
        assert [d.name for d in space.decisions()] == [d.name for d in darts.decisions()]


def test_none_is_refused_in_architectures_with_a_hint():
    space = SPACES.create(str(S3))
    arch = space.sample(random.Random(1))
    d = arch.to_dict()
    d["cells"]["normal"]["nodes"][0]["inputs"][0][0] = "none"
    with pytest.raises(InvalidArchitecture, match="unknown op 'none' for space 'darts_s3'.*supernet-only"):
        space.validate(Architecture.from_dict(d))


def test_keys_dedup_isomorphic_cells_and_separate_spaces():
    s2, s3 = SPACES.create(str(S2)), SPACES.create(str(S3))
    rng = random.Random(0)
    archs = [s3.sample(rng) for _ in range(200)]
    keys = {a.key for a in archs}
    specs = {a.spec for a in archs}
    assert len(keys) <= len(specs)
    a = archs[0]
    same_in_s2 = Architecture("darts_s2", cells=a.cells)
    s2.validate(same_in_s2)
    assert same_in_s2.key != a.key  # the space is part of the key
    # swapping the two input slots of a node gives the same key (add is commutative)
    d = a.to_dict()
    d["cells"]["normal"]["nodes"][0]["inputs"].reverse()
    assert Architecture.from_dict(d).key == a.key


def test_one_shot_supernet_mixes_the_file_ops_and_derives_a_valid_arch():
    pytest.importorskip("torch")
    import torch

    for path, n_ops in ((S2, 2), (S3, 3)):
        space = SPACES.create(str(path))
        net = space.supernet(channels=4, layers=3, num_classes=10, in_channels=1)
        assert [tuple(a.shape) for a in net.arch_parameters()] == [(14, n_ops), (14, n_ops)]
        with torch.no_grad():
            assert net(torch.randn(2, 1, 8, 8)).shape == (2, 10)
        arch = space.derive(net)
        space.validate(arch)
        assert {op for g in arch.cells.values() for *_, op in g.edges(data="op")} <= {"sep_conv_3x3", "skip_connect",
                                                                                     "concat"}
    nasnet_like = SPACES.create(data_space("test_nasnet_like"))
    assert SPACES.create(str(S3)).has_supernet() and not nasnet_like.has_supernet()
    with pytest.raises(ConfigError, match="offers no supernet"):
        nasnet_like.supernet()


class TestOneShotOnS3(OneShotConformance):
    """One-shot DARTS on the RobustDARTS S3 file space (its supernet mixes none, sep_conv_3x3, skip_connect)."""

    bad_options = [{"order": 3}]

    @pytest.fixture
    def method(self):
        return ONESHOT.get("darts")

    @pytest.fixture
    def space(self):
        return SPACES.create(str(S3))

    def config(self, **kw):
        return super().config(space="darts_s3", **kw)


def test_s2_and_s3_export_a_standalone_model_py(tmp_path):
    """model.py runs where ``nas`` cannot be imported and gives the logits of ``space.build``."""
    import torch

    from evaluators.data import dataset_info
    from nas.app.export import export_arch
    from nas.settings import build_settings

    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    expected = {}
    for path in (S2, S3):
        space = SPACES.create(str(path))
        arch = space.sample(random.Random(7))
        out = export_arch(arch, tmp_path / path.stem, space=space, formats="yaml,py", dataset="digits")
        assert Architecture.load(out / "arch.yaml") == arch and arch.space == path.stem
        torch.manual_seed(0)
        model = space.build(arch, **build_settings(space, dataset_info("digits"))).eval()
        torch.save(model.state_dict(), out / "weights.pt")
        with torch.no_grad():
            expected[path.stem] = model(x)
    code = ("import json, runpy, sys; sys.modules['nas'] = None; import torch; out = {}\n"
            "for d in ('darts_s2', 'darts_s3'):\n"
            "    m = runpy.run_path(f'{d}/model.py')\n"
            "    net = m['load_weights'](m['build_model'](), f'{d}/weights.pt').eval()\n"
            "    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(1))\n"
            "    out[d] = net(x).tolist()\n"
            "print(json.dumps(out))")
    p = subprocess.run([sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    for name, logits in json.loads(p.stdout).items():
        assert torch.allclose(torch.tensor(logits), expected[name], atol=1e-5), name


# -- name resolution and definitions --------------------------------------------------------------
def test_registry_resolvers_and_loaders_are_generic():
    reg = Registry("widget")
    made: list[str] = []

    def from_file(name: str) -> str:
        made.append(name)
        if "w-" + Path(name).stem not in reg:
            reg.add("w-" + Path(name).stem, lambda: ("widget", name), definition={"format": "w@1", "n": name},
                    where=name)
        return "w-" + Path(name).stem

    reg.add_resolver((".w",), from_file, hint="a widget file (*.w)")
    reg.add_loader("w@1", lambda d, where: from_file(d["n"]))
    assert reg.create("dir/x.w") == ("widget", "dir/x.w")
    assert reg.resolve("w-x") == "w-x" and reg.definition("w-x") == {"format": "w@1", "n": "dir/x.w"}
    assert reg.origin("w-x") == "dir/x.w"
    assert reg.load({"format": "w@1", "n": "y.w"}) == "w-y"
    with pytest.raises(UnknownName, match=r"unknown widget 'nope'; known: w-x, w-y, or a widget file \(\*\.w\)"):
        reg.create("nope")
    with pytest.raises(ConfigError, match="needs a 'format' header, one of w@1; got 'v@2'"):
        reg.load({"format": "v@2"})
    with pytest.raises(ConfigError, match="unexpected option"):
        reg.create("dir/x.w", size=3)
    assert made == ["dir/x.w", "y.w", "dir/x.w"]  # resolvers run only for names not registered


def test_space_files_register_under_their_name_and_examples_resolve_by_name(tmp_path):
    f = tmp_path / "mine.yml"
    f.write_text(S3.read_text().replace("name: darts_s3", "name: test_mine"))
    assert SPACES.resolve(str(f)) == "test_mine"
    assert SPACES.resolve(str(f)) == "test_mine"  # the same definition again: idempotent
    assert SPACES.origin("test_mine") == str(f)
    assert SPACES.create("test_mine").name == "test_mine"
    assert SPACES.resolve("darts_s3") == "darts_s3"
    assert SPACES.definition("darts_s3") == parse_definition(yaml.safe_load(S3.read_text()))
    assert SPACES.definition("darts") is None
    f.write_text(S2.read_text().replace("name: darts_s2", "name: test_mine"))
    with pytest.raises(ConfigError, match="'test_mine' is already defined differently"):
        SPACES.resolve(str(f))


def test_a_definition_survives_yaml_and_json_round_trips():
    d = SPACES.definition(SPACES.resolve(str(S3)))
    assert parse_definition(yaml.safe_load(yaml.safe_dump(d))) == d
    assert parse_definition(json.loads(json.dumps(d))) == d
    assert SPACES.load(json.loads(json.dumps(d))) == "darts_s3"


def test_pin_space_makes_a_config_self_contained(tmp_path):
    f = tmp_path / "pinned.yaml"
    f.write_text(S3.read_text().replace("name: darts_s3", "name: test_pinned"))
    cfg = SearchConfig(space=str(f))
    space = create_space(cfg)
    assert cfg.space == "test_pinned" == space.name
    assert cfg.space_definition == SPACES.definition("test_pinned")
    plain = SearchConfig(space="nasnet")
    pin_space(plain)
    assert plain.space_definition is None
    bad = SearchConfig.from_dict({**cfg.to_dict(), "space": "other"})
    with pytest.raises(ConfigError, match="defines space 'test_pinned'"):
        pin_space(bad)
    # another process (another machine, a Ray worker: the file is gone) recreates the same space from
    # the config, as a Ray worker does
    arch = space.sample(random.Random(5))
    f.unlink()
    code = ("import json, random, sys; from nas.config import SearchConfig; from evaluators.ray_worker import _space; "
            "cfg = SearchConfig.from_dict(json.loads(sys.stdin.read()), where='ray trial config'); s = _space(cfg); "
            "print(s.name, s.sample(random.Random(5)).key)")
    p = subprocess.run([sys.executable, "-c", code], input=json.dumps(cfg.to_dict()), capture_output=True,
                       text=True, cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["test_pinned", arch.key]


# -- malformed space files: one line, exit 2, nothing written ----------------------------------------
@pytest.mark.parametrize("path", SPACE_CASES, ids=lambda p: p.name)
def test_malformed_space_file_is_one_config_error(path):
    _, fragment = read_case(path)
    with pytest.raises(ConfigError) as e:
        SPACES.create(str(path))
    assert fragment in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize("path", SPACE_CASES, ids=lambda p: p.name)
def test_malformed_space_file_cli(capsys, path, tmp_path, monkeypatch):
    _, fragment = read_case(path)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    rc = main(["search", "--space", str(path), "--budget", "1", "--epochs", "1", "--runs-dir", str(work / "runs")])
    check_error(rc, *capsys.readouterr(), fragment)
    assert list(work.iterdir()) == []  # no run directory, no runs folder
    rc = main(["spaces", "--space", str(path)])
    check_error(rc, *capsys.readouterr(), fragment)
    # nas show: an architecture naming the file as its space
    arch = tmp_path / "arch.yaml"
    d = SPACES.create(str(S3)).sample(random.Random(0)).to_dict()
    arch.write_text(yaml.safe_dump({**d, "space": str(path)}))
    rc = main(["show", str(arch), "--png", str(work / "cell.png")])
    check_error(rc, *capsys.readouterr(), fragment)
    assert list(work.iterdir()) == []


@pytest.mark.parametrize("field", ["name", "summary", "ops", "nodes", "inputs", "inputs_per_node", "distinct_inputs",
                                   "combine", "output", "cells", "build_defaults"])
def test_any_wrong_value_of_a_field_is_a_config_error_naming_it(field):
    """Wrong types and shapes for each field: a ConfigError that names the field, never another exception."""
    body = parse_definition(yaml.safe_load(S3.read_text()))["space"]
    for value in (None, [], {}, [[1]], [{"a": 1}], {"a": [1]}, 1.5, True, -1, 10**6, "x" * 70):
        doc = {"format": "nas/space@1", "space": {**body, "name": "test_wrong", field: value}}
        try:
            parse_definition(doc, "doc")
        except ConfigError as e:
            assert f"'{field}" in str(e), (field, value, str(e))
        else:  # the few values that are valid for this field
            assert [field, value] in [["summary", "x" * 70], ["distinct_inputs", True], ["build_defaults", {}]], \
                (field, value)


def test_corpus_covers_the_issue_cases():
    names = {p.stem for p in SPACE_CASES}
    assert {"unknown_op", "zero_nodes", "more_inputs_than_available", "bad_header", "nodes_wrong_type",
            "unknown_key"} <= names


def test_nas_spaces_lists_examples_and_given_files(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one line per table cell
    f = tmp_path / "listed.yaml"
    f.write_text(S2.read_text().replace("name: darts_s2", "name: test_listed"))
    assert main(["spaces", "--json", "--space", str(f)]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["darts"]["from"] == "built-in" and rows["darts"]["origin"] == "search_spaces.darts:DartsSpace"
    assert rows["darts_s3"]["from"] == "example file" and rows["darts_s3"]["origin"].endswith("darts_s3.yaml")
    assert rows["darts_s3"]["primitives"] == ["none", "sep_conv_3x3", "skip_connect"]
    assert rows["test_listed"]["from"] == "file" and rows["test_listed"]["size"] == rows["darts_s2"]["size"]
    assert main(["spaces", "--space", str(f)]) == 0
    out = capsys.readouterr().out
    assert "example file" in out and "test_listed" in out and "+ none in the supernet" in out


# -- end to end on digits: evolution on the S3 file, export, SIGKILL + resume, resume without the file --
def _nas(*args: str, cwd: Path, crash: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("NAS_CRASH_AFTER", None)
    if crash:
        env["NAS_CRASH_AFTER"] = crash
    return subprocess.run([sys.executable, "-m", "nas", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def _sequence(run: Path) -> list[tuple]:
    return [(t["id"], t["key"], t["status"], t["metrics"].get("val_acc"), t["metrics"].get("params"))
            for t in read_jsonl(run / "trials.jsonl")]


SEARCH = ["--strategy", "evolution", "--population", "2", "--sample-size", "2", "--budget", "3", "--epochs", "1",
          "--channels", "4", "--max-concurrent", "1", "--seed", "4"]


@pytest.mark.slow
def test_s3_file_search_export_kill_resume(tmp_path, capsys):
    ref = _nas("search", "--space", str(S3), *SEARCH, "--runs-dir", "runs", "--name", "ref", cwd=tmp_path)
    assert ref.returncode == 0, ref.stderr
    reference = _sequence(tmp_path / "runs" / "ref")
    assert len(reference) == 3 and all(s[2] == "ok" for s in reference)
    assert list((tmp_path / "runs" / "ref" / "best").glob("1-*/model.py"))  # exported at the end of the search
    stored = yaml.safe_load((tmp_path / "runs" / "ref" / "run.yaml").read_text())["config"]
    assert stored["space"] == "darts_s3" and stored["space_definition"]["space"]["ops"][0] == "none"

    # a copy of the file, killed after the 2nd journal write, the file moved away, then resumed:
    # the same trials as the uninterrupted run
    space_file = tmp_path / "s3.yaml"
    shutil.copy(S3, space_file)
    r = _nas("search", "--space", str(space_file), *SEARCH, "--runs-dir", "runs", "--name", "k", cwd=tmp_path,
             crash="journal:2")
    assert r.returncode == -signal.SIGKILL, r.stderr
    run = tmp_path / "runs" / "k"
    assert 0 < len(_sequence(run)) < 3
    space_file.rename(tmp_path / "moved.yaml")
    r = _nas("search", "--resume", str(run), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _sequence(run) == reference
    archs = list((run / "best").glob("1-*/arch.yaml"))
    assert len(archs) == 1 and Architecture.load(archs[0]).space == "darts_s3"
    assert main(["status", str(run), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["space"] == "darts_s3" and info["n_ok"] == 3
    assert main(["show", str(archs[0]), "--dataset", "digits"]) == 0  # the example resolves by its name
    assert "darts_s3" in capsys.readouterr().out



def test_an_exported_file_space_architecture_carries_its_space(tmp_path):
    """``export`` writes ``space.yaml`` beside ``arch.yaml``; a new process shows the architecture with
    ``--space`` (and without it, the space is unknown there), and the card's commands pass it."""
    from nas.app.export import SPACE_FILE, export_arch

    text = (EXAMPLES_DIR / "darts_s2.yaml").read_text().replace("name: darts_s2", "name: user_s2")
    (tmp_path / "user.yaml").write_text(text)
    space = SPACES.create(SPACES.resolve(str(tmp_path / "user.yaml")))
    assert space.name == "user_s2"
    out = export_arch(space.sample(random.Random(0)), tmp_path / "out", formats="yaml", dataset="digits")
    (tmp_path / "user.yaml").unlink()
    assert (out / SPACE_FILE).is_file() and "--space" in (out / "card.md").read_text()
    without = _nas("show", str(out / "arch.yaml"), cwd=tmp_path)
    assert without.returncode == 2 and "unknown search space 'user_s2'" in without.stderr
    shown = _nas("show", str(out / "arch.yaml"), "--space", str(out / SPACE_FILE), "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["space"] == "user_s2"

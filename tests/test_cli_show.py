"""``nas show`` and ``nas spaces`` through the CLI (in process): text, params/MACs, JSON, PNG.

The parameter and MAC counts are computed by building the model, so they check the
whole path resolve → build → measure against the counts of quark0/darts cnn/model.py (``utils.count_parameters_in_MB``).
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest

import search_spaces  # noqa: F401  (registers the first-party spaces)
from nas.arch import Architecture
from tests.faults import cli
from nas.app.draw import bezier, plan_cell
from nas.genotype import parse_genotype
from nas.registry import SPACES
from nas.app.render import node_lines, render_arch
from nas.zoo import get_space, list_genotypes, load_genotype

NB201_BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"




# -- text -------------------------------------------------------------------------------------------
def test_show_darts_v2_text(capsys):
    rc, out, err = cli(capsys, "show", "darts-v2")
    assert rc == 0 and err == ""
    arch = load_genotype("darts-v2")
    assert "name:   DARTS-V2" in out and "space:  darts" in out and arch.key in out
    assert "  n0 = sep_conv_3x3(in0) + sep_conv_3x3(in1)\n" in out
    assert "  n3 = skip_connect(in0) + dil_conv_3x3(n0)\n" in out
    assert out.count("  out = concat(n0, n1, n2, n3)\n") == 2
    genotype = out.split("genotype: ", 1)[1].splitlines()[0]
    assert parse_genotype(genotype).keys() == {"normal", "reduce"}
    assert Architecture("darts", cells=parse_genotype(genotype)) == arch
    assert "params" not in out  # nothing is built without a build flag


def test_render_concat_combine_and_unused_output():
    space = get_space("nasnet")
    rng = random.Random(3)
    arch = space.sample(rng)
    while not any(c == "concat" for g in arch.cells.values() for c in dict(g.nodes(data="combine")).values()):
        arch = space.mutate(arch, rng)
    lines = [line for g in arch.cells.values() for line in node_lines(g)]
    assert any("= concat(" in line and line.startswith("n") for line in lines)
    text = render_arch(arch, space)
    assert "genotype:" not in text  # a concat-combined node has no Genotype string
    for name, g in arch.cells.items():
        out_line = node_lines(g)[-1]
        concat = list(g.nodes["out"]["concat"])
        assert out_line == ("out = " + (concat[0] if len(concat) == 1 else f"concat({', '.join(concat)})"))


def test_show_nb201_string_and_mbconv_table(capsys):
    rc, out, _ = cli(capsys, "show", NB201_BEST)
    assert rc == 0
    assert "  n2 = skip_connect(in0) + nor_conv_3x3(n0) + nor_conv_1x1(n1)\n" in out
    assert f"NB201 string: {NB201_BEST}\n" in out
    rc, out, _ = cli(capsys, "show", "efficientnet-b0")
    assert rc == 0
    rows = [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]
    assert [r[0] for r in rows] == [str(i) for i in range(1, 8)]
    assert [int(r[-2]) for r in rows] == [16, 24, 40, 80, 112, 192, 320]  # B0 Table 1 channels


# -- params and MACs (quark0/darts cnn/model.py) ---------------------------------------------------------
def test_show_darts_v2_cifar10_params_macs(capsys):
    rc, out, err = cli(capsys, "show", "darts-v2", "--dataset", "cifar10", "--auxiliary")
    assert rc == 0, err
    assert "params: 3,349,342 (3.35M), without the auxiliary head" in out
    assert "params with auxiliary head: 3,825,768" in out
    assert "MACs:   528,359,040 (528.4M)" in out
    assert "NetworkCIFAR (channels=36, layers=20" in out


def test_show_darts_v2_imagenet_json(capsys):
    rc, out, err = cli(capsys, "show", "darts-v2", "--dataset", "imagenet", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["params"] == 4_718_752
    assert d["model"]["model"] == "NetworkImageNet"
    assert d["model"]["input_shape"] == [1, 3, 224, 224]
    assert d["params_with_aux"] is None


def test_show_json_without_build(capsys):
    rc, out, _ = cli(capsys, "show", "darts-v1", "--json")
    assert rc == 0
    d = json.loads(out)
    arch = Architecture.from_dict(d["arch"])
    assert arch == load_genotype("darts-v1") and d["key"] == arch.key
    assert Architecture("darts", cells=parse_genotype(d["genotype"])) == arch
    assert d["params"] is None and d["macs"] is None and d["nb201"] is None
    rc, out, _ = cli(capsys, "show", NB201_BEST, "--json")
    assert json.loads(out)["nb201"] == NB201_BEST


def test_show_small_build_flags(capsys):
    rc, out, _ = cli(capsys, "show", "darts-v2", "--channels", "8", "--layers", "2", "--json")
    assert rc == 0
    d = json.loads(out)
    assert d["model"]["build"]["channels"] == 8 and d["model"]["build"]["layers"] == 2
    assert d["model"]["dataset"] == "cifar10"
    assert 0 < d["params"] < 100_000 and 0 < d["macs"]


# -- PNG ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["nasnet-a", "nb201-best", "efficientnet-b0"])
def test_show_png(capsys, tmp_path, name):
    pytest.importorskip("matplotlib")
    png = tmp_path / "sub" / f"{name}.png"
    rc, out, err = cli(capsys, "show", name, "--png", str(png))
    assert rc == 0, err
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert [p.name for p in png.parent.iterdir()] == [png.name]  # no temp file left behind


def test_png_not_written_on_error(capsys, tmp_path):
    png = tmp_path / "x.png"
    rc, out, err = cli(capsys, "show", "darts-v2", "--dataset", "nosuch", "--png", str(png))
    assert rc == 2 and out == "" and not png.exists()


def test_png_without_matplotlib(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    png = tmp_path / "x.png"
    rc, out, err = cli(capsys, "show", "darts-v2", "--png", str(png))
    assert rc == 2 and out == "" and not png.exists()
    assert err.startswith("nas: error:") and "matplotlib" in err and err.count("\n") == 1


@pytest.mark.parametrize("name", [n for n in list_genotypes() if n != "efficientnet-b0"])
def test_cell_drawing_plan_keeps_edges_off_other_nodes(name):
    """Every planned edge keeps clear of the nodes it does not connect (labels readable)."""
    arch = load_genotype(name)
    for g in arch.cells.values():
        plan = plan_cell(g)
        assert set(plan.pos) == set(g.nodes)
        assert len(plan.edges) == g.number_of_edges()
        assert all(plan.pos[u][0] < plan.pos[v][0] for u, v in g.edges())  # left to right
        for e in plan.edges:
            pts = [bezier(plan.pos[e.src], plan.pos[e.dst], e.rad, t / 20) for t in range(1, 20)]
            for n, (x, y) in plan.pos.items():
                if n not in (e.src, e.dst):
                    assert min(((px - x) ** 2 + (py - y) ** 2) ** 0.5 for px, py in pts) > 0.3, (e, n)


# -- nas spaces -----------------------------------------------------------------------------------------
def test_spaces_json(capsys):
    rc, out, _ = cli(capsys, "spaces", "--json")
    assert rc == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert set(rows) == set(SPACES.names())
    for name, r in rows.items():
        space = SPACES.create(name)
        assert r["size"] == space.size()
        assert r["decisions"] == len(space.decisions())
        assert r["ops"] == list(space.ops)
    assert rows["nb201"]["size"] == 15_625
    assert 1 < rows["nb201"]["distinct_keys"] < 15_625


def test_spaces_table(capsys):
    rc, out, _ = cli(capsys, "spaces")
    assert rc == 0
    for name in SPACES.names():
        assert name in out
    assert "15,625" in out and "non-isomorphic" in out


@pytest.mark.slow
def test_nb201_distinct_count_equals_number_of_keys():
    """``nas spaces``' NB201 count (plain-data hashing) equals the distinct ``Architecture.key``s."""
    from nas.app.cli.spaces import describe_space

    space = SPACES.create("nb201")
    assert space.distinct_keys() == len({a.key for a in space.all_archs()})
    assert describe_space("nb201")["distinct_keys"] == space.distinct_keys()


def test_show_reads_yaml_file(capsys, tmp_path: Path):
    arch = load_genotype("nasnet-a")
    path = tmp_path / "a.yaml"
    arch.save(path)
    rc, out, _ = cli(capsys, "show", str(path))
    assert rc == 0 and arch.key in out

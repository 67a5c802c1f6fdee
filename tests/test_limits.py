"""The input limits and output-location checks of :mod:`nas.limits`, on real files and real
conditions (the CLI side of each is in ``tests/test_cli_malformed.py``)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import search_spaces  # noqa: F401  (registers the first-party spaces)
from nas import limits
from nas.arch import Architecture
from nas.errors import ConfigError, InvalidArchitecture
from nas.genotype import parse_genotype
from nas.limits import (build_model_checked, check_writable_dir, check_writable_file, load_yaml, load_yaml_file,
                        read_text)
from nas.zoo import list_genotypes, load_genotype, resolve_arch


def _laughs(levels: int, width: int = 10) -> str:
    text = f"l0: &l0 [{', '.join(['lol'] * width)}]\n"
    for i in range(1, levels + 1):
        text += f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]\n"
    return text


# -- YAML --------------------------------------------------------------------------------------
def test_yaml_within_limits_loads_like_safe_load():
    import yaml

    text = "base: &b {lr: 0.1, epochs: 3}\nrun: {<<: *b, epochs: 5}\nids: [0x1f, 0o17, 1_000, -3]\nf: 1e3\n"
    assert load_yaml(text, "t") == yaml.safe_load(text)
    assert load_yaml(_laughs(3), "t") == yaml.safe_load(_laughs(3))  # 10^3 expanded nodes: fine
    nested = "a: " + "[" * (limits.MAX_YAML_DEPTH - 2) + "1" + "]" * (limits.MAX_YAML_DEPTH - 2)
    assert load_yaml(nested, "t")["a"]


@pytest.mark.parametrize("text,fragment", [
    (_laughs(9), "nodes with aliases expanded"),
    ("a: &a [1, *a]\n", "recursive alias"),
    ("m: " + "{a: " * 50_000 + "1" + "}" * 50_000, "nested deeper than 64"),
    ("m: " + "[" * 50_000 + "]" * 50_000, "nested deeper than 64"),
    ("x: &x 1\nl: [" + ", ".join(["*x"] * (limits.MAX_YAML_ALIASES + 1)) + "]\n", "aliases"),
    ("n: " + "9" * 5000, "integer longer than 100"),
    ("n: 0x" + "f" * 200, "integer longer than 100"),
    ("n: " + ":".join(["59"] * 60), "integer longer than 100"),  # sexagesimal 1:2:3 is an int too
], ids=["billion-laughs", "recursive-alias", "deep-mapping-50000", "deep-list-50000", "too-many-aliases",
        "int-5000-digits", "hex-int", "sexagesimal-int"])
def test_yaml_bombs_fail_fast(text, fragment):
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=fragment) as ei:
        load_yaml(text, "bomb.yaml")
    assert time.perf_counter() - t0 < 5
    assert str(ei.value).startswith("bomb.yaml: line ")
    assert "\n" not in str(ei.value)


def test_yaml_text_over_size_limit():
    with pytest.raises(InvalidArchitecture, match="over the limit of 1 MiB"):
        load_yaml("#" * (limits.MAX_TEXT_BYTES + 1), "big", error=InvalidArchitecture)


def test_read_text_checks_size_before_reading(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:  # 50 MB, sparse: fast to make, would be slow to parse
        f.truncate(50_000_000)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match=r"big.yaml: file is 47.7 MiB, over the limit of 1 MiB"):
        read_text(big)
    assert time.perf_counter() - t0 < 1
    ok = tmp_path / "ok.yaml"
    ok.write_text("a: 1\n" * 1000)
    assert load_yaml_file(ok) == {"a": 1}
    with pytest.raises(FileNotFoundError):
        read_text(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        read_text(tmp_path)
    (tmp_path / "bin.yaml").write_bytes(b"a: \xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_text(tmp_path / "bin.yaml")


def test_read_text_stops_at_the_limit_on_unsized_files():
    """/dev/zero reports size 0 and never ends: the read stops one byte past the limit."""
    with pytest.raises(ConfigError, match="over the limit"):
        read_text("/dev/zero", limit=4096)


def test_architecture_yaml_goes_through_the_limits(tmp_path):
    arch = load_genotype("darts-v2")
    good = tmp_path / "good.yaml"
    arch.save(good)
    assert Architecture.load(good) == arch
    d = arch.to_dict()
    d["meta"]["deep"] = "PLACEHOLDER"
    text = Architecture.from_dict(d).to_yaml().replace("PLACEHOLDER", "[" * 1000 + "]" * 1000)
    deep = tmp_path / "deep.yaml"
    deep.write_text(text)
    with pytest.raises(InvalidArchitecture, match="deep.yaml: line .*nested deeper than 64"):
        resolve_arch(str(deep))


def test_shipped_genotypes_are_within_the_limits():
    for name in list_genotypes():
        load_genotype(name)


# -- Genotype / NB201 strings --------------------------------------------------------------------
_CELL = "[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('skip_connect', 0), ('sep_conv_3x3', 2)]"


def _genotype(concat: str) -> str:
    return f"Genotype(normal={_CELL}, normal_concat={concat}, reduce={_CELL}, reduce_concat=[2, 3])"


def test_genotype_limits_allow_normal_strings():
    cells = parse_genotype(_genotype("range(2, 4)"))
    assert set(cells) == {"normal", "reduce"}


@pytest.mark.parametrize("concat,fragment", [
    ("range(2000000000)", "range\\(\\) at position \\d+ has more than 1,000 items"),
    ("range(-10**9)", "unexpected character"),
    ("[" + ", ".join(["2"] * 1001) + "]", "a list has more than 1,000 items"),
    ("[2, " + "1" * 5000 + "]", "has more than 100 digits"),
    ("[" * 5000 + "]" * 5000, "nested deeper than 16 levels"),
    ("(" * 20 + ")" * 20, "nested deeper than 16 levels"),
], ids=["range-2e9", "range-expression", "list-1001", "int-5000-digits", "nested-5000", "nested-20"])
def test_genotype_limits(concat, fragment):
    t0 = time.perf_counter()
    with pytest.raises(InvalidArchitecture, match=fragment):
        parse_genotype(_genotype(concat))
    assert time.perf_counter() - t0 < 2


def test_genotype_and_nb201_length_limits():
    with pytest.raises(InvalidArchitecture, match="over the limit of 65,536"):
        parse_genotype(_genotype("[2]" + " " * limits.MAX_STRING_CHARS))
    with pytest.raises(InvalidArchitecture, match="NB201 string: .* over the limit"):
        resolve_arch("|" + "none~0|" * 10_000)


# -- output locations -----------------------------------------------------------------------------
def test_check_writable_dir_creates_nothing(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    assert check_writable_dir(target) == target
    assert list(tmp_path.iterdir()) == []
    assert check_writable_dir(tmp_path) == tmp_path
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("make,fragment", [
    (lambda t: t / "file" / "sub", "is not a folder"),       # ENOTDIR: a regular file in the way
    (lambda t: t / "file", "exists and is not a folder"),
    (lambda t: Path("/proc/version/sub"), "/proc/version is not a folder"),
    (lambda t: Path("/sys/nas-test"), "cannot create files in /sys"),  # sysfs: no new files, not even root
    (lambda t: t / ("n" * 300), "over the file system's limit of"),    # ENAMETOOLONG
    (lambda t: t / ("n" * 300) / "deeper", "over the file system's limit of"),
    (lambda t: Path(str(t) + "/a\0b"), "NUL byte"),
])
def test_check_writable_dir_refuses(tmp_path, make, fragment):
    (tmp_path / "file").write_text("x")
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(ConfigError, match=fragment):
        check_writable_dir(make(tmp_path), "--out")
    assert sorted(os.listdir(tmp_path)) == before


def test_check_writable_file(tmp_path):
    assert check_writable_file(tmp_path / "new" / "x.png") == tmp_path / "new" / "x.png"
    with pytest.raises(ConfigError, match="is a folder"):
        check_writable_file(tmp_path, "--png")
    with pytest.raises(ConfigError, match="cannot create files in /sys"):
        check_writable_file("/sys/x.png", "--png")
    assert list(tmp_path.iterdir()) == []


# -- model size -------------------------------------------------------------------------------------
def test_build_model_checked_counts_on_meta_before_allocating():
    import torch

    calls = []

    def make():
        calls.append(torch.empty(0).device.type)
        return torch.nn.Linear(100_000, 20_000)  # 2.0e9 parameters: 8 GB if it were allocated

    with pytest.raises(ConfigError, match="2,000,020,000 parameters, over the limit of 1,000,000,000"):
        build_model_checked(make, "model")
    assert calls == ["meta"]  # never built for real

    def small():
        torch.manual_seed(0)
        return torch.nn.Linear(4, 3)

    model = build_model_checked(small)
    assert model.weight.device.type == "cpu"
    assert torch.equal(model.weight, small().weight)  # the meta build leaves the seeded build unchanged


def test_build_model_checked_turns_allocation_failures_into_errors():
    def fails():
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory")

    with pytest.raises(ConfigError, match="cannot allocate the model: .*DefaultCPUAllocator"):
        build_model_checked(fails, "model")

    def bug():
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):  # not an allocation error: a bug keeps its traceback
        build_model_checked(bug)


def test_show_counts_darts_on_meta(capsys):
    from nas.app.cli import main

    t0 = time.perf_counter()
    assert main(["show", "darts-v2", "--channels", "20000"]) == 2
    assert "over the limit of 1,000,000,000" in capsys.readouterr().err
    assert time.perf_counter() - t0 < 30


# -- user text in outputs ---------------------------------------------------------------------------
def test_png_with_tex_in_the_name(tmp_path, capsys):
    """mathtext would fail on this name; it is drawn as plain text."""
    pytest.importorskip("matplotlib")
    from nas.app.cli import main

    arch = load_genotype("darts-v2")
    d = arch.to_dict()
    d["meta"]["name"] = r"$\frac{a}{ $x^^ \undefined$ $$ 100%"
    src = tmp_path / "tex.yaml"
    Architecture.from_dict(d).save(src)
    png = tmp_path / "tex.png"
    assert main(["show", str(src), "--png", str(png)]) == 0, capsys.readouterr().err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_card_heading_is_one_line(tmp_path):
    from nas.app.export import export_arch

    d = load_genotype("nb201-best").to_dict()
    d["meta"]["name"] = "evil\n# injected heading\n\n| a | b |\r`tick`"
    arch = Architecture.from_dict(d)
    out = export_arch(arch, tmp_path / "exp", formats=["yaml"], build_kwargs={"channels": 4, "layers": 1})
    lines = (out / "card.md").read_text().splitlines()
    assert lines[0].startswith("# Architecture `evil # injected heading \\| a \\| b \\| 'tick'`")
    assert not any(line.startswith("# injected") for line in lines)

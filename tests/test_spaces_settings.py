"""One merge of build settings, spaces lowering to ModelSpecs, and string formats declared by spaces.

* :func:`nas.settings.build_settings` is the only merge: space defaults for every dataset
  < the family's < the command's flags/config < the proposal's settings; the search trial,
  ``nas train``, ``nas show`` and ``nas export`` all build the same model from the same flags.
* every first-party space lowers to a whitelisted ``nas.nn`` class, and ``build`` is exactly
  ``instantiate(model_spec(...))``;
* ``nas.zoo``/``nas show`` find a string format through the space that declares it, a plugin
  space included.
"""
from __future__ import annotations

import json
import random

import pytest
import torch

import search_spaces  # noqa: F401  (registers the first-party spaces)
from nas.app.cli import main
from nas.arch import Architecture
from nas.cell import cell_spec
from nas.config import SearchConfig
from nas.errors import ConfigError, InvalidArchitecture
from nas.registry import SPACES
from nas.settings import build_settings, space_defaults
from nas.spec import ModelSpec, check_spec, instantiate
from nas.zoo import get_space, load_genotype, resolve_arch, text_formats

FIRST_PARTY = ("nasnet", "darts", "nb201", "mbconv")


def digits_info():
    from evaluators.data import dataset_info

    return dataset_info("digits")


def test_build_settings_precedence():
    space = get_space("nb201")
    info = digits_info()
    assert build_settings(space) == space.build_defaults["*"]  # no dataset: the defaults for every dataset
    base = build_settings(space, info)
    assert base == {**space.build_defaults["*"], **space.build_defaults["digits"], "in_channels": 1,
                    "num_classes": 10}
    kw = build_settings(space, info, SearchConfig(space="nb201", channels=4, layers=2),
                        {"layers": 3, "epochs": 2, "lr": 0.1}, exclude={"epochs", "lr"})
    assert kw["channels"] == 4 and kw["layers"] == 3 and "epochs" not in kw and "lr" not in kw
    flags = build_settings(space, info, {"channels": 6, "layers": None, "auxiliary": None})
    assert flags["channels"] == 6 and flags["layers"] == space.build_defaults["digits"]["layers"]
    assert "auxiliary" not in flags  # an unset flag is no setting


def test_family_rows_override_the_all_datasets_row():
    darts = get_space("darts")
    assert space_defaults(darts)["stem"] == "cifar"
    assert space_defaults(darts, "imagenet")["stem"] == "imagenet"
    assert space_defaults(darts, "digits")["channels"] == 8
    # stem="imagenet" alone takes the imagenet row's size (DARTS mobile setting: C=48, 14 cells)
    spec = darts.model_spec(load_genotype("darts-v2"), stem="imagenet")
    assert spec.class_name == "NetworkImageNet" and spec.kwargs["C"] == 48 and spec.kwargs["layers"] == 14


def _params(model) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if "auxiliary" not in n)


def test_a_flag_means_the_same_in_search_train_show_and_export(capsys, tmp_path):
    """--channels/--layers build the same network in a search trial, nas train, nas show and nas export."""
    from nas.app.export import export_arch
    from nas.app.train_run import Target, build_target
    from evaluators.trainer import TrainRecipe

    arch = load_genotype("darts-v2")
    space = get_space("darts")
    info = digits_info()
    search = space.build(arch, **build_settings(space, info, SearchConfig(space="darts", channels=4, layers=2)))
    trained, kw, _ = build_target(Target("arch", "darts-v2", arch), info, TrainRecipe.preset("search"), seed=0,
                                  channels=4, layers=2)
    assert _params(search) == _params(trained)
    assert main(["show", "darts-v2", "--dataset", "digits", "--channels", "4", "--layers", "2", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["params"] == _params(search)
    assert shown["model"]["build"]["channels"] == 4 and shown["model"]["build"]["layers"] == 2
    folder = export_arch(arch, tmp_path / "e", space=space, build_kwargs=kw, formats="yaml", dataset=info)
    from nas.app.export_card import _count

    assert f"| params | {_count(_params(search))} " in (folder / "card.md").read_text()


@pytest.mark.parametrize("name", FIRST_PARTY)
def test_build_is_instantiate_of_the_lowered_spec(name):
    space = get_space(name)
    arch = space.sample(random.Random(5))
    kw = build_settings(space, digits_info())
    spec = space.model_spec(arch, **kw)
    assert isinstance(spec, ModelSpec) and check_spec(spec).__name__ == spec.class_name
    torch.manual_seed(0)
    a = space.build(arch, **kw)
    torch.manual_seed(0)
    b = instantiate(spec)
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_mbconv_lowers_its_macro_into_efficientnet_arguments():
    from search_spaces.mbconv import B0_STAGES, with_macro

    space = get_space("mbconv")
    b0 = load_genotype("efficientnet-b0")
    wide = with_macro(b0, width=1.1, depth=1.2, resolution=260, dropout=0.3)
    spec = space.model_spec(wide, **build_settings(space, digits_info()))
    assert spec.class_name == "EfficientNet"
    assert spec.args == ([dict(s) for s in B0_STAGES],)
    assert spec.kwargs["width"] == pytest.approx(1.1 * 0.25) and spec.kwargs["depth"] == pytest.approx(1.2)
    assert spec.kwargs["input_scale"] == pytest.approx(260 / 224) and spec.kwargs["dropout"] == 0.3
    assert spec.kwargs["stem_stride"] == 1  # the digits row
    with pytest.raises(ConfigError, match="layers is not used"):
        space.model_spec(b0, layers=3)


def test_one_op_table():
    from nas.nn.ops import OPS
    from search_spaces.darts import PRIMITIVES

    assert get_space("darts").ops == tuple(op for op in PRIMITIVES if op != "none")
    for name in FIRST_PARTY:
        assert set(get_space(name).ops) - {"mbconv"} <= set(OPS)


def test_text_formats_are_declared_by_spaces():
    assert text_formats()[:2] == ["genotype", "nb201"]  # darts/nasnet's, then nb201's (registration order)
    darts, nb201 = get_space("darts"), get_space("nb201")
    g = darts.to_text(load_genotype("darts-v2"))
    assert darts.accepts_text(g) and not nb201.accepts_text(g)
    assert resolve_arch(g) == darts.from_text(g)
    s = nb201.to_text(load_genotype("nb201-best"))
    assert nb201.accepts_text(s) and resolve_arch(s) == load_genotype("nb201-best")
    assert darts.to_text(load_genotype("darts-v2"), "nb201") is None  # not a format darts speaks
    nasnet = get_space("nasnet")
    concat = next(a for a in (nasnet.sample(random.Random(i)) for i in range(50))
                  if any(c == "concat" for c, _ in cell_spec(a.cells["normal"])[0]))
    assert nasnet.to_text(concat) is None  # a concat-combined node: no Genotype string
    assert nasnet.to_text(load_genotype("nasnet-a")).startswith("Genotype(")
    with pytest.raises(InvalidArchitecture, match="valid in no space"):
        resolve_arch(g.replace("sep_conv_3x3", "conv_1x1", 1))  # a NASNet op in a DARTS-only reduction cell


class _WordSpace:
    """A plugin space (not a SearchSpace subclass) speaking its own string format ``word:<bits>``."""

    name = "word-test"
    ops = ()
    text_formats = ("word",)
    text_titles = {"word": "word string"}

    def accepts_text(self, text: str) -> bool:
        return text.startswith("word:")

    def from_text(self, text: str) -> Architecture:
        bits = text[len("word:"):]
        if set(bits) - {"0", "1"}:
            raise InvalidArchitecture(f"word string: {bits!r} is not 0/1")
        return Architecture(self.name, blocks=({"bits": bits},))

    def to_text(self, arch: Architecture, fmt: str | None = None) -> str | None:
        return "word:" + arch.blocks[0]["bits"] if fmt in (None, "word") else None

    def validate(self, arch: Architecture) -> None:
        if arch.space != self.name:
            raise InvalidArchitecture("not a word")


def test_a_plugin_space_format_reaches_zoo_and_show(monkeypatch, capsys):
    monkeypatch.setitem(SPACES._entries, _WordSpace.name, _WordSpace)
    monkeypatch.setitem(SPACES._summaries, _WordSpace.name, "test")
    assert "word" in text_formats()
    arch = resolve_arch("word:0110")
    assert arch.space == "word-test" and arch.blocks[0]["bits"] == "0110"
    with pytest.raises(InvalidArchitecture, match="is not 0/1"):
        resolve_arch("word:01x")
    assert main(["show", "word:0110", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["word"] == "word:0110" and out["genotype"] is None and out["nb201"] is None
    assert main(["show", "word:0110"]) == 0
    assert "word string: word:0110" in capsys.readouterr().out

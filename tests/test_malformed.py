"""A corpus of malformed architecture inputs (``tests/malformed/``): each is rejected
with :class:`InvalidArchitecture` carrying the expected message fragment, in one line."""
from __future__ import annotations

import pytest

import search_spaces  # noqa: F401  (registers the first-party spaces)
from nas.errors import InvalidArchitecture
from nas.zoo import get_space, resolve_arch
from tests.space_helpers import MALFORMED_DIR, read_case

CASES = sorted(p for p in MALFORMED_DIR.iterdir() if p.suffix in (".yaml", ".txt"))


def test_corpus_is_large_and_well_formed():
    assert len(CASES) >= 20
    kinds = {p.suffix for p in CASES}
    assert kinds == {".yaml", ".txt"}
    for p in CASES:
        _, fragment = read_case(p)
        assert fragment, p.name


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_malformed_input_is_rejected(path):
    text, fragment = read_case(path)
    with pytest.raises(InvalidArchitecture) as ei:
        arch = resolve_arch(text)
        get_space(arch.space).validate(arch)
    msg = str(ei.value)
    assert fragment in msg, f"{path.name}: expected {fragment!r} in {msg!r}"
    assert "\n" not in msg and len(msg) < 600  # one precise line for `nas: error: ...`
    if path.suffix == ".yaml":
        assert path.name in msg  # the message names the file


def test_missing_yaml_file(tmp_path):
    with pytest.raises(InvalidArchitecture, match="no such file"):
        resolve_arch(str(tmp_path / "nope.yaml"))

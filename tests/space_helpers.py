"""Helpers shared by the search-space tests: the packaged NB201 table and the malformed-input corpus.

The contract helpers (isomorphic relabelling, the exact isomorphism oracle, random choice
vectors) ship with the conformance suites in :mod:`nas.testing.spaces`.
"""
from __future__ import annotations

import csv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MALFORMED_DIR = Path(__file__).resolve().parent / "malformed"


def nb201_csv() -> Path:
    """The NAS-Bench-201 CIFAR-10 table shipped as package data."""
    from evaluators.tabular import DEFAULT_TABLE

    return DEFAULT_TABLE


def nb201_rows() -> list[dict[str, str]]:
    p = nb201_csv()
    assert p is not None
    with p.open(newline="") as f:
        return list(csv.DictReader(f))


def read_case(path: Path) -> tuple[str, str]:
    """A malformed-corpus file → (input for resolve_arch, expected message fragment).

    The first line is ``# expect: <fragment>``. For ``*.yaml`` files the input is
    the file's path; for ``*.txt`` files it is the text without ``#`` comment lines.
    """
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    assert first.startswith("# expect:"), f"{path.name}: first line must be '# expect: <fragment>'"
    fragment = first[len("# expect:") :].strip()
    if path.suffix == ".yaml":
        return str(path), fragment
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#")).strip()
    return body, fragment

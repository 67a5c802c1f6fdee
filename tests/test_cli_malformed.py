"""Every case of the malformed-input corpus (``tests/malformed/``) through ``nas show``:
exit code 2, exactly one ``nas: error:`` line on stderr carrying the expected fragment,
nothing on stdout, no traceback (DESIGN §6). Most cases run in process; a few run as
real ``python -m nas`` subprocesses."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from nas.app.cli import main
from tests.space_helpers import MALFORMED_DIR, REPO, read_case

CASES = sorted(p for p in MALFORMED_DIR.iterdir() if p.suffix in (".yaml", ".txt"))
SUBPROCESS_CASES = ["darts_cycle.yaml", "genotype_import.txt", "nb201_unknown_op.txt"]


def check_error(rc: int, out: str, err: str, fragment: str) -> None:
    assert rc == 2, (rc, err)
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("nas: error: ")
    assert fragment in err, f"expected {fragment!r} in {err!r}"
    assert "Traceback" not in err


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_show_rejects_malformed(capsys, path, tmp_path):
    text, fragment = read_case(path)
    png = tmp_path / "cell.png"
    rc = main(["show", text, "--png", str(png)])
    out, err = capsys.readouterr()
    check_error(rc, out, err, fragment)
    assert not png.exists()


def test_corpus_has_cases():
    assert len(CASES) >= 20
    assert {c for c in SUBPROCESS_CASES} <= {p.name for p in CASES}


@pytest.mark.slow
@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_show_rejects_malformed_subprocess(name, tmp_path):
    text, fragment = read_case(MALFORMED_DIR / name)
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run([sys.executable, "-m", "nas", "show", text], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=120)
    check_error(p.returncode, p.stdout, p.stderr, fragment)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("argv,fragment", [
    (["darts-v2", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["darts-v2", "--channels", "0"], "--channels"),
    (["darts-v2", "--layers", "x"], "--layers"),
    (["efficientnet-b0", "--layers", "3"], "layers is not used"),
    (["nb201-best", "--auxiliary"], "auxiliary"),
    (["no-such-zoo-name"], "cannot resolve architecture"),
    (["missing.yaml"], "no such file"),
])
def test_show_bad_flags(capsys, argv, fragment):
    try:
        rc = main(["show", *argv])
    except SystemExit as e:  # argparse errors
        rc = int(e.code)
    out, err = capsys.readouterr()
    check_error(rc, out, err, fragment)


def test_debug_shows_traceback(capsys):
    from nas.errors import InvalidArchitecture

    with pytest.raises(InvalidArchitecture):
        main(["show", "no-such-zoo-name", "--debug"])

"""Malformed input for every command: exit code 2, exactly one ``nas: error:`` line on stderr
carrying the expected fragment, nothing on stdout, no traceback, and nothing written.

Two tables run through the CLI in process (``nas.app.cli.main``):

* the corpus ``tests/malformed/`` (one bad architecture per file) through ``nas show``, and
  a few of its files through ``nas train``;
* ``COMMAND_CASES`` (``tests/malformed_commands.py``): bad flags, paths, output locations and resource bombs for
  ``search``, ``search --resume``, ``show``, ``export``, ``train``, ``bench``, ``status``,
  ``spaces`` and ``strategies``.

"Nothing written" is checked by snapshotting the working folder and the shared run folder
(every path, and each file's size and mtime) before and after the command. Output locations
that cannot be written are real conditions, not mocks (the tests run as root, so permission
bits do not stop writes): a regular file in the way (ENOTDIR / "not a folder"), a name longer
than NAME_MAX (ENAMETOOLONG), ``/proc/version`` as a parent (a file) and ``/sys``, where even
root cannot create files. A few cases also run as real ``python -m nas`` subprocesses.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nas.app.cli import main
from tests.malformed_commands import COMMAND_CASES, FILES, LONG, WEIGHTS
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


def snapshot(*roots: Path) -> set[tuple]:
    """Every path under ``roots``; files with size and mtime (folder mtimes move when a probe
    file is created and removed, so folders count by name only)."""
    seen: set[tuple] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for d in dirnames:
                seen.add((os.path.join(dirpath, d), "dir"))
            for f in filenames:
                st = os.lstat(os.path.join(dirpath, f))
                seen.add((os.path.join(dirpath, f), st.st_size, st.st_mtime_ns))
    return seen


def run_cli(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as e:  # argparse errors
        return int(e.code)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A small finished run (NB201 table, 3 trials), shared read-only by the cases."""
    from nas.app.launch import run_search

    root = tmp_path_factory.mktemp("runs")
    summary = run_search({"space": "nb201", "strategy": "random", "evaluator": "tabular", "budget": 3,
                          "runs_dir": str(root), "name": "r"}, progress=False)
    assert summary.n_ok == 3
    return root / "r"


# -- the corpus through nas show (and train, search) --------------------------------------------
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.name)
def test_show_rejects_malformed(capsys, path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text, fragment = read_case(path)
    before = snapshot(tmp_path)
    rc = main(["show", text, "--png", "cell.png", "--json"])
    out, err = capsys.readouterr()
    check_error(rc, out, err, fragment)
    assert snapshot(tmp_path) == before


TRAIN_CASES = ["darts_unknown_op.yaml", "genotype_huge_range.txt", "yaml_billion_laughs.yaml",
               "nb201_bad_edge.txt", "yaml_syntax.yaml", "unknown_zoo_name.txt"]


@pytest.mark.parametrize("name", TRAIN_CASES)
def test_train_rejects_malformed(capsys, name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text, fragment = read_case(MALFORMED_DIR / name)
    before = snapshot(tmp_path)
    rc = run_cli(["train", text, "--recipe", "search", "--epochs", "1", "--out", "out"])
    out, err = capsys.readouterr()
    check_error(rc, out, err, fragment)
    assert snapshot(tmp_path) == before


def test_corpus_has_cases():
    assert len(CASES) >= 20
    assert {c for c in SUBPROCESS_CASES} <= {p.name for p in CASES}


# -- every command: flags, paths, output locations, bombs (tests/malformed_commands.py) -----------
@pytest.mark.parametrize("argv,fragment", [c[1:] for c in COMMAND_CASES], ids=[c[0] for c in COMMAND_CASES])
def test_command_rejects(request, capsys, tmp_path, monkeypatch, run_dir, argv, fragment):
    monkeypatch.chdir(tmp_path)
    case = request.node.callspec.id
    for name in {"afile", "norun"} | {a for a in argv if a in FILES} | {a.split("/")[0] for a in argv}:
        if name in FILES and not (tmp_path / name).exists():
            FILES[name](tmp_path)
    if case in WEIGHTS:
        FILES[WEIGHTS[case]](tmp_path, run_dir)
    argv = [a.replace("{run}", str(run_dir)) for a in argv]
    before = snapshot(tmp_path, run_dir)
    rc = run_cli(argv)
    out, err = capsys.readouterr()
    check_error(rc, out, err, fragment)
    assert snapshot(tmp_path, run_dir) == before


def test_command_cases_cover_every_command():
    from nas.app.cli import SUBCOMMANDS

    commands = {argv[0] for _, argv, _ in COMMAND_CASES}
    assert set(SUBCOMMANDS) <= commands
    assert any("--resume" in argv for _, argv, _ in COMMAND_CASES if argv[0] == "search")
    ids = [c[0] for c in COMMAND_CASES]
    assert len(ids) == len(set(ids))


# -- subprocesses: the real entry point --------------------------------------------------------
def _nas(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=120)


@pytest.mark.slow
@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_show_rejects_malformed_subprocess(name, tmp_path):
    text, fragment = read_case(MALFORMED_DIR / name)
    p = _nas(["show", text], tmp_path)
    check_error(p.returncode, p.stdout, p.stderr, fragment)
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.slow
@pytest.mark.parametrize("args,fragment", [
    (["search", "--space", "nb201", "--strategy", "random", "--evaluator", "tabular", "--budget", "1",
      "--name", LONG], "over the file system's limit"),
    (["bench", "--strategy", "random", "--runs", "1", "--out", "/sys/bench"], "cannot create files in /sys"),
    (["show", "yaml_billion_laughs.yaml", "--json"], "aliases expanded"),
], ids=["search-long-name", "bench-out-sys", "show-laughs-json"])
def test_rejects_in_subprocess(args, fragment, tmp_path):
    """No ``runs/`` left behind, no traceback, one line, from the installed entry point."""
    if "yaml_billion_laughs.yaml" in args:
        shutil.copy(MALFORMED_DIR / "yaml_billion_laughs.yaml", tmp_path)
    before = snapshot(tmp_path)
    p = _nas(args, tmp_path)
    check_error(p.returncode, p.stdout, p.stderr, fragment)
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "runs").exists()


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
    rc = run_cli(["show", *argv])
    out, err = capsys.readouterr()
    check_error(rc, out, err, fragment)


def test_debug_shows_traceback(capsys):
    from nas.errors import InvalidArchitecture

    with pytest.raises(InvalidArchitecture):
        main(["show", "no-such-zoo-name", "--debug"])

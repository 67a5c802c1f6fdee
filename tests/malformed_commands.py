"""The table of malformed command lines used by ``tests/test_cli_malformed.py``.

:data:`COMMAND_CASES` holds ``(id, argv, expected fragment of the error line)``; :data:`FILES`
makes the input files an argv names (in the test's working folder) before the command runs.
``{run}`` in an argv is the shared run folder of the test module, ``LONG`` a 300-character name.
"""
from __future__ import annotations

import pickle
import shutil
from pathlib import Path
from typing import Callable

LONG = "x" * 300  # over NAME_MAX (255) of every common file system


def _write(name: str, text: str | bytes) -> Callable[[Path], None]:
    def make(cwd: Path) -> None:
        p = cwd / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())

    return make


def _big_yaml(cwd: Path) -> None:
    """50 MB: a sparse file (instant to make) that starts like an architecture."""
    with open(cwd / "big.yaml", "wb") as f:
        f.write(b"format: nas/arch@1\nspace: darts\nmeta: {name: ")
        f.truncate(50 * 1000 * 1000)


def _two_mib_yaml(cwd: Path) -> None:
    """Real YAML over the 1 MiB limit: a long list in ``meta``."""
    (cwd / "long.yaml").write_text("format: nas/arch@1\nspace: darts\nmeta:\n  pad:\n" + "  - 1234567890\n" * 150_000)


def _deep_meta(cwd: Path) -> None:
    (cwd / "deep.yaml").write_text("format: nas/arch@1\nspace: darts\nmeta: " + "[" * 50_000 + "]" * 50_000 + "\n")


def _deep_genotype(cwd: Path) -> None:
    (cwd / "geno.txt").write_text("Genotype(normal=" + "(" * 5000 + ")" * 5000 + ")")


def _norun(cwd: Path) -> None:
    (cwd / "norun").mkdir()
    (cwd / "norun" / "notes.txt").write_text("not a run\n")


def _garbage_weights(data: bytes) -> Callable[[Path], None]:
    def make(cwd: Path, run: Path | None = None) -> None:
        assert run is not None
        shutil.copytree(run, cwd / "run2")
        (cwd / "run2" / "weights").mkdir(exist_ok=True)
        for i in range(3):
            (cwd / "run2" / "weights" / f"t{i:05d}.pt").write_bytes(data)

    make.needs_run = True  # type: ignore[attr-defined]
    return make


LAUGHS = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9))

#: placeholder in argv -> what makes it in the working folder
FILES: dict[str, Callable[..., None]] = {
    "big.yaml": _big_yaml,
    "long.yaml": _two_mib_yaml,
    "deep.yaml": _deep_meta,
    "geno.txt": _deep_genotype,
    "norun": _norun,
    "afile": _write("afile", "a regular file\n"),
    "cfg_laughs.yaml": _write("cfg_laughs.yaml", LAUGHS),
    "cfg_list.yaml": _write("cfg_list.yaml", "- space\n- nb201\n"),
    "cfg_unknown.yaml": _write("cfg_unknown.yaml", "spcae: nb201\n"),
    "cfg_syntax.yaml": _write("cfg_syntax.yaml", "space: [nb201\n"),
    "cfg_type.yaml": _write("cfg_type.yaml", "budget: many\n"),
    "cfg_binary.yaml": _write("cfg_binary.yaml", b"space: \xff\xfe\x00nb201\n"),
    "table.csv": _write("table.csv", "arch,acc\n|x|,1\n"),
    "bad_weights_random": _garbage_weights(bytes(range(256)) * 12),
    "bad_weights_pickle": _garbage_weights(pickle.dumps({"model": [1, 2, 3]}, protocol=4)),
    "bad_weights_empty": _garbage_weights(b""),
    "bad_weights_text": _garbage_weights(b"these are not weights\n"),
}

_S = ["search", "--space", "nb201", "--strategy", "random", "--evaluator", "tabular", "--budget", "2"]
_T = ["train", "resnet20", "--recipe", "search", "--epochs", "1"]

#: (id, argv, expected fragment of the error line). ``{run}`` is the shared run folder,
#: ``{long}`` a 300-character name, ``run2`` a copy of the run made by a ``bad_weights_*`` entry.
COMMAND_CASES: list[tuple[str, list[str], str]] = [
    # spaces / strategies / status
    ("spaces-extra-arg", ["spaces", "nb201"], "unrecognized arguments"),
    ("spaces-bad-flag", ["spaces", "--yaml"], "unrecognized arguments"),
    ("strategies-extra-arg", ["strategies", "evolution"], "unrecognized arguments"),
    ("strategies-bad-flag", ["strategies", "--verbose"], "unrecognized arguments"),
    ("no-such-command", ["serach"], "invalid choice"),
    ("status-missing", ["status", "nope"], "nope"),
    ("status-file", ["status", "afile"], "afile"),
    ("status-not-a-run", ["status", "norun"], "not a run directory"),
    ("status-top-text", ["status", "{run}", "--top", "many"], "--top"),
    ("status-no-arg", ["status"], "the following arguments are required"),
    ("report-missing", ["report", "nope"], "nope: no such run directory"),
    ("baselines-extra-arg", ["baselines", "resnet20"], "unrecognized arguments"),
    ("baselines-bad-dataset", ["baselines", "--dataset", "nope"], "unknown dataset 'nope'"),
    ("compare-nothing", ["compare"], "nothing to compare"),
    ("compare-unknown", ["compare", "vgg17"], "cannot resolve architecture 'vgg17'"),
    ("compare-resume-search-run", ["compare", "--resume", "{run}"], "not a comparison run"),
    ("compare-runs-dir-file", ["compare", "lenet5", "--runs-dir", "/proc/version"], "is not a folder"),
    ("report-file", ["report", "afile"], "afile"),
    ("report-not-a-run", ["report", "norun"], "not a run directory"),
    ("report-out-folder", ["report", "{run}", "--out", "norun"], "is a folder"),
    # search: names, options, values
    ("search-unknown-space", [*_S[:2], "nosuch", *_S[3:]], "nosuch"),
    ("search-unknown-strategy", [*_S[:4], "nosuch", *_S[5:]], "nosuch"),
    ("search-unknown-evaluator", [*_S[:6], "nosuch", *_S[7:]], "nosuch"),
    ("search-unknown-objective", [*_S, "--objective", "speed"], "speed"),
    ("search-budget-zero", [*_S[:-1], "0"], "--budget must be >= 1"),
    ("search-budget-text", [*_S[:-1], "lots"], "--budget"),
    ("search-budget-huge-int", [*_S[:-1], "9" * 5000], "--budget"),
    ("search-time-budget-negative", [*_S, "--time-budget", "-5"], "time_budget"),
    ("search-lr-negative", [*_S, "--lr", "-1"], "lr"),
    ("search-lr-nan", [*_S, "--lr", "nan"], "lr"),
    ("search-epochs-zero", [*_S, "--epochs", "0"], "epochs"),
    ("search-name-slash", [*_S, "--name", "a/b"], "plain directory name"),
    ("search-name-dot", [*_S, "--name", ".hidden"], "plain directory name"),
    ("search-strategy-option-unknown", [*_S, "--strategy-option", "bogus=1"], "bogus"),
    ("search-strategy-option-no-equals", [*_S, "--strategy-option", "bogus"], "KEY=VALUE"),
    ("search-strategy-option-bad-yaml", [*_S, "--strategy-option", "x=[1,"], "not valid YAML"),
    ("search-strategy-option-deep", [*_S, "--strategy-option", "x=" + "[" * 200 + "]" * 200], "nested deeper"),
    ("search-strategy-option-big-int", [*_S, "--strategy-option", "max_tries=" + "9" * 5000], "integer longer"),
    ("search-strategy-option-laughs", [*_S, "--strategy-option", "x={" + LAUGHS.replace("\n", ", ") + "}"],
     "aliases expanded"),
    ("search-evaluator-option-unknown", [*_S, "--evaluator-option", "bogus=1"], "bogus"),
    ("search-objective-option-unknown", [*_S, "--objective-option", "bogus=1"], "bogus"),
    ("search-force-without-resume", [*_S, "--force"], "--force only makes sense with --resume"),
    ("search-unknown-dataset", ["search", "--space", "nb201", "--strategy", "random", "--evaluator", "local",
                                "--dataset", "nosuch", "--budget", "1"], "nosuch"),
    ("search-config-missing", [*_S, "--config", "nope.yaml"], "nope.yaml"),
    ("search-config-list", [*_S, "--config", "cfg_list.yaml"], "cfg_list.yaml"),
    ("search-config-unknown-field", [*_S, "--config", "cfg_unknown.yaml"], "spcae"),
    ("search-config-syntax", [*_S, "--config", "cfg_syntax.yaml"], "cfg_syntax.yaml"),
    ("search-config-type", [*_S, "--config", "cfg_type.yaml"], "budget"),
    ("search-config-folder", [*_S, "--config", "norun"], "norun"),
    ("search-space-file-50mb", ["search", "--space", "big.yaml", "--budget", "1"], "over the limit of 1 MiB"),
    ("search-space-file-deep", ["search", "--space", "deep.yaml", "--budget", "1"], "nested deeper than 64"),
    # search: output locations
    ("search-name-too-long", [*_S, "--name", LONG], "over the file system's limit"),
    ("search-runs-dir-too-long", [*_S, "--runs-dir", LONG + "/runs"], "over the file system's limit"),
    ("search-runs-dir-is-file", [*_S, "--runs-dir", "afile"], "not a folder"),
    ("search-runs-dir-under-file", [*_S, "--runs-dir", "afile/runs"], "not a folder"),
    ("search-runs-dir-proc-file", [*_S, "--runs-dir", "/proc/version/runs"], "not a folder"),
    ("search-runs-dir-sys", [*_S, "--runs-dir", "/sys/nas-runs"], "cannot create files in /sys"),
    ("search-name-exists", [*_S, "--runs-dir", "{run}/..", "--name", "r"], "already exists"),
    # search --resume
    ("resume-missing", ["search", "--resume", "nope"], "nope"),
    ("resume-file", ["search", "--resume", "afile"], "afile"),
    ("resume-not-a-run", ["search", "--resume", "norun"], "not a run directory"),
    ("resume-change-space", ["search", "--resume", "{run}", "--space", "darts"], "--force"),
    ("resume-change-seed", ["search", "--resume", "{run}", "--seed", "7"], "--force"),
    ("resume-unknown-strategy-option", ["search", "--resume", "{run}", "--strategy-option", "bogus=1"], "bogus"),
    ("resume-budget-zero", ["search", "--resume", "{run}", "--budget", "0"], "--budget must be >= 1"),
    # show: flags, sizes, outputs, bombs
    ("show-channels-huge", ["show", "darts-v2", "--channels", "1000000"], "--channels must be <= 65536"),
    ("show-channels-too-many-params", ["show", "darts-v2", "--channels", "4000"], "over the limit of"),
    ("show-layers-huge", ["show", "darts-v2", "--layers", "5000"], "--layers must be <= 1000"),
    ("show-channels-negative", ["show", "darts-v2", "--channels", "-4"], "--channels must be >= 1"),
    ("show-channels-huge-int", ["show", "darts-v2", "--channels", "9" * 5000], "--channels"),
    ("show-dataset-unknown", ["show", "darts-v2", "--dataset", "nosuch"], "nosuch"),
    ("show-png-sys", ["show", "darts-v2", "--png", "/sys/cell.png"], "cannot create files in /sys"),
    ("show-png-under-file", ["show", "darts-v2", "--png", "afile/cell.png"], "not a folder"),
    ("show-png-proc-file", ["show", "darts-v2", "--png", "/proc/version/cell.png"], "not a folder"),
    ("show-png-too-long", ["show", "darts-v2", "--png", LONG + ".png"], "over the file system's limit"),
    ("show-png-is-folder", ["show", "darts-v2", "--png", "norun"], "is a folder"),
    ("show-yaml-50mb", ["show", "big.yaml", "--json"], "over the limit of 1 MiB"),
    ("show-yaml-2mib", ["show", "long.yaml"], "over the limit of 1 MiB"),
    ("show-yaml-deep-50000", ["show", "deep.yaml", "--json"], "nested deeper than 64"),
    ("show-genotype-file-is-not-yaml", ["show", "geno.txt"], "expected a mapping"),
    ("show-genotype-deep-5000-text", ["show", "Genotype(normal=" + "(" * 5000 + ")" * 5000 + ")"], "nested deeper"),
    ("show-genotype-too-long", ["show", "Genotype(normal=[" + " " * 70_000 + "])"], "over the limit"),
    ("show-nb201-too-long", ["show", "|" + "none~0|" * 10_000], "over the limit"),
    ("show-yaml-folder", ["show", "norun/"], "norun"),
    ("show-binary-yaml", ["show", "cfg_binary.yaml"], "not UTF-8"),
    # export
    ("export-missing", ["export", "nope"], "nope"),
    ("export-not-a-run", ["export", "norun"], "not a run directory"),
    ("export-file", ["export", "afile"], "afile"),
    ("export-top-zero", ["export", "{run}", "--top", "0"], "--top must be >= 1"),
    ("export-top-text", ["export", "{run}", "--top", "all"], "--top"),
    ("export-bad-format", ["export", "{run}", "--format", "pickle"], "pickle"),
    ("export-empty-format", ["export", "{run}", "--format", ","], "format"),
    ("export-out-sys", ["export", "{run}", "--out", "/sys/export"], "cannot create files in /sys"),
    ("export-out-is-file", ["export", "{run}", "--out", "afile"], "not a folder"),
    ("export-out-under-file", ["export", "{run}", "--out", "afile/x"], "not a folder"),
    ("export-out-proc-file", ["export", "{run}", "--out", "/proc/version/x"], "not a folder"),
    ("export-out-too-long", ["export", "{run}", "--out", LONG], "over the file system's limit"),
    ("export-garbage-weights", ["export", "run2", "--out", "exp", "--format", "py"], "cannot read weights"),
    ("export-pickle-weights", ["export", "run2", "--out", "exp", "--format", "py"], "cannot read weights"),
    ("export-empty-weights", ["export", "run2", "--out", "exp", "--format", "py"], "cannot read weights"),
    ("export-text-weights", ["export", "run2", "--out", "exp", "--format", "py"], "cannot read weights"),
    # train
    ("train-cutout-negative", [*_T, "--cutout", "-3"], "--cutout must be >= 0"),
    ("train-epochs-zero", [*_T[:-1], "0"], "--epochs must be >= 1"),
    ("train-batch-size-zero", [*_T, "--batch-size", "0"], "--batch-size must be >= 1"),
    ("train-lr-negative", [*_T, "--lr", "-0.1"], "lr"),
    ("train-lr-inf", [*_T, "--lr", "inf"], "lr"),
    ("train-momentum-negative", [*_T, "--momentum", "-1"], "momentum"),
    ("train-drop-path-one", [*_T, "--drop-path", "1.5"], "drop_path"),
    ("train-label-smoothing", [*_T, "--label-smoothing", "2"], "label_smoothing"),
    ("train-lr-text", [*_T, "--lr", "fast"], "--lr"),
    ("train-channels-zero", [*_T, "--channels", "0"], "--channels must be >= 1"),
    ("train-channels-huge", ["train", "darts-v2", "--channels", "1000000"], "--channels must be <= 65536"),
    ("train-channels-too-many-params", ["train", "darts-v2", "--channels", "4000", "--epochs", "1"],
     "over the limit of"),
    ("train-layers-huge", ["train", "darts-v2", "--layers", "100000"], "--layers must be <= 1000"),
    ("train-unknown-recipe", [*_T, "--recipe", "long"], "invalid choice"),
    ("train-unknown-dataset", [*_T, "--dataset", "nosuch"], "nosuch"),
    ("train-unknown-arch", ["train", "resnet9000"], "cannot resolve architecture"),
    ("train-nothing", ["train"], "what to train is missing"),
    ("train-resume-no-out", ["train", "--resume"], "--resume needs --out"),
    ("train-resume-nothing", ["train", "--resume", "--out", "norun"], "nothing to resume"),
    ("train-out-sys", [*_T, "--out", "/sys/train"], "cannot create files in /sys"),
    ("train-out-is-file", [*_T, "--out", "afile"], "not a folder"),
    ("train-out-under-file", [*_T, "--out", "afile/t"], "not a folder"),
    ("train-out-proc-file", [*_T, "--out", "/proc/version/t"], "not a folder"),
    ("train-out-too-long", [*_T, "--out", LONG], "over the file system's limit"),
    ("train-out-exists", [*_T, "--out", "norun"], "already exists"),
    ("train-yaml-50mb", ["train", "big.yaml"], "over the limit of 1 MiB"),
    ("train-yaml-deep", ["train", "deep.yaml"], "nested deeper than 64"),
    # bench
    ("bench-out-sys", ["bench", "--strategy", "random", "--runs", "1", "--out", "/sys/bench"],
     "cannot create files in /sys"),
    ("bench-out-is-file", ["bench", "--strategy", "random", "--runs", "1", "--out", "afile"], "not a folder"),
    ("bench-out-under-file", ["bench", "--strategy", "random", "--runs", "1", "--out", "afile/b"], "not a folder"),
    ("bench-out-proc-file", ["bench", "--strategy", "random", "--runs", "1", "--out", "/proc/version/b"],
     "not a folder"),
    ("bench-out-too-long", ["bench", "--strategy", "random", "--runs", "1", "--out", LONG],
     "over the file system's limit"),
    ("bench-unknown-strategy", ["bench", "--strategy", "nosuch", "--runs", "1", "--out", "b"], "nosuch"),
    ("bench-unknown-space", ["bench", "--space", "nosuch", "--strategy", "random", "--runs", "1", "--out", "b"],
     "nosuch"),
    ("bench-option-not-run", ["bench", "--strategy", "random", "--runs", "1", "--option", "evolution.population=5",
                              "--out", "b"], "not being run"),
    ("bench-option-no-dot", ["bench", "--strategy", "random", "--option", "population=5"], "STRATEGY.KEY=VALUE"),
    ("bench-workers-zero", ["bench", "--strategy", "random", "--workers", "0"], "--workers must be >= 1"),
    ("bench-runs-text", ["bench", "--strategy", "random", "--runs", "many"], "--runs"),
    ("bench-table-missing", ["bench", "--strategy", "random", "--runs", "1", "--table", "nope.csv", "--out", "b"],
     "nope.csv"),
    ("bench-table-garbage", ["bench", "--strategy", "random", "--runs", "1", "--table", "table.csv", "--out", "b"],
     "table.csv"),
]

WEIGHTS = {"export-garbage-weights": "bad_weights_random", "export-pickle-weights": "bad_weights_pickle",
            "export-empty-weights": "bad_weights_empty", "export-text-weights": "bad_weights_text"}

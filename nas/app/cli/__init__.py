"""The ``nas`` command line.

Each subcommand lives in its own module under :mod:`nas.app.cli` and exposes
``add_parser(subparsers)`` (cheap: no torch import) and ``run(args) -> int``.
Errors a user can fix (:class:`~nas.errors.NasError`, bad flags) print exactly
one ``nas: error: ...`` line on stderr and exit with code 2; a machine fault
(:class:`~nas.errors.MachineFault`: a full disk, an I/O error) prints one such line and exits
with code 75 (``EX_TEMPFAIL``). A traceback is shown only with ``--debug``.
"""
from __future__ import annotations

import argparse
import importlib
import re
import sys
import warnings
from typing import Any, NoReturn, Sequence

from nas import __version__
from nas.errors import NasError

SUBCOMMANDS = ("spaces", "strategies", "show", "search", "status", "export", "train", "bench", "report", "baselines",
               "compare")


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports bad flags as a single ``nas: error:`` line (exit 2)."""

    def error(self, message: str) -> NoReturn:
        # a value check ("argument --top: must be >= 1, got 0") reads as "--top must be >= 1, got 0"
        message = re.sub(r"^argument (\S+): (must be )", r"\1 \2", message)
        sys.stderr.write(f"nas: error: {message}\n")
        raise SystemExit(2)


def count_arg(minimum: int = 1, unlimited: str | None = None, what: str = "an integer",
              maximum: int | None = None):
    """argparse ``type`` for an integer >= ``minimum`` (and <= ``maximum``, if given); the word
    ``unlimited`` (e.g. 'none') gives None.

    Errors read ``nas: error: --FLAG must be >= N, got V`` (see :meth:`ArgumentParser.error`).
    """

    def parse(text: str) -> int | None:
        if unlimited is not None and text.lower() == unlimited:
            return None
        alt = f" or '{unlimited}'" if unlimited else ""
        try:
            value = int(text)
        except ValueError:
            shown = text if len(text) <= 40 else text[:37] + "..."
            raise argparse.ArgumentTypeError(f"expected {what}{alt}, got {shown!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}{alt}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum}, got {value}")
        return value

    return parse


def _yaml_value(name: str, raw: str) -> Any:
    from nas.errors import ConfigError
    from nas.limits import load_yaml  # nesting, alias and integer limits

    try:
        return load_yaml(raw, f"value of {name!r}") if raw.strip() else None
    except ConfigError as e:
        shown = raw if len(raw) <= 60 else raw[:57] + "..."
        raise argparse.ArgumentTypeError(f"value of {name!r} is not valid YAML: {shown!r} "
                                         f"({str(e).split(': ', 1)[-1]})") from None


def _option_key(text: str) -> str:
    return text.strip().replace("-", "_")


def key_value(text: str) -> tuple[str, Any]:
    """argparse ``type`` for ``KEY=VALUE``: ``(key, value)``, the value parsed as YAML (empty: None),
    dashes in the key read as underscores."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return _option_key(key), _yaml_value(key.strip(), raw)


def strategy_key_value(text: str) -> tuple[str, str, Any]:
    """argparse ``type`` for ``STRATEGY.KEY=VALUE``: ``(strategy, key, value)``, as :func:`key_value`."""
    lhs, sep, raw = text.partition("=")
    strategy, dot, key = lhs.partition(".")
    if not sep or not dot or not strategy.strip() or not key.strip():
        raise argparse.ArgumentTypeError(f"expected STRATEGY.KEY=VALUE, got {text!r}")
    return strategy.strip(), _option_key(key), _yaml_value(lhs.strip(), raw)


def use_space(name: str) -> str:
    """Make space ``name`` known in this process (a space file registers itself); its registered name."""
    from nas.registry import SPACES, load_plugins

    load_plugins()
    return SPACES.resolve(name)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="nas", description="Neural architecture search for PyTorch.")
    parser.add_argument("--version", action="version", version=f"nas {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"nas.app.cli.{name}")
        except ModuleNotFoundError as e:  # a subcommand not installed in this build
            if e.name != f"nas.app.cli.{name}":
                raise
            continue
        p = module.add_parser(sub)
        p.set_defaults(_module=module)
    return parser


def fail(message: str, code: int = 2) -> int:
    """Print the one ``nas: error:`` line and return the exit code ``code``."""
    sys.stderr.write(f"nas: error: {message}\n")
    return code


def main(argv: Sequence[str] | None = None) -> int:
    # networkx >= 3.5 warns on every directed WL hash that hashes changed since 3.4; our keys
    # are computed with one networkx version per run, so the warning is noise on stderr.
    warnings.filterwarnings("ignore", message="The hashes produced for directed graphs changed")
    # torch.load(weights_only=True) of a garbage file warns before it fails; the failure is our one line
    warnings.filterwarnings("ignore", message="Detected pickle protocol")
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    debug = bool(getattr(args, "debug", False))
    try:
        return int(args._module.run(args) or 0)
    except NasError as e:  # exit 2; a MachineFault: EXIT_MACHINE_FAULT (75), see nas.errors
        if debug:
            raise
        return fail(" ".join(str(e).split()) or type(e).__name__, e.exit_code)
    except KeyboardInterrupt:
        sys.stderr.write("nas: interrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

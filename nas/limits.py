"""Limits on what the toolkit reads, and checks of where it writes, before any work is done.

Every limit is checked *before* the expensive step it protects (reading, parsing,
allocating), so hostile input fails at once with one :class:`~nas.errors.NasError`
line instead of hanging, exhausting memory or overflowing the stack.

Input limits
------------
``MAX_TEXT_BYTES`` (1 MiB)
    Size of any YAML or text file the toolkit parses: architecture, space and config
    YAML, ``run.yaml``, ``train.yaml``. Checked with ``fstat`` before reading, and the
    read itself stops one byte past the limit (pipes and devices report no size).
``MAX_YAML_DEPTH`` (64)
    Nesting of mappings and sequences in a YAML document (PyYAML composes recursively).
``MAX_YAML_ALIASES`` (1,000) and ``MAX_YAML_NODES`` (100,000)
    Alias events in a document, and nodes of the document *with every alias expanded*
    (what ``json.dumps`` or a walk over the data would visit). A "billion laughs" document
    is a few hundred bytes with ~10^9 expanded nodes; it is refused while being composed.
    A recursive alias (a node that contains an alias to itself) is refused too.
``MAX_INT_DIGITS`` (100)
    Characters of one integer scalar in YAML (Python refuses > 4,300 digits itself, with a
    ValueError that is not a YAML error) and digits of one integer in a ``Genotype(...)``
    string.
``MAX_STRING_CHARS`` (65,536), ``MAX_LIST_ITEMS`` (1,000), ``MAX_NESTING`` (16)
    Length of a ``Genotype(...)`` or NAS-Bench-201 string, items in one of its lists or
    ``range(...)`` (checked before the range is expanded) and its bracket nesting.
``MAX_CHANNELS`` (65,536), ``MAX_LAYERS`` (1,000), ``MAX_PARAMS`` (10^9)
    ``--channels`` / ``--layers`` of ``nas show`` and ``nas train``, and the parameter count
    of a model they build: the model is first built on PyTorch's ``meta`` device (shapes
    only, no memory), counted, and only then allocated (:func:`build_model_checked`). An
    allocation that still fails becomes a one-line error.

Output locations
----------------
:func:`check_writable_dir` (and :func:`check_writable_file` for single files) runs before a
command does any work: the nearest existing ancestor of the destination must be a folder
in which a file can be created (probed with a temporary file that is removed at once), no
path component may be longer than the file system allows (``NAME_MAX``), and the
destination, if it exists, must be a folder. Nothing is created by the check.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import yaml

from nas.errors import ConfigError, NasError

MAX_TEXT_BYTES = 1 << 20
MAX_YAML_DEPTH = 64
MAX_YAML_ALIASES = 1_000
MAX_YAML_NODES = 100_000
MAX_INT_DIGITS = 100
MAX_STRING_CHARS = 65_536
MAX_LIST_ITEMS = 1_000
MAX_NESTING = 16
MAX_CHANNELS = 65_536
MAX_LAYERS = 1_000
MAX_PARAMS = 1_000_000_000

ErrorType = type[NasError]


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.3g} MiB" if n >= 1 << 20 else f"{n:,} bytes"


# -- reading ------------------------------------------------------------------------------------
def read_text(path: str | Path, *, limit: int = MAX_TEXT_BYTES, error: ErrorType = ConfigError) -> str:
    """The UTF-8 text of ``path``, refused with ``error`` if it is larger than ``limit`` bytes.

    ``FileNotFoundError`` propagates (callers word "no such file" themselves); any other
    read problem, a folder, or bytes that are not UTF-8 raise ``error`` naming the file.
    """
    p = Path(path)
    try:
        with open(p, "rb") as f:
            st = os.fstat(f.fileno())
            if st.st_size > limit:
                raise error(f"{p}: file is {_mib(st.st_size)}, over the limit of {_mib(limit)}")
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise
    except IsADirectoryError:
        raise error(f"{p}: is a folder, not a file") from None
    except OSError as e:
        raise error(f"{p}: cannot read: {e.strerror or e}") from None
    if len(data) > limit:
        raise error(f"{p}: file is over the limit of {_mib(limit)}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error(f"{p}: not UTF-8 text (byte {e.start})") from None


def yaml_problem(e: BaseException) -> str:
    """One line describing a YAML parse error: ``line N malformed YAML: <problem>``.

    Callers prefix the file name (``f"{path}: {yaml_problem(e)}"``). The line is omitted
    when PyYAML gives no position.
    """
    mark = getattr(e, "problem_mark", None)
    loc = f"line {mark.line + 1} " if mark is not None else ""
    lines = str(e).splitlines()
    problem = getattr(e, "problem", None) or (lines[0] if lines else type(e).__name__)
    return f"{loc}malformed YAML: {problem}"


class _YamlLimit(yaml.YAMLError):
    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.problem_mark = mark


class LimitedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that enforces the depth, alias, expanded-node and integer limits."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._sizes: dict[int, int] = {}  # id(node) -> nodes with aliases expanded

    def compose_node(self, parent: Any, index: Any) -> Any:
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise _YamlLimit(f"more than {MAX_YAML_ALIASES:,} aliases", mark)
            node = super().compose_node(parent, index)
            if id(node) not in self._sizes:
                raise _YamlLimit("recursive alias (a node contains an alias to itself)", mark)
            return node
        self._depth += 1
        if self._depth > MAX_YAML_DEPTH:
            raise _YamlLimit(f"nested deeper than {MAX_YAML_DEPTH} levels", mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(c)] for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        if size > MAX_YAML_NODES:
            raise _YamlLimit(f"more than {MAX_YAML_NODES:,} nodes with aliases expanded", mark)
        self._sizes[id(node)] = size
        return node

    def construct_yaml_int(self, node: Any) -> int:
        if len(str(node.value)) > MAX_INT_DIGITS:
            raise _YamlLimit(f"integer longer than {MAX_INT_DIGITS} characters", node.start_mark)
        return super().construct_yaml_int(node)


LimitedSafeLoader.add_constructor("tag:yaml.org,2002:int", LimitedSafeLoader.construct_yaml_int)


def load_yaml(text: str, where: str, *, error: ErrorType = ConfigError) -> Any:
    """``yaml.safe_load(text)`` within the limits above; any problem raises ``error``
    as one line ``{where}: line N malformed YAML: <problem>``."""
    if len(text) > MAX_TEXT_BYTES:
        raise error(f"{where}: text is over the limit of {_mib(MAX_TEXT_BYTES)}")
    try:
        return yaml.load(text, Loader=LimitedSafeLoader)  # noqa: S506 - a SafeLoader subclass
    except _YamlLimit as e:
        line = f"line {e.problem_mark.line + 1}: " if e.problem_mark is not None else ""
        raise error(f"{where}: {line}YAML input limit: {e.problem}") from None
    except yaml.YAMLError as e:
        raise error(f"{where}: {yaml_problem(e)}") from None
    except RecursionError:  # cannot happen within MAX_YAML_DEPTH; kept as a last line of defence
        raise error(f"{where}: malformed YAML: nested too deeply") from None


def load_yaml_file(path: str | Path, *, error: ErrorType = ConfigError) -> Any:
    """:func:`read_text` then :func:`load_yaml` (``FileNotFoundError`` propagates)."""
    return load_yaml(read_text(path, error=error), str(path), error=error)


# -- writing ------------------------------------------------------------------------------------
def _name_max(folder: Path) -> int:
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def _check_names(p: Path, what: str) -> None:
    """Path and component lengths, before anything calls ``stat`` (ENAMETOOLONG is no 'missing')."""
    text = str(p)
    if "\0" in text:
        raise ConfigError(f"{what} {text!r}: contains a NUL byte")
    limit = _name_max(Path("."))
    for part in p.parts:
        if len(os.fsencode(part)) > limit:
            raise ConfigError(f"{what} {text[:40]}...: name {part[:20] + '...'!r} is {len(part)} characters, "
                              f"over the file system's limit of {limit}")
    if len(os.fsencode(os.path.abspath(text))) >= 4096:
        raise ConfigError(f"{what} {text[:40]}...: path is over the limit of 4,095 bytes")


def check_writable_dir(path: str | Path, what: str = "output folder") -> Path:
    """Raise :class:`ConfigError` unless files can be created at ``path`` (a folder, existing or not).

    Creates nothing that outlives the call: the nearest existing ancestor is probed with a
    temporary file, which is removed at once. Returns ``path`` as a :class:`Path`.
    """
    p = Path(path).expanduser()
    _check_names(p, what)
    try:
        if p.exists() and not p.is_dir():
            raise ConfigError(f"{what} {p}: exists and is not a folder")
        base = p.absolute()
        while not base.exists() and base.parent != base:
            base = base.parent
        if not base.is_dir():
            raise ConfigError(f"{what} {p}: {base} is not a folder")
    except OSError as e:  # e.g. EACCES on a folder that may not be searched
        raise ConfigError(f"{what} {p}: cannot access: {e.strerror or e}") from None
    try:
        fd, probe = tempfile.mkstemp(prefix=".nas-probe-", dir=base)
    except OSError as e:
        reason = "read-only file system" if e.errno == errno.EROFS else (e.strerror or str(e))
        raise ConfigError(f"{what} {p}: cannot create files in {base}: {reason}") from None
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return p


def check_writable_file(path: str | Path, what: str = "output file") -> Path:
    """Raise :class:`ConfigError` unless the file ``path`` can be created or replaced."""
    p = Path(path).expanduser()
    _check_names(p, what)
    try:
        is_dir = p.is_dir()
    except OSError as e:
        raise ConfigError(f"{what} {p}: cannot access: {e.strerror or e}") from None
    if not p.name or is_dir:
        raise ConfigError(f"{what} {p}: is a folder, not a file name")
    check_writable_dir(p.parent, what=f"{what} {p}: folder")
    return p


# -- model size ---------------------------------------------------------------------------------
def build_model_checked(make: Callable[[], Any], what: str = "model") -> Any:
    """``make()`` once its parameter count is known to be within :data:`MAX_PARAMS`.

    ``make`` is first called under ``torch.device("meta")`` (no memory is allocated) to
    count parameters; if that build fails for a reason of its own (not a NasError), the
    count is skipped. The real build's ``MemoryError`` or allocator ``RuntimeError``
    becomes a :class:`ConfigError`. ``make`` must be repeatable (seed inside it).
    """
    import torch

    try:
        with torch.device("meta"):
            probe = make()
        n = sum(t.numel() for t in probe.parameters()) if hasattr(probe, "parameters") else 0
    except NasError:
        raise
    except Exception:  # noqa: BLE001 - the estimate is best effort; the real build decides
        n = 0
    else:
        del probe
    if n > MAX_PARAMS:
        raise ConfigError(f"{what} would have {n:,} parameters, over the limit of {MAX_PARAMS:,}; "
                          "use smaller --channels/--layers")
    try:
        return make()
    except MemoryError:
        raise ConfigError(f"{what}: out of memory while allocating the model") from None
    except RuntimeError as e:
        text = str(e)
        if "alloc" in text.lower() or "out of memory" in text.lower():
            first = text.strip().splitlines()[0][:200]
            raise ConfigError(f"{what}: cannot allocate the model: {first}") from None
        raise


__all__ = [
    "MAX_CHANNELS", "MAX_INT_DIGITS", "MAX_LAYERS", "MAX_LIST_ITEMS", "MAX_NESTING", "MAX_PARAMS",
    "MAX_STRING_CHARS", "MAX_TEXT_BYTES", "MAX_YAML_ALIASES", "MAX_YAML_DEPTH", "MAX_YAML_NODES",
    "LimitedSafeLoader", "build_model_checked", "check_writable_dir", "check_writable_file", "load_yaml",
    "load_yaml_file", "read_text", "yaml_problem",
]

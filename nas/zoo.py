"""Literature architectures by name, and one resolver for every way to name an architecture.

The genotypes are YAML files (``format: nas/arch@1``) shipped as package data
in ``nas/genotypes/``; each carries ``meta: {name, source, notes}`` that cites
where it was transcribed from (the papers and their released code).

:func:`resolve_arch` accepts an architecture string of any registered space (a
DARTS ``Genotype(...)`` string, a NAS-Bench-201 string ``|op~0|+...``: whatever
the spaces declare in their ``text_formats``; parsed, never ``eval``-ed), a path
to an architecture YAML file (an existing file wins over a zoo name spelled the
same) or a zoo name such as ``darts-v2``. A string is offered to every space whose
``accepts_text`` recognises it, in registration order; the first that parses and
validates it wins.

Spaces are looked up through :data:`nas.registry.SPACES` (imported on demand
via :func:`nas.registry.load_plugins`), so the core never imports
``search_spaces`` by name.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from nas.arch import Architecture
from nas.errors import InvalidArchitecture, NasError, UnknownName
from nas.registry import SPACES, load_plugins

#: Extra spellings for zoo names (after lower-casing and ``_`` → ``-``).
ALIASES = {
    "darts": "darts-v2",  # quark0/darts: DARTS = DARTS_V2
    "nasnet": "nasnet-a",
    "amoebanet": "amoebanet-a",
    "efficientnet": "efficientnet-b0",
    "nb201-optimal": "nb201-best",
}


def _genotype_dir() -> Any:
    return resources.files("nas") / "genotypes"


def _normalize(name: str) -> str:
    n = name.strip().lower().replace("_", "-")
    return ALIASES.get(n, n)


def list_genotypes() -> list[str]:
    """Names of the shipped literature architectures, sorted."""
    return sorted(p.name[: -len(".yaml")] for p in _genotype_dir().iterdir() if p.name.endswith(".yaml"))


def get_space(name: str) -> Any:
    """A space instance by name; an unknown name is an :class:`InvalidArchitecture`."""
    if name not in SPACES:
        load_plugins()
    try:
        return SPACES.create(name)
    except UnknownName as e:
        raise InvalidArchitecture(str(e)) from None


def registered_spaces() -> list[Any]:
    """An instance of every registered space, in registration order (plugins loaded first).

    Spaces that cannot be created without arguments are skipped.
    """
    load_plugins()
    out = []
    for name in SPACES:
        try:
            out.append(SPACES.create(name))
        except (NasError, TypeError):
            continue
    return out


def text_formats() -> list[str]:
    """The architecture string formats of all registered spaces (``genotype``, ``nb201``, ...), in order."""
    out: list[str] = []
    for space in registered_spaces():
        out += [f for f in getattr(space, "text_formats", ()) if f not in out]
    return out


def validate(arch: Architecture) -> Architecture:
    """Validate ``arch`` in its own space and return it."""
    get_space(arch.space).validate(arch)
    return arch


def load_genotype(name: str) -> Architecture:
    """Load a literature architecture by (case-insensitive) name, e.g. ``darts-v2``, ``NASNet-A``."""
    key = _normalize(name)
    f = _genotype_dir() / f"{key}.yaml"
    if not _is_zoo_name(key):
        raise InvalidArchitecture(f"unknown genotype {name!r}; known: {', '.join(list_genotypes())}")
    arch = Architecture.from_yaml(f.read_text(encoding="utf-8"), where=f"genotype {key}")
    return validate(arch)


def _is_file(p: Any) -> bool:
    try:
        return bool(p.is_file())
    except (OSError, ValueError):  # name too long, NUL byte, ...
        return False


def _is_zoo_name(text: str) -> bool:
    key = _normalize(text)
    return bool(key) and "/" not in key and "\\" not in key and _is_file(_genotype_dir() / f"{key}.yaml")


def resolve_arch(text: str | Path, *, check: bool = True) -> Architecture:
    """Turn a YAML path, zoo name, ``Genotype(...)`` string or NB201 string into an Architecture.

    An existing file wins over a zoo name of the same spelling. With ``check``
    (default) a YAML file's architecture is validated in its space; zoo entries,
    Genotype and NB201 strings are always validated (that is how the space of a
    Genotype string is chosen). Anything unrecognised raises
    :class:`InvalidArchitecture` saying what was tried.
    """
    if isinstance(text, Path):
        text = str(text)
    if not isinstance(text, str) or not text.strip():
        raise InvalidArchitecture("architecture: expected a YAML path, zoo name, Genotype(...) or NB201 string")
    s = text.strip()
    readers = [sp for sp in registered_spaces() if sp.accepts_text(s)]
    if readers:
        return _from_text(s, readers)
    p = Path(s).expanduser()
    if _is_file(p) or (p.suffix.lower() in (".yaml", ".yml") and not _is_zoo_name(s)):
        arch = Architecture.load(p)
        if check:
            try:
                validate(arch)
            except InvalidArchitecture as e:
                raise InvalidArchitecture(f"{p}: {e}") from None
        return arch
    if _is_zoo_name(s):
        return load_genotype(s)
    short = s if len(s) <= 60 else s[:57] + "..."
    raise InvalidArchitecture(
        f"cannot resolve architecture {short!r}: not a YAML file, a zoo name "
        f"({', '.join(list_genotypes())}) or an architecture string ({', '.join(text_formats()) or 'none known'})"
    )


def _from_text(text: str, readers: list[Any]) -> Architecture:
    """The architecture of ``text`` in the first of ``readers`` (spaces) that parses and validates it.

    When every space fails with the same message (a syntax error of the format) that is
    the error; otherwise it lists each space's reason.
    """
    errors: list[tuple[str, str]] = []
    for space in readers:
        try:
            return space.from_text(text)
        except InvalidArchitecture as e:
            errors.append((space.name, str(e)))
    if len({msg for _, msg in errors}) == 1:
        raise InvalidArchitecture(errors[0][1])
    fmt = (getattr(readers[0], "text_formats", ()) or ("architecture",))[0]
    by_reason: dict[str, list[str]] = {}  # spaces that fail for the same reason share one entry
    for name, msg in errors:
        by_reason.setdefault(msg, []).append(name)
    shown = [f"{_names(names)}: {msg}" for msg, names in list(by_reason.items())[:MAX_REASONS]]
    if len(by_reason) > MAX_REASONS:
        shown.append(f"and {len(by_reason) - MAX_REASONS} other reason(s)")
    raise InvalidArchitecture(f"{fmt} string is valid in no space: " + "; ".join(shown))


#: how many distinct reasons a "valid in no space" error lists (one line, however many spaces)
MAX_REASONS = 3


def _names(names: list[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:2])} and {len(names) - 2} more"


__all__ = ["ALIASES", "get_space", "list_genotypes", "load_genotype", "registered_spaces", "resolve_arch",
           "text_formats", "validate"]

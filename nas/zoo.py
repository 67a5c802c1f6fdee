"""Literature architectures by name, and one resolver for every way to name an architecture.

The genotypes are YAML files (``format: nas/arch@1``) shipped as package data
in ``nas/genotypes/``; each carries ``meta: {name, source, notes}`` that cites
where it was transcribed from (REFERENCE §2, §7, §8).

:func:`resolve_arch` accepts a DARTS ``Genotype(...)`` string (parsed, never
``eval``-ed; tried in space ``darts`` first, then ``nasnet``), a NAS-Bench-201
string ``|op~0|+...``, a path to an architecture YAML file (an existing file
wins over a zoo name spelled the same) or a zoo name such as ``darts-v2``.

Spaces are looked up through :data:`nas.registry.SPACES` (imported on demand
via :func:`nas.registry.load_plugins`), so the core never imports
``search_spaces`` by name (DESIGN §1).
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from nas.arch import Architecture
from nas.errors import InvalidArchitecture, UnknownName
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
    if s.startswith("Genotype"):
        return _from_genotype(s)
    if s.startswith("|"):
        return get_space("nb201").from_string(s)
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
        f"({', '.join(list_genotypes())}), a Genotype(...) string or an NB201 |op~0|+... string"
    )


def _from_genotype(text: str) -> Architecture:
    """A Genotype string is tried in ``darts`` (its home), then ``nasnet``."""
    errors = []
    for space in ("darts", "nasnet"):
        try:
            return get_space(space).from_genotype(text)
        except InvalidArchitecture as e:
            msg = str(e)
            if msg.startswith("genotype string:"):  # a parse error: the same in every space
                raise
            errors.append(f"{space}: {msg}")
    raise InvalidArchitecture("Genotype string is valid in no space: " + "; ".join(errors))


__all__ = ["ALIASES", "get_space", "list_genotypes", "load_genotype", "resolve_arch", "validate"]

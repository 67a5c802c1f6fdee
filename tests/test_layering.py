"""The import layering of the toolkit, checked on the source (``ast``), function-local imports included.

Floors, lowest first: the core (``nas/*.py`` and ``nas/nn/``), ``search_spaces``, ``evaluators``,
``strategies``, and the application floor (``nas/app/``, ``nas/testing/``, ``nas/__main__``). A module
may import its own floor and the floors below it; dispatch upwards goes through the registries'
lazy ``"module:attr"`` strings (:mod:`nas.registry`), never through an import. There are no import
cycles between modules and no forwarding shims (modules or functions that only re-export or call
through to another module). Importing the packages loads neither torch, Ray nor Optuna.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("nas", "search_spaces", "evaluators", "strategies")
FLOORS = ("core", "search_spaces", "evaluators", "strategies", "application")
APPLICATION = ("nas.app", "nas.testing", "nas.__main__")
#: The package facade: ``nas/__init__.py`` offers the Python API (``nas.search``, ...) as a lazy
#: module ``__getattr__`` (PEP 562) that imports :mod:`nas.app.api` on first use. That one import
#: is upward (core -> application) but never runs at ``import nas`` time, so it creates no import-time
#: dependency or cycle; it is allowed for this module and target only, and only inside a function.
FACADE = ("nas", "nas.app.api")


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (internal only)
    where: str  # file:line


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            out[module_name(path)] = path
    return out


def floor(module: str) -> int:
    if any(module == a or module.startswith(a + ".") for a in APPLICATION):
        return FLOORS.index("application")
    top = module.split(".")[0]
    return 0 if top == "nas" else FLOORS.index(top)


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The internal module ``name`` refers to (the longest known prefix), or None if external."""
    if name.split(".")[0] not in PACKAGES:
        return None
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _is_package(module: str, modules: dict[str, Path]) -> bool:
    return modules[module].name == "__init__.py"


def imports_of(module: str, modules: dict[str, Path]) -> list[Import]:
    """Every internal import of ``module``: ``import``, ``from ... import`` (relative ones resolved,
    ``from pkg import submodule`` counted as the submodule) and ``importlib.import_module("literal")``,
    at any depth (function bodies, ``if TYPE_CHECKING`` blocks, ``try`` blocks)."""
    path = modules[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(REPO)
    package = module if _is_package(module, modules) else module.rpartition(".")[0]
    out: list[Import] = []

    def add(name: str, node: ast.AST) -> None:
        target = _resolve(name, modules)
        if target is not None and target != module:
            out.append(Import(module, target, f"{rel}:{node.lineno}"))

    lazy = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
            for n in ast.walk(f)}
    for node in ast.walk(tree):
        if (module, _resolve(getattr(node, "module", None) or "", modules)) == FACADE or (
                isinstance(node, ast.Import) and any(_resolve(a.name, modules) == FACADE[1] for a in node.names)
                and module == FACADE[0]):
            if id(node) in lazy:
                continue  # the facade's lazy API import (see FACADE)
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            for alias in node.names:
                sub = f"{name}.{alias.name}"
                add(sub if sub in modules else name, node)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if fname == "import_module":
                add(node.args[0].value, node)
    return out


def import_graph() -> tuple[dict[str, Path], list[Import]]:
    modules = all_modules()
    return modules, [imp for m in modules for imp in imports_of(m, modules)]


def strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative); components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_tarjan_finds_cycles_and_only_cycles():
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": set(), "f": {"f"}}
    assert strongly_connected(list(edges), edges) == [["a", "b", "c"]]


def test_the_import_parser_sees_function_local_and_importlib_imports():
    modules, imports = import_graph()
    assert len(modules) > 50
    seen = {(i.source, i.target) for i in imports}
    assert ("nas.registry", "nas.errors") in seen  # module level
    local = {(i.source, i.target) for i in imports if i.source == "nas.app.launch"}
    assert ("nas.app.launch", "nas.app.driver") in local


def test_the_facade_import_is_lazy_and_the_only_exception():
    modules, imports = import_graph()
    facade = [i for i in imports if i.source == FACADE[0] and floor(i.target) > 0]
    assert not facade, facade  # the lazy one is skipped by imports_of; nothing else may go up
    tree = ast.parse((REPO / "nas" / "__init__.py").read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert all("app" not in ((getattr(n, "module", None) or "") + str([a.name for a in n.names])) for n in top)
    code = "import sys, nas\nassert 'nas.app.api' not in sys.modules\nnas.search\nassert 'nas.app.api' in sys.modules\n"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_no_module_imports_a_higher_floor():
    _, imports = import_graph()
    bad = [f"{i.where}: {i.source} ({FLOORS[floor(i.source)]}) imports {i.target} ({FLOORS[floor(i.target)]})"
           for i in imports if floor(i.target) > floor(i.source)]
    assert not bad, "imports against the layering:\n" + "\n".join(bad)


def test_no_import_cycles():
    modules, imports = import_graph()
    edges: dict[str, set[str]] = {}
    where: dict[tuple[str, str], str] = {}
    for i in imports:
        edges.setdefault(i.source, set()).add(i.target)
        where.setdefault((i.source, i.target), i.where)
    cycles = strongly_connected(sorted(modules), edges)
    lines = []
    for comp in cycles:
        members = set(comp)
        arrows = sorted(f"{where[(a, b)]}: {a} -> {b}" for a in comp for b in edges.get(a, ()) if b in members)
        lines.append(" <-> ".join(comp) + "\n    " + "\n    ".join(arrows))
    assert not cycles, "import cycles:\n" + "\n".join(lines)


def _forwarding_function(node: ast.stmt) -> bool:
    """``def f(a, b=1): [docstring] from x import g; return g(a, b=b)``: a function that only passes its
    own parameters through to an imported one (adding or computing arguments is not forwarding)."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    body = node.body[1:] if node.body and isinstance(node.body[0], ast.Expr) \
        and isinstance(node.body[0].value, ast.Constant) else node.body
    if len(body) < 2 or not all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in body[:-1]):
        return False
    last = body[-1]
    if not (isinstance(last, ast.Return) and isinstance(last.value, ast.Call)):
        return False
    imported = {a.asname or a.name.split(".")[0] for s in body[:-1] for a in s.names}
    call = last.value
    func = call.func
    while isinstance(func, ast.Attribute):
        func = func.value
    if not (isinstance(func, ast.Name) and func.id in imported):
        return False
    a = node.args
    params = {p.arg for p in a.posonlyargs + a.args + a.kwonlyargs + [x for x in (a.vararg, a.kwarg) if x]}
    values = [x.value if isinstance(x, ast.Starred) else x for x in call.args] + [k.value for k in call.keywords]
    passed = all(isinstance(v, ast.Name) and v.id in params for v in values)
    same_names = all(k.arg is None or (isinstance(k.value, ast.Name) and k.value.id == k.arg) for k in call.keywords)
    return passed and same_names


def _reexport_only(tree: ast.Module) -> bool:
    """A module body of imports (and ``__all__`` / aliases of imported names) and nothing of its own."""
    has_import = False
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # docstring
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            has_import = True
            continue
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets) and (
                any(t.id == "__all__" for t in node.targets) or isinstance(node.value, (ast.Name, ast.Attribute))):
            continue
        return False
    return has_import


def test_no_forwarding_shims():
    modules, imports = import_graph()
    by_source: dict[str, list[Import]] = {}
    for i in imports:
        by_source.setdefault(i.source, []).append(i)
    bad = []
    for module, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rel = path.relative_to(REPO)
        own = module if _is_package(module, modules) else None  # a package may present its submodules
        foreign = [i for i in by_source.get(module, []) if own is None or not i.target.startswith(own + ".")]
        if _reexport_only(tree) and foreign:
            bad.append(f"{rel}: only re-exports names from {', '.join(sorted({i.target for i in foreign}))}")
        for node in tree.body:
            if _forwarding_function(node):
                bad.append(f"{rel}:{node.lineno}: function {node.name} only calls through to another module")
    assert not bad, "forwarding shims:\n" + "\n".join(bad)


def test_the_shim_detectors_work():
    assert _reexport_only(ast.parse('"""doc"""\nfrom __future__ import annotations\nfrom a import b\n__all__ = ["b"]\n'))
    assert not _reexport_only(ast.parse("from a import b\nX = 1\n"))
    assert not _reexport_only(ast.parse('"""only a docstring"""\n'))
    fwd = ast.parse('def f(x, *, y=1):\n    """doc"""\n    from m import g as _g\n\n    return _g(x, y=y)\n').body[0]
    assert _forwarding_function(fwd)
    for body in ("from m import g\n    y = g(x)\n    return g(y)", "from m import g\n    return g(x, y=2)",
                 "from m import g\n    return g(x, z=y)"):
        assert not _forwarding_function(ast.parse(f"def f(x, y=1):\n    {body}\n").body[0]), body


def test_importing_the_packages_loads_neither_torch_ray_nor_optuna():
    code = ("import sys\nimport nas, search_spaces, strategies, evaluators\nfrom nas.registry import load_plugins, "
            "SPACES, STRATEGIES, EVALUATORS\nload_plugins()\nSPACES.names(); STRATEGIES.names(); EVALUATORS.names()\n"
            "print(sorted(m for m in ('torch', 'ray', 'optuna') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

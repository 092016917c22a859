"""The library's layers only point down, as the README's "Layout" section says:

    cli → commands → reports | training | radiogenomics | synthetic → case | model → core

Read from the source with ``ast`` (every import, including those inside functions): no package imports one above it
or beside it, ``model`` stays NumPy-only (no pickle-based or learning libraries, so a model folder is read the same
way in any Python the Slicer module runs in), ``reports`` computes no science, and no module imports itself round a
cycle. Also the size rules: no function over 60 lines, no module over 600.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "CCRCCStagingLib"
PACKAGE = LIBRARY.name

#: Which of the library's packages each package may import (besides itself).
ALLOWED = {
    "core": set(),
    "case": {"core"},
    "model": {"core"},
    "training": {"case", "model", "core"},
    "reports": {"case", "model", "core"},
    "radiogenomics": {"core"},
    "synthetic": {"case", "core"},
    "commands": {"reports", "training", "radiogenomics", "synthetic", "case", "model", "core"},
    "cli": {"commands", "core"},
}
#: Third-party packages a package must not import.
FORBIDDEN = {
    "model": {"joblib", "sklearn", "lightgbm", "pickle", "radiomics"},
    "reports": {"sklearn", "radiomics", "lightgbm"},
    "core": {"sklearn", "radiomics", "lightgbm", "matplotlib"},
}
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 600


def _modules() -> dict[str, Path]:
    """``CCRCCStagingLib.case.features.extraction`` → its file, for every module of the library."""
    modules = {}
    for path in sorted(LIBRARY.rglob("*.py")):
        parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imports(name: str, path: Path) -> set[str]:
    """Every module name an ``import`` in the file refers to, relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 else None


MODULES = _modules()
IMPORTS = {name: _imports(name, path) for name, path in MODULES.items()}


def test_every_module_lives_in_a_known_package() -> None:
    loose = sorted(name for name in MODULES if name != PACKAGE and _package_of(name) not in ALLOWED)
    assert not loose, f"modules outside the layered packages: {loose}"


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_package_imports_only_packages_below_it(package: str) -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in IMPORTS.items()
        if _package_of(name) == package
        for target in targets
        if target in MODULES and _package_of(target) not in (None, package, *ALLOWED[package])
    )
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_keeps_out_of_forbidden_libraries(package: str) -> None:
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in IMPORTS.items()
        if _package_of(name) == package
        for target in targets
        if target.split(".")[0] in FORBIDDEN[package]
    )
    assert not wrong, "\n".join(wrong)


def test_no_import_cycle_between_modules() -> None:
    graph = {
        name: {target for target in targets if target in MODULES and target != name and target != PACKAGE}
        for name, targets in IMPORTS.items()
    }
    # A package's __init__ importing its own modules is not a cycle of the code; only module → module edges count.
    graph = {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target]
                pytest.fail("import cycle: " + " → ".join(cycle))
            if target not in state:
                visit(target)
        path.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_no_function_over_60_lines_and_no_module_over_600() -> None:
    long_functions = []
    long_modules = []
    for name, path in MODULES.items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            long_modules.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{name}.{node.name}: {length} lines")
    assert not long_modules and not long_functions, "\n".join(long_modules + long_functions)

"""Shared fixtures: where ``../shared/data`` is, and skipping with a reason when it is absent."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_data_path(*parts: str) -> Path:
    """A path under ``../shared/data``; skips the calling test with a clear reason when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data not available: {path} (the ../shared folder beside the repository is absent)")
    return path


def packages_distributions() -> dict[str, list[str]]:
    """``importlib.metadata.packages_distributions()`` (Python >= 3.10); on Slicer 5.6/5.8's Python 3.9 the same
    mapping by hand, as 3.10 computes it: top_level.txt, else the top folders (or modules) of the files listed."""
    from importlib import metadata

    if hasattr(metadata, "packages_distributions"):
        return metadata.packages_distributions()
    found: dict[str, list[str]] = {}
    for distribution in metadata.distributions():
        declared = (distribution.read_text("top_level.txt") or "").split()
        inferred = {file.parts[0] if len(file.parts) > 1 else file.with_suffix("").name
                    for file in distribution.files or [] if file.suffix == ".py"}
        for module in declared or inferred:
            found.setdefault(module, []).append(distribution.metadata["Name"])
    return found


def stdlib_module_names() -> frozenset[str]:
    """``sys.stdlib_module_names`` (Python >= 3.10); on Python 3.9 the modules of the standard library's folders
    and the built-in ones."""
    if hasattr(sys, "stdlib_module_names"):
        return sys.stdlib_module_names
    import pkgutil
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    found = {module.name for module in pkgutil.iter_modules([stdlib, f"{stdlib}/lib-dynload"])}
    windows_only = {"msvcrt", "nt", "winreg", "winsound", "_winapi"}  # not in a Linux or macOS installation's folders
    return frozenset(found | set(sys.builtin_module_names) | windows_only)


def load_bench_script(name: str) -> ModuleType:
    """A script of Testing/bench (not a package) as a module: the reference-making scripts hold the data
    generators their tests share."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "Testing" / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module

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


def load_bench_script(name: str) -> ModuleType:
    """A script of Testing/bench (not a package) as a module: the reference-making scripts hold the data
    generators their tests share."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "Testing" / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module

"""Which software made a result: Python and the packages that change the numbers (recorded in every result and
model, shown in every report).

Versions are those of the code that actually runs, found from where it was imported:

- PyRadiomics (the ``radiomics`` module) comes from whichever distribution provides it — ``pyradiomics-bhklab``
  from PyPI, or ``pyradiomics`` as the SlicerRadiomics extension builds it. It is recorded under the one key
  ``pyradiomics`` as ``"<version> (<distribution>)"``.
- This project (``CCRCCStagingLib``) from the ``pyproject.toml`` beside the package folder when there is one — a
  source checkout (also an editable install, whose metadata may be older than the tree) or the Slicer extension
  (which ships ``pyproject.toml`` beside ``CCRCCStagingLib/``) —, otherwise from the installed distribution the
  imported package belongs to.

Standard library only (the Slicer module's process imports ``core``), and Python 3.9 compatible (Slicer 5.6/5.8).
"""

from __future__ import annotations

import functools
import importlib.util
import platform
import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Optional

NOT_INSTALLED = "not installed"
UNKNOWN = "unknown"
PROJECT_DISTRIBUTION = "ccrcc-staging"
#: Distributions known to provide a module (searched first; ``packages_distributions`` only exists on Python ≥ 3.10).
KNOWN_PROVIDERS = {"radiomics": ("pyradiomics", "pyradiomics-bhklab"), "CCRCCStagingLib": (PROJECT_DISTRIBUTION,)}
_VERSIONED_PACKAGES = ("numpy", "SimpleITK", "scikit-learn", "scipy")


def software_versions() -> dict[str, str]:
    """Versions of Python, this project, PyRadiomics and the packages that change the numbers."""
    versions = {"python": platform.python_version(), PROJECT_DISTRIBUTION: project_version(),
                "pyradiomics": radiomics_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = NOT_INSTALLED
    return versions


@functools.lru_cache(maxsize=None)
def radiomics_version() -> str:
    """``"<version> (<distribution>)"`` of the distribution the ``radiomics`` module is imported from; its
    ``__version__`` when no distribution claims it; ``"not installed"`` when there is no such module."""
    module_file = _module_file("radiomics")
    if module_file is None:
        return NOT_INSTALLED
    distribution = owning_distribution("radiomics", module_file)
    if distribution is not None:
        return f"{distribution.version} ({distribution.metadata['Name']})"
    loaded = sys.modules.get("radiomics")
    return str(getattr(loaded, "__version__", UNKNOWN)) if loaded is not None else UNKNOWN


@functools.lru_cache(maxsize=None)
def project_version() -> str:
    """This project's version: from the ``pyproject.toml`` beside the imported ``CCRCCStagingLib``, else from the
    distribution that installed it, else ``"unknown"``."""
    package_file = Path(__file__).resolve().parents[1] / "__init__.py"
    source_tree = source_tree_version(package_file.parents[1] / "pyproject.toml")
    if source_tree is not None:
        return source_tree
    distribution = owning_distribution("CCRCCStagingLib", package_file)
    return str(distribution.version) if distribution is not None else UNKNOWN


def source_tree_version(pyproject: Path) -> Optional[str]:
    """``[project] version`` of a ``pyproject.toml`` naming this project, or None (read without ``tomllib``, which
    Python 3.9 lacks: the table's ``name`` and ``version`` lines)."""
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return None
    table = re.search(r"^\[project\]\s*$(.*?)(?=^\[|\Z)", text, re.MULTILINE | re.DOTALL)
    if table is None:
        return None
    fields = dict(re.findall(r'^\s*(name|version)\s*=\s*["\']([^"\']+)["\']', table.group(1), re.MULTILINE))
    if fields.get("name", "").replace("_", "-").lower() != PROJECT_DISTRIBUTION:
        return None
    return fields.get("version")


def owning_distribution(module: str, module_file: Path) -> Optional[metadata.Distribution]:
    """The installed distribution whose recorded files include ``module_file`` (the module as imported), or None
    (an editable install or a plain folder on the path records no such file)."""
    for name in _candidate_distributions(module):
        try:
            distribution = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        for recorded in distribution.files or ():
            if recorded.parts[:1] == (module,) and recorded.name == module_file.name:
                try:
                    if Path(distribution.locate_file(recorded)).resolve() == module_file:
                        return distribution
                except OSError:
                    continue
    return None


def _candidate_distributions(module: str) -> list[str]:
    names = list(KNOWN_PROVIDERS.get(module, ()))
    packages_distributions = getattr(metadata, "packages_distributions", None)  # Python ≥ 3.10
    if packages_distributions is not None:
        names += [name for name in _packages_distributions().get(module, []) if name not in names]
    return names


@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _module_file(module: str) -> Optional[Path]:
    """The file a module is (or would be) imported from, without importing it."""
    loaded = sys.modules.get(module)
    origin = getattr(loaded, "__file__", None) if loaded is not None else None
    if origin is None:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        origin = spec.origin if spec is not None else None
    return Path(origin).resolve() if origin and origin not in ("built-in", "frozen", "namespace") else None

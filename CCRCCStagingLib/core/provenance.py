"""Which software made a result: Python and the packages that change the numbers (recorded in every result and
model, shown in every report)."""

from __future__ import annotations

import platform
from importlib import metadata

_VERSIONED_PACKAGES = ("ccrcc-staging", "pyradiomics-bhklab", "numpy", "SimpleITK", "scikit-learn", "scipy")


def software_versions() -> dict[str, str]:
    """Versions of Python and of the packages that change the numbers."""
    versions = {"python": platform.python_version()}
    for package in _VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions

"""Provenance as it is in Slicer: PyRadiomics from SlicerRadiomics (the distribution ``pyradiomics``, installed into
an extension folder) and the project from the extension's files (no package metadata), each in a fresh interpreter
that sees only what Slicer's Python would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from slicer_harness import REPO_ROOT

PROBE = ("import json, sys; sys.path[:0] = sys.argv[1:]; "
         "from CCRCCStagingLib.core.provenance import software_versions; print(json.dumps(software_versions()))")


def versionsSeenWith(*paths: Path, cwd: Path) -> dict:
    completed = subprocess.run([sys.executable, "-I", "-c", PROBE, *map(str, paths)], capture_output=True, text=True,
                               cwd=cwd, timeout=60)
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def slicerRadiomicsFolder(folder: Path) -> Path:
    """What SlicerRadiomics installs (``pip install . --prefix``): the module and its ``pyradiomics`` metadata."""
    (folder / "radiomics").mkdir(parents=True)
    (folder / "radiomics" / "__init__.py").write_text("__version__ = '0+unknown'\n")
    info = folder / "pyradiomics-3.0.1a1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pyradiomics\nVersion: 3.0.1a1\n")
    (info / "RECORD").write_text("radiomics/__init__.py,,\npyradiomics-3.0.1a1.dist-info/METADATA,,\n"
                                 "pyradiomics-3.0.1a1.dist-info/RECORD,,\n")
    return folder


def extensionFolder(folder: Path, withPyproject: bool) -> Path:
    """The library as the extension installs it: CCRCCStagingLib/ and, beside it, pyproject.toml."""
    shutil.copytree(REPO_ROOT / "CCRCCStagingLib", folder / "CCRCCStagingLib",
                    ignore=shutil.ignore_patterns("__pycache__"))
    if withPyproject:
        (folder / "pyproject.toml").write_text('[build-system]\nrequires = []\n\n[project]\nname = "ccrcc-staging"\n'
                                               'version = "9.8.7"\n\n[tool.other]\nversion = "0"\n')
    return folder


def test_pyRadiomicsFromSlicerRadiomicsAndTheProjectFromTheExtension(tmp_path):
    versions = versionsSeenWith(extensionFolder(tmp_path / "lib", True), slicerRadiomicsFolder(tmp_path / "radiomics"),
                                cwd=tmp_path)
    assert versions["pyradiomics"] == "3.0.1a1 (pyradiomics)"
    assert versions["ccrcc-staging"] == "9.8.7"
    assert set(versions) == {"python", "ccrcc-staging", "pyradiomics", "numpy", "SimpleITK", "scikit-learn", "scipy"}


def test_withoutMetadataOrPyprojectTheVersionIsUnknownNotWrong(tmp_path):
    # The development environment's own ccrcc-staging metadata belongs to another copy of the library: not used.
    versions = versionsSeenWith(extensionFolder(tmp_path / "lib", False), cwd=tmp_path)
    assert versions["ccrcc-staging"] == "unknown"


def test_theRecordedVersionsHereNameTheDistribution():
    from importlib import metadata

    from CCRCCStagingLib.core.provenance import software_versions
    from conftest import packages_distributions  # importlib.metadata's needs Python >= 3.10

    versions = software_versions()
    provider = next(name for name in ("pyradiomics-bhklab", "pyradiomics")
                    if name in packages_distributions().get("radiomics", []))
    assert versions["pyradiomics"] == f"{metadata.version(provider)} ({provider})"
    assert "not installed" not in versions.values()

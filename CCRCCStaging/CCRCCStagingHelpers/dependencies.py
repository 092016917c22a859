"""The library's Python packages inside Slicer: installed on first use, after asking, never at import time.

Slicer's own numpy, SimpleITK and VTK are pinned so that pip cannot replace them. PyRadiomics comes from the
SlicerRadiomics extension: it has no wheel for Slicer's Python and building it needs a compiler.
"""

import importlib.metadata
import importlib.util
import re
import tempfile
from pathlib import Path

from . import AnalysisError


def ensureDependencies(requirementsPath):
    """Install the missing packages of ``requirementsPath`` into Slicer's Python (after asking); raise
    AnalysisError when they are still missing, or when PyRadiomics is."""
    import slicer

    try:
        from slicer.i18n import tr as _
    except ImportError:
        def _(text):
            return text

    with tempfile.TemporaryDirectory(prefix="CCRCCStaging-") as folder:
        constraintsPath = Path(folder) / "slicer-constraints.txt"
        constraintsPath.write_text("".join(f"{name}=={version}\n" for name, version in installedCorePackages()))
        try:
            from slicer import packaging  # Slicer >= 5.11: asks, shows progress, offers a restart
        except ImportError:
            missing = missingRequirements(requirementsPath)
            if missing and slicer.util.confirmOkCancelDisplay(
                    _("CCRCC Staging needs these Python packages, which will be installed now:\n\n{packages}")
                    .format(packages="\n".join(missing)), windowTitle=_("CCRCC Staging")):
                slicer.util.pip_install(["-c", str(constraintsPath), *missing])
            elif missing:
                raise AnalysisError("The analysis needs Python packages that were not installed: "
                                    + ", ".join(missing) + ".")
        else:
            packaging.pip_ensure(packaging.load_requirements(requirementsPath),
                                 constraints=constraintsPath, requester="CCRCC Staging")
    if importlib.util.find_spec("radiomics") is None:
        raise AnalysisError("PyRadiomics is missing from Slicer's Python. Install the SlicerRadiomics extension "
                            "with the Extensions Manager, restart Slicer and analyse again.")


def installedCorePackages():
    """(name, version) of Slicer's own packages that pip must leave alone."""
    for name in ("numpy", "SimpleITK", "vtk"):
        try:
            yield name, importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:  # e.g. VTK, which Slicer does not install with pip
            continue


def missingRequirements(requirementsPath):
    """Lines of requirements.txt whose distribution is not installed (Slicer < 5.11, without slicer.packaging)."""
    missing = []
    for line in Path(requirementsPath).read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if not requirement:
            continue
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(requirement)
    return missing

"""The library's Python packages inside Slicer: checked by version, installed on first use after asking, never at
import time.

The check reads ``requirements.txt`` with ``packaging`` (which every Slicer from 5.6 to 5.12 ships: 23.2 to 26.2):
environment markers are evaluated (``reportlab<5.1; python_version < '3.10'`` applies on Slicer 5.6/5.8 only) and a
package counts only when its installed version satisfies the range — an older pandas that another extension
installed is as unmet as a missing one. The same code runs on every Slicer version; ``slicer.packaging`` (5.12 only)
is not needed.

Installing goes through ``slicer.util.pip_install`` (all versions; on 5.12 it shows pip's progress) with Slicer's own
numpy, scipy, SimpleITK, VTK and Pillow pinned by a constraints file, so pip can never replace them. PyRadiomics
comes from the SlicerRadiomics extension: it has no wheel for Slicer's Python and building it needs a compiler.

In testing mode Slicer's confirmation dialogs answer "no" (5.6–5.10) and ``pip_ensure`` skips installs (5.12), so
the self-test installs beforehand without asking (``prompt=False``) and, when that is impossible, says exactly what
it skipped (``selfTest``).
"""

import importlib
import importlib.metadata
import importlib.util
import tempfile
from collections import namedtuple
from pathlib import Path

from . import AnalysisError

#: Slicer's own packages: pinned to their installed versions whenever pip runs.
SLICER_OWN_PACKAGES = ("numpy", "scipy", "SimpleITK", "vtk", "pillow")
RADIOMICS_MISSING = ("PyRadiomics is missing from Slicer's Python. Install the SlicerRadiomics extension with the "
                     "Extensions Manager, restart Slicer and analyse again (on macOS, where SlicerRadiomics may be "
                     "missing, see the README's Install section).")


class Unmet(namedtuple("Unmet", "requirement installed")):
    """A requirement (as written in requirements.txt) and the installed version (None: not installed)."""

    def describe(self):
        return f"{self.requirement} ({'not installed' if self.installed is None else self.installed + ' installed'})"


def readRequirements(path):
    """The requirement lines of a requirements.txt (no comments, blank lines or pip options)."""
    lines = (line.split("#", 1)[0].strip() for line in Path(path).read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("-")]


def installedVersion(name):
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def unmetRequirements(requirements, version=installedVersion, environment=None):
    """The requirements that apply here (markers evaluated, with ``environment`` overriding the running Python's
    marker values) and are not satisfied by the installed version."""
    from packaging.requirements import Requirement

    unmet = []
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        installed = version(requirement.name)
        if installed is None or not requirement.specifier.contains(installed, prereleases=True):
            unmet.append(Unmet(line, installed))
    return unmet


def constraints(version=installedVersion):
    """Constraints-file text pinning Slicer's own packages to their installed versions."""
    pins = ((name, version(name)) for name in SLICER_OWN_PACKAGES)
    return "".join(f"{name}=={installed}\n" for name, installed in pins if installed is not None)


def ensureDependencies(requirementsPath, prompt=True, host=None, version=installedVersion):
    """Make the requirements of ``requirementsPath`` hold: install what is unmet (after asking when ``prompt``);
    raise AnalysisError naming what is still unmet — or PyRadiomics when it is missing. ``host`` is Slicer's dialogs
    and pip (``SlicerHost``), ``version`` the installed version of a distribution (None: not installed)."""
    host = host or SlicerHost()
    requirements = readRequirements(requirementsPath)
    unmet = unmetRequirements(requirements, version)
    if unmet and (not prompt or host.confirm(installQuestion(unmet))):
        with tempfile.TemporaryDirectory(prefix="CCRCCStaging-") as folder:
            constraintsPath = Path(folder) / "slicer-constraints.txt"
            constraintsPath.write_text(constraints(version))
            host.install([item.requirement for item in unmet], constraintsPath)
        importlib.invalidate_caches()
        unmet = unmetRequirements(requirements, version)
    if unmet:
        raise AnalysisError("The analysis needs Python packages that are not installed in the versions it needs: "
                            + "; ".join(item.describe() for item in unmet) + ".")
    if importlib.util.find_spec("radiomics") is None:
        raise AnalysisError(RADIOMICS_MISSING)


def installQuestion(unmet):
    return ("CCRCC Staging needs these Python packages, which will be installed into Slicer's Python now (Slicer's "
            "own numpy, scipy, SimpleITK, VTK and Pillow stay as they are):\n\n"
            + "\n".join(item.describe() for item in unmet))


class SlicerHost:
    """What ``ensureDependencies`` asks of Slicer (a fake in the tests)."""

    @staticmethod
    def confirm(text):
        import slicer

        return slicer.util.confirmOkCancelDisplay(text, windowTitle="CCRCC Staging")

    @staticmethod
    def install(requirements, constraintsPath):
        import slicer

        # A list of pip arguments: the same call on 5.6–5.10 (util.pip_install) and 5.12 (packaging.pip_install).
        slicer.util.pip_install([*requirements, "-c", str(constraintsPath)])

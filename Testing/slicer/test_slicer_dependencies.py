"""The module's dependency check: versions and environment markers of requirements.txt against what is installed, the
same on every Slicer from 5.6 (Python 3.9, packaging 23.2) to 5.12 (Python 3.12, packaging 26.2), and what it does
when Slicer cannot ask (testing mode)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from slicer_harness import MODULE_FILE, REPO_ROOT

from CCRCCStagingHelpers import AnalysisError, dependencies  # noqa: E402 (slicer_harness makes it importable)

REQUIREMENTS = MODULE_FILE.parent / "Resources" / "requirements.txt"
PYTHON_39 = {"python_version": "3.9", "python_full_version": "3.9.10"}  # Slicer 5.6 / 5.8
PYTHON_312 = {"python_version": "3.12", "python_full_version": "3.12.10"}  # Slicer 5.10 / 5.12
#: What an up-to-date Slicer 5.8 environment holds (reportlab 5.0.1: the last that imports on Python 3.9).
INSTALLED = {"scikit-learn": "1.6.1", "pandas": "2.3.3", "PyYAML": "6.0.3", "joblib": "1.5.3", "matplotlib": "3.9.4",
             "reportlab": "5.0.1", "numpy": "1.26.4", "scipy": "1.13.1", "SimpleITK": "2.3.1", "pillow": "10.3.0",
             "tqdm": "4.67.1"}


def versions(**changed):
    table = {name.lower(): version for name, version in {**INSTALLED, **changed}.items()}
    return lambda name: table.get(name.lower().replace("_", "-"))


def requirements():
    return dependencies.readRequirements(REQUIREMENTS)


def test_versionsAndMarkersCount():
    assert dependencies.unmetRequirements(requirements(), versions(), PYTHON_39) == []
    # reportlab 5.1 installs on Python 3.9 (its metadata allows it) but refuses to import there.
    unmet = dependencies.unmetRequirements(requirements(), versions(reportlab="5.1.0"), PYTHON_39)
    assert [item.describe() for item in unmet] == ["reportlab>=4,<5.1; python_version < '3.10' (5.1.0 installed)"]
    assert dependencies.unmetRequirements(requirements(), versions(reportlab="5.1.0"), PYTHON_312) == []
    # An older package from another extension is as unmet as a missing one.
    unmet = dependencies.unmetRequirements(requirements(), versions(pandas="1.5.3", joblib=None), PYTHON_312)
    assert [item.describe() for item in unmet] == ["pandas>=2.0,<3 (1.5.3 installed)", "joblib>=1.3,<2 (not installed)"]


class FakeSlicer:
    """Slicer's dialogs and pip: ``answer`` is what the confirmation dialog returns (False in testing mode on
    5.6–5.10); ``install`` puts the newest allowed versions in place, or fails."""

    def __init__(self, installed, answer=True, fails=False):
        self.installed, self.answer, self.fails = installed, answer, fails
        self.asked, self.installs, self.constraints = [], [], None

    def version(self, name):
        return self.installed.get(name.lower())

    def confirm(self, text):
        self.asked.append(text)
        return self.answer

    def install(self, requirements, constraintsPath):
        self.installs.append(list(requirements))
        self.constraints = Path(constraintsPath).read_text()
        if self.fails:
            raise subprocess.CalledProcessError(1, ["pip", "install"])
        for requirement in requirements:
            name = requirement.split(">")[0].split("<")[0].split("=")[0].strip().lower()
            self.installed[name] = {"pandas": "2.3.3", "reportlab": "5.0.1"}[name]


def ensure(host, prompt=True):
    dependencies.ensureDependencies(REQUIREMENTS, prompt=prompt, host=host, version=host.version)


def outdated():
    return {name.lower(): version for name, version in {**INSTALLED, "pandas": "1.5.3", "reportlab": "5.1.0"}.items()}


def test_whatIsUnmetIsInstalledAfterAskingWithSlicersPackagesPinned():
    host = FakeSlicer(outdated())
    ensure(host)
    assert len(host.asked) == 1 and "pandas>=2.0,<3 (1.5.3 installed)" in host.asked[0]
    assert [sorted(installed) for installed in host.installs] == [
        sorted(item.requirement for item in dependencies.unmetRequirements(
            requirements(), FakeSlicer(outdated()).version))]
    assert set(host.constraints.splitlines()) == {"numpy==1.26.4", "scipy==1.13.1", "SimpleITK==2.3.1",
                                                  "pillow==10.3.0"}
    ensure(host)  # everything there now: nothing asked, nothing installed
    assert len(host.asked) == 1 and len(host.installs) == 1


def test_whenSlicerCannotAskTheMessageSaysExactlyWhatIsMissing():
    # Testing mode on Slicer 5.6–5.10: the dialog answers no.
    host = FakeSlicer(outdated(), answer=False)
    with pytest.raises(AnalysisError) as raised:
        ensure(host)
    assert host.installs == [] and "pandas>=2.0,<3 (1.5.3 installed)" in str(raised.value)
    # The self-test installs beforehand, without asking.
    host = FakeSlicer(outdated(), answer=False)
    ensure(host, prompt=False)
    assert host.asked == [] and len(host.installs) == 1
    # pip failed (offline): the error names what is still missing.
    host = FakeSlicer(outdated(), fails=True)
    with pytest.raises(subprocess.CalledProcessError):
        ensure(host, prompt=False)


def test_pyRadiomicsMissingIsNamedWithWhereToGetIt(monkeypatch):
    monkeypatch.setattr(dependencies.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AnalysisError, match="SlicerRadiomics"):
        ensure(FakeSlicer({name.lower(): version for name, version in INSTALLED.items()}))


@pytest.mark.parametrize("venv", sorted((REPO_ROOT / "build" / "slicer-pythons").glob("*/venv")), ids=lambda p: p.parent.name)
def test_theCheckRunsOnSlicersPythonAndPackaging(venv):
    """In the environments `make test-slicer-pythons` builds with each Slicer's pinned packages (Python 3.9 with
    packaging 23.2 for 5.6 …), where requirements.txt was installed: nothing is unmet."""
    python = venv / "bin" / "python"
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); from CCRCCStagingHelpers import dependencies as d; "
             "import packaging; print(packaging.__version__, d.unmetRequirements(d.readRequirements(sys.argv[2])))")
    completed = subprocess.run([str(python), "-c", probe, str(MODULE_FILE.parent), str(REQUIREMENTS)],
                               capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split(" ", 1)[1].strip() == "[]", completed.stdout

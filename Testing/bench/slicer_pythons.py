"""The library on each 3D Slicer's Python: 5.6 and 5.8 (CPython 3.9), 5.10 and 5.12 (CPython 3.12).

For each Slicer version this builds ``build/slicer-pythons/<version>`` from pyenv's CPython of the same minor
version and installs what that Slicer ships, then what the module adds, in the order Slicer gets them:

1. **Slicer's pins** (from Slicer's source, ``SuperBuild/External_python-*.cmake`` at the tag named below): pip,
   setuptools, wheel, numpy, scipy, SimpleITK, pydicom, pillow, packaging, pyparsing (matplotlib's), six (5.12 also
   highdicom, pyjpegls, typing_extensions). Slicer 5.6–5.10 build SimpleITK from source (Slicer's fork at that version); here the PyPI
   wheel of the same version stands in.
2. **PyRadiomics as SlicerRadiomics provides it**: on 3.9 the upstream ``pyradiomics`` 3.1.0 wheel (cp39, built
   against numpy 1.x, which numpy 1.26 loads); on 3.12 there is no upstream wheel and the sdist does not build
   with pip, so the fork ``pyradiomics-bhklab`` (built from its sdist) stands in for SlicerRadiomics' build of
   upstream's source.
3. **The module's** ``CCRCCStaging/Resources/requirements.txt``, installed by the module's own code
   (``CCRCCStagingHelpers.dependencies.ensureDependencies``: markers and versions checked with Slicer's
   ``packaging``, Slicer's own packages pinned by a constraints file), pip standing in for
   ``slicer.util.pip_install``. The library is put on ``PYTHONPATH``, as in Slicer (a source tree, no package
   metadata).
4. Checks that pip replaced none of Slicer's pins and that ``pip check`` is clean, then runs ``demo`` and
   ``report <demo folder> --format html,pdf`` (what the module runs).
5. **The library's full dependencies** (``pyproject.toml`` minus PyRadiomics, with every Slicer pin as a
   constraint); the pins are checked again, then ``extract`` (six phantoms), ``train`` and ``evaluate`` (a
   generated features table) run.
6. **The test tools** of pyproject's ``test`` extra (``TEST_TOOLS``, pins constrained and checked again) and the
   library's fast tests (what ``make test`` runs, but for ``DESELECTED`` and each version's ``known_limits``, listed
   with their reasons under the table); tests needing what is not here (slicer-core, selenium and Chromium, a newer
   highdicom) skip, and the skip reasons are counted under the table.

Nothing here runs inside the Slicer application: these are plain CPython environments holding Slicer's versions.

Usage (``make test-slicer-pythons`` runs it with no arguments)::

    python Testing/bench/slicer_pythons.py [--only 5.6,5.12] [--commit HEAD] [--skip-tests] [--tests PATH ...]

``--commit`` tests a commit (exported with ``git archive`` to ``build/slicer-pythons/source``) instead of the
working tree, so that edits made meanwhile do not reach a run that takes half an hour.

The table is printed and written to ``build/slicer-pythons/results.md`` (and ``results.json``); each step's
output is in ``build/slicer-pythons/<version>/logs/``. Exit status 1 when any step failed. pip's cache is used
(PyPI must be reachable on the first run).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import tomllib
import xml.etree.ElementTree as ElementTree
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_DIR = REPO_ROOT / "build" / "slicer-pythons"
REQUIREMENTS = Path("CCRCCStaging") / "Resources" / "requirements.txt"  # relative to the tested source tree

# Read from Slicer's source at each tag: CMakeLists.txt / SuperBuild/External_python.cmake (Python),
# SuperBuild/External_python-{pip,setuptools,wheel,numpy,scipy,dicom-requirements,pythonqt-requirements}.cmake,
# External_SimpleITK.cmake (5.6–5.10, built from source) and External_python-SimpleITK.cmake (5.12, a wheel).
_NO_DICOM_SEG = ("DICOM SEG export: highdicom 0.22, the last without pydicom 3, uses np.float_ (gone in numpy 2); "
                 "the export says so in a sentence")


@dataclass(frozen=True)
class Slicer:
    version: str
    tag: str
    python: str  # minor version of the embedded CPython
    embedded_python: str
    tools: dict[str, str]  # pip, setuptools, wheel: installed first
    pins: dict[str, str]  # the packages Slicer ships that the library or its dependencies use
    pyradiomics: str  # how the test gets PyRadiomics for this Slicer
    known_limits: dict[str, str] = field(default_factory=dict)  # test id → why it cannot pass with these versions


SLICERS = [
    Slicer("5.6", "v5.6.2", "3.9", "3.9.10",
           {"pip": "23.3", "setuptools": "68.2.2", "wheel": "0.41.2"},
           {"numpy": "1.26.1", "scipy": "1.11.3", "SimpleITK": "2.2.1", "pydicom": "2.4.3", "pillow": "10.1.0",
            "packaging": "23.2", "pyparsing": "3.1.1", "six": "1.16.0"},
           "pyradiomics==3.1.0"),
    Slicer("5.8", "v5.8.1", "3.9", "3.9.10",
           {"pip": "24.0", "setuptools": "70.0.0", "wheel": "0.43.0"},
           {"numpy": "1.26.4", "scipy": "1.13.1", "SimpleITK": "2.3.1", "pydicom": "2.4.4", "pillow": "10.3.0",
            "packaging": "24.0", "pyparsing": "3.1.2", "six": "1.16.0"},
           "pyradiomics==3.1.0"),
    Slicer("5.10", "v5.10.0", "3.12", "3.12.10",
           {"pip": "25.1.1", "setuptools": "80.9.0", "wheel": "0.45.1"},
           {"numpy": "2.0.2", "scipy": "1.13.1", "SimpleITK": "2.5.2", "pydicom": "2.4.4", "pillow": "11.2.1",
            "packaging": "25.0", "pyparsing": "3.2.3", "six": "1.17.0"},
           "pyradiomics-bhklab==3.1.4",
           {**{f"Testing/reports/test_dicom_seg.py::{name}": _NO_DICOM_SEG for name in (
               "test_seg_round_trip", "test_default_output_is_in_the_analysis_folder", "test_refusals_are_sentences")},
            "Testing/commands/test_hostile_inputs.py::"
            "test_the_report_names_the_patient_analysed_not_whoever_is_in_the_folder_now": _NO_DICOM_SEG}),
    Slicer("5.12", "v5.12.0", "3.12", "3.12.10",
           {"pip": "26.1.1", "setuptools": "82.0.1", "wheel": "0.47.0"},
           {"numpy": "2.4.6", "scipy": "1.17.1", "SimpleITK": "2.5.5", "pydicom": "3.0.2", "pillow": "12.2.0",
            "packaging": "26.2", "pyparsing": "3.3.2", "six": "1.17.0", "highdicom": "0.27.0", "pyjpegls": "1.5.1",
            "typing_extensions": "4.15.0"},
           "pyradiomics-bhklab==3.1.4"),
]

#: The library's fast tests: what `make test` runs (pyproject's addopts leave out the slow ones). Tests that need
#: what these environments do not hold skip and say why: slicer-core (Slicer's MRML) and selenium with Chromium.
DEFAULT_TESTS = ["Testing"]
#: Test files left out on every version because they cannot even be imported here, with the reason.
IGNORED = {
    "Testing/slicer/test_slicer_batch.py": "imports vtk at collection (slicer-core's VTK, not in these environments)",
}
#: Tests left out on every version, with the reason (the table lists them).
DESELECTED = {
    "Testing/commands/test_demo_model.py::test_reduced_rebuild_by_the_committed_command_is_reproducible":
        "12 min; its recorded reference (probability within 1e-6) holds for the development environment's numpy and "
        "scikit-learn, not across versions (5.6: 0.9632458 against 0.9632706)",
}
#: The test tools, taken with their ranges from pyproject's `test` extra (statsmodels, dcurves and neuroCombat are
#: the oracles of some tests; dask[distributed] also brings psutil, which the Slicer run tests use); not slicer-core
#: (no wheel for 3.9, and Slicer's own MRML is not what is checked here) nor selenium (no Chromium).
TEST_TOOLS = ("pytest", "hypothesis", "pypdf", "statsmodels", "dcurves", "neurocombat", "dask")
PYRADIOMICS_DISTRIBUTIONS = ("pyradiomics", "pyradiomics-bhklab")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(line: str) -> str:
    return normalized(re.split(r"[<>=!~\[; ]", line.strip(), maxsplit=1)[0])


def module_requirement_lines(source: Path) -> list[str]:
    """The requirement lines of the module's requirements.txt, as CCRCCStagingHelpers/dependencies.py reads them."""
    lines = (line.split("#")[0].strip() for line in (source / REQUIREMENTS).read_text().splitlines())
    return [line for line in lines if line]


def pyproject(source: Path) -> dict:
    return tomllib.loads((source / "pyproject.toml").read_text())


def library_requirement_lines(source: Path) -> list[str]:
    """pyproject's dependencies without PyRadiomics (which comes from SlicerRadiomics)."""
    dependencies = pyproject(source)["project"]["dependencies"]
    return [spec for spec in dependencies if requirement_name(spec) not in PYRADIOMICS_DISTRIBUTIONS]


def test_tool_lines(source: Path) -> list[str]:
    return [spec for spec in pyproject(source)["project"]["optional-dependencies"]["test"]
            if requirement_name(spec) in TEST_TOOLS]


def export_commit(revision: str) -> Path:
    """The tree of a commit in build/slicer-pythons/source (``git archive``), and its full hash in a file."""
    target = BUILD_DIR / "source"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    git = ["git", "-C", str(REPO_ROOT)]
    archive = subprocess.run([*git, "archive", revision], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target)
    commit = subprocess.run([*git, "rev-parse", revision], capture_output=True, text=True, check=True).stdout.strip()
    (target / "COMMIT").write_text(commit + "\n")
    # The reference data the tests read from ../shared beside the repository (they skip without it).
    shared = BUILD_DIR / "shared"
    if (REPO_ROOT.parent / "shared").exists() and not shared.exists():
        shared.symlink_to(REPO_ROOT.parent / "shared", target_is_directory=True)
    return target


def find_python(minor: str) -> Path:
    """pyenv's newest CPython <minor>.x (or $SLICER_PYTHON_<major>_<minor>, or python<minor> on PATH)."""
    override = os.environ.get(f"SLICER_PYTHON_{minor.replace('.', '_')}")
    if override:
        return Path(override)
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted((path for path in (root / "versions").glob(f"{minor}.*")
                         if re.fullmatch(rf"{re.escape(minor)}\.\d+", path.name) and (path / "bin" / "python").exists()),
                        key=lambda path: int(path.name.rsplit(".", 1)[1]))
    if candidates:
        return candidates[-1] / "bin" / "python"
    found = shutil.which(f"python{minor}")
    if found:
        return Path(found)
    raise SystemExit(f"no CPython {minor}: install it with pyenv (pyenv install {minor}) or set "
                     f"SLICER_PYTHON_{minor.replace('.', '_')}")


@dataclass
class Step:
    name: str
    ok: bool
    seconds: float
    note: str = ""


@dataclass
class Run:
    slicer: Slicer
    folder: Path
    steps: list[Step] = field(default_factory=list)
    versions: dict[str, str] = field(default_factory=dict)
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def python(self) -> Path:
        return self.folder / "venv" / "bin" / "python"

    @property
    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.update(PYTHONPATH=str(self.folder / "src"), PYTHONNOUSERSITE="1", MPLBACKEND="Agg",
                   HYPOTHESIS_STORAGE_DIRECTORY=str(self.folder / "hypothesis"), PIP_DISABLE_PIP_VERSION_CHECK="1",
                   PYTHONDONTWRITEBYTECODE="1")
        return env

    def step(self, name: str, command: list[str], *, cwd: Path | None = None, timeout: float = 3600,
             check=None) -> bool:
        """Run one command, its output to logs/<name>.log; ``check(completed)`` may add a note or fail it."""
        logs = self.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        shown = " ".join("<script>" if "\n" in str(part) else str(part) for part in command)
        print(f"[{self.slicer.version}] {name}: {shown}", flush=True)
        with open(logs / f"{name}.log", "w") as log:
            log.write(" ".join(map(str, command)) + "\n\n")
            log.flush()
            try:
                completed = subprocess.run([str(part) for part in command], cwd=cwd or self.folder, env=self.env,
                                           stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
                ok, note = completed.returncode == 0, "" if completed.returncode == 0 else f"exit {completed.returncode}"
            except subprocess.TimeoutExpired:
                ok, note = False, f"timed out after {timeout:.0f} s"
        seconds = time.perf_counter() - start
        if ok and check is not None:
            ok, note = check()
        if not ok:
            tail = (logs / f"{name}.log").read_text(errors="replace").strip().splitlines()[-12:]
            print("    " + "\n    ".join(tail), flush=True)
        self.steps.append(Step(name, ok, seconds, note))
        print(f"[{self.slicer.version}] {name}: {'ok' if ok else 'FAILED'} ({seconds:.0f} s){' ' + note if note else ''}",
              flush=True)
        return ok

    def pip(self, name: str, *arguments: str, **options) -> bool:
        return self.step(name, [self.python, "-m", "pip", "install", "--progress-bar", "off", *arguments], **options)

    def installed(self) -> dict[str, str]:
        """normalized distribution name → version, from the environment's metadata."""
        probe = ("import importlib.metadata as m, json; "
                 "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
        completed = subprocess.run([str(self.python), "-c", probe], capture_output=True, text=True, env=self.env)
        return {normalized(name): version for name, version in json.loads(completed.stdout or "{}").items()}

    def pins_kept(self) -> tuple[bool, str]:
        """Slicer's pins still installed at their versions, and ``pip check`` clean."""
        installed = self.installed()
        changed = [f"{name} {version}→{installed.get(normalized(name), 'removed')}"
                   for name, version in {**self.slicer.pins, **self.slicer.tools}.items()
                   if installed.get(normalized(name)) != version]
        check = subprocess.run([str(self.python), "-m", "pip", "check"], capture_output=True, text=True, env=self.env)
        problems = [] if check.returncode == 0 else [line for line in check.stdout.splitlines() if line.strip()]
        with open(self.folder / "logs" / "pip-check.log", "a") as log:
            log.write(check.stdout + check.stderr + "\n")
        return not changed and not problems, "; ".join(changed + problems)


#: The module's dependency step (CCRCCStagingHelpers.dependencies.ensureDependencies, which reads requirements.txt
#: with Slicer's `packaging` and pins Slicer's own packages by a constraints file) with pip standing in for
#: slicer.util.pip_install (which runs `PythonSlicer -m pip install <the same arguments>`); no dialog.
MODULE_INSTALL = """
import subprocess, sys
sys.path.insert(0, sys.argv[1])
from CCRCCStagingHelpers import dependencies

class PipHost:
    @staticmethod
    def confirm(text):
        return True

    @staticmethod
    def install(arguments, constraintsPath):
        print("constraints:", open(constraintsPath).read().split(), flush=True)
        arguments = [*arguments, "-c", str(constraintsPath)]
        print("pip install", *arguments, flush=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--progress-bar", "off", *arguments], check=True)

dependencies.ensureDependencies(sys.argv[2], prompt=False, host=PipHost())
print("requirements met; radiomics found")
"""


def constraints_file(run: Run, name: str, pins: dict[str, str]) -> Path:
    path = run.folder / name
    path.write_text("".join(f"{package}=={version}\n" for package, version in pins.items()))
    return path


def check_report(folder: Path):
    def check() -> tuple[bool, str]:
        html, pdf = folder / "report.html", folder / "report.pdf"
        problems = []
        if not html.is_file() or b"</html>" not in html.read_bytes()[-4096:].lower():
            problems.append("no complete report.html")
        if not pdf.is_file() or not pdf.read_bytes().startswith(b"%PDF") or b"%%EOF" not in pdf.read_bytes()[-1024:]:
            problems.append("no complete report.pdf")
        return not problems, "; ".join(problems)
    return check


def check_files(*paths: Path):
    def check() -> tuple[bool, str]:
        missing = [path.name for path in paths if not path.exists()]
        return not missing, f"missing {', '.join(missing)}" if missing else ""
    return check


def junit_counts(path: Path) -> dict[str, int]:
    if not path.is_file():
        return {}
    root = ElementTree.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    counts = {key: sum(int(suite.get(key, 0)) for suite in suites) for key in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    counts["failed_ids"] = [f"{case.get('classname')}::{case.get('name')}" for case in root.iter("testcase")
                            if case.find("failure") is not None or case.find("error") is not None]
    reasons = Counter(skipped.get("message", "") for skipped in root.iter("skipped"))
    counts["skip_reasons"] = dict(reasons.most_common())
    return counts


def build(slicer: Slicer, source: Path, tests: list[str] | None) -> Run:
    run = Run(slicer, BUILD_DIR / slicer.version)
    started = time.perf_counter()
    if run.folder.exists():
        shutil.rmtree(run.folder)
    run.folder.mkdir(parents=True)
    interpreter = find_python(slicer.python)
    run.facts["interpreter"] = str(interpreter)
    # The library as in Slicer: a source tree on the path, without package metadata (the repository root may hold
    # the dev install's ccrcc_staging.egg-info, which importlib.metadata would find).
    (run.folder / "src").mkdir()
    (run.folder / "src" / "CCRCCStagingLib").symlink_to(source / "CCRCCStagingLib", target_is_directory=True)
    ok = run.step("venv", [interpreter, "-m", "venv", run.folder / "venv"])
    # 1. What Slicer ships.
    ok = ok and run.pip("slicer-tools", "--only-binary=:all:", *(f"{n}=={v}" for n, v in slicer.tools.items()))
    ok = ok and run.pip("slicer-pins", "--only-binary=:all:", *(f"{n}=={v}" for n, v in slicer.pins.items()))
    # 2. PyRadiomics the way this Slicer gets it (see the module docstring).
    ok = ok and run.pip("pyradiomics", "--prefer-binary", slicer.pyradiomics)
    # 3. The module's requirements, installed by the module's own code (see MODULE_INSTALL).
    ok = ok and run.step("requirements", [run.python, "-c", MODULE_INSTALL, source / "CCRCCStaging",
                                          source / REQUIREMENTS])
    ok = ok and run.step("pins-kept", [run.python, "-c", "import numpy, scipy, SimpleITK, radiomics"],
                         check=run.pins_kept)
    # 4. What the module runs.
    demo = run.folder / "demo"
    cli = [run.python, "-m", "CCRCCStagingLib.cli"]
    demo_ok = ok and run.step("demo", [*cli, "demo", "--out", demo], check=check_files(demo / "result.json"))
    ok = demo_ok and run.step("report", [*cli, "report", demo, "--format", "html,pdf"], check=check_report(demo))
    if demo_ok:
        result = json.loads((demo / "result.json").read_text())
        run.facts["demo_probability_high"] = result.get("probability_high")
        run.facts["demo_n_features"] = result.get("n_features")
    # 5. The rest of the library and its tests; every Slicer pin constrained.
    slicer_constraints = constraints_file(run, "slicer-constraints.txt", slicer.pins)
    full = ok and run.pip("library-deps", "--prefer-binary", "-c", str(slicer_constraints),
                          *library_requirement_lines(source))
    full = full and run.step("pins-kept-2", [run.python, "-c", "import sklearn, lightgbm, lifelines, highdicom"],
                             check=run.pins_kept)
    if full:
        cohort, work = run.folder / "cohort", run.folder / "work"
        work.mkdir()
        if run.step("phantoms", [*cli, "phantoms", "--out", cohort, "--n", "6"]):
            run.step("extract", [*cli, "extract", cohort / "manifest.csv", "--out", work / "extracted.csv", "--jobs",
                                 "2"], timeout=900, check=check_files(work / "extracted.csv"))
        table = (f"import sys; sys.path.insert(0, {str(source / 'Testing')!r}); from pathlib import Path; "
                 "from cohort_tables import features_table, write_features_with_side_files; "
                 f"write_features_with_side_files(Path({str(work)!r}), features_table())")
        if run.step("features-table", [run.python, "-c", table]):
            if run.step("train", [*cli, "train", work / "features.csv", "--out", work / "model"], timeout=900,
                        check=check_files(work / "model" / "model.json", work / "model" / "training_report.html")):
                run.step("evaluate", [*cli, "evaluate", work / "model", work / "features.csv", "--out", work / "eval"],
                         check=check_files(work / "eval" / "metrics.csv", work / "eval" / "evaluation_report.html"))
        if tests != [] and run.pip("test-tools", "--prefer-binary", "-c", str(slicer_constraints),
                                   *test_tool_lines(source), check=run.pins_kept):
            junit = run.folder / "pytest.xml"
            deselected = ([f"--ignore={path}" for path in IGNORED]
                          + [f"--deselect={test}" for test in {**DESELECTED, **slicer.known_limits}])
            # The pytest script, not `python -m pytest`, which would put the repository root on sys.path.
            # A test file that fails to import counts as an error without stopping the others.
            run.step("tests", [run.python.parent / "pytest", "-q", "-p", "no:cacheprovider", "-m", "not slow",
                               "--continue-on-collection-errors",
                               f"--junitxml={junit}", *deselected, *(tests or DEFAULT_TESTS)], cwd=source,
                     timeout=3600)
            run.facts["tests"] = junit_counts(junit)
    run.versions = run.installed()
    run.facts["seconds"] = time.perf_counter() - started
    return run


#
# The table
#


def cell(run: Run, *names: str) -> str:
    steps = {step.name: step for step in run.steps}
    present = [steps[name] for name in names if name in steps]
    if not present:
        return "–"
    failed = [step for step in present if not step.ok]
    if failed:
        return "FAIL " + "; ".join(f"{step.name}: {step.note}" if step.note else step.name for step in failed)
    return "ok"


def pyradiomics_version(run: Run) -> str:
    for name in PYRADIOMICS_DISTRIBUTIONS:
        if name in run.versions:
            return f"{name} {run.versions[name]}"
    return "–"


def table(runs: list[Run]) -> str:
    header = ["Slicer", "Python", "numpy", "scipy", "SimpleITK", "PyRadiomics", "pydicom", "install (pins kept)",
              "demo", "report html/pdf", "extract/train/evaluate", "tests passed/failed/skipped", "time"]
    rows = []
    for run in runs:
        version = run.versions.get
        tests = run.facts.get("tests") or {}
        counts = (f"{tests['passed']}/{tests['failures'] + tests['errors']}/{tests['skipped']}" if tests else
                  cell(run, "tests"))
        rows.append([
            f"{run.slicer.version} ({run.slicer.tag})",
            f"{Path(str(run.facts.get('interpreter', ''))).parent.parent.name} (Slicer: {run.slicer.embedded_python})",
            version("numpy", "–"), version("scipy", "–"), version("simpleitk", "–"), pyradiomics_version(run),
            version("pydicom", "–"),
            cell(run, "venv", "slicer-tools", "slicer-pins", "pyradiomics", "requirements", "pins-kept",
                 "library-deps", "pins-kept-2"),
            cell(run, "demo"), cell(run, "report"), cell(run, "phantoms", "extract", "features-table", "train", "evaluate"),
            counts, f"{run.facts.get('seconds', 0) / 60:.1f} min",
        ])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def details(runs: list[Run], source: Path) -> str:
    """Resolved versions of the packages the module installs, step times, failed tests and why tests skipped."""
    names = sorted({requirement_name(line) for line in
                    module_requirement_lines(source) + library_requirement_lines(source) + test_tool_lines(source)}
                   | {"pywavelets", "pykwalify", "pyparsing"})
    lines = ["", "Resolved versions:", "", "| package | " + " | ".join(run.slicer.version for run in runs) + " |",
             "|---|" + "---|" * len(runs)]
    lines += [f"| {name} | " + " | ".join(run.versions.get(name, "–") for run in runs) + " |" for name in names]
    lines += ["", "Step times (s):", ""]
    for run in runs:
        lines.append(f"- {run.slicer.version}: " + ", ".join(f"{step.name} {step.seconds:.0f}" for step in run.steps)
                     + (f"; demo P(T3–T4) = {run.facts['demo_probability_high']}"
                        if run.facts.get("demo_probability_high") is not None else ""))
        for failed in (run.facts.get("tests") or {}).get("failed_ids", []):
            lines.append(f"  - failed: {failed}")
        for reason, count in (run.facts.get("tests") or {}).get("skip_reasons", {}).items():
            lines.append(f"  - skipped ({count}): {reason}")
        for test, reason in {**IGNORED, **DESELECTED, **run.slicer.known_limits}.items():
            lines.append(f"  - not run: {test} ({reason})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated Slicer versions (default: " +
                        ",".join(slicer.version for slicer in SLICERS) + ")")
    parser.add_argument("--skip-tests", action="store_true", help="install, demo, report and the CLI only")
    parser.add_argument("--tests", nargs="+", help=f"test paths (default: {' '.join(DEFAULT_TESTS)})")
    parser.add_argument("--commit", help="test this commit (git archive) instead of the working tree")
    arguments = parser.parse_args(argv)
    # Started in the background by a shell, SIGINT is ignored and every child inherits that: the test that stops
    # `predict` with Ctrl-C needs the default back (a handler is reset to the default across exec; "ignored" is not).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    wanted = arguments.only.split(",") if arguments.only else [slicer.version for slicer in SLICERS]
    unknown = set(wanted) - {slicer.version for slicer in SLICERS}
    if unknown:
        parser.error(f"unknown Slicer version(s): {', '.join(sorted(unknown))}")
    source = export_commit(arguments.commit) if arguments.commit else REPO_ROOT
    tested = (f"commit {(source / 'COMMIT').read_text().strip()}" if arguments.commit else
              "the working tree at " + subprocess.run(["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
                                                      capture_output=True, text=True).stdout.strip())
    started, date = time.perf_counter(), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    runs = [build(slicer, source, [] if arguments.skip_tests else arguments.tests) for slicer in SLICERS
            if slicer.version in wanted]
    total = time.perf_counter() - started
    text = (f"{date}, {tested}, {os.cpu_count()} CPUs\n\n" + table(runs) + "\n" + details(runs, source)
            + f"\n\nTotal: {total / 60:.1f} min\n")
    print("\n" + text)
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    (BUILD_DIR / "results.md").write_text(text)
    (BUILD_DIR / "results.json").write_text(json.dumps(
        [{"slicer": run.slicer.version, "steps": [step.__dict__ for step in run.steps], "versions": run.versions,
          "facts": run.facts} for run in runs], indent=2, default=str))
    failed = any(not step.ok for run in runs for step in run.steps) or any(
        (run.facts.get("tests") or {}).get("failures", 0) + (run.facts.get("tests") or {}).get("errors", 0)
        for run in runs)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

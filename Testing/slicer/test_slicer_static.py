"""Static checks of the Slicer extension: what would only break inside Slicer or once installed from the
Extensions Manager, checked without Slicer."""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import struct
import subprocess
import sys
import typing
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from CCRCCStagingLib.core.privacy import PLACEHOLDER
from conftest import packages_distributions, stdlib_module_names  # Python 3.9 has neither
from slicer_harness import MODULE_FILE, REPO_ROOT, moduleNames

HELPERS_DIR = MODULE_FILE.parent / "CCRCCStagingHelpers"
UI_FILE = REPO_ROOT / "CCRCCStaging" / "Resources" / "UI" / "CCRCCStaging.ui"
REQUIREMENTS_FILE = REPO_ROOT / "CCRCCStaging" / "Resources" / "requirements.txt"
# Packages Slicer ships in its own Python (never to be replaced by pip), and the one SlicerRadiomics provides.
SLICER_PACKAGES = {"numpy", "scipy", "simpleitk", "vtk"}
SLICER_RADIOMICS_PACKAGES = {"pyradiomics", "pyradiomics-bhklab"}


@pytest.fixture(scope="module")
def ccrcc():
    return moduleNames()


#
# The module file
#


def test_moduleImportsQuicklyWithoutSlicerOnlyModules():
    probe = f"""
import importlib.util, json, sys, time
for name in ("slicer", "qt", "ctk", "vtk", "vtkmodules", "SampleData"):
    sys.modules[name] = None  # import of these now raises ImportError, as outside Slicer
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("CCRCCStaging", {str(MODULE_FILE)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({{
    "seconds": time.perf_counter() - start,
    "inSlicerApp": module.IN_SLICER_APP,
    "classes": [name for name in ("CCRCCStaging", "CCRCCStagingParameterNode", "CCRCCStagingWidget",
                                  "CCRCCStagingLogic", "CCRCCStagingTest") if hasattr(module, name)],
    "heavy": sorted(set(sys.modules) & {{"numpy", "SimpleITK", "scipy", "sklearn", "radiomics"}}),
    "library": sorted(name for name in sys.modules if name.startswith("CCRCCStagingLib")),
}}))
"""
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["inSlicerApp"] is False
    assert len(report["classes"]) == 5
    assert report["heavy"] == []  # the library's dependencies load in the CLI's process, not Slicer's
    # Of the library only the standard-library modules the panel reads results with: the schema, palette, privacy.
    assert report["library"] == ["CCRCCStagingLib", "CCRCCStagingLib.core", "CCRCCStagingLib.core.errors",
                                 "CCRCCStagingLib.core.files", "CCRCCStagingLib.core.palette",
                                 "CCRCCStagingLib.core.privacy", "CCRCCStagingLib.core.schema"]
    assert report["seconds"] < 0.5


def test_theModuleFileIsAThinShell():
    # What Slicer looks for, and nothing else: the work is in the helpers package.
    tree = ast.parse(MODULE_FILE.read_text())
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert classes == {"CCRCCStaging", "CCRCCStagingWidget", "CCRCCStagingTest"}
    assert functions == {"registerSampleData"}
    assert len(MODULE_FILE.read_text().splitlines()) <= 200
    for path in HELPERS_DIR.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 600, path.name


def _methods(path, className):
    tree = ast.parse(path.read_text())
    classNode = next(node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == className)
    return {node.name: node for node in classNode.body if isinstance(node, ast.FunctionDef)}


def _calledAttributes(function):
    return {node.func.attr for node in ast.walk(function)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)}


def test_slicerRunsEveryTestOfTheSelfTest():
    assert "runAll" in _calledAttributes(_methods(MODULE_FILE, "CCRCCStagingTest")["runTest"])
    methods = _methods(HELPERS_DIR / "selfTest.py", "SelfTest")
    tests = {name for name in methods if name.startswith("test_")}
    assert tests and tests <= _calledAttributes(methods["runAll"])


#
# The .ui file and the parameter node
#


def uiWidgets():
    root = ElementTree.parse(UI_FILE).getroot()
    return {widget.get("name"): widget for widget in root.iter("widget")}


def parameterName(widget):
    for prop in widget.findall("property"):
        if prop.get("name") == "SlicerParameterName":
            return prop.findtext("string")
    return None


def test_everyWidgetTheCodeUsesIsInTheUi():
    sources = [MODULE_FILE, *HELPERS_DIR.glob("*.py")]
    used = {name for path in sources for name in re.findall(r"\bui\.(\w+)", path.read_text())}
    assert used, "the module uses no widget?"
    assert used - set(uiWidgets()) == set()


def test_everyBoundWidgetHasAParameterOfAMatchingType(ccrcc):
    hints = ccrcc.CCRCCStagingParameterNode.__annotations__

    def baseType(name):
        hint = hints[name]
        return typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint

    # What parameterNodeWrapper's GUI connectors accept for each widget class used in the .ui.
    accepts = {
        "qMRMLNodeComboBox": lambda name: "vtkMRML" in str(hints[name]),
        "QDoubleSpinBox": lambda name: baseType(name) is float,
        "QCheckBox": lambda name: baseType(name) is bool,
        # A combo box needs the Choice annotation (outside Slicer: its list of choices).
        "QComboBox": lambda name: baseType(name) is str and typing.get_origin(hints[name]) is typing.Annotated,
    }
    bound = {name: widget.get("class") for widget in uiWidgets().values() if (name := parameterName(widget))}
    # Margin and habitats are synced by hand: with a model they show the model's values, read-only.
    assert set(bound) == {"inputVolume", "showHabitats", "reportIncludeIdentifiers"}
    for name, widgetClass in bound.items():
        assert name in hints, name
        assert accepts[widgetClass](name), (name, widgetClass, hints[name])


def comboBoxItems(name):
    return [item.findtext("property/string") for item in uiWidgets()[name].findall("item")]


def test_comboBoxesSyncedByHandListTheParameterChoices(ccrcc):
    # The model combo box's rows are MODEL_CHOICES in order (shown as words); the habitats' are the choices.
    assert len(comboBoxItems("modelComboBox")) == len(ccrcc.MODEL_CHOICES) == 3
    assert ccrcc.MODEL_CHOICES[0] == ccrcc.CCRCCStagingParameterNode.modelChoice == ccrcc.MODEL_BUNDLED
    assert comboBoxItems("habitatsComboBox") == list(ccrcc.HABITAT_CHOICES)
    hints = ccrcc.CCRCCStagingParameterNode.__annotations__
    assert typing.get_args(hints["habitats"])[1] == list(ccrcc.HABITAT_CHOICES)
    assert typing.get_args(hints["modelChoice"])[1] == list(ccrcc.MODEL_CHOICES)


def test_whatTheLogicWritesIsDeclaredInTheParameterNode(ccrcc):
    declared = ccrcc.CCRCCStagingParameterNode.__annotations__
    assert {ccrcc.RESULT_PARAMETER, ccrcc.FEATURE_TABLE_PARAMETER} <= set(declared)


#
# CMake: every file listed, so that it is there once installed
#


def cmakeListedFiles(cmakeFile: Path) -> set[Path]:
    """Files named in MODULE_PYTHON_SCRIPTS and MODULE_PYTHON_RESOURCES, resolved like CMake does."""
    text = re.sub(r"#.*", "", cmakeFile.read_text())
    moduleName = re.search(r"set\(\s*MODULE_NAME\s+(\S+)\s*\)", text).group(1)
    listed = set()
    for block in re.findall(r"set\(\s*MODULE_PYTHON_(?:SCRIPTS|RESOURCES)\s+([^)]*)\)", text):
        for entry in block.split():
            listed.add((cmakeFile.parent / entry.replace("${MODULE_NAME}", moduleName)).resolve())
    return listed


#: Documentation images (README, extension metadata by URL): in the repository, not installed with the extension.
NOT_INSTALLED = (REPO_ROOT / "Resources" / "Screenshots",)


def filesUnder(folder: Path) -> set[Path]:
    return {path.resolve() for path in folder.rglob("*")
            if path.is_file() and path.name != "CMakeLists.txt" and "__pycache__" not in path.parts
            and not any(path.is_relative_to(excluded) for excluded in NOT_INSTALLED)}


def unlisted(cmakeFile: Path, *folders: Path) -> list[str]:
    listed = cmakeListedFiles(cmakeFile)
    return sorted(str(path.relative_to(REPO_ROOT.resolve())) if path.is_relative_to(REPO_ROOT.resolve()) else str(path)
                  for folder in folders for path in filesUnder(folder) - listed)


def test_theListingCheckFindsAnUnlistedFile(tmp_path):
    (tmp_path / "Lib").mkdir()
    for name in ("__init__.py", "a.py", "b.py"):
        (tmp_path / "Lib" / name).write_text("")
    (tmp_path / "Lib" / "CMakeLists.txt").write_text(
        "set(MODULE_NAME Lib)\nset(MODULE_PYTHON_SCRIPTS\n  __init__.py\n  a.py # b.py\n  )\n")
    assert [Path(path).name for path in unlisted(tmp_path / "Lib" / "CMakeLists.txt", tmp_path / "Lib")] == ["b.py"]


@pytest.mark.parametrize("cmakeFile, folders", [
    ("CCRCCStaging/CMakeLists.txt", ["CCRCCStaging"]),
    # The library's CMakeLists also installs the repository's Resources/ (parameters, model, sample case).
    ("CCRCCStagingLib/CMakeLists.txt", ["CCRCCStagingLib", "Resources"]),
])
def test_everyFileIsListedInCMake(cmakeFile, folders):
    missing = unlisted(REPO_ROOT / cmakeFile, *(REPO_ROOT / folder for folder in folders))
    assert missing == [], f"add to {cmakeFile}: {missing}"


@pytest.mark.parametrize("cmakeFile", ["CCRCCStaging/CMakeLists.txt", "CCRCCStagingLib/CMakeLists.txt"])
def test_everyFileListedInCMakeExists(cmakeFile):
    assert sorted(str(path) for path in cmakeListedFiles(REPO_ROOT / cmakeFile) if not path.is_file()) == []


def test_rootCMakeListsDeclaresTheExtension():
    text = (REPO_ROOT / "CMakeLists.txt").read_text()
    subdirectories = set(re.findall(r"add_subdirectory\((\w+)\)", text))
    assert subdirectories == {path.parent.name for path in REPO_ROOT.glob("*/CMakeLists.txt")}
    assert re.search(r'set\(EXTENSION_CATEGORY "Quantification"\)', text)
    assert "SlicerRadiomics" in re.search(r"set\(EXTENSION_DEPENDS ([^)]*)\)", text).group(1).split()
    for variable in ("HOMEPAGE", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS"):
        assert re.search(rf"set\(EXTENSION_{variable} \S", text), variable


def test_theExtensionsIconAndScreenshotsAreInTheRepository():
    # The Extensions Manager shows them from these URLs: each must name a file committed at that path.
    text = (REPO_ROOT / "CMakeLists.txt").read_text()
    homepage = re.search(r'set\(EXTENSION_HOMEPAGE "([^"]+)"\)', text).group(1)
    urls = [url.replace("${EXTENSION_HOMEPAGE}", homepage)
            for variable in ("ICONURL", "SCREENSHOTURLS")
            for url in re.search(rf'set\(EXTENSION_{variable} "([^"]+)"\)', text).group(1).split()]
    prefix = f"{homepage}/raw/main/"
    assert urls and all(url.startswith(prefix) for url in urls), urls
    assert [url for url in urls if not (REPO_ROOT / url[len(prefix):]).is_file()] == []


def test_noPythonFileInTheRepositoryRoot():
    # Slicer may take a .py beside the module folders for a module of its own.
    assert sorted(path.name for path in REPO_ROOT.glob("*.py")) == []


def test_theModuleFolderHoldsOnlyTheModuleAsTopLevelPython():
    # Installed, every top-level .py of the module folder is a module candidate: helpers live in a package.
    assert sorted(path.name for path in MODULE_FILE.parent.glob("*.py")) == ["CCRCCStaging.py"]


def test_theModulesCopiesOfLibraryNamesMatchTheLibrary(ccrcc):
    # The module loads only the library's light core (schema, palette, privacy) into Slicer's process; the names it
    # repeats from the rest must stay in step.
    from CCRCCStagingLib.core.files import ANALYSIS_FILES, REPORT_HTML_FILE, REPORT_PDF_FILE
    from CCRCCStagingLib.core.settings import BUNDLED_MODEL_DIR

    assert ccrcc.BUNDLED_MODEL_ID == BUNDLED_MODEL_DIR.name
    assert ccrcc.bundledModelDir().resolve() == BUNDLED_MODEL_DIR.resolve()
    assert ccrcc.reportFiles.ANALYSIS_FILES == ANALYSIS_FILES
    assert ccrcc.reportFiles.REPORT_FORMATS == {"html": REPORT_HTML_FILE, "pdf": REPORT_PDF_FILE}


def test_iconIsA128PixelPng():
    data = (REPO_ROOT / "CCRCCStaging" / "Resources" / "Icons" / "CCRCCStaging.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (128, 128)


#
# Python dependencies inside Slicer
#


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirementName(requirement: str) -> str:
    return normalized(re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0])


def moduleRequirements() -> list[str]:
    lines = (line.split("#")[0].strip() for line in REQUIREMENTS_FILE.read_text().splitlines())
    return [line for line in lines if line]


def test_requirementsNeverReplaceSlicerPackagesAndMatchPyproject():
    # tomllib is Python >= 3.11's; the test runs on Slicer 5.6/5.8's Python 3.9 too (make test-slicer-pythons).
    tomllib = pytest.importorskip("tomllib", reason="tomllib (to read pyproject.toml) needs Python >= 3.11")
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    def byName(specs):  # a name may have several lines, one per environment marker (Python 3.9 / 3.10+)
        grouped = {}
        for spec in specs:
            grouped.setdefault(requirementName(spec), set()).add(spec.replace(" ", ""))
        return grouped

    projectSpecs = byName(pyproject["project"]["dependencies"])
    for name, specs in byName(moduleRequirements()).items():
        assert name not in SLICER_PACKAGES | SLICER_RADIOMICS_PACKAGES, specs
        assert projectSpecs.get(name) == specs, f"{sorted(specs)} differs from pyproject.toml"


#: Reached from the analyze/report commands but never run by the module: the DICOM SEG export (``--dicom-seg``; the
#: module's Export report does not ask for it, and Slicer exports segmentations as DICOM SEG itself).
#: And reading a DICOM RTSTRUCT or SEG as the mask (the module always hands over the segment as NRRD; pydicom is
#: imported only once a mask file turns out to be DICOM).
NOT_RUN_BY_THE_MODULE = {"CCRCCStagingLib.reports.dicom_seg", "CCRCCStagingLib.case.dicom_mask_files",
                         "CCRCCStagingLib.case.dicom_seg_mask", "CCRCCStagingLib.case.rtstruct"}
#: Third-party imports inside functions the module's commands never reach: dask only for ``extract --scheduler``
#: (core.processes.run_parallel, shared with predict).
OPTIONAL_FOR_THE_MODULE = {"dask"}


def analyzeImports() -> set[str]:
    """Top-level names of the third-party modules that ``ccrcc-staging analyze`` and ``report`` can import: the
    imports of the module holding the ``analyze`` and ``report`` commands (commands/analyze.py, every import at any
    depth, including those inside functions), followed through the library's modules."""
    libraryDir = REPO_ROOT / "CCRCCStagingLib"
    start = "CCRCCStagingLib.commands.analyze"
    pending, seen, thirdParty = [start], {start}, set()
    while pending:
        moduleName = pending.pop()
        path = _moduleFile(libraryDir, moduleName)
        package = moduleName if path.name == "__init__.py" else moduleName.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                thirdParty.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                thirdParty.add(node.module.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in NOT_RUN_BY_THE_MODULE:
                    continue
                if _moduleFile(libraryDir, target) is not None and target not in seen:
                    seen.add(target)
                    pending.append(target)
    return {name for name in thirdParty
            if name not in stdlib_module_names() | OPTIONAL_FOR_THE_MODULE and name != "CCRCCStagingLib"}


def _moduleFile(libraryDir: Path, moduleName: str) -> Path | None:
    """The file of a library module (``CCRCCStagingLib.case.pipeline`` → case/pipeline.py, packages → __init__.py)."""
    relative = Path(*moduleName.split(".")[1:])
    for candidate in (libraryDir / relative.with_suffix(".py"), libraryDir / relative / "__init__.py"):
        if moduleName != "CCRCCStagingLib" and candidate.is_file():
            return candidate
    return None


def installedWithDependencies(names: set[str]) -> set[str]:
    """The distributions ``names`` and everything they require (from the installed metadata)."""
    closure, pending = set(), list(names)
    while pending:
        name = pending.pop()
        if name in closure:
            continue
        closure.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        pending.extend(requirementName(spec) for spec in requires if "extra ==" not in spec)
    return closure


def test_requirementsCoverWhatTheAnalysisImports():
    distributions = packages_distributions()  # importlib.metadata's needs Python >= 3.10
    available = installedWithDependencies({requirementName(line) for line in moduleRequirements()}) | SLICER_PACKAGES
    imported = analyzeImports()
    assert {"numpy", "SimpleITK", "radiomics"} <= imported  # the walk does reach the pipeline
    missing = {module: distributions.get(module) for module in imported
               if not {normalized(name) for name in distributions.get(module, [module])}
               & (available | SLICER_RADIOMICS_PACKAGES)}
    assert missing == {}, f"add to CCRCCStaging/Resources/requirements.txt: {missing}"


#
# Results panel and CLI output, without Slicer
#


RESULT_WITHOUT_MODEL = {
    "regions": {"whole": {"voxels": 1000, "volume_ml": 1.0}, "peri": {"voxels": 900, "volume_ml": 0.9, "label": 10},
                "sub2": {"voxels": 400, "volume_ml": 0.4, "label": 2}, "sub1": {"voxels": 600, "volume_ml": 0.6, "label": 1}},
    "habitats_k": 2, "bic": {"2": 1.0}, "warnings": [], "settings": {"margin_mm": 3.0},
}
PREDICTION = {"t_stage_group": "high", "probability_high": 0.723, "threshold": 0.5, "radscore": 0.31,
              "radscore_cutoff": 0.12, "risk_group": "high",
              "model": {"id": "demo", "sha256": "0" * 64, "training_data": "synthetic", "intended_use": "demo",
                        "demonstration": True}}


def test_resultWithoutModelShowsNoPrediction(ccrcc):
    summary = ccrcc.resultSummary(RESULT_WITHOUT_MODEL)
    assert summary["tStage"] is None and summary["radscore"] is None and summary["notice"] is None
    assert summary["model"] is None
    assert summary["noPrediction"] == "No prediction: this result was computed without a model."
    assert summary["habitats"] == "2"
    assert summary["volumes"] == "Tumour 1.00 mL, Habitat 1 0.60 mL, Habitat 2 0.40 mL, Peritumoral 3 mm 0.90 mL"
    assert summary["warnings"] is None


def test_resultWithModelShowsPredictionAndTheDemonstrationNotice(ccrcc):
    summary = ccrcc.resultSummary({**RESULT_WITHOUT_MODEL, **PREDICTION, "warnings": ["far from training data"]})
    assert summary["tStage"] == "T3–T4 (P(T3–T4) = 0.72, threshold 0.50)"
    assert summary["radscore"] == "0.310 (cutoff 0.120): high-risk group"
    assert summary["notice"] == "Demonstration model, not for clinical use."
    assert summary["warnings"] == "far from training data"
    assert summary["model"] == "demo (SHA-256 000000000000…)" and summary["noPrediction"] is None
    ownModel = {**PREDICTION["model"], "demonstration": False}
    assert ccrcc.resultSummary({**RESULT_WITHOUT_MODEL, **PREDICTION, "model": ownModel})["notice"] is None


def test_aWithheldPredictionShowsWhyAndKeepsTheNotice(ccrcc):
    withheld = {**RESULT_WITHOUT_MODEL, "model": PREDICTION["model"], "prediction_withheld": "a feature is missing"}
    summary = ccrcc.resultSummary(withheld)
    assert summary["noPrediction"] == "Prediction withheld: a feature is missing"
    assert summary["tStage"] is None and summary["radscore"] is None
    assert summary["notice"] == "Demonstration model, not for clinical use."


def test_theModelsRegionSettingsAreReadFromItsDescription(ccrcc, tmp_path):
    modelJson = {"id": "mine", "extraction_settings": {"margin_mm": 5.0, "habitats": {"k": None}},
                 "card": {"demonstration": False}}
    (tmp_path / "model.json").write_text(json.dumps(modelJson))
    info = ccrcc.readModelInfo(tmp_path)
    assert (info.id, info.marginMm, info.habitats, info.demonstration) == ("mine", 5.0, "auto", False)
    modelJson["extraction_settings"]["habitats"]["k"] = 2
    (tmp_path / "model.json").write_text(json.dumps(modelJson) + " ")  # another size: re-read, not cached
    assert ccrcc.readModelInfo(tmp_path).habitats == "2"
    with pytest.raises(ccrcc.AnalysisError, match="holds no model.json"):
        ccrcc.readModelInfo(tmp_path / "elsewhere")
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ccrcc.AnalysisError, match="cannot be read"):
        ccrcc.readModelInfo(tmp_path)


def test_anExportWithoutIdentifiersLeavesTheCaseNameOutEverywhere(ccrcc):
    result = {**RESULT_WITHOUT_MODEL, "case_id": "Doe_Jane_CT",
              "inputs": {"image": "/tmp/CCRCCStaging-x/inputs/image/Doe_Jane_CT.nrrd", "mask": "/tmp/x/mask.nrrd",
                         "image_geometry": {"size": [1, 2, 3]}},
              "warnings": ["The mask /tmp/x/mask.nrrd of Doe_Jane_CT touches the image edge."]}
    exported = ccrcc.reportFiles.exportedResult(result, includeIdentifiers=False)
    assert "Doe_Jane" not in json.dumps(exported) and "/tmp/x" not in json.dumps(exported)
    assert exported["case_id"] == PLACEHOLDER and exported["regions"] == result["regions"]
    assert exported["inputs"]["image_geometry"] == result["inputs"]["image_geometry"]
    assert result["case_id"] == "Doe_Jane_CT"  # the original is left as it was
    assert ccrcc.reportFiles.exportedResult(result, includeIdentifiers=True) is result
    # The same case with and without a model is the same case; another CT is not.
    assert ccrcc.reportFiles.caseIdentity(result) == ccrcc.reportFiles.caseIdentity({**result, **PREDICTION})
    assert ccrcc.reportFiles.caseIdentity(result) != ccrcc.reportFiles.caseIdentity({**result, "case_id": "Other"})


def test_cliOutputGivesProgressAndTheErrorSentence(ccrcc):
    progress = []
    output = ccrcc.CliOutput(lambda *step: progress.append(step))
    for line in ("progress: 0.35 extracting features of sub1", "progress: 1.7 done",
                 "warning: the tumour touches the edge", "error: The mask is empty: draw the tumour first."):
        output.addLine(line)
    assert progress == [(0.35, "extracting features of sub1"), (1.0, "done")]
    assert str(output.failure(2)) == "The mask is empty: draw the tumour first."
    unexpected = str(output.failure(1))
    assert "exit code 1" in unexpected and "warning: the tumour touches the edge" in unexpected

    argparseStyle = ccrcc.CliOutput(None, task="report")
    argparseStyle.addLine("usage: ccrcc-staging analyze [-h] …")
    argparseStyle.addLine("ccrcc-staging analyze: error: unrecognized arguments: --model /x")
    assert str(argparseStyle.failure(2)) == "unrecognized arguments: --model /x"
    assert str(argparseStyle.failure(1)).startswith("The report stopped unexpectedly (exit code 1).")

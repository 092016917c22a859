"""Where the module's files are: the library folder, the bundled model, the sample case and the requirements (the
installed extension keeps ``CCRCCStagingLib/`` and ``Resources/`` beside the module folder, a source checkout one
level up)."""

import hashlib
from pathlib import Path

from . import AnalysisError
from .results import BUNDLED_MODEL_ID

MODULE_DIR = Path(__file__).resolve().parents[1]
#: The sample case shipped in Resources/Sample: (file name, SampleData file type, node name).
SAMPLE_FILES = (("ccrcc_sample_ct.nrrd", "VolumeFile", "CCRCC sample CT"),
                ("ccrcc_sample_tumour.seg.nrrd", "SegmentationFile", "CCRCC sample tumour"))
SAMPLE_NAME = "CCRCC sample"


def libraryRoot():
    """The folder holding ``CCRCCStagingLib/`` and the shared ``Resources/``."""
    for candidate in (MODULE_DIR, MODULE_DIR.parent):
        if (candidate / "CCRCCStagingLib" / "__init__.py").is_file():
            return candidate
    raise AnalysisError(f"CCRCCStagingLib was not found beside {MODULE_DIR}; reinstall the CCRCCStaging extension.")


def bundledModelDir():
    """The bundled demonstration model's folder (it may be absent from a build without it)."""
    return libraryRoot() / "Resources" / "Models" / BUNDLED_MODEL_ID


def requirementsPath():
    """The module's ``requirements.txt`` (what the library needs beyond Slicer's own packages)."""
    return MODULE_DIR / "Resources" / "requirements.txt"


def iconPath():
    return MODULE_DIR / "Resources" / "Icons" / "CCRCCStaging.png"


def sampleDataSource():
    """The keyword arguments of ``SampleData.SampleDataLogic.registerCustomSampleDataSource`` for the sample case,
    or None when its files are missing. Local files: SampleData copies them into its cache, and the checksums make
    it copy them again when an update of the extension ships different files under the same names."""
    sampleDir = libraryRoot() / "Resources" / "Sample"
    paths = [sampleDir / fileName for fileName, _fileType, _nodeName in SAMPLE_FILES]
    if not all(path.is_file() for path in paths):
        return None
    return dict(
        category="CCRCC Staging", sampleName=SAMPLE_NAME, thumbnailFileName=str(iconPath()),
        uris=[path.as_uri() for path in paths], fileNames=[path.name for path in paths],
        nodeNames=[nodeName for _fileName, _fileType, nodeName in SAMPLE_FILES],
        loadFileType=[fileType for _fileName, fileType, _nodeName in SAMPLE_FILES],
        checksums=["SHA256:" + hashlib.sha256(path.read_bytes()).hexdigest() for path in paths])

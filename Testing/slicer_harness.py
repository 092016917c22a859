"""Real MRML without the Slicer application, for testing the CCRCCStaging module's Logic.

Uses the ``slicer-core`` wheel (PyPI; 5.13.31053.0 when this was written): Slicer's MRML and module logics,
without Qt. Tests that need it skip with a reason when it is not installed. What works, found by trying:

- ``import slicer`` gives the wrapped C++ classes (``vtkMRMLScene``, ``vtkSlicerSegmentationsModuleLogic``,
  ``vtkOrientedImageData`` …) and ``slicer.util`` (Slicer's own util.py; its functions are also copied onto
  ``slicer``). There is no ``slicer.app``, ``slicer.mrmlScene``, ``slicer.modules``, ``qt``,
  ``slicer.ScriptedLoadableModule`` or ``slicer.parameterNodeWrapper``.
- A scene: ``vtkMRMLScene()`` and a ``vtkSlicerApplicationLogic`` given the scene (keep it referenced). Colour
  tables: ``appLogic.GetColorLogic().SetMRMLScene(scene)`` then ``AddDefaultColorNodes()``.
- Module logics: ``SetMRMLApplicationLogic(appLogic)``, ``SetMRMLScene(scene)``, then
  ``appLogic.SetModuleLogic(name, logic)``. The Segmentations logic must exist before any segment is made: it
  registers the converter rules (without it ``AddEmptySegment`` fails: "Unable to construct empty
  representation type 'Binary labelmap'"). The Volumes logic wants a ``vtkSlicerColorLogic`` registered as
  "Colors" (it refuses a plain ``vtkMRMLColorLogic``); registered without a scene, the Slicer colour logic does
  not look for colour files it cannot find here.
- With ``slicer.mrmlScene`` and ``slicer.modules.<name>.logic()`` set by hand, these ``slicer.util`` helpers
  work: ``addVolumeFromArray``, ``updateVolumeFromArray``, ``arrayFromVolume``, ``NodeModify``,
  ``arrayFromSegmentBinaryLabelmap`` (exports through a temporary labelmap node that it removes again),
  ``updateSegmentBinaryLabelmapFromArray``. Whatever needs ``slicer.app`` does not (``loadVolume``,
  ``saveNode``, the module and GUI helpers).
- Segmentations: call ``SetSourceRepresentationToBinaryLabelmap()`` (the deprecated Master variant silently
  switches to closed surface and writes a broken ``.seg.nrrd``). ``ExportSegmentsToLabelmapNode`` adds a
  colour table node to the scene as a side effect; ``GenerateMergedLabelmapInReferenceGeometry`` does not.
- Files: ``vtkMRMLVolumeArchetypeStorageNode`` reads and writes NRRD, also for nodes outside the scene;
  ``vtkMRMLSegmentationStorageNode`` writes ``.seg.nrrd``.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
MODULE_FILE = REPO_ROOT / "CCRCCStaging" / "CCRCCStaging.py"
#: A stand-in for CTK's AppLauncher (PythonSlicer): ``[sys.executable, LAUNCHER_STANDIN, …python arguments]``.
LAUNCHER_STANDIN = Path(__file__).resolve().parent / "slicer" / "launcher_standin.py"
# The module's helpers package, importable as Slicer makes it (its module folder is on sys.path).
if str(MODULE_FILE.parent) not in sys.path:
    sys.path.insert(0, str(MODULE_FILE.parent))


def requireSlicerCore():
    """``slicer`` from the slicer-core wheel, or skip the calling test with the reason."""
    try:
        import slicer
    except ImportError:
        pytest.skip("slicer-core is not installed (pip install slicer-core): Slicer's MRML is needed for these tests")
    if not hasattr(slicer, "vtkMRMLScene"):
        pytest.skip(f"the importable 'slicer' ({slicer.__file__}) is not slicer-core's")
    return slicer


def loadModule(name="CCRCCStaging"):
    """The module file imported as Slicer would, by path (it is not in a package)."""
    spec = importlib.util.spec_from_file_location(name, MODULE_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def moduleNames():
    """The module file and the public names of its helpers in one namespace, as the tests use them (``reportFiles``
    is the export helper, ``logicModule`` the Logic's module, ``module`` the module file itself)."""
    module = loadModule()
    from CCRCCStagingHelpers import background, batch, export, logic, panel, resources, results, runner, segments, worker

    names = {}
    for part in (results, resources, runner, worker, segments, background, batch, panel, logic):
        names.update({name: value for name, value in vars(part).items() if not name.startswith("_")})
    names.update(module=module, reportFiles=export, logicModule=logic, AnalysisError=module.AnalysisError,
                 ReportExistsError=module.ReportExistsError)
    return types.SimpleNamespace(**names)


class MrmlApplication:
    """A scene with the application logic and the Volumes, Colors and Segmentations logics registered, made
    the ``slicer.mrmlScene`` / ``slicer.modules`` that Slicer code uses. ``close()`` undoes that."""

    def __init__(self):
        slicer = requireSlicerCore()
        self.scene = slicer.vtkMRMLScene()
        self.applicationLogic = slicer.vtkSlicerApplicationLogic()
        self.applicationLogic.SetMRMLScene(self.scene)
        self.applicationLogic.GetColorLogic().SetMRMLScene(self.scene)
        self.applicationLogic.GetColorLogic().AddDefaultColorNodes()

        colorLogic = slicer.vtkSlicerColorLogic()
        colorLogic.SetMRMLApplicationLogic(self.applicationLogic)
        self.applicationLogic.SetModuleLogic("Colors", colorLogic)
        self.logics = {"colors": colorLogic}
        for name, logic in (("volumes", slicer.vtkSlicerVolumesLogic()),
                            ("segmentations", slicer.vtkSlicerSegmentationsModuleLogic())):
            logic.SetMRMLApplicationLogic(self.applicationLogic)
            logic.SetMRMLScene(self.scene)
            self.applicationLogic.SetModuleLogic(name.capitalize(), logic)
            self.logics[name] = logic

        slicer.mrmlScene = self.scene
        slicer.modules = types.SimpleNamespace(**{
            name: types.SimpleNamespace(logic=lambda logic=logic: logic) for name, logic in self.logics.items()})

    def close(self):
        import slicer

        self.scene.Clear(True)
        del slicer.mrmlScene, slicer.modules


def ijkToRasMatrix(spacing, origin, rotationDegrees):
    """A vtkMatrix4x4 for an oblique, anisotropic grid: rotations about R, A, S (degrees), then spacing."""
    import vtk

    transform = vtk.vtkTransform()
    transform.Translate(*origin)
    transform.RotateZ(rotationDegrees[2])
    transform.RotateY(rotationDegrees[1])
    transform.RotateX(rotationDegrees[0])
    transform.Scale(*spacing)
    return transform.GetMatrix()


def phantomCase(shape=(14, 26, 26), seed=0):
    """A CT-like array (HU, k-j-i order) with an ellipsoidal two-part tumour, and the tumour mask.

    Sized for 0.7 x 0.8 x 2.5 mm voxels: a tumour of about 1 mL with room for a 3 mm shell inside the grid."""
    rng = np.random.default_rng(seed)
    k, j, i = np.mgrid[: shape[0], : shape[1], : shape[2]]
    centre = np.array(shape) / 2
    mask = (((k - centre[0]) * 2.5 / 6) ** 2 + ((j - centre[1]) * 0.8 / 6) ** 2
            + ((i - centre[2]) * 0.7 / 6) ** 2) < 1
    image = rng.normal(40, 12, shape)
    image[mask] += np.where(i[mask] > centre[2], 160, 90)
    return image.astype(np.int16), mask.astype(np.uint8)


def addCase(slicer, image, mask, ijkToRas, segmentName="Tumour"):
    """The CT volume and a segmentation (binary labelmap source) whose one segment is ``mask`` on the CT grid."""
    volumeNode = slicer.util.addVolumeFromArray(image, ijkToRas, "CT")
    segmentationNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Segmentation")
    segmentationNode.CreateDefaultDisplayNodes()
    segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
    segmentationNode.SetSourceRepresentationToBinaryLabelmap()
    segmentId = segmentationNode.GetSegmentation().AddEmptySegment("", segmentName)
    slicer.util.updateSegmentBinaryLabelmapFromArray(mask, segmentationNode, segmentId, volumeNode)
    return volumeNode, segmentationNode, segmentId


def sceneSnapshot(scene):
    """Node IDs and, per segmentation, segment IDs and names: what a cancelled or failed run must leave alone."""
    snapshot = {}
    for index in range(scene.GetNumberOfNodes()):
        node = scene.GetNthNode(index)
        segments = None
        if node.IsA("vtkMRMLSegmentationNode"):
            segmentation = node.GetSegmentation()
            segments = [(segmentId, segmentation.GetSegment(segmentId).GetName())
                        for segmentId in segmentation.GetSegmentIDs()]
        snapshot[node.GetID()] = segments
    return snapshot

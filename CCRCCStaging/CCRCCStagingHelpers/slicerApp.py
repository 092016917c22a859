"""What the helpers take from Slicer: MRML (the application's, or the ``slicer-core`` wheel's outside it) and, in the
application only, Qt and the scripted-module classes — stand-ins from :mod:`.outsideSlicer` otherwise.

Importing this module never fails: without MRML ``slicer`` and ``vtk`` are None (static checks with plain Python);
nothing that needs them runs then.
"""

try:  # MRML: the application's, or the slicer-core wheel's outside it
    import slicer
    import vtk
except ImportError:  # plain Python (static checks): nothing below runs without MRML
    slicer = vtk = None

try:  # the Slicer application
    import qt
    from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode, vtkMRMLTableNode
    from slicer.i18n import tr as _
    from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper
    from slicer.ScriptedLoadableModule import (
        ScriptedLoadableModule,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
    )
    from slicer.util import VTKObservationMixin

    IN_SLICER_APP = True
except ImportError:  # outside the application only the Logic is used
    IN_SLICER_APP = False
    qt = None
    from .outsideSlicer import (  # noqa: F401
        Choice,
        ScriptedLoadableModule,
        ScriptedLoadableModuleLogic,
        ScriptedLoadableModuleTest,
        ScriptedLoadableModuleWidget,
        VTKObservationMixin,
        WithinRange,
        _,
        parameterNodeWrapper,
        vtkMRMLScalarVolumeNode,
        vtkMRMLSegmentationNode,
        vtkMRMLTableNode,
    )

__all__ = [
    "IN_SLICER_APP", "Choice", "ScriptedLoadableModule", "ScriptedLoadableModuleLogic", "ScriptedLoadableModuleTest",
    "ScriptedLoadableModuleWidget", "VTKObservationMixin", "WithinRange", "_", "parameterNodeWrapper", "qt", "slicer",
    "vtk", "vtkMRMLScalarVolumeNode", "vtkMRMLSegmentationNode", "vtkMRMLTableNode",
]

"""Stand-ins for the Slicer application's classes, for when the module file is imported without it (static checks
with plain Python, and the Logic's tests on the ``slicer-core`` wheel's MRML).

They let the module's GUI classes be defined (never instantiated) and give the Logic the same parameter node as
Slicer's ``ScriptedLoadableModuleLogic`` would.
"""

vtkMRMLScalarVolumeNode = vtkMRMLSegmentationNode = vtkMRMLTableNode = "vtkMRMLNode"
VTKObservationMixin = object


def _(text):
    return text


def parameterNodeWrapper(classtype):
    return classtype


def Choice(choices):
    return choices


def WithinRange(minimum, maximum):
    return (minimum, maximum)


class ApplicationOnly:
    """Base of the module, widget and test classes, which are defined but used only in Slicer."""


ScriptedLoadableModule = ScriptedLoadableModuleWidget = ScriptedLoadableModuleTest = ApplicationOnly


class ScriptedLoadableModuleLogic:
    """What the Logic needs of Slicer's base class: the module's singleton parameter node."""

    def __init__(self):
        self.moduleName = type(self).__name__[: -len("Logic")]

    def getParameterNode(self):
        import slicer

        parameterNode = slicer.mrmlScene.GetSingletonNode(self.moduleName, "vtkMRMLScriptedModuleNode")
        if not parameterNode:
            parameterNode = slicer.mrmlScene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
            parameterNode.UnRegister(None)
            parameterNode.SetSingletonTag(self.moduleName)
            parameterNode.SetAttribute("ModuleName", self.moduleName)
            parameterNode.SetName(self.moduleName)
            parameterNode = slicer.mrmlScene.AddNode(parameterNode)
        return parameterNode

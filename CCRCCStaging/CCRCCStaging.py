"""CCRCC Staging: the 3D Slicer module of CCRCCStaging.

An adapter between MRML and the ``CCRCCStagingLib`` command line: it writes the CT and the radiologist's tumour
segment to a temporary folder, has the library analyse them in a warm worker process (``… cli serve``; so that
Slicer's window never freezes and later cases skip the imports), and turns the outputs back into segments, a table
and the parameter node; the report is rendered the same way. Everything scientific happens in the library.

This file holds what Slicer looks for: the module's description, the sample data, the widget (a thin shell around
the panel) and the test entry. The rest is in the ``CCRCCStagingHelpers`` package beside it: ``panel`` (widgets and
parameter node), ``logic`` (the Logic and its analysis task), ``segments`` (MRML in and out), ``background`` (runs
without a nested event loop; what Reload, scene close and quit do to a run), ``runner`` and ``worker`` (child
processes and the warm worker), ``batch`` and ``batchPanel`` (many cases), ``export``, ``results``, ``dependencies``,
``selfTest``.

The file imports without Slicer (only the standard library at import time) so that it can be checked by plain
Python, and its Logic runs on the ``slicer-core`` wheel's MRML outside the application (the tests).
"""

import logging
import os
import sys

# The helpers are found beside this file: Slicer puts its module folders on sys.path; plain Python (the tests,
# which load this file by path) may not.
_MODULE_DIR = os.path.dirname(os.path.abspath(__file__))
if _MODULE_DIR not in sys.path:
    sys.path.insert(0, _MODULE_DIR)

from CCRCCStagingHelpers import AnalysisError, ReportExistsError  # noqa: E402, F401 (for the console)
from CCRCCStagingHelpers.background import POLL_INTERVAL_MS, ModuleSession  # noqa: E402
from CCRCCStagingHelpers.logic import CCRCCStagingLogic  # noqa: E402
from CCRCCStagingHelpers.panel import CCRCCStagingPanel, CCRCCStagingParameterNode  # noqa: E402, F401
from CCRCCStagingHelpers.resources import requirementsPath, sampleDataSource  # noqa: E402
from CCRCCStagingHelpers.slicerApp import (  # noqa: E402, F401 (IN_SLICER_APP: whether this is the application)
    IN_SLICER_APP,
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
    VTKObservationMixin,
    _,
    qt,
    slicer,
)

CITATION = (
    "Huang J-L, Liu Q, Wang C-L, et al. CT-based subregional and peritumoral radiomics for predicting "
    "pathological T stage of clear cell renal cell carcinoma. Insights Imaging 2026;17:50. "
    "doi:10.1186/s13244-026-02226-3"
)
HELPERS_PACKAGE = "CCRCCStagingHelpers"


#
# CCRCCStaging
#


class CCRCCStaging(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("CCRCC Staging")
        self.parent.categories = ["Quantification"]
        self.parent.dependencies = []
        self.parent.contributors = ["CCRCCStaging developers"]
        self.parent.helpText = _(
            "Predicts the pathological T stage group (T1–T2 or T3–T4) of a clear cell renal cell carcinoma "
            "from a CT and the radiologist's tumour segmentation: the tumour is split into Gaussian-mixture "
            "habitats, a peritumoral shell is added, and radiomics features of these regions feed the model. "
            "The habitats and the shell are added as segments to the tumour's segmentation; Export report writes "
            "an HTML and PDF report of the case. The Batch section runs every case of a folder (or every CT and "
            "segmentation of the scene) one after another into a table, one row per case; a click on a row shows that "
            "case, and Export all reports writes the reports with a dashboard.<br><br>"
            "Method: {citation}<br><br><b>{notice}</b> The bundled model is a demonstration model trained on "
            "synthetic data; train your own with <code>ccrcc-staging train</code> and choose its folder as the "
            "model."
        ).format(citation=CITATION, notice="Research and demonstration use only, not for clinical use.")
        self.parent.acknowledgementText = _(
            "Implements the method of {citation}. Features are computed with PyRadiomics."
        ).format(citation=CITATION)
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """Register "CCRCC sample" (a CT and its tumour segmentation, shipped in Resources/Sample) with SampleData."""
    import SampleData

    source = sampleDataSource()
    if source is None:
        logging.warning("CCRCC sample data not found in the extension's Resources/Sample")
        return
    SampleData.SampleDataLogic.registerCustomSampleDataSource(**source)


#
# CCRCCStagingWidget
#


class CCRCCStagingWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = self.panel = self.session = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CCRCCStaging.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = CCRCCStagingLogic()
        # Runs end on the GUI thread through this timer: no nested event loop.
        self.pollTimer = qt.QTimer()
        self.pollTimer.setInterval(POLL_INTERVAL_MS)
        self.session = ModuleSession(self.logic, self.pollTimer)
        self.pollTimer.connect("timeout()", self.session.poll)
        self.panel = CCRCCStagingPanel(self.ui, self.logic, self.session, requirementsPath())

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        slicer.app.connect("aboutToQuit()", self.onAboutToQuit)
        self.panel.initializeParameterNode()

    def cleanup(self):
        """Reload and application exit: a run is cancelled and the warm worker stopped."""
        slicer.app.disconnect("aboutToQuit()", self.onAboutToQuit)
        if self.session:
            self.session.shutdown()
            self.pollTimer.stop()
        self.removeObservers()
        if self.panel:
            self.panel.setParameterNode(None)
            self.panel.removeObservers()
        if self.logic:
            self.logic.discardLastAnalysis()
            self.logic.discardBatch()

    def onReload(self):
        # Slicer's Reload re-executes this file only: the helpers are forgotten first, so that it imports their
        # current code (cleanup, which Reload calls, still runs the old objects).
        for name in [name for name in sys.modules if name == HELPERS_PACKAGE or name.startswith(HELPERS_PACKAGE + ".")]:
            del sys.modules[name]
        ScriptedLoadableModuleWidget.onReload(self)

    def enter(self):
        self.panel.initializeParameterNode()

    def exit(self):
        self.panel.setParameterNode(None)

    def onSceneStartClose(self, caller, event):
        self.session.onSceneStartClose()
        self.logic.discardBatch()
        self.panel.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.panel.initializeParameterNode()

    def onAboutToQuit(self):
        self.session.shutdown()


#
# CCRCCStagingTest
#


class CCRCCStagingTest(ScriptedLoadableModuleTest):
    """The whole flow on the sample data, in Slicer: Reload and Test, or
    ``Slicer --python-code "import CCRCCStaging; CCRCCStaging.CCRCCStagingTest().runTest()"``. The cases are in
    ``CCRCCStagingHelpers.selfTest``; in testing mode it installs the packages it needs beforehand, or says which
    tests it skipped and why."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        from CCRCCStagingHelpers.selfTest import SelfTest

        SelfTest(self).runAll()
        self.delayDisplay("Test passed")


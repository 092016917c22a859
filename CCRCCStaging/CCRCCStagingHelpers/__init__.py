"""The CCRCCStaging Slicer module's parts (the module file ``CCRCCStaging.py`` holds only what Slicer looks for):

- ``panel``: the parameter node and the panel's widgets and buttons (Slicer only);
- ``logic``: the Logic — the analysis and the report export on MRML nodes, as tasks;
- ``segments``: MRML in and out of the command line (inputs written, regions read back as tagged segments);
- ``background``: running a task without blocking Slicer or nesting an event loop, and what scene close, Reload and
  quit do to a run;
- ``runner``: child processes in a process group of their own, stopped with everything they started; the CLI's
  output read; ``worker``: the warm worker (``… cli serve``) and its client;
- ``batch``: many cases (a folder, or the scene's pairs) through ``predict``'s steps into a table node, a case shown
  again, all reports exported; ``batchPanel``: the panel's Batch section (Slicer only);
- ``export``: the report folder; ``results``: the panel's texts, segment names and colours, model folders;
- ``dependencies``: the version-aware dependency check and install; ``resources``: the module's files;
- ``selfTest``: the in-Slicer self-test; ``slicerApp`` / ``outsideSlicer``: Slicer's classes, or stand-ins.

A package inside the module folder, not top-level ``.py`` files beside ``CCRCCStaging.py``: Slicer takes every
top-level ``.py`` of its module folders for a module of its own. Only the standard library is imported here.
"""


class AnalysisError(Exception):
    """The analysis (or the report) could not be done. The message is a sentence for the user (the CLI's own for
    a user mistake)."""


class ReportExistsError(AnalysisError):
    """The chosen folder already holds the report of another case; export again with ``overwrite=True`` once the
    user agreed to replace it."""

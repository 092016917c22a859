"""Helpers of the CCRCCStaging Slicer module that need neither MRML nor Qt at import time: running the library's
command line in a child process (``runner``), reading its outputs for the panel (``results``) and preparing a
report folder (``export``).

A package inside the module folder, not a top-level ``.py`` beside ``CCRCCStaging.py``: Slicer takes every
top-level ``.py`` of its module folders for a module of its own. Only the standard library is imported here.
"""


class AnalysisError(Exception):
    """The analysis (or the report) could not be done. The message is a sentence for the user (the CLI's own for
    a user mistake)."""


class ReportExistsError(AnalysisError):
    """The chosen folder already holds the report of another case; export again with ``overwrite=True`` once the
    user agreed to replace it."""

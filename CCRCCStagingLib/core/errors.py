"""One exception type per kind of user mistake.

Every error a user can cause by what they give us derives from :class:`CCRCCStagingError`. Its message is a
sentence that says what is wrong and what to do; the CLI prints it on one line (exit code 2) and the Slicer
module shows the same sentence. Anything else that escapes is a bug in this project.
"""

from __future__ import annotations


class CCRCCStagingError(Exception):
    """Base of every foreseeable user mistake; the message is shown to the user as it is."""


class InputFileError(CCRCCStagingError):
    """An input file or folder is missing, unreadable, truncated or not an image."""


class ImageFormatError(CCRCCStagingError):
    """The image is readable but not a 3-D scalar volume (2-D, 4-D, RGB, …)."""


class MaskError(CCRCCStagingError):
    """The mask is empty, the chosen label or segment is absent, or it is ambiguous which one to use."""


class GeometryError(CCRCCStagingError):
    """Image and mask do not lie in the same physical space and cannot be aligned."""


class RegionError(CCRCCStagingError):
    """A region (shell, habitat) cannot be built or is too small for what was asked of it."""


class SettingsError(CCRCCStagingError):
    """A setting or parameter file is invalid."""


class ManifestError(CCRCCStagingError):
    """A cohort manifest is malformed (missing column, unknown T stage, unknown split, …)."""


class ModelBundleError(CCRCCStagingError):
    """A model folder is missing files, was tampered with, or comes from an incompatible version."""


class OutputError(CCRCCStagingError):
    """An output folder cannot be written, or already holds results that would be overwritten."""


class ExpressionDataError(CCRCCStagingError):
    """An expression table is unreadable, not genes × samples, or has too few usable genes."""


class SampleMatchError(CCRCCStagingError):
    """The Radscore table and the expression samples cannot be paired (bad table, too few matched cases)."""


class GeneSetError(CCRCCStagingError):
    """A gene-set (GMT) file is malformed, or its gene identifiers do not match the expression table's."""

"""Rendering, no science: :mod:`.kit` (the one style sheet, number format, figure format and atomic page write) and
:mod:`.kit_pdf` (its PDF side); the case report (:mod:`.case`), the training report (:mod:`.training`), the
radiogenomics report (:mod:`.radiogenomics`) and the DICOM SEG export (:mod:`.dicom_seg`), each reading what it
shows as plain data (the case result through :mod:`CCRCCStagingLib.core.schema`) and colouring it with
:mod:`CCRCCStagingLib.core.palette`."""

"""Rendering: the HTML/figure kit, the case report, the training and radiogenomics reports, DICOM SEG."""

"""The sample case shipped in ``Resources/Sample``: a generated phantom (never patient data), small on disk,
used by ``ccrcc-staging demo``, the Slicer module's sample data and the in-Slicer self-test.

It is made by a committed command, ``ccrcc-staging phantoms --sample --out Resources/Sample``."""

from __future__ import annotations

import json
from pathlib import Path

import SimpleITK as sitk

from ..case.loading import write_segmentation
from ..core.settings import RESOURCES_DIR
from .phantoms import make_phantom

SAMPLE_DIR = RESOURCES_DIR / "Sample"
CT_NAME = "ccrcc_sample_ct.nrrd"
SEGMENTATION_NAME = "ccrcc_sample_tumour.seg.nrrd"
SEGMENT_NAME = "Tumour"
#: The phantom drawn for the sample: a high-stage tumour on a small grid (about 1 MB compressed).
SAMPLE_RECIPE = {"stage": "high", "seed": 2026, "size": (128, 128, 64), "tumour_diameter_mm": 42.0}


def sample_paths(folder: Path = SAMPLE_DIR) -> tuple[Path, Path]:
    """The sample CT and its tumour segmentation."""
    return folder / CT_NAME, folder / SEGMENTATION_NAME


def write_sample_case(folder: Path = SAMPLE_DIR) -> tuple[Path, Path]:
    """Generate the sample case into ``folder`` (CT as NRRD, tumour as a Slicer .seg.nrrd, and its recipe)."""
    folder.mkdir(parents=True, exist_ok=True)
    phantom = make_phantom(**SAMPLE_RECIPE)
    ct_path, segmentation_path = sample_paths(folder)
    sitk.WriteImage(phantom.image, str(ct_path), useCompression=True)
    write_segmentation(phantom.mask, segmentation_path, SEGMENT_NAME, (0.85, 0.25, 0.2))
    recipe = {**SAMPLE_RECIPE, "t_stage": phantom.t_stage,
              "generator": "CCRCCStagingLib.synthetic.phantoms.make_phantom"}
    (folder / "ccrcc_sample_recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    return ct_path, segmentation_path

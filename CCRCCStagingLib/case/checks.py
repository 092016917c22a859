"""Checks of a loaded case that warn (the analysis goes on) or refuse (it cannot), each with a sentence that says
what is unusual and what it means for the result."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from ..core.errors import ImageFormatError

#: Slices at least this thick (mm) make the 1 mm resampling interpolate a lot between slices.
THICK_SLICE_MM = 5.0
#: A CT in Hounsfield units keeps most voxels in this range (air −1000 … dense bone/contrast ~3000).
HU_RANGE = (-1100.0, 4000.0)
#: Fewer tumour voxels than this at 1 mm leave too little for habitats and texture features.
MIN_TUMOUR_VOXELS = 64


def require_finite(image: sitk.Image, what: str) -> None:
    """Refuse images with NaN or infinite voxels (they would poison resampling and every feature)."""
    if image.GetPixelID() not in (sitk.sitkFloat32, sitk.sitkFloat64):
        return
    array = sitk.GetArrayViewFromImage(image)
    bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
    if bad:
        raise ImageFormatError(
            f"{what} has {bad} voxels that are NaN or infinite; export the CT again from the scanner or PACS."
        )


def slice_thickness_warning(image: sitk.Image) -> list[str]:
    thickest = max(image.GetSpacing())
    if thickest >= THICK_SLICE_MM:
        return [
            f"The CT has {thickest:.1f} mm voxels along one axis: resampling to 1 mm interpolates between thick "
            "slices, so texture features and the shell are less reliable than on thin-slice CT."
        ]
    return []


def intensity_warning(values: np.ndarray) -> list[str]:
    """Warn when intensities do not look like CT in Hounsfield units (MR, a normalised image, …)."""
    low, high = np.percentile(values, [1, 99])
    looks_normalised = high - low < 20
    outside = low < HU_RANGE[0] or high > HU_RANGE[1]
    # Around a kidney tumour a CT always shows fat (about −100 HU); an image without negative values is not HU.
    no_fat = low > -30
    if looks_normalised or outside or no_fat:
        return [
            f"The image intensities (1st–99th percentile {low:.3g} to {high:.3g}) do not look like CT in Hounsfield "
            "units; the model expects contrast-enhanced CT in HU, so its prediction is not meaningful for this image."
        ]
    return []


def component_warning(mask: sitk.Image) -> list[str]:
    """Several disconnected tumour parts are analysed as one VOI (as the paper does); say which."""
    components = sitk.ConnectedComponent(mask, True)
    stats = sitk.LabelShapeStatisticsImageFilter()
    stats.Execute(components)
    labels = stats.GetLabels()
    if len(labels) <= 1:
        return []
    volumes = sorted((stats.GetPhysicalSize(label) / 1000.0 for label in labels), reverse=True)
    listed = ", ".join(f"{v:.2f} mL" for v in volumes[:6]) + (" …" if len(volumes) > 6 else "")
    return [f"The tumour mask has {len(labels)} disconnected parts ({listed}); they are analysed together as one VOI."]


def small_tumour_warning(voxels: int) -> list[str]:
    if voxels < MIN_TUMOUR_VOXELS:
        return [
            f"The tumour has only {voxels} voxels at 1 mm (fewer than {MIN_TUMOUR_VOXELS}): habitats and texture "
            "features are unreliable, and some cannot be computed."
        ]
    return []

"""The obvious implementation, kept as the yardstick for exactness tests and benchmarks: resample the WHOLE CT to
the 1 mm grid, then PyRadiomics ``execute()`` per region on that whole volume with the project's parameter file."""

from __future__ import annotations

import numpy as np
import SimpleITK as sitk

from CCRCCStagingLib.pipeline import CaseRegions
from CCRCCStagingLib.regions import full_grid
from CCRCCStagingLib.settings import Settings


def whole_volume_resampled(image: sitk.Image, settings: Settings) -> sitk.Image:
    """The whole CT on the anchored 1 mm grid (B-spline, float32), as a whole-volume resampling gives it."""
    grid = full_grid(image, settings.resampled_spacing)
    return sitk.Resample(image, grid.empty_image(), sitk.Transform(), sitk.sitkBSpline, 0.0, sitk.sitkFloat32)


def region_on_whole_grid(whole: sitk.Image, regions: CaseRegions, region: np.ndarray) -> sitk.Image:
    """A region of the case's 1 mm box pasted into the whole 1 mm volume."""
    array = np.zeros(sitk.GetArrayViewFromImage(whole).shape, np.uint8)
    start = regions.box.offset[::-1]
    array[tuple(slice(o, o + n) for o, n in zip(start, region.shape))] = region
    mask = sitk.GetImageFromArray(array)
    mask.CopyInformation(whole)
    return mask


def reference_features(image: sitk.Image, regions: CaseRegions, settings: Settings) -> dict[str, float]:
    """``<region>_<feature>`` values from PyRadiomics ``execute()`` on the whole resampled CT, one call per region."""
    from radiomics.featureextractor import RadiomicsFeatureExtractor

    extractor = RadiomicsFeatureExtractor(dict(settings.pyradiomics_params()))  # the file's or a model's own
    whole = whole_volume_resampled(image, settings)
    values = {}
    for name, region in regions.masks().items():
        result = extractor.execute(whole, region_on_whole_grid(whole, regions, region))
        values.update({f"{name}_{k}": float(v) for k, v in result.items() if not k.startswith("diagnostics")})
    return values

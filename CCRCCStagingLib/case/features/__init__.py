"""PyRadiomics extraction for one case's regions, all features or only a requested list (targeted extraction).

Each region arrives as PyRadiomics' ``loadImage`` leaves it (:class:`resampling.RegionInput`: the CT on the region's
own PyRadiomics grid in its own pixel type, and the mask); :func:`extract_regions` then follows
``RadiomicsFeatureExtractor.execute`` step by step (check the mask, shape, filtered images, crop, feature classes)
with PyRadiomics' own building blocks, so its values are PyRadiomics' values — those of ``execute()`` on the CT file
and that region's mask. It is faster than one ``execute()`` per region in ways that do not change a value:

- given a list of feature names it builds only the filtered images and feature classes those names need (one LoG
  sigma, no wavelet at all, …);
- regions on the same grid (the same pixels) share their filtered images: a filtered image depends only on those
  pixels, so it is computed once for all of them;
- the feature classes computed on one filtered image of one region share its discretisation (:class:`BinningMemo`);
- the mesh-based shape coefficients (see :class:`MeshCoefficients`): PyRadiomics' C code compares every pair of
  mesh vertices for the maximum diameters (tens of seconds for a 9 cm tumour's shell and habitats); only the
  vertices that can be farthest apart are compared here, which gives the same maximum;
- optionally, the work is spread over worker processes (``workers``).

Tests hold it to ``execute()`` on files (``Testing/case/test_pyradiomics_equality.py``), to PyRadiomics' baseline CSVs
and to the IBSI reference values (``Testing/ibsi``).

Feature names are PyRadiomics' (``wavelet-LLH_glcm_Idmn``); with a region prefix they read
``peri_wavelet-LLH_glcm_Idmn`` (see :func:`region_feature_name`).
"""

from .extraction import extract, extract_as_pyradiomics, extract_regions
from .spec import (
    WORKERS_ENV,
    ExtractionSpec,
    FeatureRequest,
    build_request,
    default_workers,
    region_feature_name,
    split_region_feature_name,
)

__all__ = [
    "WORKERS_ENV",
    "ExtractionSpec",
    "FeatureRequest",
    "build_request",
    "default_workers",
    "extract",
    "extract_as_pyradiomics",
    "extract_regions",
    "region_feature_name",
    "split_region_feature_name",
]

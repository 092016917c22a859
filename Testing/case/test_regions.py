"""The 1 mm box and the peritumoral shell, checked against independent computations."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
from hypothesis import given, settings
from hypothesis import strategies as st

from CCRCCStagingLib.case.features import ExtractionSpec
from CCRCCStagingLib.case.regions import margin_voxels, peritumoral_shell, shell_missing_fraction
from CCRCCStagingLib.case.resampling import GridBox, RegionSampler
from CCRCCStagingLib.core.settings import Settings

PYRADIOMICS_SETTINGS = ExtractionSpec.from_params(Settings().pyradiomics_params()).settings


def _tumour_on_box(image: sitk.Image, mask: sitk.Image) -> tuple[GridBox, sitk.Image]:
    """The case's 1 mm box (shell + padding margin) and the tumour on it, as the pipeline builds them."""
    sampler = RegionSampler(image, mask, PYRADIOMICS_SETTINGS, "pyradiomics", margin_voxels(3.0, (1.0, 1.0, 1.0), 5))
    return sampler.box, sampler.box.put(sampler.tumour_on_box().astype(np.uint8))


def _oblique_direction(angle_degrees: float) -> tuple[float, ...]:
    """A rotation about the z axis, as a row-major 3×3 direction matrix."""
    angle = np.radians(angle_degrees)
    cos, sin = np.cos(angle), np.sin(angle)
    return (cos, -sin, 0.0, sin, cos, 0.0, 0.0, 0.0, 1.0)


def _blob_case(
    size_xyz=(60, 60, 16), spacing=(0.7, 0.7, 2.5), direction=None, centre_mm=(21.0, 20.0, 18.0), radius_mm=7.0
) -> tuple[sitk.Image, sitk.Image]:
    """A textured image and an irregular tumour mask on an anisotropic (optionally oblique) grid."""
    rng = np.random.default_rng(3)
    z, y, x = np.indices(size_xyz[::-1])
    physical = np.stack([x * spacing[0], y * spacing[1], z * spacing[2]], axis=-1)
    distance = np.linalg.norm(physical - np.array(centre_mm), axis=-1)
    wobble = 1.5 * np.sin(physical[..., 0] / 2.0) * np.cos(physical[..., 1] / 3.0)
    tumour = distance + wobble < radius_mm
    values = 40 + 80 * tumour + 30 * np.sin(physical[..., 0]) + rng.normal(0, 10, tumour.shape)
    image = sitk.GetImageFromArray(values.astype(np.int16))
    image.SetSpacing(spacing)
    image.SetOrigin((-12.5, 40.25, 101.0))
    if direction is not None:
        image.SetDirection(direction)
    mask = sitk.GetImageFromArray(tumour.astype(np.uint8))
    mask.CopyInformation(image)
    return image, mask


def _physical_points(image: sitk.Image, array: np.ndarray) -> np.ndarray:
    """Physical coordinates of the voxels where ``array`` (z, y, x) is true, through SimpleITK's own transform."""
    return np.array([image.TransformIndexToPhysicalPoint([int(i) for i in index[::-1]]) for index in np.argwhere(array)])


def _near(tumour: np.ndarray, reach: tuple[int, int, int]) -> np.ndarray:
    """The tumour's bounding box grown by ``reach`` voxels per axis: where shell voxels can be."""
    near = np.zeros_like(tumour)
    coords = np.argwhere(tumour)
    low = np.maximum(coords.min(axis=0) - reach, 0)
    high = coords.max(axis=0) + np.array(reach) + 1
    near[tuple(slice(lo, hi) for lo, hi in zip(low, high))] = True
    return near


def _brute_force_distances(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distance of each point to its nearest target, by checking every pair."""
    nearest = np.full(len(points), np.inf)
    for start in range(0, len(targets), 512):
        chunk = targets[start : start + 512]
        pair = np.linalg.norm(points[:, None, :] - chunk[None, :, :], axis=-1)
        nearest = np.minimum(nearest, pair.min(axis=1))
    return nearest


def test_shell_on_anisotropic_grid_matches_brute_force_physical_distances() -> None:
    image, mask = _blob_case()
    tumour = sitk.GetArrayFromImage(mask).astype(bool)
    spacing_zyx = tuple(reversed(image.GetSpacing()))

    shell = peritumoral_shell(tumour, spacing_zyx, margin_mm=3.0)

    candidates = _near(tumour, reach=(2, 5, 5)) & ~tumour  # beyond 3 mm at 2.5 × 0.7 × 0.7 mm spacing
    distances = _brute_force_distances(_physical_points(image, candidates), _physical_points(image, tumour))
    expected = np.zeros_like(tumour)
    expected[candidates] = distances <= 3.0 + 1e-6
    assert shell.sum() > 0
    np.testing.assert_array_equal(shell, expected)


def test_shell_of_resampled_oblique_case_matches_brute_force() -> None:
    image, mask = _blob_case(direction=_oblique_direction(30))
    _, resampled_mask = _tumour_on_box(image, mask)
    tumour = sitk.GetArrayFromImage(resampled_mask).astype(bool)

    shell = peritumoral_shell(tumour, (1.0, 1.0, 1.0), margin_mm=3.0)

    candidates = _near(tumour, reach=(4, 4, 4)) & ~tumour
    distances = _brute_force_distances(
        _physical_points(resampled_mask, candidates), _physical_points(resampled_mask, tumour)
    )
    expected = np.zeros_like(tumour)
    expected[candidates] = distances <= 3.0 + 1e-6
    np.testing.assert_array_equal(shell, expected)
    assert resampled_mask.GetDirection() == pytest.approx(image.GetDirection())


@pytest.mark.parametrize("margin_mm", [2.0, 3.0, 5.0])
def test_shell_width_follows_the_margin(margin_mm: float) -> None:
    tumour = np.zeros((40, 40, 40), bool)
    tumour[15:25, 15:25, 15:25] = True
    shell = peritumoral_shell(tumour, (1.0, 1.0, 1.0), margin_mm)
    # Along an axis through a face centre the shell is exactly floor(margin) voxels deep.
    assert shell[20, 20, 25 : 25 + int(margin_mm)].all()
    assert not shell[20, 20, 25 + int(margin_mm)]


def test_shell_missing_fraction_when_the_tumour_touches_the_edge() -> None:
    image, mask = _blob_case(size_xyz=(60, 60, 16), centre_mm=(21.0, 20.0, 2.0))
    box, tumour = _tumour_on_box(image, mask)
    assert box.clamped_low[2]
    assert 0.05 < shell_missing_fraction(sitk.GetArrayFromImage(tumour).astype(bool), box, 3.0) < 0.6

    centred_box, centred = _tumour_on_box(*_blob_case())
    assert shell_missing_fraction(sitk.GetArrayFromImage(centred).astype(bool), centred_box, 3.0) == 0.0


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    spacing=st.tuples(*[st.sampled_from([0.5, 0.8, 1.0, 2.5, 5.0])] * 3),
    margin=st.floats(0.5, 6.0),
)
def test_shell_properties_on_random_masks(seed: int, spacing: tuple[float, float, float], margin: float) -> None:
    rng = np.random.default_rng(seed)
    tumour = rng.random((9, 10, 11)) < 0.15
    tumour[4, 5, 5] = True
    shell = peritumoral_shell(tumour, spacing, margin)

    assert not (shell & tumour).any()
    coordinates = np.argwhere(np.ones_like(tumour)) * np.array(spacing)
    distances = _brute_force_distances(coordinates, np.argwhere(tumour) * np.array(spacing)).reshape(tumour.shape)
    assert (distances[shell] <= margin + 1e-6).all()
    assert (distances[~shell & ~tumour] > margin).all()

"""Tests of CCRCCStagingLib.synthetic.phantoms: determinism, geometry, HU realism, stage signs with overlap, cohort I/O,
and CT synthesis on label images (a synthetic one and one real KiTS19 case, if ../shared/data is present)."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from CCRCCStagingLib.core.errors import ImageFormatError, MaskError, OutputError, SettingsError
from CCRCCStagingLib.synthetic import phantoms
from CCRCCStagingLib.synthetic.phantoms import (
    GENERATIVE_ASSUMPTIONS,
    SPLIT_NAMES,
    Tissue,
    from_labels,
    generator,
    make_phantom,
    rendering,
    simulate_survival,
    synthesize_ct_from_labels,
    write_cohort,
)

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
KITS_SEGMENTATIONS = SHARED_DATA / "kits19" / "segmentations"
COARSE = (1.5, 1.5, 2.5)  # mm; keeps the many-phantom tests fast
N_PER_STAGE = 30
VALID_T_STAGES = {"T1a", "T1b", "T2a", "T2b", "T3a", "T3b", "T3c", "T4"}


def _array(image: sitk.Image) -> np.ndarray:
    return sitk.GetArrayFromImage(image)


def _auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Mann–Whitney AUC (ties count one half)."""
    positive, negative = np.asarray(positive, float), np.asarray(negative, float)
    greater = (positive[:, None] > negative[None, :]).sum()
    ties = (positive[:, None] == negative[None, :]).sum()
    return float((greater + 0.5 * ties) / (positive.size * negative.size))


def _same_grid(a: sitk.Image, b: sitk.Image) -> bool:
    return (
        a.GetSize() == b.GetSize()
        and np.allclose(a.GetSpacing(), b.GetSpacing())
        and np.allclose(a.GetOrigin(), b.GetOrigin())
        and np.allclose(a.GetDirection(), b.GetDirection())
    )


def _shell_fat_density(phantom: phantoms.Phantom) -> float:
    """Fraction of the FAT within a 3 mm shell outside the mask whose final HU is soft-tissue-like (> −30 HU).

    Restricting to fat (by the noiseless tissue map) removes the kidney parenchyma that the shell also touches,
    so this measures what the paper's peritumoral region sees of infiltration.
    """
    image, mask, tissue = _array(phantom.image), _array(phantom.mask).astype(bool), _array(phantom.tissues)
    spacing = phantom.image.GetSpacing()[::-1]
    distance = ndimage.distance_transform_edt(~mask, sampling=spacing)
    shell = (distance > 0) & (distance <= 3.0)
    fat = shell & np.isin(tissue, [Tissue.FAT, Tissue.SINUS_FAT, Tissue.INFILTRATION])
    return float((image[fat] > -30).mean())


@pytest.fixture(scope="module")
def stage_samples() -> dict[str, list[tuple[float, float]]]:
    """(tumour volume in ml, shell fat density) of N_PER_STAGE phantoms per stage, distinct seeds."""
    samples: dict[str, list[tuple[float, float]]] = {"low": [], "high": []}
    for stage in samples:
        for seed in range(N_PER_STAGE):
            phantom = make_phantom(stage, 5000 + seed, spacing=COARSE)
            samples[stage].append((phantom.meta["tumour_volume_ml"], _shell_fat_density(phantom)))
    return samples


# --------------------------------------------------------------------------- make_phantom


def test_phantom_is_deterministic_for_a_seed() -> None:
    a, b = make_phantom("high", 11, tumour_diameter_mm=45.0), make_phantom("high", 11, tumour_diameter_mm=45.0)
    c = make_phantom("high", 12, tumour_diameter_mm=45.0)
    assert np.array_equal(_array(a.image), _array(b.image))
    assert np.array_equal(_array(a.mask), _array(b.mask))
    assert a.meta == b.meta and a.t_stage == b.t_stage
    assert not np.array_equal(_array(a.mask), _array(c.mask)) or a.image.GetSize() != c.image.GetSize()


def test_drawn_parameters_do_not_depend_on_the_grid() -> None:
    fine, coarse = make_phantom("low", 3), make_phantom("low", 3, spacing=COARSE)
    measured = {"tumour_volume_ml", "necrosis_fraction_measured", "shell3mm_fat_infiltrated_fraction"}
    assert {k: v for k, v in fine.meta.items() if k not in measured} == {
        k: v for k, v in coarse.meta.items() if k not in measured
    }
    assert coarse.meta["tumour_volume_ml"] == pytest.approx(fine.meta["tumour_volume_ml"], rel=0.15)


@pytest.mark.parametrize("stage", ["low", "high"])
def test_phantom_geometry_types_and_mask(stage: str) -> None:
    phantom = make_phantom(stage, 7)
    image, mask = phantom.image, phantom.mask
    assert image.GetPixelID() == sitk.sitkInt16 and mask.GetPixelID() == sitk.sitkUInt8
    assert image.GetSpacing() == pytest.approx((0.78, 0.78, 1.25))
    assert image.GetDirection() == pytest.approx((1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert _same_grid(image, mask) and _same_grid(image, phantom.tissues)
    m = _array(mask)
    assert set(np.unique(m)) == {0, 1}
    assert ndimage.label(m)[1] == 1  # one connected tumour
    # The mask lies inside the image with at least the 3 mm shell (+ margin) around it.
    box = ndimage.find_objects(m)[0]
    spacing_np = image.GetSpacing()[::-1]
    for sl, n, sp in zip(box, m.shape, spacing_np):
        assert sl.start * sp >= 3.0 and (n - sl.stop) * sp >= 3.0
    assert phantom.stage == stage
    assert phantom.t_stage in VALID_T_STAGES
    assert phantom.t_stage.startswith(("T1", "T2") if stage == "low" else ("T3", "T4"))
    if stage == "low":
        assert phantom.t_stage == phantoms.t_stage_from_diameter(phantom.meta["diameter_mm"])


def test_default_grid_covers_tumour_with_15_mm_margin() -> None:
    phantom = make_phantom("low", 1, tumour_diameter_mm=30.0)
    m = _array(phantom.mask)
    box = ndimage.find_objects(m)[0]
    for sl, n, sp in zip(box, m.shape, phantom.image.GetSpacing()[::-1]):
        assert sl.start * sp >= 14.0 and (n - sl.stop) * sp >= 14.0
    assert phantom.meta["diameter_mm"] == 30.0 and phantom.t_stage == "T1a"
    # ~30 mm diameter → ~14 ml (lobes/elongation perturb it a little)
    assert 8.0 < phantom.meta["tumour_volume_ml"] < 22.0


def test_tissue_hu_ranges_are_plausible() -> None:
    expected = {  # median HU of the final (blurred, noisy) image inside each eroded tissue
        Tissue.AIR: (-1024, -950),
        Tissue.FAT: (-130, -70),
        Tissue.MUSCLE: (25, 75),
        Tissue.BONE: (150, 400),
        Tissue.VESSEL: (100, 260),
        Tissue.CORTEX: (130, 215),
        Tissue.MEDULLA: (65, 135),
        Tissue.TUMOUR_VIABLE: (80, 200),
        Tissue.TUMOUR_NECROSIS: (-5, 70),
    }
    seen = set()
    for stage, seed in (("low", 2), ("high", 4)):
        phantom = make_phantom(stage, seed, size=(360, 360, 72), spacing=(1.0, 1.0, 1.25), tumour_diameter_mm=55.0)
        image, tissue = _array(phantom.image), _array(phantom.tissues)
        for code, (low, high) in expected.items():
            core = ndimage.binary_erosion(tissue == code, iterations=2)
            if core.sum() < 50:
                continue
            seen.add(code)
            median = float(np.median(image[core]))
            assert low <= median <= high, f"{stage}: {code.name} median {median} not in [{low}, {high}]"
        # Noise: the SD inside homogeneous fat is the drawn noise SD (the PSF barely matters in the interior).
        fat = ndimage.binary_erosion(tissue == Tissue.FAT, iterations=4)
        assert float(image[fat].std()) == pytest.approx(phantom.meta["scanner_noise_sd_hu"], rel=0.25)
    assert seen == set(expected)


def test_tumour_is_heterogeneous_with_a_hypodense_core() -> None:
    phantom = make_phantom("high", 2, tumour_diameter_mm=60.0)
    image, tissue = _array(phantom.image), _array(phantom.tissues)
    viable = image[tissue == Tissue.TUMOUR_VIABLE]
    necrotic = image[tissue == Tissue.TUMOUR_NECROSIS]
    assert necrotic.size > 0 and np.median(viable) - np.median(necrotic) > 50


def test_high_stage_is_larger_and_infiltrates_the_shell_with_overlap(stage_samples) -> None:
    low = np.array(stage_samples["low"])
    high = np.array(stage_samples["high"])
    assert high[:, 0].mean() > low[:, 0].mean()
    assert high[:, 1].mean() > low[:, 1].mean()
    # Overlap: stage is not separable by either sign alone.
    assert high[:, 0].min() < low[:, 0].max()
    assert high[:, 1].min() < low[:, 1].max()
    assert 0.6 < _auc(high[:, 1], low[:, 1]) < 1.0


def test_volume_only_auc_is_realistic(stage_samples) -> None:
    low = np.array(stage_samples["low"])[:, 0]
    high = np.array(stage_samples["high"])[:, 0]
    auc = _auc(high, low)
    assert 0.6 < auc < 0.95, f"volume-only AUC {auc:.3f}"


def test_fast_rendering_equals_whole_volume_rendering(monkeypatch: pytest.MonkeyPatch) -> None:
    """The slice-invariant body plane + pasted 3-D box must equal blurring the whole truth volume at once."""
    captured = {}
    original = rendering.render

    def spy(shape, slice_axis, plane_truth, box_outer, box_inner, box_truth, scanner, rng):
        captured.update(shape=shape, axis=slice_axis, plane=plane_truth, outer=box_outer, truth=box_truth,
                        sigma=scanner.psf_sigma_vox)
        return original(shape, slice_axis, plane_truth, box_outer, box_inner, box_truth, scanner, rng)

    for module in (generator, from_labels):  # each renders through the name it imported
        monkeypatch.setattr(module, "render", spy)
    scanner = replace(GENERATIVE_ASSUMPTIONS.scanner, noise_sd_hu=phantoms.Dist("constant", 0.0))
    noiseless = replace(GENERATIVE_ASSUMPTIONS, scanner=scanner)
    for make in (
        lambda: make_phantom("high", 8, size=(256, 256, 96), assumptions=noiseless).image,
        lambda: synthesize_ct_from_labels(_synthetic_labels(), seed=1, stage="high", assumptions=noiseless),
    ):
        image = _array(make()).astype(float)
        truth = np.broadcast_to(np.expand_dims(captured["plane"], captured["axis"]), captured["shape"]).copy()
        truth[captured["outer"]] = captured["truth"]
        reference = np.rint(ndimage.gaussian_filter(truth, captured["sigma"], mode="nearest"))
        assert np.abs(image - np.clip(reference, -1024, 3071)).max() <= 1.0


def test_512_grid_is_supported_and_centred_on_the_body() -> None:
    phantom = make_phantom("low", 5, size=(512, 512, 160))
    assert phantom.image.GetSize() == (512, 512, 160)
    image = _array(phantom.image)
    # The whole body cross-section is inside a 400 mm field of view: air at the corners, body in the middle.
    assert image[80, :8, :8].mean() < -900 and image[80, 256, 256] > -200
    assert _array(phantom.mask).sum() > 0


def test_bad_arguments_raise_settings_errors() -> None:
    with pytest.raises(SettingsError):
        make_phantom("T3")
    with pytest.raises(SettingsError):
        make_phantom("low", 0, spacing=(0.78, 0.0, 1.25))
    with pytest.raises(SettingsError):
        make_phantom("low", 0, size=(32, 32, 8), tumour_diameter_mm=60.0)
    with pytest.raises(SettingsError):
        make_phantom("low", 0, tumour_diameter_mm=-5.0)


def test_assumptions_markdown_lists_every_distribution() -> None:
    table = phantoms.assumptions_markdown()
    for name in phantoms.StagePhenotype.__dataclass_fields__:
        assert f"| {name} |" in table
    assert "Weibull" in table and "noise_sd_hu" in table
    with pytest.raises(Exception):
        GENERATIVE_ASSUMPTIONS.low.diameter_mm.p1 = 1.0  # frozen: the model card cites fixed values


# --------------------------------------------------------------------------- simulate_survival


def test_survival_is_deterministic_censored_and_worse_for_high_stage() -> None:
    assert simulate_survival("high", np.random.default_rng(3)) == simulate_survival("high", np.random.default_rng(3))
    rng = np.random.default_rng(0)
    draws = {s: np.array([simulate_survival(s, rng) for _ in range(1500)]) for s in ("low", "high")}
    for values in draws.values():
        assert values[:, 0].min() >= 1 and values[:, 0].max() <= 3650
        assert set(np.unique(values[:, 1])) <= {0, 1}
    assert draws["high"][:, 1].mean() > draws["low"][:, 1].mean() + 0.15  # more deaths observed
    assert np.median(draws["high"][:, 0]) < np.median(draws["low"][:, 0])
    with pytest.raises(SettingsError):
        simulate_survival("medium", rng)


# --------------------------------------------------------------------------- write_cohort


def _read_manifest(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == ["case_id", "image", "mask", "t_stage", "split", "os_time", "os_event"]
        return list(reader)


def test_write_cohort_round_trip(tmp_path: Path) -> None:
    manifest = write_cohort(14, tmp_path / "a", seed=4, fraction_high=0.5, splits=(0.5, 0.2, 0.3), spacing=COARSE)
    assert manifest == tmp_path / "a" / "manifest.csv"
    rows = _read_manifest(manifest)
    assert len(rows) == 14 and len({r["case_id"] for r in rows}) == 14
    high = [r for r in rows if r["t_stage"].startswith(("T3", "T4"))]
    assert len(high) == 7
    # Stratified: each split holds (almost) the same share of high stage.
    for split, fraction in zip(SPLIT_NAMES, (0.5, 0.2, 0.3)):
        in_split = [r for r in rows if r["split"] == split]
        assert abs(len(in_split) - 14 * fraction) <= 1
        n_high = sum(r["t_stage"].startswith(("T3", "T4")) for r in in_split)
        assert abs(n_high - len(in_split) / 2) <= 1
    for row in rows[:4]:
        assert row["t_stage"] in VALID_T_STAGES
        assert int(row["os_time"]) >= 1 and row["os_event"] in {"0", "1"}
        assert not Path(row["image"]).is_absolute()
        image = sitk.ReadImage(str(manifest.parent / row["image"]))
        mask = sitk.ReadImage(str(manifest.parent / row["mask"]))
        assert image.GetPixelID() == sitk.sitkInt16 and mask.GetPixelID() == sitk.sitkUInt8
        assert image.GetSpacing() == pytest.approx(COARSE)
        assert _same_grid(image, mask)
        assert _array(mask).sum() > 0
    assert (manifest.parent / "phantom_parameters.csv").exists()

    # Deterministic for a seed.
    again = write_cohort(14, tmp_path / "b", seed=4, fraction_high=0.5, splits=(0.5, 0.2, 0.3), spacing=COARSE)
    assert manifest.read_text() == again.read_text()
    first = rows[0]["image"]
    assert np.array_equal(
        _array(sitk.ReadImage(str(manifest.parent / first))), _array(sitk.ReadImage(str(again.parent / first)))
    )
    # No silent overwrite; bad arguments are user errors.
    with pytest.raises(OutputError):
        write_cohort(2, tmp_path / "a", spacing=COARSE)
    with pytest.raises(SettingsError):
        write_cohort(2, tmp_path / "c", splits=(0.5, 0.5, 0.5))
    with pytest.raises(SettingsError):
        write_cohort(0, tmp_path / "c")


# --------------------------------------------------------------------------- synthesize_ct_from_labels


def _synthetic_labels() -> sitk.Image:
    """A kidney ellipsoid with an exophytic tumour, anisotropic voxels and a non-identity direction."""
    zz, yy, xx = np.mgrid[:40, :110, :100]
    labels = np.zeros(zz.shape, dtype=np.uint8)
    labels[((zz - 20) / 14) ** 2 + ((yy - 60) / 38) ** 2 + ((xx - 50) / 24) ** 2 <= 1] = 1
    labels[((zz - 20) * 2.5) ** 2 + ((yy - 30) * 0.8) ** 2 + ((xx - 50) * 0.8) ** 2 <= 16**2] = 2
    image = sitk.GetImageFromArray(labels)
    image.SetSpacing((0.8, 0.8, 2.5))
    image.SetOrigin((-40.0, 12.0, 300.0))
    image.SetDirection((1, 0, 0, 0, -1, 0, 0, 0, 1))
    return image


def _contrast_checks(ct: sitk.Image, labels: sitk.Image, kidney: int = 1, tumour: int = 2) -> None:
    """Geometry equality, int16, and tumour/kidney enhancement against the perirenal fat around them."""
    assert _same_grid(ct, labels) and ct.GetPixelID() == sitk.sitkInt16
    lab = sitk.GetArrayViewFromImage(labels)
    box = ndimage.find_objects(lab, max_label=tumour)[tumour - 1]  # the tumour and its neighbourhood only
    grown = tuple(slice(max(s.start - 12, 0), s.stop + 12) for s in box)
    lab, image = np.asarray(lab[grown]), sitk.GetArrayViewFromImage(ct)[grown]
    organ = (lab == kidney) | (lab == tumour)
    spacing = ct.GetSpacing()[::-1]
    distance = ndimage.distance_transform_edt(~organ, sampling=spacing)
    fat = (distance > 2.5) & (distance < 5.0)  # perirenal fat, clear of the PSF
    fat_hu = float(np.mean(image[fat]))
    tumour_hu = float(np.mean(image[lab == tumour]))
    kidney_hu = float(np.mean(image[lab == kidney]))
    assert -130 < fat_hu < -60
    assert tumour_hu - fat_hu > 100, (tumour_hu, fat_hu)
    assert kidney_hu - fat_hu > 150, (kidney_hu, fat_hu)


@pytest.mark.parametrize("stage", [None, "low", "high"])
def test_synthesize_on_synthetic_labels(stage: str | None) -> None:
    labels = _synthetic_labels()
    ct = synthesize_ct_from_labels(labels, seed=3, stage=stage)
    _contrast_checks(ct, labels)
    again = synthesize_ct_from_labels(labels, seed=3, stage=stage)
    assert np.array_equal(_array(ct), _array(again))


def test_synthesize_rejects_bad_inputs() -> None:
    labels = _synthetic_labels()
    with pytest.raises(MaskError):
        synthesize_ct_from_labels(labels, tumour_label=3)
    with pytest.raises(ImageFormatError):
        synthesize_ct_from_labels(sitk.Cast(labels, sitk.sitkFloat32))
    with pytest.raises(ImageFormatError):
        synthesize_ct_from_labels(labels[:, :, 5])
    with pytest.raises(SettingsError):
        synthesize_ct_from_labels(labels, kidney_label=2, tumour_label=2)
    with pytest.raises(SettingsError):
        synthesize_ct_from_labels(labels, stage="T2")


def test_synthesize_on_a_real_kits19_case() -> None:
    """KiTS19 (CC BY-NC-SA, tests only): 611 slices of 0.5 mm, slice axis first in the NIfTI, permuted direction."""
    if not KITS_SEGMENTATIONS.is_dir():
        pytest.skip(f"KiTS19 segmentations not available at {KITS_SEGMENTATIONS} (../shared/data is absent)")
    path = KITS_SEGMENTATIONS / "case_00000.nii.gz"
    if not path.exists():
        path = sorted(KITS_SEGMENTATIONS.glob("case_*.nii.gz"))[0]
    labels = sitk.ReadImage(str(path))
    ct = synthesize_ct_from_labels(labels, seed=0, stage="high")
    _contrast_checks(ct, labels)

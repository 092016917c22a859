"""The committed sample case is what its committed command makes, and ``ccrcc-staging demo`` analyses it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from CCRCCStagingLib.case.loading import read_mask
from CCRCCStagingLib.cli import main
from CCRCCStagingLib.synthetic.sample import SEGMENT_NAME, sample_paths, write_sample_case


def test_committed_sample_equals_a_fresh_generation(tmp_path: Path) -> None:
    fresh_ct, fresh_segmentation = write_sample_case(tmp_path)
    committed_ct, committed_segmentation = sample_paths()
    for fresh, committed in ((fresh_ct, committed_ct), (fresh_segmentation, committed_segmentation)):
        a, b = sitk.ReadImage(str(fresh)), sitk.ReadImage(str(committed))
        np.testing.assert_array_equal(sitk.GetArrayViewFromImage(a), sitk.GetArrayViewFromImage(b))
        assert a.GetSpacing() == b.GetSpacing() and a.GetOrigin() == b.GetOrigin()


def test_sample_segmentation_reads_as_a_slicer_segment() -> None:
    ct, segmentation = sample_paths()
    mask, description = read_mask(segmentation, segment=SEGMENT_NAME)
    assert description == f"segment '{SEGMENT_NAME}'"
    assert sitk.GetArrayViewFromImage(mask).sum() > 1000


def test_demo_analyses_the_sample(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    assert (tmp_path / "demo" / "result.json").exists()
    assert "ccrcc_sample_ct: tumour" in capsys.readouterr().out

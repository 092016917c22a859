"""Cohort manifest and extraction: T-stage parsing, parallel and cached runs, failed cases, the Dask path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from CCRCCStagingLib.training.cohort import extract_cohort, habitat_model_path, read_features, settings_path
from CCRCCStagingLib.core.errors import ManifestError
from CCRCCStagingLib.training.manifest import read_manifest, t_stage_group
from CCRCCStagingLib.synthetic.phantoms import make_phantom
from CCRCCStagingLib.core.settings import HabitatSettings, Settings

SETTINGS = Settings(habitats=HabitatSettings(k=2))


@pytest.mark.parametrize(
    ("value", "group"),
    [("T1a", "low"), ("1b", "low"), ("T2", "low"), ("pT2b", "low"), ("3", "high"), ("T3c", "high"), ("T4", "high")],
)
def test_t_stage_strings_map_to_groups(value: str, group: str) -> None:
    assert t_stage_group(value) == group


@pytest.mark.parametrize("value", ["T5", "Tx", "", "N1", "stage III"])
def test_unknown_t_stage_is_a_clear_error(value: str) -> None:
    with pytest.raises(ManifestError, match="not recognised"):
        t_stage_group(value)


def test_manifest_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "manifest.csv"
    path.write_text("case_id,image,mask,t_stage,split\na,a.nrrd,a.nrrd,T1,train\nb,b.nrrd,b.nrrd,T9,train\n")
    with pytest.raises(ManifestError, match="line 3 \\(case b\\).*T9"):
        read_manifest(path)
    path.write_text("case_id,image,mask,t_stage,split\na,a.nrrd,a.nrrd,T1,training\n")
    with pytest.raises(ManifestError, match="split 'training'"):
        read_manifest(path)
    path.write_text("case_id,image,t_stage\n")
    with pytest.raises(ManifestError, match="lacks the column"):
        read_manifest(path)


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory) -> Path:
    """Six small phantoms (four training), one of them with a mask that cannot be read."""
    folder = tmp_path_factory.mktemp("cohort")
    rows = []
    for index, (stage, split) in enumerate(
        [("low", "train"), ("high", "train"), ("low", "train"), ("high", "train"), ("low", "external"), ("high", "external")]
    ):
        phantom = make_phantom(stage, seed=100 + index, tumour_diameter_mm=16.0)
        sitk.WriteImage(phantom.image, str(folder / f"c{index}.nrrd"))
        sitk.WriteImage(phantom.mask, str(folder / f"c{index}_mask.nrrd"))
        rows.append(f"c{index},c{index}.nrrd,c{index}_mask.nrrd,{phantom.t_stage},{split},{500 + index},1")
    (folder / "c5_mask.nrrd").write_bytes(b"broken")
    (folder / "manifest.csv").write_text("case_id,image,mask,t_stage,split,os_time,os_event\n" + "\n".join(rows) + "\n")
    return folder / "manifest.csv"


def test_extraction_in_parallel_with_cache_and_a_failed_case(small_cohort: Path, tmp_path: Path) -> None:
    out = tmp_path / "features.csv"
    summary = extract_cohort(small_cohort, out, SETTINGS, jobs=2, cache_dir=tmp_path / "cache", show_progress=False)

    table = read_features(out)
    assert list(table["case_id"]) == [f"c{i}" for i in range(6)]
    assert summary.n_failed == 1 and "c5_mask.nrrd" in table.loc[5, "error"]
    assert table.loc[:4, "error"].eq("").all()
    assert len([c for c in table.columns if c.startswith("sub2_")]) == 1130
    assert json.loads(habitat_model_path(out).read_text())["k"] == 2
    assert json.loads(settings_path(out).read_text())["margin_mm"] == 3.0

    again = extract_cohort(small_cohort, out, SETTINGS, jobs=1, cache_dir=tmp_path / "cache", show_progress=False)
    assert again.n_from_cache == 6
    pd.testing.assert_frame_equal(read_features(out), table)


@pytest.mark.slow  # a local dask cluster takes ~25 s to start and stop; the optional `extract --scheduler` path only
def test_dask_cluster_gives_the_same_table(small_cohort: Path, tmp_path: Path) -> None:
    distributed = pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        extract_cohort(small_cohort, tmp_path / "dask.csv", SETTINGS, scheduler=cluster.scheduler_address,
                       show_progress=False)
    extract_cohort(small_cohort, tmp_path / "local.csv", SETTINGS, jobs=1, show_progress=False)
    dask_table, local_table = read_features(tmp_path / "dask.csv"), read_features(tmp_path / "local.csv")
    feature = "peri_original_firstorder_Mean"
    np.testing.assert_array_equal(dask_table[feature].to_numpy(), local_table[feature].to_numpy())

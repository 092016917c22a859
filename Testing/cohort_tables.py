"""Generated features tables with a known signal, for training tests (no image processing needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

INFORMATIVE = ("sub1_original_firstorder_Mean", "peri_log-sigma-1-0-mm-3D_glcm_Idmn", "peri_original_shape_Sphericity")


def features_table(n: int = 240, n_noise: int = 40, seed: int = 0, shuffle_labels: bool = False) -> pd.DataFrame:
    """A cohort with regions whole, sub1, sub2 and peri; three features carry the T-stage signal."""
    rng = np.random.default_rng(seed)
    high = rng.random(n) < 0.33
    splits = rng.choice(["train", "internal_test", "external"], size=n, p=[0.5, 0.15, 0.35])
    splits[:20] = "train"
    table = pd.DataFrame(
        {
            "case_id": [f"case{i:03d}" for i in range(n)],
            "t_stage": np.where(high, "T3a", "T1b"),
            "group": np.where(high, "high", "low"),
            "split": splits,
            "os_time": rng.exponential(np.where(high, 900.0, 3000.0)).round(),
            "os_event": (rng.random(n) < 0.6).astype(int),
            "error": "",
            "habitats_k": 2,
            "tumour_volume_ml": np.exp(rng.normal(np.where(high, 4.2, 3.6), 0.7)),
        }
    )
    columns = {}
    for region in ("whole", "sub1", "sub2", "peri"):
        for j in range(n_noise):
            base = rng.normal(size=n)
            columns[f"{region}_wavelet-LLH_glcm_Noise{j}"] = base
            # Redundant copies that the Spearman filter must remove.
            if j < 5:
                columns[f"{region}_wavelet-HHH_glrlm_Copy{j}"] = base * 2 + rng.normal(scale=0.01, size=n)
    for name in INFORMATIVE:
        columns[name] = rng.normal(size=n) + 1.6 * high
    table = pd.concat([table, pd.DataFrame(columns)], axis=1)
    if shuffle_labels:
        table["group"] = rng.permutation(table["group"].to_numpy())
    return table


def write_features_with_side_files(tmp_path, table, name: str = "features.csv"):
    """The table as ``extract`` writes it: the CSV plus the habitat model and settings beside it (always the same
    habitat model and settings, so that two tables count as extracted alike)."""
    import json

    from CCRCCStagingLib.training.cohort import habitat_model_path, settings_path
    from CCRCCStagingLib.case.habitats import HabitatInput, HabitatModel
    from CCRCCStagingLib.core.settings import Settings

    path = tmp_path / name
    table.to_csv(path, index=False)
    rng = np.random.default_rng(0)
    case = HabitatInput(rng.normal(100, 30, (10, 10, 10)).astype(np.float32), np.ones((10, 10, 10), bool))
    habitat_model_path(path).write_text(json.dumps(HabitatModel(k=2).fit([case]).to_dict()))
    settings_path(path).write_text(json.dumps(Settings().to_dict(), default=str))
    return path

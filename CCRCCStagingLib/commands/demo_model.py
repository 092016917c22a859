"""The bundled demonstration model: trained by this project's own pipeline on a synthetic phantom cohort.

One committed command rebuilds it (``ccrcc-staging build-demo-model``, or ``make demo-model``): generate the
cohort (``phantoms.write_cohort``), ``extract``, ``train``, write the model card, copy the deployable files to
``Resources/Models/ccrcc-demo-synthetic-v1``. It demonstrates the software; it is not clinically valid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..model.bundle import MODEL_CARD, SUMMARY
from ..reports.training.render import render_training_report
from ..training.bundle_writer import copy_deployable
from ..core.settings import BUNDLED_MODEL_DIR
from ..training.cohort import extract_cohort
from ..synthetic.phantoms import assumptions_markdown, write_cohort
from ..core.settings import HabitatSettings, Settings
from ..training.train import TrainingSettings, train

DEMO_MODEL_ID = "ccrcc-demo-synthetic-v1"
#: The full cohort of the shipped model (the CI check runs the same command on fewer cases).
DEMO_COHORT_SIZE = 120
DEMO_SEED = 2026
#: The paper's GMM analysis found K = 2; the demonstration model uses that K for its population habitats.
DEMO_SETTINGS = Settings(habitats=HabitatSettings(k=2))
INTENDED_USE = (
    "Demonstration of the CCRCCStaging software only: it shows what the pipeline produces. It was trained on "
    "synthetic phantoms, has never seen a patient, and must NOT be used for clinical decisions."
)


def build_demo_model(
    out_dir: Path = BUNDLED_MODEL_DIR, work_dir: Path = Path("build/demo-model"), n: int = DEMO_COHORT_SIZE,
    jobs: int = 2, seed: int = DEMO_SEED,
) -> Path:
    """Generate the synthetic cohort, extract, train, write the card and the deployable bundle; return ``out_dir``."""
    manifest = write_cohort(n, work_dir / "cohort", seed=seed, overwrite=True)
    features = work_dir / "features.csv"
    extract_cohort(manifest, features, DEMO_SETTINGS, jobs=jobs, cache_dir=work_dir / "cache")
    training_data = (
        f"{n} synthetic CT phantoms (CCRCCStagingLib.synthetic.phantoms.write_cohort, seed {seed}), "
        "split train / internal_test / external as the paper's 148 / 38 / 137"
    )
    card = {"training_data": training_data, "intended_use": INTENDED_USE, "demonstration": True}
    train(features, work_dir / "model", TrainingSettings(seed=seed), card=card, model_id=DEMO_MODEL_ID,
          report=render_training_report, overwrite=True)  # its own working folder, rebuilt every time
    summary = json.loads((work_dir / "model" / SUMMARY).read_text())
    (work_dir / "model" / MODEL_CARD).write_text(model_card(summary, training_data, n, seed))
    copy_deployable(work_dir / "model", out_dir)
    return out_dir


def _measured_table(summary: dict[str, Any], deployed: str) -> list[str]:
    """The held-out AUCs of the deployed model beside tumour volume alone."""
    lines = [
        "## What was measured (held-out synthetic phantoms)",
        "",
        "| split | model | AUC (95% CI, DeLong) | accuracy | sensitivity | F1 |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for split in ("internal_test", "external"):
        for classifier, label in ((deployed, f"{deployed.upper()} VOI_mix"), ("volume_only", "tumour volume only")):
            for row in (r for r in _metric_rows(summary, "mix", classifier) if r["split"] == split):
                lines.append(
                    f"| {split} | {label} | {row['auc']:.3f} ({row['auc_ci_lower']:.3f}–{row['auc_ci_upper']:.3f}) | "
                    f"{row['accuracy']:.3f} | {row['recall']:.3f} | {row['f1']:.3f} |"
                )
    return lines


def _metric_rows(summary: dict[str, Any], region: str, classifier: str) -> list[dict[str, Any]]:
    return [m for m in summary["metrics"] if (m["region"], m["classifier"]) == (region, classifier)]


def model_card(summary: dict[str, Any], training_data: str, n: int, seed: int) -> str:
    """The model card: what it was trained on, what it is for (and not for), what was measured."""
    deployed = summary["deployed"]["classifier"]
    lines = [
        f"# Model card: {DEMO_MODEL_ID}",
        "",
        "**DEMONSTRATION MODEL — NOT FOR CLINICAL USE.** Trained on synthetic phantoms only.",
        "",
        "## Intended use",
        "",
        INTENDED_USE,
        "",
        "## Model",
        "",
        f"{deployed.upper()} on VOI_mix ({summary['mix_subregion']} + peri, the paper's combined model), after the "
        "paper's selection (z-score → Spearman |ρ| > 0.9 → mRMR top 25 → LASSO, 10-fold CV) on the training split. "
        "P(T3–T4) is a Platt calibration of the SVM decision value; the decision threshold is the Youden point of "
        "out-of-fold training predictions. Radscore = LASSO intercept + Σ coefficient × z-scored feature, "
        f"cutoff (Youden, training split) {summary['radscore']['cutoff']:.4f}. Habitats: a population GMM with K = 2.",
        "",
        "Selected features: " + ", ".join(f"`{f}`" for f in summary["selection"]["mix"]["selected"]),
        "",
        "Features: PyRadiomics' standard path with `Resources/Params/ccrcc_pyradiomics.yaml` (1 mm cubic B-spline "
        "resampling, binCount 25, Original + Wavelet + LoG σ 1–3 mm), the CT resampled in its own pixel type as "
        "PyRadiomics does (`interpolation: pyradiomics`; the phantoms are int16 HU, as scanners write them), "
        "peritumoral shell 3 mm. `analyze` with this model uses exactly these settings.",
        "",
        "## Training data",
        "",
        f"{training_data}. Rebuild: `ccrcc-staging build-demo-model --n {n} --seed {seed}` (or `make demo-model`).",
        "",
        "Cohort: " + ", ".join(f"{s} {v['n']} ({v['n_high']} T3–T4)" for s, v in summary["cohort"]["by_split"].items()),
        "",
        "Every generative assumption of the phantoms:",
        "",
        assumptions_markdown(),
        "",
        *_measured_table(summary, deployed),
        "",
        "These figures describe synthetic data whose T3–T4 phenotype was written into the generator; they say "
        "nothing about performance on patients. The paper reports AUC 0.82 (internal) and 0.80 (external) on "
        "real patients; a model should always be compared with tumour volume alone.",
        "",
        "## Train your own",
        "",
        "`ccrcc-staging extract MANIFEST --out features.csv` → `ccrcc-staging train features.csv --out MODEL_DIR` → "
        "`ccrcc-staging analyze CT MASK --model MODEL_DIR` (or pick MODEL_DIR in the Slicer module).",
        "",
    ]
    return "\n".join(lines)

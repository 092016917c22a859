"""``ccrcc-staging train`` and ``evaluate``: the paper's "Feature selection", "Model development and validation"
and "Statistical analysis", fit on the training split only and applied unchanged to the other splits.

Per region (whole, sub1…subK, peri) and for the combined region ``mix`` (the best subregion + peri, selection re-run
on the union): impute (training medians) → z-score → Spearman filter → mRMR → LASSO, then each of the six
classifiers. A trained model is one scikit-learn ``Pipeline`` (selection + classifier) with a decision threshold.
Beside every table: a tumour-volume-only baseline. The Radscore is the ``mix`` LASSO's linear predictor with a
Youden cutoff from the training split; Kaplan–Meier curves compare its risk groups.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import FunctionTransformer, Pipeline

from ..core.errors import CCRCCStagingError, ManifestError, SettingsError
from ..core.files import output_folder, require_empty_or_overwrite
from . import bundle_writer
from .assessment import VOLUME_BASELINE, Assessment
from .classifiers import (
    CLASSIFIERS,
    fit_balanced,
    make_classifier,
    out_of_fold_probability,
)
from .cohort import feature_columns
from .harmonisation import ComBat
from .imputation import region_failures
from .manifest import SPLITS
from .metrics import youden_cutoff
from .predictions import predictions_table
from .run_warnings import counted_warnings
from .selection import make_selection_pipeline
from .survival import compare_survival

VOLUME_COLUMN = "tumour_volume_ml"


@dataclass(frozen=True)
class TrainingSettings:
    """Selection and model settings (the paper's values where it gives them)."""

    spearman_threshold: float = 0.9
    n_mrmr_features: int = 25
    mrmr_bins: int = 3
    lasso_cv: int = 10
    classifiers: tuple[str, ...] = CLASSIFIERS
    #: Subregion combined with peri in ``mix``: "auto" = the subregion whose models have the highest mean
    #: out-of-fold AUC on the training split (the paper chose by test AUC; choosing on training avoids a leak).
    mix_subregion: str = "auto"
    #: The model ``analyze`` and the Slicer module use (the paper's best: SVM on VOI_mix).
    deploy_classifier: str = "svm"
    seed: int = 0
    #: Bootstrap samples for the optimism-corrected training AUC of the deployed model (Harrell; 0 = not computed).
    optimism_bootstraps: int = 40
    #: ComBat harmonisation across the manifest's ``batch`` (scanner or centre), fitted on the training split only.
    combat: bool = False

    def __post_init__(self) -> None:
        unknown = set(self.classifiers) - set(CLASSIFIERS)
        if unknown:
            raise SettingsError(f"Unknown classifiers {sorted(unknown)}; choose from {list(CLASSIFIERS)}.")
        if self.deploy_classifier not in self.classifiers:
            raise SettingsError(f"The deployed classifier '{self.deploy_classifier}' is not among those trained.")


@dataclass
class TrainedModel:
    """One region × classifier: the fitted pipeline and its decision threshold on P(high)."""

    region: str
    classifier: str
    pipeline: Pipeline
    threshold: float
    columns: list[str]

    def probability(self, table: pd.DataFrame) -> np.ndarray:
        return self.pipeline.predict_proba(_matrix(table, self.columns))[:, 1]


@dataclass
class TrainingResult:
    models: dict[tuple[str, str], TrainedModel]
    selections: dict[str, Pipeline]
    columns: dict[str, list[str]]  # input columns of each region's selection
    mix_subregion: str
    radscore_cutoff: float
    summary: dict[str, Any] = field(default_factory=dict)
    #: The ComBat harmonisation fitted on the training split and its columns (None: no harmonisation).
    harmonisation: Harmonisation | None = None

    @property
    def deployed(self) -> TrainedModel:
        return self.models[("mix", self.summary["deployed"]["classifier"])]

    def harmonise(self, table: pd.DataFrame) -> pd.DataFrame:
        """``table`` with the training split's ComBat applied (unchanged when there is none)."""
        return table if self.harmonisation is None else self.harmonisation.apply(table)


@dataclass
class Harmonisation:
    """ComBat fitted on the training split, and the feature columns it harmonises (those complete in every case)."""

    combat: ComBat
    columns: list[str]

    @classmethod
    def fit(cls, table: pd.DataFrame) -> Harmonisation:
        if "batch" not in table or table["batch"].isna().any() or (table["batch"].astype(str).str.strip() == "").any():
            raise ManifestError(
                "ComBat harmonisation needs a 'batch' column (scanner or centre) with a value for every case of the "
                "manifest; add it and extract again, or train without --combat."
            )
        # Shape features describe the segmentation's geometry, not the scanner's intensities: left as they are
        # (the volume baseline among them); so are features missing in some case (ComBat needs every value).
        columns = [c for c in feature_columns(table)
                   if "_shape_" not in c and np.all(np.isfinite(table[c].to_numpy(dtype=float)))]
        train = (table["split"] == "train").to_numpy()
        combat = ComBat().fit(table.loc[train, columns].to_numpy(dtype=float), table.loc[train, "batch"].astype(str))
        return cls(combat, columns)

    def apply(self, table: pd.DataFrame) -> pd.DataFrame:
        harmonised = table.copy()
        harmonised[self.columns] = self.combat.transform(table[self.columns].to_numpy(dtype=float),
                                                          table["batch"].astype(str))
        return harmonised

    def for_features(self, features: list[str]) -> dict[str, Any]:
        """The parameters of those of ``features`` it harmonises, for the safe model folder (``model.json``)."""
        combat, index = self.combat, {name: i for i, name in enumerate(self.columns)}
        return {
            "method": "ComBat",
            "batches": list(combat.batches_),
            "features": {
                name: {"grand_mean": float(combat.grand_mean_[index[name]]),
                       "pooled_sd": float(combat.pooled_sd_[index[name]]),
                       "gamma": combat.gamma_[index[name]].tolist(), "delta": combat.delta_[index[name]].tolist()}
                for name in features if name in index
            },
        }


def _matrix(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Feature values with infinities as missing (PyRadiomics gives inf for some degenerate regions)."""
    values = table[columns].to_numpy(dtype=float)
    values[~np.isfinite(values)] = np.nan
    return values


def labels(table: pd.DataFrame) -> np.ndarray:
    return (table["group"] == "high").to_numpy(dtype=int)


def usable_cases(table: pd.DataFrame) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Cases that have features; failed ones are listed with their error."""
    failed = table["error"].astype(str).str.len() > 0
    failures = [{"case_id": str(r.case_id), "error": str(r.error)} for r in table[failed].itertuples()]
    return table[~failed].reset_index(drop=True), failures


def region_names(table: pd.DataFrame) -> list[str]:
    """Regions present in a features table, in the paper's order: whole, sub1…subK, peri."""
    present = {column.split("_", 1)[0] for column in feature_columns(table)}
    subregions = sorted((r for r in present if r.startswith("sub")), key=lambda r: int(r[3:]))
    return [r for r in ("whole",) if r in present] + subregions + [r for r in ("peri",) if r in present]


def region_columns(table: pd.DataFrame, regions: list[str]) -> list[str]:
    prefixes = tuple(f"{region}_" for region in regions)
    return [column for column in feature_columns(table) if column.startswith(prefixes)]


def _selection(settings: TrainingSettings) -> Pipeline:
    selection = make_selection_pipeline(
        spearman_threshold=settings.spearman_threshold,
        n_mrmr_features=settings.n_mrmr_features,
        mrmr_bins=settings.mrmr_bins,
        lasso_cv=settings.lasso_cv,
        random_state=settings.seed,
    )
    # Median imputation (training medians) for the rare feature PyRadiomics cannot compute for a case.
    return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)), *selection.steps])


def _volume_pipeline() -> Pipeline:
    """Tumour volume alone: logistic regression on log volume (its AUC is the volume's own AUC)."""
    return Pipeline(
        [("log", FunctionTransformer(np.log1p)), ("classifier", LogisticRegression(class_weight="balanced"))]
    )


def _fit_models(
    region: str, columns: list[str], train: pd.DataFrame, settings: TrainingSettings
) -> tuple[Pipeline, dict[str, TrainedModel], dict[str, float]]:
    """Selection once on the training split, then every classifier on the selected features."""
    x, y = _matrix(train, columns), labels(train)
    selection = _selection(settings).fit(x, y)
    selected = selection.transform(x)
    models, oof_auc = {}, {}
    for name in settings.classifiers:
        classifier = make_classifier(name, settings.seed)
        oof = out_of_fold_probability(classifier, selected, y, settings.seed)
        fit_balanced(classifier, selected, y)
        pipeline = Pipeline([*selection.steps, ("classifier", classifier)])
        models[name] = TrainedModel(region, name, pipeline, youden_cutoff(y, oof), columns)
        oof_auc[name] = float(roc_auc_score(y, oof))
    return selection, models, oof_auc


def _fit_volume_baseline(train: pd.DataFrame, settings: TrainingSettings) -> TrainedModel:
    x, y = _matrix(train, [VOLUME_COLUMN]), labels(train)
    oof = out_of_fold_probability(_volume_pipeline(), x, y, settings.seed)
    pipeline = fit_balanced(_volume_pipeline(), x, y)
    return TrainedModel("all", VOLUME_BASELINE, pipeline, youden_cutoff(y, oof), [VOLUME_COLUMN])


def _choose_subregion(subregions: list[str], oof_auc: dict[str, dict[str, float]], settings: TrainingSettings) -> str:
    if settings.mix_subregion != "auto":
        if settings.mix_subregion not in subregions:
            raise SettingsError(f"Subregion '{settings.mix_subregion}' is not in the features; found {subregions}.")
        return settings.mix_subregion
    if not subregions:
        raise ManifestError("The features table has no habitat subregion (sub1, sub2, …) to combine with peri.")
    return max(subregions, key=lambda r: (np.mean(list(oof_auc[r].values())), -int(r[3:])))


def train_models(table: pd.DataFrame, settings: TrainingSettings) -> TrainingResult:
    """Fit every region's selection and classifiers on the training split; evaluate on every split (with
    ``settings.combat``, on features harmonised by a ComBat fitted on the training split). The warnings raised meanwhile
    are counted into ``summary["warnings"]`` (message → count) for the report."""
    with counted_warnings() as counts:
        result = _train_models(table, settings)
    result.summary["warnings"] = counts
    return result


def _train_models(table: pd.DataFrame, settings: TrainingSettings) -> TrainingResult:
    table, failures = usable_cases(table)
    harmonisation = Harmonisation.fit(table) if settings.combat else None
    if harmonisation is not None:
        table = harmonisation.apply(table)
    train = table[table["split"] == "train"]
    if train.empty:
        raise ManifestError("The features table has no usable 'train' case.")
    regions = region_names(table)
    if "peri" not in regions:
        raise ManifestError("The features table has no peritumoral (peri_) features; extract with ccrcc-staging extract.")
    models: dict[tuple[str, str], TrainedModel] = {}
    selections: dict[str, Pipeline] = {}
    columns: dict[str, list[str]] = {}
    oof_auc: dict[str, dict[str, float]] = {}

    def fit_region(region: str, source_regions: list[str]) -> None:
        columns[region] = region_columns(table, source_regions)
        selections[region], region_models, oof_auc[region] = _fit_models(region, columns[region], train, settings)
        models.update({(region, name): model for name, model in region_models.items()})

    for region in regions:
        fit_region(region, [region])
    mix_subregion = _choose_subregion([r for r in regions if r.startswith("sub")], oof_auc, settings)
    fit_region("mix", [mix_subregion, "peri"])
    models[("all", VOLUME_BASELINE)] = _fit_volume_baseline(train, settings)

    radscores = radscore(selections["mix"], table, columns["mix"])
    cutoff = youden_cutoff(labels(train), radscores[(table["split"] == "train").to_numpy()])
    result = TrainingResult(models, selections, columns, mix_subregion, cutoff, harmonisation=harmonisation)
    result.summary = {
        "title": "CCRCCStaging training report",
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "training_settings": asdict(settings),
        "cohort": cohort_summary(table, failures),
        "regions": [*regions, "mix"],
        "mix_subregion": mix_subregion,
        "selection": {region: _selection_summary(selection, columns[region]) for region, selection in selections.items()},
        "out_of_fold_auc": oof_auc,
        "deployed": {"region": "mix", "classifier": settings.deploy_classifier},
        "optimism": optimism_corrected_auc(train, columns["mix"], settings),
        **({"harmonisation": {"method": "ComBat", "batches": list(harmonisation.combat.batches_),
                              "features_harmonised": len(harmonisation.columns)}} if harmonisation else {}),
        **evaluation_summary(result, table, harmonised=True),
    }
    return result


def _fit_deployable(x: np.ndarray, y: np.ndarray, settings: TrainingSettings) -> Pipeline:
    """The whole deployed pipeline — selection, then the deployed classifier — fitted on (x, y)."""
    selection = _selection(settings).fit(x, y)
    classifier = fit_balanced(make_classifier(settings.deploy_classifier, settings.seed), selection.transform(x), y)
    return Pipeline([*selection.steps, ("classifier", classifier)])


def optimism_corrected_auc(train: pd.DataFrame, columns: list[str], settings: TrainingSettings) -> dict[str, Any]:
    """The training AUC of the deployed model corrected for optimism by the bootstrap (Harrell et al. 1996): the
    whole modelling — selection included — is repeated on each bootstrap sample; optimism is the mean of (AUC on the
    bootstrap sample − AUC of that model on the original training cases). ``bootstraps`` counts the samples used of
    the ``bootstraps_drawn``: one with fewer cases of a group than the LASSO has folds is skipped (and said so)."""
    x, y = _matrix(train, columns), labels(train)
    apparent = float(roc_auc_score(y, _fit_deployable(x, y, settings).predict_proba(x)[:, 1]))
    rng = np.random.default_rng(settings.seed)
    differences = []
    for _ in range(settings.optimism_bootstraps):
        sample = rng.integers(0, len(y), len(y))
        if len(set(y[sample])) < 2 or min(np.bincount(y[sample])) < settings.lasso_cv:
            continue  # a sample the selection's cross-validation cannot split
        try:
            model = _fit_deployable(x[sample], y[sample], settings)
        except (ValueError, CCRCCStagingError):
            continue
        boot = roc_auc_score(y[sample], model.predict_proba(x[sample])[:, 1])
        differences.append(boot - roc_auc_score(y, model.predict_proba(x)[:, 1]))
    optimism = float(np.mean(differences)) if differences else float("nan")
    return {"apparent_auc": apparent, "optimism": optimism, "corrected_auc": apparent - optimism,
            "bootstraps": len(differences), "bootstraps_drawn": settings.optimism_bootstraps}


def research_predictions(result: TrainingResult, table: pd.DataFrame) -> pd.DataFrame:
    """Every region × classifier (and the volume baseline) on every usable case, for ``predictions.csv``."""
    table, _ = usable_cases(table)
    table = result.harmonise(table)
    probabilities = {
        f"{region}_{name}": (model.probability(table), model.threshold) for (region, name), model in result.models.items()
    }
    scores = radscore(result.selections["mix"], table, result.columns["mix"])
    return predictions_table(table, probabilities, scores, result.radscore_cutoff)


def radscore(selection: Pipeline, table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Radscore = LASSO intercept + Σ coefficient × z-scored feature (the ``mix`` selection's linear predictor)."""
    before_lasso = selection[:-1].transform(_matrix(table, columns))
    return selection.named_steps["lasso"].radscore(before_lasso)


def evaluation_summary(result: TrainingResult, table: pd.DataFrame, harmonised: bool = False) -> dict[str, Any]:
    """Metrics, ROC curves, calibration, Radscore and survival of every model on every split present in ``table``
    (harmonised first, unless it already is, when the models were trained on harmonised features)."""
    table, _ = usable_cases(table)
    if not harmonised:
        table = result.harmonise(table)
    assessment = Assessment()
    baseline = result.models[("all", VOLUME_BASELINE)]
    deployed = ("mix", result.summary.get("deployed", {}).get("classifier", "svm"))
    regions = [r for r in result.summary.get("regions", [])] or sorted({r for r, _ in result.models if r != "all"})
    for split in [s for s in SPLITS if (table["split"] == s).any()]:
        part = table[table["split"] == split]
        y = labels(part)
        if len(set(y)) < 2:
            continue  # AUC needs both groups
        volume = baseline.probability(part)
        models = {key: (model.probability(part), model.threshold) for key, model in result.models.items()
                  if key[0] != "all"}
        models.update({(region, VOLUME_BASELINE): (volume, baseline.threshold) for region in regions})
        assessment.add_split(split, y, models, baseline=volume, deployed=deployed,
                             curves=(deployed, ("mix", VOLUME_BASELINE)))
    return {**assessment.to_dict(), **_radscore_summary(result, table)}


def _radscore_summary(result: TrainingResult, table: pd.DataFrame) -> dict[str, Any]:
    columns = result.columns["mix"]
    scores = radscore(result.selections["mix"], table, columns)
    lasso = result.selections["mix"].named_steps["lasso"]
    names = selected_names(result.selections["mix"], columns)
    return {
        "radscore": {
            "region": "mix",
            "intercept": float(lasso.intercept_),
            "coefficients": dict(zip(names, lasso.coef_[lasso.support_].tolist())),
            "cutoff": float(result.radscore_cutoff),
            "scores": [
                {"case_id": str(c), "split": s, "radscore": float(v), "group": g,
                 "risk": "high" if v >= result.radscore_cutoff else "low"}
                for c, s, v, g in zip(table["case_id"], table["split"], scores, table["group"])
            ],
        },
        "survival": survival_summary(table, scores >= result.radscore_cutoff),
    }


def survival_summary(table: pd.DataFrame, high_risk: np.ndarray) -> dict[str, Any]:
    """Kaplan–Meier and log-rank by Radscore risk group, for all cases with follow-up and per split."""
    if "os_time" not in table or "os_event" not in table:
        return {}
    has_follow_up = table["os_time"].notna().to_numpy() & table["os_event"].notna().to_numpy()
    groups = np.where(high_risk, "high", "low")
    survival = {}
    for name, selector in [("all", has_follow_up)] + [
        (split, has_follow_up & (table["split"] == split).to_numpy()) for split in SPLITS
    ]:
        if selector.sum() < 4 or len(set(groups[selector])) < 2:
            continue
        comparison = compare_survival(
            table["os_time"].to_numpy(float)[selector], table["os_event"].to_numpy(int)[selector], groups[selector]
        )
        survival[name] = {
            "logrank_p": float(comparison.logrank_p_value),
            "logrank_statistic": float(comparison.logrank_statistic),
            "curves": [
                {"group": str(c.group), "timeline": list(map(float, c.timeline)), "survival": list(map(float, c.survival)),
                 "ci_lower": list(map(float, c.ci_lower)), "ci_upper": list(map(float, c.ci_upper)),
                 "n": int(c.n_subjects), "events": int(c.n_events), "at_risk": list(map(int, c.at_risk))}
                for c in comparison.curves
            ],
        }
    return survival


def selected_names(selection: Pipeline, columns: list[str]) -> list[str]:
    """Names of the features that survive every step of a (possibly partial) selection pipeline."""
    names = np.array(columns)
    for _, step in selection.steps:
        if hasattr(step, "get_support"):
            names = names[step.get_support()]
    return names.tolist()


def _selection_summary(selection: Pipeline, columns: list[str]) -> dict[str, Any]:
    steps = selection.named_steps
    lasso = steps["lasso"]
    before_lasso = selected_names(selection[:-1], columns)
    selected = selected_names(selection, columns)
    mse = np.asarray(lasso.mse_path_)
    return {
        "n_input": len(columns),
        "n_after_spearman": int(steps["spearman"].get_support().sum()),
        "n_after_mrmr": len(before_lasso),
        "selected": selected,
        "lasso": {
            "alphas": np.asarray(lasso.alphas_).tolist(),
            "mse_mean": mse.mean(axis=1).tolist(),
            "mse_std": mse.std(axis=1).tolist(),
            "alpha": float(lasso.alpha_),
            "coef_path": {n: np.asarray(p).tolist() for n, p in zip(before_lasso, lasso.coef_path_)},
            "coef": dict(zip(selected, lasso.coef_[lasso.support_].tolist())),
            "intercept": float(lasso.intercept_),
        },
    }


def cohort_summary(table: pd.DataFrame, failures: list[dict[str, str]]) -> dict[str, Any]:
    by_split = {
        split: {"n": int((table["split"] == split).sum()), "n_high": int(((table["split"] == split) & (table["group"] == "high")).sum())}
        for split in SPLITS
        if (table["split"] == split).any()
    }
    return {"by_split": by_split, "failed_cases": failures, "region_failures": region_failures(table)}


def train(
    features_csv: Path, model_dir: Path, settings: TrainingSettings, card: dict[str, Any] | None = None,
    model_id: str | None = None, report: bundle_writer.ReportWriter | None = None, overwrite: bool = False,
) -> TrainingResult:
    """``ccrcc-staging train``: fit on the features table from ``extract`` and write the model folder, which must be
    new or empty (``overwrite``: its previous model files are replaced); ``report(summary, path)`` renders the
    training report into it (the command passes the renderer)."""
    from ..core.provenance import software_versions
    from .cohort import habitat_model_path, read_features, settings_path

    require_empty_or_overwrite(model_dir, overwrite)
    table = read_features(features_csv)
    try:
        habitat_model = json.loads(habitat_model_path(features_csv).read_text())
        extraction_settings = json.loads(settings_path(features_csv).read_text())
    except FileNotFoundError as error:
        raise ManifestError(
            f"{error.filename} is missing: train on a features table written by 'ccrcc-staging extract' (it writes "
            "the habitat model and settings beside the table)."
        ) from None
    result = train_models(table, settings)
    result.summary.update(software=software_versions(), settings=extraction_settings)
    features = selected_names(result.selections["mix"], result.columns["mix"])
    digest = hashlib.sha256(features_csv.read_bytes()).hexdigest()[:12]
    identifier = model_id or f"ccrcc-{settings.deploy_classifier}-mix-{digest}"
    predictions = research_predictions(result, table)
    with output_folder(model_dir, overwrite, bundle_writer.MODEL_FOLDER_FILES):
        _write_model(model_dir, result, features, identifier, habitat_model, extraction_settings, card, report, digest,
                     features_csv, predictions)
    return result


def _write_model(
    model_dir: Path, result: TrainingResult, features: list[str], identifier: str, habitat_model: dict[str, Any],
    extraction_settings: dict[str, Any], card: dict[str, Any] | None, report: bundle_writer.ReportWriter | None,
    digest: str, features_csv: Path, predictions: pd.DataFrame,
) -> None:
    deployed = result.deployed
    bundle_writer.write_model_dir(
        model_dir,
        model_id=identifier,
        deploy_pipeline=deployed.pipeline,
        columns=deployed.columns,
        features=features,
        threshold=deployed.threshold,
        radscore_cutoff=result.radscore_cutoff,
        habitat_model=habitat_model,
        extraction_settings=extraction_settings,
        card=card or {
            "training_data": f"features table {features_csv.name} (sha256 prefix {digest})",
            "intended_use": "Research use only; not for clinical decisions.",
            "demonstration": False,
        },
        summary=result.summary,
        research=result,
        report=report,
        predictions=predictions,
    )

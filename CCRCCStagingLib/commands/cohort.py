"""Cohort commands: ``extract`` (features of every case), ``train`` (models, then the training report) and
``evaluate`` (another cohort, then its report)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..core.settings import Settings
from ..model.bundle import REPORT, load_deployed_model
from ..model.predict import settings_for_model
from ..reports.kit import fmt_p
from ..reports.training.render import write_training_report
from ..training.classifiers import CLASSIFIERS
from ..training.cohort import extract_cohort
from ..training.evaluation import EVALUATION_REPORT, evaluate
from ..training.train import TrainingSettings, train
from .common import progress_mode, settings_from


def run_extract(args: argparse.Namespace) -> int:
    """``extract``: features of every region of every case of a manifest — with ``--model``, by that model's own
    settings and habitat model, unchanged (an external cohort)."""
    if args.preset == "paper" and args.habitats is None:
        args.habitats = 2  # the paper's GMM analysis found K = 2
    settings, habitat_model = settings_from(args) or Settings(), None
    if args.model:
        model = load_deployed_model(Path(args.model))
        settings, habitat_model = settings_for_model(model, settings_from(args)), model.habitat_model
    summary = extract_cohort(
        Path(args.manifest), Path(args.out), settings, jobs=args.jobs,
        cache_dir=Path(args.cache) if args.cache else None, scheduler=args.scheduler, habitat_model=habitat_model,
        show_progress=progress_mode() == "bar",
    )
    print(
        f"{summary.n_cases} cases ({summary.n_failed} failed, {summary.n_from_cache} from cache) → "
        f"{summary.features_csv}; habitat model {summary.habitat_model_json}"
    )
    return 0


def run_train(args: argparse.Namespace) -> int:
    """``train``: selection, six classifiers per region and the combined model, Radscore, survival; a model folder
    with its training report."""
    if args.preset == "paper" and args.mix_subregion == "auto":
        args.mix_subregion = "sub1"  # the paper's combined model: VOI_sub1 + VOI_peri
    settings = TrainingSettings(
        classifiers=tuple(args.classifiers.split(",")) if args.classifiers else CLASSIFIERS,
        mix_subregion=args.mix_subregion,
        deploy_classifier=args.deploy, seed=args.seed, lasso_cv=args.lasso_folds,
        optimism_bootstraps=args.optimism_bootstraps, combat=args.combat,
    )
    result = train(Path(args.features), Path(args.out), settings, report=write_training_report,
                   overwrite=args.overwrite)
    _say_warnings(result.summary, "training")
    _say_deployed(result.summary, f"{args.deploy.upper()} VOI_mix ({result.mix_subregion} + peri)")
    optimism = result.summary.get("optimism") or {}
    if optimism.get("bootstraps"):
        print(f"optimism-corrected training AUC {optimism['corrected_auc']:.3f} "
              f"({optimism['bootstraps']} of {optimism.get('bootstraps_drawn', '?')} bootstrap samples usable)")
    print(f"model folder {args.out} (report: {Path(args.out) / REPORT})")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """``evaluate``: score another cohort with a trained model folder, then render its report."""
    out_dir = Path(args.out)
    summary = evaluate(Path(args.model), Path(args.features), out_dir, args.trust_research_models, args.overwrite)
    write_training_report(summary, out_dir / EVALUATION_REPORT)
    _say_warnings(summary, "evaluation")
    deployed = summary.get("deployed") or {}
    _say_deployed(summary, f"deployed {str(deployed.get('classifier')).upper()} VOI_{deployed.get('region')}")
    print(f"{len(summary['metrics'])} metric rows → {out_dir / 'metrics.csv'}; report {out_dir / EVALUATION_REPORT}")
    return 0


def _say_deployed(summary: dict[str, Any], name: str) -> None:
    """One line per split for the deployed model: its AUC with the 95% CI and the DeLong test against tumour volume
    (the comparison the paper's claim rests on)."""
    deployed = summary.get("deployed") or {}
    for row in summary["metrics"]:
        if (row["region"], row["classifier"]) == (deployed.get("region"), deployed.get("classifier")):
            print(f"{name}, {row['split']}: AUC {row['auc']:.3f} ({row['auc_ci_lower']:.3f}–{row['auc_ci_upper']:.3f}), "
                  f"DeLong vs volume {fmt_p(row.get('p_vs_volume'))}")


def _say_warnings(summary: dict[str, Any], during: str) -> None:
    """One line for the warnings the run caught (they are listed, counted, in the report, not on the terminal)."""
    counts = summary.get("warnings") or {}
    if counts:
        print(f"warning: {sum(counts.values())} warnings of {len(counts)} kinds during {during}, listed in the report",
              file=sys.stderr)

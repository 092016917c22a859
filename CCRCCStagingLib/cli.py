"""``ccrcc-staging``: the command line, a thin layer over library functions of the same names.

User mistakes (:class:`~CCRCCStagingLib.errors.CCRCCStagingError`) end with one line ``error: …`` on stderr and
exit code 2; ``--debug`` shows the traceback. Progress goes to stderr as ``progress: <fraction> <message>``
(the Slicer module reads these lines to drive its progress bar).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from .errors import CCRCCStagingError, SettingsError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
DEMO_OUT = "ccrcc-demo-output"


def _progress(fraction: float, message: str) -> None:
    print(f"progress: {fraction:.2f} {message}", file=sys.stderr, flush=True)


def _auto_or(number: type, auto: object, what: str, example: str):
    """An argparse type: 'auto' (given back as ``auto``) or a number of type ``number``."""

    def parse(value: str):
        if value == "auto":
            return auto
        try:
            return number(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{value}' is not a {what}: use 'auto' or a number such as {example}.")

    return parse


def _settings_from(args: argparse.Namespace):
    """Settings from the region options, or None when none was given (a model then brings its own)."""
    from .settings import DEFAULT_PARAMS_FILE, HabitatSettings, Settings

    given = (args.habitats, args.margin_mm, args.params, args.seed, args.interpolation)
    if all(value is None for value in given):
        return None
    return Settings(
        params_file=Path(args.params) if args.params else DEFAULT_PARAMS_FILE,
        margin_mm=3.0 if args.margin_mm is None else args.margin_mm,
        habitats=HabitatSettings(k=None if args.habitats in (None, "auto") else args.habitats, seed=args.seed or 0),
        interpolation=args.interpolation or "pyradiomics",
    )


def _model_dir(args: argparse.Namespace) -> Path | None:
    """The model to predict with: --model, else the bundled one; none with --no-model."""
    from .case import BUNDLED_MODEL_DIR

    if args.no_model:
        return None
    return Path(args.model) if args.model else BUNDLED_MODEL_DIR


def _summary(result: dict, out_dir: Path) -> str:
    regions = result["regions"]
    lines = [
        f"{result['case_id']}: tumour {regions['whole']['volume_ml']:.1f} mL, {result['habitats_k']} habitats, "
        f"shell {regions['peri']['volume_ml']:.1f} mL, {result['n_features']} features → {out_dir}"
    ]
    if "t_stage_group" in result:
        group = "T3–T4 (high)" if result["t_stage_group"] == "high" else "T1–T2 (low)"
        lines += [
            f"  predicted T stage: {group}, P(T3–T4) = {result['probability_high']:.2f} "
            f"(threshold {result['threshold']:.2f})",
            f"  Radscore {result['radscore']:.3f} (cutoff {result['radscore_cutoff']:.3f}): {result['risk_group']} risk",
            f"  model {result['model']['id']}"
            + (" — demonstration model trained on synthetic phantoms, NOT for clinical use"
               if result["model"]["demonstration"] else ""),
        ]
    elif "prediction_withheld" in result:
        lines.append(f"  no prediction: {result['prediction_withheld']}")
    return "\n".join(lines)


def _print_warnings(result: dict) -> None:
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)


def command_analyze(args: argparse.Namespace) -> int:
    """Regions, habitats and features of one case, written to ``--out``."""
    from .case import analyze

    result = analyze(
        Path(args.image), Path(args.mask), Path(args.out), _settings_from(args), model_dir=_model_dir(args),
        all_features=args.features == "all", label=args.label, segment=args.segment, overwrite=args.overwrite,
        progress=_progress, workers=args.workers,
    )
    _print_warnings(result)
    print(_summary(result, Path(args.out)))
    _write_report_files(Path(args.out), args.report, not args.no_identifiers, args.dicom_seg)
    return 0


def _write_report_files(result_dir: Path, formats: str, include_identifiers: bool, dicom_seg: bool) -> None:
    """The per-case report (``none`` for no report) and, on request, the DICOM SEG of the regions."""
    if formats != "none":
        from .report import render_report

        for path in render_report(result_dir, formats, include_identifiers=include_identifiers):
            print(f"report: {path}")
    if dicom_seg:
        from .dicom_seg import export_dicom_seg

        export = export_dicom_seg(result_dir)
        for warning in export.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"DICOM SEG: {export.path}")


def command_report(args: argparse.Namespace) -> int:
    """Re-render the report of a finished analysis folder (and/or export its DICOM SEG)."""
    _write_report_files(Path(args.result_dir), args.format, not args.no_identifiers, args.dicom_seg)
    return 0


def command_demo(args: argparse.Namespace) -> int:
    """Analyse the sample case shipped in Resources/Sample and print a short summary."""
    from .case import BUNDLED_MODEL_DIR, analyze
    from .sample import SEGMENT_NAME, sample_paths

    ct_path, segmentation_path = sample_paths()
    out_dir = Path(args.out)
    result = analyze(
        ct_path, segmentation_path, out_dir, None, model_dir=BUNDLED_MODEL_DIR, segment=SEGMENT_NAME,
        overwrite=args.out == DEMO_OUT, progress=_progress,
    )
    _print_warnings(result)
    print(_summary(result, out_dir))
    _write_report_files(out_dir, "html", True, False)
    return 0


def command_extract(args: argparse.Namespace) -> int:
    """Features of every region of every case of a manifest."""
    from .cohort import extract_cohort
    from .settings import Settings

    summary = extract_cohort(
        Path(args.manifest), Path(args.out), _settings_from(args) or Settings(), jobs=args.jobs,
        cache_dir=Path(args.cache) if args.cache else None, scheduler=args.scheduler,
    )
    print(
        f"{summary.n_cases} cases ({summary.n_failed} failed, {summary.n_from_cache} from cache) → "
        f"{summary.features_csv}; habitat model {summary.habitat_model_json}"
    )
    return 0


def command_train(args: argparse.Namespace) -> int:
    """Selection, six classifiers per region and the combined model, Radscore, survival; writes a model folder."""
    from .training import TrainingSettings, train

    from .models import CLASSIFIERS

    settings = TrainingSettings(
        classifiers=tuple(args.classifiers.split(",")) if args.classifiers else CLASSIFIERS,
        mix_subregion=args.mix_subregion,
        deploy_classifier=args.deploy, seed=args.seed,
    )
    result = train(Path(args.features), Path(args.out), settings)
    deployed = [m for m in result.summary["metrics"] if (m["region"], m["classifier"]) == ("mix", args.deploy)]
    for row in deployed:
        print(f"{args.deploy.upper()} VOI_mix ({result.mix_subregion} + peri), {row['split']}: AUC {row['auc']:.3f} "
              f"({row['auc_ci_lower']:.3f}–{row['auc_ci_upper']:.3f})")
    print(f"model folder {args.out} (report: {Path(args.out) / 'training_report.html'})")
    return 0


def command_evaluate(args: argparse.Namespace) -> int:
    """Score another cohort with a trained model folder."""
    from .training import evaluate

    summary = evaluate(Path(args.model), Path(args.features), Path(args.out))
    print(f"{len(summary['metrics'])} metric rows → {Path(args.out) / 'metrics.csv'}")
    return 0


def command_build_demo_model(args: argparse.Namespace) -> int:
    """Rebuild the bundled demonstration model from synthetic phantoms (the committed command)."""
    from .case import BUNDLED_MODEL_DIR
    from .demo_model import DEMO_COHORT_SIZE, DEMO_SEED, build_demo_model

    out_dir = build_demo_model(
        Path(args.out) if args.out else BUNDLED_MODEL_DIR, Path(args.work),
        n=args.n or DEMO_COHORT_SIZE, jobs=args.jobs, seed=DEMO_SEED if args.seed is None else args.seed,
    )
    print(f"demonstration model → {out_dir} (model card: {out_dir / 'MODEL_CARD.md'})")
    return 0


def command_phantoms(args: argparse.Namespace) -> int:
    """Write synthetic cases: a cohort with a manifest, or the sample case."""
    if args.sample:
        from .sample import write_sample_case

        ct_path, segmentation_path = write_sample_case(Path(args.out))
        print(f"sample case: {ct_path}, {segmentation_path}")
        return 0
    if args.expression:
        from .expression_phantoms import planted_cohort

        paths = planted_cohort(n_samples=args.n or 120, seed=args.seed).write(Path(args.out))
        print("planted expression data: " + ", ".join(str(p) for p in paths.values()))
        return 0
    if args.n is None:
        raise SettingsError("Give --n N (number of cases), --sample or --expression.")
    from .phantoms import write_cohort

    manifest = write_cohort(args.n, Path(args.out), seed=args.seed, overwrite=args.overwrite)
    print(f"{args.n} synthetic cases, manifest {manifest}")
    return 0


def command_radiogenomics(args: argparse.Namespace) -> int:
    """WGCNA modules of the expression table against the Radscore, and their enrichment."""
    from .radiogenomics import REPORT_FILE, RadiogenomicsSettings, run_radiogenomics

    settings = RadiogenomicsSettings(
        power=args.power, network_type=args.network, min_module_size=args.min_module_size,
        deep_split=args.deep_split, merge_cut_height=args.merge_cut_height, top_genes=args.top_genes,
        variability=args.variability, log2=args.log2, enrich_modules=args.enrich_modules, top_terms=args.top_terms,
        min_set_size=args.min_set_size, max_set_size=args.max_set_size, background=args.background,
        bh_scope=args.bh_scope, max_memory_gb=args.max_memory_gb,
    )
    out_dir = Path(args.out)
    summary = run_radiogenomics(
        Path(args.expression), Path(args.radscore), args.gene_sets, out_dir, settings,
        sample_map_path=Path(args.sample_map) if args.sample_map else None, overwrite=args.overwrite,
        progress=_progress,
    )
    print(f"{summary['samples']['paired']} cases, {summary['genes']['analysed']} genes, power "
          f"{summary['power']['value']:g}, {sum(m['label'] != 0 for m in summary['modules'])} modules")
    for module in [m for m in summary["modules"] if m["label"] != 0][:settings.enrich_modules]:
        print(f"  {module['module']}: {module['size']} genes, r = {module['r']:.3f}, p = {module['p_value']:.3g}")
        for term in [t for t in summary["top_terms"] if t["module"] == module["module"]][:3]:
            print(f"    {term['collection']}: {term['term']} (p = {term['p_value']:.3g}, BH {term['p_adjusted']:.3g})")
    print(f"report: {out_dir / REPORT_FILE}")
    return 0


def _add_radiogenomics(subparsers: argparse._SubParsersAction) -> None:
    # Defaults written out here (not imported) so that building the parser stays light; a test checks they
    # equal RadiogenomicsSettings' defaults.
    parser = subparsers.add_parser(
        "radiogenomics", help="WGCNA gene modules against the Radscore, with GO/KEGG enrichment (offline)"
    )
    parser.add_argument("--expression", required=True,
                        help="genes × samples table: first column gene ids, one column per sample (.csv or tab-separated)")
    parser.add_argument("--radscore", required=True, help="CSV with case_id and radscore (radscores.csv of train/evaluate)")
    parser.add_argument("--gene-sets", required=True, nargs="+", metavar="[LABEL=]SETS.gmt",
                        help="gene-set files in GMT format (e.g. GO_BP=c5.go.bp.gmt KEGG=c2.cp.kegg.gmt)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--sample-map", help="CSV case_id,sample_id when ids are not matched automatically")
    parser.add_argument("--power", type=_auto_or(float, None, "power", "5"), default=None, metavar="auto|N",
                        help="soft-threshold power (default auto: scale-free fit R² ≥ 0.85; the paper used 5)")
    parser.add_argument("--network", choices=["unsigned", "signed"], default="unsigned", help="network type")
    parser.add_argument("--min-module-size", type=int, default=100, help="minimum module size (default 100)")
    parser.add_argument("--deep-split", type=int, default=2, choices=range(5), help="tree cut sensitivity 0–4 (2)")
    parser.add_argument("--merge-cut-height", type=float, default=0.25,
                        help="merge modules with eigengene r > 1 − this (default 0.25; 0 = no merging)")
    parser.add_argument("--top-genes", type=int, default=5000,
                        help="keep the N most variable genes (default 5000; 0 = all; memory grows with N²)")
    parser.add_argument("--variability", choices=["mad", "variance"], default="mad", help="gene ranking (mad)")
    parser.add_argument("--log2", choices=["auto", "yes", "no"], default="auto",
                        help="apply log2(x + 1) (auto: when values look unlogged)")
    parser.add_argument("--enrich-modules", type=int, default=2, help="modules annotated, best-correlated first (2)")
    parser.add_argument("--top-terms", type=int, default=3, help="terms per module and collection in the report (3)")
    parser.add_argument("--min-set-size", type=int, default=10, help="smallest gene set tested (10)")
    parser.add_argument("--max-set-size", type=int, default=500, help="largest gene set tested (500)")
    parser.add_argument("--background", choices=["annotated", "analysed"], default="annotated",
                        help="enrichment universe: analysed genes in the collection (default) or all analysed genes")
    parser.add_argument("--bh-scope", choices=["tested", "hit"], default="tested",
                        help="terms in the BH adjustment: all tested (default) or only those with a module gene")
    parser.add_argument("--max-memory-gb", type=float, default=8.0, help="refuse larger networks (default 8)")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    parser.set_defaults(handler=command_radiogenomics)


def _add_region_options(parser: argparse.ArgumentParser) -> None:
    """Options that change the regions and features (shared by analyze and extract)."""
    parser.add_argument("--habitats", type=_auto_or(int, "auto", "habitat count", "2"), metavar="K|auto",
                        help="number of GMM habitats, or 'auto' to choose 2–4 by BIC (default: auto)")
    parser.add_argument("--margin-mm", type=float, help="peritumoral shell width in mm (default 3)")
    parser.add_argument("--params", help="PyRadiomics parameter file (default: Resources/Params/ccrcc_pyradiomics.yaml)")
    parser.add_argument("--seed", type=int, help="seed of the habitat GMM (default 0)")
    parser.add_argument("--interpolation", choices=("pyradiomics", "float"),
                        help="resampled CT in its own pixel type as PyRadiomics does (default), or in float32")


def _add_extract(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("extract", help="features of every region of every case of a cohort manifest")
    parser.add_argument("manifest", help="cohort manifest CSV (case_id, image, mask, t_stage, split, …)")
    parser.add_argument("--out", required=True, help="features table to write (CSV)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--cache", help="cache folder: a re-run only computes what changed")
    parser.add_argument("--scheduler", help="address of a Dask scheduler to run the cases on")
    _add_region_options(parser)
    parser.set_defaults(handler=command_extract)


def _add_train(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train the paper's models on a features table from 'extract'")
    parser.add_argument("features", help="features table (CSV) written by 'ccrcc-staging extract'")
    parser.add_argument("--out", required=True, help="model folder to write")
    parser.add_argument("--classifiers", help="comma-separated subset of lr,svm,rf,lightgbm,nb,mlp (default: all six)")
    parser.add_argument("--mix-subregion", default="auto", help="subregion combined with peri (default: auto)")
    parser.add_argument("--deploy", default="svm", choices=["svm", "lr"], help="model used by analyze (default svm)")
    parser.add_argument("--seed", type=int, default=0, help="seed of folds and models (default 0)")
    parser.set_defaults(handler=command_train)


def _add_evaluate(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("evaluate", help="score another cohort with a trained model folder")
    parser.add_argument("model", help="model folder written by 'ccrcc-staging train'")
    parser.add_argument("features", help="features table of the cohort (from 'extract' with the model's settings)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.set_defaults(handler=command_evaluate)


def _add_analyze(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("analyze", help="regions, habitats and features of one CT and tumour mask")
    parser.add_argument("image", help="CT: NRRD, NIfTI (any SimpleITK format) or a DICOM series folder")
    parser.add_argument("mask", help="tumour mask: labelmap or Slicer .seg.nrrd")
    parser.add_argument("--out", required=True, help="output folder")
    choose = parser.add_mutually_exclusive_group()
    choose.add_argument("--label", type=int, help="label value of the tumour in the mask")
    choose.add_argument("--segment", help="segment name (Slicer .seg.nrrd)")
    _add_region_options(parser)
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--model", help="model folder from 'ccrcc-staging train' (default: the bundled model)")
    models.add_argument("--no-model", action="store_true", help="regions and features only, no prediction")
    parser.add_argument("--features", choices=["model", "all"], default="model",
                        help="'model' (default): only what the model needs; 'all': every feature of every region "
                        "(always the case without a model)")
    parser.add_argument("--workers", type=int, choices=range(1, 65), metavar="N",
                        help="processes for the feature extraction (default $CCRCC_FEATURE_WORKERS or 1; 2 is faster "
                        "for one case on an idle 2-core machine; values do not change)")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    _add_report_options(parser, "--report", "html")
    parser.set_defaults(handler=command_analyze)


def _add_report_options(parser: argparse.ArgumentParser, flag: str, default: str) -> None:
    parser.add_argument(flag, default=default, metavar="html,pdf|none",
                        help=f"per-case report formats: html, pdf, html,pdf or none (default {default})")
    parser.add_argument("--no-identifiers", action="store_true",
                        help="leave the case identifier, DICOM patient data and file paths out of the report")
    parser.add_argument("--dicom-seg", action="store_true",
                        help="also write the regions as a DICOM SEG (regions.seg.dcm) when the CT is a DICOM series")


def _add_report(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("report", help="re-render the report of a finished analysis folder")
    parser.add_argument("result_dir", help="folder written by 'ccrcc-staging analyze'")
    _add_report_options(parser, "--format", "html,pdf")
    parser.set_defaults(handler=command_report)


def _add_demo(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="analyse the bundled sample case and print a summary")
    parser.add_argument("--out", default=DEMO_OUT, help=f"output folder (default ./{DEMO_OUT}, replaced each run)")
    parser.set_defaults(handler=command_demo)


def _add_phantoms(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("phantoms", help="write synthetic CT cases (a cohort with a manifest, or the sample)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--n", type=int, help="number of cases of the cohort")
    parser.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    parser.add_argument("--sample", action="store_true", help="write the sample case instead of a cohort")
    parser.add_argument("--expression", action="store_true",
                        help="write planted expression data for 'radiogenomics' instead (--n samples, default 120)")
    parser.add_argument("--overwrite", action="store_true", help="replace a cohort already in --out")
    parser.set_defaults(handler=command_phantoms)


def _add_build_demo_model(subparsers: argparse._SubParsersAction) -> None:
    # Defaults are resolved in the command so that building the parser imports nothing heavy.
    parser = subparsers.add_parser("build-demo-model", help="rebuild the bundled demonstration model (synthetic data)")
    parser.add_argument("--out", help="bundle folder (default: the bundled model, Resources/Models/…)")
    parser.add_argument("--work", default="build/demo-model", help="working folder (cohort, features, cache)")
    parser.add_argument("--n", type=int, help="cohort size (default: that of the shipped model)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--seed", type=int, help="seed (default: that of the shipped model)")
    parser.set_defaults(handler=command_build_demo_model)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccrcc-staging",
        description="Subregional and peritumoral CT radiomics for the T stage of clear cell RCC "
        "(Huang et al., Insights into Imaging 2026). Research software, not for clinical use.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_analyze(subparsers)
    _add_report(subparsers)
    _add_demo(subparsers)
    _add_extract(subparsers)
    _add_train(subparsers)
    _add_evaluate(subparsers)
    _add_phantoms(subparsers)
    _add_radiogenomics(subparsers)
    _add_build_demo_model(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except CCRCCStagingError as error:
        if args.debug:
            traceback.print_exc()
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("error: interrupted; no partial result was written under the final names.", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())

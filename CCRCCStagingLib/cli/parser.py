"""The ``ccrcc-staging`` argument parser. Building it imports nothing heavy (``--help`` stays instant): each
sub-command names its handler as ``"<commands module>:<function>"``, imported only when that command runs."""

from __future__ import annotations

import argparse
from typing import NoReturn

from ..core.files import DEMO_OUT

#: The default voxel budget (``case.file_checks.DEFAULT_MAX_VOXELS``; written out so that the parser stays light,
#: a test checks they agree).
DEFAULT_MAX_VOXELS = 1024 * 1024 * 2000


def finite_float(value: str) -> float:
    """An argparse type: a finite number (``inf`` and ``nan`` are not options a user means)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"'{value}' is not a finite number.")
    return number


def whole_number(low: int, high: int | None = None):
    """An argparse type: a whole number from ``low`` (to ``high``)."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{value}' is not a whole number.") from None
        if number < low or (high is not None and number > high):
            bounds = f"at least {low}" if high is None else f"a whole number from {low} to {high}"
            raise argparse.ArgumentTypeError(f"'{value}' must be {bounds}.")
        return number

    return parse


#: Counts (≥ 1) and seeds (NumPy takes 0 … 2³² − 1).
positive_int = whole_number(1)
non_negative_int = whole_number(0, 2**32 - 1)


def report_formats(value: str) -> str:
    """An argparse type: ``none``, or report formats from html and pdf separated by commas (checked before any work,
    not after the analysis)."""
    formats = [part.strip().lower() for part in value.split(",")]
    if value.strip().lower() == "none":
        return "none"
    if not all(part in ("html", "pdf") for part in formats):
        raise argparse.ArgumentTypeError(f"'{value}' is not a report format: use html, pdf, html,pdf or none.")
    return ",".join(dict.fromkeys(formats))


def auto_or(number: type, auto: object, what: str, example: str):
    """An argparse type: 'auto' (given back as ``auto``) or a number of type ``number``."""

    def parse(value: str):
        if value == "auto":
            return auto
        try:
            return number(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{value}' is not a {what}: use 'auto' or a number such as {example}.")

    return parse


def _radiogenomics_options(parser: argparse.ArgumentParser) -> None:
    # Defaults written out here (not imported) so that building the parser stays light; a test checks they
    # equal RadiogenomicsSettings' defaults.
    parser.add_argument("--expression", required=True,
                        help="genes × samples table: first column gene ids, one column per sample (.csv or tab-separated)")
    parser.add_argument("--radscore", required=True, help="CSV with case_id and radscore (radscores.csv of train/evaluate)")
    parser.add_argument("--gene-sets", required=True, nargs="+", metavar="[LABEL=]SETS.gmt",
                        help="gene-set files in GMT format (e.g. GO_BP=c5.go.bp.gmt KEGG=c2.cp.kegg.gmt)")
    parser.add_argument("--sample-map", help="CSV case_id,sample_id when ids are not matched automatically")
    parser.add_argument("--power", type=auto_or(float, None, "power", "5"), default=None, metavar="auto|N",
                        help="soft-threshold power (default auto: scale-free fit R² ≥ 0.85; the paper used 5)")
    parser.add_argument("--network", choices=["unsigned", "signed"], default="unsigned", help="network type")
    parser.add_argument("--min-module-size", type=positive_int, default=100, help="minimum module size (default 100)")
    parser.add_argument("--deep-split", type=int, default=2, choices=range(5), help="tree cut sensitivity 0–4 (2)")
    parser.add_argument("--merge-cut-height", type=finite_float, default=0.25,
                        help="merge modules with eigengene r > 1 − this (default 0.25; 0 = no merging)")
    parser.add_argument("--top-genes", type=non_negative_int, default=5000,
                        help="keep the N most variable genes (default 5000; 0 = all; memory grows with N²)")
    parser.add_argument("--variability", choices=["mad", "variance"], default="mad", help="gene ranking (mad)")
    parser.add_argument("--log2", choices=["auto", "yes", "no"], default="auto",
                        help="apply log2(x + 1) (auto: when values look unlogged)")
    parser.add_argument("--enrich-modules", type=non_negative_int, default=2, help="modules annotated, best-correlated first (2)")
    parser.add_argument("--top-terms", type=positive_int, default=3, help="terms per module and collection in the report (3)")
    parser.add_argument("--min-set-size", type=positive_int, default=10, help="smallest gene set tested (10)")
    parser.add_argument("--max-set-size", type=positive_int, default=500, help="largest gene set tested (500)")
    parser.add_argument("--background", choices=["annotated", "analysed"], default="annotated",
                        help="enrichment universe: analysed genes in the collection (default) or all analysed genes")
    parser.add_argument("--bh-scope", choices=["tested", "hit"], default="tested",
                        help="terms in the BH adjustment: all tested (default) or only those with a module gene")
    parser.add_argument("--max-memory-gb", type=finite_float, default=8.0, help="refuse larger networks (default 8)")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")


def _add_region_options(parser: argparse.ArgumentParser) -> None:
    """Options that change the regions and features (shared by analyze and extract)."""
    parser.add_argument("--habitats", type=auto_or(int, "auto", "habitat count", "2"), metavar="K|auto",
                        help="number of GMM habitats, or 'auto' to choose 2–4 by BIC (default: auto)")
    parser.add_argument("--margin-mm", type=finite_float, help="peritumoral shell width in mm (default 3)")
    parser.add_argument("--params", help="PyRadiomics parameter file (default: Resources/Params/ccrcc_pyradiomics.yaml)")
    parser.add_argument("--seed", type=non_negative_int, help="seed of the habitat GMM (default 0)")
    parser.add_argument("--interpolation", choices=("pyradiomics", "float"),
                        help="resampled CT in its own pixel type as PyRadiomics does (default), or in float32")


def _extract_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=["paper"],
                        help="'paper': the published extraction — K = 2 population habitats, 3 mm shell, the project's "
                        "parameter file (1 mm, binCount 25) (options given explicitly still win)")
    parser.add_argument("--model", help="extract with this trained model's settings and habitat model, unchanged "
                        "(an external cohort; any splits); without it the habitat model is fit on the train split")
    parser.add_argument("--jobs", type=positive_int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--cache", help="cache folder: a re-run only computes what changed")
    parser.add_argument("--scheduler", help="address of a Dask scheduler to run the cases on")
    _add_region_options(parser)


def _train_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", choices=["paper"],
                        help="'paper': the published model — VOI_mix = sub1 + peri, SVM deployed, 10-fold LASSO "
                        "(options given explicitly still win)")
    parser.add_argument("--classifiers", help="comma-separated subset of lr,svm,rf,lightgbm,nb,mlp (default: all six)")
    parser.add_argument("--mix-subregion", default="auto", help="subregion combined with peri (default: auto)")
    parser.add_argument("--deploy", default="svm", choices=["svm", "lr"], help="model used by analyze (default svm)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed of folds and models (default 0)")
    parser.add_argument("--lasso-folds", type=whole_number(2, 100), default=10,
                        help="cross-validation folds of the LASSO (default 10, the paper's; needs that many cases of "
                        "each group in the training split)")
    parser.add_argument("--combat", action="store_true",
                        help="harmonise features across the manifest's 'batch' column (scanner or centre) with ComBat "
                        "fitted on the training split; shape features are left as they are (default: off, as in "
                        "the paper)")
    parser.add_argument("--optimism-bootstraps", type=non_negative_int, default=40,
                        help="bootstrap samples for the optimism-corrected training AUC (default 40; 0 = skip)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the model in a folder that is not empty (otherwise refused)")


def _evaluate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier evaluation in --out")
    parser.add_argument(
        "--trust-research-models", action="store_true",
        help="also score every region × classifier from the folder's research/pipelines.joblib — a pickle: loading "
        "it runs code from the file, so use this only on a model folder you trained yourself (default: the deployed "
        "model only, read without pickle)",
    )


def _analyze_options(parser: argparse.ArgumentParser) -> None:
    choose = parser.add_mutually_exclusive_group()
    choose.add_argument("--label", type=int, help="label value of the tumour in the mask (DICOM SEG: segment number)")
    choose.add_argument("--segment", help="segment name (Slicer .seg.nrrd, DICOM SEG) or RTSTRUCT ROI name")
    choose.add_argument("--mask-threshold", type=finite_float, metavar="T",
                        help="the mask is a probability map: voxels ≥ T are the tumour")
    parser.add_argument("--max-voxels", type=positive_int, default=DEFAULT_MAX_VOXELS, metavar="N",
                        help=f"refuse images claiming more voxels (default {DEFAULT_MAX_VOXELS:,}, 1024 × 1024 × 2000)")
    _add_region_options(parser)
    models = parser.add_mutually_exclusive_group()
    models.add_argument("--model", help="model folder from 'ccrcc-staging train' (default: the bundled model)")
    models.add_argument("--no-model", action="store_true", help="regions and features only, no prediction")
    parser.add_argument("--batch", metavar="NAME",
                        help="the case's scanner or centre, as named in the training manifest's batch column (needed "
                        "by a model trained with --combat)")
    parser.add_argument("--features", choices=["model", "all"], default="model",
                        help="'model' (default): only what the model needs; 'all': every feature of every region "
                        "(always the case without a model)")
    parser.add_argument("--workers", type=int, choices=range(1, 65), metavar="N",
                        help="processes for the feature extraction (default $CCRCC_FEATURE_WORKERS or 1; 2 is faster "
                        "for one case on an idle 2-core machine; values do not change)")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    _add_report_options(parser, "--report", "html")


def _add_report_options(parser: argparse.ArgumentParser, flag: str, default: str) -> None:
    parser.add_argument(flag, default=default, metavar="html,pdf|none", type=report_formats,
                        help=f"per-case report formats: html, pdf, html,pdf or none (default {default})")
    parser.add_argument("--no-identifiers", action="store_true",
                        help="leave the case identifier, DICOM patient data and file paths out of the report")
    parser.add_argument("--dicom-seg", action="store_true",
                        help="also write the regions as a DICOM SEG (regions.seg.dcm) when the CT is a DICOM series")


def _predict_options(parser: argparse.ArgumentParser) -> None:
    choose = parser.add_mutually_exclusive_group()
    choose.add_argument("--label", type=int, help="label value of the tumour in every mask (a manifest's label column wins)")
    choose.add_argument("--segment", help="segment or RTSTRUCT ROI name in every mask (a manifest's segment column wins)")
    parser.add_argument("--model", help="model folder from 'ccrcc-staging train' (default: the bundled model)")
    parser.add_argument("--batch", metavar="NAME", help="scanner or centre of every case, for a model trained with "
                        "--combat (a manifest's batch column wins)")
    parser.add_argument("--jobs", type=positive_int, default=1, help="cases analysed at once (default 1)")
    parser.add_argument("--max-voxels", type=positive_int, default=DEFAULT_MAX_VOXELS, metavar="N",
                        help=f"refuse images claiming more voxels (default {DEFAULT_MAX_VOXELS:,})")
    parser.add_argument("--report", default="html", metavar="html,pdf|none", type=report_formats,
                        help="each case's report formats (default html; the dashboard links to it)")
    parser.add_argument("--no-identifiers", action="store_true",
                        help="leave DICOM patient data and file paths out of the case reports")


def _report_options(parser: argparse.ArgumentParser) -> None:
    _add_report_options(parser, "--format", "html,pdf")


def _demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default=DEMO_OUT, help=f"output folder (default ./{DEMO_OUT}, replaced each run)")


def _phantoms_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n", type=positive_int,
                        help="number of cases of the cohort (to train on it: at least 63 with the default splits and "
                        "10-fold LASSO, which needs 10 cases of each T-stage group in the training split)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed (default 0)")
    parser.add_argument("--sample", action="store_true", help="write the sample case instead of a cohort")
    parser.add_argument("--expression", action="store_true",
                        help="write planted expression data for 'radiogenomics' instead (--n samples, default 120)")
    parser.add_argument("--overwrite", action="store_true", help="replace a cohort already in --out")


def _serve_options(parser: argparse.ArgumentParser) -> None:
    # The worker parses each request's arguments with this same parser (handed down, not imported: cli is above
    # commands).
    parser.set_defaults(command_parser=build_parser)


def _build_demo_model_options(parser: argparse.ArgumentParser) -> None:
    # Defaults are resolved in the command so that building the parser imports nothing heavy.
    parser.add_argument("--out", help="bundle folder (default: the bundled model, Resources/Models/…)")
    parser.add_argument("--work", default="build/demo-model", help="working folder (cohort, features, cache)")
    parser.add_argument("--n", type=positive_int, help="cohort size (default: that of the shipped model)")
    parser.add_argument("--jobs", type=positive_int, default=2, help="parallel processes (default 2)")
    parser.add_argument("--seed", type=non_negative_int, help="seed (default: that of the shipped model)")


#: Every sub-command: name, help, handler (``"<commands module>:<function>"``, imported only when it runs),
#: positional arguments as (name, help), the help of a required ``--out`` (None: no such option), its other options.
COMMANDS = (
    ("analyze", "regions, habitats and features of one CT and tumour mask", "analyze:run_analyze",
     (("image", "CT: NRRD, NIfTI (any SimpleITK format) or a DICOM series folder"),
      ("mask", "tumour mask: labelmap, Slicer .seg.nrrd, DICOM RTSTRUCT or SEG (or a folder holding one)")),
     "output folder", _analyze_options),
    ("report", "re-render the report of a finished analysis folder", "analyze:run_report",
     (("result_dir", "folder written by 'ccrcc-staging analyze'"),), None, _report_options),
    ("demo", "analyse the bundled sample case and print a summary", "analyze:run_demo", (), None, _demo_options),
    ("extract", "features of every region of every case of a cohort manifest", "cohort:run_extract",
     (("manifest", "cohort manifest CSV (case_id, image, mask, t_stage, split, …)"),), "features table to write (CSV)",
     _extract_options),
    ("train", "train the paper's models on a features table from 'extract'", "cohort:run_train",
     (("features", "features table (CSV) written by 'ccrcc-staging extract'"),), "model folder to write",
     _train_options),
    ("evaluate", "score another cohort with a trained model folder", "cohort:run_evaluate",
     (("model", "model folder written by 'ccrcc-staging train'"),
      ("features", "features table of the cohort (from 'extract' with the model's settings)")), "output folder",
     _evaluate_options),
    ("predict", "T-stage predictions for many cases: a manifest or a folder of cases, resumable", "predict:run_predict",
     (("input", "manifest CSV (case_id, image, mask, …) or a folder of cases (see the README: images/ + masks/, one "
                "folder per case, or <case>_image + <case>_mask)"),),
     "output folder (one folder per case, predictions.csv, index.html)", _predict_options),
    ("phantoms", "write synthetic CT cases (a cohort with a manifest, or the sample)", "synthetic:run_phantoms", (),
     "output folder", _phantoms_options),
    ("radiogenomics", "WGCNA gene modules against the Radscore, with GO/KEGG enrichment (offline)",
     "radiogenomics:run_command", (), "output folder", _radiogenomics_options),
    ("build-demo-model", "rebuild the bundled demonstration model (synthetic data)", "synthetic:run_build_demo_model",
     (), None, _build_demo_model_options),
    ("serve", "a worker for the Slicer module: analyze/report requests as JSON lines on stdin, answers on stdout",
     "serve:run_serve", (), None, _serve_options),
)


class _OneLineParser(argparse.ArgumentParser):
    """An option mistake ends like every other user mistake: one ``error:`` line (naming ``--help``), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message.rstrip('.')}; see '{self.prog} --help'.\n")


def build_parser() -> argparse.ArgumentParser:
    """The whole parser (imports nothing heavy)."""
    parser = _OneLineParser(
        prog="ccrcc-staging",
        description="Subregional and peritumoral CT radiomics for the T stage of clear cell RCC "
        "(Huang et al., Insights into Imaging 2026). Research software, not for clinical use.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    for name, description, handler, positionals, out, options in COMMANDS:
        command = subparsers.add_parser(name, help=description)
        command.set_defaults(handler=handler)
        for argument, argument_help in positionals:
            command.add_argument(argument, help=argument_help)
        if out is not None:
            command.add_argument("--out", required=True, help=out)
        if options is not None:
            options(command)
    return parser

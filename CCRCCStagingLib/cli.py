"""``ccrcc-staging``: the command line, a thin layer over library functions of the same names.

User mistakes (:class:`~CCRCCStagingLib.errors.CCRCCStagingError`) end with one line ``error: …`` on stderr and
exit code 2; ``--debug`` shows the traceback. Progress goes to stderr as ``progress: <fraction> <message>``
(the Slicer module reads these lines to drive its progress bar).
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from .errors import CCRCCStagingError, SettingsError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
DEMO_OUT = "ccrcc-demo-output"


def _progress(fraction: float, message: str) -> None:
    print(f"progress: {fraction:.2f} {message}", file=sys.stderr, flush=True)


def _habitats(value: str) -> int | None:
    if value == "auto":
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a habitat count: use 'auto' or a number such as 2.")


def _settings_from(args: argparse.Namespace):
    """Settings from the command line (one place that maps options to :class:`Settings`)."""
    from .settings import DEFAULT_PARAMS_FILE, HabitatSettings, Settings

    return Settings(
        params_file=Path(args.params) if args.params else DEFAULT_PARAMS_FILE,
        margin_mm=args.margin_mm,
        habitats=HabitatSettings(k=args.habitats, seed=args.seed),
    )


def _summary(result: dict, out_dir: Path) -> str:
    regions = result["regions"]
    return (
        f"{result['case_id']}: tumour {regions['whole']['volume_ml']:.1f} mL, {result['habitats_k']} habitats, "
        f"shell {regions['peri']['volume_ml']:.1f} mL, {result['n_features']} features → {out_dir}"
    )


def _print_warnings(result: dict) -> None:
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)


def command_analyze(args: argparse.Namespace) -> int:
    """Regions, habitats and features of one case, written to ``--out``."""
    from .case import analyze

    result = analyze(
        Path(args.image), Path(args.mask), Path(args.out), _settings_from(args),
        label=args.label, segment=args.segment, overwrite=args.overwrite, progress=_progress,
    )
    _print_warnings(result)
    print(_summary(result, Path(args.out)))
    return 0


def command_demo(args: argparse.Namespace) -> int:
    """Analyse the sample case shipped in Resources/Sample and print a short summary."""
    from .case import analyze
    from .sample import SEGMENT_NAME, sample_paths
    from .settings import Settings

    ct_path, segmentation_path = sample_paths()
    out_dir = Path(args.out)
    result = analyze(
        ct_path, segmentation_path, out_dir, Settings(), segment=SEGMENT_NAME,
        overwrite=args.out == DEMO_OUT, progress=_progress,
    )
    _print_warnings(result)
    print(_summary(result, out_dir))
    return 0


def command_extract(args: argparse.Namespace) -> int:
    """Features of every region of every case of a manifest."""
    from .cohort import extract_cohort

    summary = extract_cohort(
        Path(args.manifest), Path(args.out), _settings_from(args), jobs=args.jobs,
        cache_dir=Path(args.cache) if args.cache else None, scheduler=args.scheduler,
    )
    print(
        f"{summary.n_cases} cases ({summary.n_failed} failed, {summary.n_from_cache} from cache) → "
        f"{summary.features_csv}; habitat model {summary.habitat_model_json}"
    )
    return 0


def command_phantoms(args: argparse.Namespace) -> int:
    """Write synthetic cases: a cohort with a manifest, or the sample case."""
    if args.sample:
        from .sample import write_sample_case

        ct_path, segmentation_path = write_sample_case(Path(args.out))
        print(f"sample case: {ct_path}, {segmentation_path}")
        return 0
    if args.n is None:
        raise SettingsError("Give --n N (number of cases) or --sample.")
    from .phantoms import write_cohort

    manifest = write_cohort(args.n, Path(args.out), seed=args.seed, overwrite=args.overwrite)
    print(f"{args.n} synthetic cases, manifest {manifest}")
    return 0


def _add_region_options(parser: argparse.ArgumentParser) -> None:
    """Options that change the regions and features (shared by analyze and extract)."""
    parser.add_argument("--habitats", type=_habitats, default=None, metavar="K|auto",
                        help="number of GMM habitats, or 'auto' to choose 2–4 by BIC (default: auto)")
    parser.add_argument("--margin-mm", type=float, default=3.0, help="peritumoral shell width in mm (default 3)")
    parser.add_argument("--params", help="PyRadiomics parameter file (default: Resources/Params/ccrcc_pyradiomics.yaml)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the habitat GMM (default 0)")


def _add_extract(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("extract", help="features of every region of every case of a cohort manifest")
    parser.add_argument("manifest", help="cohort manifest CSV (case_id, image, mask, t_stage, split, …)")
    parser.add_argument("--out", required=True, help="features table to write (CSV)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes (default 1)")
    parser.add_argument("--cache", help="cache folder: a re-run only computes what changed")
    parser.add_argument("--scheduler", help="address of a Dask scheduler to run the cases on")
    _add_region_options(parser)
    parser.set_defaults(handler=command_extract)


def _add_analyze(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("analyze", help="regions, habitats and features of one CT and tumour mask")
    parser.add_argument("image", help="CT: NRRD, NIfTI (any SimpleITK format) or a DICOM series folder")
    parser.add_argument("mask", help="tumour mask: labelmap or Slicer .seg.nrrd")
    parser.add_argument("--out", required=True, help="output folder")
    choose = parser.add_mutually_exclusive_group()
    choose.add_argument("--label", type=int, help="label value of the tumour in the mask")
    choose.add_argument("--segment", help="segment name (Slicer .seg.nrrd)")
    _add_region_options(parser)
    parser.add_argument("--features", choices=["all"], default="all",
                        help="'all': every feature of every region (whole included)")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    parser.set_defaults(handler=command_analyze)


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
    parser.add_argument("--overwrite", action="store_true", help="replace a cohort already in --out")
    parser.set_defaults(handler=command_phantoms)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccrcc-staging",
        description="Subregional and peritumoral CT radiomics for the T stage of clear cell RCC "
        "(Huang et al., Insights into Imaging 2026). Research software, not for clinical use.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_analyze(subparsers)
    _add_demo(subparsers)
    _add_extract(subparsers)
    _add_phantoms(subparsers)
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

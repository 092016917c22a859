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


def command_analyze(args: argparse.Namespace) -> int:
    """Regions, habitats and features of one case, written to ``--out``."""
    from .io import load_case
    from .pipeline import analyze_case
    from .result import case_result, prepare_output_dir, write_case_outputs

    if args.label is not None and args.segment is not None:
        raise SettingsError("Give either --label or --segment, not both.")
    settings = _settings_from(args)
    out_dir = Path(args.out)
    prepare_output_dir(out_dir, args.overwrite)
    start = time.perf_counter()
    _progress(0.0, "reading image and mask")
    case = load_case(Path(args.image), Path(args.mask), label=args.label, segment=args.segment)
    read_seconds = time.perf_counter() - start
    analysis = analyze_case(case.image.image, case.mask, settings, progress=_progress)
    analysis.timings_s = {"read": round(read_seconds, 4), **analysis.timings_s}
    result = case_result(case, analysis, settings)
    write_case_outputs(out_dir, result, analysis)
    for warning in result["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"{result['case_id']}: tumour {result['regions']['whole']['volume_ml']:.1f} mL, "
        f"{result['habitats_k']} habitats, shell {result['regions']['peri']['volume_ml']:.1f} mL, "
        f"{result['n_features']} features → {out_dir}"
    )
    return 0


def _add_analyze(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("analyze", help="regions, habitats and features of one CT and tumour mask")
    parser.add_argument("image", help="CT: NRRD, NIfTI (any SimpleITK format) or a DICOM series folder")
    parser.add_argument("mask", help="tumour mask: labelmap or Slicer .seg.nrrd")
    parser.add_argument("--out", required=True, help="output folder")
    choose = parser.add_mutually_exclusive_group()
    choose.add_argument("--label", type=int, help="label value of the tumour in the mask")
    choose.add_argument("--segment", help="segment name (Slicer .seg.nrrd)")
    parser.add_argument("--habitats", type=_habitats, default=None, metavar="K|auto",
                        help="number of GMM habitats, or 'auto' to choose 2–4 by BIC (default: auto)")
    parser.add_argument("--margin-mm", type=float, default=3.0, help="peritumoral shell width in mm (default 3)")
    parser.add_argument("--params", help="PyRadiomics parameter file (default: Resources/Params/ccrcc_pyradiomics.yaml)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the habitat GMM (default 0)")
    parser.add_argument("--features", choices=["all"], default="all",
                        help="'all': every feature of every region (whole included)")
    parser.add_argument("--overwrite", action="store_true", help="replace results already in --out")
    parser.set_defaults(handler=command_analyze)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ccrcc-staging",
        description="Subregional and peritumoral CT radiomics for the T stage of clear cell RCC "
        "(Huang et al., Insights into Imaging 2026). Research software, not for clinical use.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_analyze(subparsers)
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

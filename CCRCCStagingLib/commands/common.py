"""What the commands share: progress lines, settings and model from the options, warnings and summaries."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..core.settings import BUNDLED_MODEL_DIR, DEFAULT_PARAMS_FILE, HabitatSettings, Settings


def progress(fraction: float, message: str) -> None:
    """``progress: <fraction> <message>`` on stderr (the Slicer module drives its progress bar with these)."""
    print(f"progress: {fraction:.2f} {message}", file=sys.stderr, flush=True)


def settings_from(args: argparse.Namespace) -> Settings | None:
    """Settings from the region options, or None when none was given (a model then brings its own)."""
    given = (args.habitats, args.margin_mm, args.params, args.seed, args.interpolation)
    if all(value is None for value in given):
        return None
    return Settings(
        params_file=Path(args.params) if args.params else DEFAULT_PARAMS_FILE,
        margin_mm=3.0 if args.margin_mm is None else args.margin_mm,
        habitats=HabitatSettings(k=None if args.habitats in (None, "auto") else args.habitats, seed=args.seed or 0),
        interpolation=args.interpolation or "pyradiomics",
    )


def model_dir(args: argparse.Namespace) -> Path | None:
    """The model to predict with: --model, else the bundled one; none with --no-model."""
    if args.no_model:
        return None
    return Path(args.model) if args.model else BUNDLED_MODEL_DIR


def print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)

"""What the commands share: progress lines, settings and model from the options, warnings and summaries."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from ..core.settings import BUNDLED_MODEL_DIR, DEFAULT_PARAMS_FILE, HabitatSettings, Settings


#: ``lines``: machine-readable ``progress: <fraction> <message>`` lines on stderr (the Slicer module sets it);
#: ``bar``: a progress bar; ``none``: nothing. Unset: a bar when stderr is a terminal, else nothing.
PROGRESS_ENV = "CCRCC_PROGRESS"


def progress_mode() -> str:
    """How progress is shown: ``lines``, ``bar`` or ``none`` (see :data:`PROGRESS_ENV`)."""
    mode = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if mode in ("lines", "bar", "none"):
        return mode
    return "bar" if sys.stderr is not None and sys.stderr.isatty() else "none"


class _Bar:
    """One tqdm bar per command, driven by fractions (0–1) and the current step's name."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, fraction: float, message: str) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=100, file=sys.stderr, bar_format="{l_bar}{bar}| {elapsed}", leave=False)
        self.bar.set_description_str(message[:40])
        self.bar.update(max(0, round(100 * fraction) - self.bar.n))
        if fraction >= 1.0:
            self.bar.close()
            self.bar = None


_bar = _Bar()


def progress(fraction: float, message: str) -> None:
    """Progress of a command on stderr, as :func:`progress_mode` says (the Slicer module reads the lines)."""
    mode = progress_mode()
    if mode == "lines":
        print(f"progress: {fraction:.2f} {message}", file=sys.stderr, flush=True)
    elif mode == "bar":
        _bar(fraction, message)


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

"""Synthetic-data commands: ``phantoms`` (CT cohorts, the sample case, planted expression data) and
``build-demo-model`` (the bundled demonstration model, from phantoms)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..core.errors import SettingsError
from ..core.settings import BUNDLED_MODEL_DIR
from ..synthetic.expression import planted_cohort
from ..synthetic.phantoms import write_cohort
from ..synthetic.sample import write_sample_case


def run_build_demo_model(args: argparse.Namespace) -> int:
    """``build-demo-model``: rebuild the bundled demonstration model from synthetic phantoms (the committed command)."""
    from .demo_model import DEMO_COHORT_SIZE, DEMO_SEED, build_demo_model

    out_dir = build_demo_model(
        Path(args.out) if args.out else BUNDLED_MODEL_DIR, Path(args.work),
        n=args.n or DEMO_COHORT_SIZE, jobs=args.jobs, seed=DEMO_SEED if args.seed is None else args.seed,
    )
    print(f"demonstration model → {out_dir} (model card: {out_dir / 'MODEL_CARD.md'})")
    return 0


def run_phantoms(args: argparse.Namespace) -> int:
    """``phantoms``: write synthetic cases — a cohort with a manifest, the sample case, or planted expression data."""
    if args.sample:
        ct_path, segmentation_path = write_sample_case(Path(args.out))
        print(f"sample case: {ct_path}, {segmentation_path}")
        return 0
    if args.expression:
        paths = planted_cohort(n_samples=args.n or 120, seed=args.seed).write(Path(args.out))
        print("planted expression data: " + ", ".join(str(p) for p in paths.values()))
        return 0
    if args.n is None:
        raise SettingsError("Give --n N (number of cases), --sample or --expression.")
    manifest = write_cohort(args.n, Path(args.out), seed=args.seed, overwrite=args.overwrite)
    print(f"{args.n} synthetic cases, manifest {manifest}")
    return 0

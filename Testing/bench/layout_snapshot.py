"""Behaviour unchanged across a refactoring: the outputs of ``analyze`` on the sample case and two phantoms, as
digests, recorded before and checked after.

    .venv/bin/python Testing/bench/layout_snapshot.py --record Testing/data/layout_snapshot.json   # before
    .venv/bin/python Testing/bench/layout_snapshot.py --check Testing/data/layout_snapshot.json    # after

For each case: ``result.json`` without ``timings_s`` (the temporary folder's path replaced by a placeholder),
``features.csv`` as text, and ``regions.nrrd`` as voxels plus geometry. The check prints every difference and exits
with 1 when there is one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

#: (name, stage, seed, tumour diameter in mm): the two phantoms besides the sample case.
PHANTOMS = [("phantom-low", "low", 41, 28.0), ("phantom-high", "high", 42, 55.0)]


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _case_inputs(folder: Path) -> dict[str, tuple[Path, Path]]:
    import SimpleITK as sitk

    from CCRCCStagingLib.synthetic.phantoms import make_phantom
    from CCRCCStagingLib.synthetic.sample import sample_paths

    inputs = {"sample": sample_paths()}
    for name, stage, seed, diameter in PHANTOMS:
        phantom = make_phantom(stage, seed=seed, tumour_diameter_mm=diameter)
        image, mask = folder / f"{name}-ct.nrrd", folder / f"{name}-mask.nrrd"
        sitk.WriteImage(phantom.image, str(image), useCompression=True)
        sitk.WriteImage(phantom.mask, str(mask), useCompression=True)
        inputs[name] = (image, mask)
    return inputs


def snapshot() -> dict[str, dict[str, str]]:
    """``{case: {output: digest}}`` of a fresh ``analyze`` (bundled model, no report) of every case."""
    import SimpleITK as sitk

    from CCRCCStagingLib.cli import main

    digests: dict[str, dict[str, str]] = {}
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        for case, (image, mask) in _case_inputs(folder).items():
            out = folder / f"out-{case}"
            assert main(["analyze", str(image), str(mask), "--out", str(out), "--report", "none"]) == 0
            result = json.loads((out / "result.json").read_text())
            result.pop("timings_s")
            text = json.dumps(result, sort_keys=True).replace(str(folder), "<tmp>").replace(str(REPO), "<repo>")
            regions = sitk.ReadImage(str(out / "regions.nrrd"))
            geometry = json.dumps([regions.GetOrigin(), regions.GetSpacing(), regions.GetDirection()])
            digests[case] = {
                "result.json": _digest(text.encode()),
                "features.csv": _digest((out / "features.csv").read_bytes()),
                "regions.nrrd": _digest(sitk.GetArrayViewFromImage(regions).tobytes() + geometry.encode()),
            }
    return digests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--record", type=Path, help="write the digests to this file")
    group.add_argument("--check", type=Path, help="compare with the digests in this file")
    args = parser.parse_args()
    current = snapshot()
    if args.record:
        args.record.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        print(f"recorded {sum(len(v) for v in current.values())} digests of {len(current)} cases → {args.record}")
        return 0
    recorded = json.loads(args.check.read_text())
    differences = [
        f"{case} {output}"
        for case in sorted(set(recorded) | set(current))
        for output in sorted(set(recorded.get(case, {})) | set(current.get(case, {})))
        if recorded.get(case, {}).get(output) != current.get(case, {}).get(output)
    ]
    for difference in differences:
        print(f"DIFFERS: {difference}")
    print(f"{len(differences)} of {sum(len(v) for v in recorded.values())} outputs differ")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())

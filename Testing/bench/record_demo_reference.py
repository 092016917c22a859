"""Record what the committed demo-model command gives on a reduced cohort, for the CI check
``Testing/commands/test_demo_model.py::test_reduced_rebuild_by_the_committed_command_is_reproducible``.

    .venv/bin/python Testing/bench/record_demo_reference.py     # about 5–10 min on 2 cores

Runs ``build_demo_model`` (the same code path as ``make demo-model``) on 70 phantoms and writes the selected features
and the prediction for a fixed probe to ``Testing/data/demo_model_reduced_reference.json``. Re-record only when the
extraction or training is meant to change (the test then says the command's output moved).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

REDUCED_COHORT = 70
REFERENCE = REPO / "Testing" / "data" / "demo_model_reduced_reference.json"


def main() -> int:
    from CCRCCStagingLib.model.bundle import load_deployed_model
    from CCRCCStagingLib.commands.demo_model import build_demo_model

    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        model = load_deployed_model(build_demo_model(work / "bundle", work / "work", n=REDUCED_COHORT))
        prediction = model.predict({name: 0.5 for name in model.features})
    reference = {
        "n": REDUCED_COHORT,
        "features": model.features,
        "probe_probability_high": prediction.probability_high,
        "probe_radscore": prediction.radscore,
    }
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"recorded {len(model.features)} features and the probe prediction → {REFERENCE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fit the model again on the tuning files and compare it with the packaged one, weight for weight.

tests/test_rules_quality.py checks what the packaged model says it was fitted on (the digest a
fit keeps) and that its rows are the tuning files' pieces; this script checks that fitting
again really gives the packaged weights. Run it after every re-fit (about 90 s on one core).
Usage: python bench/refit.py
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from classifier.evaluate import read_examples  # noqa: E402
from classifier.extract import normalize  # noqa: E402
from classifier.model import fit_model, load_model  # noqa: E402
from test_rules_quality import DATA, TUNING  # noqa: E402


def main() -> int:
    """Exit 0 when the re-fit equals the packaged model in every field, 1 otherwise."""
    examples = [e for name in TUNING for e in read_examples(DATA / name)]
    start = time.perf_counter()
    fitted = fit_model([normalize(e.text) for e in examples], [e.category for e in examples],
                       [e.urgency for e in examples])
    seconds = time.perf_counter() - start
    packaged = load_model()
    fields = {"fitted_on": (fitted.fitted_on, packaged.fitted_on), "pieces": (fitted.pieces, packaged.pieces),
              "categories": (fitted.categories, packaged.categories), "levels": (fitted.levels, packaged.levels),
              "bias": (fitted.bias, packaged.bias), "weights": (fitted.packed, packaged.packed)}
    differ = [name for name, (a, b) in fields.items() if a != b]
    print(f"re-fit on {len(TUNING)} tuning files ({len(examples)} messages) in {seconds:.0f} s: "
          f"{len(fitted.pieces)} pieces, converged {fitted.converged}")
    print("differs from the packaged model in: " + ", ".join(differ) if differ else "identical to the packaged model")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

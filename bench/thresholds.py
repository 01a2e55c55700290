"""The fitted model's thresholds, chosen by the rules written down before each design round.

cap_margin, the CV rule: for each tuning set, fit the model on all the others and classify the
one left out (leave-one-set-out); at urgent_margin -0.1 and veto_margin -1.5, start at
cap_margin 0.8 and step down to 0.5, 0.3 and 0.0 while a step gains at least as many
emergencies as it adds false alarms.
urgent_margin and veto_margin, the CV rule (the default; --veto-rule fixed keeps veto_margin at
-1.5 and chooses urgent_margin alone, as round 17 did): of every pair of urgent_margin
-0.5 ... 0.1 and veto_margin -1.5 ... -0.5 below it at the chosen cap_margin, among those with
CV 紧急 recall at least 0.97 and CV precision at least 0.85, the one with the highest CV precision
(ties: the higher recall, then the higher urgent_margin, then the lower veto_margin). When none
qualifies, or with --urgent-rule validation (rounds 3 to 16), the validation rule at veto_margin
-1.5: with the packaged model, the lowest urgent_margin of -0.3 ... 0.1 where every floor of
the validation sets (holdout, holdout2, holdout3; the floors of tests/test_rules_quality.py)
holds.
Also written: CV category accuracy, CV missed / false alarms / recall / precision for every pair,
and the validation sets' figures for every urgent_margin at the chosen cap_margin and
veto_margin. The held-out sets are not read.
Usage: python bench/thresholds.py [--procs 2] [--urgent-rule cv|validation] [--veto-rule cv|fixed]
(about 85 minutes on 2 cores for 84 sets with converged fits; the fits are most of it)
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import tempfile
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from _common import save_result  # noqa: E402
from classifier import Classifier  # noqa: E402
from classifier.evaluate import evaluate, read_examples  # noqa: E402
from classifier.extract import normalize  # noqa: E402
from classifier.model import fit_model, save_model  # noqa: E402
from classifier.rules import load_rules  # noqa: E402
from test_rules_quality import FLOORS, TUNING  # noqa: E402

DATA = ROOT / "tests" / "data"
VALIDATION = ("messages_holdout.jsonl", "messages_holdout2.jsonl", "messages_holdout3.jsonl")
URGENT_MARGINS = (-0.3, -0.2, -0.1, 0.0, 0.1)
CAP_MARGINS = (0.8, 0.5, 0.3, 0.0)
CV_URGENT_MARGIN = -0.1
CV_VETO_MARGIN = -1.5  # the cap rule's, the validation rule's and --veto-rule fixed's veto_margin
CURVE = (-0.5, -0.4, -0.3, -0.2, -0.1, 0.0, 0.1)  # urgent margins tabled in CV (and tried by the CV rule)
VETO_MARGINS = (-1.5, -1.2, -0.9, -0.7, -0.5)  # veto margins tabled in CV (and tried by the CV rule)
CV_MIN_RECALL, CV_MIN_PRECISION = 0.97, 0.85
CACHE = Path(tempfile.mkdtemp(prefix="wuye-thresholds-"))


def at(base: Classifier, urgent: float, cap: float, veto: float) -> Classifier:
    """The same classifier (rules, model, tokenizer) with other thresholds."""
    clf = copy.copy(base)
    clf.rules = dataclasses.replace(base.rules, model=dataclasses.replace(
        base.rules.model, urgent_margin=urgent, cap_margin=cap, veto_margin=veto))
    return clf


def with_model(model_file: Path | None) -> Classifier:
    """The shipped rules with the model in model_file (None: the packaged one)."""
    rules = load_rules()
    if model_file is not None:
        rules = dataclasses.replace(rules, model=dataclasses.replace(rules.model, path=model_file))
    return Classifier(rules, CACHE)


def left_out(i: int) -> dict[str, list[int]]:
    """Fit on every tuning set but the i-th; on it, (missed, false alarms, emergencies) per
    "cap/urgent/veto" triple of margins, and (right categories, messages) under "category"."""
    files = [DATA / name for name in TUNING]  # the packaged model's files, in its order
    examples = [e for j, f in enumerate(files) if j != i for e in read_examples(f)]
    model = fit_model([normalize(e.text) for e in examples], [e.category for e in examples],
                      [e.urgency for e in examples])
    path = CACHE / f"fold{i}.zip"
    save_model(model, path)
    base, held = with_model(path), read_examples(files[i])
    counts = {"category": [sum(base.classify(e.text).category == e.category for e in held), len(held)]}
    for cap in CAP_MARGINS:
        for urgent in sorted({*CURVE, CV_URGENT_MARGIN}):
            for veto in VETO_MARGINS:
                clf = at(base, urgent, cap, veto)
                labels = [(e.urgency == "紧急", clf.classify(e.text).urgency == "紧急") for e in held]
                counts[f"{cap}/{urgent}/{veto}"] = [sum(u and not p for u, p in labels),
                                                    sum(p and not u for u, p in labels), sum(u for u, _ in labels)]
    return counts


def summed(folds: list[dict[str, list[int]]], key: str) -> list[int]:
    """One count list summed over the folds."""
    return [sum(col) for col in zip(*(f[key] for f in folds))]


def cv_rule(folds: list[dict[str, list[int]]]) -> tuple[float, dict[str, list[int]]]:
    """The lowest cap_margin reached by steps that each gain at least as many emergencies as
    they add false alarms, and the summed (missed, false alarms) per cap_margin."""
    totals = {str(c): summed(folds, f"{c}/{CV_URGENT_MARGIN}/{CV_VETO_MARGIN}")[:2] for c in CAP_MARGINS}
    chosen = CAP_MARGINS[0]
    for higher, lower in zip(CAP_MARGINS, CAP_MARGINS[1:]):
        gained = totals[str(higher)][0] - totals[str(lower)][0]
        added = totals[str(lower)][1] - totals[str(higher)][1]
        if gained < added:
            break
        chosen = lower
    return chosen, totals


def validation_rule(cap: float, veto: float) -> tuple[float | None, dict[str, dict[str, list[float]]]]:
    """The lowest urgent_margin where every validation floor holds (None: none does), and the
    (accuracy, 紧急 recall, 紧急 precision) of each validation set per urgent_margin."""
    base, sets = with_model(None), {name: read_examples(DATA / name) for name in VALIDATION}
    table, chosen = {}, None
    for urgent in CURVE:  # tabled over the whole curve; the rule itself tries URGENT_MARGINS
        clf = at(base, urgent, cap, veto)
        reports = {name: evaluate(clf, rows) for name, rows in sets.items()}
        table[str(urgent)] = {n: [r["accuracy"], r["urgent_recall"], r["urgent_precision"]] for n, r in reports.items()}
        if chosen is None and urgent in URGENT_MARGINS and all(reports[n][k] >= floor for n in VALIDATION for k, floor in FLOORS[n].items()):
            chosen = urgent
    return chosen, table


def cv_curve(folds: list[dict[str, list[int]]], cap: float, veto: float) -> dict[str, list[float]]:
    """(missed, false alarms, 紧急 recall, 紧急 precision) summed over the folds per urgent_margin."""
    curve = {}
    for urgent in CURVE:
        missed, false_alarms, emergencies = summed(folds, f"{cap}/{urgent}/{veto}")
        found = emergencies - missed
        curve[str(urgent)] = [missed, false_alarms, round(found / emergencies, 4),
                              round(found / (found + false_alarms), 4)]
    return curve


def cv_margins_rule(curves: dict[str, dict[str, list[float]]]) -> tuple[float, float] | None:
    """(urgent_margin, veto_margin) with the highest CV precision among the pairs with recall >=
    CV_MIN_RECALL and precision >= CV_MIN_PRECISION; ties: higher recall, higher urgent_margin,
    lower veto_margin. Only pairs a rules file accepts (veto_margin below urgent_margin) count.
    None: no pair qualifies."""
    good = [(precision, recall, float(u), -float(v))
            for v, curve in curves.items() for u, (_, _, recall, precision) in curve.items()
            if float(v) < float(u) and recall >= CV_MIN_RECALL and precision >= CV_MIN_PRECISION]
    if not good:
        return None
    _, _, urgent, veto = max(good)
    return urgent, -veto


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--urgent-rule", choices=("cv", "validation"), default="cv")
    ap.add_argument("--veto-rule", choices=("cv", "fixed"), default="cv")
    args = ap.parse_args()
    with Pool(args.procs) as pool:
        folds = pool.map(left_out, range(len(TUNING)), chunksize=1)
    cap, totals = cv_rule(folds)
    curves = {str(v): cv_curve(folds, cap, v) for v in VETO_MARGINS}
    tried = curves if args.veto_rule == "cv" else {str(CV_VETO_MARGIN): curves[str(CV_VETO_MARGIN)]}
    chosen = cv_margins_rule(tried) if args.urgent_rule == "cv" else None
    if chosen is None:  # the validation rule, at the fixed veto_margin
        veto = CV_VETO_MARGIN
        urgent, table = validation_rule(cap, veto)
    else:
        urgent, veto = chosen
        table = validation_rule(cap, veto)[1]
    right, messages = summed(folds, "category")
    save_result("thresholds", {
        "tuning_sets": len(folds),
        "cv_category_accuracy": round(right / messages, 4),
        "cv_missed_and_false_alarms_at_urgent_margin_-0.1": totals,
        "cap_margin": cap,
        "cv_missed_false_alarms_recall_precision_by_urgent_margin": curves[str(CV_VETO_MARGIN)],
        "cv_missed_false_alarms_recall_precision_by_veto_and_urgent_margin": curves,
        "validation_accuracy_recall_precision": table,
        "urgent_rule": args.urgent_rule,
        "veto_rule": args.veto_rule,
        "urgent_margin": urgent,
        "veto_margin": veto,
    })


if __name__ == "__main__":
    main()

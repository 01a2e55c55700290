"""Measure a rule set against labelled messages: accuracy, per-category P/R/F1, confusion, 紧急."""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.errors import RulesError
from classifier import Classifier
from classifier.rules import LEVELS

URGENT = "紧急"


@dataclass(frozen=True)
class Example:
    text: str
    category: str
    urgency: str


def read_examples(path: Path) -> list[Example]:
    """Lines of {"text", "category", "urgency"}; a bad line, or an urgency that is not one of the
    three levels (a typo would silently count as a mistake), is refused naming its number."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise RulesError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            example = Example(str(d["text"]), str(d["category"]), str(d["urgency"]))
        except (ValueError, KeyError, TypeError):
            raise RulesError(f"{path}:{n}: expected a JSON object with text, category and urgency") from None
        if example.urgency not in LEVELS:
            raise RulesError(f"{path}:{n}: unknown urgency {example.urgency} (use {', '.join(LEVELS)})")
        out.append(example)
    return out


def evaluate(clf: Classifier, examples: Iterable[Example]) -> dict:
    """The whole report as a JSON-ready mapping."""
    rows = list(examples)
    return _report(clf, rows, [clf.classify(e.text) for e in rows])


def compare(clf: Classifier, baseline: Classifier, examples: Iterable[Example]) -> dict:
    """evaluate(clf) plus the baseline's summary figures and every message whose label differs
    between the two: "mended" (the baseline was wrong, clf is right), "broken" (the other way
    round) or "still wrong"; so an admin sees what a rule edit changes before it goes live."""
    rows = list(examples)
    predicted = [clf.classify(e.text) for e in rows]
    before = [baseline.classify(e.text) for e in rows]
    report = _report(clf, rows, predicted)
    report["baseline"] = _summary(rows, before)
    report["changed"] = [
        {"change": _change((e.category, e.urgency), (b.category, b.urgency), (p.category, p.urgency)),
         "text": e.text, "expected": [e.category, e.urgency], "was": [b.category, b.urgency],
         "now": [p.category, p.urgency]}
        for e, b, p in zip(rows, before, predicted) if (b.category, b.urgency) != (p.category, p.urgency)
    ]
    return report


# the summary figures, in report order, as format_comparison names them
_LABELS = {"accuracy": "category accuracy", "urgency_accuracy": "urgency accuracy",
           "urgent_recall": "紧急 recall", "urgent_precision": "紧急 precision"}


def _change(expected: tuple[str, str], was: tuple[str, str], now: tuple[str, str]) -> str:
    if now == expected:
        return "mended"
    return "broken" if was == expected else "still wrong"


def format_comparison(report: dict) -> str:
    """The baseline's figures beside these rules', then every message whose label changed."""
    base = report["baseline"]
    lines = ["", f"{'':<18}\tbaseline\tthese rules"]
    for key, label in _LABELS.items():
        lines.append(f"{label:<18}\t{base[key]:.3f}\t\t{report[key]:.3f}\t({report[key] - base[key]:+.3f})")
    changed = report["changed"]
    counts = Counter(c["change"] for c in changed)
    lines += ["", f"changed ({len(changed)}): {counts['mended']} mended, {counts['broken']} broken, "
                  f"{counts['still wrong']} still wrong"]
    order = {"broken": 0, "mended": 1, "still wrong": 2}
    for c in sorted(changed, key=lambda c: order[c["change"]]):
        lines.append(f"  {c['change']:<11} expected {'/'.join(c['expected'])} was {'/'.join(c['was'])} "
                     f"now {'/'.join(c['now'])}  {c['text']}")
    return "\n".join(lines)


def _report(clf: Classifier, rows: list[Example], predicted: list) -> dict:
    """The report for rows labelled as predicted (clf's categories order the tables)."""
    cats = sorted({e.category for e in rows} | set(clf.rules.categories), key=_order(clf))
    confusion = Counter((e.category, p.category) for e, p in zip(rows, predicted))
    per_category = {c: _prf(confusion, c, cats) for c in cats}
    return {
        "messages": len(rows),
        **_summary(rows, predicted),
        "per_category": per_category,
        "confusion": {t: {p: confusion[(t, p)] for p in cats if confusion[(t, p)]} for t in cats},
        "urgency_confusion": {t: {p: c for (tt, p), c in Counter(
            (e.urgency, p.urgency) for e, p in zip(rows, predicted)).items() if tt == t} for t in LEVELS},
        "misclassified": [
            {"text": e.text, "expected": [e.category, e.urgency], "got": [p.category, p.urgency],
             "matched": list(p.matched), "urgency_reason": p.urgency_reason}
            for e, p in zip(rows, predicted) if (e.category, e.urgency) != (p.category, p.urgency)
        ],
    }


def _summary(rows: list[Example], predicted: list) -> dict[str, float]:
    """Category and urgency accuracy, 紧急 recall and precision (the keys of _LABELS)."""
    n = len(rows) or 1
    recall, precision = _urgent(rows, predicted)
    return {
        "accuracy": round(sum(e.category == p.category for e, p in zip(rows, predicted)) / n, 4),
        "urgency_accuracy": round(sum(e.urgency == p.urgency for e, p in zip(rows, predicted)) / n, 4),
        "urgent_recall": recall,
        "urgent_precision": precision,
    }


def format_report(report: dict) -> str:
    """The report for a person: summary, per-category table, confusion matrix, mistakes."""
    lines = [
        f"messages: {report['messages']}",
        f"category accuracy: {report['accuracy']:.3f}    urgency accuracy: {report['urgency_accuracy']:.3f}",
        f"紧急 recall: {report['urgent_recall']:.3f}    紧急 precision: {report['urgent_precision']:.3f}",
        "",
        f"{'category':<8}\tprecision\trecall\tF1\tsupport",
    ]
    for cat, m in report["per_category"].items():
        lines.append(f"{cat:<8}\t{m['precision']:.3f}\t\t{m['recall']:.3f}\t{m['f1']:.3f}\t{m['support']}")
    cats = list(report["per_category"])
    lines += ["", "confusion (rows: expected, columns: got):", "\t" + "\t".join(c[:2] for c in cats)]
    for t in cats:
        row = report["confusion"].get(t, {})
        lines.append(f"{t[:2]}\t" + "\t".join(str(row.get(p, 0) or ".") for p in cats))
    lines += ["", "urgency (rows: expected, columns: got):", "\t" + "\t".join(LEVELS)]
    for t in LEVELS:
        row = report["urgency_confusion"].get(t, {})
        lines.append(f"{t}\t" + "\t".join(str(row.get(p, 0)) for p in LEVELS))
    lines += ["", f"misclassified ({len(report['misclassified'])}):"]
    for m in report["misclassified"]:
        lines.append(f"  expected {'/'.join(m['expected'])} got {'/'.join(m['got'])} "
                     f"[{' '.join(m['matched']) or '-'}]  {m['text']}")
    return "\n".join(lines)


def _prf(confusion: Counter, cat: str, cats: list[str]) -> dict:
    tp = confusion[(cat, cat)]
    predicted = sum(confusion[(t, cat)] for t in cats)
    support = sum(confusion[(cat, p)] for p in cats)
    precision = tp / predicted if predicted else 0.0
    recall = tp / support if support else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "support": support}


def _urgent(rows: list[Example], predicted: list) -> tuple[float, float]:
    tp = sum(e.urgency == URGENT and p.urgency == URGENT for e, p in zip(rows, predicted))
    actual = sum(e.urgency == URGENT for e in rows)
    flagged = sum(p.urgency == URGENT for p in predicted)
    return round(tp / actual, 4) if actual else 1.0, round(tp / flagged, 4) if flagged else 1.0


def _order(clf: Classifier):
    order = {name: i for i, name in enumerate(clf.rules.categories)}
    return lambda c: (order.get(c, len(order)), c)


def suggest(clf: Classifier, examples: Iterable[Example], min_count: int = 2, min_precision: float = 0.8) -> list[dict]:
    """Words (as jieba cuts them) that are not keywords yet and would mend category mistakes.

    A word is proposed for a category when it stands in at least min_count misclassified
    messages of that category and, across all the labelled messages that contain it, at
    least min_precision of them belong to that category.
    """
    rows = list(examples)
    seen: Counter = Counter()
    by_category: dict[str, Counter] = {}
    missed: dict[tuple[str, str], int] = Counter()
    for e in rows:
        result = clf.classify(e.text)
        words = {t for t in result.tokens if len(t) > 1 and not t.isdigit() and t not in clf.rules.index}
        for w in words:
            seen[w] += 1
            by_category.setdefault(w, Counter())[e.category] += 1
            if result.category != e.category:
                missed[(w, e.category)] += 1
    out = []
    for (word, cat), n in missed.items():
        precision = by_category[word][cat] / seen[word]
        if n >= min_count and precision >= min_precision:
            out.append({"word": word, "category": cat, "misclassified": n, "occurrences": seen[word],
                        "precision": round(precision, 3), "weight": 3 if precision >= 0.95 else 2})
    return sorted(out, key=lambda s: (-s["misclassified"], -s["precision"], s["word"]))

"""The shipped rules on the labelled data: the held-out part is never used for tuning."""
from __future__ import annotations

from pathlib import Path

import pytest

from classifier import Classifier
from classifier.evaluate import evaluate, read_examples

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def clf(tmp_path_factory) -> Classifier:
    return Classifier.from_file(cache_dir=tmp_path_factory.mktemp("cache"))


def test_data_set_is_large_and_covers_every_category_and_urgency():
    tune = read_examples(DATA / "messages_tune.jsonl")
    held = read_examples(DATA / "messages_holdout.jsonl")
    assert len(tune) + len(held) >= 600
    assert not {e.text for e in tune} & {e.text for e in held}
    for part in (tune, held):
        assert {e.urgency for e in part} == {"紧急", "重要", "一般"}
        assert len({e.category for e in part}) == 17


def test_held_out_targets(clf):
    report = evaluate(clf, read_examples(DATA / "messages_holdout.jsonl"))
    assert report["accuracy"] >= 0.90, report["accuracy"]
    assert report["urgent_recall"] >= 0.97, report["urgent_recall"]
    assert report["urgent_precision"] >= 0.80, report["urgent_precision"]

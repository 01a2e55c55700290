"""Classifier speed on one core, side by side with bare jieba.lcut over the same messages.

Bare jieba.lcut is the ceiling for any classifier built on it; the target is >= 0.8 of its
rate. Also measures classifier start-up (process start to first label) with a warm cache.
Usage: python bench/classifier.py [--rounds 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import save_result  # noqa: E402


def load_messages() -> list[str]:
    texts = []
    for name in ("messages_tune.jsonl", "messages_holdout.jsonl"):
        for line in (ROOT / "tests" / "data" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                texts.append(json.loads(line)["text"])
    return texts


def rate(fn, texts: list[str], rounds: int) -> float:
    """Best messages/second over several rounds (best = least disturbed by the machine)."""
    best = 0.0
    for _ in range(rounds):
        t = time.perf_counter()
        for text in texts:
            fn(text)
        best = max(best, len(texts) / (time.perf_counter() - t))
    return best


def keyword_rules_only(cache: Path):
    """The shipped rules with the model off (what `[model] enabled = false` loads)."""
    import dataclasses

    from classifier import Classifier
    from classifier.rules import load_rules

    return Classifier(dataclasses.replace(load_rules(), model=None), cache)


def startup(cache_dir: str) -> float:
    code = ("import time,sys; t=time.perf_counter(); from pathlib import Path; from classifier import Classifier; "
            f"c=Classifier.from_file(cache_dir=Path({cache_dir!r})); c.classify('电梯里有人被困'); "
            "print(time.perf_counter()-t)")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    import jieba

    from classifier import Classifier

    texts = load_messages()
    cache = tempfile.mkdtemp(prefix="wuye-jieba-")
    clf = Classifier.from_file(cache_dir=Path(cache))
    rules_only = keyword_rules_only(Path(cache))
    jieba.setLogLevel(60)
    jieba.initialize()
    for text in texts[:50]:  # warm both
        jieba.lcut(text), clf.classify(text), rules_only.classify(text)
    # Interleave them so a noisy neighbour hurts all alike.
    bare, bare_nohmm, ours, ours_rules = [], [], [], []
    for _ in range(args.rounds):
        bare.append(rate(jieba.lcut, texts, 1))
        bare_nohmm.append(rate(lambda t: jieba.lcut(t, HMM=False), texts, 1))
        ours.append(rate(clf.classify, texts, 1))
        ours_rules.append(rate(rules_only.classify, texts, 1))
    startup(cache)  # make sure the cache is warm
    starts = [startup(cache) for _ in range(5)]
    result = {
        "messages": len(texts),
        "avg_chars": round(statistics.mean(len(t) for t in texts), 1),
        "bare_jieba_lcut_per_s": round(max(bare)),
        "classify_per_s": round(max(ours)),
        "ratio": round(max(ours) / max(bare), 3),
        # [model] enabled = false: keyword rules alone
        "classify_rules_only_per_s": round(max(ours_rules)),
        "ratio_rules_only": round(max(ours_rules) / max(bare), 3),
        # like for like: the classifier cuts with HMM off, so this is its own overhead
        "bare_jieba_lcut_hmm_off_per_s": round(max(bare_nohmm)),
        "ratio_vs_hmm_off": round(max(ours) / max(bare_nohmm), 3),
        "warm_start_s": {"median": round(statistics.median(starts), 3), "max": round(max(starts), 3)},
    }
    save_result("classifier", result)


if __name__ == "__main__":
    main()

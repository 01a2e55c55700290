"""Label a complaint's category and urgency with jieba + admin keyword rules."""
from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from classifier.extract import normalize
from classifier.rules import LEVELS, Rules, load_rules
from classifier.tokenizer import keyword_tokenizer

_RANK = {level: i for i, level in enumerate(LEVELS)}  # 0 = most serious
_CLAUSE_END = re.compile(r"[，。！？,.!?；;、\s]")


# NamedTuples, not frozen dataclasses: classify builds several per message and is
# measured against bare jieba (bench/classifier.py); these are immutable all the same.
class Hit(NamedTuple):
    """One rule that fired: a keyword, what it counts for, and its weight."""

    word: str
    target: str  # a category name, an urgency level, "intensifier" or "negation"
    weight: float = 0.0
    cancelled: bool = False  # a negator ("没有") stood just before it


class Classification(NamedTuple):
    """The label and the reasons for it."""

    category: str
    urgency: str
    score: float
    department: str
    matched: tuple[str, ...]
    tags: tuple[str, ...] = ()
    hits: tuple[Hit, ...] = ()
    scores: dict[str, float] = {}
    urgency_reason: str = ""
    tokens: tuple[str, ...] = ()

    def as_dict(self, explain: bool = False) -> dict[str, object]:
        """A JSON-ready mapping; explain adds tokens, rules fired and scores."""
        d: dict[str, object] = {
            "category": self.category,
            "urgency": self.urgency,
            "score": self.score,
            "department": self.department,
            "matched": list(self.matched),
            "tags": list(self.tags),
        }
        if explain:
            d["tokens"] = list(self.tokens)
            d["rules"] = [h._asdict() for h in self.hits]
            d["scores"] = dict(sorted(self.scores.items(), key=lambda kv: -kv[1]))
            d["urgency_reason"] = self.urgency_reason
        return d


class Classifier:
    """A rule set with its own tokenizer; immutable, so a reload swaps the whole object."""

    def __init__(self, rules: Rules, cache_dir: Path | None = None, hmm: bool = False) -> None:
        self.rules = rules
        self.tokenizer = keyword_tokenizer(rules.all_words(), cache_dir)
        # jieba's HMM only guesses words missing from the dictionary; every rule keyword is
        # in it, so the HMM can never produce a match, only merge a one-character keyword
        # (狗, 吵, 臭) into a guessed word. Off: faster and no worse (see bench/README.md).
        self.hmm = hmm

    @classmethod
    def from_file(cls, path: Path | None = None, cache_dir: Path | None = None) -> "Classifier":
        """Load rules from TOML (packaged defaults when path is None)."""
        return cls(load_rules(path), cache_dir)

    def tokens(self, text: str) -> list[str]:
        """The normalized text cut by this rule set's tokenizer."""
        return self.tokenizer.lcut(normalize(text), HMM=self.hmm)

    def classify(self, text: str) -> Classification:
        """Label one message; pure and cheap (one jieba cut plus dict look-ups)."""
        r = self.rules
        norm = normalize(text)
        tokens = self.tokenizer.lcut(norm, HMM=self.hmm)
        scores: dict[str, float] = {}
        hits = self._category_hits(tokens, scores)
        phrases = r.phrases.find(norm)
        urgent = [Hit(w, r.urgency_index[w][0], r.urgency_index[w][1], _negated_at(norm, pos, r))
                  for w, pos in phrases if w in r.urgency_index]
        negated = any(w in r.negations for w, _ in phrases)
        intensified = any(w in r.intensifiers for w, _ in phrases)
        hits += urgent
        hits += [Hit(w, "negation" if w in r.negations else "intensifier")
                 for w, _ in phrases if w in r.negations or w in r.intensifiers]
        category = self._pick(scores)
        cat = r.categories[category]
        urgency, reason = self._urgency(cat.urgency, urgent, negated, intensified)
        return Classification(
            category=category,
            urgency=urgency,
            score=scores.get(category, 0.0),
            department=cat.department,
            matched=tuple(dict.fromkeys(h.word for h in hits if h.target == category)),
            tags=_tags(scores, category),
            hits=tuple(hits),
            scores=scores,
            urgency_reason=reason,
            tokens=tuple(tokens),
        )

    def _category_hits(self, tokens: list[str], scores: dict[str, float]) -> list[Hit]:
        """Keywords on jieba's tokens, and on two adjacent tokens where jieba split a keyword."""
        index = self.rules.index
        hits: list[Hit] = []
        prev = ""
        for tok in tokens:
            for word in (tok, prev + tok) if prev else (tok,):
                for cat, weight in index.get(word, ()):
                    scores[cat] = scores.get(cat, 0.0) + weight
                    hits.append(Hit(word, cat, weight))
            prev = tok
        return hits

    def _pick(self, scores: dict[str, float]) -> str:
        """Highest score wins; a tie goes to the more serious category, then rule order."""
        if not scores:
            return self.rules.fallback
        order = {name: i for i, name in enumerate(self.rules.categories)}
        cats = self.rules.categories
        return min(scores, key=lambda c: (-scores[c], _RANK[cats[c].urgency], order[c]))

    def _urgency(self, default: str, urgent: list[Hit], negated: bool, intensified: bool) -> tuple[str, str]:
        live = [h for h in urgent if not h.cancelled]
        top = min(live, key=lambda h: _RANK[h.target], default=None)
        if top is not None and top.target == "紧急":
            return "紧急", f"keyword {top.word!r} is 紧急 (danger overrides any negation)"
        if negated:
            level = self.rules.negated_urgency
            return level, f"the resident says it can wait; at most {level}"
        level, reason = default, f"category default {default}"
        if top is not None and _RANK[top.target] < _RANK[level]:
            level, reason = top.target, f"keyword {top.word!r} is {top.target}"
        if intensified:
            raised = LEVELS[max(_RANK[level] - 1, _RANK[self.rules.intensifier_cap])]
            if _RANK[raised] < _RANK[level]:
                level, reason = raised, f"{reason}; intensifier raises it to {raised}"
        return level, reason


def _tags(scores: dict[str, float], category: str) -> tuple[str, ...]:
    """The other categories that fired, strongest first."""
    if len(scores) < 2:
        return ()
    return tuple(c for c in sorted(scores, key=scores.__getitem__, reverse=True) if c != category)


def _negated_at(text: str, pos: int, r: Rules) -> bool:
    """A negator ("没有") in the same clause just before the phrase at pos cancels it."""
    before = _CLAUSE_END.split(text[max(0, pos - r.negator_window):pos])[-1]
    return any(n in before for n in r.negators)

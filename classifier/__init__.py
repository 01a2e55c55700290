"""Label a complaint's category and urgency with jieba + admin keyword rules."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from classifier.extract import normalize
from classifier.rules import LEVELS, Rules, load_rules
from classifier.tokenizer import keyword_tokenizer

_RANK = {level: i for i, level in enumerate(LEVELS)}  # 0 = most serious


@dataclass(frozen=True)
class Hit:
    """One rule that fired: a keyword, what it counts for, and its weight."""

    word: str
    target: str  # a category name, an urgency level, "intensifier", "negation" or "negator"
    weight: float = 0.0
    cancelled: bool = False


@dataclass(frozen=True)
class Classification:
    """The label and the reasons for it."""

    category: str
    urgency: str
    score: float
    department: str
    matched: tuple[str, ...]
    tags: tuple[str, ...] = ()
    hits: tuple[Hit, ...] = ()
    scores: dict[str, float] = field(default_factory=dict)
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
            d["rules"] = [h.__dict__ for h in self.hits]
            d["scores"] = dict(sorted(self.scores.items(), key=lambda kv: -kv[1]))
            d["urgency_reason"] = self.urgency_reason
        return d


class Classifier:
    """A rule set with its own tokenizer; immutable, so a reload swaps the whole object."""

    def __init__(self, rules: Rules, cache_dir: Path | None = None) -> None:
        self.rules = rules
        self.tokenizer = keyword_tokenizer(rules.all_words(), cache_dir)

    @classmethod
    def from_file(cls, path: Path | None = None, cache_dir: Path | None = None) -> "Classifier":
        """Load rules from TOML (packaged defaults when path is None)."""
        return cls(load_rules(path), cache_dir)

    def tokens(self, text: str) -> list[str]:
        """The normalized text cut by this rule set's tokenizer."""
        return self.tokenizer.lcut(normalize(text))

    def classify(self, text: str) -> Classification:
        """Label one message; pure and cheap (one jieba cut plus dict look-ups)."""
        r = self.rules
        tokens = self.tokens(text)
        scores: dict[str, float] = {}
        hits: list[Hit] = []
        urgent: list[Hit] = []
        negated = intensified = False
        for i, tok in enumerate(tokens):
            for cat, weight in r.index.get(tok, ()):
                scores[cat] = scores.get(cat, 0.0) + weight
                hits.append(Hit(tok, cat, weight))
            if tok in r.urgency_index:
                level, weight = r.urgency_index[tok]
                hit = Hit(tok, level, weight, cancelled=_negated_before(tokens, i, r))
                hits.append(hit)
                urgent.append(hit)
            if tok in r.negations:
                negated = True
                hits.append(Hit(tok, "negation"))
            elif tok in r.intensifiers:
                intensified = True
                hits.append(Hit(tok, "intensifier"))
        category = self._pick(scores)
        cat = r.categories[category]
        urgency, reason = self._urgency(cat.urgency, urgent, negated, intensified)
        return Classification(
            category=category,
            urgency=urgency,
            score=scores.get(category, 0.0),
            department=cat.department,
            matched=tuple(dict.fromkeys(h.word for h in hits if h.target == category)),
            tags=tuple(c for c, _ in sorted(scores.items(), key=lambda kv: -kv[1]) if c != category),
            hits=tuple(hits),
            scores=scores,
            urgency_reason=reason,
            tokens=tuple(tokens),
        )

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


def _negated_before(tokens: list[str], i: int, r: Rules) -> bool:
    return any(t in r.negators for t in tokens[max(0, i - r.negator_window):i])

"""Label a complaint's category and urgency with jieba + admin keyword rules."""
from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from pathlib import Path
from typing import NamedTuple

from bot.errors import RulesError
from classifier.extract import normalize
from classifier.model import Model, load_model
from classifier.rules import LEVELS, Category, Rules, load_rules
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
    # denied (没有), hypothetical or past (万一, 上次), inside a false friend, or ending inside
    # the next word (被电 in 被/电动车)
    cancelled: bool = False
    # the rules key it came from, set where the target alone does not tell (an urgency level
    # can come from urgency.keywords or from a category's escalate or cap); see rule_key
    rule: str = ""

    def rule_key(self) -> str:
        """The rules key this hit came from, e.g. categories.消防.escalate (for explain)."""
        if self.rule:
            return self.rule
        if self.target == "negation":
            return "urgency.negations"
        if self.target == "intensifier":
            return "urgency.intensifiers"
        return f"categories.{self.target}.keywords"


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
    model_scores: dict[str, float] = {}  # category -> weighted model margin (empty: no model)
    model_urgency: dict[str, float] = {}  # level -> model margin

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
            d["rules"] = [{**h._asdict(), "rule": h.rule_key()} for h in self.hits]
            d["scores"] = dict(sorted(self.scores.items(), key=lambda kv: -kv[1]))
            d["urgency_reason"] = self.urgency_reason
            d["model_scores"] = {c: round(v, 3) for c, v in sorted(self.model_scores.items(), key=lambda kv: -kv[1])}
            d["model_urgency"] = {lv: round(v, 3) for lv, v in self.model_urgency.items()}
        return d


class Classifier:
    """A rule set with its own tokenizer; immutable, so a reload swaps the whole object."""

    def __init__(self, rules: Rules, cache_dir: Path | None = None, hmm: bool = False) -> None:
        self.rules = rules
        self.model = model_for(rules)
        # categories the model was fitted with but the rules no longer have (an admin removed
        # or renamed one): their margins are dropped, so a message goes to the next best
        self.model_ignores = ignored_categories(self.model, rules) if self.model else ()
        self.tokenizer = keyword_tokenizer(rules.all_words(), cache_dir)
        self._inner_memo: dict[str, tuple[str, ...]] = {}
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
        if not scores:
            hits += self._substring_hits(norm, scores)
        model_scores, model_urgency = self._model_margins(norm)
        phrases = r.phrases.find(norm)
        intensified = False
        found: list[tuple[str, bool, int]] = []  # (phrase, cancelled, position) for urgency phrases
        clause_starts = [m.end() for m in _CLAUSE_END.finditer(norm)] if phrases else []
        cancellers: list[tuple[int, int, bool]] = []  # (start, end, is_hypothetical)
        masks = [(pos, pos + len(w)) for w, pos in phrases if w in r.false_friends]
        if phrases:
            masks += _straddling(phrases, tokens, r.raisers)
        waits: list[tuple[int, int]] = []  # spans of the resident's "it can wait" phrases
        for word, pos in phrases:
            if word in r.negations:
                waits.append((pos, pos + len(word)))
                hits.append(Hit(word, "negation"))
            elif word in r.intensifiers:
                intensified = True
                hits.append(Hit(word, "intensifier"))
            if word in r.hypotheticals or word in r.negators:
                cancellers.append((pos, pos + len(word), word in r.hypotheticals))
            if word in r.urgency_index or word in r.scoped:
                masked = any(s <= pos and pos + len(word) <= e for s, e in masks)
                found.append((word, masked or _cancelled(pos, r.negator_window, clause_starts, cancellers), pos))
        urgent = [Hit(w, u[0], u[1], c, f"urgency.keywords.{u[0]}")
                  for w, c, _ in found if (u := r.urgency_index.get(w))]
        totals = self._totals(scores, model_scores)
        category = self._pick(totals, found)
        cat = r.categories[category]
        urgent += [Hit(w, cat.escalate[w], 1.0, c, f"categories.{category}.escalate")
                   for w, c, _ in found if w in cat.escalate]
        hits += urgent
        urgency, reason = self._urgency(cat.urgency, urgent, norm, waits, intensified, model_urgency)
        capped = [Hit(w, cat.cap[w], 0.0, False, f"categories.{category}.cap")
                  for w, c, _ in found if w in cat.cap and not c]
        if capped and not any(h.target == "紧急" and not h.cancelled for h in urgent if h.word in r.urgency_index):
            cap = max(capped, key=lambda h: _RANK[h.target])  # the least serious cap is the one that holds
            why = self._cap_released(found, cat, norm, clause_starts, model_urgency) \
                if _RANK[urgency] < _RANK[cap.target] else ""
            if why:
                hits += [h._replace(cancelled=True) for h in capped]
                reason = f"{reason}; {cap.word!r} holds nothing back: {why}"
            else:
                hits += capped
                urgency, reason = self._cap(urgency, reason, cap)
        return Classification(
            category=category,
            urgency=urgency,
            score=totals.get(category, 0.0),
            department=cat.department,
            matched=tuple(dict.fromkeys(h.word for h in hits if h.target == category and not h.cancelled)),
            tags=_tags(scores, category),
            hits=tuple(hits),
            scores=scores,
            urgency_reason=reason,
            tokens=tuple(tokens),
            model_scores=model_scores,
            model_urgency=model_urgency,
        )

    def explain(self, text: str) -> dict[str, object]:
        """classify(text) as a JSON-ready mapping with tokens, rules, scores and the model's
        strongest character pieces for the chosen category and urgency; `read_as` is the text
        as the rules and the model read it (full-width and traditional characters converted)."""
        result = self.classify(text)
        d = result.as_dict(explain=True)
        norm = d["read_as"] = normalize(text)
        if self.model is not None:
            d["model_pieces"] = {label: self.model.strongest(norm, label)
                                 for label in (result.category, result.urgency)
                                 if label in self.model.categories or label in self.model.levels}
        return d

    def _model_margins(self, norm: str) -> tuple[dict[str, float], dict[str, float]]:
        """Weighted category margins and raw urgency margins; empty without a model."""
        if self.model is None:
            return {}, {}
        cats, levels = self.model.margins(norm, self.rules.model.weight)  # type: ignore[union-attr]
        for c in self.model_ignores:
            del cats[c]
        return cats, levels

    def _totals(self, scores: dict[str, float], model_scores: dict[str, float]) -> dict[str, float]:
        """Keyword points plus the weighted model margin; a category the model does not know
        counts as one the model rejects (margin -1)."""
        if not model_scores or not scores:
            return model_scores or scores
        totals = model_scores.copy()
        floor = -self.rules.model.weight  # type: ignore[union-attr]
        for c, v in scores.items():
            totals[c] = totals.get(c, floor) + v
        return totals

    def _category_hits(self, tokens: list[str], scores: dict[str, float]) -> list[Hit]:
        """Keywords on jieba's tokens, on two adjacent tokens where jieba split a keyword, and
        inside a longer dictionary word that swallowed one (公摊 in 公摊面积)."""
        index, negators, memo = self.rules.index, self.rules.negators, self._inner_memo
        hits: list[Hit] = []
        prev = ""
        for tok in tokens:
            entry = index.get(tok)
            if entry is not None:
                # "没漏水", "不是困人": the problem is named only to be denied
                denied = prev in negators
                for cat, weight in entry:
                    if not denied:
                        scores[cat] = scores.get(cat, 0.0) + weight
                    hits.append(Hit(tok, cat, weight, denied))
            elif len(tok) > 2:
                inner = memo.get(tok)
                for word in self._inner(tok) if inner is None else inner:  # memo first: the hot path
                    for cat, weight in index[word]:
                        scores[cat] = scores.get(cat, 0.0) + weight
                        hits.append(Hit(word, cat, weight))
            if prev:
                pair = index.get(prev + tok)
                if pair is not None:
                    for cat, weight in pair:
                        scores[cat] = scores.get(cat, 0.0) + weight
                        hits.append(Hit(prev + tok, cat, weight))
            prev = tok
        return hits

    def _substring_hits(self, text: str, scores: dict[str, float]) -> list[Hit]:
        """Keywords anywhere in the text, longest first and not overlapping: jieba cut a typo or
        dialect word so that no keyword stood whole (楼到灯坏了)."""
        taken: list[tuple[int, int]] = []
        hits: list[Hit] = []
        for word, pos in sorted(self.rules.keyword_phrases.find(text), key=lambda x: -len(x[0])):
            end = pos + len(word)
            if any(pos < e and s < end for s, e in taken):
                continue
            taken.append((pos, end))
            for cat, weight in self.rules.index[word]:
                scores[cat] = scores.get(cat, 0.0) + weight
                hits.append(Hit(word, cat, weight))
        return hits

    def _inner(self, token: str) -> tuple[str, ...]:
        """Keywords (two characters or more) inside a token, longest first, not overlapping;
        remembered per token (the caller looks in the memo first)."""
        index = self.rules.index
        n = len(token)
        # longest first, then in text order (a set's own order changes from run to run)
        cands = sorted({token[i:j] for i in range(n) for j in range(i + 2, n + 1)
                        if (i, j) != (0, n) and token[i:j] in index}, key=lambda w: (-len(w), token.find(w)))
        kept: list[str] = []
        for c in cands:
            if not any(c in k for k in kept):
                kept.append(c)
        found = tuple(kept)
        if len(self._inner_memo) > 50_000:  # bounded: a flood of odd tokens can't grow it
            self._inner_memo.clear()
        self._inner_memo[token] = found
        return found

    def _pick(self, scores: dict[str, float], found: list[tuple[str, bool, int]]) -> str:
        """The highest score (a tie goes to the more serious default urgency, then rule order).
        Keyword rules alone: the most serious problem named first, i.e. a category that owns a
        live 紧急 phrase (as a keyword or its own escalate phrase) wins. With the model on, that
        override is off: the model learned which problem residents' messages are about, and
        forcing the danger-owning category cost 4.5 points of accuracy in cross-validation."""
        if not scores:
            return self.rules.fallback
        if self.model is not None:  # float margins: an exact tie is not worth a sort per message
            return max(scores, key=scores.__getitem__)
        cats, order = self.rules.categories, self.rules.order
        ranked = sorted(scores, key=lambda c: (-scores[c], _RANK[cats[c].urgency], order[c]))
        danger = [w for w, cancelled, _ in found if not cancelled]
        for c in ranked:
            cat = cats[c]
            if any(cat.escalate.get(w) == "紧急" or (w in cat.keywords and self._is_urgent(w)) for w in danger):
                return c
        return ranked[0]

    def _is_urgent(self, word: str) -> bool:
        level = self.rules.urgency_index.get(word)
        return level is not None and level[0] == "紧急"

    def _person_spared(self, live: list[Hit], norm: str, waits: list[tuple[int, int]], veto: float) -> str:
        """Why a vetoed danger is 紧急 after all, or "": it is a person in danger (urgency.people)
        and without the resident's "it can wait" phrases the model is no longer sure it is over
        ("不急不急，就是电梯里有人被困了"); "处理好了" still vetoes."""
        person = next((h.word for h in live if h.target == "紧急" and h.word in self.rules.people), None)
        if person is None or not waits:
            return ""
        margin = self._urgent_margin_without(norm, waits)
        if margin < veto:
            return ""
        return (f"keyword {person!r} is a person in danger: without the resident's 'it can wait' the fitted "
                f"model's 紧急 margin is {margin:.2f} >= {veto:g}, so no veto")

    def _sure_despite_waits(self, norm: str, waits: list[tuple[int, int]], model: dict[str, float]) -> str:
        """Why the resident's "it can wait" holds nothing back, or "": read without it, the
        fitted model is as sure of an emergency as it must be to release a cap (cap_margin):
        "不急的，我就是看到有人站在12栋楼顶边上" is a person in danger, whatever the resident says."""
        sure = self._sure_of_emergency(self._urgent_margin_without(norm, waits)) if model else ""
        return f"the resident says it can wait, but without that {sure}" if sure else ""

    def _sure_of_emergency(self, margin: float) -> str:
        """Why the model overrules a cap or "it can wait" (紧急 margin above cap_margin), or ""."""
        limit = self.rules.model.cap_margin  # type: ignore[union-attr]
        if margin <= limit:
            return ""
        return f"the fitted model is sure it is an emergency (紧急 margin {margin:.2f} > {limit:g})"

    def _urgent_margin_without(self, norm: str, waits: list[tuple[int, int]]) -> float:
        """The model's 紧急 margin on the text with the resident's "it can wait" phrases cut out."""
        keep = [True] * len(norm)
        for start, end in waits:
            keep[start:end] = [False] * (end - start)
        rest = "".join(ch for ch, k in zip(norm, keep) if k)
        return self.model.margins(rest)[1]["紧急"]  # type: ignore[union-attr]

    def _model_level(self, model: dict[str, float]) -> tuple[str, str]:
        """紧急 above the configured margin; otherwise the likelier of 重要 and 一般."""
        threshold = self.rules.model.urgent_margin  # type: ignore[union-attr]
        if model["紧急"] > threshold:
            return "紧急", f"the fitted model: 紧急 margin {model['紧急']:.2f} > {threshold:g}"
        level = "重要" if model["重要"] >= model["一般"] else "一般"
        return level, f"the fitted model: {level} (重要 {model['重要']:.2f}, 一般 {model['一般']:.2f})"

    def _cap_released(self, found: list[tuple[str, bool, int]], cat: Category, norm: str,
                      clause_starts: list[int], model: dict[str, float]) -> str:
        """Why the caps that fired hold nothing back, or "": the fitted model is sure this is
        an emergency now (a cap phrase such as 调一下 or 两户 is a hint, the model weighs the
        whole message), or the danger is news told after the cap."""
        sure = self._sure_of_emergency(model["紧急"]) if model else ""
        if sure:
            return sure
        news = _news(found, cat, norm, clause_starts, self.rules.now_words)
        return f"{news} comes after it" if news else ""

    @staticmethod
    def _cap(urgency: str, reason: str, cap: Hit) -> tuple[str, str]:
        """A cap phrase holds the level down (the caller picks the least serious cap that fired)."""
        if _RANK[urgency] < _RANK[cap.target]:
            return cap.target, f"{reason}; {cap.word!r} holds it at {cap.target}"
        return urgency, reason

    def _urgency(self, default: str, urgent: list[Hit], norm: str, waits: list[tuple[int, int]],
                 intensified: bool, model: dict[str, float]) -> tuple[str, str]:
        """The level and why: danger first, then the resident's "it can wait" (waits: where it
        is said), then the model's 紧急, then keywords (over the model's 重要/一般 or the
        category default), then tone."""
        live = [h for h in urgent if not h.cancelled]
        top = min(live, key=lambda h: _RANK[h.target], default=None)
        if top is not None and top.target == "紧急":
            veto = self.rules.model.veto_margin if model else None  # type: ignore[union-attr]
            if veto is not None and model["紧急"] < veto:
                spared = self._person_spared(live, norm, waits, veto)
                if spared:
                    return "紧急", spared
                return "重要", (f"keyword {top.word!r} is 紧急, but the fitted model is sure it is not an emergency "
                               f"now (紧急 margin {model['紧急']:.2f} < {veto:g}): 重要")
            return "紧急", f"keyword {top.word!r} is 紧急 (danger overrides any negation)"
        if waits:
            sure = self._sure_despite_waits(norm, waits, model)
            if sure:
                return "紧急", sure
            level = self.rules.negated_urgency
            return level, f"the resident says it can wait; at most {level}"
        if model:
            level, reason = self._model_level(model)
            if level == "紧急":
                return level, reason
        else:
            level, reason = default, f"category default {default}"
        if top is not None and top.target != "一般":
            if _RANK[top.target] < _RANK[level]:
                level, reason = top.target, f"keyword {top.word!r} is {top.target}"
        elif top is not None:  # the category's own calming words: a minor version of the problem
            level, reason = "一般", f"keyword {top.word!r} marks a minor {default} case: 一般"
        if intensified:
            raised = LEVELS[max(_RANK[level] - 1, _RANK[self.rules.intensifier_cap])]
            if _RANK[raised] < _RANK[level]:
                level, reason = raised, f"{reason}; intensifier raises it to {raised}"
        return level, reason


def model_for(rules: Rules) -> Model | None:
    """The fitted model the rules name (None when they name none), its urgency levels checked."""
    if rules.model is None:
        return None
    model = load_model(rules.model.path)
    if sorted(model.levels) != sorted(LEVELS):
        raise RulesError(f"model.file: the model's urgency levels {', '.join(model.levels)} are not "
                         f"{', '.join(LEVELS)}; re-fit it")
    return model


def ignored_categories(model: Model, rules: Rules) -> tuple[str, ...]:
    """Categories the model was fitted with that the rules no longer have."""
    return tuple(c for c in model.categories if c not in rules.categories)


def _tags(scores: dict[str, float], category: str) -> tuple[str, ...]:
    """The other categories that fired, strongest first."""
    if len(scores) < 2:
        return ()
    return tuple(c for c in sorted(scores, key=scores.__getitem__, reverse=True) if c != category)


def _news(found: list[tuple[str, bool, int]], cat: Category, norm: str, clause_starts: list[int],
           now_words: frozenset[str]) -> str:
    """The category's live 紧急 phrase in a clause after its last cap phrase, with a now-word
    before it in that clause ("现在 … 爆了"), or "": the cap told how things stood, this is
    what is happening now."""
    last = _clause_start(max(pos for w, c, pos in found if w in cat.cap and not c), clause_starts)
    for word, cancelled, pos in found:
        if cancelled or cat.escalate.get(word) != "紧急":
            continue
        start = _clause_start(pos, clause_starts)
        if start > last:
            before = norm[start:pos]
            at = [(before.find(w), w) for w in now_words if w in before]
            if at:
                return f"{min(at)[1]!r} … {word!r}"  # the first now-word: the same text, the same reason
    return ""


def _straddling(phrases: list[tuple[str, int]], tokens: list[str], raisers: frozenset[str]) -> list[tuple[int, int]]:
    """Spans of urgency phrases that run across a boundary between jieba's words and end inside
    a word: "被电" in 车位/被/电动车 is not what the resident wrote. A phrase inside one word (瓦斯
    in 瓦斯味), cut at its own ends (往下/流), or starting inside the word before it (着了 in
    火/引着/了, where jieba only attached a verb to the wrong side) still counts."""
    bounds = set(accumulate(map(len, tokens), initial=0))
    spans = []
    for word, pos in phrases:
        end = pos + len(word)
        if word in raisers and end not in bounds and any(b in bounds for b in range(pos + 1, end)):
            spans.append((pos, end))
    return spans


def _cancelled(pos: int, window: int, clause_starts: list[int], cancellers: list[tuple[int, int, bool]]) -> bool:
    """A negator ("没有") ending within `window` characters before the phrase, or a hypothetical
    ("万一") anywhere earlier in its clause; found phrases are in text order, so only earlier
    ones are known here."""
    start = _clause_start(pos, clause_starts)
    for c_start, c_end, hypothetical in cancellers:
        if c_start >= start and c_end <= pos and (hypothetical or c_start >= pos - window):
            return True
    return False


def _clause_start(pos: int, clause_starts: list[int]) -> int:
    """Where the clause holding pos begins (clause_starts ascending, as finditer gives them)."""
    k = bisect_right(clause_starts, pos)
    return clause_starts[k - 1] if k else 0

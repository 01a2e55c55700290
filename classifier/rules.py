"""Keyword rules: load from TOML, validate naming the key, index for fast look-up."""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ahocorasick

from bot.errors import RulesError

LEVELS = ("紧急", "重要", "一般")  # most serious first
DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.toml")
FALLBACK = "其他"


@dataclass(frozen=True)
class Category:
    name: str
    department: str
    urgency: str
    keywords: dict[str, float]
    # phrases that raise this category's urgency only (出不去 is 紧急 in a lift, not in a car park)
    escalate: dict[str, str] = field(default_factory=dict)  # phrase -> level
    # phrases that hold this category's urgency at most at a level (a leak "好几天了" is 重要)
    cap: dict[str, str] = field(default_factory=dict)  # phrase -> level


@dataclass(frozen=True)
class ModelSettings:
    """How the fitted n-gram model (classifier/model.py) joins the keyword rules."""

    path: Path | None  # None: the packaged model fitted on tests/data
    weight: float  # a model margin of 1 counts as much as this many keyword points
    urgent_margin: float  # the model alone makes a message 紧急 above this 紧急 margin
    veto_margin: float  # below this 紧急 margin a danger phrase makes it 重要, not 紧急
    cap_margin: float  # above this 紧急 margin no cap phrase holds the level down


@dataclass(frozen=True)
class Rules:
    """A validated rule set; immutable, so a reload swaps it whole."""

    categories: dict[str, Category]
    urgency_keywords: dict[str, dict[str, float]]  # level -> keyword -> weight
    intensifiers: frozenset[str]
    intensifier_cap: str
    negations: frozenset[str]  # "不急": the resident says it can wait
    negators: frozenset[str]  # "没有": cancels the urgency keyword right after it
    hypotheticals: frozenset[str]  # "万一": cancels an urgency keyword later in the same clause
    false_friends: frozenset[str]  # "打不着火": a danger phrase inside one is not danger
    now_words: frozenset[str]  # "现在": a danger named after one, in a clause after a cap, is news the cap does not hold
    people: frozenset[str]  # "被困", "受伤": 紧急 phrases about a person in danger, whom "不急" does not make safe
    negated_urgency: str
    negator_window: int
    fallback: str
    source: str = ""
    model: ModelSettings | None = None  # no [model] table: keyword rules only
    # token -> [(category, weight)], built once so classify is a dict look-up per token
    index: dict[str, list[tuple[str, float]]] = field(default_factory=dict, compare=False)
    urgency_index: dict[str, tuple[str, float]] = field(default_factory=dict, compare=False)
    # urgency, negation and intensifier phrases, found as substrings: danger must not depend
    # on how jieba happened to cut the sentence (except that a phrase ending inside the next
    # word is no phrase: 被电 in 被/电动车)
    phrases: "PhraseFinder" = field(default=None, compare=False)  # type: ignore[assignment]
    # category keywords as substrings: the second look when jieba's cut matched nothing
    keyword_phrases: "PhraseFinder" = field(default=None, compare=False)  # type: ignore[assignment]
    scoped: frozenset[str] = field(default=frozenset(), compare=False)  # every escalate and cap phrase
    raisers: frozenset[str] = field(default=frozenset(), compare=False)  # urgency keywords and escalate phrases
    order: dict[str, int] = field(default_factory=dict, compare=False)  # category -> position in the file

    def all_words(self) -> set[str]:
        """Every word the tokenizer must keep whole."""
        words = set(self.index) | set(self.urgency_index) | self.intensifiers | self.negations | self.negators
        for cat in self.categories.values():
            words |= set(cat.escalate) | set(cat.cap)
        return {w for w in words if len(w) > 1}


def load_rules(path: Path | None = None) -> Rules:
    """Read and validate a rules TOML file (the packaged defaults when path is None)."""
    p = path or DEFAULT_RULES_PATH
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesError(f"{p}: rules file not found") from None
    except OSError as e:  # a directory, no permission: refused like a bad edit, the old rules stay
        raise RulesError(f"{p}: cannot be read: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise RulesError(f"{p}: not valid TOML: {e}") from None
    return parse_rules(raw, source=str(p))


def parse_rules(raw: dict[str, Any], source: str = "") -> Rules:
    """Validate a parsed rules mapping; every refusal names the key."""
    _only_keys(raw, "", {"fallback", "categories", "urgency", "model"})
    fallback = _str(raw, "fallback", FALLBACK)
    cats_raw = raw.get("categories")
    if not isinstance(cats_raw, dict) or not cats_raw:
        raise RulesError("categories: must be a non-empty table of categories")
    categories = {name: _category(name, body) for name, body in cats_raw.items()}
    if fallback not in categories:
        raise RulesError(f"fallback: category {fallback!r} is not defined under categories")
    urg = raw.get("urgency", {})
    if not isinstance(urg, dict):
        raise RulesError("urgency: must be a table")
    _only_keys(urg, "urgency.", {"keywords", "intensifiers", "intensifier_cap", "negations",
                                 "negators", "hypotheticals", "false_friends", "now_words",
                                 "people", "negated_urgency", "negator_window"})
    ukw = urg.get("keywords", {})
    if not isinstance(ukw, dict):
        raise RulesError("urgency.keywords: must be a table of levels")
    urgency_keywords = {}
    for level, kws in ukw.items():
        if level not in LEVELS:
            raise RulesError(f"urgency.keywords.{level}: unknown urgency level (use {', '.join(LEVELS)})")
        urgency_keywords[level] = _keywords(f"urgency.keywords.{level}", kws)
    rules = Rules(
        categories=categories,
        urgency_keywords=urgency_keywords,
        intensifiers=frozenset(_words(urg, "urgency.intensifiers")),
        intensifier_cap=_level(urg, "urgency.intensifier_cap", "重要"),
        negations=frozenset(_words(urg, "urgency.negations")),
        negators=frozenset(_words(urg, "urgency.negators")),
        hypotheticals=frozenset(_words(urg, "urgency.hypotheticals")),
        false_friends=frozenset(_words(urg, "urgency.false_friends")),
        now_words=frozenset(_words(urg, "urgency.now_words")),
        people=frozenset(_words(urg, "urgency.people")),
        negated_urgency=_level(urg, "urgency.negated_urgency", "一般"),
        negator_window=_int(urg, "urgency.negator_window", 3),
        fallback=fallback,
        source=source,
        model=_model(raw.get("model"), source),
    )
    _check_conflicts(rules)
    _build_index(rules)
    return rules


def _model(raw: Any, source: str) -> ModelSettings | None:
    """[model]: enabled (default true), file ("" = the packaged model; else relative to the
    rules file), weight > 0, urgent_margin, veto_margin (below urgent_margin), cap_margin."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise RulesError("model: must be a table")
    _only_keys(raw, "model.", {"enabled", "file", "weight", "urgent_margin", "veto_margin", "cap_margin"})
    enabled = raw.get("enabled", True)
    if not isinstance(enabled, bool):
        raise RulesError("model.enabled: must be true or false")
    file = raw.get("file", "")
    if not isinstance(file, str):
        raise RulesError("model.file: must be a string (\"\" = the packaged model)")
    weight = _number(raw, "model.weight", 5.0)
    if weight <= 0:
        raise RulesError("model.weight: must be > 0")
    urgent = _number(raw, "model.urgent_margin", -0.4)
    veto = _number(raw, "model.veto_margin", -0.7)
    if veto >= urgent:
        raise RulesError(f"model.veto_margin: must be below model.urgent_margin ({urgent:g})")
    cap = _number(raw, "model.cap_margin", 0.5)
    if not enabled:  # checked all the same: turning the model back on must not surprise
        return None
    path = None
    if file.strip():
        path = Path(file.strip())
        if not path.is_absolute() and source:
            path = Path(source).parent / path
    return ModelSettings(path, weight, urgent, veto, cap)


def _number(table: dict[str, Any], key: str, default: float) -> float:
    v = table.get(key.rsplit(".", 1)[-1], default)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise RulesError(f"{key}: must be a number")
    if not math.isfinite(v):  # TOML allows nan and inf; either would silently break every comparison
        raise RulesError(f"{key}: must be finite, not {v}")
    return float(v)


def _category(name: str, body: Any) -> Category:
    key = f"categories.{name}"
    if not name.strip():
        raise RulesError(f"{key}: category name must not be empty")
    if not isinstance(body, dict):
        raise RulesError(f"{key}: must be a table")
    _only_keys(body, f"{key}.", {"department", "urgency", "keywords", "escalate", "cap"})
    return Category(
        name=name,
        department=_str(body, "department", "客服中心", prefix=key),
        urgency=_level(body, f"{key}.urgency", "一般"),
        keywords=_keywords(f"{key}.keywords", body.get("keywords", {})),
        escalate=_escalate(f"{key}.escalate", body.get("escalate", {})),
        cap=_escalate(f"{key}.cap", body.get("cap", {})),
    )


def _escalate(key: str, raw: Any) -> dict[str, str]:
    """{ 紧急 = [...], 重要 = [...] } -> phrase -> level."""
    if not isinstance(raw, dict):
        raise RulesError(f"{key}: must be a table of level = [phrases]")
    out: dict[str, str] = {}
    for level, phrases in raw.items():
        if level not in LEVELS:
            raise RulesError(f"{key}.{level}: unknown urgency level (use {', '.join(LEVELS)})")
        for phrase in _words({level: phrases}, f"{key}.{level}"):
            if phrase in out:
                raise RulesError(f"{key}.{level}: {phrase!r} is also listed under {key}.{out[phrase]}")
            out[phrase] = level
    return out


def _keywords(key: str, kws: Any) -> dict[str, float]:
    """Keywords as a list (weight 1) or a table keyword = weight."""
    if isinstance(kws, list):
        kws = {k: 1 for k in kws} if all(isinstance(k, str) for k in kws) else None
    if not isinstance(kws, dict):
        raise RulesError(f"{key}: must be a list of words or a table of word = weight")
    out: dict[str, float] = {}
    for word, weight in kws.items():
        w = word.strip().lower() if isinstance(word, str) else ""
        if not w:
            raise RulesError(f"{key}: empty keyword")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            raise RulesError(f"{key}.{word}: weight must be a number > 0")
        if not math.isfinite(weight):  # nan makes every score comparison false; inf wins them all
            raise RulesError(f"{key}.{word}: weight must be finite, not {weight}")
        if w in out:
            raise RulesError(f"{key}.{word}: keyword listed twice")
        out[w] = float(weight)
    return out


def _check_conflicts(rules: Rules) -> None:
    seen: dict[str, tuple[str, float]] = {}
    for cat in rules.categories.values():
        for word, weight in cat.keywords.items():
            if word in seen and seen[word][1] == weight:
                raise RulesError(
                    f"categories.{cat.name}.keywords.{word}: also in categories.{seen[word][0]} "
                    f"with the same weight {weight:g}; give one a higher weight"
                )
            if word not in seen or weight > seen[word][1]:
                seen[word] = (cat.name, weight)
    levels_of: dict[str, str] = {}
    for level, kws in rules.urgency_keywords.items():
        for word in kws:
            if word in levels_of:
                raise RulesError(f"urgency.keywords.{level}.{word}: also in urgency.keywords.{levels_of[word]}")
            levels_of[word] = level
    danger = {w for w, level in levels_of.items() if level == "紧急"}
    danger |= {w for cat in rules.categories.values() for w, level in cat.escalate.items() if level == "紧急"}
    stray = sorted(rules.people - danger)
    if stray:
        raise RulesError(f"urgency.people: {stray[0]!r} is not a 紧急 phrase (urgency.keywords.紧急 or a "
                         f"category's escalate); add it there first")


def _build_index(rules: Rules) -> None:
    for cat in rules.categories.values():
        for word, weight in cat.keywords.items():
            rules.index.setdefault(word, []).append((cat.name, weight))
    for level, kws in rules.urgency_keywords.items():
        for word, weight in kws.items():
            rules.urgency_index[word] = (level, weight)
    object.__setattr__(rules, "keyword_phrases", PhraseFinder({w for w in rules.index if len(w) > 1}))
    scoped = {p for cat in rules.categories.values() for p in (*cat.escalate, *cat.cap)}
    object.__setattr__(rules, "scoped", frozenset(scoped))
    raisers = {p for cat in rules.categories.values() for p in cat.escalate}
    object.__setattr__(rules, "raisers", frozenset(raisers | set(rules.urgency_index)))
    rules.order.update({name: i for i, name in enumerate(rules.categories)})
    object.__setattr__(rules, "phrases", PhraseFinder(
        set(rules.urgency_index) | scoped | rules.negations | rules.intensifiers | rules.hypotheticals
        | rules.negators | rules.false_friends))


class PhraseFinder:
    """Every occurrence (overlaps included) of a fixed set of phrases: an Aho-Corasick automaton."""

    def __init__(self, phrases: set[str]) -> None:
        self.automaton = ahocorasick.Automaton()
        for p in phrases:
            self.automaton.add_word(p, (len(p) - 1, p))
        if phrases:
            self.automaton.make_automaton()
        self.empty = not phrases

    def find(self, text: str) -> list[tuple[str, int]]:
        """(phrase, position) for every phrase occurrence, in text order."""
        if self.empty:
            return []
        found = [(p, end - back) for end, (back, p) in self.automaton.iter(text)]
        found.sort(key=lambda x: x[1])
        return found


def _only_keys(table: dict[str, Any], prefix: str, allowed: set[str]) -> None:
    for k in table:
        if k not in allowed:
            raise RulesError(f"{prefix}{k}: unknown key (expected one of {', '.join(sorted(allowed))})")


def _str(table: dict[str, Any], key: str, default: str, prefix: str = "") -> str:
    v = table.get(key, default)
    if not isinstance(v, str) or not v.strip():
        raise RulesError(f"{prefix + '.' if prefix else ''}{key}: must be a non-empty string")
    return v.strip()


def _level(table: dict[str, Any], key: str, default: str) -> str:
    v = table.get(key.rsplit(".", 1)[-1], default)
    if v not in LEVELS:
        raise RulesError(f"{key}: unknown urgency level {v!r} (use {', '.join(LEVELS)})")
    return v


def _int(table: dict[str, Any], key: str, default: int) -> int:
    v = table.get(key.rsplit(".", 1)[-1], default)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise RulesError(f"{key}: must be an integer >= 0")
    return v


def _words(table: dict[str, Any], key: str) -> list[str]:
    v = table.get(key.rsplit(".", 1)[-1], [])
    if isinstance(v, dict):  # { phrase = 1 } is accepted where a list is expected
        v = list(v)
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
        raise RulesError(f"{key}: must be a list of words")
    if any(not x.strip() for x in v):
        raise RulesError(f"{key}: empty keyword")
    return [x.strip().lower() for x in v]

"""A linear model over character pieces, fitted from labelled messages (`wuye rules fit`).

Keyword rules name what admins know; residents' wording varies far more than any list
(漏水, 渗水, 往下滴, 天花板湿了一片 ...). The model scores every category and urgency level
from the message's one- and two-character pieces, each with a fitted weight, so a decision
is still a sum of named pieces and can be explained the same way as a keyword.

Scoring is per message and must cost little next to jieba's cut, so it uses neither numpy
nor scikit-learn: each piece's weights (one per category and level) are packed, as fixed-point
fields, into one Python integer, and a message's margins are the fields of the sum over its
pieces — one big-integer addition per piece instead of one float addition per piece and
label. The pieces are looked up with map() over the text and over its adjacent character
pairs, so the whole loop runs in C; a piece without weights adds an all-zero row. A piece
counts as often as it occurs (features are counts, not presence: counting needs no
de-duplication per message and cross-validated as well, see bench/README.md).
"""
from __future__ import annotations

import hashlib
import json
import struct
import warnings
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import add
from pathlib import Path

from bot.errors import RulesError

DEFAULT_MODEL_PATH = Path(__file__).with_name("default_model.zip")
FORMAT = 2  # 1: presence features (0/1) in 64-bit fields; 2: counts in 32-bit fields
SCALE = 2048  # fixed point: a weight w is stored as round(w * SCALE)
# Each field is an unsigned 32-bit little-endian integer ("I"); OFFSET is added to every
# stored weight so a field stays non-negative (fitting refuses a weight of 16 or more), and a
# sum of up to _CHUNK pieces stays below 2**32, so it never carries into the next field.
# Longer texts are summed in chunks. Narrow fields keep the integers small: the sum is most
# of the model's cost per message.
OFFSET = 1 << 15
MAX_WEIGHT = OFFSET / SCALE
_CHUNK = 1 << 16
_STEP = _CHUNK // 2  # characters per chunk: each gives one one-character and one two-character piece
_INV = 1 / SCALE
MAX_ITER = 5000  # liblinear's iteration limit when fitting; scikit-learn's 1,000 stops short of convergence on our data
MIN_COUNT = 2  # messages a piece must appear in to get a row
C = 0.1  # the solver's regularization (smaller: smaller weights)


def pieces_of(text: str) -> list[str]:
    """Every one- and two-character piece of an already normalized text, as often as it
    occurs (three-character pieces scored no better in cross-validation and cost half as
    much again)."""
    return [*text, *(text[i:i + 2] for i in range(len(text) - 1))]


@dataclass(frozen=True, eq=False)
class Model:
    """Fitted weights, one packed integer per piece; columns are categories then levels."""

    packed: dict[str, int]  # piece -> the piece's weights as 32-bit fixed-point fields, in file row order
    bias: tuple[float, ...]
    categories: tuple[str, ...]
    levels: tuple[str, ...]
    source: str = ""
    converged: bool = True  # False: fitted, but the solver stopped at its iteration limit
    fitted_on: str = ""  # data_digest of what it was fitted on ("" in a file written before it was kept)
    _columns: dict[float, tuple[list[float], list[float]]] = field(init=False, repr=False, default_factory=dict)
    _zero: int = field(init=False, repr=False, default=0)  # the row of a piece without weights

    def __post_init__(self) -> None:
        object.__setattr__(self, "_zero", pack([0.0] * len(self.bias)))

    @property
    def pieces(self) -> tuple[str, ...]:
        """The pieces, in the order of the rows in the file."""
        return tuple(self.packed)

    def margins(self, norm: str, weight: float = 1.0) -> tuple[dict[str, float], dict[str, float]]:
        """(category -> margin x weight, urgency level -> margin) for a normalized text; the
        classifier's weight is applied while unpacking, not in a second pass."""
        scale, bias = self._columns.get(weight) or self._scaled(weight)
        if len(norm) <= _STEP:
            values = self._unpack(*self._sum(norm, norm), scale, bias)
        else:
            parts = [self._unpack(*self._sum(norm[i:i + _STEP], norm[i:i + _STEP + 1]), scale, bias)
                     for i in range(0, len(norm), _STEP)]
            values = [sum(col) - (len(parts) - 1) * b for col, b in zip(zip(*parts), bias)]
        k = len(self.categories)
        return dict(zip(self.categories, values[:k])), dict(zip(self.levels, values[k:]))

    def _sum(self, chars: str, pairs: str) -> tuple[int, int]:
        """(sum of the rows, rows summed) over every character of chars and every adjacent
        pair in pairs; map() keeps the loop in C, and a piece without weights adds _zero."""
        get, zero = self.packed.get, self._zero
        total = sum(map(get, chars, repeat(zero))) + sum(map(get, map(add, pairs, pairs[1:]), repeat(zero)))
        return total, len(chars) + max(len(pairs) - 1, 0)

    def weights_of(self, piece: str) -> list[float] | None:
        """One piece's fitted weights (categories then levels), or None if it has none."""
        v = self.packed.get(piece)
        return None if v is None else [(f - OFFSET) * _INV for f in self._fields(v)]

    def strongest(self, norm: str, label: str, top: int = 5) -> list[tuple[str, float]]:
        """The pieces that count most for (or against) one label (weight x occurrences),
        strongest first; for explain."""
        col = self.categories.index(label) if label in self.categories else len(self.categories) + self.levels.index(label)
        found = [(g, round(w[col] * n, 3)) for g, n in Counter(pieces_of(norm)).items()
                 if (w := self.weights_of(g)) is not None]
        found.sort(key=lambda gw: -abs(gw[1]))
        return found[:top]

    def _scaled(self, weight: float) -> tuple[list[float], list[float]]:
        """Per-column factor and bias: category columns times weight, levels as they are."""
        k = len(self.categories)
        scale = [weight * _INV] * k + [_INV] * len(self.levels)
        bias = [weight * b for b in self.bias[:k]] + list(self.bias[k:])
        self._columns[weight] = (scale, bias)
        return scale, bias

    def _fields(self, total: int) -> tuple[int, ...]:
        return struct.unpack(f"<{len(self.bias)}I", total.to_bytes(4 * len(self.bias), "little"))

    def _unpack(self, total: int, count: int, scale: list[float], bias: list[float]) -> list[float]:
        off = count * OFFSET
        return [(f - off) * s + b for f, s, b in zip(self._fields(total), scale, bias)]


def pack(weights: Sequence[float]) -> int:
    """One piece's weights as one integer of 32-bit fixed-point fields."""
    if any(abs(w) >= MAX_WEIGHT for w in weights):
        raise ValueError(f"a fitted weight is {MAX_WEIGHT:g} or more; fit with a smaller C")
    raw = [round(w * SCALE) + OFFSET for w in weights]
    return int.from_bytes(struct.pack(f"<{len(raw)}I", *raw), "little")


def load_model(path: Path | None = None) -> Model:
    """Read a model file written by save_model (the packaged default when path is None)."""
    p = path or DEFAULT_MODEL_PATH
    try:
        with zipfile.ZipFile(p) as z:
            head = json.loads(z.read("model.json"))
            pieces = tuple(json.loads(z.read("pieces.json")))
            rows = z.read("weights.bin")
        if head.get("format") != FORMAT or head.get("scale") != SCALE or head.get("offset") != OFFSET:
            raise RulesError(f"{p}: model format {head.get('format')!r} is not {FORMAT}; re-fit it")
        categories, levels = tuple(head["categories"]), tuple(head["levels"])
        bias = tuple(float(b) for b in head["bias"])
    except FileNotFoundError:
        raise RulesError(f"{p}: model file not found") from None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
        raise RulesError(f"{p}: not a model file written by `wuye rules fit`: {e}") from None
    width = 4 * len(bias)
    if len(bias) != len(categories) + len(levels) or len(rows) != width * len(pieces):
        raise RulesError(f"{p}: model arrays do not match its labels; re-fit it")
    packed = {g: int.from_bytes(rows[i * width:(i + 1) * width], "little") for i, g in enumerate(pieces)}
    return Model(packed, bias, categories, levels, str(p), fitted_on=str(head.get("fitted_on", "")))


def save_model(model: Model, path: Path) -> None:
    """Write a model as a small zip (JSON header, pieces, packed rows); atomically replaced, so a
    running server's reload never reads half a file."""
    width = 4 * len(model.bias)
    head = {"format": FORMAT, "scale": SCALE, "offset": OFFSET, "categories": list(model.categories),
            "levels": list(model.levels), "bias": list(model.bias), "fitted_on": model.fitted_on}
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.json", json.dumps(head, ensure_ascii=False))
        z.writestr("pieces.json", json.dumps(model.pieces, ensure_ascii=False))
        z.writestr("weights.bin", b"".join(v.to_bytes(width, "little") for v in model.packed.values()))
    tmp.replace(path)


def vocabulary(texts: Sequence[str], min_count: int = MIN_COUNT) -> tuple[str, ...]:
    """The pieces seen in at least min_count of the normalized texts, sorted: the rows of a
    model fitted on them (cheap: no solver, so a test can check what a model was fitted on)."""
    seen: Counter[str] = Counter()
    for text in texts:
        seen.update(set(pieces_of(text)))
    return tuple(sorted(g for g, n in seen.items() if n >= min_count))


def fit_model(texts: Sequence[str], categories: Sequence[str], urgencies: Sequence[str],
              min_count: int = MIN_COUNT, c: float = C, max_iter: int = MAX_ITER) -> Model:
    """Fit linear SVMs (scikit-learn) on normalized texts, a piece's count as its feature;
    pieces seen in fewer than min_count messages are dropped (a piece seen once is more often
    noise than signal). The model's `converged` is False when the solver stopped at max_iter."""
    import numpy as np  # fitting only: not at run time
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.svm import LinearSVC

    pieces = vocabulary(texts, min_count)
    vec = CountVectorizer(analyzer=pieces_of, vocabulary={g: i for i, g in enumerate(pieces)})
    x = vec.fit_transform(texts)
    with warnings.catch_warnings():
        # Said once, plainly, by whoever fitted (`wuye rules fit`), not as liblinear's warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        heads = [LinearSVC(C=c, random_state=0, max_iter=max_iter).fit(x, list(labels))
                 for labels in (categories, urgencies)]
    converged = all(int(h.n_iter_) < max_iter for h in heads)
    weights = np.hstack([_coef(h) for h in heads])
    bias = np.concatenate([_intercept(h) for h in heads])
    packed = {g: pack(weights[i].tolist()) for i, g in enumerate(pieces)}
    return Model(packed, tuple(bias.tolist()), tuple(map(str, heads[0].classes_)), tuple(map(str, heads[1].classes_)),
                 converged=converged,
                 fitted_on=data_digest(texts, categories, urgencies, min_count=min_count, c=c, max_iter=max_iter))


def data_digest(texts: Sequence[str], categories: Sequence[str], urgencies: Sequence[str],
                min_count: int = MIN_COUNT, c: float = C, max_iter: int = MAX_ITER) -> str:
    """SHA-256 of a fit's inputs and settings, in order: a model keeps it, so a test can check
    what the model was fitted on without fitting again."""
    inputs = {"texts": list(texts), "categories": list(categories), "urgencies": list(urgencies),
              "min_count": min_count, "c": c, "max_iter": max_iter}
    return hashlib.sha256(json.dumps(inputs, ensure_ascii=False).encode()).hexdigest()


def _coef(clf: object):  # noqa: ANN202 - a numpy array; numpy is not imported at module level
    """(n_features, n_classes); scikit-learn keeps one column for a two-class problem."""
    import numpy as np

    coef = clf.coef_  # type: ignore[attr-defined]
    return np.hstack([-coef.T, coef.T]) if coef.shape[0] == 1 else coef.T


def _intercept(clf: object):  # noqa: ANN202
    import numpy as np

    b = clf.intercept_  # type: ignore[attr-defined]
    return np.concatenate([-b, b]) if b.shape[0] == 1 else b

"""A linear model over character pieces, fitted from labelled messages (`wuye rules fit`).

Keyword rules name what admins know; residents' wording varies far more than any list
(漏水, 渗水, 往下滴, 天花板湿了一片 ...). The model scores every category and urgency level
from the message's one- and two-character pieces, each with a fitted weight, so a decision
is still a sum of named pieces and can be explained the same way as a keyword.

Scoring is per message and must cost little next to jieba's cut, so it uses neither numpy
nor scikit-learn: each piece's weights (one per category and level) are packed, as fixed-point
fields, into one Python integer, and a message's margins are the fields of the sum of its
pieces' integers — one big-integer addition per piece instead of one float addition per
piece and label (numpy's per-call overhead cost more than that on 20-character messages).
"""
from __future__ import annotations

import json
import struct
import zipfile
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import RulesError

DEFAULT_MODEL_PATH = Path(__file__).with_name("default_model.zip")
FORMAT = 1
SCALE = 4096  # fixed point: a weight w is stored as round(w * SCALE)
# Each field is an unsigned 64-bit little-endian integer ("Q"); OFFSET is added to every
# stored weight so a field stays non-negative, and a sum carries into the next field only
# past 2**23 pieces in one message (one message can match at most every piece the model
# knows: ~21,000).
OFFSET = 1 << 40
_INV = 1 / SCALE


def ngrams(text: str) -> set[str]:
    """Every piece of one or two characters in an already normalized text (three-character
    pieces scored no better in cross-validation and cost half as much again)."""
    return set(text) | {text[i:i + 2] for i in range(len(text) - 1)}


# A pair (a, b) is first a << 21 | b (code points are below 2**21), then multiplied by an odd
# constant modulo 2**64 — a bijection, so still one key per pair — because Python hashes an int
# to itself and a dict indexes by the low bits: unmixed, every pair ending in the same character
# would start at the same slot. The 2**64 bit keeps pairs apart from single code points.
_MIX = 0x9E3779B97F4A7C15
_M64 = (1 << 64) - 1
_PAIR = 1 << 64


def piece_key(piece: str) -> int:
    """A piece as an integer: a character's code point, or a mixed key for two characters."""
    if len(piece) == 1:
        return ord(piece)
    return (((ord(piece[0]) << 21) | ord(piece[1])) * _MIX & _M64) | _PAIR


def _keys(norm: str) -> set[int]:
    """piece_key of every piece of a normalized text, without building the strings."""
    cps = array("I", norm.encode("utf-32-le", "surrogatepass"))
    keys = set(cps)
    keys.update([(((a << 21) | b) * _MIX & _M64) | _PAIR for a, b in zip(cps, cps[1:])])
    return keys


@dataclass(frozen=True, eq=False)
class Model:
    """Fitted weights, one packed integer per piece; columns are categories then levels."""

    packed: dict[int, int]  # piece_key -> the piece's weights as 64-bit fields
    pieces: tuple[str, ...]  # the pieces, in the order of the rows in the file
    bias: tuple[float, ...]
    categories: tuple[str, ...]
    levels: tuple[str, ...]
    source: str = ""

    def margins(self, norm: str) -> tuple[dict[str, float], dict[str, float]]:
        """(category -> margin, urgency level -> margin) for a normalized text."""
        found = [v for v in map(self.packed.get, _keys(norm)) if v is not None]
        values = self._unpack(sum(found), len(found))
        k = len(self.categories)
        return dict(zip(self.categories, values[:k])), dict(zip(self.levels, values[k:]))

    def weights_of(self, piece: str) -> list[float] | None:
        """One piece's fitted weights (categories then levels), or None if it has none."""
        v = self.packed.get(piece_key(piece))
        return None if v is None else [w - b for w, b in zip(self._unpack(v, 1), self.bias)]

    def strongest(self, norm: str, label: str, top: int = 5) -> list[tuple[str, float]]:
        """The pieces that count most for (or against) one label, strongest first; for explain."""
        col = self.categories.index(label) if label in self.categories else len(self.categories) + self.levels.index(label)
        found = [(g, round(w[col], 3)) for g in ngrams(norm) if (w := self.weights_of(g)) is not None]
        found.sort(key=lambda gw: -abs(gw[1]))
        return found[:top]

    def _unpack(self, total: int, count: int) -> list[float]:
        off = count * OFFSET
        fields = struct.unpack(f"<{len(self.bias)}Q", total.to_bytes(8 * len(self.bias), "little"))
        return [(f - off) * _INV + b for f, b in zip(fields, self.bias)]


def pack(weights: Sequence[float]) -> int:
    """One piece's weights as one integer of 64-bit fixed-point fields."""
    raw = [round(w * SCALE) + OFFSET for w in weights]
    return int.from_bytes(struct.pack(f"<{len(raw)}Q", *raw), "little")


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
    width = 8 * len(bias)
    if len(bias) != len(categories) + len(levels) or len(rows) != width * len(pieces):
        raise RulesError(f"{p}: model arrays do not match its labels; re-fit it")
    packed = {piece_key(g): int.from_bytes(rows[i * width:(i + 1) * width], "little") for i, g in enumerate(pieces)}
    return Model(packed, pieces, bias, categories, levels, str(p))


def save_model(model: Model, path: Path) -> None:
    """Write a model as a small zip (JSON header, pieces, packed rows); atomically replaced, so a
    running server's reload never reads half a file."""
    width = 8 * len(model.bias)
    head = {"format": FORMAT, "scale": SCALE, "offset": OFFSET, "categories": list(model.categories),
            "levels": list(model.levels), "bias": list(model.bias)}
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("model.json", json.dumps(head, ensure_ascii=False))
        z.writestr("pieces.json", json.dumps(model.pieces, ensure_ascii=False))
        z.writestr("weights.bin", b"".join(model.packed[piece_key(g)].to_bytes(width, "little") for g in model.pieces))
    tmp.replace(path)


def fit_model(texts: Sequence[str], categories: Sequence[str], urgencies: Sequence[str],
              min_count: int = 2, c: float = 0.1) -> Model:
    """Fit linear SVMs (scikit-learn) on normalized texts; pieces seen in fewer than min_count
    messages are dropped (a piece seen once is more often noise than signal)."""
    import numpy as np  # fitting only: not at run time
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.svm import LinearSVC

    vec = CountVectorizer(analyzer=ngrams, binary=True, min_df=min_count)
    x = vec.fit_transform(texts)
    heads = [LinearSVC(C=c, random_state=0).fit(x, list(labels)) for labels in (categories, urgencies)]
    weights = np.hstack([_coef(h) for h in heads])
    bias = np.concatenate([_intercept(h) for h in heads])
    pieces = tuple(sorted(vec.vocabulary_))
    packed = {piece_key(g): pack(weights[vec.vocabulary_[g]].tolist()) for g in pieces}
    return Model(packed, pieces, tuple(bias.tolist()), tuple(map(str, heads[0].classes_)), tuple(map(str, heads[1].classes_)))


def _coef(clf: object):  # noqa: ANN202 - a numpy array; numpy is not imported at module level
    """(n_features, n_classes); scikit-learn keeps one column for a two-class problem."""
    import numpy as np

    coef = clf.coef_  # type: ignore[attr-defined]
    return np.hstack([-coef.T, coef.T]) if coef.shape[0] == 1 else coef.T


def _intercept(clf: object):  # noqa: ANN202
    import numpy as np

    b = clf.intercept_  # type: ignore[attr-defined]
    return np.concatenate([-b, b]) if b.shape[0] == 1 else b

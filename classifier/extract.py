"""Location (building/unit/room) and phone numbers from free text."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:\d{1,3}|[A-Za-z]|[一二两三四五六七八九十]{1,3})"
_DASH = re.compile(r"(?<![\d.])(\d{1,3})\s*[-－—–_/]\s*(\d{1,2})\s*[-－—–_/]\s*(\d{3,4})(?![\d.])")
_DASH2 = re.compile(r"(?<![\d.])(\d{1,3})\s*[-－—–_/]\s*(\d{3,4})(?![\d.])")
_BUILDING = re.compile(rf"({_NUM})\s*(?:栋|幢|号楼|号栋|座|号院)")
_UNIT = re.compile(rf"({_NUM})\s*单元")
_ROOM = re.compile(r"(?<![\d.])(\d{3,4})\s*(?:室|号|房|户)?(?![\d.])")
_PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")
_PHONE_ANY = re.compile(r"(?<![\d１-９０])(1[3-9]\d{9}|１[３-９][０-９]{9})(?![\d０-９])")


@dataclass(frozen=True)
class Location:
    building: str = ""
    unit: str = ""
    room: str = ""

    @property
    def known(self) -> bool:
        """True when at least the building is known."""
        return bool(self.building)

    def merged(self, fallback: "Location") -> "Location":
        """Fill what this location lacks from fallback, only when the building agrees."""
        if not self.building:
            return fallback
        if fallback.building != self.building:
            return self
        return Location(self.building, self.unit or fallback.unit, self.room or fallback.room)

    def label(self) -> str:
        """Display form, e.g. 3栋2单元1201."""
        parts = []
        if self.building:
            parts.append(f"{self.building}{'座' if self.building.isalpha() else '栋'}")
        if self.unit:
            parts.append(f"{self.unit}单元")
        if self.room:
            parts.append(self.room)
        return "".join(parts)


# CJK Unified Ideographs and Extension A hold the traditional characters residents type; any
# character from Extensions B to F (rare, mostly in Cantonese writing: 𨋢) sends the text to
# the converter too, which leaves it as it is when it is not traditional.
_HAN = (0x3400, 0xA000)
_RARE_HAN = "\U00020000-\U0002EE5F"


def normalize(text: str) -> str:
    """NFKC (full-width digits and letters to ASCII), traditional script to simplified,
    lower-case, trimmed."""
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    convert, traditional = _t2s()
    if traditional.search(text):  # most messages: one scan in C, no conversion
        try:
            text = convert(text)
        except UnicodeEncodeError:  # a lone surrogate (a stray byte in argv) cannot go to OpenCC
            text = convert(text.encode("utf-8", "replace").decode("utf-8"))
    return text.strip().lower()


@cache
def _t2s() -> tuple[Callable[[str], str], re.Pattern[str]]:
    """OpenCC's traditional-to-simplified converter and a pattern for the characters it changes
    (built once, in about 0.02 s): residents who write 樓道裡有燃氣味 or 3棟2單元 mean 楼道里有燃气味
    and 3栋2单元."""
    import opencc

    convert = opencc.OpenCC("t2s.json").convert
    han = "".join(map(chr, range(*_HAN)))
    out = convert(han)
    # one call for all of them; should a phrase rule ever join neighbours, ask one at a time
    pairs = zip(han, out) if len(out) == len(han) else ((ch, convert(ch)) for ch in han)
    return convert, re.compile("[" + "".join(a for a, b in pairs if a != b) + _RARE_HAN + "]")


def extract_location(text: str) -> Location:
    """Find building, unit and room in a message; empty fields when absent."""
    t = normalize(text)
    m = _DASH.search(t)
    if m:
        return Location(_num(m.group(1)), _num(m.group(2)), m.group(3))
    b = _BUILDING.search(t)
    if not b:
        m2 = _DASH2.search(t)
        return Location(_num(m2.group(1)), "", m2.group(2)) if m2 else Location()
    u = _UNIT.search(t, b.end())
    tail = u.end() if u else b.end()
    r = _ROOM.search(t, tail)
    room = r.group(1) if r and r.start() - tail <= 2 else ""
    return Location(_num(b.group(1)), _num(u.group(1)) if u else "", room)


def extract_phone(text: str) -> str:
    """The first mainland mobile number in the text, or ''."""
    m = _PHONE.search(normalize(text))
    return m.group(1) if m else ""


def mask_phone(phone: str) -> str:
    """138****1234, for anything shown in a group."""
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else phone


def mask_phones(text: str) -> str:
    """Every mobile number in text masked, for anything posted to a group."""
    return _PHONE_ANY.sub(lambda m: mask_phone(m.group(1)), text)


def _num(s: str) -> str:
    s = s.strip()
    if s.isdigit():
        return str(int(s))
    if s.isascii():
        return s.upper()
    return str(_cn_number(s))


def _cn_number(s: str) -> int:
    if "十" not in s:
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    tens, _, ones = s.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[ones] if ones else 0)

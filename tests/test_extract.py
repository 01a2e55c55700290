"""Location and phone extraction from free text."""
from __future__ import annotations

import pytest

from classifier.extract import Location, extract_location, extract_phone, mask_phone, normalize


@pytest.mark.parametrize("text, expected", [
    ("3栋2单元1201 楼上卫生间漏水", ("3", "2", "1201")),
    ("３栋１单元１２０２ 楼上漏水到我家天花板", ("3", "1", "1202")),
    ("3-2-1201漏水", ("3", "2", "1201")),
    ("3－2－1201 漏水", ("3", "2", "1201")),
    ("5栋1单元", ("5", "1", "")),
    ("12号楼3单元502室", ("12", "3", "502")),
    ("十二号楼三单元502", ("12", "3", "502")),
    ("8幢 1单元 302室", ("8", "1", "302")),
    ("B座1203 空调外机响", ("B", "", "1203")),
    ("15-1503 门锁坏了", ("15", "", "1503")),
    ("我家3楼漏水", ("", "", "")),
    ("电梯坏了，有人被困", ("", "", "")),
    ("2026年物业费怎么交", ("", "", "")),
    ("3栋 电话13812345678", ("3", "", "")),
    ("3棟2單元1201 樓上衛生間漏水", ("3", "2", "1201")),  # traditional script
])
def test_location(text, expected):
    loc = extract_location(text)
    assert (loc.building, loc.unit, loc.room) == expected


def test_label_and_merge():
    assert Location("3", "2", "1201").label() == "3栋2单元1201"
    assert Location("B", "", "1203").label() == "B座1203"
    home = Location("3", "2", "1201")
    assert Location("3").merged(home) == home  # same building: the rest comes from the profile
    assert Location("5", "1").merged(home) == Location("5", "1")  # elsewhere: nothing borrowed
    assert Location().merged(home) == home


def test_phone():
    assert extract_phone("电话１３８１２３４５６７８，快来") == "13812345678"
    assert extract_phone("工单12345678901234") == ""
    assert mask_phone("13812345678") == "138****5678"


def test_normalize_reads_traditional_script_as_simplified():
    assert normalize("樓道裡有燃氣味") == "楼道里有燃气味"
    assert normalize("電梯壞咗，Ｂ座") == "电梯坏咗,b座"
    assert normalize("樓\udcff道") == "楼?道"  # a stray byte from argv must not stop it


@pytest.mark.parametrize("text", ["楼道里有燃气味", "厨房著火了", "乾隆路3号", "3栋电梯坏了"])
def test_normalize_leaves_simplified_text_as_it_is(text):
    assert normalize(text) == text.lower()

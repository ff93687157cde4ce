"""Sayers: value + language -> prompt names, English and Mandarin, edge values."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from softswitch.ivr.say import (
    MAX_NUMBER,
    PROMPT_TEXT,
    SayError,
    SayKind,
    needed_prompts,
    say,
)


def spoken(kind: SayKind, value: str, language: str, currency: str = "CNY") -> str:
    """What a listener hears, from the recordings' texts."""
    joiner = " " if language == "en" else ""
    return joiner.join(PROMPT_TEXT[language][n] for n in say(kind, value, language, currency))


@pytest.mark.parametrize(
    ("value", "english", "mandarin"),
    [
        ("0", "zero", "零"),
        ("7", "seven", "七"),
        ("10", "ten", "十"),
        ("11", "eleven", "十一"),
        ("15", "fifteen", "十五"),
        ("20", "twenty", "二十"),
        ("21", "twenty one", "二十一"),
        ("100", "one hundred", "一百"),
        ("101", "one hundred one", "一百零一"),
        ("110", "one hundred ten", "一百一十"),
        ("200", "two hundred", "两百"),
        ("1000", "one thousand", "一千"),
        ("1010", "one thousand ten", "一千零一十"),
        ("2000", "two thousand", "两千"),
        ("10001", "ten thousand one", "一万零一"),
        ("20000", "twenty thousand", "两万"),
        ("100000", "one hundred thousand", "十万"),
        ("1000000", "one million", "一百万"),
        ("100010000", "one hundred million ten thousand", "一亿零一万"),
        ("100000001", "one hundred million one", "一亿零一"),
        ("-5", "minus five", "负五"),
        ("3.14", "three point one four", "三点一四"),
    ],
)
def test_numbers(value: str, english: str, mandarin: str) -> None:
    assert spoken(SayKind.NUMBER, value, "en") == english
    assert spoken(SayKind.NUMBER, value, "zh") == mandarin


@pytest.mark.parametrize(
    ("value", "currency", "english", "mandarin"),
    [
        ("12.30", "USD", "twelve dollars thirty cents", "十二美元三十美分"),
        ("1", "USD", "one dollar", "一美元"),
        ("0.01", "USD", "one cent", "一美分"),
        ("0", "CNY", "zero yuan", "零元"),
        ("12.3", "CNY", "twelve yuan thirty fen", "十二元三角"),
        ("100.05", "CNY", "one hundred yuan five fen", "一百元零五分"),
        ("0.05", "CNY", "five fen", "五分"),
        ("1001.50", "CNY", "one thousand one yuan fifty fen", "一千零一元五角"),
    ],
)
def test_amounts(value: str, currency: str, english: str, mandarin: str) -> None:
    assert spoken(SayKind.AMOUNT, value, "en", currency) == english
    assert spoken(SayKind.AMOUNT, value, "zh", currency) == mandarin


@pytest.mark.parametrize(
    ("value", "english", "mandarin"),
    [
        ("2025-03-09", "Sunday March ninth twenty twenty five", "二零二五年三月九日星期日"),
        ("2000-01-01", "Saturday January first two thousand", "二零零零年一月一日星期六"),
        (
            "2005-12-31",
            "Saturday December thirty first two thousand five",
            "二零零五年十二月三十一日星期六",
        ),
        (
            "1900-02-28",
            "Wednesday February twenty eighth nineteen hundred",
            "一九零零年二月二十八日星期三",
        ),
        (
            "2024-02-29",
            "Thursday February twenty ninth twenty twenty four",
            "二零二四年二月二十九日星期四",
        ),
    ],
)
def test_dates(value: str, english: str, mandarin: str) -> None:
    assert spoken(SayKind.DATE, value, "en") == english
    assert spoken(SayKind.DATE, value, "zh") == mandarin


def test_digits_and_minutes() -> None:
    assert say(SayKind.DIGITS, "10*#", "en") == ["1", "0", "star", "pound"]
    assert spoken(SayKind.DIGITS, "+86", "zh") == "八六"
    assert spoken(SayKind.MINUTES, "1", "en") == "one minute"
    assert spoken(SayKind.MINUTES, "15", "en") == "fifteen minutes"
    assert spoken(SayKind.MINUTES, "15", "zh") == "十五分钟"


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (SayKind.NUMBER, ""),
        (SayKind.NUMBER, "1e6"),
        (SayKind.NUMBER, str(MAX_NUMBER + 1)),
        (SayKind.AMOUNT, "1.234"),
        (SayKind.DATE, "2025-02-30"),
        (SayKind.DIGITS, "12a"),
        (SayKind.MINUTES, "-1"),
    ],
)
def test_unreadable_values(kind: SayKind, value: str) -> None:
    with pytest.raises(SayError):
        say(kind, value, "en")


def test_unknown_language_and_currency() -> None:
    with pytest.raises(SayError):
        say(SayKind.NUMBER, "1", "fr")
    with pytest.raises(SayError):
        say(SayKind.AMOUNT, "1", "en", "EUR")


@given(
    st.sampled_from(list(SayKind)),
    st.text(max_size=80),
    st.sampled_from(["en", "zh"]),
    st.sampled_from(["CNY", "USD"]),
)
def test_any_value_says_known_prompts_or_raises_say_error(
    kind: SayKind, value: str, language: str, currency: str
) -> None:
    try:
        names = say(kind, value, language, currency)
    except SayError:
        return
    assert set(names) <= set(needed_prompts(kind, language))


@given(st.integers(0, MAX_NUMBER), st.sampled_from(["en", "zh"]))
def test_every_number_uses_only_listed_prompts(n: int, language: str) -> None:
    names = say(SayKind.NUMBER, str(n), language)
    assert names and set(names) <= set(needed_prompts(SayKind.NUMBER, language))
    assert not any(a == b == "0" for a, b in itertools.pairwise(names))


def test_prompt_lists_cover_each_language() -> None:
    assert "ordinal_30" in PROMPT_TEXT["en"] and "ten_thousand" in PROMPT_TEXT["zh"]
    assert set(needed_prompts(SayKind.DIGITS, "en")) == {
        *(f"{d}" for d in range(10)),
        "star",
        "pound",
    }

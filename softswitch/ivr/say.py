"""Saying numbers, digits, dates, amounts and minutes: a pure function from a value and a
language to the prompt names to play, in order.

Prompt names are shared across languages (`5` is "five" in English and "五" in Mandarin) and are
those of the shipped prompt set (prompts/texts.toml: `20`, `hundred`, `month_3`, `ordinal_9`, ...);
`PROMPT_TEXT` lists every name a sayer may return, with what the recording says, so that the
prompt script can generate each language's set from it. A sayer is registered per language.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from typing import Final, Protocol

MAX_NUMBER: Final = 10**12 - 1  # the largest integer part a sayer reads (999 billion)
MAX_VALUE_CHARS: Final = 64  # longer values are refused before any parsing
_NUMBER_RE: Final = re.compile(r"(-?)(\d+)(?:\.(\d+))?")
_AMOUNT_RE: Final = re.compile(r"(-?)(\d+)(?:\.(\d{1,2}))?")
_MONTHS: Final = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
_WEEKDAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DIGIT_SIGNS: Final = {"*": "star", "#": "pound"}
CURRENCIES: Final = ("CNY", "USD")


class SayError(ValueError):
    """A value the sayer cannot read (not a number, a date, too long)."""


class SayKind(StrEnum):
    NUMBER = "number"
    DIGITS = "digits"
    DATE = "date"
    AMOUNT = "amount"
    MINUTES = "minutes"


class Sayer(Protocol):
    def number(self, value: str) -> list[str]: ...
    def digits(self, value: str) -> list[str]: ...
    def date(self, value: str) -> list[str]: ...
    def amount(self, value: str, currency: str) -> list[str]: ...
    def minutes(self, value: str) -> list[str]: ...


def _words(start: int, names: list[str]) -> dict[str, str]:
    return {f"{start + i}": name for i, name in enumerate(names)}


_EN_TEXT: Final[dict[str, str]] = {
    **_words(0, ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]),
    **{
        f"{10 + i}": word
        for i, word in enumerate(
            [
                "ten",
                "eleven",
                "twelve",
                "thirteen",
                "fourteen",
                "fifteen",
                "sixteen",
                "seventeen",
                "eighteen",
                "nineteen",
            ]
        )
    },
    **{
        f"{10 * i}": word
        for i, word in enumerate(
            ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"], 2
        )
    },
    "hundred": "hundred",
    "thousand": "thousand",
    "million": "million",
    "billion": "billion",
    "minus": "minus",
    "point": "point",
    "star": "star",
    "pound": "pound",
    "dollar": "dollar",
    "dollars": "dollars",
    "cent": "cent",
    "cents": "cents",
    "yuan": "yuan",
    "fen": "fen",
    "minute": "minute",
    "minutes": "minutes",
    **{f"month_{i}": m.capitalize() for i, m in enumerate(_MONTHS, 1)},
    **{f"weekday_{i}": d.capitalize() for i, d in enumerate(_WEEKDAYS, 1)},
    **{
        f"ordinal_{n}": word
        for n, word in enumerate(
            [
                "first",
                "second",
                "third",
                "fourth",
                "fifth",
                "sixth",
                "seventh",
                "eighth",
                "ninth",
                "tenth",
                "eleventh",
                "twelfth",
                "thirteenth",
                "fourteenth",
                "fifteenth",
                "sixteenth",
                "seventeenth",
                "eighteenth",
                "nineteenth",
                "twentieth",
                "twenty-first",
                "twenty-second",
                "twenty-third",
                "twenty-fourth",
                "twenty-fifth",
                "twenty-sixth",
                "twenty-seventh",
                "twenty-eighth",
                "twenty-ninth",
                "thirtieth",
                "thirty-first",
            ],
            1,
        )
        if n <= 20 or n == 30  # the recorded ordinals; 21st is "twenty" "first"
    },
}

_ZH_TEXT: Final[dict[str, str]] = {
    **_words(0, list("零一二三四五六七八九")),
    "10": "十",
    "hundred": "百",
    "thousand": "千",
    "ten_thousand": "万",
    "hundred_million": "亿",
    "liang": "两",
    "minus": "负",
    "point": "点",
    "star": "星号",
    "pound": "井号",
    "yuan": "元",
    "jiao": "角",
    "fen": "分",
    "dollars": "美元",
    "cents": "美分",
    "minutes": "分钟",
    "year": "年",
    "month": "月",
    "day": "日",
    "weekday": "星期",
    "weekday_7": "星期日",
}

# Every prompt name a sayer may return, per language, with the words its recording says.
PROMPT_TEXT: Final[dict[str, dict[str, str]]] = {"en": _EN_TEXT, "zh": _ZH_TEXT}


def _parse_number(value: str, pattern: re.Pattern[str]) -> tuple[bool, int, str]:
    text = value.strip()
    if len(text) > MAX_VALUE_CHARS:
        raise SayError(f"value longer than {MAX_VALUE_CHARS} characters")
    match = pattern.fullmatch(text)
    if not match:
        raise SayError(f"not a number: {value!r}")
    integer = int(match[2])
    if integer > MAX_NUMBER:
        raise SayError(f"{value!r} is larger than {MAX_NUMBER}")
    return match[1] == "-", integer, match[3] or ""


def _parse_date(value: str) -> date:
    try:
        return date.fromisoformat(value.strip()[:MAX_VALUE_CHARS])
    except ValueError:
        raise SayError(f"not a date (YYYY-MM-DD): {value!r}") from None


def _digit_names(value: str) -> list[str]:
    if len(value) > MAX_VALUE_CHARS:
        raise SayError(f"value longer than {MAX_VALUE_CHARS} characters")
    names = []
    for char in value:
        if char == "+":
            continue  # E.164's plus is not read out: there is no key for it
        if char in "0123456789":
            names.append(char)
        elif char in _DIGIT_SIGNS:
            names.append(_DIGIT_SIGNS[char])
        else:
            raise SayError(f"cannot say {char!r} as a digit")
    return names


def _currency(currency: str) -> str:
    code = currency.upper()
    if code not in CURRENCIES:
        raise SayError(f"unknown currency {currency!r} (known: {', '.join(CURRENCIES)})")
    return code


class _DigitSayer:
    """What every language says the same way, from its own words: a signed decimal number is
    its integer, then "point" and the fraction's digits; digits are said one by one."""

    def integer(self, n: int) -> list[str]:
        raise NotImplementedError

    def number(self, value: str) -> list[str]:
        negative, integer, fraction = _parse_number(value, _NUMBER_RE)
        out = (["minus"] if negative else []) + self.integer(integer)
        return out + (["point", *_digit_names(fraction)] if fraction else [])

    def digits(self, value: str) -> list[str]:
        return _digit_names(value.strip())


class EnglishSayer(_DigitSayer):
    """US English: "one hundred one", "twenty twenty-five", "twelve dollars thirty cents"."""

    def integer(self, n: int) -> list[str]:
        if n == 0:
            return ["0"]
        out: list[str] = []
        for scale, word in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
            if n >= scale:
                out += [*self._below_1000(n // scale), word]
                n %= scale
        return out + (self._below_1000(n) if n else [])

    def _below_1000(self, n: int) -> list[str]:
        out: list[str] = []
        if n >= 100:
            out += [f"{n // 100}", "hundred"]
            n %= 100
        if n >= 20:
            out.append(f"{n // 10 * 10}")
            if n % 10:
                out.append(f"{n % 10}")
        elif n >= 10 or n:
            out.append(f"{n}")
        return out

    def date(self, value: str) -> list[str]:
        day = _parse_date(value)
        return [
            f"weekday_{day.isoweekday()}",
            f"month_{day.month}",
            *self._ordinal(day.day),
            *self._year(day.year),
        ]

    def _ordinal(self, n: int) -> list[str]:
        if n <= 20 or n % 10 == 0:
            return [f"ordinal_{n}"]  # recorded: 1st-20th and 30th
        return [f"{n // 10 * 10}", f"ordinal_{n % 10}"]  # "twenty" "first"

    def _year(self, year: int) -> list[str]:
        high, low = divmod(year, 100)
        if year < 1000 or (low < 10 and high % 10 == 0):
            return self.integer(year)  # 2000, 2005: "two thousand five"
        if low == 0:
            return [*self._below_1000(high), "hundred"]  # 1900: "nineteen hundred"
        if low < 10:
            return self.integer(year)
        return self._below_1000(high) + self._below_1000(low)  # "twenty twenty-five"

    def amount(self, value: str, currency: str) -> list[str]:
        code = _currency(currency)
        negative, units, fraction = _parse_number(value, _AMOUNT_RE)
        cents = int(fraction.ljust(2, "0")) if fraction else 0
        major = {"USD": ("dollar", "dollars"), "CNY": ("yuan", "yuan")}[code]
        minor = {"USD": ("cent", "cents"), "CNY": ("fen", "fen")}[code]
        out = ["minus"] if negative else []
        if units or not cents:
            out += [*self.integer(units), major[0] if units == 1 else major[1]]
        if cents:
            out += self.integer(cents)
            out.append(minor[0] if cents == 1 else minor[1])
        return out

    def minutes(self, value: str) -> list[str]:
        negative, n, _ = _parse_number(value, re.compile(r"(-?)(\d+)()"))
        if negative:
            raise SayError(f"negative minutes: {value!r}")
        return [*self.integer(n), "minute" if n == 1 else "minutes"]


class MandarinSayer(_DigitSayer):
    """Mandarin: 一百零一, 一万零一, 两千, 二零二五年三月九日星期日, 一百元零五分."""

    def integer(self, n: int) -> list[str]:
        if n == 0:
            return ["0"]
        out: list[str] = []
        gap = False  # a whole group of zeros was skipped: the next group starts with 零
        groups = (n // 10**8, n // 10**4 % 10**4, n % 10**4)
        for group, unit in zip(groups, ("hundred_million", "ten_thousand", ""), strict=True):
            if group == 0:
                gap = gap or bool(out)
                continue
            if out and (gap or group < 1000):
                out.append("0")
            out += self._group(group, first=not out, has_unit=bool(unit))
            if unit:
                out.append(unit)
            gap = False
        return out

    def _group(self, group: int, *, first: bool, has_unit: bool) -> list[str]:
        out: list[str] = []
        zero = started = False
        places = (
            (group // 1000, "thousand"),
            (group // 100 % 10, "hundred"),
            (group // 10 % 10, "10"),
            (group % 10, ""),
        )
        for index, (digit, unit) in enumerate(places):
            if digit == 0:
                zero = zero or started
                continue
            if zero:
                out.append("0")
                zero = False
            leading = first and not started
            last = index == len(places) - 1
            if unit == "10" and leading and digit == 1:
                out.append(unit)  # 十五, not 一十五, at the very start
            elif (
                digit == 2 and leading and (unit in ("thousand", "hundred") or (last and has_unit))
            ):
                out += ["liang", unit] if unit else ["liang"]  # 两千, 两百, 两万
            else:
                out += [f"{digit}", unit] if unit else [f"{digit}"]
            started = True
        return out

    def date(self, value: str) -> list[str]:
        day = _parse_date(value)
        return [
            *_digit_names(f"{day.year}"),
            "year",
            *self.integer(day.month),
            "month",
            *self.integer(day.day),
            "day",
            *(["weekday_7"] if day.isoweekday() == 7 else ["weekday", f"{day.isoweekday()}"]),
        ]

    def amount(self, value: str, currency: str) -> list[str]:
        code = _currency(currency)
        negative, units, fraction = _parse_number(value, _AMOUNT_RE)
        cents = int(fraction.ljust(2, "0")) if fraction else 0
        out = ["minus"] if negative else []
        if code == "USD":
            if units or not cents:
                out += [*self.integer(units), "dollars"]
            return out + ([*self.integer(cents), "cents"] if cents else [])
        jiao, fen = divmod(cents, 10)
        if units or not cents:
            out += [*self.integer(units), "yuan"]
        if jiao:
            out += [f"{jiao}", "jiao"]
        if fen:
            out += (["0"] if units and not jiao else []) + [f"{fen}", "fen"]
        return out

    def minutes(self, value: str) -> list[str]:
        negative, n, _ = _parse_number(value, re.compile(r"(-?)(\d+)()"))
        if negative:
            raise SayError(f"negative minutes: {value!r}")
        return [*self.integer(n), "minutes"]


SAYERS: Final[dict[str, Sayer]] = {"en": EnglishSayer(), "zh": MandarinSayer()}

_SAY: Final[dict[SayKind, Callable[[Sayer, str, str], list[str]]]] = {
    SayKind.NUMBER: lambda sayer, value, _currency: sayer.number(value),
    SayKind.DIGITS: lambda sayer, value, _currency: sayer.digits(value),
    SayKind.DATE: lambda sayer, value, _currency: sayer.date(value),
    SayKind.AMOUNT: lambda sayer, value, currency: sayer.amount(value, currency),
    SayKind.MINUTES: lambda sayer, value, _currency: sayer.minutes(value),
}


def say(kind: SayKind, value: str, language: str, currency: str = "CNY") -> list[str]:
    """Prompt names for `value` in `language`; SayError if it cannot be read."""
    sayer = SAYERS.get(language)
    if sayer is None:
        raise SayError(f"no sayer for language {language!r} (known: {', '.join(SAYERS)})")
    return _SAY[kind](sayer, value, currency)


_NUMBER_WORDS: Final = frozenset(
    {"hundred", "thousand", "million", "billion", "ten_thousand", "hundred_million", "liang"}
    | {"minus", "point"}
)
_KIND_WORDS: Final[dict[SayKind, frozenset[str]]] = {
    SayKind.DIGITS: frozenset({"star", "pound"}),
    SayKind.NUMBER: _NUMBER_WORDS,
    SayKind.AMOUNT: _NUMBER_WORDS | {"dollar", "dollars", "cent", "cents", "yuan", "jiao", "fen"},
    SayKind.DATE: _NUMBER_WORDS | {"year", "month", "day", "weekday"},
    SayKind.MINUTES: _NUMBER_WORDS | {"minute", "minutes"},
}
_DATE_PREFIXES: Final = ("month_", "weekday_", "ordinal_")


def needed_prompts(kind: SayKind, language: str) -> tuple[str, ...]:
    """The prompt names saying `kind` in `language` may use (a subset of PROMPT_TEXT)."""
    words = _KIND_WORDS[kind]

    def needed(name: str) -> bool:
        if kind is SayKind.DIGITS:
            return (len(name) == 1 and name.isdigit()) or name in words
        return (
            name.isdigit()
            or name in words
            or (kind is SayKind.DATE and name.startswith(_DATE_PREFIXES))
        )

    return tuple(name for name in PROMPT_TEXT.get(language, {}) if needed(name))

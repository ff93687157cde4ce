"""Conditions a flow branches on: dial-plan patterns, time of day, day of week, holidays.

Pure: the time comes in as UNIX seconds and is read in the configured zone with `zoneinfo`, so a
rule "08:00-18:00" means local wall-clock time on both sides of a DST change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PATTERN_CHARS: Final = {"X": "[0-9]", "Z": "[1-9]", "N": "[2-9]", ".": ".+", "!": ".*"}
_LITERAL_RE: Final = re.compile(r"[0-9*#+A-Za-z-]")
_TIME_RANGE_RE: Final = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


class RuleError(ValueError):
    """A pattern, time range, day list or date that cannot be understood (the text says why)."""


@dataclass(frozen=True)
class NumberPattern:
    """A number to match: exact, or an Asterisk-style pattern when it starts with `_`.

    In a pattern X is any digit, Z 1-9, N 2-9, [1-5 7] a set, `.` one or more of anything and
    `!` zero or more; everything else is literal.
    """

    text: str
    regex: re.Pattern[str] = field(compare=False, repr=False)

    @classmethod
    def parse(cls, text: str) -> NumberPattern:
        if not text:
            raise RuleError("empty number pattern")
        if not text.startswith("_"):
            return cls(text, re.compile(re.escape(text)))
        body, parts, i = text[1:], [], 0
        if not body:
            raise RuleError(f"pattern {text!r} has nothing after '_'")
        while i < len(body):
            char = body[i]
            if char == "[":
                end = body.find("]", i)
                if end < 0 or end == i + 1:
                    raise RuleError(f"pattern {text!r}: unclosed or empty [...]")
                parts.append(_char_set(body[i + 1 : end], text))
                i = end + 1
                continue
            upper = char.upper()
            if upper in _PATTERN_CHARS:
                parts.append(_PATTERN_CHARS[upper])
            elif _LITERAL_RE.fullmatch(char):
                parts.append(re.escape(char))
            else:
                raise RuleError(f"pattern {text!r}: unexpected {char!r}")
            i += 1
        return cls(text, re.compile("".join(parts)))

    def matches(self, number: str) -> bool:
        return self.regex.fullmatch(number) is not None


def _char_set(inner: str, text: str) -> str:
    out, i = [], 0
    while i < len(inner):
        if i + 2 < len(inner) and inner[i + 1] == "-":
            low, high = inner[i], inner[i + 2]
            if not (low.isdigit() and high.isdigit() and low <= high):
                raise RuleError(f"pattern {text!r}: bad range {inner[i : i + 3]!r}")
            out.append(f"{low}-{high}")
            i += 3
            continue
        if not (inner[i].isdigit() or inner[i] in "*#"):
            raise RuleError(f"pattern {text!r}: unexpected {inner[i]!r} in [...]")
        out.append(re.escape(inner[i]))
        i += 1
    return "[" + "".join(out) + "]"


def any_matches(patterns: Iterable[NumberPattern], number: str) -> bool:
    return any(p.matches(number) for p in patterns)


@dataclass(frozen=True)
class TimeRange:
    """Local wall-clock time from `start` (inclusive) to `end` (exclusive); wraps past midnight
    when end <= start ("22:00-06:00")."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> TimeRange:
        match = _TIME_RANGE_RE.fullmatch(text.strip())
        if not match:
            raise RuleError(f"expected HH:MM-HH:MM, got {text!r}")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if not (h1 <= 23 and m1 <= 59):
            raise RuleError(f"not a time of day in {text!r}")
        if (h2, m2) == (24, 0):
            end = time.max  # "-24:00": to the end of the day
        elif h2 <= 23 and m2 <= 59:
            end = time(h2, m2)
        else:
            raise RuleError(f"not a time of day in {text!r}")
        return cls(time(h1, m1), end)

    def contains(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


def parse_days(items: Iterable[str]) -> frozenset[int]:
    """Weekday numbers (Monday 0) from names and ranges: ["mon-fri", "sun"]."""
    days: set[int] = set()
    for item in items:
        first, _, last = item.strip().lower().partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise RuleError(f"expected a day such as 'mon' or a range 'mon-fri', got {item!r}")
        low = WEEKDAYS.index(first)
        high = WEEKDAYS.index(last) if last else low
        span = range(low, high + 1) if low <= high else [*range(low, 7), *range(0, high + 1)]
        days.update(span)
    return frozenset(days)


@dataclass(frozen=True)
class Holidays:
    """Dated holidays ("2025-10-01") and yearly ones ("12-25")."""

    dates: frozenset[date] = frozenset()
    yearly: frozenset[tuple[int, int]] = frozenset()

    @classmethod
    def parse(cls, items: Iterable[str]) -> Holidays:
        dates: set[date] = set()
        yearly: set[tuple[int, int]] = set()
        for item in items:
            text = item.strip()
            try:
                if len(text) == 5 and text[2] == "-":
                    month, day = int(text[:2]), int(text[3:])
                    date(2000, month, day)  # 2000 is a leap year: 02-29 is allowed
                    yearly.add((month, day))
                else:
                    dates.add(date.fromisoformat(text))
            except ValueError:
                raise RuleError(f"expected YYYY-MM-DD or MM-DD, got {item!r}") from None
        return cls(frozenset(dates), frozenset(yearly))

    def __contains__(self, day: object) -> bool:
        if not isinstance(day, date):
            return False
        return day in self.dates or (day.month, day.day) in self.yearly


@dataclass(frozen=True)
class Calendar:
    """The configured time zone and holidays: how a flow reads `now`."""

    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    holidays: Holidays = field(default_factory=Holidays)

    def local(self, now: float) -> datetime:
        return datetime.fromtimestamp(now, self.zone)

    def is_holiday(self, now: float) -> bool:
        return self.local(now).date() in self.holidays


def load_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or RuleError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        problem = f"unknown time zone {name!r} (an IANA name such as 'Asia/Shanghai')"
        raise RuleError(problem) from None

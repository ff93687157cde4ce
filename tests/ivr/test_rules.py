"""Branch conditions: dial-plan patterns, time ranges across DST, days, holidays."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ivr.helpers import caller_in, flow

from softswitch.ivr.interpreter import TransferTo
from softswitch.ivr.rules import (
    Calendar,
    Holidays,
    NumberPattern,
    RuleError,
    TimeRange,
    load_zone,
    parse_days,
)

NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("1001", ["1001"], ["10011", "100"]),
        ("_1XXX", ["1000", "1999"], ["999", "10000", "2000"]),
        ("_NXX", ["200", "999"], ["100", "099"]),
        ("_Z.", ["10", "9999"], ["0", "1"]),
        ("_0!", ["0", "0123"], ["1"]),
        ("_[13-5]00", ["100", "300", "500"], ["200", "600"]),
        ("_+86139.", ["+8613912345678"], ["8613912345678"]),
        ("_*4[5-8]", ["*45", "*48"], ["*44", "#45"]),
    ],
)
def test_number_patterns(pattern: str, yes: list[str], no: list[str]) -> None:
    compiled = NumberPattern.parse(pattern)
    assert all(compiled.matches(n) for n in yes)
    assert not any(compiled.matches(n) for n in no)


@pytest.mark.parametrize("bad", ["", "_", "_[", "_[]", "_[9-1]", "_1?", "_[a]"])
def test_bad_patterns_are_rule_errors(bad: str) -> None:
    with pytest.raises(RuleError):
        NumberPattern.parse(bad)


@given(st.text(max_size=30))
def test_any_pattern_text_parses_or_is_a_rule_error(text: str) -> None:
    with contextlib.suppress(RuleError):
        NumberPattern.parse(text).matches("12345")


def test_time_ranges_including_past_midnight() -> None:
    day = TimeRange.parse("08:00-18:00")
    assert day.contains(time(8, 0)) and day.contains(time(17, 59))
    assert not day.contains(time(18, 0)) and not day.contains(time(7, 59))
    night = TimeRange.parse("22:00-06:00")
    assert night.contains(time(23, 0)) and night.contains(time(5, 59))
    assert not night.contains(time(12, 0))
    assert TimeRange.parse("00:00-24:00").contains(time(23, 59, 59))
    for bad in ("8-18", "25:00-26:00", "08:60-09:00", "08:00-24:01"):
        with pytest.raises(RuleError):
            TimeRange.parse(bad)


def test_days_with_ranges_wrapping_the_week() -> None:
    assert parse_days(["mon-fri"]) == frozenset(range(5))
    assert parse_days(["fri-mon"]) == frozenset({4, 5, 6, 0})
    assert parse_days(["sun", "Sat"]) == frozenset({5, 6})
    with pytest.raises(RuleError):
        parse_days(["funday"])


def test_holidays_dated_and_yearly() -> None:
    holidays = Holidays.parse(["2025-10-06", "12-25", "02-29"])
    assert date(2025, 10, 6) in holidays and date(2026, 10, 6) not in holidays
    assert date(2031, 12, 25) in holidays
    assert date(2028, 2, 29) in holidays
    for bad in ("2025-13-01", "13-01", "02-30", "christmas"):
        with pytest.raises(RuleError):
            Holidays.parse([bad])


def test_unknown_zone_is_a_rule_error() -> None:
    with pytest.raises(RuleError, match="Mars/Olympus"):
        load_zone("Mars/Olympus")
    with pytest.raises(RuleError):
        load_zone("../etc/passwd")


OPEN_HOURS = """
start = "hours"
[nodes.hours]
kind = "branch"
default = "closed"
[[nodes.hours.rules]]
holiday = true
goto = "closed"
[[nodes.hours.rules]]
days = ["mon-fri"]
time = ["08:00-12:00", "13:00-18:00"]
goto = "open"
[[nodes.hours.rules]]
dates = ["2025-03-09"]
goto = "open"
[nodes.open]
kind = "extension"
target = "open"
[nodes.closed]
kind = "extension"
target = "closed"
"""


def _branch_at(moment: datetime, holidays: Holidays | None = None) -> str:
    calendar = Calendar(NEW_YORK, holidays or Holidays())
    c = caller_in(flow(OPEN_HOURS), calendar=calendar, now=moment.timestamp())
    c.start()
    assert isinstance(c.exit, TransferTo)
    return c.exit.target


def test_opening_hours_follow_local_time_across_dst_changes() -> None:
    # US DST 2025: clocks go forward on Sunday 9 March, back on Sunday 2 November.
    before_spring = datetime(2025, 3, 7, 8, 30, tzinfo=NEW_YORK)  # Friday, EST (UTC-5)
    after_spring = datetime(2025, 3, 10, 8, 30, tzinfo=NEW_YORK)  # Monday, EDT (UTC-4)
    assert before_spring.utcoffset() != after_spring.utcoffset()
    assert _branch_at(before_spring) == "open"
    assert _branch_at(after_spring) == "open"
    assert _branch_at(datetime(2025, 3, 10, 7, 59, tzinfo=NEW_YORK)) == "closed"
    assert _branch_at(datetime(2025, 11, 3, 8, 0, tzinfo=NEW_YORK)) == "open"  # EST again
    assert _branch_at(datetime(2025, 11, 3, 7, 59, tzinfo=NEW_YORK)) == "closed"
    # Lunch break and evening.
    assert _branch_at(datetime(2025, 3, 10, 12, 30, tzinfo=NEW_YORK)) == "closed"
    assert _branch_at(datetime(2025, 3, 10, 18, 0, tzinfo=NEW_YORK)) == "closed"
    # The Sunday of the change itself is listed as an extra opening date.
    assert _branch_at(datetime(2025, 3, 9, 3, 30, tzinfo=NEW_YORK)) == "open"
    assert _branch_at(datetime(2025, 3, 8, 10, 0, tzinfo=NEW_YORK)) == "closed"  # Saturday


def test_same_utc_instant_is_open_or_closed_depending_on_dst() -> None:
    # 13:00 UTC is 08:00 EST in winter (open) but 09:00 EDT in summer; 12:30 UTC is 07:30 EST
    # (closed) in winter and 08:30 EDT (open) in summer.
    winter = datetime(2025, 1, 15, 12, 30, tzinfo=ZoneInfo("UTC"))
    summer = datetime(2025, 7, 15, 12, 30, tzinfo=ZoneInfo("UTC"))
    assert _branch_at(winter) == "closed"
    assert _branch_at(summer) == "open"


def test_holidays_close_a_weekday() -> None:
    moment = datetime(2025, 12, 25, 10, 0, tzinfo=NEW_YORK)  # Thursday
    assert _branch_at(moment) == "open"
    assert _branch_at(moment, Holidays.parse(["12-25"])) == "closed"
    # The holiday is the local date: 23:30 on the 24th in New York is the 25th in UTC.
    eve = datetime(2025, 12, 24, 10, 0, tzinfo=NEW_YORK)
    assert _branch_at(eve, Holidays.parse(["12-25"])) == "open"

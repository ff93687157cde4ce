"""`QueueStatistics.next_change`: the instants at which time alone changes a queue's figures
(a caller passing T, a record leaving a window, midnight), so the switch pushes them then."""

from __future__ import annotations

import dataclasses
import math

from hypothesis import example, given, settings
from hypothesis import strategies as st

from softswitch.acd.events import QueueLogEntry
from softswitch.acd.events import QueueLogEvent as E
from softswitch.acd.statistics import (
    DAY_S,
    Interval,
    QueueFigures,
    QueueStatistics,
    StatisticsSettings,
)

Q = "600"
DAY0 = 20_000 * DAY_S  # a midnight (UTC)


def _statistics() -> QueueStatistics:
    return QueueStatistics({Q: StatisticsSettings(20.0, 5.0)}, {Q: ["1001"]})


def _timeless(figures: QueueFigures) -> QueueFigures:
    return dataclasses.replace(figures, longest_wait_s=0.0)  # the one figure that grows


def _all(stats: QueueStatistics, now: float) -> list[QueueFigures]:
    return [_timeless(stats.figures(Q, interval, now)) for interval in Interval]


def test_a_waiting_caller_passing_t_and_an_answer_leaving_the_window() -> None:
    stats = _statistics()
    t0 = DAY0 + 3600.0
    stats.feed(QueueLogEntry(t0, E.ENTERQUEUE, Q, "a"))
    stats.feed(QueueLogEntry(t0 + 10, E.CONNECT, Q, "a", "1001", wait_s=10))
    stats.feed(QueueLogEntry(t0 + 100, E.ENTERQUEUE, Q, "b"))
    now = t0 + 105
    assert stats.next_change(Q, now) == t0 + 120  # b passes T = 20 s
    before = stats.figures(Q, Interval.LAST_15_MIN, t0 + 120)
    after = stats.figures(Q, Interval.LAST_15_MIN, t0 + 120.001)
    assert (before.offered, before.service_level) == (1, 1.0)
    assert (after.offered, after.service_level) == (2, 0.5)  # no event: time did it

    stats.feed(QueueLogEntry(t0 + 130, E.ABANDON, Q, "b", wait_s=30))
    # The answer at t0+10 leaves the 15-minute window at t0+910.
    assert stats.next_change(Q, t0 + 131) == t0 + 10 + 900
    gone = stats.figures(Q, Interval.LAST_15_MIN, t0 + 910.001)
    assert (gone.offered, gone.answered, gone.abandoned) == (1, 0, 1)
    # and from the 30-minute window 15 minutes later, then the hour's; then midnight.
    assert stats.next_change(Q, t0 + 911) == t0 + 130 + 900  # the abandon leaves the 15 min
    assert stats.next_change(Q, t0 + 3700) == t0 + 130 + 3600  # the hour's
    assert stats.next_change(Q, t0 + 3731) == DAY0 + DAY_S


def test_nothing_recorded_never_changes() -> None:
    assert _statistics().next_change(Q, DAY0) is None


_EVENTS = st.lists(
    st.tuples(
        st.sampled_from(["enter", "connect", "abandon", "exit", "complete"]),
        st.integers(0, 5),  # which caller
        st.floats(0, 2000, allow_nan=False),  # seconds after the previous event
    ),
    max_size=25,
)


_FRACTIONS = st.lists(st.floats(0, 1, exclude_max=True), min_size=1, max_size=8)


@settings(max_examples=150, deadline=None)
@given(_EVENTS, st.floats(0, 5000), _FRACTIONS)
@example([("enter", 0, 600.0)], 901.0, [0.9999999999999998])  # a point rounding onto midnight
def test_figures_stay_put_until_the_next_change(
    events: list[tuple[str, int, float]], later_s: float, fractions: list[float]
) -> None:
    stats = _statistics()
    now = DAY0 + 80_000.0  # near midnight, so "today" rolls over in some examples
    entered: dict[str, float] = {}
    for kind, who, gap in events:
        now += gap
        call = f"c{who}"
        wait = now - entered.get(call, now)
        if kind == "enter":
            entered[call] = now
            stats.feed(QueueLogEntry(now, E.ENTERQUEUE, Q, call))
        elif kind == "connect":
            stats.feed(QueueLogEntry(now, E.CONNECT, Q, call, "1001", wait_s=wait))
        elif kind == "abandon":
            stats.feed(QueueLogEntry(now, E.ABANDON, Q, call, wait_s=wait))
        elif kind == "exit":
            stats.feed(QueueLogEntry(now, E.EXITWITHTIMEOUT, Q, call, wait_s=wait))
        else:
            stats.feed(QueueLogEntry(now, E.COMPLETECALLER, Q, call, "1001", talk_s=gap))
    now += later_s
    change = stats.next_change(Q, now)
    until = change if change is not None else now + 2 * DAY_S
    assert until >= now
    seen = _all(stats, now)
    last = math.nextafter(until, -math.inf)  # [now, until): midnight itself is a new "today"
    for fraction in fractions:
        assert _all(stats, min(now + fraction * (until - now), last)) == seen
    assert _all(stats, last) == seen

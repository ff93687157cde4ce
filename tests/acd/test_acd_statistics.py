"""Live queue figures against hand-computed values (CALLCENTRE.md's definitions)."""

from __future__ import annotations

import pytest
from acd.helpers import agent, engine

from softswitch.acd.agent import AgentState
from softswitch.acd.events import AgentStateChanged, QueueLogEntry
from softswitch.acd.events import QueueLogEvent as E
from softswitch.acd.model import QueueConfig
from softswitch.acd.statistics import (
    AbandonTreatment,
    Interval,
    QueueStatistics,
    StatisticsSettings,
)

S = AgentState


def _state(
    a: str, old: AgentState, new: AgentState, at: float, reason: str = ""
) -> AgentStateChanged:
    return AgentStateChanged(a, old, new, reason, at)


def _scenario(treatment: AbandonTreatment = AbandonTreatment.AGAINST) -> QueueStatistics:
    """T = 20 s, S = 5 s; eight callers, two agents (figures worked out in the tests)."""
    settings = StatisticsSettings(20.0, 5.0, treatment)
    st = QueueStatistics({"600": settings}, {"600": ["1001", "1002"]})
    q = "600"
    events: list[QueueLogEntry | AgentStateChanged] = [
        _state("1001", S.LOGGED_OUT, S.READY, 900),
        _state("1002", S.LOGGED_OUT, S.READY, 900),
        QueueLogEntry(1000, E.ENTERQUEUE, q, "a"),
        QueueLogEntry(1000, E.ENTERQUEUE, q, "b"),
        _state("1001", S.READY, S.OFFERED, 1005),
        _state("1001", S.OFFERED, S.ON_CALL, 1010),
        QueueLogEntry(1010, E.CONNECT, q, "a", "1001", wait_s=10),
        _state("1002", S.READY, S.OFFERED, 1025),
        _state("1002", S.OFFERED, S.ON_CALL, 1030),
        QueueLogEntry(1030, E.CONNECT, q, "b", "1002", wait_s=30),
        QueueLogEntry(1040, E.ENTERQUEUE, q, "c"),
        QueueLogEntry(1040, E.ENTERQUEUE, q, "d"),
        QueueLogEntry(1043, E.ABANDON, q, "c", wait_s=3),  # short: not offered
        QueueLogEntry(1050, E.ENTERQUEUE, q, "e"),
        QueueLogEntry(1055, E.ABANDON, q, "d", wait_s=15),  # within T
        QueueLogEntry(1060, E.ENTERQUEUE, q, "f"),
        QueueLogEntry(1090, E.ABANDON, q, "e", wait_s=40),
        QueueLogEntry(1100, E.EXITWITHTIMEOUT, q, "f", wait_s=40),
        QueueLogEntry(1100, E.COMPLETECALLER, q, "a", "1001", wait_s=10, talk_s=90),
        QueueLogEntry(1100, E.WRAPUPSTART, q, agent="1001", data=("10",)),
        _state("1001", S.ON_CALL, S.WRAP_UP, 1100),
        _state("1001", S.WRAP_UP, S.READY, 1110),
        QueueLogEntry(1130, E.COMPLETEAGENT, q, "b", "1002", wait_s=30, talk_s=100),
        QueueLogEntry(1130, E.WRAPUPSTART, q, agent="1002", data=("60",)),
        _state("1002", S.ON_CALL, S.WRAP_UP, 1130),
        _state("1002", S.WRAP_UP, S.READY, 1150),  # ended early by the agent
        QueueLogEntry(1150, E.ENTERQUEUE, q, "g"),
        _state("1002", S.READY, S.NOT_READY, 1160, "lunch"),
        QueueLogEntry(1190, E.ENTERQUEUE, q, "h"),
    ]
    for ev in events:
        st.feed(ev)
    return st


def test_figures_over_the_interval_match_the_hand_computation() -> None:
    f = _scenario().figures("600", Interval.LAST_15_MIN, 1200)
    # offered = answered a, b + abandoned d, e + overflowed f + g waiting past T (not h, not c)
    assert (f.offered, f.answered, f.abandoned, f.short_abandoned) == (6, 2, 2, 1)
    assert (f.answered_within, f.abandoned_within) == (1, 1)
    assert f.service_level == pytest.approx(1 / 6)
    assert f.asa_s == pytest.approx(20.0)  # (10 + 30) / 2
    assert f.aht_s == pytest.approx(110.0)  # (90 + 100 talk + 10 + 20 wrap-up) / 2
    assert f.abandon_rate == pytest.approx(2 / 6)
    assert f.answer_rate == pytest.approx(2 / 6)
    assert (f.waiting, f.longest_wait_s) == (2, 50.0)
    assert dict(f.agents_by_state) == {"ready": 1, "not ready: lunch": 1}


@pytest.mark.parametrize(
    ("treatment", "expected"),
    [
        (AbandonTreatment.AGAINST, 1 / 6),  # answered<=T / offered
        (AbandonTreatment.IGNORE, 1 / 5),  # answered<=T / (offered - abandoned<=T)
        (AbandonTreatment.IN_FAVOUR, 2 / 6),  # (answered<=T + abandoned<=T) / offered
    ],
)
def test_the_three_abandon_treatments(treatment: AbandonTreatment, expected: float) -> None:
    f = _scenario(treatment).figures("600", Interval.LAST_15_MIN, 1200)
    assert f.service_level == pytest.approx(expected)


def test_a_shorter_interval_drops_what_was_decided_before_it() -> None:
    # At 4660 the last hour starts at 1060: of the queue fates only e (abandoned), f
    # (overflow) and the two callers still waiting (both past T by then) are in it.
    f = _scenario().figures("600", Interval.LAST_60_MIN, 4660)
    assert (f.offered, f.answered, f.abandoned) == (4, 0, 1)
    assert f.service_level == 0.0
    assert f.asa_s is None  # nothing answered since 1060
    assert f.aht_s == pytest.approx(110.0)  # but both calls ended (were handled) after it
    today = _scenario().figures("600", Interval.TODAY, 4660)
    assert today.offered == 6 + 1  # h is past T too by now


def test_agent_figures_today() -> None:
    st = _scenario()
    a = st.agent("1001", 1200)
    assert (a.state, a.calls_handled, a.talk_s, a.wrap_up_s) == (S.READY, 1, 90.0, 10.0)
    b = st.agent("1002", 1200)
    assert (b.state, b.reason, b.since, b.wrap_up_s) == (S.NOT_READY, "lunch", 1160, 20.0)


def test_an_overflowed_caller_keeps_its_original_entry_time() -> None:
    st = QueueStatistics({"600": StatisticsSettings(), "601": StatisticsSettings()}, {})
    st.feed(QueueLogEntry(100, E.ENTERQUEUE, "600", "x"))
    st.feed(QueueLogEntry(160, E.EXITWITHTIMEOUT, "600", "x", wait_s=60))
    st.feed(QueueLogEntry(160, E.ENTERQUEUE, "601", "x"))
    assert st.figures("601", Interval.LAST_15_MIN, 170).longest_wait_s == 70.0
    assert st.figures("600", Interval.LAST_15_MIN, 170).offered == 1
    assert st.waiting("601", 170) == [("x", 70.0)]


def test_fed_by_the_real_engine() -> None:
    """The engine's own events, wrap-up included, give the same figures as the definitions."""
    e = engine([QueueConfig(number="600", wrap_up_s=30)], [agent("1001", "600")])
    st = QueueStatistics({"600": StatisticsSettings(20.0, 5.0)}, {"600": ["1001"]})

    def feed(events: list[object]) -> None:
        for ev in events:
            if isinstance(ev, QueueLogEntry | AgentStateChanged):
                st.feed(ev)

    feed(e.login("1001", 0))
    feed(e.enqueue("c1", "600", 10))
    feed(e.agent_answered("c1", "1001", 15))  # waited 5 s
    feed(e.enqueue("c2", "600", 20))
    feed(e.caller_hung_up("c2", 22))  # short abandon
    feed(e.enqueue("c3", "600", 30))
    feed(e.caller_hung_up("c3", 40))  # abandon after S, within T
    feed(e.caller_hung_up("c1", 75))  # 60 s of talk, then 30 s of wrap-up
    feed(e.handle_timer(105))
    f = st.figures("600", Interval.LAST_15_MIN, 110)
    assert (f.offered, f.answered, f.abandoned, f.short_abandoned) == (2, 1, 1, 1)
    assert f.service_level == pytest.approx(1 / 2)
    assert f.asa_s == pytest.approx(5.0)
    assert f.aht_s == pytest.approx(90.0)
    assert dict(f.agents_by_state) == {"ready": 1}
    assert st.agent("1001", 110).calls_handled == 1

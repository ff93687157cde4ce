"""The console's model: snapshots then events, idempotent in either order; malformed event
data is ignored and counted, never raised; sparkline series per minute."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from softswitch.api.client import CallDetails, LegDetails
from softswitch.console.state import ConsoleState, Pane, Series

T = "2023-11-14T22:13:20.000+00:00"
NOW = 1_700_000_030.0


def _call(call_id: int, state: str = "answered") -> CallDetails:
    legs = (LegDetails(1, "caller", state, False), LegDetails(2, "callee", state, True))
    return CallDetails(call_id, "1001", "1002", "internal", state, T, T, legs)


def test_an_event_about_what_the_snapshot_holds_changes_nothing_twice() -> None:
    state = ConsoleState()
    state.load_calls([_call(7)], NOW)
    created = {"call_id": 7, "caller": "1001", "callee": "1002", "direction": "internal"}
    state.apply("call_created", T, created, NOW)
    assert list(state.calls) == [7] and state.calls[7].state == "answered"
    assert state.calls[7].held == frozenset({2})
    assert state.calls[7].duration_s(NOW) == 30
    assert state.apply("call_ended", T, {"call_id": 7}, NOW) == {Pane.CALLS}
    assert state.apply("call_ended", T, {"call_id": 7}, NOW) == set()
    assert state.calls == {}


def test_calls_registrations_and_logs_follow_their_events() -> None:
    state = ConsoleState()
    created = {"call_id": 1, "caller": "1001", "callee": "0800", "direction": "outbound"}
    state.apply("call_created", T, {**created, "trunk": "carrier"}, NOW)
    assert state.calls[1].state == "ringing" and state.calls[1].trunk == "carrier"
    state.apply("call_answered", "2023-11-14T22:13:25.000+00:00", {"call_id": 1}, NOW)
    assert state.calls[1].state == "answered" and state.calls[1].duration_s(NOW) == 25
    reg = {
        "extension": "1002",
        "contact": "sip:1002@127.0.0.1:5070",
        "source": "udp:127.0.0.1:5070",
        "user_agent": "[blink]pjsua",
        "expires_at": "2023-11-14T22:23:20.000+00:00",
    }
    assert state.apply("registration_saved", T, reg, NOW) == {Pane.REGISTRATIONS}
    assert state.registrations[("1002", reg["contact"])].expires_in_s(NOW) == 570
    gone = {"extension": "1002", "contact": reg["contact"]}
    assert state.apply("registration_removed", T, gone, NOW) == {Pane.REGISTRATIONS}
    record = {"time": T, "level": "WARNING", "logger": "softswitch.security", "message": "x"}
    assert state.apply("log_record", T, {**record, "security": True}, NOW) == {Pane.LOGS}
    assert state.apply("a_newer_event", T, {}, NOW) == set()
    assert state.ignored == 0


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=10,
)
NAMES = st.sampled_from(
    [
        "call_created",
        "call_answered",
        "call_ended",
        "registration_saved",
        "registration_removed",
        "log_record",
        "other",
    ]
)
KEYS = st.sampled_from(
    [
        "call_id",
        "caller",
        "callee",
        "direction",
        "trunk",
        "extension",
        "contact",
        "source",
        "user_agent",
        "expires_at",
        "time",
        "level",
        "logger",
        "message",
        "security",
    ]
)


@given(NAMES, st.text(max_size=40), st.dictionaries(KEYS, JSON) | JSON)
def test_no_event_data_raises(name: str, timestamp: str, data: object) -> None:
    state = ConsoleState()
    state.load_calls([_call(1)], NOW)
    state.apply(name, timestamp, data, NOW)
    assert state.ignored + state.applied == 1


@given(st.lists(JSON, max_size=5))
def test_no_snapshot_item_raises(items: list[object]) -> None:
    state = ConsoleState()
    state.load_registrations(items)  # type: ignore[arg-type]
    state.load_trunks(items)  # type: ignore[arg-type]
    state.load_logs(items)  # type: ignore[arg-type]


def test_series_keep_one_value_a_minute_for_an_hour() -> None:
    series = Series()
    series.record(0.0, 2)
    series.record(30.0, 5)
    series.record(130.0, 1)
    values = series.values(190.0, carry=True)
    assert len(values) == 60 and values[-4:] == [5.0, 5.0, 1.0, 1.0]
    started = Series()
    started.record(10.0, 1, add=True)
    started.record(20.0, 1, add=True)
    assert started.values(70.0, carry=False)[-2:] == [2.0, 0.0]

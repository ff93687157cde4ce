"""The call centre's part of the console's model: the screen pop, the recording mark, the
serving order after `:head`; malformed event data is ignored and counted, never raised."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from test_state import JSON, NOW, T, _call

from softswitch.console.centre_state import CentreConsoleState
from softswitch.console.state import Pane

NAMES = st.sampled_from(
    [
        "call_offered",
        "call_recording",
        "agent_state_changed",
        "queue_caller_joined",
        "queue_caller_left",
        "queue_statistics",
    ]
)
KEYS = st.sampled_from(
    ["call_id", "agent", "queue", "caller", "variables", "screen_pop_url", "state", "intervals"]
)


def test_an_offer_pops_and_the_recording_mark_follows_its_events() -> None:
    state = CentreConsoleState()
    state.load_calls([_call(7)], NOW)
    assert state.calls[7].recording == "none"
    offered = {
        "call_id": 7,
        "agent": "1001",
        "queue": "600",
        "caller": "+4420",
        "callback": False,
        "variables": {"reason": "billing", "customer_number": "C-17"},
        "screen_pop_url": "https://crm.example.com/?n=%2B4420",
    }
    assert state.apply("call_offered", T, offered, NOW) == {Pane.AGENTS}
    pop = state.offers["1001"]
    assert (pop.call_id, pop.caller, pop.queue) == (7, "+4420", "600")
    assert pop.variables == (("customer_number", "C-17"), ("reason", "billing"))
    assert state.apply("call_recording", T, {"call_id": 7, "state": "paused"}, NOW) == {Pane.CALLS}
    assert state.calls[7].recording == "paused"
    assert state.apply("call_recording", T, {"call_id": 7, "state": "paused"}, NOW) == set()
    assert state.apply("call_recording", T, {"call_id": 7, "state": "on air"}, NOW) == set()
    assert state.ignored == 1 and state.calls[7].recording == "paused"


def test_the_serving_order_puts_the_callers_sent_to_the_head_first() -> None:
    state = CentreConsoleState()
    for call, at in ((7, "2023-11-14T22:13:20+00:00"), (8, "2023-11-14T22:13:25+00:00")):
        joined = {"queue": "600", "call_id": call, "caller": f"+44{call}"}
        state.apply("queue_caller_joined", at, joined, NOW)
    state.apply("queue_caller_joined", T, {"queue": "600", "call_id": 9, "caller": "+449"}, NOW)
    assert state.serving_order("600") == [7, 9, 8]  # longest waiting first
    assert state.to_head(8) == {Pane.QUEUES} and state.to_head(8) == set()
    assert state.serving_order("600") == [8, 7, 9]
    state.apply("queue_caller_left", T, {"queue": "600", "call_id": 8, "reason": "moved"}, NOW)
    assert 8 not in state.serving_order("600") and state.queues["600"].heads == []


@given(NAMES, st.text(max_size=40), st.dictionaries(KEYS, JSON) | JSON)
def test_no_centre_event_data_raises(name: str, timestamp: str, data: object) -> None:
    state = CentreConsoleState()
    state.load_calls([_call(1)], NOW)
    state.apply(name, timestamp, data, NOW)
    assert state.ignored + state.applied == 1

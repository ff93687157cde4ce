"""The CTI event stream of a queue call that is held and transferred, with pjsua2 phones.

Caller 1004 dials queue 600, agent 1001 answers; the agent's phone holds and resumes (its own
re-INVITE), then the API holds and resumes the caller (the switch's re-INVITE), then the agent
blind-transfers the caller to 1002 by REFER, and the caller hangs up. An admin's WebSocket gets
the call's events in that order, each saying who did it.

Then scope: the same queue call's events as the agent's token, another agent's and the
supervisor's see them (api/call_scope.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_events import EventCollector, api_call, wait_api
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch
from supervised_call import AGENT, CALLER, SUPERVISOR, agent_call, phone
from test_attended_dtmf import _consult, _start, unrecorded
from test_call_centre import centre_config, events, log_in, wait_queue_log

from softswitch.api.client import Event

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

__all__ = ["unrecorded"]  # the fixture, used by name

NAMES = [
    "call_offered",
    "call_answered",
    "call_held",
    "call_resumed",
    "call_transferred",
    "call_ended",
]


@pytest.fixture
def centre(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    sw = start_switch(tmp_path, carrier_port, edit=centre_config())
    try:
        yield sw
    finally:
        sw.stop()


def of_call(evs: list[Event], call_id: int) -> list[Event]:
    return [e for e in evs if e.data.get("call_id") == call_id]


def test_a_queue_calls_holds_and_transfer_arrive_in_order_on_the_event_stream(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    url = centre.ports.api_url
    wait_api(centre.ports.api)
    agent, caller, third = pjsua("agent-1001"), pjsua("caller"), pjsua("third-1002")
    log_in(centre, agent, "1001")
    third.register(centre.sip_port, "1002", "demo-1002")
    stream = EventCollector(url, "admin", "demo-admin", NAMES)
    try:
        caller.register(centre.sip_port, "1004", "demo-1004")
        call = caller.call(centre.uri("600"))
        caller.wait_call_state(call, "CONFIRMED", 5.0)
        agent_call = agent.wait_incoming(10.0)["call"]
        agent.send("answer", call=agent_call)
        agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
        wait_queue_log(centre, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
        calls = api_call(url, "admin", "demo-admin", lambda api: api.calls())
        assert len(calls) == 1
        call_id = calls[0].call_id

        def seen(name: str, **fields: Any) -> Callable[[list[Event]], bool]:
            def found(evs: list[Event]) -> bool:
                return any(
                    e.name == name and all(e.data.get(k) == v for k, v in fields.items())
                    for e in of_call(evs, call_id)
                )

            return found

        # The agent's phone holds (re-INVITE sendonly) and resumes.
        agent.send("hold", call=agent_call)
        agent.wait_event("media_state", 5.0, call=agent_call, status="local_hold")
        stream.wait(seen("call_held", by="phone", party="1001"), 5.0)
        agent.send("unhold", call=agent_call)
        stream.wait(seen("call_resumed", by="phone", party="1001"), 5.0)

        # The API holds the caller and resumes it.
        details = api_call(url, "admin", "demo-admin", lambda api: api.call(call_id))
        caller_leg = next(leg.leg_id for leg in details.legs if leg.side == "caller")
        api_call(url, "admin", "demo-admin", lambda api: api.hold(call_id, caller_leg))
        caller.wait_event("media_state", 5.0, call=call, status="remote_hold")
        stream.wait(seen("call_held", by="control", party="1004"), 5.0)
        api_call(url, "admin", "demo-admin", lambda api: api.resume(call_id, caller_leg))
        stream.wait(seen("call_resumed", by="control", party="1004"), 5.0)

        # The agent transfers the caller to 1002 by REFER; 1002 answers; the caller hangs up.
        agent.send("xfer", call=agent_call, dest=f"sip:1002@127.0.0.1:{centre.sip_port}")
        agent.wait_bye(agent_call, 5.0)
        third_call = third.wait_incoming(10.0)["call"]
        third.send("answer", call=third_call)
        third.wait_call_state(third_call, "CONFIRMED", 5.0)
        caller.send("hangup", call=call)
        third.wait_bye(third_call, 5.0)
        got = of_call(stream.wait(seen("call_ended"), 5.0), call_id)
    finally:
        stream.close()

    names = [e.name for e in got]
    print("events:", names)
    # call_answered comes when the queue answers the caller (its music), before the offer;
    # again when the agent answers, then the agent's and the third phone's.
    assert sorted(names[:2]) == ["call_answered", "call_offered"]
    answers = [e.data["party"] for e in got if e.name == "call_answered"]
    assert answers == ["600", "1001", "1002"]
    names = [n for n in names if n != "call_answered"]
    assert names[1:] == [
        "call_held",
        "call_resumed",
        "call_held",
        "call_resumed",
        "call_transferred",
        "call_ended",
    ]
    offered = next(e for e in got if e.name == "call_offered")
    assert (offered.data["agent"], offered.data["queue"]) == ("1001", "600")
    holds = [
        (e.data["by"], e.data["party"]) for e in got if e.name in ("call_held", "call_resumed")
    ]
    assert holds == [("phone", "1001")] * 2 + [("control", "1004")] * 2
    transferred = next(e for e in got if e.name == "call_transferred")
    assert transferred.data["transferred_by"] == "1001"
    assert (transferred.data["target"], transferred.data["kind"]) == ("1002", "blind")
    stamps = [e.timestamp for e in got]
    assert stamps == sorted(stamps)


def test_transfers_by_the_in_call_codes_and_the_api_are_events_too(
    unrecorded: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """1001 calls 1002; 1002 keys *2 1003 #, 1003 answers and 1002 hangs up (attended, by
    code); then the API has 1003 blind-transfer 1001 back to 1002 (blind, by control)."""
    wait_api(unrecorded.ports.api)
    url = unrecorded.ports.api_url
    stream = EventCollector(url, "admin", "demo-admin", ["call_transferred"])
    try:
        c, carol = _start(unrecorded, pjsua, tmp_path)
        carol_call = _consult(c, carol, tmp_path)
        carol.send("answer", call=carol_call)
        carol.wait_call_state(carol_call, "CONFIRMED", 5.0)
        c.callee.send("hangup", call=c.callee_call)  # completes the attended transfer
        first = stream.wait(lambda evs: len(evs) == 1, 5.0)[0]
        assert (first.data["kind"], first.data["transferred_by"]) == ("attended", "1002")
        assert first.data["target"] == "1003"

        (listed,) = api_call(url, "admin", "demo-admin", lambda api: api.calls())
        carol_leg = next(leg.leg_id for leg in listed.legs if leg.side == "callee")
        api_call(
            url, "admin", "demo-admin", lambda api: api.transfer(listed.call_id, carol_leg, "1002")
        )
        second = stream.wait(lambda evs: len(evs) == 2, 5.0)[1]
        assert second.data["call_id"] == first.data["call_id"] == listed.call_id
        assert (second.data["kind"], second.data["transferred_by"]) == ("blind", "1003")
        assert second.data["target"] == "1002"
        carol.wait_bye(carol_call, 5.0)
        c.caller.send("hangup", call=c.caller_call)
    finally:
        stream.close()


def test_an_agent_sees_its_own_queue_call_and_another_agent_sees_none_of_it(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    """1004 dials queue 600, agent 1001 answers, holds and resumes the caller through the API
    with its own token, and the caller hangs up. 1001's socket gets the offer, its answer, the
    hold, the resume and the end in that order; the supervisor of its team gets them too
    (and the queue's answer before any agent); agent 1002 (same team, same queue) gets none."""
    url = centre.ports.api_url
    wait_api(centre.ports.api)
    agent, caller = pjsua("agent-1001"), pjsua("caller")
    log_in(centre, agent, "1001")
    names = ["call_offered", "call_answered", "call_held", "call_resumed", "call_ended"]
    own = EventCollector(url, "1001", "demo-1001", names)
    other = EventCollector(url, "1002", "demo-1002", [*names, "agent_state_changed"])
    boss = EventCollector(url, "supervisor", "demo-supervisor", names)
    try:
        caller.register(centre.sip_port, "1004", "demo-1004")
        call = caller.call(centre.uri("600"))
        caller.wait_call_state(call, "CONFIRMED", 5.0)
        agent_call = agent.wait_incoming(10.0)["call"]
        agent.send("answer", call=agent_call)
        agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
        offered = own.wait(lambda evs: any(e.name == "call_offered" for e in evs), 5.0)
        call_id = next(e.data["call_id"] for e in offered if e.name == "call_offered")

        # The agent's screen holds and resumes the caller with the agent's own token.
        mine = api_call(url, "1001", "demo-1001", lambda api: api.call(call_id))
        caller_leg = next(leg.leg_id for leg in mine.legs if leg.side == "caller")
        api_call(url, "1001", "demo-1001", lambda api: api.hold(call_id, caller_leg))
        caller.wait_event("media_state", 5.0, call=call, status="remote_hold")
        api_call(url, "1001", "demo-1001", lambda api: api.resume(call_id, caller_leg))
        own.wait(lambda evs: any(e.name == "call_resumed" for e in evs), 5.0)
        caller.send("hangup", call=call)
        agent.wait_bye(agent_call, 5.0)

        def ended(evs: list[Event]) -> bool:
            return any(e.name == "call_ended" for e in of_call(evs, call_id))

        got = of_call(own.wait(ended, 5.0), call_id)
        watched = of_call(boss.wait(ended, 5.0), call_id)
        # A last event for 1002 (its own log-in): its socket is in order, so any event of
        # the call meant for it would have come first.
        api_call(url, "admin", "demo-admin", lambda api: api.agent_login("1002"))
        seen_by_other = other.wait(
            lambda evs: any(e.name == "agent_state_changed" for e in evs), 5.0
        )
    finally:
        own.close()
        other.close()
        boss.close()

    assert [e.name for e in got] == names
    answered = next(e for e in got if e.name == "call_answered")
    assert answered.data["party"] == "1001"
    assert [e.data["by"] for e in got if e.name in ("call_held", "call_resumed")] == [
        "control",
        "control",
    ]
    assert [e.timestamp for e in got] == sorted(e.timestamp for e in got)
    # The supervisor: the queue answering the caller (the call waits in its team's queue),
    # then all the agent saw.
    assert [(e.name, e.data.get("party")) for e in watched if e.name == "call_answered"] == [
        ("call_answered", "600"),
        ("call_answered", "1001"),
    ]
    assert [e.name for e in watched if e.name != "call_answered" or e.data["party"] == "1001"] == (
        names
    )
    assert [e for e in seen_by_other if e.data.get("call_id") == call_id] == []
    assert not any(e.name in names for e in seen_by_other)


def test_a_supervisor_listening_in_is_not_an_event_of_the_agents_call(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """1002 calls agent 1001; the supervisor listens in through the API from 1006, then stops,
    and the caller hangs up. The supervisor's phone answering is a leg of the agent's call, yet
    no one's stream says so: the agent's gets the call's end and nothing of the listener."""
    url = switch.ports.api_url
    wait_api(switch.ports.api)
    parties = agent_call(switch, pjsua, tmp_path)
    supervisor = phone(switch, pjsua, SUPERVISOR)
    names = ["call_answered", "call_held", "call_resumed", "call_ended"]
    own = EventCollector(url, AGENT, f"demo-{AGENT}", names)
    boss = EventCollector(url, "supervisor", "demo-supervisor", [*names, "supervision_started"])
    try:
        started = api_call(
            url, "supervisor", "demo-supervisor", lambda api: api.supervise(AGENT, "listen")
        )
        incoming = supervisor.wait_incoming(5.0)["call"]
        supervisor.send("answer", call=incoming)
        boss.wait(lambda evs: any(e.name == "supervision_started" for e in evs), 5.0)
        api_call(
            url,
            "supervisor",
            "demo-supervisor",
            lambda api: api.stop_supervision(started.supervision_id),
        )
        supervisor.wait_bye(incoming, 5.0)
        caller, caller_call = parties[CALLER]
        caller.send("hangup", call=caller_call)
        got = own.wait(lambda evs: any(e.name == "call_ended" for e in evs), 5.0)
        watched = boss.wait(lambda evs: any(e.name == "call_ended" for e in evs), 5.0)
    finally:
        own.close()
        boss.close()
    assert [e.name for e in got] == ["call_ended"]
    assert not any(e.name == "call_answered" for e in watched)

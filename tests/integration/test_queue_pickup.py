"""Pickup of a queue call (calls/pickup.py, acd/engine.py `picked_up`) with pjsua2 phones: a
caller dials queue 600 and agent 1001's phone rings; another phone takes the call. Caller and
picker hear each other (FFT), the API shows the agents' states and the queue log the rows.
1002, a logged-in agent of 600 in 1001's pickup group, keys *8 and is credited with the call;
1006, no agent, keys **1001 and answers for the queue. Neither leaves a RINGNOANSWER for 1001,
who is ready again at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from api_events import api_call, wait_api
from audio import write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch
from test_call_centre import (
    caller_and_agent_hear_each_other,
    centre_config,
    events,
    log_in,
    wait_queue_log,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def centre(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    sw = start_switch(tmp_path, carrier_port, edit=centre_config())
    try:
        wait_api(sw.ports.api)
        yield sw
    finally:
        sw.stop()


def _state(switch: Switch, agent: str) -> Any:
    seen = api_call(switch.ports.api_url, "supervisor", "demo-supervisor", lambda a: a.agent(agent))
    return seen["state"]


def _queue_call_rings_1001(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> tuple[PjsuaPeer, int, PjsuaPeer, int]:
    """1001 logged in (alone ready in 600), a caller at 440 Hz on 600, 1001's phone ringing."""
    agent = pjsua("agent-1001")
    log_in(switch, agent, "1001")
    caller = pjsua("caller")
    caller.register(switch.sip_port, "1004", "demo-1004")
    call = caller.call(switch.uri("600"))
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    caller.send("play", call=call, path=str(write_tone(tmp_path / "440.wav", 440.0, 30.0)))
    ringing = agent.wait_incoming(10.0)["call"]
    assert _state(switch, "1001") == "offered"
    return caller, call, agent, ringing


def _take(
    switch: Switch, picker: PjsuaPeer, code: str, tmp_path: Path, agent: PjsuaPeer, ringing: int
) -> int:
    """The picker dials `code` playing 1000 Hz; the ringing phone gets CANCEL."""
    picked = picker.call(switch.uri(code))
    picker.send("play", call=picked, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 30.0)))
    picker.wait_call_state(picked, "CONFIRMED", 5.0)
    assert agent.wait_call_state(ringing, "DISCONNECTED", 5.0)["code"] == 487
    return picked


def _this_call(rows: list[dict[str, Any]], call_id: str) -> list[tuple[str, str, str]]:
    return events([r for r in rows if r["call"] == call_id])


def test_an_agent_of_the_queue_keys_star_8_and_is_credited(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    caller, call, agent, ringing = _queue_call_rings_1001(centre, pjsua, tmp_path)
    bob = pjsua("agent-1002")
    log_in(centre, bob, "1002")  # ready, but the caller is 1001's until the pickup
    picked = _take(centre, bob, "*8", tmp_path, agent, ringing)
    rows = wait_queue_log(centre, lambda r: ("CONNECT", "600", "1002") in events(r), 5.0)
    call_id = next(r["call"] for r in rows if r["event"] == "CONNECT")
    assert (_state(centre, "1001"), _state(centre, "1002")) == ("ready", "on call")
    caller_and_agent_hear_each_other(caller, call, bob, picked, tmp_path)

    bob.send("hangup", call=picked)
    caller.wait_bye(call, 5.0)
    rows = wait_queue_log(centre, lambda r: ("WRAPUPSTART", "600", "1002") in events(r), 5.0)
    assert _this_call(rows, call_id) == [
        ("ENTERQUEUE", "600", ""),
        ("CONNECT", "600", "1002"),
        ("COMPLETEAGENT", "600", "1002"),
    ]  # no RINGNOANSWER for 1001: the offer was withdrawn, not missed
    assert (_state(centre, "1001"), _state(centre, "1002")) == ("ready", "wrap-up")
    cdr = centre.closed_cdrs(1, 5.0, "callee = ?", ("600",))[0]
    assert cdr["disposition"] == "answered"
    assert json.loads(cdr["variables"])["picked_up_by"] == "1002"


def test_a_phone_that_is_no_agent_keys_star_star_1001_and_answers_for_the_queue(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    caller, call, agent, ringing = _queue_call_rings_1001(centre, pjsua, tmp_path)
    sam = pjsua("1006")
    sam.register(centre.sip_port, "1006", "demo-1006")
    picked = _take(centre, sam, "**1001", tmp_path, agent, ringing)
    rows = wait_queue_log(centre, lambda r: ("CONNECT", "600", "1006") in events(r), 5.0)
    call_id = next(r["call"] for r in rows if r["event"] == "CONNECT" and r["agent"] == "1006")
    assert _state(centre, "1001") == "ready"
    caller_and_agent_hear_each_other(caller, call, sam, picked, tmp_path)

    caller.send("hangup", call=call)
    sam.wait_bye(picked, 5.0)
    rows = wait_queue_log(centre, lambda r: ("COMPLETECALLER", "600", "1006") in events(r), 5.0)
    assert _this_call(rows, call_id) == [
        ("ENTERQUEUE", "600", ""),
        ("CONNECT", "600", "1006"),
        ("COMPLETECALLER", "600", "1006"),
    ]
    assert _state(centre, "1001") == "ready"

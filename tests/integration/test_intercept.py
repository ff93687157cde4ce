"""Intercept, end to end with pjsua2 phones: a supervisor's phone (1006) takes over the queue call
agent 1001 is on, from the API (`POST /api/v1/calls/{id}/intercept`) and by dialling `*36` +
extension. The caller keeps its dialog and now talks to the supervisor (tones by FFT), the
agent is hung up and goes to wrap-up; the queue log and the CDR name the supervisor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
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
    dial_sales,
    events,
    log_in,
    wait_queue_log,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

SUPERVISOR = ("supervisor", "demo-supervisor")


@pytest.fixture
def centre(tmp_path: Path, carrier_port: int) -> Any:
    sw = start_switch(tmp_path, carrier_port, edit=centre_config())
    try:
        yield sw
    finally:
        sw.stop()


def _agent_on_a_queue_call(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> tuple[PjsuaPeer, int, PjsuaPeer, int, int]:
    """Caller (440 Hz) through the IVR to agent 1001 (1600 Hz): (caller, its call, agent, its
    call, the switch's call id)."""
    agent, caller = pjsua("agent-1001"), pjsua("caller")
    log_in(centre, agent, "1001")
    call = dial_sales(centre, caller, tmp_path)
    agent_call = agent.wait_incoming(10.0)["call"]
    agent.send("play", call=agent_call, path=str(write_tone(tmp_path / "1600.wav", 1600.0, 20.0)))
    agent.send("answer", call=agent_call)
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    rows = wait_queue_log(centre, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
    call_id = int(next(r for r in rows if r["event"] == "CONNECT")["call"])
    return caller, call, agent, agent_call, call_id


def _taken_over(
    centre: Switch,
    caller: PjsuaPeer,
    call: int,
    agent: PjsuaPeer,
    agent_call: int,
    supervisor: PjsuaPeer,
    supervisor_call: int,
    tmp_path: Path,
) -> None:
    """What an intercept leaves: the agent hung up and in wrap-up, the caller and the supervisor
    (1000 Hz) hearing each other, TRANSFER naming 1006 in the queue log, the CDR's callee 1006."""
    agent.wait_bye(agent_call, 5.0)
    rows = wait_queue_log(centre, lambda r: ("TRANSFER", "600", "1001") in events(r), 5.0)
    transfer = next(r for r in rows if r["event"] == "TRANSFER")
    assert json.loads(transfer["data"])[0] == "1006", transfer
    url = centre.ports.api_url
    seen = api_call(url, "1001", "demo-1001", lambda api: api.agent("1001"))
    assert seen["state"] == "wrap-up"
    caller_and_agent_hear_each_other(caller, call, supervisor, supervisor_call, tmp_path)
    caller.send("hangup", call=call)
    supervisor.wait_bye(supervisor_call, 5.0)
    (cdr,) = centre.closed_cdrs(1, 5.0, "callee = ?", ("1006",))  # the callee was 500 (IVR)
    variables = json.loads(cdr["variables"])
    assert (variables["intercepted_by"], variables["intercepted_from"]) == ("1006", "1001")


def test_a_supervisor_intercepts_an_agents_queue_call_from_the_api(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    wait_api(centre.ports.api)
    caller, call, agent, agent_call, call_id = _agent_on_a_queue_call(centre, pjsua, tmp_path)
    supervisor = pjsua("supervisor-1006")
    supervisor.register(centre.sip_port, "1006", "demo-1006")
    url = centre.ports.api_url
    taken = api_call(url, *SUPERVISOR, lambda api: api.intercept(call_id))
    assert (taken["agent"], taken["supervisor"]) == ("1001", "1006")
    ringing = supervisor.wait_incoming(5.0)["call"]
    tone = write_tone(tmp_path / "1000.wav", 1000.0, 20.0)
    supervisor.send("play", call=ringing, path=str(tone))
    supervisor.send("answer", call=ringing)
    supervisor.wait_call_state(ringing, "CONFIRMED", 5.0)
    _taken_over(centre, caller, call, agent, agent_call, supervisor, ringing, tmp_path)


def test_a_supervisor_intercepts_by_dialling_36_and_the_extension(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    caller, call, agent, agent_call, call_id = _agent_on_a_queue_call(centre, pjsua, tmp_path)
    # The caller's phone (1004, an agent's, no supervisor) may not: 403, and the call goes on.
    refused = caller.call(centre.uri("*361001"))
    assert caller.wait_call_state(refused, "DISCONNECTED", 5.0)["code"] == 403
    log = (tmp_path / "softswitch.log").read_text()
    assert 'refused src=127.0.0.1 reason=intercept-code extension=1004 dialled="*361001"' in log
    supervisor = pjsua("supervisor-1006")
    supervisor.register(centre.sip_port, "1006", "demo-1006")
    own = supervisor.call(centre.uri("*361001"))
    supervisor.send("play", call=own, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 20.0)))
    supervisor.wait_call_state(own, "CONFIRMED", 5.0)
    _taken_over(centre, caller, call, agent, agent_call, supervisor, own, tmp_path)
    (own_cdr,) = centre.closed_cdrs(1, 5.0, "caller = ? AND callee = ?", ("1006", "*361001"))
    assert own_cdr["hangup_cause"] == f"intercepted call {call_id}"


def test_an_intercepted_direct_call_frees_the_agent_for_the_queue(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """1004 calls agent 1001 directly (no queue); 1006 takes it over with *36. The caller talks
    to 1006, and 1001, off its direct call, is offered the next queue call at once."""
    agent, caller = pjsua("agent-1001"), pjsua("caller-1004")
    log_in(centre, agent, "1001")
    caller.register(centre.sip_port, "1004", "demo-1004")
    call = caller.call(centre.uri("1001"))
    caller.send("play", call=call, path=str(write_tone(tmp_path / "440.wav", 440.0, 20.0)))
    agent_call = agent.wait_incoming(10.0)["call"]
    agent.send("answer", call=agent_call)
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    supervisor = pjsua("supervisor-1006")
    supervisor.register(centre.sip_port, "1006", "demo-1006")
    own = supervisor.call(centre.uri("*361001"))
    supervisor.send("play", call=own, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 20.0)))
    supervisor.wait_call_state(own, "CONFIRMED", 5.0)
    agent.wait_bye(agent_call, 5.0)
    caller_and_agent_hear_each_other(caller, call, supervisor, own, tmp_path)
    queued = pjsua("caller-1003")
    queued.register(centre.sip_port, "1003", "demo-1003")
    queued.call(centre.uri("600"))
    agent.wait_incoming(10.0)  # 1001 is free for the queue again
    caller.send("hangup", call=call)
    supervisor.wait_bye(own, 5.0)
    (cdr,) = centre.closed_cdrs(1, 5.0, "caller = ? AND callee = ?", ("1004", "1006"))
    assert json.loads(cdr["variables"])["intercepted_from"] == "1001"

"""Supervisor listen / whisper / barge end to end with pjsua2 phones (one process each).

1002 (the caller, 440 Hz) calls 1001 (the agent, 1000 Hz); 1006 is the demo supervisor's phone
(1600 Hz). What each party recorded is checked by FFT: listen — the supervisor hears both,
neither party hears it; whisper — the agent hears it, the caller does not; barge — both do.
The supervisor's digits 5, 6, 4 switch the mode (ChanSpy's `d`); the API's supervise route rings
the supervisor and is refused to an agent's token; a phone that is not a supervisor's hears a
refusal and is hung up on, and the attempt is in the security log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from audio import read_mono
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from supervised_call import (
    AGENT,
    CALLER,
    HEARD_DB,
    SUPERVISOR,
    agent_call,
    check,
    phone,
    play,
    record,
    wait_log,
)

from softswitch.api.client import ApiClient, ApiClientError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


def test_listen_whisper_barge_from_the_supervisor_phone_switched_by_4_5_6(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    parties = agent_call(switch, pjsua, tmp_path)
    supervisor = phone(switch, pjsua, SUPERVISOR)
    sup_call = supervisor.call(switch.uri("*33" + AGENT))
    supervisor.wait_call_state(sup_call, "CONFIRMED", 5.0)
    supervisor.wait_event("media_active", 5.0, call=sup_call)
    play(supervisor, sup_call, tmp_path, SUPERVISOR)
    parties[SUPERVISOR] = (supervisor, sup_call)
    check(record(parties, tmp_path, "listen"), "listen")
    for digit, mode in (("5", "whisper"), ("6", "barge"), ("4", "listen")):
        supervisor.send("dtmf", call=sup_call, digits=digit)
        supervisor.wait_event("dtmf_sent", 5.0, call=sup_call)
        wait_log(switch, f"now {mode}", 5.0)
        check(record(parties, tmp_path, f"{digit}-{mode}"), mode)
    # The supervisor leaves: the call goes on, caller and agent still hear each other.
    supervisor.send("hangup", call=sup_call)
    supervisor.wait_call_state(sup_call, "DISCONNECTED", 5.0)
    wait_log(switch, "ended: supervisor", 5.0)
    after = record({CALLER: parties[CALLER], AGENT: parties[AGENT]}, tmp_path, "after")
    assert after[CALLER][AGENT] > HEARD_DB and after[AGENT][CALLER] > HEARD_DB, after


def test_a_phone_that_is_no_supervisors_is_refused_and_logged(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    parties = agent_call(switch, pjsua, tmp_path)
    intruder = phone(switch, pjsua, "1003")  # an agent's phone
    call = intruder.call(switch.uri("*35" + AGENT))
    intruder.send("record", call=call, path=str(tmp_path / "refusal.wav"), seconds=1.5)
    intruder.wait_event("recorded", 10.0, call=call)
    samples, _ = read_mono(tmp_path / "refusal.wav")
    assert np.sqrt(np.mean(samples**2)) > 0.01, "the refusal prompt was not heard"
    intruder.wait_bye(call, 15.0)
    wait_log(switch, "reason=supervisor-code extension=1003", 5.0)
    # The call it aimed at is untouched.
    levels = record(parties, tmp_path, "untouched")
    assert levels[CALLER][AGENT] > HEARD_DB and levels[AGENT][CALLER] > HEARD_DB


def test_the_api_rings_the_supervisor_whispers_then_barges_and_refuses_an_agent(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    parties = agent_call(switch, pjsua, tmp_path)
    supervisor = phone(switch, pjsua, SUPERVISOR)

    async def as_agent() -> int:
        async with ApiClient(switch.ports.api_url) as api:
            await api.login(AGENT, f"demo-{AGENT}")
            with pytest.raises(ApiClientError) as refused:
                await api.supervise(AGENT, "listen", extension=SUPERVISOR)
            return refused.value.status

    assert asyncio.run(as_agent()) == 403

    async def supervise() -> tuple[int, list[str]]:
        async with ApiClient(switch.ports.api_url) as api:
            await api.login("supervisor", "demo-supervisor")
            async with await api.events(["supervision_started"]) as events:
                started = await api.supervise(AGENT, "whisper")
                assert started.state == "ringing" and started.supervisor == SUPERVISOR
                incoming = await asyncio.to_thread(supervisor.wait_incoming, 5.0)
                supervisor.send("answer", call=incoming["call"])
                event = await events.next(timeout_s=5.0)
                assert event is not None and event.name == "supervision_started"
                assert event.data["mode"] == "whisper" and event.data["agent"] == AGENT
            return started.supervision_id, [incoming["call"]]

    supervision_id, (sup_call,) = asyncio.run(supervise())
    supervisor.wait_event("media_active", 5.0, call=sup_call)
    play(supervisor, sup_call, tmp_path, SUPERVISOR)
    parties[SUPERVISOR] = (supervisor, sup_call)
    check(record(parties, tmp_path, "api-whisper"), "whisper")

    async def barge_then_stop(stop: bool) -> str:
        async with ApiClient(switch.ports.api_url) as api:
            await api.login("supervisor", "demo-supervisor")
            name = "supervision_ended" if stop else "supervision_changed"
            async with await api.events([name]) as events:
                if stop:
                    await api.stop_supervision(supervision_id)
                    result = "stopped"
                else:
                    result = (await api.change_supervision(supervision_id, "barge")).mode
                event = await events.next(timeout_s=5.0)
            assert event is not None and event.name == name
            assert event.data["supervision_id"] == supervision_id
            assert event.data["mode"] == "barge"
            if stop:
                assert event.data["cause"] == "stopped by control"
            return result

    assert asyncio.run(barge_then_stop(False)) == "barge"
    check(record(parties, tmp_path, "api-barge"), "barge")
    assert asyncio.run(barge_then_stop(True)) == "stopped"
    supervisor.wait_bye(sup_call, 5.0)
    after = record({CALLER: parties[CALLER], AGENT: parties[AGENT]}, tmp_path, "api-after")
    assert after[CALLER][AGENT] > HEARD_DB and after[AGENT][CALLER] > HEARD_DB, after


def test_the_api_barges_into_a_given_call_by_its_id(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    parties = agent_call(switch, pjsua, tmp_path)
    supervisor = phone(switch, pjsua, SUPERVISOR)

    async def barge() -> int:
        async with ApiClient(switch.ports.api_url) as api:
            await api.login("supervisor", "demo-supervisor")
            (call,) = await api.calls()
            started = await api.supervise_call(call.call_id, "barge")
            assert (started.call_id, started.agent, started.mode) == (call.call_id, AGENT, "barge")
            incoming = await asyncio.to_thread(supervisor.wait_incoming, 5.0)
            supervisor.send("answer", call=incoming["call"])
            return int(incoming["call"])

    sup_call = asyncio.run(barge())
    supervisor.wait_event("media_active", 5.0, call=sup_call)
    play(supervisor, sup_call, tmp_path, SUPERVISOR)
    parties[SUPERVISOR] = (supervisor, sup_call)
    check(record(parties, tmp_path, "call-barge"), "barge")


def test_a_hold_ends_the_supervision_and_the_resumed_call_is_whole_again(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    parties = agent_call(switch, pjsua, tmp_path)
    supervisor = phone(switch, pjsua, SUPERVISOR)
    sup_call = supervisor.call(switch.uri("*35" + AGENT))
    supervisor.wait_call_state(sup_call, "CONFIRMED", 5.0)
    supervisor.wait_event("media_active", 5.0, call=sup_call)
    play(supervisor, sup_call, tmp_path, SUPERVISOR)
    parties[SUPERVISOR] = (supervisor, sup_call)
    check(record(parties, tmp_path, "barge"), "barge")
    agent, agent_call_id = parties[AGENT]
    agent.send("hold", call=agent_call_id)
    supervisor.wait_bye(sup_call, 10.0)  # music on hold took the caller's audio
    wait_log(switch, "ended: the call's media changed (hold)", 5.0)
    agent.send("unhold", call=agent_call_id)
    after = _heard_after_resume(parties, tmp_path)
    assert after[CALLER][AGENT] > HEARD_DB and after[AGENT][CALLER] > HEARD_DB, after


def _heard_after_resume(
    parties: dict[str, tuple[PjsuaPeer, int]], tmp_path: Path
) -> dict[str, dict[str, float]]:
    """What the two parties hear once the resume has gone through (waited on, bounded)."""
    deadline = time.monotonic() + 10.0
    while True:
        after = record({CALLER: parties[CALLER], AGENT: parties[AGENT]}, tmp_path, "resumed")
        if after[CALLER][AGENT] > HEARD_DB and after[AGENT][CALLER] > HEARD_DB:
            return after
        if time.monotonic() > deadline:
            return after


def test_whisper_on_a_queue_call_coaches_the_agent_alone(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    """A caller of queue 600 reaches agent 1001 (logged in by *45); *34 1001 whispers."""
    agent = phone(switch, pjsua, AGENT)
    login = agent.call(switch.uri("*45"))
    agent.wait_call_state(login, "CONFIRMED", 5.0)
    agent.wait_bye(login, 10.0)
    caller = phone(switch, pjsua, CALLER)
    caller_call = caller.call(switch.uri("600"))
    agent_call = agent.wait_incoming(10.0)["call"]
    agent.send("answer", call=agent_call)
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    wait_log(switch, "queue 600 connected to agent 1001", 5.0)
    play(caller, caller_call, tmp_path, CALLER)
    play(agent, agent_call, tmp_path, AGENT)
    supervisor = phone(switch, pjsua, SUPERVISOR)
    sup_call = supervisor.call(switch.uri("*34" + AGENT))
    supervisor.wait_call_state(sup_call, "CONFIRMED", 5.0)
    supervisor.wait_event("media_active", 5.0, call=sup_call)
    play(supervisor, sup_call, tmp_path, SUPERVISOR)
    parties = {CALLER: (caller, caller_call), AGENT: (agent, agent_call)}
    parties[SUPERVISOR] = (supervisor, sup_call)
    check(record(parties, tmp_path, "queue-whisper"), "whisper")

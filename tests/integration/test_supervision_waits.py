"""ChanSpy's wait with pjsua2 phones (calls/supervision.py): the supervisor on `*33` + 1001 is
not hung up when 1001's call ends. It stays on the line in silence, the API's supervision
resource says "waiting", and 1001's next call is joined as soon as it is connected: the
supervisor hears both parties of the new call (FFT) and neither hears it. The supervisor's hang-up
ends it. The event stream says the same: started, changed to waiting, started on the new call,
ended."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from api_events import EventCollector, api_call, wait_api
from peers.pjsua import PjsuaPeer
from running_switch import Switch
from supervised_call import (
    AGENT,
    CALLER,
    NOT_HEARD_DB,
    SUPERVISOR,
    agent_call,
    check,
    phone,
    play,
    record,
    wait_log,
)

from softswitch.api.client import SupervisionDetails

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


def _supervisions(switch: Switch) -> list[SupervisionDetails]:
    url = switch.ports.api_url
    return api_call(url, "supervisor", "demo-supervisor", lambda api: api.supervisions())


def _wait_state(switch: Switch, state: str, timeout_s: float = 5.0) -> SupervisionDetails:
    deadline = time.monotonic() + timeout_s
    while True:
        seen = _supervisions(switch)
        if len(seen) == 1 and seen[0].state == state:
            return seen[0]
        assert time.monotonic() < deadline, f"no supervision {state} in {timeout_s} s: {seen}"
        time.sleep(0.05)


def test_a_listening_supervisor_waits_for_the_agents_next_call_and_is_joined_to_it(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    wait_api(switch.ports.api)
    names = ["supervision_started", "supervision_changed", "supervision_ended"]
    seen = EventCollector(switch.ports.api_url, "supervisor", "demo-supervisor", names)
    try:
        _waits_and_joins(switch, pjsua, tmp_path, seen)
    finally:
        seen.close()


def _waits_and_joins(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path, seen: EventCollector
) -> None:
    parties = agent_call(switch, pjsua, tmp_path)
    supervisor = phone(switch, pjsua, SUPERVISOR)
    sup_call = supervisor.call(switch.uri("*33" + AGENT))
    supervisor.wait_call_state(sup_call, "CONFIRMED", 5.0)
    supervisor.wait_event("media_active", 5.0, call=sup_call)
    play(supervisor, sup_call, tmp_path, SUPERVISOR)
    first = _wait_state(switch, "active")

    caller, caller_call = parties[CALLER]
    agent, agent_call_id = parties[AGENT]
    caller.send("hangup", call=caller_call)
    agent.wait_bye(agent_call_id, 5.0)
    waiting = _wait_state(switch, "waiting")
    assert (waiting.supervision_id, waiting.call_id) == (first.supervision_id, first.call_id)
    wait_log(switch, f"supervision {first.supervision_id} waits for {AGENT}'s next call", 5.0)
    # Still on the line, hearing nothing of anyone, but sent silence: RTP keeps coming.
    quiet = record({SUPERVISOR: (supervisor, sup_call)}, tmp_path, "waiting")[SUPERVISOR]
    assert quiet[CALLER] < NOT_HEARD_DB and quiet[AGENT] < NOT_HEARD_DB, quiet
    received = []
    for tag in ("rtp-a", "rtp-b"):
        path = str(tmp_path / f"{tag}.wav")
        supervisor.send("record", call=sup_call, path=path, seconds=1.0)
        received.append(supervisor.wait_event("recorded", 10.0, call=sup_call, path=path))
    assert received[1]["rx_packets"] - received[0]["rx_packets"] >= 40  # 50 a second

    again = caller.call(switch.uri(AGENT))  # 1002 calls 1001 again
    answering = agent.wait_incoming(5.0)["call"]
    agent.send("answer", call=answering)
    caller.wait_call_state(again, "CONFIRMED", 5.0)
    agent.wait_call_state(answering, "CONFIRMED", 5.0)
    play(caller, again, tmp_path, CALLER)
    play(agent, answering, tmp_path, AGENT)
    second = {CALLER: (caller, again), AGENT: (agent, answering)}
    joined = _wait_state(switch, "active")
    assert joined.supervision_id == first.supervision_id and joined.call_id != first.call_id
    second[SUPERVISOR] = (supervisor, sup_call)
    check(record(second, tmp_path, "next-call"), "listen")

    supervisor.send("hangup", call=sup_call)
    supervisor.wait_call_state(sup_call, "DISCONNECTED", 5.0)
    deadline = time.monotonic() + 5.0
    while _supervisions(switch):
        assert time.monotonic() < deadline, "the supervision outlived the supervisor's hang-up"
        time.sleep(0.05)
    events = seen.wait(lambda evs: bool(evs) and evs[-1].name == "supervision_ended", 5.0)
    assert [(e.name, e.data["call_id"], e.data.get("state")) for e in events] == [
        ("supervision_started", first.call_id, None),
        ("supervision_changed", first.call_id, "waiting"),
        ("supervision_started", joined.call_id, None),
        ("supervision_ended", joined.call_id, None),
    ]

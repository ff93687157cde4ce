"""Attended transfer to a queue (`*2` + 600 #, calls/consult_queue.py) with pjsua2 phones, one
process each: IVR 500 -> queue 600 -> agent 1001, who keys *2 600 #. 1001 waits in the queue
for the caller, 1002 (the queue's other agent) is offered the caller's entry and answers; 1001
and 1002 talk while the caller is on hold; 1001 hanging up joins the caller with 1002. Tones
by FFT; the queue log credits 1002 with a queue call of the original caller, and the one call
record keeps the IVR's variables."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from api_events import EventCollector, api_call, wait_api
from audio import dominant_frequency, write_tone
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch
from test_call_centre import centre_config, dial_sales, events, log_in, wait_queue_log
from two_phones import RECORD_S

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]


@pytest.fixture
def centre(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    """The demo call centre, which records every bridged call (the legs are in the tick
    engine while the consultation moves them)."""
    sw = start_switch(tmp_path, carrier_port, edit=centre_config())
    try:
        wait_api(sw.ports.api)
        yield sw
    finally:
        sw.stop()


def _hear(parties: list[tuple[PjsuaPeer, int]], tmp: Path, tag: str) -> list[float]:
    """What each party hears over the same RECORD_S, as dominant frequencies."""
    paths = [tmp / f"{tag}-{i}.wav" for i in range(len(parties))]
    for (peer, call), path in zip(parties, paths, strict=True):
        peer.send("record", call=call, path=str(path), seconds=RECORD_S)
    for (peer, call), path in zip(parties, paths, strict=True):
        peer.wait_event("recorded", 10.0, call=call, path=str(path))
    return [dominant_frequency(path) for path in paths]


def _state(switch: Switch, agent: str) -> str:
    url = switch.ports.api_url
    seen = api_call(url, "supervisor", "demo-supervisor", lambda api: api.agent(agent))
    return str(seen["state"])


def _agent_on_a_queue_call(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> tuple[PjsuaPeer, int, PjsuaPeer, int, str]:
    """The caller (440 Hz) through IVR 500 and queue 600 talking to agent 1001 (1000 Hz)."""
    agent, caller = pjsua("agent-1001"), pjsua("caller")
    log_in(switch, agent, "1001")
    call = dial_sales(switch, caller, tmp_path)
    agent_call = agent.wait_incoming(10.0)["call"]
    agent.send("play", call=agent_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 60.0)))
    agent.send("answer", call=agent_call)
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    rows = wait_queue_log(switch, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
    agent.wait_event("media_active", 5.0, call=agent_call)
    return caller, call, agent, agent_call, next(r["call"] for r in rows if r["event"] == "CONNECT")


@pytest.mark.parametrize("complete", ["hangup", "*2"])
def test_star_2_to_a_queue_consults_the_agent_who_answers_then_hands_the_caller_on(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path, complete: str
) -> None:
    caller, call, agent, agent_call, call_id = _agent_on_a_queue_call(centre, pjsua, tmp_path)
    bob = pjsua("agent-1002")
    log_in(centre, bob, "1002")  # ready: the next caller of 600 is its

    offers = EventCollector(centre.ports.api_url, "1002", "demo-1002", ["call_offered"])
    try:
        agent.send("dtmf", call=agent_call, digits="*2600#")
        bob_call = int(bob.wait_incoming(10.0)["call"])
        (offer,) = offers.wait(lambda evs: bool(evs), 5.0)
    finally:
        offers.close()
    # 1002's screen pop is the caller's: its number and what it keyed in the IVR.
    assert (offer.data["call_id"], offer.data["caller"]) == (int(call_id), "1004")
    assert offer.data["variables"]["ivr_digits"] == "1"
    rows = wait_queue_log(centre, lambda r: ("TRANSFER", "600", "1001") in events(r), 5.0)
    assert _state(centre, "1001") != "ready"  # still on the phone: offered nothing
    bob.send("play", call=bob_call, path=str(write_tone(tmp_path / "1500.wav", 1500.0, 60.0)))
    bob.send("answer", call=bob_call)
    bob.wait_call_state(bob_call, "CONFIRMED", 5.0)
    wait_queue_log(centre, lambda r: ("CONNECT", "600", "1002") in events(r), 5.0)
    agent_hears, bob_hears, caller_hears = _hear(
        [(agent, agent_call), (bob, bob_call), (caller, call)], tmp_path, "consult"
    )
    assert (agent_hears, bob_hears) == (
        pytest.approx(1500.0, abs=20.0),
        pytest.approx(1000.0, abs=20.0),
    )
    assert all(abs(caller_hears - hz) > 20.0 for hz in (1000.0, 1500.0)), caller_hears  # music

    if complete == "hangup":
        agent.send("hangup", call=agent_call)
    else:  # atxfercomplete: the switch hangs the transferor up
        agent.send("dtmf", call=agent_call, digits="*2")
        agent.wait_bye(agent_call, 5.0)
    caller_hears, bob_hears = _hear([(caller, call), (bob, bob_call)], tmp_path, "done")
    assert (caller_hears, bob_hears) == (
        pytest.approx(1500.0, abs=20.0),
        pytest.approx(440.0, abs=20.0),
    )
    states = [e["state"] for e in caller.events if e["event"] == "call_state" and e["call"] == call]
    assert states.count("CONFIRMED") == 1 and "DISCONNECTED" not in states
    assert _state(centre, "1002") == "on call"

    caller.send("hangup", call=call)
    bob.wait_bye(bob_call, 5.0)
    rows = wait_queue_log(centre, lambda r: ("COMPLETECALLER", "600", "1002") in events(r), 5.0)
    assert [e for e in events([r for r in rows if r["call"] == call_id])] == [
        ("ENTERQUEUE", "600", ""),
        ("CONNECT", "600", "1001"),
        ("TRANSFER", "600", "1001"),
        ("ENTERQUEUE", "600", ""),
        ("CONNECT", "600", "1002"),
        ("COMPLETECALLER", "600", "1002"),
    ]
    entries = [r for r in rows if r["call"] == call_id and r["event"] == "ENTERQUEUE"]
    # The second entry is the caller's own (its number, for the offer and the screen pop), not
    # the transferor's.
    assert [json.loads(r["data"])[1] for r in entries] == ["1004", "1004"]
    cdr = centre.closed_cdrs(1, 5.0, "callee = ?", ("600",))[0]
    variables = json.loads(cdr["variables"])
    assert variables["ivr_digits"] == "1" and variables["transferred_by"] == "1001"
    assert variables["transfer"] == "attended"


def test_star_0_while_waiting_in_the_queue_brings_the_transferor_back_to_the_caller(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    caller, call, agent, agent_call, call_id = _agent_on_a_queue_call(centre, pjsua, tmp_path)
    agent.send("dtmf", call=agent_call, digits="*2600#")  # nobody ready: 1001 waits
    wait_queue_log(centre, lambda r: [e for e, *_ in events(r)].count("ENTERQUEUE") == 2, 5.0)
    agent.send("dtmf", call=agent_call, digits="*0")
    rows = wait_queue_log(centre, lambda r: ("ABANDON", "600", "") in events(r), 5.0)
    assert [e for e, *_ in events([r for r in rows if r["call"] == call_id])] == [
        "ENTERQUEUE", "CONNECT", "TRANSFER", "ENTERQUEUE", "ABANDON",
    ]  # fmt: skip
    caller_hears, agent_hears = _hear([(caller, call), (agent, agent_call)], tmp_path, "back")
    assert (caller_hears, agent_hears) == (
        pytest.approx(1000.0, abs=20.0),
        pytest.approx(440.0, abs=20.0),
    )


def test_the_transferor_hanging_up_while_waiting_leaves_the_caller_in_its_place(
    centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    caller, call, agent, agent_call, call_id = _agent_on_a_queue_call(centre, pjsua, tmp_path)
    agent.send("dtmf", call=agent_call, digits="*2600#")
    wait_queue_log(centre, lambda r: [e for e, *_ in events(r)].count("ENTERQUEUE") == 2, 5.0)
    agent.send("hangup", call=agent_call)
    agent.wait_call_state(agent_call, "DISCONNECTED", 5.0)
    bob = pjsua("agent-1002")
    log_in(centre, bob, "1002")  # the waiting entry, now the caller's, is offered to it
    bob_call = int(bob.wait_incoming(10.0)["call"])
    bob.send("play", call=bob_call, path=str(write_tone(tmp_path / "1500.wav", 1500.0, 60.0)))
    bob.send("answer", call=bob_call)
    bob.wait_call_state(bob_call, "CONFIRMED", 5.0)
    caller_hears, bob_hears = _hear([(caller, call), (bob, bob_call)], tmp_path, "taken")
    assert (caller_hears, bob_hears) == (
        pytest.approx(1500.0, abs=20.0),
        pytest.approx(440.0, abs=20.0),
    )
    rows = wait_queue_log(centre, lambda r: ("CONNECT", "600", "1002") in events(r), 5.0)
    assert [e for e, *_ in events([r for r in rows if r["call"] == call_id])] == [
        "ENTERQUEUE", "CONNECT", "TRANSFER", "ENTERQUEUE", "CONNECT",
    ]  # fmt: skip

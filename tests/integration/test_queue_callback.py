"""A queue callback end to end with pjsua2 phones: the caller presses 2, hears the number read
back, confirms with 1 and is hung up on; when the agent becomes ready the switch calls the agent
first (who hears "callback for ..."), then the caller's phone; each hears the other's tone
(FFT), and the queue log has the callback's rows. A number that does not answer is retried at
the same place, then given up."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from audio import voiced_seconds, write_tone
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
def callback_centre(request: pytest.FixtureRequest, tmp_path: Path, carrier_port: int) -> Any:
    retries = getattr(request, "param", 1)
    base = centre_config(ring_timeout_s=10, max_wait_s=0)

    def edit(cfg: dict[str, Any]) -> None:
        base(cfg)
        sales = next(q for q in cfg["queues"] if q["number"] == "600")
        sales.update(
            callback_retries=retries,
            callback_retry_delay_s=1,
            callback_dial_timeout_s=4,
            wrap_up_s=0,
        )
        cfg["calls"]["ring_timeout_s"] = 3  # the callee side of the callback bridge

    sw = start_switch(tmp_path, carrier_port, edit=edit)
    try:
        yield sw
    finally:
        running = sw.proc.poll() is None
        rc = sw.stop()
        if running:
            assert rc == 0, f"switch exited {rc} on SIGTERM; log tail:\n{sw.log_tail()}"


def feature(switch: Switch, phone: PjsuaPeer, code: str) -> None:
    call = phone.call(switch.uri(code))
    phone.wait_call_state(call, "CONFIRMED", 5.0)
    phone.wait_bye(call, 10.0)


def book_callback(switch: Switch, caller: PjsuaPeer, tmp_path: Path) -> None:
    """1004 dials 600, presses 2, hears the offer, confirms with 1 and is hung up on."""
    caller.register(switch.sip_port, "1004", "demo-1004")
    call = caller.call(switch.uri("600"))
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    caller.wait_event("media_active", 5.0, call=call)
    wait_queue_log(switch, lambda r: ("ENTERQUEUE", "600", "") in events(r), 5.0)
    caller.send("dtmf", call=call, digits="2", method="rfc4733")
    offer = tmp_path / "offer-heard.wav"
    caller.send("record", call=call, path=str(offer), seconds=2.0)
    caller.wait_event("recorded", 10.0, call=call)
    assert voiced_seconds(offer, skip_s=0.3) > 0.8  # "we can call you back at one zero ..."
    caller.send("dtmf", call=call, digits="1", method="rfc4733")
    caller.wait_bye(call, 15.0)  # "you keep your place ... goodbye", then the switch's BYE
    rows = wait_queue_log(switch, lambda r: "CALLBACKREQUEST" in [e for e, *_ in events(r)], 5.0)
    request = next(r for r in rows if r["event"] == "CALLBACKREQUEST")
    assert request["queue"] == "600" and "1004" in request["data"]


def test_a_callback_rings_the_agent_first_then_the_caller_and_they_talk(
    callback_centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    sw = callback_centre
    agent, caller = pjsua("agent-1001"), pjsua("caller-1004")
    log_in(sw, agent, "1001")
    feature(sw, agent, "*47")  # not ready: the callback waits for the agent
    wait_queue_log(sw, lambda r: ("PAUSE", "NONE", "1001") in events(r), 5.0)
    book_callback(sw, caller, tmp_path)
    feature(sw, agent, "*48")
    incoming = agent.wait_incoming(10.0)  # the switch calls the agent first
    agent_call = incoming["call"]
    agent.send("play", call=agent_call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 30.0)))
    agent.send("answer", call=agent_call)
    agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
    whisper = tmp_path / "whisper.wav"
    agent.send("record", call=agent_call, path=str(whisper), seconds=1.5)
    agent.wait_event("recorded", 10.0, call=agent_call)
    assert voiced_seconds(whisper, skip_s=0.2) > 0.6  # "callback for one zero zero four"
    rows = wait_queue_log(sw, lambda r: ("CALLBACKATTEMPT", "600", "1001") in events(r), 5.0)
    callback = caller.wait_incoming(15.0)  # then the caller's phone rings
    caller_call = callback["call"]
    caller.send("play", call=caller_call, path=str(write_tone(tmp_path / "440.wav", 440.0, 30.0)))
    caller.send("answer", call=caller_call)
    caller.wait_call_state(caller_call, "CONFIRMED", 5.0)
    wait_queue_log(sw, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
    caller_and_agent_hear_each_other(caller, caller_call, agent, agent_call, tmp_path)
    caller.send("hangup", call=caller_call)
    agent.wait_bye(agent_call, 5.0)
    rows = wait_queue_log(sw, lambda r: ("COMPLETECALLER", "600", "1001") in events(r), 5.0)
    names = [r["event"] for r in rows]
    assert names.index("CALLBACKREQUEST") < names.index("CALLBACKATTEMPT") < names.index("CONNECT")
    done = next(r for r in rows if r["event"] == "COMPLETECALLER")
    assert done["talk_s"] >= 2.0


@pytest.mark.parametrize("callback_centre", [1], indirect=True)
def test_a_callback_nobody_answers_is_retried_at_its_place_then_given_up(
    callback_centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    sw = callback_centre
    agent, caller = pjsua("agent-1001"), pjsua("caller-1004")
    log_in(sw, agent, "1001")
    feature(sw, agent, "*47")
    wait_queue_log(sw, lambda r: ("PAUSE", "NONE", "1001") in events(r), 5.0)
    book_callback(sw, caller, tmp_path)
    feature(sw, agent, "*48")
    for _attempt in range(2):  # retries = 1: two attempts
        agent_call = agent.wait_incoming(15.0)["call"]
        agent.send("answer", call=agent_call)
        agent.wait_call_state(agent_call, "CONFIRMED", 5.0)
        caller.wait_incoming(15.0)  # rings, never answered
        agent.wait_bye(agent_call, 15.0)  # the attempt fails: the agent's call ends
    rows = wait_queue_log(sw, lambda r: "CALLBACKGIVEUP" in [e for e, *_ in events(r)], 15.0)
    names = [r["event"] for r in rows]
    assert names.count("CALLBACKATTEMPT") == 2 and names.count("CALLBACKFAILED") == 2
    assert "CONNECT" not in names

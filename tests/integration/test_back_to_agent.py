"""An agent sends a caller into a flow node and the flow returns the caller to the same agent:
agent 1001 (pjsua2) takes a queue-600 caller, blind-transfers it to 510 (`card#card`: the
entry point of a card-number flow); the caller keys 4242, and the flow's queue node with
`agent = "last"` offers the caller to 1001 again, though 1002 is ready in 600 too. Both talk
(FFT), the call record keeps the card number and the agent, and the queue log has two CONNECTs
of 1001 for the one call."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from audio import dominant_frequency, write_tone
from peers.pjsua import PeerError, PjsuaPeer
from running_switch import Switch, start_switch
from test_call_centre import events, log_in, wait_queue_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

FLOWS = Path(__file__).parents[1] / "data" / "ivr_back"


@pytest.fixture
def back_centre(tmp_path: Path, carrier_port: int) -> Any:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["ivr"]["flows_dir"] = str(FLOWS)
        cfg["ivr"]["numbers"]["510"] = "card#card"
        sales = next(q for q in cfg["queues"] if q["number"] == "600")
        sales.update(wrap_up_s=0, max_wait_s=0, join_empty="never", requires={})
        sales.pop("widen", None)

    sw = start_switch(tmp_path, carrier_port, edit=edit)
    try:
        yield sw
    finally:
        sw.stop()


def answer(agent: PjsuaPeer, tmp_path: Path, timeout_s: float = 10.0) -> int:
    call = agent.wait_incoming(timeout_s)["call"]
    agent.send("play", call=call, path=str(write_tone(tmp_path / "1000.wav", 1000.0, 30.0)))
    agent.send("answer", call=call)
    agent.wait_call_state(call, "CONFIRMED", 5.0)
    return call


def test_a_caller_sent_into_a_flow_node_comes_back_to_the_same_agent(
    back_centre: Switch, pjsua: Callable[[str], PjsuaPeer], tmp_path: Path
) -> None:
    sw = back_centre
    first, other, caller = pjsua("agent-1001"), pjsua("agent-1002"), pjsua("caller-1004")
    log_in(sw, first, "1001")
    caller.register(sw.sip_port, "1004", "demo-1004")
    call = caller.call(sw.uri("600"))
    caller.wait_call_state(call, "CONFIRMED", 5.0)
    caller.send("play", call=call, path=str(write_tone(tmp_path / "440.wav", 440.0, 60.0)))
    agent_call = answer(first, tmp_path)
    wait_queue_log(sw, lambda r: ("CONNECT", "600", "1001") in events(r), 5.0)
    log_in(sw, other, "1002")  # ready in 600 from now on
    first.send("xfer", call=agent_call, dest=sw.uri("510"))
    first.wait_bye(agent_call, 10.0)
    wait_queue_log(sw, lambda r: ("TRANSFER", "600", "1001") in events(r), 5.0)
    heard = tmp_path / "card-prompt.wav"
    caller.send("record", call=call, path=str(heard), seconds=1.0)
    caller.wait_event("recorded", 10.0, call=call)
    caller.send("dtmf", call=call, digits="4242", method="rfc4733")
    back = answer(first, tmp_path, 15.0)  # 1001 rings again, not 1002
    rows = wait_queue_log(
        sw, lambda r: [e for e in events(r) if e == ("CONNECT", "600", "1001")][1:], 5.0
    )
    connects = [r for r in rows if r["event"] == "CONNECT"]
    assert len(connects) == 2 and connects[0]["call"] == connects[1]["call"]
    with pytest.raises(PeerError):
        other.wait_incoming(0.5)  # 1002 was free all along and never offered the caller
    caller_heard, agent_heard = tmp_path / "caller-heard.wav", tmp_path / "agent-heard.wav"
    caller.send("record", call=call, path=str(caller_heard), seconds=2.0)
    first.send("record", call=back, path=str(agent_heard), seconds=2.0)
    caller.wait_event("recorded", 10.0, call=call)
    first.wait_event("recorded", 10.0, call=back)
    assert abs(dominant_frequency(caller_heard, skip_s=0.3) - 1000.0) < 20
    assert abs(dominant_frequency(agent_heard, skip_s=0.3) - 440.0) < 20
    caller.send("hangup", call=call)
    first.wait_bye(back, 5.0)
    cdr = sw.closed_cdrs(1, 5.0, "caller = ?", ("1004",))[0]
    variables = json.loads(cdr["variables"])
    assert (variables["card_number"], variables["agent"]) == ("4242", "1001")

"""Agents dialling out through a trunk (a SIPp carrier UAS): agent 1001, whose outbound_queue is
600, presents the queue's caller_id in From and P-Asserted-Identity; agent 1002 its extension's
caller_id. Each call is `outbound` in the CDR and OUTBOUND in the queue log."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from carrier_calls import sip_flow
from peers.pjsua import PjsuaPeer
from running_switch import Switch, start_switch, wait_port_bound
from sipp_process import Sipp
from test_call_centre import events, wait_queue_log

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

QUEUE_CALLER_ID = "+15550100600"  # config.example.toml, queue 600
BOB_CALLER_ID = "+15550101002"


def _bob_has_a_caller_id(cfg: dict[str, Any]) -> None:
    bob = next(e for e in cfg["extensions"] if e["number"] == "1002")
    bob["caller_id"] = BOB_CALLER_ID


@pytest.fixture
def outbound(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    sw = start_switch(tmp_path, carrier_port, edit=_bob_has_a_caller_id)
    try:
        yield sw
    finally:
        sw.stop()


def _dial_out(switch: Switch, phone: PjsuaPeer) -> None:
    call = phone.call(switch.uri("912345"))
    phone.wait_call_state(call, "CONFIRMED", 10.0)
    phone.send("hangup", call=call)
    phone.wait_call_state(call, "DISCONNECTED", 5.0)


def test_agents_dial_out_with_the_queue_or_their_own_caller_id(
    outbound: Switch,
    pjsua: Callable[[str], PjsuaPeer],
    sipp: Callable[..., Sipp],
    carrier_port: int,
) -> None:
    carrier = sipp("carrier", ["-sn", "uas", "-p", str(carrier_port), "-m", "2"], 30)
    wait_port_bound(carrier_port, 5.0, "SIPp carrier UAS")
    alice, bob = pjsua("1001"), pjsua("1002")
    alice.register(outbound.sip_port, "1001", "demo-1001")
    bob.register(outbound.sip_port, "1002", "demo-1002")
    _dial_out(outbound, alice)
    _dial_out(outbound, bob)
    result = carrier.result()
    assert (result.returncode, result.successful, result.failed) == (0, 2, 0), result.summary()

    invites = [m for m in sip_flow(result.messages) if m.method == "INVITE"]
    assert len(invites) == 2, [m.first_line for m in invites]
    for invite, number in zip(invites, (QUEUE_CALLER_ID, BOB_CALLER_ID), strict=True):
        sender = invite.header("From") or ""
        asserted = invite.header("P-Asserted-Identity") or ""
        assert re.search(rf"<sip:{re.escape(number)}@", sender), sender
        assert re.search(rf"^<sip:{re.escape(number)}@", asserted), asserted

    rows = outbound.closed_cdrs(2)
    assert [(r["caller"], r["direction"], r["trunk"]) for r in rows] == [
        ("1001", "outbound", "carrier"),
        ("1002", "outbound", "carrier"),
    ]
    logged = wait_queue_log(
        outbound, lambda r: sum(e[0] == "OUTBOUND" for e in events(r)) == 2, 5.0
    )
    marks = [r for r in logged if r["event"] == "OUTBOUND"]
    assert [(r["queue"], r["agent"]) for r in marks] == [("600", "1001"), ("", "1002")]
    assert all("12345" in str(r["data"]) for r in marks)

"""An extension with two registered phones: both ring, the first to answer takes the call."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from carrier_calls import describe, sip_flow
from peers.pjsua import PjsuaPeer
from running_switch import DISPOSITION_ANSWERED, Switch
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_both_phones_ring_and_the_other_stops_when_one_answers(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], sipp: Callable[..., Sipp]
) -> None:
    desk, mobile = pjsua("desk"), pjsua("mobile")
    desk.register(switch.sip_port, "1001", "demo-1001")
    mobile.register(switch.sip_port, "1001", "demo-1001")
    # SIPp is the gateway: DID 7000 routes to extension 1001; it hangs up 2 s after the answer.
    gateway = sipp(
        "gateway",
        ["-sn", "uac", f"127.0.0.1:{switch.sip_port}", "-s", "7000", "-m", "1", "-d", "2000"],
        timeout_s=20,
    )
    at_desk = desk.wait_incoming(10.0)
    at_mobile = mobile.wait_incoming(10.0)
    mobile.send("answer", call=at_mobile["call"])
    mobile.wait_call_state(at_mobile["call"], "CONFIRMED", 5.0)
    # The desk phone stops ringing: the switch CANCELs it (487 Request Terminated).
    stopped = desk.wait_call_state(at_desk["call"], "DISCONNECTED", 5.0)
    assert stopped["code"] == 487, stopped
    mobile.wait_bye(at_mobile["call"], 10.0)
    result = gateway.result()

    assert (result.returncode, result.successful, result.failed) == (0, 1, 0), result.summary()
    # ...at the answer, not at the hang-up: a desk that rang through the whole conversation would
    # get its CANCEL only after the gateway's BYE, and the 5 s wait above would not notice.
    flow = sip_flow(result.messages)
    bye = next((m for m in flow if m.sent and m.method == "BYE"), None)
    assert bye is not None, describe(flow)
    assert stopped["at"] < bye.at, f"desk stopped {stopped['at'] - bye.at:.3f} s after the BYE"
    row = switch.closed_cdr()
    assert row["disposition"] == DISPOSITION_ANSWERED


def test_caller_hears_busy_only_when_every_phone_refuses(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer], sipp: Callable[..., Sipp]
) -> None:
    desk, mobile = pjsua("desk"), pjsua("mobile")
    desk.register(switch.sip_port, "1001", "demo-1001")
    mobile.register(switch.sip_port, "1001", "demo-1001")
    gateway = sipp(
        "gateway", ["-sn", "uac", f"127.0.0.1:{switch.sip_port}", "-s", "7000", "-m", "1"], 20
    )
    at_desk = desk.wait_incoming(10.0)
    at_mobile = mobile.wait_incoming(10.0)
    # The desk refuses first with 480, less telling than the mobile's 486 that follows: a switch
    # that passed the first refusal on would give the caller 480, and give it too early.
    desk.send("hangup", call=at_desk["call"], code=480)
    desk.wait_call_state(at_desk["call"], "DISCONNECTED", 5.0)
    last_refusal_at = time.time()
    mobile.send("hangup", call=at_mobile["call"], code=486)
    mobile.wait_call_state(at_mobile["call"], "DISCONNECTED", 5.0)
    result = gateway.result()

    assert result.failed == 1, result.summary()
    flow = sip_flow(result.messages)
    finals = [m for m in flow if not m.sent and (m.status or 0) >= 200]
    assert finals and {m.status for m in finals} == {486}, describe(flow)  # or its retransmission
    # The caller heard nothing final while the mobile still rang.
    assert finals[0].at > last_refusal_at, describe(flow)
    row = switch.closed_cdr()
    assert row["disposition"] == "busy"

"""An extension with two registered phones: both ring, the first to answer takes the call."""

from __future__ import annotations

from collections.abc import Callable

import pytest
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
    row = switch.wait_cdr(lambda rows: len(rows) == 1 and rows[0]["end_ts"] is not None, 5.0)[0]
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
    desk.send("hangup", call=at_desk["call"], code=486)
    desk.wait_call_state(at_desk["call"], "DISCONNECTED", 5.0)
    # One phone refused; the other still rings, so the caller has heard nothing final yet.
    mobile.send("hangup", call=at_mobile["call"], code=486)
    mobile.wait_call_state(at_mobile["call"], "DISCONNECTED", 5.0)
    result = gateway.result()

    assert result.failed == 1, result.summary()
    assert "SIP/2.0 486 Busy Here" in result.messages
    row = switch.wait_cdr(lambda rows: len(rows) == 1 and rows[0]["end_ts"] is not None, 5.0)[0]
    assert row["disposition"] == "busy"

"""Calls that do not connect, as a phone sees them: wrong password, unknown number, busy, cancel."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from peers.pjsua import PjsuaPeer
from running_switch import HANGUP_CALLEE, HANGUP_CALLER, Switch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def test_wrong_password_is_refused_with_403(
    switch: Switch, pjsua: Callable[[str], PjsuaPeer]
) -> None:
    event = pjsua("1001").register_result(switch.sip_port, "1001", "not-the-password")
    assert (event["event"], event["code"]) == ("reg_failed", 403)


def test_unknown_number_gets_404(switch: Switch, pjsua: Callable[[str], PjsuaPeer]) -> None:
    phone = pjsua("1001")
    phone.register(switch.sip_port, "1001", "demo-1001")
    call = phone.call(switch.uri("5555"))
    assert phone.wait_call_state(call, "DISCONNECTED", 5.0)["code"] == 404
    row = switch.closed_cdr()
    assert row["disposition"] == "unknown_number"
    assert row["answer_ts"] is None


def test_busy_callee_gives_caller_486(switch: Switch, pjsua: Callable[[str], PjsuaPeer]) -> None:
    alice, bob = pjsua("1001"), pjsua("1002")
    alice.register(switch.sip_port, "1001", "demo-1001")
    bob.register(switch.sip_port, "1002", "demo-1002")
    call = alice.call(switch.uri("1002"))
    bob.send("hangup", call=bob.wait_incoming(5.0)["call"], code=486)
    assert alice.wait_call_state(call, "DISCONNECTED", 5.0)["code"] == 486
    row = switch.closed_cdr()
    assert row["disposition"] == "busy"
    assert row["hangup_side"] == HANGUP_CALLEE


def test_caller_cancels_while_ringing(switch: Switch, pjsua: Callable[[str], PjsuaPeer]) -> None:
    alice, bob = pjsua("1001"), pjsua("1002")
    alice.register(switch.sip_port, "1001", "demo-1001")
    bob.register(switch.sip_port, "1002", "demo-1002")
    call = alice.call(switch.uri("1002"))
    ringing = bob.wait_incoming(5.0)["call"]
    alice.wait_call_state(call, "EARLY", 5.0)
    alice.send("hangup", call=call)
    # The callee's INVITE is cancelled: pjsua reports 487 Request Terminated.
    assert bob.wait_call_state(ringing, "DISCONNECTED", 5.0)["code"] == 487
    alice.wait_call_state(call, "DISCONNECTED", 5.0)
    row = switch.closed_cdr()
    assert row["disposition"] == "cancelled"
    assert row["hangup_side"] == HANGUP_CALLER
    assert row["answer_ts"] is None

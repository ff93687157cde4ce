"""Hold by re-INVITE (RFC 3264 §8.4): carried to the other leg, answered with the switch's media.

SIPp plays both ends (the pjsua2 peer has no re-INVITE command): the gateway calls the carrier
through the switch, then offers a=sendonly or a=inactive; the carrier must receive that offer
with the switch's address, and the gateway must get the carrier's answer with the switch's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from carrier_calls import (
    SipMessage,
    call_carrier,
    describe,
    sdp_media,
    sip_flow,
    start_carrier,
    start_carrier_switch,
)
from running_switch import DISPOSITION_ANSWERED, HANGUP_CALLER, LOCAL, Switch
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]


@pytest.fixture
def carrier_switch(tmp_path: Path, carrier_port: int) -> Iterator[Switch]:
    switch = start_carrier_switch(tmp_path, carrier_port)
    try:
        yield switch
    finally:
        assert switch.stop() == 0, switch.log_tail()


def _invites(flow: list[SipMessage], sent: bool) -> list[SipMessage]:
    return [m for m in flow if m.sent == sent and m.method == "INVITE"]


def _invite_answers(flow: list[SipMessage], sent: bool) -> list[SipMessage]:
    return [m for m in flow if m.sent == sent and m.status == 200 and m.cseq_method == "INVITE"]


def _next_version(before: str, after: str) -> bool:
    """RFC 3264 §8: a new offer or answer keeps the o= session id and adds one to its version."""
    old = re.search(r"^o=\S+ (\d+) (\d+) ", before, re.MULTILINE)
    new = re.search(r"^o=\S+ (\d+) (\d+) ", after, re.MULTILINE)
    assert old and new, (before, after)
    return new[1] == old[1] and int(new[2]) == int(old[2]) + 1


@pytest.mark.parametrize(("offer", "answer"), [("sendonly", "recvonly"), ("inactive", "inactive")])
def test_hold_reinvite_reaches_the_other_leg_with_switch_media(
    carrier_switch: Switch,
    carrier_port: int,
    sipp: Callable[..., Sipp],
    offer: str,
    answer: str,
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_hold.xml", ["-key", "held", answer])
    gateway = call_carrier(sipp, carrier_switch, "caller_hold.xml", extra=["-key", "hold", offer])
    caller = gateway.result()
    at_carrier = carrier.result()
    caller_flow, carrier_flow = sip_flow(caller.messages), sip_flow(at_carrier.messages)

    assert (caller.returncode, caller.successful) == (0, 1), (
        f"{caller.summary()}\ngateway saw:\n{describe(caller_flow)}"
    )
    assert (at_carrier.returncode, at_carrier.successful) == (0, 1), (
        f"{at_carrier.summary()}\ncarrier saw:\n{describe(carrier_flow)}"
    )
    rtp_low, rtp_high = carrier_switch.ports.rtp

    # Towards the carrier: the same switch port as in the first offer, now on hold.
    first, reinvite = _invites(carrier_flow, sent=False)
    assert reinvite.header("Call-ID") == first.header("Call-ID"), describe(carrier_flow)
    assert ";tag=" in (reinvite.header("To") or ""), "the re-INVITE is not in the dialog"
    callee_side = sdp_media(first.sdp)
    assert sdp_media(reinvite.sdp) == (LOCAL, callee_side[1], offer), reinvite.sdp
    assert rtp_low <= callee_side[1] <= rtp_high
    assert _next_version(first.sdp, reinvite.sdp)

    # Towards the caller: the carrier's answer, with the switch's address and caller-side port.
    answered, held = _invite_answers(caller_flow, sent=False)
    caller_side = sdp_media(answered.sdp)
    assert sdp_media(held.sdp) == (LOCAL, caller_side[1], answer), held.sdp
    assert rtp_low <= caller_side[1] <= rtp_high and caller_side[1] != callee_side[1]
    assert _next_version(answered.sdp, held.sdp)

    row = carrier_switch.closed_cdr()
    assert row["disposition"] == DISPOSITION_ANSWERED
    assert row["hangup_side"] == HANGUP_CALLER

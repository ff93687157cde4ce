"""What a caller gets while the carrier's callee rings: early media, ring timeout, busy.

SIPp is the gateway calling out through the `carrier` trunk, and SIPp is the carrier.
"""

from __future__ import annotations

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
from running_switch import DISPOSITION_ANSWERED, HANGUP_CALLEE, HANGUP_SWITCH, LOCAL, Switch
from sipp_process import Sipp

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

RING_TIMEOUT_S = 2


@pytest.fixture
def carrier_switch(
    request: pytest.FixtureRequest, tmp_path: Path, carrier_port: int
) -> Iterator[Switch]:
    """Parametrise indirectly with config overrides ({section: {key: value}})."""
    switch = start_carrier_switch(tmp_path, carrier_port, getattr(request, "param", None))
    try:
        yield switch
    finally:
        assert switch.stop() == 0, switch.log_tail()


def _received(flow: list[SipMessage], status: int) -> list[SipMessage]:
    return [m for m in flow if not m.sent and m.status == status]


def test_early_media_reaches_the_caller_through_the_switch(
    carrier_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_early_media.xml")
    caller = call_carrier(sipp, carrier_switch).result()
    at_carrier = carrier.result()
    flow = sip_flow(caller.messages)

    assert (caller.returncode, caller.successful) == (0, 1), caller.summary()
    assert (at_carrier.returncode, at_carrier.successful) == (0, 1), at_carrier.summary()
    progress, answers = _received(flow, 183), _received(flow, 200)
    assert len(progress) == 1 and answers, describe(flow)
    assert flow.index(progress[0]) < flow.index(answers[0]), describe(flow)
    address, port, _direction = sdp_media(progress[0].sdp)
    rtp_low, rtp_high = carrier_switch.ports.rtp
    assert address == LOCAL and rtp_low <= port <= rtp_high, progress[0].sdp
    # The carrier's own media address never reaches the caller: the switch anchors it.
    carrier_progress = [m for m in sip_flow(at_carrier.messages) if m.sent and m.status == 183]
    assert port != sdp_media(carrier_progress[0].sdp)[1]
    assert sdp_media(answers[0].sdp)[:2] == (LOCAL, port), answers[0].sdp
    row = carrier_switch.closed_cdr()
    assert row["disposition"] == DISPOSITION_ANSWERED


@pytest.mark.parametrize(
    "carrier_switch", [{"calls": {"ring_timeout_s": RING_TIMEOUT_S}}], indirect=True
)
def test_unanswered_call_ends_with_480_after_ring_timeout(
    carrier_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_no_answer.xml")
    caller = call_carrier(sipp, carrier_switch, "caller_refused.xml").result()
    at_carrier = carrier.result()
    flow, carrier_flow = sip_flow(caller.messages), sip_flow(at_carrier.messages)

    assert (at_carrier.returncode, at_carrier.successful) == (0, 1), (
        f"{at_carrier.summary()}\ncarrier saw:\n{describe(carrier_flow)}"
    )
    assert any(m.method == "CANCEL" and not m.sent for m in carrier_flow), describe(carrier_flow)
    refused = _received(flow, 480)
    assert refused, describe(flow)
    # Not before the timeout (the timer starts after the INVITE arrived), and not much after it:
    # a second is ample for two loopback hops on a loaded machine, and catches a timer off by 50 %.
    rang_for = refused[0].at - flow[0].at
    assert RING_TIMEOUT_S <= rang_for <= RING_TIMEOUT_S + 1.0, (
        f"480 after {rang_for:.2f} s, ring timeout {RING_TIMEOUT_S} s"
    )
    assert _received(flow, 180), f"the carrier's 180 was not relayed:\n{describe(flow)}"
    row = carrier_switch.closed_cdr()
    assert (row["disposition"], row["hangup_side"]) == ("no_answer", HANGUP_SWITCH), row
    assert row["answer_ts"] is None


def test_busy_carrier_gives_caller_486(
    carrier_switch: Switch, carrier_port: int, sipp: Callable[..., Sipp]
) -> None:
    carrier = start_carrier(sipp, carrier_port, "carrier_busy.xml")
    caller = call_carrier(sipp, carrier_switch, "caller_refused.xml").result()
    at_carrier = carrier.result()
    flow = sip_flow(caller.messages)

    assert (at_carrier.returncode, at_carrier.successful) == (0, 1), at_carrier.summary()
    assert [m.status for m in flow if not m.sent and (m.status or 0) >= 200] == [486], describe(
        flow
    )
    row = carrier_switch.closed_cdr()
    assert (row["disposition"], row["hangup_side"]) == ("busy", HANGUP_CALLEE), row
